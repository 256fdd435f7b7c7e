"""Laws kept outside the Feynman database: physlens ``EquationSearch`` on bare tables, as a user's file gives them.

Each law is sampled on its own ranges and searched **without units** (a CSV with no ``--units``),
under a deterministic budget (``--evaluations``), so the table is the same on any machine; with
``--gplearn`` the peer runs beside it on the same rows for ``--time-limit`` seconds. A problem
counts as solved only when the returned formula is symbolically equal to the truth
(:func:`physlens.scoring.equations.symbolically_equal`). The laws are written here once, as text
parsed by the project's restricted parser; they include sign-changing targets (Lennard-Jones, a
Coulomb force component, a damped oscillation), high powers, ratios of sums and transcendental
pieces, none of them a Feynman problem.

Usage:
    python benchmarks/laws.py --evaluations 1000000 --noise 0 0.01
    python benchmarks/laws.py --subset lennard_jones,dipole_axis --evaluations 300000 --noise 0

Prints a table and writes ``benchmarks/results/laws.json`` (per-law records and the commit).
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

from provenance import commit as _commit  # noqa: E402  (benchmarks/ is on sys.path)

#: (id, target, formula, {variable: (low, high)}): laws of physics and chemistry outside the Feynman database
LAWS: list[tuple[str, str, str, dict[str, tuple[float, float]]]] = [
    ("sin_product", "y", "a*sin(w*t)", {"a": (0.5, 3), "w": (0.5, 3), "t": (0.5, 3)}),
    ("rydberg", "y", "R*(1/n1**2 - 1/n2**2)", {"R": (1, 2), "n1": (1, 2), "n2": (2.5, 4)}),
    ("lennard_jones", "V", "4*eps*((s/r)**12 - (s/r)**6)", {"eps": (0.5, 2), "s": (0.8, 1.2), "r": (0.9, 2)}),
    ("relativistic_energy", "E", "m*c**2/sqrt(1 - v**2/c**2)", {"m": (1, 3), "v": (0.1, 0.8), "c": (1, 2)}),
    ("logistic", "N", "K/(1 + exp(-r*(t - t0)))", {"K": (1, 5), "r": (0.5, 2), "t": (0, 10), "t0": (3, 7)}),
    ("damped_oscillation", "x", "A*exp(-g*t)*cos(w*t)", {"A": (1, 3), "g": (0.1, 1), "w": (1, 3), "t": (0, 5)}),
    ("michaelis_menten", "v", "Vmax*S/(Km + S)", {"Vmax": (1, 5), "S": (0.1, 10), "Km": (0.5, 3)}),
    ("snell", "phi", "asin(n1*sin(theta)/n2)", {"n1": (1, 1.5), "theta": (0, 0.6), "n2": (1.5, 2.5)}),
    ("planck_wavelength", "I", "1/(lam**5*(exp(1/(lam*T)) - 1))", {"lam": (0.2, 3), "T": (0.5, 3)}),
    ("bernoulli", "H", "p + rho*g*h + rho*v**2/2", {"p": (1, 3), "rho": (0.5, 2), "g": (9, 10), "h": (0, 2),
                                                   "v": (0, 3)}),
    ("dipole_axis", "E", "q*(1/(z - d/2)**2 - 1/(z + d/2)**2)", {"q": (1, 3), "d": (1, 2), "z": (2, 4)}),
    ("gaussian_2d", "f", "exp(-(x**2 + y**2)/(2*s**2))/(2*pi*s**2)", {"x": (-2, 2), "y": (-2, 2), "s": (0.5, 2)}),
    ("pendulum_period", "T", "2*pi*sqrt(L/g)*(1 + th0**2/16)", {"L": (0.5, 2), "g": (9, 10), "th0": (0, 1)}),
    ("coulomb_force_x", "Fx", "q1*q2*(x1 - x2)/((x1 - x2)**2 + d**2)**(3/2)",
     {"q1": (1, 2), "q2": (1, 2), "x1": (-2, 2), "x2": (-2, 2), "d": (0.5, 1.5)}),
    ("yukawa", "V", "g*exp(-r/a)/r", {"g": (1, 3), "r": (0.5, 3), "a": (0.5, 2)}),
    ("relativistic_doppler", "f", "f0*sqrt((1 + beta)/(1 - beta))", {"f0": (1, 5), "beta": (-0.5, 0.5)}),
    ("arrhenius", "k", "A*exp(-E/T)", {"A": (1, 5), "E": (1, 3), "T": (1, 3)}),
    ("law_of_cosines", "c", "sqrt(a**2 + b**2 - 2*a*b*cos(gamma))", {"a": (1, 3), "b": (1, 3), "gamma": (0.2, 3)}),
]


def law(id_: str):
    """The law ``id_`` as a :class:`~physlens.systems.laws.feynman.FeynmanEquation` without units.

    Example:
        >>> law("yukawa").variables
        ['g', 'r', 'a']
    """
    from physlens.expressions import parse_expression
    from physlens.systems.laws.feynman import FeynmanEquation

    for lid, out, formula, ranges in LAWS:
        if lid == id_:
            names = list(ranges)
            return FeynmanEquation(id=lid, output=out, formula=formula,
                                   expression=parse_expression(formula, variables=names), variables=names,
                                   ranges=[ranges[v] for v in names])
    raise KeyError(f"no law {id_!r}; known: {', '.join(t[0] for t in LAWS)}")


def run_one(task: dict) -> dict:
    """Solve one (law, noise, method) problem; return its record."""
    from physlens.probes.equations.simplify import evaluate
    from physlens.scoring.equations import symbolically_equal

    eq = law(task["id"])
    rng = np.random.default_rng(task["seed"])
    X = np.column_stack([rng.uniform(lo, hi, task["n"]) for lo, hi in eq.ranges])
    y = evaluate(eq.expression, {v: X[:, j] for j, v in enumerate(eq.variables)})  # the safe evaluator
    if task["noise"] > 0:
        y = y + rng.normal(0.0, task["noise"] * np.sqrt(np.mean(y**2)), size=y.shape)
    rec = {"id": eq.id, "noise": task["noise"], "method": task["method"], "truth": str(eq.expression),
           "n_vars": len(eq.variables)}
    t0 = time.monotonic()
    try:
        if task["method"] == "physlens":
            from physlens.probes.equations import EquationSearch
            from physlens.probes.equations.budget import SearchBudget

            budget = SearchBudget.counts(task["evaluations"]) if task.get("evaluations") else None
            est = EquationSearch(time_limit=task["time_limit"], variable_names=eq.variables, target_name=eq.output,
                                 seed=task["seed"], budget=budget).fit(X, y)
            found = est.expression_
            rec["complexity"], rec["origin"] = est.complexity_, est.origin_
        else:
            from feynman import run_gplearn

            found, _ = run_gplearn(X, y, eq.variables, task["time_limit"], task["seed"])
        rec["time"] = time.monotonic() - t0
        rec["found"] = str(found)
        ok, how = symbolically_equal(found, eq.expression)
        rec["solved"], rec["how"] = bool(ok), how
    except Exception as exc:  # one failing problem must not end the benchmark
        rec["time"] = time.monotonic() - t0
        rec["solved"], rec["error"] = False, f"{type(exc).__name__}: {exc}"[:300]
    return rec


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--evaluations", type=int, default=1_000_000,
                    help="deterministic budget of physlens per problem (0: --time-limit seconds instead)")
    ap.add_argument("--time-limit", type=float, default=60.0, help="seconds per problem (gplearn; physlens with 0)")
    ap.add_argument("--noise", type=float, nargs="+", default=[0.0, 0.01], help="relative noise levels")
    ap.add_argument("--subset", type=str, default="", help="comma-separated law ids")
    ap.add_argument("--gplearn", action="store_true", help="run gplearn beside physlens")
    ap.add_argument("--jobs", type=int, default=2, help="problems side by side (CPU cores)")
    ap.add_argument("--n", type=int, default=1000, help="rows per problem")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--output", type=str, default=str(Path(__file__).parent / "results" / "laws.json"))
    args = ap.parse_args(argv)
    ids = [t[0] for t in LAWS]
    if args.subset:
        want = [s.strip() for s in args.subset.split(",")]
        unknown = [w for w in want if w not in ids]
        if unknown:
            ap.error(f"unknown law(s) {', '.join(unknown)}; known: {', '.join(ids)}")
        ids = want
    methods = ["physlens"] + (["gplearn"] if args.gplearn else [])
    tasks = [{"id": i, "noise": nz, "method": m, "time_limit": args.time_limit, "seed": args.seed, "n": args.n,
              "evaluations": args.evaluations} for nz in args.noise for i in ids for m in methods]
    from physlens.execution import Task, run_tasks

    def show(r) -> None:
        rec = r.value if r.ok else {"method": "?", "noise": 0, "id": r.key, "time": r.seconds, "solved": False,
                                    "error": r.error}
        print(f"{'ok ' if rec['solved'] else '-- '}{rec['method']:8s} noise={rec['noise']:<5g} {rec['id']:22s} "
              f"{rec['time']:6.1f}s {rec.get('found', rec.get('error', ''))[:80]}", file=sys.stderr, flush=True)

    start = time.monotonic()
    jobs = [Task(f"{t['method']}/{t['noise']}/{t['id']}", "laws:run_one", {"task": t}, cpus=1) for t in tasks]
    results = run_tasks(jobs, executor="local", jobs=args.jobs, on_result=show)
    records = [r.value if r.ok else {**t, "time": r.seconds, "solved": False, "error": r.error}
               for t, r in zip(tasks, results)]
    summary = []
    for nz in args.noise:
        for m in methods:
            rs = [r for r in records if r["noise"] == nz and r["method"] == m]
            solved = sum(r["solved"] for r in rs)
            summary.append({"method": m, "noise": nz, "problems": len(rs), "solved": solved,
                            "median_time": float(np.median([r["time"] for r in rs])) if rs else None})
    print(f"\nLaws outside the Feynman database: {len(ids)} laws, no units, "
          f"{args.evaluations or args.time_limit:g} {'evaluations' if args.evaluations else 's'} per law, "
          f"n={args.n}, wall {time.monotonic() - start:.0f} s")
    print(f"{'method':10s} {'noise':>6s} {'solved':>9s} {'median s':>9s}")
    for s in summary:
        print(f"{s['method']:10s} {s['noise']:6g} {s['solved']:4d}/{s['problems']:<4d} {s['median_time']:9.2f}")
    out = {"config": vars(args), "summary": summary, "records": records,
           "wall_seconds": time.monotonic() - start, "commit": _commit()}
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
