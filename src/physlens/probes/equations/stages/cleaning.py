"""Cleaning stages: the units check before polishing, SymPy simplification of the front after it.

- :class:`DimensionFilter` keeps the generated formulas that are dimensionally consistent
  (with units; PySR's and AI Feynman's dimensional constraint as a hard filter), after dropping
  numerically negligible terms and numbers that cancel (a fitted ``-1.0*pi + 3.14159...``);
- :class:`Simplify` rewrites the Pareto front's formulas in their simplest SymPy form
  (:func:`~physlens.probes.equations.simplify.tidy`, time-bounded), the selected one first,
  keeping a rewrite only when it fits no worse.

Example:
    >>> from physlens.probes.equations import EquationSearch, stages
    >>> X = np.random.default_rng(0).uniform(1, 2, (200, 2))
    >>> only = [stages.Enumeration(), stages.Polish(), stages.Simplify(), stages.Selection()]
    >>> with counted():
    ...     str(EquationSearch(time_limit=3, variable_names=["a", "b"], stages=only).fit(X, X[:, 0] / X[:, 1] + 1).expression_)
    'a/b + 1'
"""

from __future__ import annotations

import math

import numpy as np
import sympy as sp

from physlens.probes.equations import budget as B
from physlens.probes.equations import simplify as S
from physlens.probes.equations.budget import counted  # noqa: F401  (doctest)
from physlens.probes.equations.stages.base import SearchState, StageBudget
from physlens.probes.equations.stages.selection import pareto_front, select, statistical_tie


def drop_cancelling_constants(expr: sp.Expr) -> sp.Expr:
    """Remove the numbers of every sum whose numeric terms cancel (to 1e-9 of their size).

    Example:
        >>> x = sp.Symbol("x")
        >>> drop_cancelling_constants(1 / (x**2 - 1.0 * sp.pi + 3.14159265358979))
        x**(-2)
    """
    def clean(e):
        num = [a for a in e.args if a.is_number]
        if len(num) < 1 or len(num) == len(e.args):
            return e
        try:
            total, size = abs(float(sp.Add(*num))), max(abs(float(a)) for a in num)
        except (TypeError, ValueError):
            return e
        if total <= 1e-9 * size or total < 1e-12:  # (the caller re-scores the result on the data)
            return sp.Add(*[a for a in e.args if not a.is_number])
        return e

    return expr.replace(lambda e: e.is_Add, clean)


def drop_negligible_terms(expr: sp.Expr, cols: dict[str, np.ndarray], rel: float = 1e-10) -> sp.Expr:
    """Remove the terms of every sum that are below ``rel`` of the sum's largest term on the data.

    Example:
        >>> x = sp.Symbol("x")
        >>> drop_negligible_terms(x**2 + 2.3e-16 * x, {"x": np.linspace(1, 2, 5)})
        x**2
    """
    def clean(e):
        try:
            vals = [np.max(np.abs(S.evaluate(a, cols))) for a in e.args]
        except Exception:  # a term that cannot be evaluated: keep the sum as it is
            return e
        top = max(vals)
        if not np.isfinite(top) or top == 0:
            return e
        keep = [a for a, v in zip(e.args, vals) if v > rel * top]
        return sp.Add(*keep) if len(keep) < len(e.args) else e

    return expr.replace(lambda e: e.is_Add, clean)


class DimensionFilter:
    """With units, keep only the dimensionally consistent formulas of ``state.raw`` (all, if none is)."""

    name = "dimension_filter"

    def run(self, state: SearchState, budget: StageBudget) -> None:
        """Replace ``state.raw`` by its consistent (cleaned) formulas."""
        state.log(f"polishing {len(state.raw)} candidates")
        if state.dim_check is None:
            return
        ok = []
        for e, o in state.raw:
            ce = state.dim_check(e)
            if ce is not None:
                ok.append((ce, o))
        state.raw = ok or state.raw


class Simplify:
    """SymPy simplification of the Pareto front, the formula that selection would pick first."""

    name = "simplify"

    def run(self, state: SearchState, budget: StageBudget) -> None:
        """Rewrite the front's candidates in place while the budget lasts (the first one always)."""
        est, cols, y = state.search, state.cols, state.target
        out = state.candidates
        if not out:
            return
        floor = 1e-10 * state.scale
        positive = frozenset(k for k, v in cols.items() if np.all(v > 0))
        front = pareto_front(out, tie=statistical_tie(len(y)))
        first = select(front, est.selection_tolerance, state.scale)
        order = [first] + [c for c in reversed(front) if c is not first]
        for j, c in enumerate(order):
            if B.now() > state.final_deadline - (0.0 if j == 0 else 0.05 * est._limit):
                break
            try:
                te = S.tidy(c.expression, positive=positive, timeout=est._sympy_limit())
            except Exception:  # keep the unsimplified formula
                continue
            finally:
                B.tick(1, "simplify")
            terr = S.rmse(te, cols, y)
            if math.isfinite(terr) and terr <= c.rmse * (1 + 1e-6) + floor:
                c.expression, c.complexity, c.rmse = te, S.complexity(te), terr
