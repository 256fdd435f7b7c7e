"""Conserved quantities on the built-in dynamical systems: physlens's conservation probe against a local-PCA count.

For each system, noise level and seed it samples at most 200 trajectories, trains the flow
emulator with the recipe physlens chooses for the budget (the same ``train_for_probes`` the
study runner uses), runs the ``conservation`` probe, and scores its closed forms against the
system's ground truth (each must be a function of the true conserved quantities: gradients in
their span). In the same run the count-only baseline of the AI Poincaré kind (Liu & Tegmark
2021: phase-space dimension minus the dimension a trajectory fills, by local PCA; see
:func:`physlens.probes.conservation.count.poincare_count`) counts from the same trajectories.

Noise ``1 %`` is Gaussian with sigma = 1 % of each column's RMS (targets) and of each state
column's standard deviation (states), so both the count and the emulator see it.

    .venv/bin/python benchmarks/conservation.py                           # every system, 2 noise levels, 3 seeds
    .venv/bin/python benchmarks/conservation.py --systems kepler2d --seeds 0 --budget standard

Writes ``benchmarks/results/conservation.json`` with the commit it measured.

Measured again with the Duffing oscillator (its quartic energy lies outside the default cubic library; the probe now
tries wider libraries while its count is below the local-PCA count): Duffing 0/6 runs exact before (count 0 on every
seed and noise level), 6/6 after; the 7 other systems without n-body re-run after the change, all 42 runs exact, as before
(n-body's rows kept: its particle library has no degree to widen).

Measured earlier with Lotka-Volterra (logarithms in the library, L1-sparse null vectors, term exchanges after the
thinning; 249e295, the n-body rows of seed 0 and the 1 % rows of Lotka-Volterra and Kepler 3-D re-run after the
exchange prefilter): exact count and every closed form on all 48 runs (16 lines). Lotka-Volterra at 1 % noise
read a stand-in form on 2 of 3 seeds before the exchanges (``x + 5 y^2/12 - 3 ln x - 17 ln y / 6``).

Earlier, at budget standard (3 seeds, noise 0 and 1 %, all 7 systems in one run from a clean checkout,
shared machine with one core left for several users, load 7-11, one thread): exact count and every closed
form matched on all 42 runs, so on all 14 (system, noise) lines: oscillator, Kepler 2-D (E, L, one
Runge-Lenz component) and 3-D (5), n-body (P_x, P_y, L, E; at 1 % noise too since the probe samples
whole trajectories), the double pendulum (energy over the fitted denominator 1 - cos^2/2), damped
pendulum and Lorenz with no quantity. The local-PCA baseline is exact on 9/42 runs. Rows record CPU
seconds (one thread; what a free core would take): train + probe 3-19 s per run except n-body,
49-64 s, of which training the graph emulator (400 epochs, batch 128) is 48-62 s and the probe 1-2 s.
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

#: name -> (system, params, rows, true count); at most 200 trajectories each
SYSTEMS = {
    "harmonic_oscillator": ("harmonic_oscillator", {"points_per_trajectory": 20}, 2000, 1),
    "kepler2d": ("kepler", {"dim": 2, "points_per_trajectory": 20}, 4000, 3),
    "kepler3d": ("kepler", {"dim": 3, "points_per_trajectory": 20}, 4000, 5),
    "nbody_springs": ("nbody_springs", {"points_per_trajectory": 20}, 4000, 4),
    "double_pendulum": ("double_pendulum", {"points_per_trajectory": 20}, 4000, 1),
    "damped_pendulum": ("damped_pendulum", {"points_per_trajectory": 20}, 2000, 0),
    "lorenz": ("lorenz", {"steps": 20}, 4000, 0),
    "lotka_volterra": ("lotka_volterra", {"points_per_trajectory": 20}, 2000, 1),
    "duffing": ("duffing", {"points_per_trajectory": 20}, 2000, 1),
}


def one_case(key: str, noise: float, seed: int, budget: str) -> dict:
    """Sample, train, probe and score one (system, noise, seed); the baseline counts on the same trajectories."""
    from physlens.findings import score
    from physlens.probes.conservation.count import poincare_count
    from physlens.study import ProbeConfig, Study, run_probes, train_for_probes
    from physlens.systems import get_system

    system, params, n, truth = SYSTEMS[key]
    t0 = time.perf_counter()
    ds = get_system(system, **params).sample(n, seed=seed, noise=noise)
    if noise > 0:
        rng = np.random.default_rng(1000 + seed)
        clean = ds.X.copy()
        ds.X = ds.X + noise * ds.X.std(axis=0) * rng.standard_normal(ds.X.shape)
        for j, nm in enumerate(ds.input_names):  # parameters (masses) stay exact: they are not measured states
            if nm.startswith("m") and nm[1:].isdigit():
                ds.X[:, j] = clean[:, j]
    study = Study.parse({"source": {"system": system, "params": params, "n": n}, "budget": budget, "seed": seed,
                         "probes": [{"name": "conservation"}]})
    probes = [ProbeConfig(name="conservation")]
    t_train, c_train = time.perf_counter(), time.process_time()
    result, quality = train_for_probes(study, ds, probes, None, progress=False)
    t_probe, c_probe = time.perf_counter(), time.process_time()
    findings, notes = run_probes(result.model, ds, probes, budget, seed, quality, heldout=result.val_index,
                                 training=result)
    t_end, c_end = time.perf_counter(), time.process_time()
    score(findings, ds.truth)
    conserved = [f for f in findings if f.kind == "conserved"]
    count = next((f for f in findings if f.kind == "quality" and f.probe == "conservation"), None)
    groups = ds.groups()
    trajs = [ds.X[groups == g] for g in np.unique(groups)]
    t_base = time.perf_counter()
    base, _ = poincare_count(trajs)
    t_base = time.perf_counter() - t_base
    matched = sum(bool(f.match) for f in conserved)
    return {
        "system": key, "noise": noise, "seed": seed, "truth": truth,
        "count_from_trajectories": count.value["count_from_trajectories"] if count else None,
        "closed_forms": len(conserved), "closed_forms_matched": matched,
        "expressions": [f.value["expression"] for f in conserved],
        "relative_variation": [f.value["relative_variation"] for f in conserved],
        "baseline_count": base, "model_relative_error": quality["relative_error"],
        "closed_form_source": count.evidence.get("closed_form_source") if count else None,
        "rational_denominator": count.evidence.get("rational_denominator") if count else None,
        "count_notes": count.evidence.get("notes") if count else None,
        "status": notes[0]["status"] if notes else "none", "reason": notes[0].get("reason") if notes else None,
        "seconds": {"sample": t_train - t0, "train": t_probe - t_train, "probe": t_end - t_probe,
                    "total": t_end - t0, "baseline": t_base},
        # CPU time of this process (one thread): what the run costs on a free core, whatever the machine's load
        "cpu_seconds": {"train": c_probe - c_train, "probe": c_end - c_probe},
        "epochs_run": result.epochs_run, "model": quality.get("model"),
        "exact": (count is not None and count.value["count_from_trajectories"] == truth and len(conserved) == truth
                  and matched == truth),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--systems", default=",".join(SYSTEMS))
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--noise", default="0,0.01")
    ap.add_argument("--budget", default="quick", choices=["quick", "standard", "thorough"])
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "conservation.json"))
    ap.add_argument("--merge", default=None,
                    help="an earlier JSON of this benchmark whose rows for the other systems join the table "
                         "(each row keeps the commit it measured)")
    args = ap.parse_args()

    from rich.console import Console
    from rich.table import Table

    from physlens.findings import to_jsonable
    from physlens.io import write_json

    rows = []
    meta = {"commit": _commit(), "budget": args.budget, "machine": {"cpus": os.cpu_count(),
            "python": platform.python_version(), "platform": platform.platform()}}
    if args.merge:
        import json

        earlier = json.loads(Path(args.merge).read_text())
        mine = set(args.systems.split(","))
        rows = [{**r, "commit": r.get("commit", earlier.get("commit"))} for r in earlier["rows"] if r["system"] not in mine]
        meta["merged_from"] = {"path": args.merge, "commit": earlier.get("commit"), "rows": len(rows)}
    for key in args.systems.split(","):
        for noise in [float(v) for v in args.noise.split(",")]:
            for seed in [int(s) for s in args.seeds.split(",")]:
                row = one_case(key, noise, seed, args.budget)
                row["commit"] = meta["commit"]
                rows.append(row)
                print(f"{key} noise={noise:g} seed={seed}: count {row['count_from_trajectories']}, closed forms "
                      f"{row['closed_forms_matched']}/{row['closed_forms']} (truth {row['truth']}), baseline "
                      f"{row['baseline_count']}, {row['seconds']['total']:.0f} s "
                      f"({sum(row['cpu_seconds'].values()):.0f} CPU s, {row['epochs_run']} epochs)", flush=True)
                write_json(args.json, to_jsonable({**meta, "rows": rows}))
    table = Table(title=f"Conserved quantities (budget {args.budget}; count / closed forms matched / baseline)")
    for col in ("system", "noise", "truth", "physlens count", "closed forms (matched)", "exact on all seeds",
                "local-PCA count", "baseline exact", "s per system (train + probe)", "CPU s (max)"):
        table.add_column(col)
    summary = []
    for key in dict.fromkeys(r["system"] for r in rows):
        for noise in dict.fromkeys(r["noise"] for r in rows if r["system"] == key):
            rs = [r for r in rows if r["system"] == key and r["noise"] == noise]
            line = {
                "system": key, "noise": noise, "truth": rs[0]["truth"], "seeds": len(rs),
                "counts": [r["count_from_trajectories"] for r in rs],
                "closed_forms": [f"{r['closed_forms_matched']}/{r['closed_forms']}" for r in rs],
                "exact_all_seeds": all(r["exact"] for r in rs),
                "baseline_counts": [r["baseline_count"] for r in rs],
                "baseline_exact_all_seeds": all(r["baseline_count"] == r["truth"] for r in rs),
                "seconds_mean": float(np.mean([r["seconds"]["train"] + r["seconds"]["probe"] for r in rs])),
                "probe_seconds_mean": float(np.mean([r["seconds"]["probe"] for r in rs])),
                "cpu_seconds_mean": float(np.mean([sum(r["cpu_seconds"].values()) for r in rs])),
                "cpu_seconds_max": float(np.max([sum(r["cpu_seconds"].values()) for r in rs])),
                "epochs_run": [r["epochs_run"] for r in rs],
            }
            summary.append(line)
            table.add_row(key, f"{noise:g}", str(line["truth"]), str(line["counts"]), str(line["closed_forms"]),
                          "yes" if line["exact_all_seeds"] else "no", str(line["baseline_counts"]),
                          "yes" if line["baseline_exact_all_seeds"] else "no",
                          f"{line['seconds_mean']:.0f} ({line['probe_seconds_mean']:.1f} probe)",
                          f"{line['cpu_seconds_mean']:.0f} ({line['cpu_seconds_max']:.0f})")
    Console().print(table)
    write_json(args.json, to_jsonable({**meta, "summary": summary, "rows": rows}))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
