"""Interactions probe: which input pairs a trained emulator combines non-additively, scored against known laws.

Every law is sampled, an MLP is trained on it with the project's own loop
(:func:`physlens.train.fit`), and :func:`physlens.probes.interactions.run` reads the
pairs off the trained network; each pair finding is scored by
:mod:`physlens.scoring.interaction` (the true equation's mixed partial). Cases:

1. ``y = x1 cos(x2) + x3² + log(x4) x5`` with a distractor ``x6``: exactly (x1, x2) and (x4, x5);
2. an additive law of six inputs: no pair;
3. 20 random laws of six inputs built from one-variable terms, products of two or three
   factors and functions of sums or ratios, with their interaction graphs known: precision
   and recall over all pairs (target ≥ 0.95);
4. the probe's time on 10 inputs × 10 000 rows (target < 30 s on 2 cores).

Side by side in the same run, on the same networks: a plain mixed-partial baseline that calls a
pair interacting when its scaled mean ``|∂²f/∂a∂b|`` (batched Hessians) exceeds a fixed 0.05.

    .venv/bin/python benchmarks/interactions.py                  # 20 random laws, 3000 rows, 300 epochs
    .venv/bin/python benchmarks/interactions.py --laws 5 --epochs 150   # a smaller run
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
import sympy as sp

from provenance import commit as _commit  # noqa: E402  (benchmarks/ is on sys.path)

ROOT = Path(__file__).resolve().parents[1]
HESSIAN_THRESHOLD = 0.05


def _symbols(d: int) -> list[sp.Symbol]:
    return [sp.Symbol(f"x{i + 1}", positive=True) for i in range(d)]


UNARY = [lambda s: s**2, sp.sin, sp.cos, sp.log, sp.sqrt, lambda s: sp.exp(-s / 2), lambda s: 1 / s]


def random_law(rng: np.random.Generator, d: int = 6) -> sp.Expr:
    """A random law of ``d`` inputs on [0.5, 2]: 2-3 one-variable terms, 1-2 pair terms, sometimes a triple."""
    xs = _symbols(d)
    terms = []
    for _ in range(rng.integers(2, 4)):
        g = UNARY[rng.integers(len(UNARY))]
        terms.append(g(xs[rng.integers(d)]))
    for _ in range(rng.integers(1, 3)):
        i, j = rng.choice(d, 2, replace=False)
        kind = rng.integers(4)
        a, b = xs[i], xs[j]
        if kind == 0:
            terms.append(UNARY[rng.integers(len(UNARY))](a) * UNARY[rng.integers(len(UNARY))](b))
        elif kind == 1:
            terms.append(sp.sin(a + b))
        elif kind == 2:
            terms.append(a / b)
        else:
            terms.append(sp.exp(-a * b / 2))
    if rng.random() < 0.3:
        i, j, k = rng.choice(d, 3, replace=False)
        terms.append(xs[i] * xs[j] * xs[k] / 2)
    coef = rng.uniform(0.7, 1.5, len(terms)) * rng.choice([-1, 1], len(terms))
    return sp.Add(*[sp.Float(round(float(c), 2)) * t for c, t in zip(coef, terms)])


def _dataset(expr: sp.Expr, d: int, n: int, seed: int):
    from physlens.data.dataset import Dataset
    from physlens.findings import GroundTruth

    xs = _symbols(d)
    X = np.random.default_rng(seed).uniform(0.5, 2.0, (n, d))
    y = np.broadcast_to(np.asarray(sp.lambdify(xs, expr, "numpy")(*X.T), dtype=np.float64), (n,))
    return Dataset(X, y.copy(), [s.name for s in xs], ["y"], truth=GroundTruth(equations={"y": expr}))


def _train(ds, epochs: int, seed: int):
    from physlens.models import build_model
    from physlens.train import TrainConfig, fit

    return fit(build_model("mlp", ds, seed=seed), ds, TrainConfig(epochs=epochs, progress=False, seed=seed,
                                                                    snapshots="none"))


def _read(ds, epochs: int, seed: int) -> dict:
    """Train, run the probe, score it and the Hessian baseline; counts of true/false positives/negatives."""
    from physlens.findings import score
    from physlens.probes.interactions import run
    from physlens.scoring.interaction import mixed_partial_vanishes

    t0 = time.perf_counter()
    res = _train(ds, epochs, seed)
    t_train = time.perf_counter() - t0
    t0 = time.perf_counter()
    fs = run(res.model, ds, heldout=res.val_index, seed=seed)
    t_probe = time.perf_counter() - t0
    pairs = [f for f in fs if f.kind == "interaction" and len(f.value["variables"]) == 2]
    score(fs, ds.truth)
    expr = ds.truth.equations["y"]
    counts = {"probe": dict(tp=0, fp=0, fn=0, tn=0), "hessian": dict(tp=0, fp=0, fn=0, tn=0)}
    undetermined = sum(len(f.value.get("pairs", [])) for f in fs if f.kind == "uncertainty")
    found, expected = [], []
    for f in pairs:
        truth = not mixed_partial_vanishes(expr, sorted(f.value["variables"]))
        for who, verdict in (("probe", bool(f.value["interacting"])),
                             ("hessian", f.evidence.get("hessian", 0.0) > HESSIAN_THRESHOLD)):
            key = ("tp" if truth else "fp") if verdict else ("fn" if truth else "tn")
            counts[who][key] += 1
        if f.value["interacting"]:
            found.append(tuple(f.value["variables"]))
        if truth:
            expected.append(tuple(f.value["variables"]))
    groups = [tuple(f.value["variables"]) for f in fs if f.kind == "interaction" and len(f.value["variables"]) == 3]
    return {"law": str(expr), "found": found, "expected": expected, "groups": groups, "counts": counts,
            "undetermined_pairs": undetermined, "val_loss": float(res.best_val_loss),
            "train_s": round(t_train, 2), "probe_s": round(t_probe, 3)}


def _pr(rows: list[dict], who: str) -> dict:
    c = {k: sum(r["counts"][who][k] for r in rows) for k in ("tp", "fp", "fn", "tn")}
    prec = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else 1.0
    rec = c["tp"] / (c["tp"] + c["fn"]) if c["tp"] + c["fn"] else 1.0
    return {**c, "precision": round(prec, 4), "recall": round(rec, 4)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--laws", type=int, default=20, help="random laws with known interaction graphs")
    ap.add_argument("--rows", type=int, default=3000)
    ap.add_argument("--epochs", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "interactions.json"))
    args = ap.parse_args()

    from rich.console import Console
    from rich.table import Table

    from physlens.findings import to_jsonable
    from physlens.io import write_json
    from physlens.probes.interactions import run

    console = Console()
    x = _symbols(6)
    headline = x[0] * sp.cos(x[1]) + x[2] ** 2 + sp.log(x[3]) * x[4]
    additive = sp.sin(x[0]) + x[1] ** 2 + sp.log(x[2]) + sp.sqrt(x[3]) - x[4] / 2 + sp.exp(-x[5])
    named = {"headline": _read(_dataset(headline, 6, args.rows, args.seed), args.epochs, args.seed),
             "additive": _read(_dataset(additive, 6, args.rows, args.seed), args.epochs, args.seed)}
    rng = np.random.default_rng(args.seed)
    laws = [random_law(rng) for _ in range(args.laws)]
    rows = []
    for q, law in enumerate(laws):
        rows.append(_read(_dataset(law, 6, args.rows, args.seed + 1 + q), args.epochs, args.seed))
        console.print(f"law {q + 1}/{len(laws)}: found {rows[-1]['found']} expected {rows[-1]['expected']}",
                      style="dim")

    # time: 10 inputs x 10 000 rows (the probe alone, on a briefly trained network)
    big = x[0] * x[1] + sum(sp.sin(s) for s in _symbols(10)[2:])
    ds_big = _dataset(big, 10, 10_000, args.seed)
    res_big = _train(ds_big, 20, args.seed)
    t0 = time.perf_counter()
    fs_big = run(res_big.model, ds_big, heldout=res_big.val_index, seed=args.seed)
    t_big = time.perf_counter() - t0
    t0 = time.perf_counter()
    run(res_big.model, ds_big, heldout=res_big.val_index, seed=args.seed, budget_seconds=18.0)
    t_big_budget = time.perf_counter() - t0

    table = Table(title="Interactions probe vs fixed-threshold mixed partials (same networks)")
    for col in ("case", "expected pairs", "probe found", f"|H| > {HESSIAN_THRESHOLD} found", "probe s"):
        table.add_column(col)
    for name, r in named.items():
        hes = r["counts"]["hessian"]
        table.add_row(name, ", ".join(map(str, r["expected"])) or "none", ", ".join(map(str, r["found"])) or "none",
                      f"{hes['tp']} true, {hes['fp']} spurious", f"{r['probe_s']:.2f}")
    pr_probe, pr_hess = _pr(rows, "probe"), _pr(rows, "hessian")
    table.add_row(f"{len(rows)} random laws", f"{pr_probe['tp'] + pr_probe['fn']} pairs",
                  f"precision {pr_probe['precision']:.3f}, recall {pr_probe['recall']:.3f}",
                  f"precision {pr_hess['precision']:.3f}, recall {pr_hess['recall']:.3f}",
                  f"{np.mean([r['probe_s'] for r in rows]):.2f} (mean)")
    table.add_row("10 inputs x 10k rows", "(x1, x2)",
                  ", ".join(str(tuple(f.value["variables"])) for f in fs_big
                            if f.kind == "interaction" and f.value["interacting"]) or "none",
                  "", f"{t_big:.2f} (budget 18 s: {t_big_budget:.2f})")
    console.print(table)
    out = {
        "commit": _commit(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "config": {"rows": args.rows, "epochs": args.epochs, "laws": args.laws, "seed": args.seed,
                   "hessian_threshold": HESSIAN_THRESHOLD},
        "headline": named["headline"], "additive": named["additive"],
        "headline_exact": sorted(named["headline"]["found"]) == sorted(named["headline"]["expected"]),
        "additive_none": not named["additive"]["found"],
        "random_laws": {"probe": pr_probe, "hessian_baseline": pr_hess, "laws": rows},
        "timing_10_inputs_10k_rows": {"probe_s": round(t_big, 3), "probe_s_budget_18": round(t_big_budget, 3),
                                      "target_s": 30.0},
    }
    write_json(args.json, to_jsonable(out))
    console.print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
