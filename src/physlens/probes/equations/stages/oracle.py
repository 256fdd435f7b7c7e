"""Oracle stage: AI Feynman's neural-network separability, decided by the interactions probe's test.

A smooth network ``f_NN`` is fitted to the data (:func:`~physlens.probes.equations.oracle.fit_oracle`);
the inputs split into groups between which ``f_NN`` is additive (``f = g(x_A) + h(x_B)``) or, in
``log|f|``, multiplicative (Udrescu & Tegmark 2020). Whether two inputs interact is the
``interactions`` probe's question, answered with its public estimator
(:func:`physlens.probes.interactions.pair_interactions`: the superset importance
``E[(Δ_ab f)²]/4`` of the pair, Liu & Owen 2006) and its one decision rule,
:func:`physlens.probes.interactions.pair_verdicts` (here the plain two-standard-error test:
interacting when the importance, less two standard errors, exceeds half the network's own mean
squared error).
Each group is searched on the network's values with the others held at their medians, and the
pieces are recombined with constants refitted on the data
(:func:`~physlens.probes.equations.oracle.oracle_candidates`).

Example:
    >>> from physlens.probes.equations import EquationSearch, stages
    >>> [s.name for s in stages.default_stages()].index("oracle") > [s.name for s in stages.default_stages()].index("enumeration")
    True
"""

from __future__ import annotations

from physlens.probes.equations.stages.base import SearchState, StageBudget
from physlens.probes.equations.stages.enumeration import oracle_follows


class Oracle:
    """Append the recombined laws of the oracle's splits (origin ``oracle``); runs after the enumeration."""

    name = "oracle"

    def run(self, state: SearchState, budget: StageBudget) -> None:
        """Train the oracle and search its pieces, leaving the polishing its reserve."""
        use = state.flags["oracle"] if "oracle" in state.flags else (
            not state.exact_found() and state.remaining() > 0.5 and oracle_follows(state))
        if not use or state.exact_found() or state.remaining() <= 5:
            return
        from physlens.probes.equations.oracle import oracle_candidates

        stop = state.deadline - state.search._shares.oracle_reserve * state.remaining()
        state.add(oracle_candidates(state.X, state.target, state.names, stop, state.seed, state.search,
                                    model=state.flags.get("oracle_model")), "oracle")
