"""Emergence over training: when each symmetry and each relevant input appears in Kepler and n-body emulators.

For each case the network is trained with the default recipe
(``physlens.train.train_default``, weight snapshots at log-spaced epochs), the
attribution and symmetry probes read the trained network, and
``physlens.probes.emergence.run`` replays their statistics on every snapshot. The
table lists, per finding, the epoch at which it first holds, the epoch from which it
holds to the end, whether it stays, and the final epoch's statistic next to the
final probe's own number (relevance: permutation importance / Var; symmetry:
violation / model error) — the two must agree (same verdict; numbers within the
noise of different shuffles and test rows). Plots (the report's figure) go to
``benchmarks/results/emergence_<case>.png``; the last case times the probe on
10 inputs x 10 000 rows (target < 30 s on 2 cores). JSON:
``benchmarks/results/emergence.json`` with the commit.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/emergence.py
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/emergence.py --cases kepler --epochs 100
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import time
import warnings
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from provenance import commit as _commit  # noqa: E402  (benchmarks/ is on sys.path)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
GRAPH_FULL = {"edge_inputs": "full", "node_model": "additive", "divide_by": "m", "regularizer": "none"}


def _ten_inputs(n: int, seed: int):
    from physlens.data.dataset import Dataset

    X = np.random.default_rng(seed).uniform(-1.5, 1.5, (n, 10))
    y = X[:, 0] * X[:, 1] + np.sin(X[:, 2]) * X[:, 3] + 0.5 * X[:, 4] ** 2 - X[:, 5] + 0.3 * X[:, 6] * X[:, 7] ** 2
    return Dataset(X, y, [f"x{i}" for i in range(10)], ["y"], name="ten_inputs")


def _system(name: str, **params):
    from physlens.systems import get_system

    return lambda n, seed: get_system(name, **params).sample(n, seed=seed)


# label, data maker, rows, model, model params
CASES = {
    "kepler": ("kepler 2D energy", _system("kepler", dim=2, target="energy", points_per_trajectory=5), 3000, "mlp", None),
    "kepler_field": ("kepler 2D derivatives", _system("kepler", dim=2, points_per_trajectory=5), 3000, "mlp", None),
    "nbody": ("nbody_springs (graph)", _system("nbody_springs", points_per_trajectory=5), 2000, "graph", GRAPH_FULL),
    "speed": ("10 inputs x 10k rows", _ten_inputs, 10_000, "mlp", None),
}


def _final_probe_value(f) -> float | None:
    v = f.value if isinstance(f.value, dict) else {}
    if f.kind == "relevant-variable":
        return v.get("permutation")
    if f.kind == "symmetry":
        if v.get("residual") is not None:
            return float(v["residual"])
        ratio = (f.evidence or {}).get("violation_over_error")
        return None if ratio is None else float(ratio)
    return None


def one_case(key: str, epochs: int, seed: int) -> dict:
    from physlens.probes.attribution import run as attribution
    from physlens.probes.emergence import run as emergence
    from physlens.probes.symmetry import run as symmetry
    from physlens.report.kinds.emergence import emergence_figure
    from physlens.train import train_default

    label, make, n, model, params = CASES[key]
    ds = make(n, seed)
    t0 = time.perf_counter()
    res = train_default(ds, seed=seed, progress=False, epochs=epochs, model=model, model_params=params)
    t1 = time.perf_counter()
    findings = attribution(res.model, ds, heldout=res.val_index, seed=seed)
    findings += symmetry(res.model, ds, seed=seed, latent=False, weights=False)
    t2 = time.perf_counter()
    [summary] = emergence(res.model, ds, findings=findings, training=res, seed=seed)
    t3 = time.perf_counter()
    rows = []
    for f in findings:
        em = (f.evidence or {}).get("emergence")
        if not em:
            continue
        final_probe = _final_probe_value(f)
        final_stat = em["statistic"][-1] if em["statistic"] else None
        rows.append({
            "kind": f.kind, "subject": f.subject, "target": f.target,
            "label": next((s["label"] for s in summary.value["series"] if s["epochs"] == em["epochs"]
                           and s["statistic"] == em["statistic"]), f.subject),
            "first_holds": em["first_holds"], "holds_from": em["holds_from"], "stays": em["stays"],
            "final_holds": bool(em["holds"][-1]) if em["holds"] else None,
            "final_statistic": final_stat, "final_probe": final_probe,
            "ratio_to_probe": (final_stat / final_probe) if final_stat and final_probe else None,
            "threshold": em["threshold"], "epochs": em["epochs"], "statistic": em["statistic"], "holds": em["holds"],
            "contrast_margin": em.get("contrast_margin"),
        })
    figs = emergence_figure([summary], ds)
    png = None
    if figs:
        png = RESULTS / f"emergence_{key}.png"
        png.write_bytes(base64.b64decode(figs[0][1]))
    return {"case": label, "key": key, "n": ds.n, "d_in": ds.d_in, "model": model, "epochs_run": res.epochs_run,
            "relative_error": res.summary()["relative_error"], "snapshots": [e for e, _ in res.snapshots],
            "train_s": t1 - t0, "probes_s": t2 - t1, "emergence_s": t3 - t2,
            "replayed": summary.evidence["replayed"], "findings": rows, "figure": None if png is None else png.name,
            "final_agrees": summary.value["final_agrees"], "final_checked": summary.value["final_checked"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default="kepler,nbody,speed", help="comma-separated: " + ", ".join(CASES))
    ap.add_argument("--epochs", type=int, default=150)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(RESULTS / "emergence.json"))
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    RESULTS.mkdir(parents=True, exist_ok=True)
    cases = []
    for key in args.cases.split(","):
        c = one_case(key.strip(), args.epochs, args.seed)
        cases.append(c)
        print(f"\n{c['case']}: n={c['n']} {c['model']} err {c['relative_error']:.3f}, snapshots {c['snapshots']}, "
              f"train {c['train_s']:.0f} s, probes {c['probes_s']:.0f} s, emergence {c['emergence_s']:.1f} s "
              f"({c['replayed']} points); final verdict agrees on {c['final_agrees']}/{c['final_checked']}")
        print(f"  {'finding':44s} {'first':>6s} {'from':>6s} {'stays':>6s} {'final stat':>11s} {'probe':>9s}")
        for r in c["findings"]:
            fs = "-" if r["final_statistic"] is None else f"{r['final_statistic']:.3g}"
            fp = "-" if r["final_probe"] is None else f"{r['final_probe']:.3g}"
            print(f"  {r['label'][:44]:44s} {str(r['first_holds']):>6s} {str(r['holds_from']):>6s} "
                  f"{str(r['stays']):>6s} {fs:>11s} {fp:>9s}")
    out = {"benchmark": "emergence", "commit": _commit(), "machine": platform.platform(),
           "cpu_threads": os.environ.get("OMP_NUM_THREADS"), "epochs": args.epochs, "cases": cases}
    Path(args.out).write_text(json.dumps(out, indent=1, default=float))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
