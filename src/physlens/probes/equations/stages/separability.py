"""Separability stage: AI Feynman's product/sum splits, tested on the data (no network).

AI Feynman (Udrescu & Tegmark 2020) splits ``y = g(x_A) * h(x_B)`` (or ``+``) into smaller
problems. :func:`~physlens.probes.equations.separability.separable_candidates` tests the split
with an additive model of ``y`` (or ``log|y|``) fitted to the data (an ANOVA test), searches each
one-variable factor and the coupled block alone, and recombines them with refitted constants.

Example:
    >>> from physlens.probes.equations import EquationSearch, stages
    >>> X = np.random.default_rng(0).uniform(1, 3, (500, 3))
    >>> y = X[:, 0] ** 2 * np.sin(X[:, 1]) * X[:, 2]
    >>> only = [stages.Separability(), stages.Polish(), stages.Selection()]
    >>> with counted():
    ...     est = EquationSearch(time_limit=4, variable_names=["a", "b", "c"], stages=only).fit(X, y)
    >>> est.expression_, est.origin_
    (a**2*c*sin(b), 'separability')
"""

from __future__ import annotations

import numpy as np  # noqa: F401  (doctest)

from physlens.probes.equations.budget import counted  # noqa: F401  (doctest)
from physlens.probes.equations.stages.base import SearchState, StageBudget


class Separability:
    """Append the recombined laws of a product (or sum) split of the data (origin ``separability``)."""

    name = "separability"

    def run(self, state: SearchState, budget: StageBudget) -> None:
        """Search the pieces of a split found in the data (returns at once when there is none)."""
        est = state.search
        if not (est.separability and state.X.shape[1] >= 2 and not state.exact_found() and state.remaining() > 1):
            return
        from physlens.probes.equations.separability import separable_candidates

        # (returns at once when the data do not split; a split found is strong evidence)
        state.add(separable_candidates(state.X, state.target, state.names, state.remaining() * budget.share,
                                       state.seed, est), "separability")
