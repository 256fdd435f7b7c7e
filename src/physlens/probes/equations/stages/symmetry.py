"""Pair-symmetry stage: AI Feynman's translation and scaling symmetries, read from the data.

AI Feynman (Udrescu & Tegmark 2020, Sci. Adv. 6, eaay2631) tests whether a law depends on
two inputs only through ``x_i - x_j``, ``x_i + x_j``, ``x_i * x_j`` or ``x_i / x_j``; then the
pair is one variable and the problem has one input fewer. Here the tests need no network:
the gradient of a polynomial surrogate first
(:func:`~physlens.probes.equations.separability.surrogate_pair_symmetries`, many inputs,
milliseconds), nearest neighbours when the polynomial does not describe the data
(:func:`~physlens.probes.equations.oracle.knn_pair_symmetries`, up to 6 inputs). With units
only sums and differences of like quantities are tried (products and ratios are what
dimensional analysis already groups). The reduced problem is searched by a sub-search
(same class and default stages, without the oracle and this stage) and its formulas are written back in the pair.

Example:
    >>> from physlens.probes.equations import EquationSearch, stages
    >>> rng = np.random.default_rng(0); X = rng.uniform(1, 3, (400, 3))
    >>> y = np.exp(-(X[:, 0] - X[:, 1]) ** 2) * X[:, 2]
    >>> only = [stages.PairSymmetry(), stages.Polish(), stages.Selection()]
    >>> with counted():
    ...     est = EquationSearch(time_limit=4, variable_names=["a", "b", "c"], stages=only).fit(X, y)
    >>> est.expression_, est.origin_
    (c*exp(-(a - b)**2), 'symmetry')
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from physlens.probes.equations import budget as B
from physlens.probes.equations.budget import counted  # noqa: F401  (doctest)
from physlens.probes.equations.stages.base import SearchState, StageBudget


class PairSymmetry:
    """Search the problem with a symmetric pair merged into one variable (3 to 12 inputs)."""

    name = "symmetry"

    def run(self, state: SearchState, budget: StageBudget) -> None:
        """Append the reduced problem's formulas, written back in the pair, as origin ``symmetry``."""
        est = state.search
        if not (est.symmetry and 3 <= state.X.shape[1] <= 12 and state.remaining() > 2):
            return
        state.add(self.candidates(state, budget.seconds), "symmetry")

    def candidates(self, state: SearchState, seconds: float) -> list[sp.Expr]:
        """The reduced problem's best formulas in the original variables ([] when no pair is symmetric)."""
        from physlens.data.units import dimension_vector
        from physlens.probes.equations.oracle import knn_pair_symmetries
        from physlens.probes.equations.separability import surrogate_pair_symmetries

        X, y, names, units, seed, tname = state.X, state.target, state.names, state.units, state.seed, state.tname
        parent = state.search
        t_end = B.now() + seconds
        d = X.shape[1]
        same = None
        if units is not None:
            dv = [dimension_vector(units[n], column=n) for n in names]
            same = np.array([[np.allclose(dv[i], dv[j]) for j in range(d)] for i in range(d)])
        syms = surrogate_pair_symmetries(X, y, same_kind=same)
        if not syms and d <= 6:
            syms = knn_pair_symmetries(X, y, same_kind=same, seed=seed, n=600)
        if units is not None:
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
        state.log(f"symmetry: {', '.join(f'{k}({names[i]}, {names[j]})' for k, i, j in pairs)}")
        try:
            est = type(parent)(time_limit=max(1.0, t_end - B.now()), units=sub_units or None,
                               variable_names=zn, target_name=tname, seed=seed,
                               max_complexity=parent.max_complexity, selection_tolerance=parent.selection_tolerance,
                               constant_tolerance=parent.constant_tolerance, oracle=False, symmetry=False,
                               scaling=getattr(parent, "scaling", True))
            est.fit(Z, y)
        except Exception:  # a degenerate reduced problem (e.g. a constant column): no candidates
            return []
        exprs = [est.expression_] + [c.expression for c in sorted(est.candidates_, key=lambda c: c.rmse)[:5]]
        return [e.xreplace(sub) for e in dict.fromkeys(exprs)]
