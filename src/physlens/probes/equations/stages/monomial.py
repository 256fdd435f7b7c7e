"""Monomial stage: power laws by log-linear least squares, exponents rounded to simple rationals.

``log|y| = log|c| + sum_j p_j log|x_j|`` is one linear least-squares problem
(:func:`~physlens.probes.equations.candidates.monomial_candidates`); rounding the ``p_j``
to simple fractions solves every pure power law (Coulomb, Kepler's third law, ...) at once.

Example:
    >>> from physlens.probes.equations import EquationSearch, stages
    >>> X = np.random.default_rng(0).uniform(1, 3, (200, 2))
    >>> only = [stages.Monomial(), stages.Polish(), stages.Selection()]
    >>> with counted():
    ...     str(EquationSearch(time_limit=2, variable_names=["q", "r"], stages=only).fit(X, X[:, 0] / X[:, 1] ** 2).expression_)
    'q/r**2'
"""

from __future__ import annotations

import numpy as np  # noqa: F401  (doctest)

from physlens.probes.equations.budget import counted  # noqa: F401  (doctest)
from physlens.probes.equations.candidates import monomial_candidates
from physlens.probes.equations.stages.base import SearchState, StageBudget


class Monomial:
    """Append the fitted monomials ``c * prod x_j^p_j`` of the inputs (origin ``monomial``)."""

    name = "monomial"

    def run(self, state: SearchState, budget: StageBudget) -> None:
        """Append the monomial fits of the target in the inputs."""
        state.add(monomial_candidates(state.X, state.target, state.symbols), "monomial")
