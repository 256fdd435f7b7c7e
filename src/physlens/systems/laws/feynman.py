"""The Feynman Symbolic Regression Database as physlens systems and data.

Follows Udrescu & Tegmark 2020, "AI Feynman: a physics-inspired method for
symbolic regression" (Science Advances 6, eaay2631): 100 equations from the
Feynman Lectures plus 20 bonus equations, each with variable names, sampling
ranges and a table of SI units (exponents of m, s, kg, K and V — volts replace
amperes as a base unit). The three CSV files ship in ``systems/laws/data/``
exactly as distributed; two errata are handled here:

* the ``# variables`` column is wrong for several rows (I.18.12, I.18.14,
  I.38.12, II.37.1, III.10.19, III.19.51, test_12, test_13, test_18, test_19):
  the listed variable names are used instead;
* ``mu_drift`` (drift mobility in I.43.16, v = mu_drift q V / d) is s kg^-1,
  not the file's s^-1 kg.

Formulas are data: they are parsed only with the restricted parser
:func:`physlens.expressions.parse_expression`, restricted to each equation's
variable names. :func:`dimension_of` does the dimensional analysis of a SymPy
expression (every additive term must share one dimension; arguments of exp,
log, trig functions and non-integer-exponent powers must be dimensionless);
it is a short tree walk because neither SymPy's ``physics.units`` nor pint
checks an expression written in plain symbols against a table of dimensions.

The system ``feynman`` samples one equation (parameter ``equation``, an id such
as ``"I.6.2a"`` or ``"test_1"``) with every variable uniform in its range.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

import numpy as np
import sympy as sp
from pydantic import Field, field_validator

from physlens.data.dataset import Dataset
from physlens.errors import ExpressionError, ParameterError
from physlens.expressions import parse_expression
from physlens.findings import GroundTruth
from physlens.systems.base import System, SystemParams, register_system

#: Base units of the Feynman units table, in column order (T is the kelvin).
FEYNMAN_BASE = ("m", "s", "kg", "T", "V")
_PINT_NAMES = ("m", "s", "kg", "K", "V")

#: Corrections to ``units.csv`` (name -> (m, s, kg, T, V) exponents), with the reason.
UNIT_ERRATA = {"mu_drift": ((0, 1, -1, 0, 0), "drift mobility: v = mu_drift*q*Volt/d needs s kg^-1")}


@dataclass
class FeynmanEquation:
    """One equation of the Feynman database, parsed and with its units.

    Attributes:
        id: file name in the database, e.g. ``"I.6.2a"`` or ``"test_1"``.
        output: name of the output variable.
        formula: the formula text as in the database.
        expression: SymPy expression (parsed with the restricted parser).
        variables: input variable names, in database order.
        ranges: ``(low, high)`` sampling range of each variable.
        units: pint unit string per variable and for the output, e.g. ``"m**1*s**-1"``.
        dimensions: raw (m, s, kg, T, V) exponent vectors per variable and output.
        name: descriptive name (bonus equations only), else ``""``.

    Example:
        >>> eq = feynman_equation("I.12.1")
        >>> eq.output, eq.variables, eq.units["F"]
        ('F', ['mu', 'Nn'], 'm**1*s**-2*kg**1')
    """

    id: str
    output: str
    formula: str
    expression: sp.Expr
    variables: list[str]
    ranges: list[tuple[float, float]]
    units: dict[str, str] = field(default_factory=dict)
    dimensions: dict[str, np.ndarray] = field(default_factory=dict)
    name: str = ""

    @property
    def symbols(self) -> list[sp.Symbol]:
        """The SymPy symbols of :attr:`variables`, in order.

        Example:
            >>> feynman_equation("I.12.1").symbols
            [mu, Nn]
        """
        return [sp.Symbol(v, real=True) for v in self.variables]

    def evaluate(self, X: np.ndarray) -> np.ndarray:
        """The output for inputs ``X`` (n x len(variables)), computed from :attr:`expression`.

        Example:
            >>> feynman_equation("I.12.1").evaluate(np.array([[2.0, 3.0]])).tolist()
            [6.0]
        """
        fn = _numeric(self.id)
        X = np.asarray(X, dtype=float)
        out = fn(*[X[:, j] for j in range(X.shape[1])])
        return np.broadcast_to(np.asarray(out, dtype=float), (X.shape[0],)).copy()

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``(X, y)`` with each variable uniform in its range.

        Example:
            >>> X, y = feynman_equation("I.12.1").sample(4, np.random.default_rng(0))
            >>> X.shape, y.shape
            ((4, 2), (4,))
        """
        lows = np.array([lo for lo, _ in self.ranges])
        highs = np.array([hi for _, hi in self.ranges])
        X = rng.uniform(lows, highs, size=(n, len(self.variables)))
        return X, self.evaluate(X)


