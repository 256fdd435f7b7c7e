"""1-D Ising chain at finite temperature: configurations with no phase transition.

H = -sum_i s_i s_{i+1} (J = k_B = 1) on an open chain of N spins. In one
dimension there is no order at any T > 0 (Ising 1925): the correlation
<s_i s_{i+r}> = tanh(1/T)^r decays with the correlation length
xi = -1 / ln tanh(1/T), finite at every temperature, and the magnetisation,
energy u = -tanh(1/T) (N -> infinity) and every other observable change
smoothly with T. This is the negative control of the ``phases`` probe: a
method that finds a critical temperature here invents it.

Sampling is exact, with no Markov chain: on an open chain the bonds
b_i = s_i s_{i+1} are independent, +1 with probability (1 + tanh(1/T)) / 2,
and s_0 = +-1 with equal probability. Inputs ``s0..s{N-1}``, target ``T``;
``aux`` holds the temperature, magnetisation and energy per bond.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from physlens.data.dataset import Dataset
from physlens.findings import GroundTruth
from physlens.systems.base import System, register_system
from physlens.systems.statistical.lattice import TemperatureScan


def sample_chain(n_spins: int, temperatures: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Exact Boltzmann samples (len(temperatures), n_spins) of the open Ising chain, one per temperature.

    Example:
        >>> s = sample_chain(2000, np.full(1, 1.0), np.random.default_rng(0))
        >>> round(float(np.mean(s[0, 1:] * s[0, :-1])), 1)  # tanh(1) = 0.76
        0.8
    """
    T = np.asarray(temperatures, dtype=float).reshape(-1)
    p_same = 0.5 * (1.0 + np.tanh(1.0 / T))
    bonds = np.where(rng.random((T.size, n_spins - 1)) < p_same[:, None], 1.0, -1.0)
    first = rng.choice(np.array([-1.0, 1.0]), size=(T.size, 1))
    return first * np.concatenate([np.ones((T.size, 1)), np.cumprod(bonds, axis=1)], axis=1)


@register_system
class IsingChain(System):
    """Exact samples of the open 1-D Ising chain across a temperature range: no transition at any T > 0.

    Parameters:
        n_spins: chain length (4..4096), default 64.
        T_range: temperature range (> 0), default (1.0, 4.0) (xi from 3.7 to 0.5 sites).
        n_temperatures: evenly spaced temperatures in T_range, default 20.

    Example:
        >>> ds = IsingChain(n_spins=16, n_temperatures=4).sample(40, seed=0)
        >>> ds.d_in, ds.target_names
        (16, ['T'])
    """

    name = "ising_chain"
    description = "1-D Ising chain at finite temperature (exact sampling): a smooth crossover, no transition"

    class Params(TemperatureScan):
        n_spins: int = Field(64, ge=4, le=4096, description="chain length N (open ends)")

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self.N, self.temperatures = self.n_spins, self.settings.temperature_grid()

    def _generate(self, n: int, rng: np.random.Generator) -> Dataset:
        T = np.repeat(self.temperatures, -(-n // self.temperatures.size))[:n]
        X = sample_chain(self.N, T, rng)
        return Dataset(
            X, T, [f"s{i}" for i in range(self.N)], ["T"], units={"T": "dimensionless"},
            aux={"temperature": T, "magnetisation": X.mean(axis=1), "energy": -np.mean(X[:, 1:] * X[:, :-1], axis=1)},
            meta={"lattice": {"L": self.N, "shape": [self.N], "order": "row-major", "boundary": "open"},
                  "units": "J = k_B = 1", "algorithm": "exact"},
        )

    @property
    def truth(self) -> GroundTruth:
        return GroundTruth(
            symmetries=[{"name": "Z2", "kind": "discrete", "transform": -np.eye(self.N)},
                        {"name": "parity", "kind": "discrete", "transform": np.eye(self.N)[::-1].copy()}],
            latent_dim=1,
            relevant_inputs=[f"s{i}" for i in range(self.N)],
            critical_points={"T_c": None},
            extra={"transition": None,
                   "note": "no phase transition at T > 0 in one dimension; xi = -1/ln tanh(1/T)"},
        )
