"""Scorer for ``equation`` findings: symbolic equality with ``GroundTruth.equations[target]``.

A found formula matches the truth when SymPy proves the difference is zero or
the ratio is one, with floating-point constants compared to 1e-6 relative
(the criterion of the AI Feynman benchmark). Symbols are matched by name, and
the comparison is made with every variable assumed positive (physical
magnitudes; otherwise ``sqrt(x**2)`` and ``x`` would differ) and then, if that
fails, on random points as a numeric cross-check that never accepts on its own.
:func:`symbolically_equal` is the one function the Feynman benchmark also uses.

Laws whose coefficients are parameters (a damped pendulum's hidden ``k`` and ``b``,
or the per-trajectory ``c_omega_0`` that the dynamics probe fits for each trajectory)
cannot be compared as numbers: the truth's ``-b*omega`` and the finding's
``c_omega_0*omega`` are the same law with different names for an unknown constant.
Such laws are compared by STRUCTURE (:func:`structurally_equal`): both sides are
expanded into a sum of terms, each term split into a coefficient (numbers and
parameters) times a variable part, and the law matches when the two sets of
variable parts are the same and every coefficient without a parameter agrees to
the usual 1e-6. Per-trajectory parameter values are not compared (the truth does
not hold them). A symbol counts as a parameter when the finding lists it in
``value["parameters"]``, when it occurs on one side only and is not a known input
(the finding's ``value["state_names"]`` and ``value["input_names"]``, the truth's
``GroundTruth.relevant_inputs``), or when the truth names it in
``GroundTruth.extra["hidden_parameters"]`` and it is not observed as an input. A truth variable that the finding merely
missed is therefore never taken for a parameter where the truth lists its inputs.

A PDE read off fields (a finding with ``coefficients`` for a target the truth covers in
``extra["pde_coefficients"]``) is judged by :func:`physlens.scoring.fields.score_pde`: the same
terms, every coefficient within 1 % (an emulator's coefficients carry its error).
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
    from physlens.symbolic import SimplifyTimeout, time_limited

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
    from physlens.symbolic import evaluate

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


def _plain(expr: sp.Expr) -> sp.Expr:
    """The expression with every symbol replaced by an assumption-free one of the same name."""
    return expr.xreplace({s: sp.Symbol(s.name) for s in expr.free_symbols})


def _split_terms(expr: sp.Expr, params: set[str]) -> dict[sp.Expr, sp.Expr]:
    """Expanded ``expr`` as {variable part: coefficient}; the coefficient holds the numbers and parameters."""
    out: dict[sp.Expr, sp.Expr] = {}
    for term in sp.Add.make_args(sp.expand(expr)):
        coef, var = [], []
        for factor in sp.Mul.make_args(term):
            (coef if {s.name for s in factor.free_symbols} <= params else var).append(factor)
        key = sp.Mul(*var)
        out[key] = out.get(key, sp.Integer(0)) + sp.Mul(*coef)
    return {k: c for k, c in out.items() if c != 0}


def _has_parameter(coef: sp.Expr, params: set[str]) -> bool:
    return any(s.name in params for s in coef.free_symbols)


def _numbers_agree(a: sp.Expr, b: sp.Expr, rel: float) -> bool:
    try:
        va, vb = complex(a), complex(b)
    except TypeError:
        return False
    return abs(va - vb) <= rel * max(abs(vb), 1e-12)


def structurally_equal(
    found: sp.Expr, truth: sp.Expr, found_params: set[str], truth_params: set[str], rel: float = 1e-6
) -> tuple[bool, list[dict]]:
    """Whether two laws have the same terms up to their parameters; returns (equal, per-term record).

    Each side is expanded into terms ``coefficient * variable part``, where the coefficient
    gathers the numbers and the side's parameters. The laws are equal when their sets of
    variable parts agree (two parts that differ by a constant factor are the same part, the
    factor moving into the coefficient) and every pair of coefficients without parameters
    agrees within ``rel``. A truth parameter may be matched by a number (a fit of one
    trajectory) or by a found parameter; a found parameter where the truth has a constant is a
    different law.

    Example:
        >>> th, om, b, k, c0, c1 = sp.symbols("theta omega b k c_omega_0 c_omega_1")
        >>> ok, terms = structurally_equal(c0 * om + c1 * sp.sin(th), -b * om - k * sp.sin(th),
        ...                                {"c_omega_0", "c_omega_1"}, {"b", "k"})
        >>> ok, sorted(t["term"] for t in terms)
        (True, ['omega', 'sin(theta)'])
        >>> structurally_equal(c0 * om + c1 * sp.cos(th), -b * om - k * sp.sin(th),
        ...                    {"c_omega_0", "c_omega_1"}, {"b", "k"})[0]
        False
    """
    f_terms = _split_terms(_plain(found), found_params)
    t_terms = _split_terms(_plain(truth), truth_params)
    unmatched = dict(f_terms)
    records, ok = [], True
    for var, t_coef in t_terms.items():
        f_coef = unmatched.pop(var, None)
        if f_coef is None:  # the same part written differently (a constant factor apart)?
            for other in list(unmatched):
                ratio = sp.simplify(other / var) if var != 1 and other != 1 else None
                if ratio is not None and ratio.is_number and ratio != 0:
                    f_coef = unmatched.pop(other) * ratio
                    break
        rec = {"term": str(var), "found": None if f_coef is None else str(f_coef), "truth": str(t_coef)}
        if f_coef is None:
            rec["match"] = False
            rec["reason"] = "missing in the finding"
        elif _has_parameter(t_coef, truth_params):
            rec["match"] = True
        elif _has_parameter(f_coef, found_params):
            rec["match"] = False
            rec["reason"] = "a parameter where the truth has a constant"
        else:
            rec["match"] = _numbers_agree(f_coef, t_coef, rel)
            if not rec["match"]:
                rec["reason"] = "different constant"
        ok = ok and rec["match"]
        records.append(rec)
    for var, f_coef in unmatched.items():
        records.append({"term": str(var), "found": str(f_coef), "truth": None, "match": False,
                        "reason": "not in the truth"})
        ok = False
    return ok, records


def _parameters(expr: sp.Expr, truth_expr: sp.Expr, value: dict, truth: GroundTruth) -> tuple[set[str], set[str]]:
    """Names taken as parameters in the found and in the true expression (see the module docstring)."""
    f_names = {s.name for s in expr.free_symbols}
    t_names = {s.name for s in truth_expr.free_symbols}
    known_inputs = set(value.get("state_names") or []) | set(value.get("input_names") or [])
    known_inputs |= set(truth.relevant_inputs or [])
    found_params = (f_names & set(value.get("parameters") or {})) | (f_names - t_names - known_inputs)
    hidden = set((truth.extra or {}).get("hidden_parameters") or [])
    truth_params = ((t_names - f_names) | hidden) & (t_names - known_inputs)
    return found_params, truth_params


@register_scorer("equation")
def score_equations(findings: list[Finding], truth: GroundTruth) -> None:
    """Set ``match`` on each equation finding whose target has a true equation.

    Laws with parameters on either side are compared by structure (:func:`structurally_equal`).

    Example:
        >>> x = sp.Symbol("x", real=True)
        >>> f = Finding("equation", "y = 2*x", {"expression": 2 * x}, target="y")
        >>> score_equations([f], GroundTruth(equations={"y": 2 * x})); f.match
        True
        >>> th, om, b, k = sp.symbols("theta omega b k", real=True)
        >>> g = Finding("equation", "d(omega)/dt = ...", {"expression": "c_omega_0*omega + c_omega_1*sin(theta)",
        ...             "state_names": ["theta", "omega"]}, target="domega_dt")
        >>> score_equations([g], GroundTruth(equations={"domega_dt": -b * om - k * sp.sin(th)},
        ...                                  relevant_inputs=["theta", "omega"]))
        >>> g.match, g.score_detail["by"], g.score_detail["parameters_true"]
        (True, 'structure with parameters', ['b', 'k'])
    """
    from physlens.scoring.fields import is_pde_finding, score_pde

    for f in findings:
        if is_pde_finding(f, truth):  # a PDE read off fields: coefficients within 1 % (physlens.scoring.fields)
            score_pde(f, truth)
            continue
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
        truth_expr = truth.equations[target]
        found_params, truth_params = _parameters(expr, truth_expr, value, truth)
        if found_params or truth_params:
            ok, terms = structurally_equal(expr, truth_expr, found_params, truth_params)
            f.match = bool(ok)
            f.score_detail = {
                "by": "structure with parameters",
                "method": "same terms, parameters as coefficients",
                "terms": terms,
                "parameters_found": sorted(found_params),
                "parameters_true": sorted(truth_params),
                "truth": str(truth_expr),
            }
            continue
        ok, how = symbolically_equal(expr, truth_expr)
        f.match = bool(ok)
        f.score_detail = {"method": how, "truth": str(truth.equations[target])}