# --------------------------------------------------------------------------- reading the tables
def _data_text(filename: str) -> str:
    return resources.files("physlens.systems.laws").joinpath("data", filename).read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def feynman_units() -> dict[str, np.ndarray]:
    """(m, s, kg, T, V) exponents of every variable name in ``units.csv``, errata applied.

    Example:
        >>> feynman_units()["F"].tolist()
        [1.0, -2.0, 1.0, 0.0, 0.0]
        >>> feynman_units()["mu_drift"].tolist()
        [0.0, 1.0, -1.0, 0.0, 0.0]
    """
    table: dict[str, np.ndarray] = {}
    for row in csv.DictReader(_data_text("units.csv").splitlines()):
        name = (row.get("Variable") or "").strip()
        if not name:
            continue
        table[name] = np.array([float(row[b]) for b in FEYNMAN_BASE])
    for name, (exps, _reason) in UNIT_ERRATA.items():
        table[name] = np.array(exps, dtype=float)
    return table


def unit_string(exponents: np.ndarray) -> str:
    """pint unit string for (m, s, kg, T, V) exponents; ``"dimensionless"`` when all are zero.

    Example:
        >>> unit_string(np.array([2, -2, 1, 0, -1]))
        'm**2*s**-2*kg**1*V**-1'
    """
    parts = [f"{u}**{int(e) if float(e).is_integer() else float(e)}" for u, e in zip(_PINT_NAMES, exponents) if e != 0]
    return "*".join(parts) if parts else "dimensionless"


def _rows(filename: str) -> list[dict]:
    return [r for r in csv.DictReader(_data_text(filename).splitlines()) if (r.get("Filename") or "").strip()]


def _build(row: dict, units: dict[str, np.ndarray]) -> FeynmanEquation:
    eq_id = row["Filename"].strip()
    variables: list[str] = []
    ranges: list[tuple[float, float]] = []
    for k in range(1, 11):
        name = (row.get(f"v{k}_name") or "").strip()
        if not name:
            continue  # the "# variables" column is unreliable: trust the names
        variables.append(name)
        ranges.append((float(row[f"v{k}_low"]), float(row[f"v{k}_high"])))
    output = row["Output"].strip()
    formula = row["Formula"].strip()
    expression = parse_expression(formula, variables=variables)
    missing = [v for v in [output, *variables] if v not in units]
    if missing:
        raise ExpressionError(f"Feynman equation {eq_id}: no units for {', '.join(missing)}")
    dims = {v: units[v].copy() for v in [*variables, output]}
    return FeynmanEquation(
        id=eq_id,
        output=output,
        formula=formula,
        expression=expression,
        variables=variables,
        ranges=ranges,
        units={v: unit_string(d) for v, d in dims.items()},
        dimensions=dims,
        name=(row.get("Name") or "").strip(),
    )


@lru_cache(maxsize=2)
def _equations(include_bonus: bool) -> tuple[FeynmanEquation, ...]:
    units = feynman_units()
    rows = _rows("FeynmanEquations.csv") + (_rows("BonusEquations.csv") if include_bonus else [])
    return tuple(_build(r, units) for r in rows)


def feynman_equations(include_bonus: bool = True) -> list[FeynmanEquation]:
    """All equations of the database (100 Feynman + 20 bonus ``test_*``), in file order.

    Example:
        >>> eqs = feynman_equations()
        >>> len(eqs), eqs[0].id, eqs[-1].id
        (120, 'I.6.2a', 'test_20')
    """
    return list(_equations(bool(include_bonus)))


def feynman_equation(eq_id: str) -> FeynmanEquation:
    """The equation with database id ``eq_id`` (ParameterError if unknown).

    Example:
        >>> feynman_equation("test_5").formula
        '2*pi*d**(3/2)/sqrt(G*(m1+m2))'
    """
    for eq in _equations(True):
        if eq.id == eq_id:
            return eq
    ids = [e.id for e in _equations(True)]
    raise ParameterError(f"feynman: unknown equation {eq_id!r}; ids are {ids[0]} ... {ids[99]}, test_1 ... test_20")


@lru_cache(maxsize=256)
def _numeric(eq_id: str):
    eq = feynman_equation(eq_id)
    # lambdify compiles the already-parsed SymPy tree (never the text); dummify keeps
    # names like ``gamma`` or ``lambd`` from clashing with NumPy functions.
    return sp.lambdify(eq.symbols, eq.expression, modules="numpy", dummify=True)


# --------------------------------------------------------------------------- dimensional analysis
_DIMENSIONLESS_FUNCS = (sp.exp, sp.log, sp.sin, sp.cos, sp.tan, sp.sinh, sp.cosh, sp.tanh, sp.asin, sp.acos, sp.atan)


