"""Scorer for ``equation`` findings: symbolic equality with ``GroundTruth.equations[target]``.

A found formula matches the truth when SymPy proves the difference is zero or
the ratio is one, with floating-point constants compared to 1e-6 relative
(the criterion of the AI Feynman benchmark). Symbols are matched by name, and
the comparison is made with every variable assumed positive (physical
magnitudes; otherwise ``sqrt(x**2)`` and ``x`` would differ) and then, if that
fails, on random points as a numeric cross-check that never accepts on its own.
:func:`symbolically_equal` is the one function the Feynman benchmark also uses.
"""

from __future__ import annotations

import math

import numpy as np
import sympy as sp

from physlens.findings import Finding, GroundTruth, register_scorer


def _positive(expr: sp.Expr, names: set[str]) -> sp.Expr:
    return expr.xreplace({s: sp.Symbol(s.name, positive=True) for s in expr.free_symbols if s.name in names})


def _zero_with_floats(expr: sp.Expr, rel: float) -> bool:
    """True when ``expr`` is a number within ``rel`` of zero, or simplifies to 0 after rounding floats."""
    if expr == 0:
        return True
    if expr.is_number:
        try:
            return abs(complex(expr)) <= rel
        except TypeError:
            return False
    return False


def symbolically_equal(found: sp.Expr, truth: sp.Expr, rel: float = 1e-6, timeout: float = 20.0) -> tuple[bool, str]:
    """Whether ``found`` equals ``truth`` symbolically (constants within ``rel``); returns (equal, how).

    SymPy is given ``timeout`` seconds (main thread); a proof that does not finish counts as not equal.

    Example:
        >>> q, r = sp.symbols("q r", real=True)
        >>> symbolically_equal(0.0795774715459477 * q / r**2, q / (4 * sp.pi * r**2))
        (True, 'ratio')
    """
    from physlens.probes.equations.simplify import SimplifyTimeout, time_limited

    try:
        return time_limited(_symbolically_equal, timeout, found, truth, rel)
    except SimplifyTimeout:
        return False, f"sympy did not finish in {timeout:g} s"


def _symbolically_equal(found: sp.Expr, truth: sp.Expr, rel: float = 1e-6) -> tuple[bool, str]:
    """Whether ``found`` equals ``truth`` symbolically (constants within ``rel``); returns (equal, how).

    Example:
        >>> q, r = sp.symbols("q r", real=True)
        >>> symbolically_equal(0.0795774715459477 * q / r**2, q / (4 * sp.pi * r**2))
        (True, 'ratio')
        >>> symbolically_equal(q / r, q / r**2)[0]
        False
    """
    names = {s.name for s in found.free_symbols | truth.free_symbols}
    f, t = _positive(found, names), _positive(truth, names)
    if f.free_symbols != t.free_symbols:
        missing = sorted(s.name for s in t.free_symbols - f.free_symbols)
        extra = sorted(s.name for s in f.free_symbols - t.free_symbols)
        return False, f"different variables (missing {missing}, extra {extra})"
    try:
        # cheap numeric screen first: SymPy is only asked to prove what is numerically true
        if not numerically_close(found, truth, rel=1e-4):
            return False, "numerically different"
        diff = sp.simplify(f - t)
        if diff == 0:
            return True, "difference"
        ratio = sp.simplify(f / t)
        if ratio.is_number:
            try:
                if abs(complex(ratio) - 1) <= rel:
                    return True, "ratio"
            except TypeError:
                pass
        # equal up to a sign branch that SymPy cannot settle (sqrt((c+v)/(c-v)) vs (1+v/c)/sqrt(1-v**2/c**2)):
        # the squared ratio is exactly 1 and the numeric check above fixed the sign
        if sp.simplify(sp.together(ratio**2) - 1) == 0:
            return True, "squared ratio"
        hyper = f.rewrite(sp.exp) if f.has(sp.tanh, sp.sinh, sp.cosh) else None
        if hyper is not None and sp.simplify(sp.together(hyper / t) ** 2 - 1) == 0:
            return True, "squared ratio (hyperbolic functions rewritten)"
        if diff.is_number and _zero_with_floats(diff, rel * max(1.0, _magnitude(t))):
            return True, "difference"
        # floats that survive simplification: nsimplify the found constants, then try again
        if found.atoms(sp.Float):
            g = _positive(_nsimplify_floats(found, rel), names)
            if sp.simplify(g - t) == 0:
                return True, "difference (constants within tolerance)"
            rr = sp.simplify(g / t)
            if rr.is_number and abs(complex(rr) - 1) <= rel:
                return True, "ratio (constants within tolerance)"
    except Exception as exc:  # SymPy can raise on exotic expressions; report and fail closed
        if type(exc).__name__ == "SimplifyTimeout":
            raise
        return False, f"sympy failed: {type(exc).__name__}"
    return False, "not equal"


