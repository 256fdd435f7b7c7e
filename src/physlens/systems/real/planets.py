"""Measured orbits of the solar system: Kepler's third law from real data.

``planets.csv`` (shipped with the package; sources cited in its header:
JPL J2000 mean elements for the planets and Pluto, NASA Planetary Fact Sheets
for periods and masses, JPL SSD mean elements for the moons) lists 29 bodies
— the eight planets, Pluto, and moons of the Earth, Mars, Jupiter, Saturn,
Uranus and Neptune — with semi-major axis a, sidereal period T and the mass M
of the body they orbit. Kepler's third law in Newton's form,

    T = 2 pi sqrt(a^3 / (G M)),   G = 6.6743e-11 m^3 kg^-1 s^-2 (CODATA 2018),

holds for every row to better than 1 % (the residue is the neglected mass of
the orbiting body: 0.5 % for the Moon, < 0.1 % otherwise). The ground-truth
equation uses that numeric G; ``truth.extra["symbolic"]`` keeps G as a symbol.

Inputs are (a, M) in SI units, the target is T in seconds; ``log_space=True``
gives log10 of each instead (``log10_a, log10_M -> log10_T``), where the law is
linear. T is invariant under (a, M) -> (l a, l^3 M), the scaling symmetry in
the truth (a translation along (1, 3) in log space).
"""

from __future__ import annotations

import csv
from functools import lru_cache
from importlib import resources
from typing import Literal

import numpy as np
import sympy as sp
from pydantic import Field

from physlens.data.dataset import Dataset
from physlens.expressions import parse_expression
from physlens.findings import GroundTruth
from physlens.systems.base import System, SystemParams, register_system

G_NEWTON = 6.6743e-11
DAY = 86400.0
SELECTIONS = ("all", "planets", "moons")


@lru_cache(maxsize=1)
def orbits_table() -> list[dict]:
    """Rows of ``planets.csv`` in SI units: body, central_body, a (m), T (s), M (kg).

    Example:
        >>> earth = next(r for r in orbits_table() if r["body"] == "Earth")
        >>> round(earth["T"] / 86400, 3), earth["central_body"]
        (365.256, 'Sun')
    """
    text = resources.files("physlens.systems.real").joinpath("planets.csv").read_text(encoding="utf-8")
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    return [
        {
            "body": r["body"],
            "central_body": r["central_body"],
            "a": float(r["a_km"]) * 1e3,
            "T": float(r["period_days"]) * DAY,
            "M": float(r["central_mass_kg"]),
        }
        for r in csv.DictReader(lines)
    ]


@register_system
class Planets(System):
    """Real orbital data: semi-major axis and central mass -> orbital period (Kepler's third law).

    Parameters:
        bodies: ``"all"`` (default, 29 rows), ``"planets"`` (orbiting the Sun) or ``"moons"``.
        log_space: use log10 of a, M and T (default False).

    ``sample(n)`` returns all rows by default, or a random subset of ``n`` of them.

    Example:
        >>> ds = Planets().sample(seed=0)
        >>> ds.n, ds.input_names, ds.units["T"]
        (29, ['a', 'M'], 's')
    """

    name = "planets"
    description = "measured orbits of planets and moons: (a, M) -> period T, Kepler's third law (real data)"
    default_n = 29

    class Params(SystemParams):
        bodies: Literal["all", "planets", "moons"] = Field(
            "all", description="which orbits: all, planets (around the Sun) or moons")
        log_space: bool = Field(False, description="use log10 of a, M and T")

    def __init__(self, **params) -> None:
        super().__init__(**params)
        rows = orbits_table()
        if self.bodies == "planets":
            rows = [r for r in rows if r["central_body"] == "Sun"]
        elif self.bodies == "moons":
            rows = [r for r in rows if r["central_body"] != "Sun"]
        self.rows = rows
        self.default_n = self.max_n = len(rows)

    @property
    def _names(self) -> tuple[list[str], str]:
        return (["log10_a", "log10_M"], "log10_T") if self.log_space else (["a", "M"], "T")

    def _generate(self, n: int, rng: np.random.Generator) -> Dataset:
        idx = np.arange(len(self.rows)) if n == len(self.rows) else np.sort(rng.choice(len(self.rows), n, replace=False))
        rows = [self.rows[i] for i in idx]
        X = np.array([[r["a"], r["M"]] for r in rows])
        y = np.array([r["T"] for r in rows])
        inputs, target = self._names
        units = {"a": "m", "M": "kg", "T": "s"}
        if self.log_space:
            X, y, units = np.log10(X), np.log10(y), {}
        return Dataset(
            X, y, inputs, [target], units=units,
            meta={"bodies": [r["body"] for r in rows], "central_bodies": [r["central_body"] for r in rows],
                  "source": "planets.csv (JPL mean elements, NASA planetary fact sheets)"},
        )

    @property
    def truth(self) -> GroundTruth:
        a, M, G = sp.symbols("a M G", real=True)
        symbolic = parse_expression("2*pi*sqrt(a**3/(G*M))", variables=["a", "G", "M"])
        if self.log_space:
            la, lM = sp.symbols("log10_a log10_M", real=True)
            const = float(np.log10(2 * np.pi / np.sqrt(G_NEWTON)))
            equations = {"log10_T": sp.Rational(3, 2) * la - sp.Rational(1, 2) * lM + sp.Float(const)}
            gen = np.array([[0.0, 0.0, 1.0], [0.0, 0.0, 3.0]])
        else:
            equations = {"T": symbolic.subs(G, sp.Float(G_NEWTON))}
            gen = np.array([[1.0, 0.0, 0.0], [0.0, 3.0, 0.0]])
        inputs, _ = self._names
        return GroundTruth(
            symmetries=[{"name": "scaling", "kind": "continuous", "generators": [gen]}],
            equations=equations,
            relevant_inputs=list(inputs),
            extra={
                "law": "Kepler's third law (Newton's form)",
                "symbolic": symbolic,
                "G": G_NEWTON,
                "accuracy": "holds to < 1 % on every row (orbiting mass neglected)",
            },
        )