def dimension_of(expr: sp.Expr, dimensions: dict[str, np.ndarray], atol: float = 1e-9) -> np.ndarray:
    """Dimension vector of ``expr`` given each symbol's vector; ExpressionError if inconsistent.

    Sums must have terms of one dimension, arguments of exp/log/trigonometric
    functions must be dimensionless, and a power with a symbolic exponent
    needs a dimensionless base and exponent. Numbers and ``pi`` are dimensionless.

    Example:
        >>> eq = feynman_equation("I.12.2")
        >>> dimension_of(eq.expression, eq.dimensions).tolist() == eq.dimensions["F"].tolist()
        True
        >>> x, t = sp.symbols("x t", real=True)
        >>> dimension_of(x + t, {"x": np.array([1.0, 0]), "t": np.array([0, 1.0])})
        Traceback (most recent call last):
        ...
        physlens.errors.ExpressionError: terms of different dimensions in t + x: t has [0. 1.], x has [1. 0.]
    """
    size = len(next(iter(dimensions.values()))) if dimensions else 5
    zero = np.zeros(size)

    def walk(e: sp.Expr) -> np.ndarray:
        if e.is_Number or e.is_NumberSymbol:
            return zero
        if e.is_Symbol:
            if e.name not in dimensions:
                raise ExpressionError(f"no dimensions for symbol {e.name!r}")
            return np.asarray(dimensions[e.name], dtype=float)
        if e.is_Add:
            dims = [(a, walk(a)) for a in e.args]
            ref_arg, ref = dims[0]
            for a, d in dims[1:]:
                if not np.allclose(d, ref, atol=atol):
                    raise ExpressionError(
                        f"terms of different dimensions in {e}: {ref_arg} has {ref}, {a} has {d}"
                    )
            return ref
        if e.is_Mul:
            return sum((walk(a) for a in e.args), zero)
        if e.is_Pow:
            base, exponent = e.args
            if exponent.is_Number:
                return walk(base) * float(exponent)
            if np.allclose(walk(exponent), 0, atol=atol) and np.allclose(walk(base), 0, atol=atol):
                return zero
            raise ExpressionError(f"power {e} with a symbolic exponent needs dimensionless base and exponent")
        if isinstance(e, sp.Abs):
            return walk(e.args[0])
        if isinstance(e, sp.sign):
            walk(e.args[0])
            return zero
        if isinstance(e, _DIMENSIONLESS_FUNCS):
            d = walk(e.args[0])
            if not np.allclose(d, 0, atol=atol):
                raise ExpressionError(f"argument of {e.func.__name__} in {e} has dimensions {d}, not dimensionless")
            return zero
        raise ExpressionError(f"cannot do dimensional analysis of {type(e).__name__} in {e}")

    return walk(expr)


# --------------------------------------------------------------------------- the system
@register_system
class Feynman(System):
    """One equation of the Feynman database, every variable uniform in its range.

    Parameters:
        equation: database id (``"I.6.2a"`` ... ``"III.21.20"``, ``"test_1"`` ... ``"test_20"``).

    Inputs are the equation's variables (database order), the single target is
    its output; ``units`` holds SI units (pint strings) for every column.

    Example:
        >>> ds = Feynman(equation="I.12.1").sample(5, seed=0)
        >>> ds.input_names, ds.target_names, ds.units["F"]
        (['mu', 'Nn'], ['F'], 'm**1*s**-2*kg**1')
        >>> bool(np.allclose(ds.y[:, 0], ds.X[:, 0] * ds.X[:, 1]))
        True
    """

    name = "feynman"
    description = "one of the 120 AI-Feynman benchmark equations (param equation=ID, e.g. I.6.2a, test_1)"

    class Params(SystemParams):
        equation: str = Field("I.6.2a", description="database id: I.6.2a ... III.21.20, test_1 ... test_20")

        @field_validator("equation", mode="before")
        @classmethod
        def _known(cls, value):
            return feynman_equation(str(value)).id

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self.equation = feynman_equation(self.equation)

    @property
    def truth(self) -> GroundTruth:
        eq = self.equation
        used = {s.name for s in eq.expression.free_symbols}
        return GroundTruth(
            equations={eq.output: eq.expression},
            relevant_inputs=[v for v in eq.variables if v in used],
            extra={
                "feynman_id": eq.id,
                "formula": eq.formula,
                "units": dict(eq.units),
                "dimensions": {k: v.copy() for k, v in eq.dimensions.items()},
                "dimension_base": list(FEYNMAN_BASE),
            },
        )

    def _generate(self, n: int, rng: np.random.Generator) -> Dataset:
        eq = self.equation
        X, y = eq.sample(n, rng)
        return Dataset(
            X,
            y,
            list(eq.variables),
            [eq.output],
            units=dict(eq.units),
            meta={"feynman_id": eq.id, "formula": eq.formula, "ranges": [list(r) for r in eq.ranges]},
        )
