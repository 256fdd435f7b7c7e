"""The equation search as composed stages (in the manner of PySINDy's library + optimiser).

Each stage is a small object with a ``name`` and ``run(state, budget)``
(:class:`~.base.Stage`); :class:`~physlens.probes.equations.EquationSearch` runs a list of
them on one :class:`~.base.SearchState`. The default list, in order:

====================  =====================================================================
``symmetry``          :class:`PairSymmetry`: AI Feynman's pair symmetries, from the data
``monomial``          :class:`Monomial`: power laws by log-linear least squares
``rational``          :class:`Rational`: sparse ratios of polynomials by implicit sparse regression
``separability``      :class:`Separability`: AI Feynman's product/sum splits, from the data
``scaling``           :class:`Scaling`: without units, the scalings the law keeps, searched as units
``dimensional``       :class:`Dimensional`: Buckingham pi groups, searched as above
``enumeration``       :class:`Enumeration`: brute-force expression enumeration, sums, rationals
``oracle``            :class:`Oracle`: neural-network separability (the interactions probe's test)
``dimension_filter``  :class:`DimensionFilter`: only dimensionally consistent formulas
``polish``            :class:`Polish`: constants refitted and rounded to closed forms
``simplify``          :class:`Simplify`: SymPy simplification of the front
``selection``         :class:`Selection`: Pareto front and the selection rule
====================  =====================================================================

The generators share the first part of the budget (``Shares.generators``, 75 %), the rest is
for polishing and selection; each stage's share is in
:class:`~physlens.probes.equations.budget.Shares`.

Example:
    Remove a stage, or add your own (a generator appends ``(expression, origin)`` pairs):

    >>> from physlens.probes.equations import EquationSearch
    >>> class Guess:
    ...     name = "guess"
    ...     def run(self, state, budget):
    ...         x0, x1 = state.symbols
    ...         state.add([x0 * x1], "my guess")
    >>> mine = [s for s in default_stages() if s.name != "oracle"]
    >>> mine.insert(0, Guess())
    >>> X = np.random.default_rng(0).uniform(1, 2, (100, 2))
    >>> est = EquationSearch(variable_names=["a", "b"], stages=mine, budget=SearchBudget.counts(200_000))
    >>> est.fit(X, X[:, 0] * X[:, 1]).origin_
    'my guess'
"""

from __future__ import annotations

import numpy as np  # noqa: F401  (doctest)

from physlens.probes.equations.budget import SearchBudget  # noqa: F401  (doctest)
from physlens.probes.equations.stages.base import Candidate, SearchState, Stage, StageBudget
from physlens.probes.equations.stages.cleaning import DimensionFilter, Simplify
from physlens.probes.equations.stages.dimensional import Dimensional
from physlens.probes.equations.stages.enumeration import Enumeration
from physlens.probes.equations.stages.monomial import Monomial
from physlens.probes.equations.stages.oracle import Oracle
from physlens.probes.equations.stages.polish import Polish
from physlens.probes.equations.stages.rational import Rational
from physlens.probes.equations.stages.scaling import Scaling
from physlens.probes.equations.stages.selection import Selection
from physlens.probes.equations.stages.separability import Separability
from physlens.probes.equations.stages.symmetry import PairSymmetry

__all__ = ["Candidate", "DimensionFilter", "Dimensional", "Enumeration", "Monomial", "Oracle", "PairSymmetry",
           "Polish", "Rational", "Scaling", "SearchState", "Selection", "Separability", "Simplify", "Stage", "StageBudget",
           "default_stages"]


def default_stages() -> list[Stage]:
    """A fresh list of the default stages, in order (see the module docstring).

    Example:
        >>> [s.name for s in default_stages()][:3]
        ['symmetry', 'monomial', 'rational']
    """
    return [PairSymmetry(), Monomial(), Rational(), Separability(), Scaling(), Dimensional(), Enumeration(), Oracle(),
            DimensionFilter(), Polish(), Simplify(), Selection()]