def _magnitude(e: sp.Expr) -> float:
    try:
        v = abs(complex(e.subs({s: 1.5 for s in e.free_symbols})))
        return v if math.isfinite(v) and v > 0 else 1.0
    except (TypeError, ValueError):
        return 1.0


def _nsimplify_floats(expr: sp.Expr, rel: float) -> sp.Expr:
    rep = {}
    for fl in expr.atoms(sp.Float):
        v = float(fl)
        cand = sp.nsimplify(v, [sp.pi], tolerance=rel * max(abs(v), 1e-300), rational=False)
        if cand.is_number and abs(float(cand) - v) <= rel * abs(v):
            rep[fl] = cand
    return expr.xreplace(rep)


def numerically_close(found: sp.Expr, truth: sp.Expr, n: int = 50, rel: float = 1e-6, seed: int = 0) -> bool:
    """Numeric cross-check on random positive points (used only as evidence, never to accept).

    The points are drawn from [1, 3]; where neither formula is defined on any of them
    (``1/sqrt(1 - z**2)``) from [0.1, 0.9], then [0.01, 0.1]. Formulas defined nowhere on
    those points are not told apart here (the symbolic test decides).

    Example:
        >>> x = sp.Symbol("x", real=True)
        >>> numerically_close(sp.sin(x) ** 2 + sp.cos(x) ** 2, sp.Integer(1))
        True
        >>> numerically_close(1 / sp.sqrt(1 - x**2), sp.sqrt(1 - x**2)), numerically_close(1 / sp.sqrt(1 - x**2), 1 / sp.sqrt(1 - x**2))
        (False, True)
    """
    from physlens.probes.equations.simplify import evaluate

    names = sorted({s.name for s in found.free_symbols | truth.free_symbols})
    rng = np.random.default_rng(seed)
    for low, high in ((1.0, 3.0), (0.1, 0.9), (0.01, 0.1)):
        cols = {k: rng.uniform(low, high, n) for k in names} or {"_": np.zeros(n)}
        with np.errstate(all="ignore"):
            a, b = evaluate(found, cols), evaluate(truth, cols)
        fa, fb = np.isfinite(a), np.isfinite(b)
        if not (fa.any() or fb.any()):
            continue
        ok = fa & fb
        return bool(ok.any() and np.all(np.abs(a[ok] - b[ok]) <= rel * (np.abs(b[ok]) + 1e-12)))
    return True


@register_scorer("equation")
def score_equations(findings: list[Finding], truth: GroundTruth) -> None:
    """Set ``match`` on each equation finding whose target has a true equation.

    Example:
        >>> x = sp.Symbol("x", real=True)
        >>> f = Finding("equation", "y = 2*x", {"expression": 2 * x}, target="y")
        >>> score_equations([f], GroundTruth(equations={"y": 2 * x})); f.match
        True
    """
    for f in findings:
        target = f.target or (f.value or {}).get("target")
        if not truth.equations or target not in truth.equations:
            f.match = None
            continue
        value = f.value if isinstance(f.value, dict) else {"expression": f.value}
        expr = value.get("expression")
        if isinstance(expr, str):
            from physlens.expressions import parse_expression

            expr = parse_expression(expr)
        if not isinstance(expr, sp.Basic):
            f.match, f.score_detail = False, {"reason": "finding has no expression"}
            continue
        ok, how = symbolically_equal(expr, truth.equations[target])
        f.match = bool(ok)
        f.score_detail = {"method": how, "truth": str(truth.equations[target])}
