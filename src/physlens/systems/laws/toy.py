"""Small textbook laws with distractor inputs: the default demo of physlens.

``toy_distractor``: y = x1 * x2**2 with an unused input x3, the smallest case
where a feature-importance probe must tell relevant from irrelevant inputs.
"""

from __future__ import annotations

import numpy as np
import sympy as sp
from pydantic import Field, model_validator

from physlens.data.dataset import Dataset
from physlens.findings import GroundTruth
from physlens.systems.base import System, SystemParams, register_system


@register_system
class ToyDistractor(System):
    """y = x1 * x2**2 on [low, high]^3, with x3 unused.

    Example:
        >>> ds = ToyDistractor().sample(5, seed=0)
        >>> bool(np.allclose(ds.y[:, 0], ds.X[:, 0] * ds.X[:, 1] ** 2))
        True
    """

    name = "toy_distractor"
    description = "y = x1*x2^2 with an unused distractor input x3 (default demo)"

    class Params(SystemParams):
        low: float = Field(-2.0, description="lower end of the uniform range of x1, x2, x3")
        high: float = Field(2.0, description="upper end of the uniform range (> low)")

        @model_validator(mode="after")
        def _ordered(self):
            if not self.high > self.low:
                raise ValueError(f"need high > low, got low={self.low}, high={self.high}")
            return self

    @property
    def truth(self) -> GroundTruth:
        x1, x2 = sp.symbols("x1 x2", real=True)
        return GroundTruth(equations={"y": x1 * x2**2}, relevant_inputs=["x1", "x2"])

    def _generate(self, n: int, rng: np.random.Generator) -> Dataset:
        X = rng.uniform(self.low, self.high, size=(n, 3))
        y = X[:, 0] * X[:, 1] ** 2
        return Dataset(X, y, ["x1", "x2", "x3"], ["y"])
