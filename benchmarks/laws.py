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
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from feynman import execute, report, solve, summarise  # noqa: E402  (benchmarks/ is on sys.path)

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
    """Solve one (law, noise, method) problem without units; return its record."""
    from physlens.probes.equations.simplify import evaluate

    eq = law(task["id"])
    rng = np.random.default_rng(task["seed"])
    X = np.column_stack([rng.uniform(lo, hi, task["n"]) for lo, hi in eq.ranges])
    y = evaluate(eq.expression, {v: X[:, j] for j, v in enumerate(eq.variables)})  # the safe evaluator
    if task["noise"] > 0:
        y = y + rng.normal(0.0, task["noise"] * np.sqrt(np.mean(y**2)), size=y.shape)
    return solve(eq, X, y, task)


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
    start = time.monotonic()
    records = execute(tasks, "laws:run_one", args.jobs, width=22)
    summary = summarise(records, args.noise, methods)
    title = (f"Laws outside the Feynman database: {len(ids)} laws, no units, "
             f"{args.evaluations or args.time_limit:g} {'evaluations' if args.evaluations else 's'} per law, n={args.n}")
    return report(title, summary, records, args, start)


if __name__ == "__main__":
    main()
