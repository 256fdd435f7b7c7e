"""``example_spring``: the energy of a mass on a spring, E = p^2/(2m) + k q^2/2, from (q, p).

A plug-in system is an ordinary :class:`physlens.systems.System` registered with
``@register_system``; its parameters are a pydantic ``Params`` model, so physlens validates
them (``get_system("example_spring", k=-1)`` is a one-line error naming ``k`` and its range)
and ``physlens systems example_spring`` lists them.
"""

from __future__ import annotations

import numpy as np
import sympy as sp
from pydantic import Field

from physlens.data.dataset import Dataset
from physlens.findings import GroundTruth
from physlens.systems.base import Interval, System, SystemParams, register_system


@register_system
class ExampleSpring(System):
    """Energy of a harmonic oscillator at random phase-space points.

    Example:
        >>> ds = ExampleSpring(k=2.0).sample(4, seed=0)
        >>> bool(np.allclose(ds.y[:, 0], ds.X[:, 1] ** 2 / 2 + ds.X[:, 0] ** 2))
        True
    """

    name = "example_spring"
    description = "plug-in example: energy E = p^2/2m + k q^2/2 of a mass on a spring, from (q, p)"
    category = "plugin"
    default_n = 1000

    class Params(SystemParams):
        k: float = Field(1.0, gt=0, description="spring constant")
        m: float = Field(1.0, gt=0, description="mass")
        q_range: Interval(strict=True) = Field((-1.0, 1.0), description="positions q drawn uniformly in [min, max]")
        p_range: Interval(strict=True) = Field((-1.0, 1.0), description="momenta p drawn uniformly in [min, max]")

    @property
    def truth(self) -> GroundTruth:
        q, p = sp.symbols("q p", real=True)
        k, m = sp.Rational(repr(self.k)), sp.Rational(repr(self.m))
        return GroundTruth(equations={"E": p**2 / (2 * m) + k * q**2 / 2}, relevant_inputs=["q", "p"])

    def _generate(self, n: int, rng: np.random.Generator) -> Dataset:
        q = rng.uniform(*self.q_range, n)
        p = rng.uniform(*self.p_range, n)
        E = p**2 / (2 * self.m) + self.k * q**2 / 2
        return Dataset(np.column_stack([q, p]), E, ["q", "p"], ["E"])
