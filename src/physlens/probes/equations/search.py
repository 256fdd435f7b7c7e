"""``EquationSearch``: a scikit-learn estimator that finds a closed-form law ``y = f(X)``.

The engine combines the stages that are known to work for physics laws
(AI Feynman, Udrescu & Tegmark 2020, Sci. Adv. 6, eaay2631; AI Feynman 2.0,
Udrescu et al. 2020; PySR, Cranmer 2023, for the estimator interface and the
accuracy/complexity Pareto front):

0. **Pair symmetries from the data** (3 to 6 inputs): a nearest-neighbour test
   (:func:`.oracle.knn_pair_symmetries`, AI Feynman's translation/scaling tests without
   a network) finds laws of ``x_i - x_j`` (``+``, ``*``, ``/``); the pair becomes one
   variable (with its units) and the smaller problem is searched first.
1. **Dimensional analysis** (when every column has a unit): Buckingham pi
   reduces ``y = f(x)`` to ``y = prefactor * g(pi groups)``
   (:mod:`.dimensional`); both the reduced and the original problem are searched.
2. **Monomial fast path**: log-linear least squares on ``log|x|`` with exponents
   rounded to simple rationals solves power laws instantly.
3. **Enumeration** of expression trees bottom-up with value-based
   deduplication (:mod:`.enumeration`), scored against transforms of the target
   (``y, 1/y, y^2, sqrt(y), log(y)``) by an affine fit. The remembered candidates are
   re-ranked on more rows, and near-ties of simpler ones are kept (on noisy data the
   true law is one of many formulas at the noise floor; it wins after rounding).
4. **Sums of two/three terms** from the enumerated pool, fitted by linear least
   squares over every pair (vectorised normal equations).
5. **Neural-network oracle** (:mod:`.oracle`, optional): separability tests on
   a fitted MLP split the problem into smaller ones that are solved recursively.
6. **Polishing** (:mod:`.simplify`): joint refit of constants, rounding to
   simple rationals / multiples of pi, SymPy simplification; then the Pareto
   front of (complexity, RMSE) and a selection rule: the simplest formula whose
   RMSE is within ``selection_tolerance`` of the best one.

On noisy data (SRBench's 1 % Gaussian noise) four things matter: each target
transform is fitted with delta-method row weights (:func:`~physlens.probes.equations.candidates._transform_weights`),
rational fits are reweighted (Sanathanan & Koerner 1963) and ranked on a smoothed
target, constants that only trade off against each other are pinned before rounding,
and fits within the 3-sigma band at one complexity are ties, won by the formula with
fewer special functions.

The clock is checked between stages and inside the enumeration; the result
is deterministic for a given ``seed``.

Example:
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(1, 5, size=(300, 2))
    >>> est = EquationSearch(time_limit=10, variable_names=["m", "v"]).fit(X, 0.5 * X[:, 0] * X[:, 1] ** 2)
    >>> est.expression_
    m*v**2/2
"""

from __future__ import annotations

import itertools
import math
import time
import warnings
from dataclasses import dataclass

import numpy as np
import sympy as sp
from sklearn.base import BaseEstimator, RegressorMixin

from physlens.errors import DataError
from physlens.expressions import expression_to_latex, expression_to_text
from physlens.probes.equations import budget as B
from physlens.probes.equations import simplify as S
from physlens.probes.equations.candidates import enumeration_candidates, monomial_candidates

MIN_ROWS = 10
_NUMERIC_FUNCS = (sp.exp, sp.log, sp.sin, sp.cos, sp.tan, sp.tanh, sp.sinh, sp.cosh, sp.asin, sp.acos, sp.atan)


@dataclass
class Candidate:
    """One formula on the Pareto front: expression, complexity, RMSE on the data, where it came from.

    Example:
        >>> c = Candidate(sp.Symbol("x") ** 2, complexity=3, rmse=0.0, origin="enumeration")
        >>> c.as_dict()["expression"]
        'x**2'
    """

    expression: sp.Expr
    complexity: int
    rmse: float
    origin: str = ""

    def as_dict(self) -> dict:
        """JSON-ready dict with the expression as text and LaTeX."""
        return {
            "expression": expression_to_text(self.expression),
            "latex": expression_to_latex(self.expression),
            "complexity": int(self.complexity),
            "rmse": float(self.rmse),
            "origin": self.origin,
        }


# --------------------------------------------------------------------------- validation
def check_names(names: list[str]) -> list[str]:
    """Variable names: any non-empty text, each once (the engine works on internal symbols).

    Names that are Python keywords, SymPy functions or constants (``lambda``, ``E``, ``I``,
    ``sin``, ``pi``) are fine: formulas are written back with
    :func:`physlens.expressions.expression_to_text`, which ``parse_expression`` reads with
    ``variables=names``.

    Example:
        >>> check_names(["x", "lambda", "E"])
        ['x', 'lambda', 'E']
    """
    out = [str(nm) for nm in names]
    empty = [j for j, nm in enumerate(out) if not nm.strip()]
    if empty:
        raise DataError(f"input column {empty[0] + 1} has an empty name; name every column")
    dup = sorted({nm for nm in out if out.count(nm) > 1})
    if dup:
        raise DataError(f"duplicate variable names: {', '.join(dup)}")
    return out


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


