"""Physical units: parse a unit spec with pint into SI dimension vectors.

``parse_units_spec("F=N,eta=Pa*s,r=m,v=m/s")`` gives ``{"F": "N", ...}`` after
checking every unit parses; :func:`dimension_vector` turns a unit into
exponents of the SI base dimensions :data:`SI_BASE`, which the equation engine
uses for dimensional analysis (Buckingham pi); :func:`format_units` writes a vector
back as pint-readable text (the units of a fitted dimensional constant).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from physlens.errors import DataError

SI_BASE = ("m", "s", "kg", "K", "A", "mol", "cd")
_PINT_DIMS = ("[length]", "[time]", "[mass]", "[temperature]", "[current]", "[substance]", "[luminosity]")


@lru_cache(maxsize=1)
def _registry():
    import pint

    return pint.UnitRegistry()


def dimension_vector(unit: str, column: str | None = None) -> np.ndarray:
    """Exponents of (m, s, kg, K, A, mol, cd) for ``unit``; ``""``/``"1"`` is dimensionless.

    Example:
        >>> dimension_vector("N").tolist()
        [1.0, -2.0, 1.0, 0.0, 0.0, 0.0, 0.0]
    """
    text = (unit or "").strip()
    if text in ("", "1", "dimensionless", "-"):
        return np.zeros(len(SI_BASE))
    where = f" for column {column!r}" if column else ""
    try:
        q = _registry().parse_expression(text)
    except Exception:
        raise DataError(f"unknown unit {text!r}{where}") from None
    dims = getattr(q, "dimensionality", None)
    if dims is None:  # a bare number
        return np.zeros(len(SI_BASE))
    unknown = [d for d in dims if d not in _PINT_DIMS]
    if unknown:
        raise DataError(f"unit {text!r}{where} has dimensions outside SI base units: {unknown}")
    return np.array([float(dims.get(d, 0)) for d in _PINT_DIMS])


def parse_units_spec(spec: str | dict | None, columns: list[str] | None = None) -> dict[str, str]:
    """Parse ``"F=N,eta=Pa*s"`` (or a dict) into ``{column: unit}``, validating every unit.

    Example:
        >>> parse_units_spec("F=N, v=m/s")
        {'F': 'N', 'v': 'm/s'}
    """
    if spec is None or spec == "":
        return {}
    if isinstance(spec, dict):
        items = list(spec.items())
    else:
        items = []
        for part in str(spec).split(","):
            part = part.strip()
            if not part:
                continue
            if "=" not in part:
                raise DataError(f"unit spec {part!r} must look like COLUMN=UNIT (e.g. 'v=m/s')")
            name, unit = part.split("=", 1)
            items.append((name.strip(), unit.strip()))
    out: dict[str, str] = {}
    for name, unit in items:
        if columns is not None and name not in columns:
            raise DataError(f"units given for column {name!r}, which is not in the data (columns: {', '.join(columns)})")
        dimension_vector(unit, column=name)
        out[name] = unit
    return out


def _exponent_text(e: float) -> str:
    from fractions import Fraction

    f = Fraction(e).limit_denominator(12)
    if f.denominator == 1:
        return str(f.numerator)
    if f.denominator in (2, 4, 5, 8):  # exact as a decimal
        return f"{float(f):g}"
    return f"({f.numerator}/{f.denominator})"


def format_units(vector) -> str:
    """Pint-readable unit text for an SI dimension vector (exponents of :data:`SI_BASE`).

    Positive exponents form the numerator and negative ones the denominator, in the
    order ``m, kg, s, K, A, mol, cd``; ``"1"`` for a dimensionless vector.

    Example:
        >>> format_units([3, -2, -1, 0, 0, 0, 0])
        'm^3/(kg*s^2)'
        >>> format_units([-1.5, 1, 0.5, 0, 0, 0, 0])
        'kg^0.5*s/m^1.5'
    """
    v = np.asarray(vector, dtype=float)
    if v.shape != (len(SI_BASE),):
        raise DataError(f"a dimension vector has {len(SI_BASE)} exponents ({', '.join(SI_BASE)}), got shape {v.shape}")
    order = (0, 2, 1, 3, 4, 5, 6)  # m, kg, s, ...: the usual reading order

    def part(idx):
        out = []
        for i in idx:
            e = abs(float(v[i]))
            out.append(SI_BASE[i] if abs(e - 1) < 1e-9 else f"{SI_BASE[i]}^{_exponent_text(e)}")
        return "*".join(out)

    num = [i for i in order if v[i] > 1e-9]
    den = [i for i in order if v[i] < -1e-9]
    top = part(num) if num else "1"
    if not den:
        return top
    bottom = part(den)
    return f"{top}/({bottom})" if len(den) > 1 else f"{top}/{bottom}"


def same_dimensions(a: str, b: str) -> bool:
    """Whether two unit texts have the same SI dimensions (pint parses both).

    Example:
        >>> same_dimensions("m^3/(kg*s^2)", "N*m^2/kg^2")
        True
    """
    return bool(np.allclose(dimension_vector(a), dimension_vector(b), atol=1e-9))
