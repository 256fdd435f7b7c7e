"""``EquationSearch``: a scikit-learn estimator that finds a closed-form law ``y = f(X)``.

The engine composes the stages that are known to work for physics laws (AI Feynman,
Udrescu & Tegmark 2020, Sci. Adv. 6, eaay2631; AI Feynman 2.0, Udrescu et al. 2020; PySR,
Cranmer 2023, for the estimator interface and the accuracy/complexity Pareto front), each a
small module of :mod:`physlens.probes.equations.stages` behind one protocol: pair symmetries
and separability read from the data, dimensional analysis, a monomial fast path, enumeration
of expression trees (with sums and rationals), a neural-network oracle, then the units
filter, constant polishing and rounding, SymPy simplification and Pareto selection. A user
can remove a stage or add one (``stages=[...]``).

On noisy data (SRBench's 1 % Gaussian noise) four things matter: each target
transform is fitted with delta-method row weights, rational fits are reweighted
(Sanathanan & Koerner 1963) and ranked on a smoothed target, constants that only trade off
against each other are pinned before rounding, and fits within the 3-sigma band at one
complexity are ties, won by the formula with fewer special functions.

The budget is ``time_limit`` seconds shared by the stages (:class:`~.budget.Shares`), or a
deterministic count of work (``budget=SearchBudget.counts(n)``, :mod:`.budget`): then the
same data, seed and budget give the same formula on any machine.

Example:
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(1, 5, size=(300, 2))
    >>> est = EquationSearch(budget=SearchBudget.counts(1_000_000), variable_names=["m", "v"])
    >>> est.fit(X, 0.5 * X[:, 0] * X[:, 1] ** 2).expression_
    m*v**2/2
"""

from __future__ import annotations

import math
import time
import warnings

import numpy as np
import sympy as sp
from sklearn.base import BaseEstimator, RegressorMixin

from physlens.errors import DataError
from physlens.expressions import expression_to_latex
from physlens.probes.equations import budget as B
from physlens.probes.equations import simplify as S
from physlens.probes.equations.budget import SearchBudget  # noqa: F401  (public here too)
from physlens.probes.equations.constants import describe_constant
from physlens.probes.equations.stages import SearchState, StageBudget, default_stages
from physlens.probes.equations.stages.base import Candidate
from physlens.probes.equations.stages.dimensional import prepare_units
from physlens.probes.equations.stages.polish import polish, split_constant  # noqa: F401  (public here too)
from physlens.probes.equations.stages.selection import Selection, choose, pareto_front, select  # noqa: F401