def check_data(X, y, names: list[str] | None = None, target: str = "y") -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Validate inputs for a search; return float arrays and variable names.

    Raises :class:`DataError` for NaN/inf, too few rows, a constant target or mismatched shapes.

    Example:
        >>> X, y, names = check_data(np.arange(20.0)[:, None], np.arange(20.0))
        >>> names
        ['x0']
    """
    if names is None and hasattr(X, "columns"):
        names = [str(c) for c in X.columns]
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if X.ndim == 1:
        X = X[:, None]
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if X.ndim != 2 or y.ndim != 1:
        raise DataError(f"expected X of shape (n, d) and y of shape (n,), got {X.shape} and {y.shape}")
    if len(X) != len(y):
        raise DataError(f"X has {len(X)} rows but y has {len(y)}")
    if len(X) < MIN_ROWS:
        raise DataError(f"too few rows ({len(X)}); equation search needs at least {MIN_ROWS}")
    names = check_names(list(names) if names is not None else [f"x{j}" for j in range(X.shape[1])])
    if len(names) != X.shape[1]:
        raise DataError(f"{len(names)} variable names for {X.shape[1]} input columns")
    for arr, label in ((X, None), (y[:, None], [target])):
        bad = ~np.isfinite(arr)
        if bad.any():
            i, j = (int(v[0]) for v in np.nonzero(bad))
            col = label[0] if label else names[j]
            raise DataError(f"column {col!r} has {'NaN' if np.isnan(arr[i, j]) else 'an infinite value'} in row {i + 1}")
    if np.ptp(y) == 0:
        raise DataError(f"target {target!r} is constant (every row is {y[0]:g}); there is no law to find")
    return X, y, names


# --------------------------------------------------------------------------- stages
def _drop_cancelling_constants(expr: sp.Expr) -> sp.Expr:
    """Remove the numbers of every sum whose numeric terms cancel (to 1e-9 of their size).

    Example:
        >>> x = sp.Symbol("x")
        >>> _drop_cancelling_constants(1 / (x**2 - 1.0 * sp.pi + 3.14159265358979))
        x**(-2)
    """
    def clean(e):
        num = [a for a in e.args if a.is_number]
        if len(num) < 1 or len(num) == len(e.args):
            return e
        try:
            total, size = abs(float(sp.Add(*num))), max(abs(float(a)) for a in num)
        except (TypeError, ValueError):
            return e
        if total <= 1e-9 * size or total < 1e-12:  # (the caller re-scores the result on the data)
            return sp.Add(*[a for a in e.args if not a.is_number])
        return e

    return expr.replace(lambda e: e.is_Add, clean)


def _drop_negligible_terms(expr: sp.Expr, cols: dict[str, np.ndarray], rel: float = 1e-10) -> sp.Expr:
    """Remove the terms of every sum that are below ``rel`` of the sum's largest term on the data.

    Example:
        >>> x = sp.Symbol("x")
        >>> _drop_negligible_terms(x**2 + 2.3e-16 * x, {"x": np.linspace(1, 2, 5)})
        x**2
    """
    def clean(e):
        try:
            vals = [np.max(np.abs(S.evaluate(a, cols))) for a in e.args]
        except Exception:  # a term that cannot be evaluated: keep the sum as it is
            return e
        top = max(vals)
        if not np.isfinite(top) or top == 0:
            return e
        keep = [a for a, v in zip(e.args, vals) if v > rel * top]
        return sp.Add(*keep) if len(keep) < len(e.args) else e

    return expr.replace(lambda e: e.is_Add, clean)


def _drop_abs(expr: sp.Expr, cols: dict[str, np.ndarray]) -> sp.Expr:
    """Replace ``Abs(a)`` by ``a`` (or ``-a``) where ``a`` has one sign on every row of the data.

    On the data's domain the two are the same function; the law is only known there, and
    the form without ``Abs`` is the textbook one (a square root of a square, from the
    squared-target search, comes back as ``Abs``).

    Example:
        >>> x, t = sp.symbols("x t", real=True)
        >>> _drop_abs(x * sp.Abs(t / x - 1), {"x": np.linspace(5, 10, 9), "t": np.linspace(1, 2, 9)})
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


def _merge_numbers(e: sp.Mul) -> sp.Expr:
    num = [a for a in e.args if a.is_number]
    rest = [a for a in e.args if not a.is_number]
    return sp.Mul(sp.Float(float(sp.Mul(*num))), *rest)


def _polish(expr: sp.Expr, cols: dict[str, np.ndarray], y: np.ndarray, floor: float,
            tolerance: float | None = None, dimensional_factor: bool = False) -> sp.Expr:
    # numbers the enumeration built from its constants (tanh(1), exp(2)/pi) are fitted constants
    # in disguise: make them floats, so that they are refitted and rounded to a closed form
    expr = expr.replace(lambda e: e.is_number and not e.is_Atom and e.has(*_NUMERIC_FUNCS),
                        lambda e: sp.Float(float(e)))
    expr = _drop_abs(expr, cols)
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
                        and sum(1 for a in e.args if a.is_number) > 1, _merge_numbers)
    # two passes: rounding one constant lets SymPy merge others (sqrt(c*exp(-x**2)) -> sqrt(c)*exp(-x**2/2)),
    # whose refitted values round better on the second pass
    for _ in range(2):
        expr = S.refit_constants(expr, cols, y)
        tol = max(9.0 / len(y), 1e-6) if tolerance is None else tolerance
        expr = S.round_constants(expr, cols, y, tolerance=tol, floor=floor)
        if not expr.atoms(sp.Float):
            break
    if dimensional_factor:
        expr = _fitted_factor(expr, cols, y)
    return expr


