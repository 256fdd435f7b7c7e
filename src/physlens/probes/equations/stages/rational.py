"""Rational stage: sparse ratios of polynomials ``P(x) / Q(x)`` (implicit sparse regression, SINDy-PI's form).

The method is :func:`~physlens.probes.equations.rational.rational_candidates`: ``Q(x) y - P(x) = 0``
is linear in the coefficients, so a beam of orthogonal matching pursuit over a monomial library finds
the sparse relation, read out as ``y = P/Q`` and ranked by its explicit error. The dimensional stage uses
the same generator on each reduced problem (``y / prefactor`` as a law of the pi groups).

Example:
    >>> from physlens.probes.equations import EquationSearch, stages
    >>> u = np.random.default_rng(0).uniform(0.5, 1.3, (300, 1))
    >>> only = [stages.Rational(), stages.Polish(), stages.Selection()]
    >>> with counted():
    ...     est = EquationSearch(time_limit=3, variable_names=["u"], stages=only).fit(u, 4 * u[:, 0] ** 12 - 4 * u[:, 0] ** 6)
    >>> est.expression_
    u**6*(4*u**6 - 4)
"""

from __future__ import annotations

import numpy as np  # noqa: F401  (doctest)

from physlens.probes.equations.budget import counted  # noqa: F401  (doctest)
from physlens.probes.equations.rational import rational_candidates
from physlens.probes.equations.stages.base import SearchState, StageBudget


class Rational:
    """Append sparse ratios of polynomials in the inputs (origin ``rational``; 1 to 4 inputs)."""

    name = "rational"

    def run(self, state: SearchState, budget: StageBudget) -> None:
        """Append the sparsest accurate ``P/Q`` fits of the target."""
        if state.exact_found() or state.remaining() <= 0.5:
            return
        # a tenth of the time left: on a small budget the enumeration after it needs the rest
        state.add(rational_candidates(state.X, state.target, state.symbols, seed=state.seed,
                                      max_seconds=0.1 * state.remaining()), "rational")
