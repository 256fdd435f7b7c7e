"""2-D Ising model configurations across the phase transition, by Monte Carlo.

Configurations of the ferromagnetic Ising model H = -sum_<ij> s_i s_j (J = k_B = 1)
on an L x L torus, sampled at temperatures on both sides of Onsager's exact
critical temperature T_c = 2 / ln(1 + sqrt 2) = 2.2692 (Onsager 1944; the
spontaneous magnetisation is m(T) = (1 - sinh(2/T)^-4)^(1/8) below T_c, Yang
1952). This is the data of Carrasquilla & Melko 2017 ("Machine learning phases
of matter", Nature Physics 13, 431) and Wetzel 2017 (PRE 96, 022140).

All temperatures are simulated at once as a batch of lattices. Two update
rules, both vectorised over every site of the batch:

* ``swendsen_wang`` (default; Swendsen & Wang 1987, PRL 58, 86): bonds
  between equal neighbours are activated with p = 1 - exp(-2/T), clusters are
  found with ``scipy.sparse.csgraph.connected_components`` and each is flipped
  with probability 1/2 — no critical slowing down near T_c;
* ``metropolis``: checkerboard Metropolis, all sites of one colour at once.

Inputs are the spins ``s0..s{L*L-1}`` (row-major), the target is the
temperature ``T`` (``target="temperature"``) or ``ordered`` = 1 for T < T_c
(``target="phase"``). ``aux`` holds temperature, magnetisation, |m| and
energy per site. The ground truth lists the Z2 spin flip (transform -I) and the
two lattice translations (permutations of the columns), T_c in
``critical_points`` and the magnetisation as order parameter in ``extra``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from physlens.data.dataset import Dataset
from physlens.expressions import parse_expression
from physlens.findings import GroundTruth
from physlens.systems.base import Interval, System, register_system
from physlens.systems.statistical.lattice import LatticeMonteCarlo, configurations_across_temperatures, lattice_meta

T_CRITICAL = 2.0 / np.log(1.0 + np.sqrt(2.0))


def onsager_magnetisation(T: np.ndarray) -> np.ndarray:
    """Exact spontaneous magnetisation of the infinite square lattice (0 above T_c).

    Example:
        >>> round(float(onsager_magnetisation(2.0)), 4)
        0.9113
    """
    T = np.asarray(T, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        m = (1.0 - np.sinh(2.0 / T) ** -4) ** 0.125
    return np.where(T < T_CRITICAL, np.nan_to_num(m), 0.0)


def energy_per_site(s: np.ndarray) -> np.ndarray:
    """-sum over bonds of s_i s_j / L^2 for a batch of periodic lattices (B, L, L).

    Example:
        >>> float(energy_per_site(np.ones((1, 4, 4)))[0])
        -2.0
    """
    return -np.mean(s * (np.roll(s, -1, axis=1) + np.roll(s, -1, axis=2)), axis=(1, 2))


def metropolis_sweep(s: np.ndarray, beta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One checkerboard Metropolis sweep of a batch of periodic lattices (in place, returned).

    Example:
        >>> s = np.ones((2, 4, 4)); _ = metropolis_sweep(s, np.array([10.0, 10.0]), np.random.default_rng(0))
        >>> float(s.mean())
        1.0
    """
    L1, L2 = s.shape[1:]
    colour = (np.add.outer(np.arange(L1), np.arange(L2)) % 2)[None]
    for c in (0, 1):
        nb = np.roll(s, 1, 1) + np.roll(s, -1, 1) + np.roll(s, 1, 2) + np.roll(s, -1, 2)
        dE = 2.0 * s * nb
        accept = rng.random(s.shape) < np.exp(-beta[:, None, None] * dE)
        s[(colour == c) & accept] *= -1
    return s


