"""Influence probe: finding corrupted targets over training, against the largest residuals.

For each corrupted case 2 % of the rows get one target moved by 3 standard
deviations (random sign). The network is trained with the default recipe
(``physlens.train.train_default``, snapshots at log-spaced epochs), then, on the same
model and the same snapshots, four per-row statistics are compared with the *same*
local rule (:func:`physlens.probes.influence.local_ratio` over the 10 nearest rows,
flagged above :func:`~physlens.probes.influence.ratio_threshold` at family-wise level 0.05):

* ``loss_area`` — the probe's default (``physlens.probes.influence.run``, timed);
* ``self_influence`` — TracIn self-influence;
* ``relative_loss_area`` — each snapshot's loss in units of its median;
* ``residual`` — the plain largest-residual baseline: the trained model's squared
  standardised residual; also ranked (top-k, k = the number the probe flagged).

The former rule (robust z of the fourth root of the self-influence over all rows) is
reported too, as ``old_global_rule``. Cases: the clean Kepler flagship (false flags),
the flagship with 4 whole runs corrupted (one target of each of their rows),
Kepler energy and ``x1 x2^2`` at 2000 rows (a network that cannot memorise 2 % wrong
targets), ``x1 x2^2`` at 300 rows with a wide network trained 1500 epochs without early
stopping (it memorises them; and the same data clean), and 10 inputs x 10 000 rows,
whose probe time is the speed figure (target < 30 s on 2 cores). Recall is the share of
corrupted rows flagged, precision the share of flagged rows that are corrupted (targets:
recall >= 0.8, precision >= 0.5). Prints a table and writes
``benchmarks/results/influence.json`` with the commit.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/influence.py              # 2 seeds, all cases
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/influence.py --seeds 1 --epochs 60
"""

from __future__ import annotations

import argparse
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
FRACTION, SHIFT = 0.02, 3.0


def _ten_inputs(n: int, seed: int):
    """A smooth law of 10 inputs: sums, products and a sine (3 of them unused)."""
    from physlens.data.dataset import Dataset

    X = np.random.default_rng(seed).uniform(-1.5, 1.5, (n, 10))
    y = X[:, 0] * X[:, 1] + np.sin(X[:, 2]) * X[:, 3] + 0.5 * X[:, 4] ** 2 - X[:, 5] + 0.3 * X[:, 6] * X[:, 7] ** 2
    return Dataset(X, y, [f"x{i}" for i in range(10)], ["y"], name="ten_inputs")


def _law(n: int, seed: int):
    """``y = x1 x2^2`` plus 1 % noise, with a distractor ``x3``."""
    from physlens.data.dataset import Dataset

    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, (n, 3))
    return Dataset(X, X[:, 0] * X[:, 1] ** 2 + 0.01 * rng.normal(size=n), ["x1", "x2", "x3"], ["y"], name="x1x2^2")


def _system(name: str, **params):
    def make(n: int, seed: int):
        from physlens.systems import get_system

        return get_system(name, **params).sample(n, seed=seed)
    return make


MEMORISE = {"epochs": 1500, "patience": 10**9, "model_params": {"width": 128}}
# label, maker, rows, corruption (False, True: 2 % of rows, "runs": whole runs), training overrides
# (None: --epochs), seeds (None: --seeds)
CASES = [
    ("clean Kepler flagship", _system("kepler", dim=2, points_per_trajectory=10), 4000, False, None, None),
    ("Kepler flagship, 4 corrupted runs", _system("kepler", dim=2, points_per_trajectory=10), 4000, "runs", None, 1),
    ("Kepler energy", _system("kepler", dim=2, target="energy", points_per_trajectory=5), 5000, True, None, None),
    ("x1 x2^2, 2000 rows", _law, 2000, True, None, None),
    ("x1 x2^2, 300 rows, memorised", _law, 300, True, MEMORISE, None),
    ("clean x1 x2^2, 300 rows, memorised", _law, 300, False, MEMORISE, 1),
    ("10 inputs x 10k rows", _ten_inputs, 10_000, True, None, 1),
]


def corrupt(ds, seed: int):
    """Move one target of 2 % of the rows by 3 standard deviations; returns (dataset, corrupted rows)."""
    rng = np.random.default_rng(10_000 + seed)
    bad = np.sort(rng.choice(ds.n, size=max(1, int(round(FRACTION * ds.n))), replace=False))
    y = ds.y.copy()
    cols = rng.integers(0, ds.d_out, size=len(bad))
    y[bad, cols] += rng.choice([-1.0, 1.0], size=len(bad)) * SHIFT * ds.y.std(axis=0)[cols]
    ds.y = y
    return ds, bad


def corrupt_runs(ds, seed: int, runs: int = 4):
    """Move one target of every row of ``runs`` whole trajectories by 3 standard deviations (a corrupted run)."""
    rng = np.random.default_rng(20_000 + seed)
    g = ds.groups()
    bad = np.flatnonzero(np.isin(g, rng.choice(np.unique(g), runs, replace=False)))
    col = int(rng.integers(0, ds.d_out))
    y = ds.y.copy()
    y[bad, col] += SHIFT * ds.y[:, col].std()
    ds.y = y
    return ds, bad


