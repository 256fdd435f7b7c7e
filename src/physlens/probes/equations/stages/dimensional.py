"""Dimensional-analysis stage: Buckingham pi reduction, and the units check every formula must pass.

When every column has a unit, ``y = f(x)`` becomes ``y = prefactor * g(pi groups)``
(Buckingham 1914; AI Feynman's first step): the prefactor carries the target's units and
``g`` is a law of fewer, dimensionless variables (:func:`~physlens.probes.equations.dimensional.pi_bases`).
For the few simplest bases, ``g`` is searched by a monomial fit, the separability split and
the enumeration. When the target's units cannot be formed from the inputs' units, one fitted
constant brings in the missing units (:func:`~physlens.probes.equations.dimensional.constant_reductions`).
:func:`prepare_units` also builds ``state.dim_check``: only dimensionally consistent formulas
are physical (the cleaning stage filters by it).

Example:
    >>> from physlens.probes.equations import EquationSearch, stages
    >>> X = np.random.default_rng(0).uniform(1, 3, (300, 4))
    >>> only = [stages.Dimensional(), stages.DimensionFilter(), stages.Polish(), stages.Selection()]
    >>> with counted():
    ...     est = EquationSearch(time_limit=4, variable_names=["m", "v", "h", "L"], units="m=kg,v=m/s,h=m,L=m,E=J",
    ...                          target_name="E", stages=only).fit(X, X[:, 0] * X[:, 1] ** 2 * np.exp(-X[:, 2] / X[:, 3]))
    >>> est.expression_, est.origin_.startswith("dimensional")
    (m*v**2*exp(-h/L), True)
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from physlens.probes.equations.budget import counted  # noqa: F401  (doctest)
from physlens.probes.equations.stages.base import SearchState, StageBudget
from physlens.probes.equations.stages.polish import split_constant


def prepare_units(state: SearchState) -> None:
    """Set ``state.reductions``, ``state.const_dims`` and ``state.dim_check`` from ``state.units``.

    Example:
        >>> X = np.random.default_rng(0).uniform(1, 2, (30, 2))
        >>> st = SearchState(search=None, X=X, target=X[:, 0] / X[:, 1], names=["x0", "x1"],
        ...                  units={"x0": "m", "x1": "s", "y": "m/s"})
        >>> prepare_units(st); st.dim_check(sp.Symbol("x0", real=True) * sp.Symbol("x1", real=True)) is None
        True
    """
    from physlens.data.units import dimension_vector, format_units
    from physlens.probes.equations.dimensional import (
        constant_reductions, expression_dimension, missing_dimensions, pi_bases,
    )

    units, names, tname, est = state.units, state.names, state.tname, state.search
    if units is None:
        return
    if missing_dimensions(units, names, units[tname], tname) is None:
        state.reductions = pi_bases(units, names, units[tname], tname, k=3)
    elif est is not None and not est.dimensional_constant:  # the error names the user's columns
        uu = state.user_units
        pi_bases(uu, list(est.feature_names_in_), uu[est.target_name], est.target_name)
    else:
        found = constant_reductions(units, names, units[tname], state.X, state.target, tname, k=3)
        state.reductions = [r for r, _ in found]
        for _, cu in found:
            state.log(f"units do not close: a fitted constant in {format_units(cu)}")
    dims = {n: dimension_vector(units[n], column=n) for n in names}
    want = dimension_vector(units[tname], column=tname)
    with_constant = missing_dimensions(units, names, units[tname], tname) is not None
    if with_constant:
        state.const_dims = (dims, want)
    cols = state.cols

    def dim_check(e):
        """``e`` (cleaned of numerically negligible parts) when consistent, else None.

        With a fitted dimensional constant, ``e`` must be that constant times a
        consistent formula of the inputs (one overall factor carries the units).
        """
        from physlens.probes.equations.stages.cleaning import drop_cancelling_constants, drop_negligible_terms

        def dim(ex):
            if with_constant:
                _, ex = split_constant(ex)
            return expression_dimension(ex, dims)

        d = dim(e)
        if d is None:  # a fitted sum may carry constants that cancel (-1.0*pi + 3.14159...)
            e = drop_negligible_terms(drop_cancelling_constants(e), cols)
            d = dim(e)
        if d is None:
            return None
        return e if with_constant or np.allclose(d, want, atol=1e-9) else None

    state.dim_check = dim_check


class Dimensional:
    """Search ``y / prefactor`` as a law of the pi groups, for each of the simplest bases."""

    name = "dimensional"

    def run(self, state: SearchState, budget: StageBudget) -> None:
        """Append ``prefactor * g(groups)`` formulas (origins ``dimensional``, ``dimensional+...``)."""
        from physlens.probes.equations.candidates import enumeration_candidates, monomial_candidates
        from physlens.probes.equations.rational import rational_candidates

        est, X, target, names, seed = state.search, state.X, state.target, state.names, state.seed
        reductions = state.reductions
        for bi, red in enumerate(reductions):
            if state.exact_found() or state.remaining() < 0.2:
                break
            pre_v, G = red.transform(X)
            pre_e = red.prefactor_expr()
            g_exprs = red.group_exprs()
            state.log(f"dimensional analysis: prefactor {state.user(pre_e)}, groups {[state.user(g) for g in g_exprs]}")
            if G.shape[1] == 0:
                C = float(pre_v @ target / (pre_v @ pre_v))
                state.add([sp.Float(C) * pre_e], "dimensional")
                continue
            zs = [sp.Symbol(f"_z{k}", real=True) for k in range(G.shape[1])]
            sub = dict(zip(zs, g_exprs))
            t = target / pre_v
            if np.ptp(t) <= 1e-12 * np.abs(t).max():
                state.add([sp.Float(float(np.mean(t))) * pre_e], "dimensional")
                continue
            state.add([pre_e * e.xreplace(sub) for e in monomial_candidates(G, t, zs)], "dimensional+monomial")
            if not state.exact_found():
                state.add([pre_e * e.xreplace(sub) for e in
                           rational_candidates(G, t, zs, seed=seed, max_seconds=0.05 * state.remaining())],
                          "dimensional+rational")
            if est.separability and G.shape[1] >= 2 and not state.exact_found() and state.remaining() > 1:
                from physlens.probes.equations.separability import separable_candidates

                gn = [f"g{k}" for k in range(G.shape[1])]  # internal names of the groups
                gsub = {sp.Symbol(nm, real=True): ge for nm, ge in zip(gn, g_exprs)}
                state.add([pre_e * e.xreplace(gsub) for e in
                           separable_candidates(G, t, gn, state.remaining() * 0.4, seed, est)],
                          "dimensional+separability")
            if not state.exact_found():
                share = (0.6 if G.shape[1] < len(names) else 0.4) * (0.6 if bi == 0 else 0.5)
                if len(reductions) == 1:
                    share /= 0.6
                seconds = state.remaining() * share
                # (t = y/prefactor: a row's noise is the noise of y over its prefactor)
                state.add([pre_e * e.xreplace(sub) for e in
                           enumeration_candidates(G, t, zs, seconds, seed, est.max_complexity, weights=pre_v**2)],
                          "dimensional+enumeration")
