"""Influence probe: finding corrupted targets by TracIn self-influence, against the largest residuals.

For each case 2 % of the rows get one target moved by 3 standard deviations (random
sign). The network is trained with the default recipe (``physlens.train.train_default``,
snapshots at log-spaced epochs) on the corrupted data, then

* **influence**: ``physlens.probes.influence.run`` (TracInCP over the snapshots, the
  probe's own data-derived threshold) gives the suspect rows;
* **largest residual** (the plain baseline, same run, same model): the squared
  standardised residual of the trained model per row, flagged by the *same* rule
  (robust z of the fourth root at family-wise level 0.05,
  :func:`physlens.probes.influence.suspect_rows`), and also ranked: its top-k rows with
  k the number influence flagged, so the two rankings are compared at equal size.

Recall is the share of corrupted rows flagged, precision the share of flagged rows that
are corrupted (targets: recall >= 0.8, precision >= 0.5). The last case is 10 inputs x
10 000 rows, whose probe time is the speed figure (target < 30 s on 2 cores). Prints a
table and writes ``benchmarks/results/influence.json`` with the commit.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/influence.py              # 2 seeds, all cases
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/influence.py --seeds 1 --epochs 60
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import time
import warnings
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FRACTION, SHIFT = 0.02, 3.0


def _commit() -> str:
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _ten_inputs(n: int, seed: int):
    """A smooth law of 10 inputs: sums, products and a sine (3 of them unused)."""
    from physlens.data.dataset import Dataset

    X = np.random.default_rng(seed).uniform(-1.5, 1.5, (n, 10))
    y = X[:, 0] * X[:, 1] + np.sin(X[:, 2]) * X[:, 3] + 0.5 * X[:, 4] ** 2 - X[:, 5] + 0.3 * X[:, 6] * X[:, 7] ** 2
    return Dataset(X, y, [f"x{i}" for i in range(10)], ["y"], name="ten_inputs")


CASES = [
    ("toy_distractor", lambda n, s: __import__("physlens.systems", fromlist=["get_system"]).get_system(
        "toy_distractor").sample(n, seed=s), 5000),
    ("kepler 2D energy", lambda n, s: __import__("physlens.systems", fromlist=["get_system"]).get_system(
        "kepler", dim=2, target="energy", points_per_trajectory=5).sample(n, seed=s), 5000),
    ("10 inputs x 10k rows", _ten_inputs, 10_000),
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


def _pr(flagged: np.ndarray, bad: np.ndarray) -> tuple[float, float]:
    hit = int(np.isin(flagged, bad).sum())
    return hit / len(bad), (hit / len(flagged) if len(flagged) else 0.0)


def one_case(label: str, make, n: int, seed: int, epochs: int) -> dict:
    from physlens.probes.influence import run, suspect_rows
    from physlens.train import train_default

    ds, bad = corrupt(make(n, seed), seed)
    t0 = time.perf_counter()
    res = train_default(ds, seed=seed, progress=False, epochs=epochs)
    t1 = time.perf_counter()
    [f] = run(res.model, ds, training=res, heldout=res.val_index, seed=seed)
    t2 = time.perf_counter()
    flagged = np.asarray(f.value["suspect_rows"], dtype=np.int64)
    r_inf, p_inf = _pr(flagged, bad)
    sd = np.where(ds.y.std(axis=0) > 0, ds.y.std(axis=0), 1.0)
    resid = (((res.model.predict(ds.X) - ds.y) / sd) ** 2).sum(axis=1)
    base, _thr, _z = suspect_rows(resid)
    r_res, p_res = _pr(base, bad)
    topk = np.argsort(-resid)[: max(len(flagged), 1)]
    r_top, p_top = _pr(topk, bad)
    return {
        "case": label, "seed": seed, "n": ds.n, "d_in": ds.d_in, "corrupted": int(len(bad)),
        "relative_error": res.summary()["relative_error"], "epochs": res.epochs_run,
        "snapshots": len(res.snapshots), "train_s": t1 - t0, "influence_s": t2 - t1,
        "influence": {"flagged": int(len(flagged)), "recall": r_inf, "precision": p_inf},
        "residual_same_rule": {"flagged": int(len(base)), "recall": r_res, "precision": p_res},
        "residual_top_k": {"flagged": int(len(topk)), "recall": r_top, "precision": p_top},
        "passes": bool(r_inf >= 0.8 and p_inf >= 0.5),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "influence.json"))
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    rows = []
    for label, make, n in CASES:
        seeds = range(args.seeds) if n < 10_000 else range(1)
        for seed in seeds:
            row = one_case(label, make, n, seed, args.epochs)
            rows.append(row)
            i, b, t = row["influence"], row["residual_same_rule"], row["residual_top_k"]
            print(f"{label:22s} seed {seed}  n={row['n']:6d}  err {row['relative_error']:.3f}  "
                  f"influence {i['flagged']:4d} R {i['recall']:.2f} P {i['precision']:.2f} ({row['influence_s']:.1f} s)  "
                  f"| residual {b['flagged']:4d} R {b['recall']:.2f} P {b['precision']:.2f}  "
                  f"| residual top-{t['flagged']} R {t['recall']:.2f} P {t['precision']:.2f}", flush=True)
    mean = lambda key, m: float(np.mean([r[key][m] for r in rows]))  # noqa: E731
    summary = {
        "cases_passing": sum(r["passes"] for r in rows), "cases": len(rows),
        "influence": {"recall": mean("influence", "recall"), "precision": mean("influence", "precision")},
        "residual_same_rule": {"recall": mean("residual_same_rule", "recall"),
                               "precision": mean("residual_same_rule", "precision")},
        "residual_top_k": {"recall": mean("residual_top_k", "recall"), "precision": mean("residual_top_k", "precision")},
        "probe_seconds_10_inputs_10k_rows": [r["influence_s"] for r in rows if r["n"] >= 10_000],
    }
    print(f"\nmean over {len(rows)} cases: influence R {summary['influence']['recall']:.2f} "
          f"P {summary['influence']['precision']:.2f}; residual (same rule) R {summary['residual_same_rule']['recall']:.2f} "
          f"P {summary['residual_same_rule']['precision']:.2f}; cases passing (R>=0.8, P>=0.5): "
          f"{summary['cases_passing']}/{summary['cases']}")
    out = {"benchmark": "influence", "commit": _commit(), "machine": platform.platform(),
           "cpu_threads": os.environ.get("OMP_NUM_THREADS"), "epochs": args.epochs,
           "corruption": {"fraction": FRACTION, "shift_sd": SHIFT}, "rows": rows, "summary": summary}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