def _pr(flagged: np.ndarray, bad: np.ndarray) -> dict:
    hit = int(np.isin(flagged, bad).sum())
    out = {"flagged": int(len(flagged))}
    if len(bad):
        out.update(recall=hit / len(bad), precision=(hit / len(flagged) if len(flagged) else 0.0))
    return out


def _old_global_rule(scores: np.ndarray, alpha: float = 0.05) -> np.ndarray:
    """The former decision: robust z of the fourth root over all rows above Phi^-1(1 - alpha / n)."""
    from scipy.stats import norm

    c = np.clip(scores, 0.0, None) ** 0.25
    med = np.median(c)
    mad = 1.4826 * np.median(np.abs(c - med)) or 1.0
    return np.flatnonzero((c - med) / mad > norm.isf(alpha / len(c)))


def one_case(label: str, make, n: int, corrupted, overrides: dict | None, seed: int, epochs: int) -> dict:
    from physlens.probes.influence import (local_ratio, neighbours, row_statistics, run, suspect_rows,
                                           trace_rows)
    from physlens.train import train_default

    ds = make(n, seed)
    bad = np.array([], dtype=np.int64)
    if corrupted == "runs":
        ds, bad = corrupt_runs(ds, seed)
    elif corrupted:
        ds, bad = corrupt(ds, seed)
    t0 = time.perf_counter()
    res = train_default(ds, seed=seed, progress=False, **(overrides or {"epochs": epochs}))
    t1 = time.perf_counter()
    [f] = run(res.model, ds, training=res, heldout=res.val_index, seed=seed)
    t2 = time.perf_counter()
    probe = np.asarray(f.value["suspect_rows"], dtype=np.int64)
    trace = trace_rows(res.model, ds, res.snapshots, res.history)
    stats = row_statistics(trace, res.model, ds)
    nbrs = neighbours(ds)
    row = {"case": label, "seed": seed, "n": ds.n, "d_in": ds.d_in, "d_out": ds.d_out, "corrupted": int(len(bad)),
           "relative_error": res.summary()["relative_error"], "epochs": res.epochs_run,
           "snapshots": len(res.snapshots), "train_s": t1 - t0, "probe_s": t2 - t1,
           "probe": _pr(probe, bad)}
    for name, s in stats.items():
        row[name] = _pr(suspect_rows(local_ratio(s, nbrs))[0], bad)
    row["residual_top_k"] = _pr(np.argsort(-stats["residual"])[: max(len(probe), 1)], bad)
    row["old_global_rule"] = _pr(_old_global_rule(stats["self_influence"]), bad)
    if len(bad):
        trained = np.isin(bad, res.train_index)
        row["corrupted_in_training"] = int(trained.sum())
        clean = np.setdiff1d(np.arange(ds.n), bad)
        row["final_loss_median"] = {"corrupted_trained": float(np.median(stats["residual"][bad[trained]])),
                                    "clean": float(np.median(stats["residual"][clean]))}
        row["passes"] = bool(row["probe"]["recall"] >= 0.8 and row["probe"]["precision"] >= 0.5)
    return row


def _fmt(r: dict) -> str:
    return f"{r['flagged']:4d}" + (f" R {r['recall']:.2f} P {r['precision']:.2f}" if "recall" in r else " " * 14)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "influence.json"))
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    rows = []
    names = ["probe", "self_influence", "relative_loss_area", "residual", "old_global_rule"]
    print(f"{'case':36s} seed  err    | " + " | ".join(f"{k:23s}" for k in names) + " | probe s")
    for label, make, n, corrupted, overrides, seeds in CASES:
        for seed in range(seeds or args.seeds):
            row = one_case(label, make, n, corrupted, overrides, seed, args.epochs)
            rows.append(row)
            print(f"{label:36s} {seed:4d}  {row['relative_error']:.3f}  | " + " | ".join(_fmt(row[k]) for k in names)
                  + f" | {row['probe_s']:.1f}", flush=True)
    bad_rows = [r for r in rows if r["corrupted"]]
    mean = lambda key, m: float(np.mean([r[key][m] for r in bad_rows]))  # noqa: E731
    summary = {
        "cases_passing": sum(r["passes"] for r in bad_rows), "cases": len(bad_rows),
        **{k: {"recall": mean(k, "recall"), "precision": mean(k, "precision")}
           for k in names + ["loss_area", "residual_top_k"]},
        "clean_false_flags": {r["case"] + f" seed {r['seed']}": {k: r[k]["flagged"] for k in names}
                              for r in rows if not r["corrupted"]},
        "probe_seconds_10_inputs_10k_rows": [r["probe_s"] for r in rows if r["n"] >= 10_000],
    }
    print(f"\nmean over {len(bad_rows)} corrupted cases: probe (loss area) R {summary['probe']['recall']:.2f} "
          f"P {summary['probe']['precision']:.2f}; residual (same rule) R {summary['residual']['recall']:.2f} "
          f"P {summary['residual']['precision']:.2f}; cases passing (R>=0.8, P>=0.5): "
          f"{summary['cases_passing']}/{summary['cases']}")
    print(f"clean data, rows flagged: {summary['clean_false_flags']}")
    out = {"benchmark": "influence", "commit": _commit(), "machine": platform.platform(),
           "cpu_threads": os.environ.get("OMP_NUM_THREADS"), "epochs": args.epochs,
           "corruption": {"fraction": FRACTION, "shift_sd": SHIFT}, "rows": rows, "summary": summary}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
