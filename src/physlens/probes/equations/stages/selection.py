"""Selection stage: the accuracy/complexity Pareto front and the rule that picks one formula.

As in PySR (Cranmer 2023) and AI Feynman 2.0 (Udrescu et al. 2020), the polished candidates
form a Pareto front of (complexity, RMSE); at one complexity, fits within the 3-sigma band of
white noise are ties, won by the formula with fewer special functions. The selected formula is
the simplest one whose RMSE is within ``selection_tolerance`` of the best.

Example:
    >>> x = sp.Symbol("x")
    >>> st = SearchState(search=None, X=np.ones((20, 1)), target=np.arange(20.0), names=["x0"])
    >>> st.candidates = [Candidate(x, 1, 1.0), Candidate(x**2, 3, 0.999)]
    >>> Selection(tolerance=0.01).run(st, None); st.best.complexity
    1
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import sympy as sp

from physlens.probes.equations import simplify as S
from physlens.probes.equations.stages.base import Candidate, SearchState, StageBudget

_NUMERIC_FUNCS = (sp.exp, sp.log, sp.sin, sp.cos, sp.tan, sp.tanh, sp.sinh, sp.cosh, sp.asin, sp.acos, sp.atan)


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


def statistical_tie(n_rows: int) -> float:
    """Relative RMSE difference below which two fits of ``n_rows`` rows are statistically equal.

    Example:
        >>> round(statistical_tie(900), 4)
        0.005
    """
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


def choose(cands: list[Candidate], tolerance: float, y: np.ndarray) -> tuple[list[Candidate], Candidate]:
    """The Pareto front of ``cands`` (ties at the noise level of ``len(y)`` rows) and the selected formula.

    Example:
        >>> x = sp.Symbol("x")
        >>> front, best = choose([Candidate(x, 1, 1.0), Candidate(x**2, 3, 0.5)], 0.02, np.ones(10))
        >>> best.complexity
        3
    """
    scale = float(np.sqrt(np.mean(y**2)))
    front = pareto_front(cands, tie=statistical_tie(len(y)))
    return front, select(front, tolerance, scale)


class Selection:
    """Set ``state.front`` and ``state.best`` (unpolished raw formulas are scored when no polishing ran)."""

    name = "selection"

    def __init__(self, tolerance: float | None = None) -> None:
        self.tolerance = tolerance  # None: the search's selection_tolerance

    def run(self, state: SearchState, budget: StageBudget | None) -> None:
        """Choose among ``state.candidates``."""
        if not state.candidates:  # no polishing stage: the raw formulas as generated
            for e, origin in dict.fromkeys(state.raw):
                err = S.rmse(e, state.cols, state.target)
                if math.isfinite(err):
                    state.candidates.append(Candidate(e, S.complexity(e), err, origin))
        if not state.candidates:
            return
        tol = self.tolerance if self.tolerance is not None else state.search.selection_tolerance
        state.front, state.best = choose(state.candidates, tol, state.target)
