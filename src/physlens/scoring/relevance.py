"""Scoring of ``relevant-variable`` findings against the truth.

A finding says whether one input matters for one target. When the truth has that
target's equation (``GroundTruth.equations[target]``), the input is relevant exactly
when its symbol appears in the equation: a multi-output law such as the Kepler field
(dx/dt = vx, dvx/dt = -x/r^3) has inputs that matter for one output and not for
another. Otherwise the verdict is compared with ``GroundTruth.relevant_inputs`` (the
inputs that matter for some target).
"""

from __future__ import annotations

import sympy as sp

from physlens.findings import Finding, GroundTruth, register_scorer


def _equation_symbols(truth: GroundTruth, target: str | None) -> set[str] | None:
    if target is None or target not in truth.equations:
        return None
    expr = truth.equations[target]
    if not isinstance(expr, sp.Basic):
        return None
    return {s.name for s in expr.free_symbols}


@register_scorer("relevant-variable")
def score_relevance(findings: list[Finding], truth: GroundTruth) -> None:
    """A finding matches when its relevant/irrelevant verdict agrees with the truth (per target where it can).

    Example:
        >>> f = Finding("relevant-variable", "x3 is irrelevant", {"variable": "x3", "relevant": False})
        >>> score_relevance([f], GroundTruth(relevant_inputs=["x1"])); f.match
        True
        >>> x, vx = sp.symbols("x vx")
        >>> g = Finding("relevant-variable", "x does not affect dx_dt", {"variable": "x", "relevant": False}, target="dx_dt")
        >>> score_relevance([g], GroundTruth(equations={"dx_dt": vx, "dvx_dt": -x}, relevant_inputs=["x", "vx"])); g.match
        True
    """
    for f in findings:
        value = f.value or {}
        name = value.get("variable")
        if name is None:
            continue
        symbols = _equation_symbols(truth, f.target)
        if symbols is not None:
            expected, by = name in symbols, "equation"
        elif truth.relevant_inputs is not None:
            expected, by = name in set(truth.relevant_inputs), "relevant inputs"
        else:
            continue
        f.match = bool(value.get("relevant")) == expected
        f.score_detail = {"expected_relevant": expected, "found_relevant": bool(value.get("relevant")), "by": by}
