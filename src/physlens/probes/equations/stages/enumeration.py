"""Enumeration stage: exhaustive expression enumeration (AI Feynman's brute force, PySR's scoring).

Expression trees in the inputs are built bottom-up, smallest first, with value-based
deduplication (:func:`~physlens.probes.equations.enumeration.enumerate_expressions`; AI Feynman's
brute-force step, Udrescu & Tegmark 2020), each scored against transforms of the target
(``y, 1/y, y^2, sqrt(y), log(y)``) by an affine fit; the remembered ones are re-ranked on more
rows, and sums of up to three terms and rational functions are grown from the pool by beam
orthogonal matching pursuit (:func:`~physlens.probes.equations.candidates.enumeration_candidates`).
The accuracy/complexity trade-off is PySR's (Cranmer 2023): candidates go to a Pareto front.

Example:
    >>> from physlens.probes.equations import EquationSearch, stages
    >>> X = np.random.default_rng(0).uniform(1, 2, (200, 2))
    >>> only = [stages.Enumeration(), stages.Polish(), stages.Selection()]
    >>> with counted():
    ...     est = EquationSearch(time_limit=3, variable_names=["a", "b"], stages=only).fit(X, np.sin(X[:, 0]) + X[:, 1])
    >>> est.expression_
    b + sin(a)
"""

from __future__ import annotations

import numpy as np  # noqa: F401  (doctest)

from physlens.probes.equations.budget import counted  # noqa: F401  (doctest)
from physlens.probes.equations.candidates import enumeration_candidates
from physlens.probes.equations.stages.base import SearchState, StageBudget


def oracle_follows(state: SearchState) -> bool:
    """Whether the neural-network oracle will run after the enumeration (it then leaves it time).

    Example:
        >>> import numpy as np; X = np.ones((20, 2))
        >>> oracle_follows(SearchState(search=None, X=X, target=np.arange(20.0), names=["x0", "x1"]))
        False
    """
    est = state.search
    if est is None or not any(getattr(s, "name", "") == "oracle" for s in est._stages()):
        return False
    return est.oracle is True or (est.oracle == "auto" and state.remaining() > 20 and state.X.shape[1] >= 2)


class Enumeration:
    """Append enumerated formulas in the original inputs (origin ``enumeration``)."""

    name = "enumeration"

    def run(self, state: SearchState, budget: StageBudget) -> None:
        """Enumerate within the stage's share (a smaller one when the oracle follows)."""
        if state.exact_found() or state.remaining() <= 0.5:
            state.flags["oracle"] = False
            return
        use_oracle = oracle_follows(state)
        state.flags["oracle"] = use_oracle
        sh = state.search._shares
        seconds = state.remaining() * (sh.enumeration_with_oracle if use_oracle else sh.enumeration)
        state.add(enumeration_candidates(state.X, state.target, state.symbols, seconds, state.seed,
                                         state.search.max_complexity), "enumeration")
