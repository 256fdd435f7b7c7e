"""Scoring of ``relevant-variable`` findings against the truth.

A finding says whether one input matters for one target.

* When the truth has that target's equation (``GroundTruth.equations[target]``), the
  input is relevant exactly when the equation depends on it: its symbol appears and the
  derivative with respect to it is not identically zero (checked at random points: an
  n-body acceleration written as F_i/m_i keeps the symbol m_i although it cancels). A
  multi-output law such as the Kepler field (dx/dt = vx, dvx/dt = -x/r^3) has inputs
  that matter for one output and not for another.
* Otherwise ``GroundTruth.relevant_inputs`` lists the inputs that matter for *some*
  target. With one target that is the answer. With several, "x affects T" is judged
  by the list, but "x does not affect T" for an x on the list cannot be judged (x may
  matter for another target only) and stays unscored.
* ``GroundTruth.extra["redundant_inputs"]`` names inputs that carry the same information
  (repeated observations of one curve, from which a network may read its latents through any
  subset): "x does not affect T" for one of them stays unscored; "x affects T" is judged.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from physlens.findings import Finding, GroundTruth, register_scorer


def _depends(expr: sp.Expr, sym: sp.Symbol, points: int = 16, seed: int = 0) -> bool:
    """Does ``expr`` change with ``sym``? (derivative non-zero at some random point; symbol presence if unsure)"""
    try:
        d = sp.diff(expr, sym)
        if d == 0:
            return False
        syms = sorted(expr.free_symbols, key=lambda s: s.name)
        f = sp.lambdify(syms, d, "numpy")
        rng = np.random.default_rng(seed)
        with np.errstate(all="ignore"):
            vals = np.asarray([f(*rng.uniform(0.5, 2.0, len(syms))) for _ in range(points)], dtype=complex)
        vals = vals[np.isfinite(vals)]
        if len(vals) == 0:
            return True
        return bool(np.max(np.abs(vals)) > 1e-9)
    except Exception:  # an expression SymPy cannot differentiate or evaluate: go by the symbol
        return True


def _equation_inputs(truth: GroundTruth, target: str | None, cache: dict) -> set[str] | None:
    if target is None or target not in truth.equations:
        return None
    if target not in cache:
        expr = truth.equations[target]
        if not isinstance(expr, sp.Basic):
            cache[target] = None
        else:
            cache[target] = {s.name for s in expr.free_symbols if _depends(expr, s)}
    return cache[target]


@register_scorer("relevant-variable")
def score_relevance(findings: list[Finding], truth: GroundTruth) -> None:
    """A finding matches when its relevant/irrelevant verdict agrees with the truth (per target where it can).

    Example:
        >>> f = Finding("relevant-variable", "x3 is irrelevant", {"variable": "x3", "relevant": False})
        >>> score_relevance([f], GroundTruth(relevant_inputs=["x1"])); f.match
        True
        >>> x, vx, m = sp.symbols("x vx m")
        >>> g = Finding("relevant-variable", "x does not affect dx_dt", {"variable": "x", "relevant": False}, target="dx_dt")
        >>> h = Finding("relevant-variable", "m does not affect a", {"variable": "m", "relevant": False}, target="a")
        >>> score_relevance([g, h], GroundTruth(equations={"dx_dt": vx, "a": -m * x / m}, relevant_inputs=["x", "vx"]))
        >>> g.match, h.match
        (True, True)
    """
    targets = {f.target for f in findings if f.target is not None}
    cache: dict = {}
    for f in findings:
        value = f.value or {}
        name = value.get("variable")
        if name is None:
            continue
        found = bool(value.get("relevant"))
        if not found and name in set((truth.extra or {}).get("redundant_inputs") or []):
            # samples of one curve that each carry the same latents: any subset answers, so the truth
            # cannot say that this one must be read (SciNet's 50 observations of an oscillation)
            f.match = None
            f.score_detail = {"expected_relevant": None, "found_relevant": False, "by": "redundant inputs",
                              "reason": f"{name} is one of several redundant observations: a network may read the "
                                        "same information from the others"}
            continue
        inputs = _equation_inputs(truth, f.target, cache)
        if inputs is not None:
            expected, by = name in inputs, "equation"
        elif truth.relevant_inputs is not None:
            expected, by = name in set(truth.relevant_inputs), "relevant inputs"
            if len(targets) > 1 and expected and not found:
                f.match = None
                f.score_detail = {"expected_relevant": None, "found_relevant": False, "by": by,
                                  "reason": "the truth lists inputs for all targets together: it cannot say whether "
                                            f"{name} matters for this one"}
                continue
        else:
            continue
        f.match = found == expected
        f.score_detail = {"expected_relevant": expected, "found_relevant": found, "by": by}