def _fitted_factor(expr: sp.Expr, cols: dict[str, np.ndarray], y: np.ndarray) -> sp.Expr:
    """``expr = C * h`` with ``C`` refitted as a float: the overall factor that carries a dimensional constant.

    A dimensional constant's value depends on the unit system, so a "nice" closed form of it
    (``37/10``) means nothing; it is fitted by least squares (linear in ``C``) and stays a float.

    Example:
        >>> x = sp.Symbol("x", real=True); xs = np.linspace(1, 2, 5)
        >>> _fitted_factor(sp.Rational(37, 10) * x**2, {"x": xs}, 3.7 * xs**2)
        3.7*x**2
    """
    C, h = split_constant(expr)
    if not h.free_symbols or not C.is_number:
        return expr
    v = S.evaluate(h, cols)
    if not np.all(np.isfinite(v)) or float(v @ v) == 0:
        return expr
    return sp.Float(float(v @ y / (v @ v))) * h


def special_functions(expr: sp.Expr) -> int:
    """Number of transcendental function nodes (exp, log, sin, asin, tanh, ...) in ``expr``.

    Example:
        >>> x = sp.Symbol("x", real=True)
        >>> special_functions(sp.sin(sp.asin(x) ** 2) + x), special_functions(1 / sp.sqrt(1 - x**2))
        (2, 0)
    """
    return sum(1 for e in sp.preorder_traversal(expr) if isinstance(e, _NUMERIC_FUNCS))


def pareto_front(cands: list[Candidate], tie: float = 0.0) -> list[Candidate]:
    """Candidates not beaten by a simpler-or-equal one with lower RMSE, sorted by complexity.

    ``tie``: at one complexity, formulas whose RMSE is within ``(1 + tie)`` of the best there
    are statistically equal fits (with noise, ``sqrt(1 + 9/n) - 1``); the one with the fewest
    special functions stands for that complexity (``1/sqrt(1 - z**2)`` over ``|sin(asin(asin(z))**2)|``).

    Example:
        >>> x = sp.Symbol("x")
        >>> [c.complexity for c in pareto_front([Candidate(x, 1, 1.0), Candidate(x**2, 3, 2.0), Candidate(x**3, 3, 0.5)])]
        [1, 3]
        >>> front = pareto_front([Candidate(sp.sin(x) + 1, 4, 0.999), Candidate(x**2 + 1, 4, 1.0)], tie=0.01)
        >>> front[0].expression
        x**2 + 1
    """
    front: list[Candidate] = []
    ordered = sorted(cands, key=lambda c: (c.complexity, c.rmse))
    for _, group in itertools.groupby(ordered, key=lambda c: c.complexity):
        group = list(group)
        if front:
            group = [c for c in group if c.rmse < front[-1].rmse * (1 - 1e-12)]
        if not group:
            continue
        rep = group[0]
        if tie > 0:
            same = [c for c in group if c.rmse <= rep.rmse * (1 + tie)]
            rep = min(same, key=lambda c: (special_functions(c.expression), c.rmse))
        front.append(rep)
    return front


def _statistical_tie(n_rows: int) -> float:
    # two formulas whose mean squared errors differ by less than 9/n (3 sigma for white noise)
    # fit the data equally well: sqrt(1 + 9/n) - 1 in RMSE
    return math.sqrt(1.0 + 9.0 / max(n_rows, 1)) - 1.0


def select(front: list[Candidate], tolerance: float, scale: float) -> Candidate:
    """The simplest candidate whose RMSE is within ``(1 + tolerance)`` of the best (plus 1e-9 of the target's scale).

    Example:
        >>> x = sp.Symbol("x")
        >>> select([Candidate(x, 1, 1.0), Candidate(x**2, 3, 0.999)], 0.01, 1.0).complexity
        1
    """
    best = min(c.rmse for c in front)
    for c in front:
        if c.rmse <= best * (1 + tolerance) + 1e-9 * scale:
            return c
    return front[-1]


