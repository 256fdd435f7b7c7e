"""Naming a fitted dimensional constant: which CODATA constant (with which factor and power) it is.

When the units of a law do not close, :class:`~physlens.probes.equations.search.EquationSearch`
fits one dimensional constant ``C`` (Kepler's third law, ``T = C a^{3/2} / sqrt(M)``, has
``C = 2 pi / sqrt(G)``). :func:`name_constant` compares ``C`` with ``r * K**p`` for every
constant ``K`` of :data:`CODATA` whose units, raised to ``p`` in ``(1, -1, 2, -2, 1/2, -1/2)``,
are exactly the units of ``C``, and small factors ``r`` (rationals up to 4, times or divided
by ``pi``, ``2 pi``, ``4 pi``). A form is accepted when the value of ``K`` it implies is
within 1 % of CODATA's; among those the simplest factor wins. A constant without a
unit-matching entry is never named: without the units, a number within 1 % of some form
of some constant means nothing.

Values: CODATA 2018 (exact SI values for h, e, k_B, N_A, c since the 2019 redefinition).
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import sympy as sp

from physlens.data.units import dimension_vector

__all__ = ["CODATA", "name_constant"]

# name: (value in SI units, units)
CODATA: dict[str, tuple[float, str]] = {
    "G": (6.67430e-11, "m^3/(kg*s^2)"),
    "c": (299792458.0, "m/s"),
    "h": (6.62607015e-34, "J*s"),
    "hbar": (1.054571817e-34, "J*s"),
    "k_B": (1.380649e-23, "J/K"),
    "e": (1.602176634e-19, "C"),
    "epsilon_0": (8.8541878128e-12, "F/m"),
    "mu_0": (1.25663706212e-6, "N/A^2"),
    "m_e": (9.1093837015e-31, "kg"),
    "m_p": (1.67262192369e-27, "kg"),
    "N_A": (6.02214076e23, "1/mol"),
    "sigma_SB": (5.670374419e-8, "W/(m^2*K^4)"),
    "g_n": (9.80665, "m/s^2"),
}
_POWERS = (Fraction(1), Fraction(-1), Fraction(2), Fraction(-2), Fraction(1, 2), Fraction(-1, 2))
_RATIONALS = sorted({Fraction(a, b) for a in range(1, 5) for b in range(1, 5)},
                    key=lambda f: (math.log2(f.numerator + 1) + math.log2(f.denominator + 1), f))
_PI_FACTORS = ((sp.Integer(1), 0.0), (sp.pi, 1.0), (2 * sp.pi, 1.0), (4 * sp.pi, 1.0),
               (1 / sp.pi, 1.0), (1 / (2 * sp.pi), 1.0), (1 / (4 * sp.pi), 1.0))


def name_constant(value: float, units_vector, tolerance: float = 0.01) -> dict | None:
    """The simplest ``r * K**p`` (``K`` a CODATA constant with matching units) within ``tolerance`` of ``value``.

    The tolerance applies to ``K``: the fitted value implies ``K = (value / r)**(1/p)``,
    which must be within ``tolerance`` (relative) of CODATA's. Returns None when no form
    matches, else ``{"name", "expression" (text, e.g. "2*pi/sqrt(G)"), "form" (SymPy, in the
    symbol ``K`` named so), "value" (the CODATA form's value), "implied" (``K`` implied by
    the fit), "relative_error"}``.

    Example:
        >>> m = name_constant(2 * math.pi / math.sqrt(6.70e-11), dimension_vector("s*kg^0.5/m^1.5"))
        >>> m["name"], m["expression"], round(m["relative_error"], 4)
        ('G', '2*pi/sqrt(G)', 0.0039)
        >>> name_constant(1.0, dimension_vector("m/s")) is None
        True
    """
    if not (math.isfinite(value) and value != 0):
        return None
    u = np.asarray(units_vector, dtype=float)
    best = None
    for name, (k_val, k_units) in CODATA.items():
        kv = dimension_vector(k_units)
        for p in _POWERS:
            if not np.allclose(float(p) * kv, u, atol=1e-9):
                continue
            for qi, q in enumerate(_RATIONALS):
                for pf, pcost in _PI_FACTORS:
                    for sign in (1, -1):
                        r = sign * float(q) * float(pf)
                        ratio = value / r
                        if ratio <= 0:
                            continue
                        implied = ratio ** (1.0 / float(p))
                        err = abs(implied / k_val - 1.0)
                        if err > tolerance:
                            continue
                        cost = math.log2(q.numerator + 1) + math.log2(q.denominator + 1) + pcost + (p.denominator - 1)
                        if best is None or (cost, err) < (best[0], best[1]):
                            best = (cost, err, name, sign * sp.Rational(q.numerator, q.denominator) * pf, p, implied)
    if best is None:
        return None
    _, err, name, r, p, implied = best
    K = sp.Symbol(name, positive=True)
    form = r * K ** sp.Rational(p.numerator, p.denominator)
    return {
        "name": name,
        "expression": sp.sstr(form),
        "form": form,
        "value": float(form.subs(K, CODATA[name][0])),
        "implied": float(implied),
        "relative_error": float(err),
    }


def describe_constant(est, X: np.ndarray, y: np.ndarray) -> None:
    """Set ``est.constant_`` (and the named law) when the selected law carries a fitted dimensional constant.

    ``est`` is a fitted :class:`~physlens.probes.equations.EquationSearch`; without a fitted
    dimensional constant every attribute is None.

    Example:
        >>> from types import SimpleNamespace
        >>> est = SimpleNamespace(_const_dims=None); describe_constant(est, None, None); est.constant_ is None
        True
    """
    from physlens.data.units import format_units
    from physlens.expressions import expression_to_latex
    from physlens.probes.equations import simplify as S
    from physlens.probes.equations.dimensional import expression_dimension
    from physlens.probes.equations.stages.polish import split_constant

    est.constant_ = est.named_expression_ = est.named_latex_ = est.named_symbolic_ = None
    if est._const_dims is None:
        return
    dims, want = est._const_dims
    C, h = split_constant(est._internal_expression)
    d = expression_dimension(h, dims)
    if d is None or not C.is_number or not h.free_symbols:
        return
    try:
        value = float(C)
    except (TypeError, ValueError):
        return
    c_units = np.where(np.abs(want - d) < 1e-12, 0.0, want - d)
    match = name_constant(value, c_units)
    est.constant_ = {
        "value": value,
        "units": format_units(c_units),
        "name": match["name"] if match else None,
        "expression": match["expression"] if match else None,
        "relative_error": match["relative_error"] if match else None,
        "implied": match["implied"] if match else None,
    }
    if match is None:
        return
    hu = est._user(h)
    K = match["form"].free_symbols.pop()
    law = match["form"].subs(K, sp.Float(CODATA[match["name"]][0], 15)) * hu
    cols = {n: X[:, j] for j, n in enumerate(est.feature_names_in_)}
    err = S.rmse(law, cols, y)
    if not math.isfinite(err):
        return
    est.named_expression_ = law
    est.constant_["rmse"] = float(err)
    clash = match["name"] in set(est.feature_names_in_)  # the symbol would read as a column
    est.named_latex_ = None if clash else expression_to_latex(match["form"] * hu)
    est.named_symbolic_ = None if clash else match["form"] * hu
