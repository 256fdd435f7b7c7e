"""Phase transitions from configurations: the three methods of the ``phases`` probe side by side.

Cases (data generated here by the built-in simulators; generation time is excluded
from the probe time):

* ``ising``: 2-D Ising, lattice sizes 8..32 in one dataset (a size column), crossings
  extrapolated to infinite size; truth T_c = 2/ln(1+sqrt 2) = 2.2692 (target: 1 %);
* ``tfim``: transverse-field Ising ring, N = 6..12 snapshots with a size column;
  truth g_c = 1 (target: 3 %);
* ``potts``: 4-state Potts on the square lattice, sizes 8..32, a model no setting was
  tuned on; truth T_c = 1/ln 3 (target: 2 %);
* ``chain``: open 1-D Ising chain, T = 1..4, no transition (target: none reported).

Each method's estimate and error, the combined estimate, nu, the order parameter and
the probe's seconds are printed as a table and written to
``benchmarks/results/phases.json`` with the commit measured. The peer of each method
is the other methods in the same run, and the exact answer.

    python benchmarks/phases.py                 # all cases
    python benchmarks/phases.py --cases ising --per 150
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np

from provenance import commit as _commit  # noqa: E402  (benchmarks/ is on sys.path)

ROOT = Path(__file__).resolve().parents[1]


def _mixed(parts: list[tuple[int, np.ndarray, np.ndarray]], n_cols: int):
    """One Dataset of configurations of several sizes: sites padded with zeros, a size column ``L``."""
    from physlens.data.dataset import Dataset

    X, y, L = [], [], []
    for size, conf, c in parts:
        pad = np.zeros((conf.shape[0], n_cols))
        pad[:, : conf.shape[1]] = conf
        X.append(pad)
        y.append(c)
        L.append(np.full(conf.shape[0], size, dtype=float))
    X = np.hstack([np.vstack(X), np.concatenate(L)[:, None]])
    return Dataset(X, np.concatenate(y), [f"s{i}" for i in range(n_cols)] + ["L"], ["control"])


def case_ising(per: int, seed: int):
    from physlens.systems.statistical.ising import T_CRITICAL, simulate

    T = np.linspace(1.6, 3.0, 20)
    rng = np.random.default_rng(seed)
    parts = []
    for L in (8, 12, 16, 24, 32):
        conf = simulate(L, T, per, rng, n_equilibrate=200, n_between=2)
        parts.append((L, conf.reshape(-1, L * L), np.repeat(T, per)))
    return _mixed(parts, 32 * 32), "L", T_CRITICAL, 0.01


def case_potts(per: int, seed: int):
    from physlens.systems.statistical.potts import potts_critical_temperature, simulate_potts

    tc = potts_critical_temperature(4)
    T = tc * np.linspace(0.75, 1.3, 20)
    rng = np.random.default_rng(seed)
    parts = []
    for L in (8, 12, 16, 24, 32):
        conf = simulate_potts(L, 4, T, per, rng, n_equilibrate=200, n_between=2)
        parts.append((L, conf.reshape(-1, L * L).astype(float), np.repeat(T, per)))
    return _mixed(parts, 32 * 32), "L", tc, 0.02


def case_tfim(per: int, seed: int):
    from physlens.systems import get_system

    parts = []
    for N in (6, 8, 10, 12):
        ds = get_system("tfim_chain", n_spins=N, g_range=(0.2, 2.0), n_fields=40).sample(40 * max(2 * per // 3, 1),
                                                                                      seed=seed + N)
        parts.append((N, ds.X, ds.y[:, 0]))
    return _mixed(parts, 12), "L", 1.0, 0.03


def case_chain(per: int, seed: int):
    from physlens.systems import get_system

    ds = get_system("ising_chain", n_spins=64, T_range=(1.0, 4.0), n_temperatures=20).sample(20 * per, seed=seed)
    return ds, None, None, None


CASES = {"ising": case_ising, "tfim": case_tfim, "potts": case_potts, "chain": case_chain}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default=",".join(CASES), help="comma-separated: " + ", ".join(CASES))
    ap.add_argument("--per", type=int, default=150, help="configurations per control value and size")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "phases.json"))
    args = ap.parse_args()

    from rich.console import Console
    from rich.table import Table

    from physlens.findings import to_jsonable
    from physlens.io import write_json
    from physlens.probes import phases

    console = Console(width=200)
    rows = []
    for name in [c.strip() for c in args.cases.split(",") if c.strip()]:
        t0 = time.perf_counter()
        ds, size, truth, tol = CASES[name](args.per, args.seed)
        gen = time.perf_counter() - t0
        t0 = time.perf_counter()
        fs = phases.run(None, ds, control=ds.target_names[0], size=size, seed=args.seed)
        probe_s = time.perf_counter() - t0
        f = fs[0]
        crit = f.value["critical"]
        ok = (crit is None) if truth is None else (crit is not None and abs(crit - truth) <= tol * truth)
        row = {"case": name, "truth": truth, "tolerance": tol, "critical": crit, "uncertainty": f.value["uncertainty"],
               "relative_error": None if (crit is None or truth is None) else abs(crit - truth) / truth,
               "nu": f.evidence.get("nu"), "nu_uncertainty": f.evidence.get("nu_uncertainty"),
               "order_parameter": f.value["order_parameter"], "methods": f.evidence.get("methods"),
               "per_size": {L: {m: {"critical": d["critical"], "uncertainty": d["uncertainty"]}
                                for m, d in r["methods"].items()} for L, r in f.evidence["per_size"].items()},
               "statement": f.statement, "pass": bool(ok), "probe_seconds": probe_s, "generation_seconds": gen,
               "rows": ds.n}
        rows.append(row)
        console.print(f"[bold]{name}[/] ({probe_s:.0f} s probe, {gen:.0f} s data): {f.statement}", highlight=False)

    table = Table(title="phases: critical point by method (infinite-size extrapolation where sizes are mixed)")
    for col in ("case", "truth", "supervised", "confusion", "pca", "autoencoder", "combined", "rel. err", "nu",
                "order parameter", "pass", "probe s"):
        table.add_column(col)

    def fmt(d):
        return "-" if not d or d.get("critical") is None else f"{d['critical']:.4f} ± {d['uncertainty']:.3f}"

    for r in rows:
        m = r["methods"] or {}
        table.add_row(r["case"], "none" if r["truth"] is None else f"{r['truth']:.4f}",
                      *(fmt(m.get(k)) for k in ("supervised", "confusion", "pca", "autoencoder")),
                      "none" if r["critical"] is None else f"{r['critical']:.4f} ± {r['uncertainty']:.3f}",
                      "-" if r["relative_error"] is None else f"{r['relative_error']:.2%}",
                      "-" if r["nu"] is None else f"{r['nu']:.2f} ± {r['nu_uncertainty']:.2f}",
                      str(r["order_parameter"]), "yes" if r["pass"] else "NO", f"{r['probe_seconds']:.0f}")
    console.print(table)
    write_json(Path(args.json), to_jsonable({
        "commit": _commit(), "machine": f"{platform.machine()} {os.cpu_count()} cores (shared)",
        "per": args.per, "seed": args.seed, "cases": rows}))
    console.print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