MIN_ROWS = 10


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
        scaling: without units, read the scalings the law keeps from the data (Euler's relation on a
            polynomial surrogate, :mod:`.stages.scaling`) and search again with them as units.
        budget: a :class:`~physlens.probes.equations.budget.SearchBudget`: per-stage shares and,
            with ``evaluations`` set, a deterministic budget (counted work instead of seconds:
            the same data, seed and budget give the same formula on any machine); it replaces
            ``time_limit``. None: ``time_limit`` seconds (virtual ones inside
            :func:`~physlens.probes.equations.budget.counted`).
        stages: the stages run in order (:mod:`.stages`); None: :func:`.stages.default_stages`.
            A list without ``"oracle"`` or with a generator of your own is a different search
            (the sub-searches of the symmetry and oracle stages keep the default stages).

    Column names may be any text (``y``, ``lambda``, ``E``, ``I``, ``pi``, ``sin``...): the
    engine works on internal symbols ``x0, x1, ...`` and writes the results in the user's names.

    Fitted attributes: ``work_`` (the counted work per kind under a deterministic budget, else None),
    ``scalings_`` (without units: the scalings the data keep, each ``{column: exponent}`` with the
    target's, as the scaling stage read them; else None),
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
        scaling: bool = True,
        budget: B.SearchBudget | None = None,
        stages: list | None = None,
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
        self.scaling = scaling
        self.budget = budget
        self.stages = stages

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

    def _stages(self) -> list:
        return list(self.stages) if self.stages is not None else default_stages()

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
            if ((b is not None and b.deterministic) or B.counted_by_environment()) and not clk.counted:
                clk = B.Clock(counted=True)
            self._clock = clk
            before = dict(clk.spent)  # (a clock shared with an enclosing search has counted its work too)
            with B.using(clk):
                self._fit(X, y)
            self.work_ = {k: v - before.get(k, 0.0) for k, v in clk.spent.items()} if clk.counted else None
            return self

    def _fit(self, X, y):
        X, y, names = check_data(X, y, self.variable_names, self.target_name)
        self.feature_names_in_ = np.array(names, dtype=object)
        self.n_features_in_ = len(names)
        start_real = time.monotonic()
        start = B.now()
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
        deadline = start + self._shares.generators * self._limit  # the rest is for polishing
        target = self._denoise(X, y, inames, deadline, tname) if self.denoise else y
        state = SearchState(search=self, X=X, target=target, names=inames, tname=tname, units=units,
                            user_units=user_units, seed=int(self.seed), deadline=deadline,
                            final_deadline=start + self._limit)
        prepare_units(state)
        self._const_dims = state.const_dims  # (input dims, target dims) when a dimensional constant is fitted
        for stage in self._stages():
            share = getattr(self._shares, stage.name, 1.0)
            stage.run(state, StageBudget(share=share, seconds=state.remaining() * share, deadline=state.deadline))
        if state.best is None:
            Selection().run(state, None)
        if state.best is None:
            raise DataError("no formula could be evaluated on the data (every candidate was undefined somewhere)")
        self._set_result(state.candidates, state.front, state.best, X, target)
        self.scalings_ = state.flags.get("scalings")
        if self.denoise:
            self.reselect(X, y)  # structure from the emulator, constants and choice from the data
        self.fit_time_ = time.monotonic() - start_real
        self._log(f"best: {self.expression_} (complexity {self.complexity_}, rmse {self.rmse_:.3g})")
        return self

    def _denoise(self, X, y, names, deadline, tname) -> np.ndarray:
        from physlens.data.dataset import Dataset
        from physlens.train import train_default

        ds = Dataset(X, y[:, None], list(names), [tname])
        epochs = 200 if deadline - B.now() > 60 else 80
        res = train_default(ds, seed=int(self.seed), progress=self.progress, epochs=epochs)
        self.emulator_ = res.model
        return res.model.predict(X)[:, 0].astype(np.float64)

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
                        expr = (S.time_limited(polish, self._clock.sympy_limit(2.0), expr, cols, y, 1e-10 * scale, None,
                                                self._const_dims is not None)
                                if expr.free_symbols else expr)
                    except Exception:  # keep the emulator-fitted constants
                        expr = c.expression
                err = S.rmse(expr, cols, y)
                if math.isfinite(err):
                    cands.append(Candidate(expr, S.complexity(expr), err, c.origin))
            if cands:
                front, best = choose(cands, self.selection_tolerance, y)
                self._set_result(cands, front, best, X, y)
        return self

    def _user(self, expr: sp.Expr) -> sp.Expr:
        """``expr`` written in the user's column names (the engine's symbols are x0, x1, ...)."""
        return expr.xreplace(self._back)

    def _set_result(self, cands: list[Candidate], front: list[Candidate], best: Candidate, X, y) -> None:
        """Set the fitted attributes in the user's names from the (internal) candidates and choice."""
        self._internal_candidates = cands
        self._internal_expression = best.expression
        self.candidates_ = [Candidate(self._user(c.expression), c.complexity, c.rmse, c.origin) for c in cands]
        self.expression_ = self._user(best.expression)
        self.complexity_ = best.complexity
        self.rmse_ = best.rmse
        self.origin_ = best.origin
        self.pareto_ = [Candidate(self._user(c.expression), c.complexity, c.rmse, c.origin).as_dict() for c in front]
        describe_constant(self, X, y)

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
