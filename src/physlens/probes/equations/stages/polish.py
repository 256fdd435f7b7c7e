"""Polishing stage: constants refitted jointly, then rounded to simple closed forms (AI Feynman's last step).

Every generated formula's numeric constants are refitted together by least squares on all
rows (:func:`~physlens.probes.equations.simplify.refit_constants`), then each is replaced by a
nearby simple rational, multiple of pi or square root when the mean squared error allows it
(a 3-sigma test for white noise, :func:`~physlens.probes.equations.simplify.round_constants`):
AI Feynman's "rationalisation" (Udrescu & Tegmark 2020). Numbers the enumeration built from its
own constants (``tanh(1)``, ``exp(2)/pi``, ``x - pi``) are treated as fitted constants in
disguise. The most promising candidates are polished first (the raw Pareto front, then the
near-ties of the best); once a closed form fits exactly only simpler ones are still polished.
Each polished candidate counts as ``polish`` work (:mod:`..budget`).

Example:
    >>> from physlens.probes.equations import EquationSearch, stages
    >>> X = np.random.default_rng(0).uniform(1, 2, (200, 1))
    >>> with counted():
    ...     est = EquationSearch(time_limit=2, variable_names=["x"],
    ...                          stages=[stages.Monomial(), stages.Polish(), stages.Selection()]).fit(X, 0.5 * X[:, 0] ** 3)
    >>> est.expression_
    x**3/2
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import sympy as sp

from physlens.probes.equations import budget as B
from physlens.probes.equations import simplify as S
from physlens.probes.equations.budget import counted  # noqa: F401  (doctest)
from physlens.probes.equations.stages.base import Candidate, SearchState, StageBudget

_NUMERIC_FUNCS = (sp.exp, sp.log, sp.sin, sp.cos, sp.tan, sp.tanh, sp.sinh, sp.cosh, sp.asin, sp.acos, sp.atan)


def split_constant(expr: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
    """``expr`` as ``C * h``: the overall numeric factor ``C`` and the rest ``h``.

    Common numeric factors of sums are pulled out first; when ``h`` is still a sum, the
    numeric coefficient of its first term goes into ``C`` (so ``h`` starts with a plain term).

    Example:
        >>> a, b = sp.symbols("a b", real=True)
        >>> split_constant(sp.Float(6e-11) * a * b + sp.Float(3e-11) * a)
        (3.00000000000000e-11, a*(2.0*b + 1.0))
    """
    e = sp.factor_terms(expr)
    free = e.free_symbols
    if not free:
        return e, sp.Integer(1)
    C, h = e.as_independent(*free, as_Add=False)

    def lead(f):  # (numeric coefficient of a sum's first term, the sum divided by it)
        if f.is_Add:
            c1, _ = f.args[0].as_independent(*free, as_Add=False)
            if c1.is_number and c1 != 0 and c1 != 1:
                return c1, sp.Add(*[a / c1 for a in f.args])
        elif f.is_Pow and f.exp.is_number and f.base.is_Add:
            c1, b = lead(f.base)
            if c1 != 1 and (c1.is_positive or f.exp.is_integer):
                return c1**f.exp, b**f.exp
        return sp.Integer(1), f

    parts = []
    for f in sp.Mul.make_args(h):
        c1, f = lead(f)
        C, parts = C * c1, parts + [f]
    return C, sp.Mul(*parts)


def merge_numbers(e: sp.Mul) -> sp.Expr:
    """The numeric factors of a product merged into one float.

    Example:
        >>> merge_numbers(sp.Mul(sp.Float(0.5), sp.pi, sp.Symbol("x"), evaluate=False))
        1.5707963267949*x
    """
    num = [a for a in e.args if a.is_number]
    rest = [a for a in e.args if not a.is_number]
    return sp.Mul(sp.Float(float(sp.Mul(*num))), *rest)


def polish(expr: sp.Expr, cols: dict[str, np.ndarray], y: np.ndarray, floor: float,
            tolerance: float | None = None, dimensional_factor: bool = False) -> sp.Expr:
    """``expr`` with its constants refitted on the data and rounded to closed forms where the error allows.

    Example:
        >>> x = sp.Symbol("x", real=True); xs = np.linspace(1, 2, 50)
        >>> polish(sp.Float(0.49999) * x**2, {"x": xs}, 0.5 * xs**2, 1e-12)
        x**2/2
    """
    # numbers the enumeration built from its constants (tanh(1), exp(2)/pi) are fitted constants
    # in disguise: make them floats, so that they are refitted and rounded to a closed form
    expr = expr.replace(lambda e: e.is_number and not e.is_Atom and e.has(*_NUMERIC_FUNCS),
                        lambda e: sp.Float(float(e)))
    expr = drop_abs(expr, cols)
    # an enumerated shift (x - pi, 1 + x*y) stands for any constant there: the enumeration only has
    # 1, 2 and pi, so 9/(3 - z) is first seen as 10/(pi - z); as floats they are refitted and rounded
    # (back to themselves when they were right); at most 8 fitted constants in all
    shifts = [a for e in sp.preorder_traversal(expr) if e.is_Add
              for a in e.args if a.is_number and not a.has(sp.Float) and a != 0]
    if shifts and len(expr.atoms(sp.Float)) + len(set(shifts)) <= 8:
        expr = expr.replace(lambda e: e.is_Add and any(a.is_number and not a.has(sp.Float) for a in e.args),
                            lambda e: sp.Add(*[sp.Float(float(a)) if a.is_number and not a.has(sp.Float) else a
                                               for a in e.args]))
    # a fitted float times a closed form (0.01075*pi**4) is one constant: merged, it rounds (pi/3);
    # common numeric factors of sums are pulled out first (1.004*(3*pi**2/29 + ...)**2)
    if expr.has(sp.Float):
        expr = sp.factor_terms(expr)
    expr = expr.replace(lambda e: e.is_Mul and any(a.is_Float for a in e.args)
                        and sum(1 for a in e.args if a.is_number) > 1, merge_numbers)
    # two passes: rounding one constant lets SymPy merge others (sqrt(c*exp(-x**2)) -> sqrt(c)*exp(-x**2/2)),
    # whose refitted values round better on the second pass
    for _ in range(2):
        expr = S.refit_constants(expr, cols, y)
        tol = max(9.0 / len(y), 1e-6) if tolerance is None else tolerance
        expr = S.round_constants(expr, cols, y, tolerance=tol, floor=floor)
        if not expr.atoms(sp.Float):
            break
    if dimensional_factor:
        expr = fitted_factor(expr, cols, y)
    return expr


def fitted_factor(expr: sp.Expr, cols: dict[str, np.ndarray], y: np.ndarray) -> sp.Expr:
    """``expr = C * h`` with ``C`` refitted as a float: the overall factor that carries a dimensional constant.

    A dimensional constant's value depends on the unit system, so a "nice" closed form of it
    (``37/10``) means nothing; it is fitted by least squares (linear in ``C``) and stays a float.

    Example:
        >>> x = sp.Symbol("x", real=True); xs = np.linspace(1, 2, 5)
        >>> fitted_factor(sp.Rational(37, 10) * x**2, {"x": xs}, 3.7 * xs**2)
        3.7*x**2
    """
    C, h = split_constant(expr)
    if not h.free_symbols or not C.is_number:
        return expr
    v = S.evaluate(h, cols)
    if not np.all(np.isfinite(v)) or float(v @ v) == 0:
        return expr
    return sp.Float(float(v @ y / (v @ v))) * h


def drop_abs(expr: sp.Expr, cols: dict[str, np.ndarray]) -> sp.Expr:
    """Replace ``Abs(a)`` by ``a`` (or ``-a``) where ``a`` has one sign on every row of the data.

    On the data's domain the two are the same function; the law is only known there, and
    the form without ``Abs`` is the textbook one (a square root of a square, from the
    squared-target search, comes back as ``Abs``).

    Example:
        >>> x, t = sp.symbols("x t", real=True)
        >>> drop_abs(x * sp.Abs(t / x - 1), {"x": np.linspace(5, 10, 9), "t": np.linspace(1, 2, 9)})
        x*(-t/x + 1)
    """
    def clean(e):
        try:
            v = S.evaluate(e.args[0], cols)
        except Exception:  # an argument that cannot be evaluated: keep the Abs
            return e
        v = np.broadcast_to(np.asarray(v, dtype=float), next(iter(cols.values())).shape)
        if not np.all(np.isfinite(v)):
            return e
        if np.min(v) > 0:
            return e.args[0]
        if np.max(v) < 0:
            return -e.args[0]
        return e

    return expr.replace(lambda e: isinstance(e, sp.Abs), clean) if expr.has(sp.Abs) else expr


def order_for_polishing(raw, cols, y, scale) -> list[tuple[float, int, sp.Expr, str]]:
    """Distinct finite ``(error, complexity, expression, origin)``: the raw front, the near-ties, then the rest.

    Example:
        >>> x = sp.Symbol("x", real=True); xs = np.linspace(1, 2, 9)
        >>> [str(t[2]) for t in order_for_polishing([(x**2, "a"), (x, "b"), (x**2, "c")], {"x": xs}, xs**2, 1.0)]
        ['x**2', 'x']
    """
    scored = []
    seen: set[str] = set()
    for e, origin in raw:
        key = sp.srepr(e)
        if key in seen:
            continue
        seen.add(key)
        err = S.rmse(e, cols, y)
        if math.isfinite(err):
            scored.append((err, S.complexity(e), e, origin))
    scored.sort(key=lambda t: (t[0], t[1]))
    # polish the raw Pareto front first (simplest first), then the rest by error
    front_idx, best_err = [], math.inf
    for i in sorted(range(len(scored)), key=lambda i: (scored[i][1], scored[i][0])):
        if scored[i][0] < best_err * (1 - 1e-9):
            front_idx.append(i)
            best_err = scored[i][0]
    near = [i for i in front_idx if scored[i][0] <= 2.0 * scored[0][0] + 1e-9 * scale]
    # then every candidate already about as accurate as the best, simplest first: on noisy data
    # the true law is one of many near-ties and wins only after its constants are rounded, so
    # "simplest" is judged with the floats that are nearly simple fractions snapped to them
    ties = sorted((i for i in range(len(scored)) if scored[i][0] <= 1.1 * scored[0][0] + 1e-9 * scale),
                  key=lambda i: (S.snapped_complexity(scored[i][2]), scored[i][0]))
    # and the five simplest steps of the raw front, whatever their error: a many-term fit that follows a
    # smooth target closely (a rational of six terms on an emulator's predictions) must not push the
    # simple law it approximates behind a hundred others
    # the two lists are taken in turn: on a tight budget (three polishes in a sub-search) the front's
    # simplest steps alone can use it all while the law is the first tie (snell at 1 % noise:
    # x0*x1, x0*x1 + c, x1*sin(x0) + c were polished, 1.0*asin(x1*sin(x0)) + 0.0003 was not)
    front_first = list(dict.fromkeys(near + front_idx[:5]))
    turns = [i for pair in itertools.zip_longest(front_first, ties) for i in pair if i is not None]
    near = list(dict.fromkeys(turns))
    rest = [i for i in range(len(scored)) if i not in set(near)]
    return [scored[i] for i in near + rest]


def rounding_tolerance(state: SearchState, y: np.ndarray) -> float | None:
    """The rounding test's tolerance: the user's, or (with a dimensional constant) ``9 / n_eff``.

    Measurements in SI units often span decades with a relative scatter: the squared error is
    then ruled by the largest rows, and the 3-sigma test of rounding counts those rows (Kish's
    effective size with weights ``y**2``), not all rows; with one decade of ``G*m1*m2/r**2`` at
    0.3 % scatter the exponent 0.9986 of ``m2/m1`` was kept against 1 otherwise.

    Example:
        >>> st = SearchState(search=None, X=np.ones((20, 1)), target=np.arange(1.0, 21.0), names=["x0"])
        >>> rounding_tolerance(st, st.target) is None
        True
    """
    tolerance = None if state.search is None else state.search.constant_tolerance
    if tolerance is None and state.const_dims is not None:
        w = y**2
        n_eff = float(w.sum() ** 2 / max(float((w**2).sum()), 1e-300))
        tolerance = max(9.0 / max(min(n_eff, len(y)), 1.0), 1e-6)
    return tolerance


class Polish:
    """Turn ``state.raw`` into polished :class:`Candidate` objects (at most 150), best prospects first."""

    name = "polish"

    def run(self, state: SearchState, budget: StageBudget) -> None:
        """Polish while the budget lasts (at least three candidates); the mean when none could be."""
        est = state.search
        cols, y, scale = state.cols, state.target, state.scale
        scored = order_for_polishing(state.raw, cols, y, scale)
        out: list[Candidate] = []
        floor = 1e-10 * scale
        done: set[str] = set()
        # once a closed form fits exactly, only a simpler raw candidate could still be selected
        # instead (selection takes the simplest within tolerance of the best); the others are not
        # polished (polishing tens of them took 90 % of a solved problem's time)
        exact_comp = math.inf
        tolerance = rounding_tolerance(state, y)
        for i, (err, comp, e, origin) in enumerate(scored):
            if i >= 3 and B.now() > state.final_deadline - 0.1 * est._limit:
                break
            if comp >= exact_comp or (exact_comp < math.inf and err > 1e-6 * scale):
                continue
            try:  # bounded: SymPy's automatic evaluation can stall on one unlucky substitution
                pe = S.time_limited(polish, est._sympy_limit(), e, cols, y, floor, tolerance,
                                    state.const_dims is not None)
            except Exception:  # a SymPy failure (or time-out) on one candidate must not lose the others
                pe = e
            B.tick(1, "polish")
            key = sp.srepr(pe)
            if key in done:
                continue
            done.add(key)
            perr = S.rmse(pe, cols, y)
            if not math.isfinite(perr):
                pe, perr = e, err
            if perr <= 1e-9 * scale and not pe.atoms(sp.Float):
                exact_comp = min(exact_comp, comp)
            out.append(Candidate(pe, S.complexity(pe), perr, origin))
            if len(out) >= 150:
                break
        if not out:  # the time ran out before any candidate was polished: the mean is the honest answer
            mean = sp.Float(float(np.mean(y)), 6)
            out.append(Candidate(mean, S.complexity(mean), float(np.std(y)), "mean (time ran out)"))
        state.candidates = out