class EquationSearch(BaseEstimator, RegressorMixin):
    """Symbolic regression for physics: find ``y = f(X)`` as a SymPy expression.

    Args:
        time_limit: seconds for the whole search (checked between stages).
        units: ``{name: pint unit}`` for the inputs and the target (key ``target_name``),
            or a spec string ``"x=m,t=s,y=m/s"``; enables dimensional analysis.
        variable_names: input names (default: DataFrame columns, else ``x0, x1, ...``).
        target_name: name of the target (used with ``units`` and in messages).
        max_complexity: largest expression tree enumerated.
        selection_tolerance: pick the simplest formula with RMSE <= (1 + tol) * best RMSE.
        constant_tolerance: relative rise of the mean squared error allowed when a fitted
            constant is replaced by a closed form (0 for a dropped term); None: ``9 / n_rows``,
            a 3-sigma test for white noise. Larger for targets with systematic error (an emulator).
        denoise: fit an MLP emulator (``physlens.train``) and search its predictions instead
            of the noisy targets.
        oracle: use the neural-network separability oracle ("auto": when time allows).
        seed: makes the result deterministic.
        progress: print stages to stderr (Rich).
        symmetry: first test pair symmetries on the data (nearest neighbours, 3 to 6 inputs;
            with units only sums/differences of like quantities) and search the reduced problem.
        separability: test on the data whether the law is a product (or sum) of one-variable
            factors and one coupled block (:mod:`.separability`) and search the pieces alone.
        dimensional_constant: when the target's units cannot be formed from the inputs' units,
            bring in one fitted constant with the missing units (``y = c * x^q * g(groups)``,
            :func:`.dimensional.constant_reductions`) and name it from CODATA when it matches
            (:mod:`.constants`); False: such units are an error.
        budget: a :class:`~physlens.probes.equations.budget.SearchBudget`: per-stage shares and,
            with ``evaluations`` set, a deterministic budget (counted work instead of seconds:
            the same data, seed and budget give the same formula on any machine); it replaces
            ``time_limit``. None: ``time_limit`` seconds (virtual ones inside
            :func:`~physlens.probes.equations.budget.counted`).

    Column names may be any text (``y``, ``lambda``, ``E``, ``I``, ``pi``, ``sin``...): the
    engine works on internal symbols ``x0, x1, ...`` and writes the results in the user's names.

    Fitted attributes: ``work_`` (the counted work per kind under a deterministic budget, else None),
    ``expression_`` (SymPy), ``complexity_``, ``rmse_``, ``pareto_``
    (list of dicts, simplest first), ``candidates_``, ``feature_names_in_``, and
    ``constant_``: None, or (when a dimensional constant was fitted) ``{"value", "units",
    "name", "expression", "relative_error", "implied"}`` with ``named_expression_`` (the law
    with the named constant's CODATA value) and ``named_latex_`` (the law with its symbol).

    Example:
        >>> X = np.random.default_rng(0).uniform(1, 3, (200, 2))
        >>> est = EquationSearch(time_limit=10, variable_names=["q", "r"]).fit(X, X[:, 0] / X[:, 1] ** 2)
        >>> est.latex()
        '\\\\frac{q}{r^{2}}'
    """

    def __init__(
        self,
        time_limit: float = 60.0,
        units=None,
        variable_names=None,
        target_name: str = "y",
        max_complexity: int = 12,
        selection_tolerance: float = 0.02,
        constant_tolerance: float | None = None,
        denoise: bool = False,
        oracle: str | bool = "auto",
        seed: int = 0,
        progress: bool = False,
        symmetry: bool = True,
        separability: bool = True,
        dimensional_constant: bool = True,
        budget: B.SearchBudget | None = None,
    ) -> None:
        self.time_limit = time_limit
        self.units = units
        self.variable_names = variable_names
        self.target_name = target_name
        self.max_complexity = max_complexity
        self.selection_tolerance = selection_tolerance
        self.constant_tolerance = constant_tolerance
        self.denoise = denoise
        self.oracle = oracle
        self.seed = seed
        self.progress = progress
        self.symmetry = symmetry
        self.separability = separability
        self.dimensional_constant = dimensional_constant
        self.budget = budget

    # ------------------------------------------------------------------ helpers
    def _log(self, msg: str) -> None:
        if self.progress:
            from rich.console import Console

            Console(stderr=True).print(f"[dim]equations[/] {msg}")

    def _units(self, names: list[str]) -> dict[str, str] | None:
        if not self.units:
            return None
        from physlens.data.units import parse_units_spec

        u = parse_units_spec(self.units)
        unknown = [k for k in u if k not in names and k != self.target_name]
        if unknown:
            raise DataError(f"units given for {', '.join(unknown)}, which are neither inputs ({', '.join(names)}) "
                            f"nor the target {self.target_name!r}")
        if self.target_name not in u or any(n not in u for n in names):
            return None  # partial units: no dimensional analysis (but every given unit was checked)
        return u

    def _sympy_limit(self) -> float:
        # the real-time bound of one SymPy call (a stall must not eat the budget)
        return self._clock.sympy_limit(max(0.5, min(2.0, self._shares.polish_call * self._limit)))

    # ------------------------------------------------------------------ fit
    def fit(self, X, y):
        """Search for the law; sets ``expression_``, ``pareto_`` and friends. Returns ``self``.

        Numeric warnings of candidate formulas (overflow, division by zero) are silenced:
        every candidate is judged by whether its values are finite.
        """
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            b = self.budget
            self._limit = b.limit if b is not None else float(self.time_limit)
            self._shares = b.shares if b is not None else B.Shares()
            clk = B.clock()
            if b is not None and b.deterministic and not clk.counted:
                clk = B.Clock(counted=True)
            self._clock = clk
            with B.using(clk):
                self._fit(X, y)
            self.work_ = dict(clk.spent) if clk.counted else None
            return self

    def _fit(self, X, y):
        X, y, names = check_data(X, y, self.variable_names, self.target_name)
        self.feature_names_in_ = np.array(names, dtype=object)
        self.n_features_in_ = len(names)
        start_real = time.monotonic()
        start = B.now()
        final_deadline = start + self._limit
        deadline = start + self._shares.generators * self._limit  # the rest is for polishing
        user_units = self._units(names)
        # the engine works on internal names (x0, x1, ... and y): a column may be called anything
        inames = [f"x{j}" for j in range(len(names))]
        tname = "y"
        self._inames = inames
        self._back = {sp.Symbol(i, real=True): sp.Symbol(n, real=True) for i, n in zip(inames, names)}
        units = None
        if user_units is not None:
            units = {i: user_units[n] for i, n in zip(inames, names)}
            units[tname] = user_units[self.target_name]
        names = inames
        target = y
        if self.denoise:
            target = self._denoise(X, y, names, deadline, tname)
        reductions = []
        self._const_dims = None  # (input dims, target dims) when a dimensional constant is fitted
        if units is not None:
            from physlens.probes.equations.dimensional import constant_reductions, missing_dimensions, pi_bases

            if missing_dimensions(units, names, units[tname], tname) is None:
                reductions = pi_bases(units, names, units[tname], tname, k=3)
            elif not self.dimensional_constant:  # the error names the user's columns
                pi_bases(user_units, list(self.feature_names_in_), user_units[self.target_name], self.target_name)
            else:
                found = constant_reductions(units, names, units[tname], X, target, tname, k=3)
                reductions = [r for r, _ in found]
                for _, cu in found:
                    from physlens.data.units import format_units

                    self._log(f"units do not close: a fitted constant in {format_units(cu)}")
        symbols = [sp.Symbol(n, real=True) for n in names]
        cols = {n: X[:, j] for j, n in enumerate(names)}
        scale = float(np.sqrt(np.mean(target**2)))
        raw: list[tuple[sp.Expr, str]] = []

        def remaining() -> float:
            return deadline - B.now()

        dim_check = None
        if units is not None:  # with units, only dimensionally consistent formulas are physical
            from physlens.data.units import dimension_vector
            from physlens.probes.equations.dimensional import expression_dimension

            dims = {n: dimension_vector(units[n], column=n) for n in names}
            want = dimension_vector(units[tname], column=tname)
            with_constant = missing_dimensions(units, names, units[tname], tname) is not None
            if with_constant:
                self._const_dims = (dims, want)

            def dim_check(e):
                """``e`` (cleaned of numerically negligible parts) when consistent, else None.

                With a fitted dimensional constant, ``e`` must be that constant times a
                consistent formula of the inputs (one overall factor carries the units).
                """
                def dim(ex):
                    if with_constant:
                        _, ex = split_constant(ex)
                    return expression_dimension(ex, dims)

                d = dim(e)
                if d is None:  # a fitted sum may carry constants that cancel (-1.0*pi + 3.14159...)
                    e = _drop_negligible_terms(_drop_cancelling_constants(e), cols)
                    d = dim(e)
                if d is None:
                    return None
                return e if with_constant or np.allclose(d, want, atol=1e-9) else None

        checked = [0, False]  # raw candidates already tested, and whether one was exact

        def exact_found() -> bool:
            # every candidate added since the last call (a stage can add a hundred; only new ones are tested)
            if not checked[1]:
                checked[1] = any(S.rmse(e, cols, target) <= 1e-9 * scale and (dim_check is None or dim_check(e) is not None)
                                 for e, _ in raw[checked[0]:])
                checked[0] = len(raw)
            return checked[1]

        rng_seed = int(self.seed)
        # 0. pair symmetries read from the data (nearest-neighbour test, no network): a law of
        # x_i - x_j (or x_i + x_j, x_i*x_j, x_i/x_j) is searched with the pair as one variable
        if self.symmetry and 3 <= X.shape[1] <= 12 and remaining() > 2:
            for e in self._symmetry_candidates(X, target, names, units, rng_seed, remaining() * self._shares.symmetry,
                                               tname):
                raw.append((e, "symmetry"))
        # 0b. separability read from the data: y = g1(x1) * g2(x2) * ... * h(block), pieces searched alone
        mono = monomial_candidates(X, target, symbols)
        raw.extend((e, "monomial") for e in mono)
        if self.separability and X.shape[1] >= 2 and not exact_found() and remaining() > 1:
            from physlens.probes.equations.separability import separable_candidates

            # (returns at once when the data do not split; a split found is strong evidence)
            for e in separable_candidates(X, target, names, remaining() * self._shares.separability, rng_seed, self):
                raw.append((e, "separability"))
        # 1. dimensional analysis: y = prefactor * g(groups), for the few simplest bases
        for bi, red in enumerate(reductions):
            if exact_found() or remaining() < 0.2:
                break
            pre_v, G = red.transform(X)
            pre_e = red.prefactor_expr()
            g_exprs = red.group_exprs()
            self._log(f"dimensional analysis: prefactor {self._user(pre_e)}, groups {[self._user(g) for g in g_exprs]}")
            if G.shape[1] == 0:
                C = float(pre_v @ target / (pre_v @ pre_v))
                raw.append((sp.Float(C) * pre_e, "dimensional"))
                continue
            zs = [sp.Symbol(f"_z{k}", real=True) for k in range(G.shape[1])]
            sub = dict(zip(zs, g_exprs))
            t = target / pre_v
            if np.ptp(t) <= 1e-12 * np.abs(t).max():
                raw.append((sp.Float(float(np.mean(t))) * pre_e, "dimensional"))
                continue
            for e in monomial_candidates(G, t, zs):
                raw.append((pre_e * e.xreplace(sub), "dimensional+monomial"))
            if self.separability and G.shape[1] >= 2 and not exact_found() and remaining() > 1:
                from physlens.probes.equations.separability import separable_candidates

                gn = [f"g{k}" for k in range(G.shape[1])]  # internal names of the groups
                gsub = {sp.Symbol(nm, real=True): ge for nm, ge in zip(gn, g_exprs)}
                for e in separable_candidates(G, t, gn, remaining() * 0.4, rng_seed, self):
                    raw.append((pre_e * e.xreplace(gsub), "dimensional+separability"))
            if not exact_found():
                share = (0.6 if G.shape[1] < len(names) else 0.4) * (0.6 if bi == 0 else 0.5)
                if len(reductions) == 1:
                    share /= 0.6
                budget = remaining() * share
                # (t = y/prefactor: a row's noise is the noise of y over its prefactor)
                for e in enumeration_candidates(G, t, zs, budget, rng_seed, self.max_complexity, weights=pre_v**2):
                    raw.append((pre_e * e.xreplace(sub), "dimensional+enumeration"))
        # 2. original variables
        if not exact_found() and remaining() > 0.5:
            use_oracle = self.oracle is True or (self.oracle == "auto" and remaining() > 20 and X.shape[1] >= 2)
            sh = self._shares
            budget = remaining() * (sh.enumeration_with_oracle if use_oracle else sh.enumeration)
            for e in enumeration_candidates(X, target, symbols, budget, rng_seed, self.max_complexity):
                raw.append((e, "enumeration"))
            if use_oracle and not exact_found() and remaining() > 5:
                from physlens.probes.equations.oracle import oracle_candidates

                for e in oracle_candidates(X, target, names, deadline - self._shares.oracle_reserve * remaining(),
                                           rng_seed, self):
                    raw.append((e, "oracle"))
        # 3. polish and choose
        self._log(f"polishing {len(raw)} candidates")
        if dim_check is not None:
            ok = []
            for e, o in raw:
                ce = dim_check(e)
                if ce is not None:
                    ok.append((ce, o))
            raw = ok or raw
        cands = self._finalize(raw, cols, target, scale, final_deadline)
        if not cands:
            raise DataError("no formula could be evaluated on the data (every candidate was undefined somewhere)")
        self._choose(cands, X, target)
        if self.denoise:
            self.reselect(X, y)  # structure from the emulator, constants and choice from the data
        self.fit_time_ = time.monotonic() - start_real
        self._log(f"best: {self.expression_} (complexity {self.complexity_}, rmse {self.rmse_:.3g})")
        return self

    def _symmetry_candidates(self, X, y, names, units, seed, budget, tname) -> list[sp.Expr]:
        from physlens.data.units import dimension_vector
        from physlens.probes.equations.oracle import knn_pair_symmetries
        from physlens.probes.equations.separability import surrogate_pair_symmetries

        t_end = B.now() + budget
        d = X.shape[1]
        same = None
        if units is not None:
            dv = [dimension_vector(units[n], column=n) for n in names]
            same = np.array([[np.allclose(dv[i], dv[j]) for j in range(d)] for i in range(d)])
        # the gradient of a polynomial fit first (many inputs; milliseconds), nearest neighbours when
        # the polynomial does not describe the data (up to 6 inputs)
        syms = surrogate_pair_symmetries(X, y, same_kind=same)
        if not syms and d <= 6:
            syms = knn_pair_symmetries(X, y, same_kind=same, seed=seed, n=600)
        if units is not None:  # products and ratios are what dimensional analysis already groups
            syms = [s for s in syms if s[0] in ("minus", "plus")]
        # (knn_pair_symmetries keeps the clearest kind per pair, so a ratio law is not taken for a difference)
        used: set[int] = set()
        pairs = []
        for kind, i, j, _ in syms:
            if i not in used and j not in used:
                used.update((i, j))
                pairs.append((kind, i, j))
        if not pairs or B.now() > t_end - 1:
            return []
        keep = [j for j in range(d) if j not in used]
        fresh = [f"u{k}" for k in range(len(pairs))]
        while any(nm in names for nm in fresh):
            fresh = ["u" + nm for nm in fresh]
        cols_new, sub, sub_units = [], {}, {}
        for nm, (kind, i, j) in zip(fresh, pairs):
            xi, xj = X[:, i], X[:, j]
            si, sj = sp.Symbol(names[i], real=True), sp.Symbol(names[j], real=True)
            col, ex = {"minus": (xi - xj, si - sj), "plus": (xi + xj, si + sj),
                       "times": (xi * xj, si * sj), "divide": (xi / xj, si / sj)}[kind]
            cols_new.append(col)
            sub[sp.Symbol(nm, real=True)] = ex
            if units is not None:
                ui, uj = units[names[i]], units[names[j]]
                sub_units[nm] = {"minus": ui, "plus": ui, "times": f"({ui})*({uj})", "divide": f"({ui})/({uj})"}[kind]
        Z = np.column_stack([X[:, j] for j in keep] + cols_new)
        zn = [names[j] for j in keep] + fresh
        if units is not None:
            sub_units.update({names[j]: units[names[j]] for j in keep})
            sub_units[tname] = units[tname]
        self._log(f"symmetry: {', '.join(f'{k}({names[i]}, {names[j]})' for k, i, j in pairs)}")
        try:
            est = EquationSearch(time_limit=max(1.0, t_end - B.now()), units=sub_units or None,
                                 variable_names=zn, target_name=tname, seed=seed,
                                 max_complexity=self.max_complexity, selection_tolerance=self.selection_tolerance,
                                 constant_tolerance=self.constant_tolerance, oracle=False, symmetry=False)
            est.fit(Z, y)
        except Exception:  # a degenerate reduced problem (e.g. a constant column): no candidates
            return []
        exprs = [est.expression_] + [c.expression for c in sorted(est.candidates_, key=lambda c: c.rmse)[:5]]
        return [e.xreplace(sub) for e in dict.fromkeys(exprs)]

    def _denoise(self, X, y, names, deadline, tname) -> np.ndarray:
        from physlens.data.dataset import Dataset
        from physlens.train import train_default

        ds = Dataset(X, y[:, None], list(names), [tname])
        epochs = 200 if deadline - B.now() > 60 else 80
        res = train_default(ds, seed=int(self.seed), progress=self.progress, epochs=epochs)
        self.emulator_ = res.model
        return res.model.predict(X)[:, 0].astype(np.float64)

    def _finalize(self, raw, cols, y, scale, deadline) -> list[Candidate]:
        # rough error first: polish the most promising ones while time allows
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
        near = list(dict.fromkeys(near + ties))
        rest = [i for i in range(len(scored)) if i not in set(near)]
        scored = [scored[i] for i in near + rest]
        out: list[Candidate] = []
        floor = 1e-10 * scale
        done: set[str] = set()
        # once a closed form fits exactly, only a simpler raw candidate could still be selected
        # instead (select() takes the simplest within tolerance of the best); the others are not
        # polished (polishing tens of them took 90 % of a solved problem's time)
        exact_comp = math.inf
        tolerance = self.constant_tolerance
        if tolerance is None and self._const_dims is not None:
            # measurements in SI units often span decades with a relative scatter: the squared error
            # is then ruled by the largest rows, and the 3-sigma test of rounding counts those rows
            # (Kish's effective size with weights y**2), not all rows; with one decade of G*m1*m2/r**2
            # at 0.3 % scatter the exponent 0.9986 of m2/m1 was kept against 1 otherwise
            w = y**2
            n_eff = float(w.sum() ** 2 / max(float((w**2).sum()), 1e-300))
            tolerance = max(9.0 / max(min(n_eff, len(y)), 1.0), 1e-6)
        for i, (err, comp, e, origin) in enumerate(scored):
            if i >= 3 and B.now() > deadline - 0.1 * self._limit:
                break
            if comp >= exact_comp or (exact_comp < math.inf and err > 1e-6 * scale):
                continue
            try:  # bounded: SymPy's automatic evaluation can stall on one unlucky substitution
                pe = S.time_limited(_polish, self._sympy_limit(), e, cols, y, floor, tolerance,
                                    self._const_dims is not None)
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
        # SymPy simplification is the slow part: only for the front, the selected formula first
        positive = frozenset(k for k, v in cols.items() if np.all(v > 0))
        if not out:  # the time ran out before any candidate was polished: the mean is the honest answer
            mean = sp.Float(float(np.mean(y)), 6)
            out.append(Candidate(mean, S.complexity(mean), float(np.std(y)), "mean (time ran out)"))
        front = pareto_front(out, tie=_statistical_tie(len(y)))
        first = select(front, self.selection_tolerance, scale)
        order = [first] + [c for c in reversed(front) if c is not first]
        for j, c in enumerate(order):
            if B.now() > deadline - (0.0 if j == 0 else 0.05 * self._limit):
                break
            try:
                te = S.tidy(c.expression, positive=positive,
                            timeout=self._sympy_limit())
            except Exception:  # keep the unsimplified formula
                continue
            finally:
                B.tick(1, "simplify")
            terr = S.rmse(te, cols, y)
            if math.isfinite(terr) and terr <= c.rmse * (1 + 1e-6) + floor:
                c.expression, c.complexity, c.rmse = te, S.complexity(te), terr
        return out

    def reselect(self, X, y):
        """Re-score the found candidates on other targets for the same rows and choose again.

        Used by the noise-aware mode: formulas are searched on an emulator's (smooth)
        predictions, then judged on the measured data, where a formula that fits the
        emulator's own wiggles has no advantage. Returns ``self``.

        Example:
            >>> X = np.random.default_rng(0).uniform(1, 2, (60, 1))
            >>> est = EquationSearch(time_limit=3, variable_names=["x"]).fit(X, 2 * X[:, 0])
            >>> str(est.reselect(X, 2 * X[:, 0] + 0.01).expression_)
            '2*x'
        """
        self._check_fitted()
        with np.errstate(all="ignore"), warnings.catch_warnings(), B.using(self._clock):
            warnings.simplefilter("ignore", RuntimeWarning)
            X, y, _ = check_data(X, y, list(self.feature_names_in_), self.target_name)
            cols = {n: X[:, j] for j, n in enumerate(self._inames)}
            cands = []
            scale = float(np.sqrt(np.mean(y**2)))
            t_end = B.now() + max(2.0, 0.2 * self._limit)
            for c in sorted(self._internal_candidates, key=lambda c: c.complexity):
                expr = c.expression
                if B.now() < t_end:
                    B.tick(1, "polish")
                    try:  # constants refitted and rounded against the measurements
                        expr = (S.time_limited(_polish, self._clock.sympy_limit(2.0), expr, cols, y, 1e-10 * scale, None,
                                                self._const_dims is not None)
                                if expr.free_symbols else expr)
                    except Exception:  # keep the emulator-fitted constants
                        expr = c.expression
                err = S.rmse(expr, cols, y)
                if math.isfinite(err):
                    cands.append(Candidate(expr, S.complexity(expr), err, c.origin))
            if cands:
                self._choose(cands, X, y)
        return self

    def _user(self, expr: sp.Expr) -> sp.Expr:
        """``expr`` written in the user's column names (the engine's symbols are x0, x1, ...)."""
        return expr.xreplace(self._back)

    def _choose(self, cands: list[Candidate], X: np.ndarray, y: np.ndarray) -> None:
        """Select from the (internal) candidates; set the fitted attributes in the user's names."""
        scale = float(np.sqrt(np.mean(y**2)))
        front = pareto_front(cands, tie=_statistical_tie(len(y)))
        best = select(front, self.selection_tolerance, scale)
        self._internal_candidates = cands
        self._internal_expression = best.expression
        self.candidates_ = [Candidate(self._user(c.expression), c.complexity, c.rmse, c.origin) for c in cands]
        self.expression_ = self._user(best.expression)
        self.complexity_ = best.complexity
        self.rmse_ = best.rmse
        self.origin_ = best.origin
        self.pareto_ = [Candidate(self._user(c.expression), c.complexity, c.rmse, c.origin).as_dict() for c in front]
        self._describe_constant(X, y)

    def _describe_constant(self, X: np.ndarray, y: np.ndarray) -> None:
        """Set ``constant_`` (and the named law) when the selected law carries a fitted dimensional constant."""
        from physlens.data.units import format_units
        from physlens.probes.equations.constants import CODATA, name_constant
        from physlens.probes.equations.dimensional import expression_dimension

        self.constant_ = self.named_expression_ = self.named_latex_ = self.named_symbolic_ = None
        if self._const_dims is None:
            return
        dims, want = self._const_dims
        C, h = split_constant(self._internal_expression)
        d = expression_dimension(h, dims)
        if d is None or not C.is_number or not h.free_symbols:
            return
        try:
            value = float(C)
        except (TypeError, ValueError):
            return
        c_units = np.where(np.abs(want - d) < 1e-12, 0.0, want - d)
        match = name_constant(value, c_units)
        self.constant_ = {
            "value": value,
            "units": format_units(c_units),
            "name": match["name"] if match else None,
            "expression": match["expression"] if match else None,
            "relative_error": match["relative_error"] if match else None,
            "implied": match["implied"] if match else None,
        }
        if match is None:
            return
        hu = self._user(h)
        K = match["form"].free_symbols.pop()
        law = match["form"].subs(K, sp.Float(CODATA[match["name"]][0], 15)) * hu
        cols = {n: X[:, j] for j, n in enumerate(self.feature_names_in_)}
        err = S.rmse(law, cols, y)
        if not math.isfinite(err):
            return
        self.named_expression_ = law
        self.constant_["rmse"] = float(err)
        clash = match["name"] in set(self.feature_names_in_)  # the symbol would read as a column
        self.named_latex_ = None if clash else expression_to_latex(match["form"] * hu)
        self.named_symbolic_ = None if clash else match["form"] * hu

    # ------------------------------------------------------------------ use
    def _check_fitted(self):
        if not hasattr(self, "expression_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError("EquationSearch is not fitted yet; call fit(X, y) first")

    def predict(self, X) -> np.ndarray:
        """Evaluate the selected formula on the rows of ``X``."""
        self._check_fitted()
        X = np.asarray(X, dtype=np.float64)
        if X.ndim == 1:
            X = X[:, None]
        if X.shape[1] != self.n_features_in_:
            raise DataError(f"X has {X.shape[1]} columns; the formula was fitted on {self.n_features_in_}")
        cols = {n: X[:, j] for j, n in enumerate(self.feature_names_in_)}
        return S.evaluate(self.expression_, cols)

    def latex(self) -> str:
        """LaTeX of the selected formula."""
        self._check_fitted()
        return expression_to_latex(self.expression_)

    def sympy(self) -> sp.Expr:
        """The selected formula (same as ``expression_``)."""
        self._check_fitted()
        return self.expression_