def swendsen_wang_update(s: np.ndarray, beta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One Swendsen-Wang cluster update of a batch of periodic lattices (in place, returned).

    Example:
        >>> s = np.ones((1, 4, 4)); _ = swendsen_wang_update(s, np.array([50.0]), np.random.default_rng(0))
        >>> abs(float(s.mean()))  # one cluster at low temperature: flipped as a whole or not at all
        1.0
    """
    B, L1, L2 = s.shape
    p = (1.0 - np.exp(-2.0 * beta))[:, None, None]
    idx = np.arange(s.size).reshape(s.shape)
    rows, cols = [], []
    for axis in (1, 2):
        nbr = np.roll(idx, -1, axis=axis)
        bond = (s == np.roll(s, -1, axis=axis)) & (rng.random(s.shape) < p)
        rows.append(idx[bond])
        cols.append(nbr[bond])
    r, c = np.concatenate(rows), np.concatenate(cols)
    graph = coo_matrix((np.ones(r.size, dtype=np.int8), (r, c)), shape=(s.size, s.size))
    n_comp, labels = connected_components(graph, directed=False)
    flip = rng.random(n_comp) < 0.5
    s[flip[labels].reshape(s.shape)] *= -1
    return s


def simulate(
    L: int,
    temperatures: np.ndarray,
    n_per_temperature: int,
    rng: np.random.Generator,
    algorithm: str = "swendsen_wang",
    n_equilibrate: int = 200,
    n_between: int = 2,
) -> np.ndarray:
    """Configurations (n_T, n_per_temperature, L, L) of the Ising model at each temperature.

    Example:
        >>> c = simulate(8, np.array([1.0, 5.0]), 10, np.random.default_rng(0), n_equilibrate=50)
        >>> np.abs(c.mean(axis=(2, 3))).mean(axis=1).round(1).tolist()[0]
        1.0
    """
    T = np.asarray(temperatures, dtype=float)
    beta = 1.0 / T
    step = swendsen_wang_update if algorithm == "swendsen_wang" else metropolis_sweep
    s = rng.choice(np.array([-1.0, 1.0]), size=(T.size, L, L))
    for _ in range(n_equilibrate):
        step(s, beta, rng)
    out = np.empty((T.size, n_per_temperature, L, L))
    for k in range(n_per_temperature):
        for _ in range(n_between):
            step(s, beta, rng)
        out[:, k] = s
    return out


@register_system
class Ising2D(System):
    """Monte Carlo spin configurations of the 2-D Ising model across T_c = 2.269.

    Parameters:
        L: lattice side (4..32), default 16.
        T_range: temperature range (> 0), default (1.5, 3.5).
        n_temperatures: number of evenly spaced temperatures in T_range, default 20.
        temperatures: explicit list of temperatures (overrides the two above).
        algorithm: ``"swendsen_wang"`` (default) or ``"metropolis"``.
        n_equilibrate: updates before the first sample (default 200).
        n_between: updates between recorded samples (default 2).
        target: ``"temperature"`` (y = T) or ``"phase"`` (y = 1 if T < T_c).

    Example:
        >>> ds = Ising2D(L=8, n_temperatures=4).sample(40, seed=0)
        >>> ds.d_in, ds.target_names
        (64, ['T'])
    """

    name = "ising_2d"
    description = "2-D Ising configurations across T_c = 2.269 (Swendsen-Wang / checkerboard Metropolis)"

    class Params(LatticeMonteCarlo):
        T_range: Interval(gt=0, strict=True) = Field((1.5, 3.5), description="temperatures in [min, max] (J = k_B = 1)")
        algorithm: Literal["swendsen_wang", "metropolis"] = Field("swendsen_wang", description="Monte Carlo update")
        target: Literal["temperature", "phase"] = Field("temperature", description="target: T, or the phase (T < T_c)")

    def __init__(self, **params) -> None:
        super().__init__(**params)
        T = self.settings.temperature_grid()
        self.params = {"L": self.L, "temperatures": T.tolist(), "algorithm": self.algorithm,
                       "n_equilibrate": self.n_equilibrate, "n_between": self.n_between, "target": self.target}
        self.temperatures = T

    def _generate(self, n: int, rng: np.random.Generator) -> Dataset:
        T = self.temperatures
        flat, temps = configurations_across_temperatures(
            T, n, self.L, rng,
            lambda per: simulate(self.L, T, per, rng, self.algorithm, self.n_equilibrate, self.n_between))
        N = self.L * self.L
        m = flat.mean(axis=(1, 2))
        y = temps if self.target == "temperature" else (temps < T_CRITICAL).astype(float)
        return Dataset(
            flat.reshape(-1, N),
            y,
            [f"s{i}" for i in range(N)],
            ["T" if self.target == "temperature" else "ordered"],
            units={"T": "dimensionless"} if self.target == "temperature" else {},
            aux={"temperature": temps, "magnetisation": m, "abs_magnetisation": np.abs(m),
                 "energy": energy_per_site(flat)},
            meta={"lattice": lattice_meta(self.L), "units": "J = k_B = 1", "algorithm": self.algorithm},
        )

    @property
    def truth(self) -> GroundTruth:
        L, N = self.L, self.L * self.L
        grid = np.arange(N).reshape(L, L)
        shift_x = np.eye(N)[np.roll(grid, 1, axis=1).reshape(-1)]
        shift_y = np.eye(N)[np.roll(grid, 1, axis=0).reshape(-1)]
        return GroundTruth(
            symmetries=[
                {"name": "Z2", "kind": "discrete", "transform": -np.eye(N)},
                {"name": "translations", "kind": "discrete", "transform": shift_x, "direction": "x"},
                {"name": "translations", "kind": "discrete", "transform": shift_y, "direction": "y"},
            ],
            latent_dim=1,
            relevant_inputs=[f"s{i}" for i in range(N)],
            critical_points={"T_c": float(T_CRITICAL)},
            extra={
                "order_parameter": "magnetisation m = mean(s); |m| > 0 below T_c",
                "magnetisation_exact": parse_expression("(1 - sinh(2/T)**(-4))**(1/8)", variables=["T"]),
                "phases": {"ordered": "T < T_c", "disordered": "T > T_c"},
                "other_symmetries": "rotations and reflections of the square lattice (D4)",
            },
        )
