"""Scoring of ``interaction`` findings against the truth.

A finding says whether inputs ``a`` and ``b`` (or a group ``a, b, c``) act together in one
target. In the true equation ``f`` of that target (``GroundTruth.equations``) a pair
interacts exactly when the mixed partial ``∂²f/∂a∂b`` is not identically zero (a group:
the third mixed partial). "Identically" is checked symbolically first and then at random
points, so a derivative that SymPy leaves unsimplified but that vanishes everywhere still
counts as zero. An input that does not appear in the equation interacts with nothing.
A finding without a target is judged against the only equation when there is one;
otherwise (no equation for the target) it stays unscored.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from physlens.findings import Finding, GroundTruth, register_scorer


def mixed_partial_vanishes(expr: sp.Expr, names: list[str], points: int = 24, seed: int = 0) -> bool:
    """Whether ``∂^k expr / ∂names[0] … ∂names[-1]`` is identically zero (symbolically, else at random points).

    Example:
        >>> a, b, c = sp.symbols("a b c", real=True)
        >>> mixed_partial_vanishes(a * sp.cos(b) + c**2, ["a", "b"]), mixed_partial_vanishes(a * sp.cos(b) + c**2, ["a", "c"])
        (False, True)
        >>> mixed_partial_vanishes(sp.log(a * b), ["a", "b"])  # log(a b) = log a + log b
        True
    """
    by_name = {s.name: s for s in expr.free_symbols}
    if any(n not in by_name for n in names):
        return True
    d = expr
    for n in names:
        d = sp.diff(d, by_name[n])
    if d == 0:
        return True
    syms = sorted(d.free_symbols, key=lambda s: s.name)
    if not syms:
        return bool(abs(complex(d)) < 1e-12)
    try:
        fn = sp.lambdify(syms, d, "numpy")
        rng = np.random.default_rng(seed)
        with np.errstate(all="ignore"):
            vals = np.asarray([fn(*rng.uniform(0.5, 2.0, len(syms))) for _ in range(points)], dtype=complex)
    except Exception:  # an expression NumPy cannot evaluate: the symbolic verdict (non-zero) stands
        return False
    vals = vals[np.isfinite(vals)]
    if len(vals) == 0:
        return False
    scale = 1.0 + float(np.max(np.abs(vals)))
    return bool(np.max(np.abs(vals)) <= 1e-9 * scale)


def _equation(truth: GroundTruth, target: str | None):
    if target is not None and target in truth.equations:
        return truth.equations[target]
    if target is None and len(truth.equations) == 1:
        return next(iter(truth.equations.values()))
    return None


@register_scorer("interaction")
def score_interaction(findings: list[Finding], truth: GroundTruth) -> None:
    """A finding matches when its interacting/additive verdict agrees with the true equation's mixed partial.

    Example:
        >>> x1, x2, x3 = sp.symbols("x1 x2 x3", real=True)
        >>> truth = GroundTruth(equations={"y": x1 * x2**2 + x3})
        >>> f = Finding("interaction", "x1, x2 interact", {"variables": ["x1", "x2"], "interacting": True}, target="y")
        >>> g = Finding("interaction", "x2, x3 interact", {"variables": ["x2", "x3"], "interacting": True}, target="y")
        >>> score_interaction([f, g], truth); f.match, g.match
        (True, False)
    """
    cache: dict = {}
    for f in findings:
        value = f.value if isinstance(f.value, dict) else {}
        names = [str(v) for v in value.get("variables", [])]
        if len(names) < 2 or "interacting" not in value:
            continue
        expr = _equation(truth, f.target)
        if not isinstance(expr, sp.Basic):
            continue
        key = (f.target, tuple(sorted(names)))
        if key not in cache:
            try:
                cache[key] = not mixed_partial_vanishes(expr, sorted(names))
            except Exception:  # SymPy cannot differentiate it: no verdict
                cache[key] = None
        expected = cache[key]
        if expected is None:
            continue
        found = bool(value["interacting"])
        f.match = found == expected
        f.score_detail = {"expected_interacting": expected, "found_interacting": found,
                          "by": "mixed partial of the true equation"}
