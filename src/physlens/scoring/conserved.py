"""Scoring of ``conserved`` findings against ``GroundTruth.conserved``.

A found conserved quantity C(x) is right when it is a function of the true
conserved quantities I_1..I_m (any function of invariants is invariant, so the
energy, 3 E + 1 or E^2 are all correct answers; Noether / first integrals). The test
is functional dependence: at random points x, the gradient of C must lie in the
span of the gradients of the I_k (tangent-space criterion, as in Liu & Tegmark 2021,
"Machine learning conservation laws from trajectories", PRL 126, 180604). Points are drawn
from a standard normal in every variable (points where an expression is not finite are
dropped); the relative least-squares residual |g_C - proj g_C| / |g_C|, median over the
points, must be below 1e-2 (which tolerates fitted float coefficients).

Finding value: a SymPy expression, or a dict with ``"expression"`` (SymPy, or text that
:func:`physlens.expressions.parse_expression` reads) in the dataset's variable names.
Gradients are differentiated by SymPy and evaluated by the project's safe tree walker
(:func:`physlens.probes.equations.simplify.evaluate`), never by ``lambdify``, which
generates and executes Python source that contains the variable names. The detail also names the single true quantity the finding
is a function of, when there is one (``conserved_names`` in ``truth.extra``).

**Complete lists.** ``truth.extra["conserved_complete"] = True`` says that every conserved function of the
system's inputs is a function of the listed ones; an empty list then says there is none (Lorenz and the
damped pendulum, both dissipative), and every conserved finding there is scored spurious (``match`` False,
``score_detail["reason"]``). Without the flag an empty list says nothing and the findings stay unscored
(``match`` None): Feynman laws, spin models and the like list no conserved quantities because none was
written down, not because none exists. A non-empty list is scored as before, a finding outside its span False.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from physlens.findings import Finding, GroundTruth, register_scorer

RESIDUAL_TOL = 1e-2
N_POINTS = 64


def _gradients(exprs: list[sp.Expr], names: list[str], points: np.ndarray) -> np.ndarray:
    """(len(exprs), n_points, len(names)) gradients, evaluated by name (symbol assumptions ignored).

    A derivative that cannot be evaluated (a function outside the safe evaluator) gives NaN,
    so its points are dropped.
    """
    from physlens.errors import ExpressionError
    from physlens.probes.equations.simplify import evaluate

    syms = [sp.Symbol(n, real=True) for n in names]
    cols = {n: points[:, j] for j, n in enumerate(names)}
    out = np.zeros((len(exprs), len(points), len(names)))
    for i, e in enumerate(exprs):
        e = e.xreplace({s: sp.Symbol(s.name, real=True) for s in e.free_symbols})
        for j, s in enumerate(syms):
            d = sp.diff(e, s)
            try:
                out[i, :, j] = evaluate(d, cols)
            except ExpressionError:
                out[i, :, j] = np.nan
    return out


def _as_expression(value) -> sp.Basic | None:
    """The SymPy expression of a finding's value (an expression, or a dict whose ``expression`` is one or text)."""
    from physlens.errors import ExpressionError
    from physlens.expressions import parse_expression

    expr = value.get("expression") if isinstance(value, dict) else value
    if isinstance(expr, str):
        try:
            return parse_expression(expr)
        except ExpressionError:
            return None
    return expr if isinstance(expr, sp.Basic) else None


def dependence_residual(found: sp.Expr, truth: list[sp.Expr], seed: int = 0) -> tuple[float, int]:
    """Median relative residual of grad(found) against span{grad(truth_k)}; and the number of points used.

    Example:
        >>> q, p = sp.symbols("q p", real=True)
        >>> round(dependence_residual((p**2 + q**2) ** 2, [p**2 / 2 + q**2 / 2])[0], 9)
        0.0
        >>> dependence_residual(p * q, [p**2 + q**2])[0] > 0.1
        True
    """
    names = sorted({s.name for e in [found, *truth] for s in e.free_symbols})
    if not names:
        return float("inf"), 0
    rng = np.random.default_rng(seed)
    points = rng.standard_normal((N_POINTS, len(names)))
    gf = _gradients([found], names, points)[0]
    gt = _gradients(list(truth), names, points)
    ok = np.isfinite(gf).all(axis=1) & np.isfinite(gt).all(axis=(0, 2))
    res = []
    for i in np.nonzero(ok)[0]:
        g = gf[i]
        norm = np.linalg.norm(g)
        if norm < 1e-12:
            continue
        A = gt[:, i, :].T  # (n_vars, m)
        coef, *_ = np.linalg.lstsq(A, g, rcond=None)
        res.append(np.linalg.norm(g - A @ coef) / norm)
    if not res:
        return float("inf"), 0
    return float(np.median(res)), len(res)


@register_scorer("conserved")
def score_conserved(findings: list[Finding], truth: GroundTruth) -> None:
    """Set ``match`` on every conserved-quantity finding (None when the truth lists none and is not complete).

    Example:
        >>> q, p = sp.symbols("q p", real=True)
        >>> truth = GroundTruth(conserved=[p**2 / 2 + q**2 / 2])
        >>> f = Finding("conserved", "energy", {"expression": 0.5001 * p**2 + 0.4999 * q**2})
        >>> score_conserved([f], truth); f.match
        True
        >>> g = Finding("conserved", "energy, as text", {"expression": "(p**2 + q**2)**2"})
        >>> score_conserved([g], truth); g.match
        True
        >>> h = Finding("conserved", "on a dissipative flow", {"expression": "p**2 + q**2"})
        >>> score_conserved([h], GroundTruth(extra={"conserved_complete": True})); h.match
        False
        >>> h.match = None; score_conserved([h], GroundTruth()); h.match is None
        True
    """
    if not truth.conserved:
        if truth.extra.get("conserved_complete"):
            for f in findings:
                f.match = False
                f.score_detail = {"reason": "the system conserves nothing (its truth says the empty list is complete)"}
        return
    names = list(truth.extra.get("conserved_names") or [])
    for f in findings:
        expr = _as_expression(f.value)
        if expr is None:
            continue
        if not expr.free_symbols:
            f.match = False
            f.score_detail = {"reason": "the expression is a constant"}
            continue
        residual, used = dependence_residual(expr, list(truth.conserved))
        detail: dict = {"residual": residual, "points": used, "tolerance": RESIDUAL_TOL}
        if used == 0:
            f.match = False
            detail["reason"] = "the expression could not be evaluated, or has zero gradient everywhere tested"
        else:
            f.match = residual < RESIDUAL_TOL
            singles = [dependence_residual(expr, [c])[0] for c in truth.conserved]
            best = int(np.argmin(singles))
            if singles[best] < RESIDUAL_TOL:
                detail["function_of"] = names[best] if best < len(names) else str(truth.conserved[best])
        f.score_detail = detail
