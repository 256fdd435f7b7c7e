"""Feynman symbolic-regression benchmark: physlens ``EquationSearch`` against gplearn, same problems, same clock.

The 120 equations of the AI Feynman database (100 + 20 bonus; Udrescu &
Tegmark 2020) come from :mod:`physlens.systems.laws.feynman` with their units.
For every equation and noise level (Gaussian, sigma = noise x RMS(y)) both
methods get the same rows and the same time limit; a problem counts as solved
only when the returned expression is symbolically equal to the truth
(:func:`physlens.scoring.equations.symbolically_equal`: SymPy simplification of
the difference or ratio, constants within 1e-6). gplearn has no time limit of
its own, so it is grown one generation at a time (``warm_start``) until the
clock runs out.

Usage:
    python benchmarks/feynman.py --time-limit 60 --noise 0 0.01 --jobs 2
    python benchmarks/feynman.py --time-limit 5 --subset I.6.2a,I.12.1 --no-gplearn
    python benchmarks/feynman.py --stratified 30 --evaluations 500000 --noise 0 --no-gplearn   # reproducible
    python benchmarks/feynman.py --executor ray --jobs 16 --address ray://head:10001   # on a cluster

Problems run as tasks of :mod:`physlens.execution` (the local process pool, or Ray).

Prints a table (solve rate and median time per method and noise level) and
writes ``benchmarks/results/feynman.json`` (per-problem records).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import sympy as sp  # noqa: E402

from provenance import commit as _commit  # noqa: E402  (benchmarks/ is on sys.path)


def _gplearn_to_sympy(program: list, names: list[str]) -> sp.Expr:
    """Convert a gplearn program (prefix list of functions, feature indices, floats) to SymPy."""
    ops = {
        "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
        "div": lambda a, b: a / b, "sqrt": lambda a: sp.sqrt(sp.Abs(a)), "log": lambda a: sp.log(sp.Abs(a)),
        "neg": lambda a: -a, "inv": lambda a: 1 / a, "abs": sp.Abs, "sin": sp.sin, "cos": sp.cos,
        "tan": sp.tan, "max": sp.Max, "min": sp.Min,
    }
    syms = [sp.Symbol(n, real=True) for n in names]
    pos = 0

    def build():
        nonlocal pos
        node = program[pos]
        pos += 1
        if isinstance(node, (int, np.integer)):
            return syms[int(node)]
        if isinstance(node, (float, np.floating)):
            return sp.Float(float(node))
        args = [build() for _ in range(node.arity)]
        return ops[node.name](*args)

    return build()


def run_gplearn(X, y, names, time_limit: float, seed: int):
    """gplearn SymbolicRegressor grown generation by generation until ``time_limit``."""
    from gplearn.genetic import SymbolicRegressor

    start = time.monotonic()
    est = SymbolicRegressor(
        population_size=2000, generations=1, function_set=("add", "sub", "mul", "div", "sqrt", "log", "sin", "cos", "inv", "neg"),
        parsimony_coefficient=0.001, warm_start=True, random_state=seed, n_jobs=1, metric="rmse",
        const_range=(-2.0, 2.0), p_crossover=0.7, p_subtree_mutation=0.1, p_hoist_mutation=0.05,
        p_point_mutation=0.1, max_samples=1.0,
    )
    gens = 0
    last = 0.0
    while True:
        t0 = time.monotonic()
        gens += 1
        est.set_params(generations=gens)
        est.fit(X, y)
        last = time.monotonic() - t0
        if time.monotonic() - start + last > time_limit:
            break
        if est._program.raw_fitness_ < 1e-10 * (np.sqrt(np.mean(y**2)) + 1e-300):
            break
    return _gplearn_to_sympy(est._program.program, names), time.monotonic() - start


def run_one(task: dict) -> dict:
    """Solve one (equation, noise, method) problem; return its record."""
    from physlens.systems.laws.feynman import feynman_equation

    eq = feynman_equation(task["id"])
    rng = np.random.default_rng(task["seed"])
    X, y = eq.sample(task["n"], rng)
    if task["noise"] > 0:
        y = y + rng.normal(0.0, task["noise"] * np.sqrt(np.mean(y**2)), size=y.shape)
    units = {v: eq.units[v] for v in eq.variables if v in eq.units}
    if eq.output in eq.units and len(units) == len(eq.variables) and not task.get("no_units"):
        units[eq.output] = eq.units[eq.output]
    else:
        units = None
    return solve(eq, X, y, task, units)


def solve(eq, X: np.ndarray, y: np.ndarray, task: dict, units: dict | None = None) -> dict:
    """Search ``y = f(X)`` with the task's method and budget and score the formula against ``eq.expression``.

    Shared by every equation benchmark (``laws.py`` too): one record with the found formula, its origin,
    the time and whether it is symbolically equal to the truth; an exception is a failed record.
    """
    from physlens.scoring.equations import symbolically_equal

    rec = {"id": eq.id, "noise": task["noise"], "method": task["method"], "truth": str(eq.expression),
           "n_vars": len(eq.variables)}
    t0 = time.monotonic()
    try:
        if task["method"] == "physlens":
            from physlens.probes.equations import EquationSearch

            budget = None
            if task.get("evaluations"):  # a deterministic budget: the same answer on any machine
                from physlens.probes.equations.budget import SearchBudget

                budget = SearchBudget.counts(task["evaluations"])
            est = EquationSearch(time_limit=task["time_limit"], units=units, variable_names=eq.variables,
                                 target_name=eq.output, seed=task["seed"], budget=budget)
            est.fit(X, y)
            found = est.expression_
            rec["complexity"] = est.complexity_
            rec["origin"] = est.origin_
        else:
            found, _ = run_gplearn(X, y, eq.variables, task["time_limit"], task["seed"])
        rec["time"] = time.monotonic() - t0
        rec["found"] = str(found)
        ok, how = symbolically_equal(found, eq.expression)
        rec["solved"], rec["how"] = bool(ok), how
    except Exception as exc:  # one failing problem must not end the benchmark
        rec["time"] = time.monotonic() - t0
        rec["solved"], rec["error"] = False, f"{type(exc).__name__}: {exc}"[:300]
    return rec


def execute(tasks: list[dict], function: str, jobs: int, executor: str = "local", address: str | None = None,
            width: int = 10) -> list[dict]:
    """Run ``function`` ("module:run_one") on every task (process pool or Ray), printing each record as it ends."""
    from physlens.execution import Task, run_tasks

    def show(r) -> None:
        rec = r.value if r.ok else {"method": "?", "noise": 0, "id": r.key, "time": r.seconds, "solved": False,
                                    "error": r.error}
        mark = "ok " if rec["solved"] else "-- "
        print(f"{mark}{rec['method']:8s} noise={rec['noise']:<5g} {rec['id']:{width}s} {rec['time']:6.1f}s "
              f"{rec.get('found', rec.get('error', ''))[:90]}", file=sys.stderr, flush=True)

    work = [Task(f"{t['method']}/{t['noise']}/{t['id']}", function, {"task": t}, cpus=1) for t in tasks]
    results = run_tasks(work, executor=executor, jobs=jobs, address=address, on_result=show)
    return [r.value if r.ok else {**t, "time": r.seconds, "solved": False, "error": r.error}
            for t, r in zip(tasks, results)]


def summarise(records: list[dict], noises: list[float], methods: list[str]) -> list[dict]:
    """Solved count, rate and median time per (noise, method), in that order."""
    summary = []
    for nz in noises:
        for m in methods:
            rs = [r for r in records if r["noise"] == nz and r["method"] == m]
            solved = sum(r["solved"] for r in rs)
            summary.append({
                "method": m, "noise": nz, "problems": len(rs), "solved": solved,
                "solve_rate": solved / max(len(rs), 1),
                "median_time": float(np.median([r["time"] for r in rs])) if rs else None,
            })
    return summary


def main(argv: list[str] | None = None) -> dict:
    from physlens.systems.laws.feynman import feynman_equations

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--time-limit", type=float, default=60.0, help="seconds per equation and method")
    ap.add_argument("--noise", type=float, nargs="+", default=[0.0, 0.01], help="relative noise levels")
    ap.add_argument("--subset", type=str, default="", help="comma-separated equation ids, or N for the first N")
    ap.add_argument("--stratified", type=int, default=0,
                    help="K problems spread over the numbers of variables (every (120/K)-th by variables, id)")
    ap.add_argument("--evaluations", type=int, default=0,
                    help="deterministic budget: counted work per problem instead of --time-limit seconds")
    ap.add_argument("--jobs", type=int, default=2, help="problems side by side (CPU cores)")
    ap.add_argument("--executor", choices=["local", "ray"], default="local", help="physlens.execution backend")
    ap.add_argument("--address", type=str, default=None, help="Ray cluster address (default: a local cluster)")
    ap.add_argument("--no-units", action="store_true",
                    help="search without the variables' units (as a user's file without --units)")
    ap.add_argument("--n", type=int, default=1000, help="rows per problem")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-gplearn", action="store_true", help="run physlens only")
    ap.add_argument("--output", type=str, default=str(Path(__file__).parent / "results" / "feynman.json"))
    args = ap.parse_args(argv)

    eqs = feynman_equations(include_bonus=True)
    if args.subset:
        if args.subset.isdigit():
            eqs = eqs[: int(args.subset)]
        else:
            want = [s.strip() for s in args.subset.split(",")]
            eqs = [e for e in eqs if e.id in want]
    if args.stratified:
        ordered = sorted(eqs, key=lambda e: (len(e.variables), e.id))
        step = len(ordered) / args.stratified
        eqs = [ordered[int(k * step)] for k in range(min(args.stratified, len(ordered)))]
    methods = ["physlens"] + ([] if args.no_gplearn else ["gplearn"])
    tasks = [
        {"id": e.id, "noise": nz, "method": m, "time_limit": args.time_limit, "seed": args.seed, "n": args.n,
         "evaluations": args.evaluations, "no_units": args.no_units}
        for nz in args.noise for e in eqs for m in methods
    ]
    start = time.monotonic()
    records = execute(tasks, "feynman:run_one", args.jobs, args.executor, args.address)
    summary = summarise(records, args.noise, methods)
    title = (f"Feynman benchmark: {len(eqs)} equations, {args.time_limit:g} s per equation, {args.jobs} jobs "
             f"({args.executor}), n={args.n}")
    return report(title, summary, records, args, start)


def report(title: str, summary: list[dict], records: list[dict], args, start: float) -> dict:
    """Print the table under ``title`` and write the JSON (config, summary, records, commit) to ``args.output``."""
    print(f"\n{title}, wall {time.monotonic() - start:.0f} s")
    print(f"{'method':10s} {'noise':>6s} {'solved':>9s} {'rate':>7s} {'median s':>9s}")
    for s in summary:
        print(f"{s['method']:10s} {s['noise']:6g} {s['solved']:4d}/{s['problems']:<4d} {s['solve_rate']:7.1%} "
              f"{s['median_time']:9.2f}")
    out = {"config": vars(args), "summary": summary, "records": records,
           "wall_seconds": time.monotonic() - start, "commit": _commit()}
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
