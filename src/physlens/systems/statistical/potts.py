"""q-state Potts model on the square lattice: configurations across its exact critical temperature.

H = -sum_<ij> delta(s_i, s_j) (J = k_B = 1), s_i in {0, ..., q-1}, on an L x L
torus. Self-duality places the transition exactly at T_c = 1 / ln(1 + sqrt q)
(Potts 1952; Baxter 1973, J. Phys. C 6, L445): continuous for q <= 4 (q = 2 is
the Ising model at half its coupling, q = 3 has nu = 5/6, q = 4 nu = 2/3 with
logarithmic corrections) and first order for q > 4. The usual order parameter
is m = (q max_a n_a / N - 1) / (q - 1), from the largest fraction of sites in
one state.

Sampling is Swendsen-Wang (Swendsen & Wang 1987, PRL 58, 86) in its Potts form:
bonds between equal neighbours are activated with p = 1 - exp(-1/T), clusters
are found with ``scipy.sparse.csgraph.connected_components`` over the whole
batch of lattices (one per temperature) and every cluster takes a new state
drawn uniformly from the q states. Every site of the batch is updated at once.

Inputs are the site states ``s0..s{L*L-1}`` (row-major, integers 0..q-1), the
target is the temperature ``T``. ``aux`` holds the temperature, the order
parameter m and the energy per site.
"""

from __future__ import annotations


import numpy as np
from pydantic import Field
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from physlens.data.dataset import Dataset
from physlens.findings import GroundTruth
from physlens.systems.base import Interval, System, register_system
from physlens.systems.statistical.lattice import LatticeMonteCarlo, configurations_across_temperatures, lattice_meta



def potts_critical_temperature(q: int) -> float:
    """Exact T_c = 1 / ln(1 + sqrt q) of the square-lattice q-state Potts model (J = 1).

    Example:
        >>> round(potts_critical_temperature(4), 4)  # 1 / ln 3
        0.9102
    """
    return float(1.0 / np.log(1.0 + np.sqrt(q)))


def potts_energy_per_site(s: np.ndarray) -> np.ndarray:
    """-sum over bonds of delta(s_i, s_j) / L^2 for a batch of periodic lattices (B, L, L).

    Example:
        >>> float(potts_energy_per_site(np.zeros((1, 4, 4), dtype=int))[0])
        -2.0
    """
    same = (s == np.roll(s, -1, axis=1)).astype(float) + (s == np.roll(s, -1, axis=2))
    return -same.mean(axis=(1, 2))


def potts_order_parameter(s: np.ndarray, q: int) -> np.ndarray:
    """m = (q max_a n_a / N - 1) / (q - 1) per lattice of a batch (B, ...): 1 ordered, ~0 disordered.

    Example:
        >>> float(potts_order_parameter(np.zeros((1, 4, 4), dtype=int), 3)[0])
        1.0
    """
    flat = s.reshape(s.shape[0], -1)
    frac = np.stack([(flat == a).mean(axis=1) for a in range(q)], axis=1).max(axis=1)
    return (q * frac - 1.0) / (q - 1.0)


def potts_swendsen_wang(s: np.ndarray, beta: np.ndarray, q: int, rng: np.random.Generator) -> np.ndarray:
    """One Swendsen-Wang update of a batch of periodic q-state Potts lattices (B, L, L) (in place, returned).

    Example:
        >>> s = np.zeros((1, 4, 4), dtype=int); _ = potts_swendsen_wang(s, np.array([50.0]), 3, np.random.default_rng(0))
        >>> len(np.unique(s))  # one cluster at low temperature: all sites keep one state
        1
    """
    p = (1.0 - np.exp(-beta))[:, None, None]
    idx = np.arange(s.size).reshape(s.shape)
    rows, cols = [], []
    for axis in (1, 2):
        bond = (s == np.roll(s, -1, axis=axis)) & (rng.random(s.shape) < p)
        rows.append(idx[bond])
        cols.append(np.roll(idx, -1, axis=axis)[bond])
    r, c = np.concatenate(rows), np.concatenate(cols)
    graph = coo_matrix((np.ones(r.size, dtype=np.int8), (r, c)), shape=(s.size, s.size))
    n_comp, labels = connected_components(graph, directed=False)
    new = rng.integers(0, q, size=n_comp)
    s[...] = new[labels].reshape(s.shape)
    return s


def simulate_potts(L: int, q: int, temperatures: np.ndarray, n_per_temperature: int, rng: np.random.Generator,
                   n_equilibrate: int = 200, n_between: int = 2) -> np.ndarray:
    """Configurations (n_T, n_per_temperature, L, L) of the q-state Potts model at each temperature.

    Example:
        >>> c = simulate_potts(8, 3, np.array([0.5, 3.0]), 10, np.random.default_rng(0), n_equilibrate=30)
        >>> potts_order_parameter(c[0], 3).mean() > 0.9, potts_order_parameter(c[1], 3).mean() < 0.3
        (np.True_, np.True_)
    """
    T = np.asarray(temperatures, dtype=float)
    beta = 1.0 / T
    s = rng.integers(0, q, size=(T.size, L, L))
    for _ in range(n_equilibrate):
        potts_swendsen_wang(s, beta, q, rng)
    out = np.empty((T.size, n_per_temperature, L, L), dtype=np.int64)
    for k in range(n_per_temperature):
        for _ in range(n_between):
            potts_swendsen_wang(s, beta, q, rng)
        out[:, k] = s
    return out


@register_system
class Potts2D(System):
    """Swendsen-Wang configurations of the square-lattice q-state Potts model across T_c = 1/ln(1 + sqrt q).

    Parameters:
        q: number of states (2..10), default 4 (T_c = 1/ln 3 = 0.910).
        L: lattice side (4..32), default 16.
        T_range: temperature range as multiples of T_c, default (0.7, 1.4).
        n_temperatures: evenly spaced temperatures in T_range, default 20.
        temperatures: explicit temperatures (overrides the two above).
        n_equilibrate: updates before the first sample (default 200).
        n_between: updates between recorded samples (default 2).

    Example:
        >>> ds = Potts2D(q=3, L=8, n_temperatures=4).sample(40, seed=0)
        >>> ds.d_in, ds.target_names, sorted(set(ds.X.ravel().tolist())) == [0.0, 1.0, 2.0]
        (64, ['T'], True)
    """

    name = "potts_2d"
    description = "2-D q-state Potts configurations across T_c = 1/ln(1+sqrt q) (Swendsen-Wang)"

    class Params(LatticeMonteCarlo):
        q: int = Field(4, ge=2, le=10, description="number of spin states")
        T_range: Interval(gt=0, strict=True) = Field(
            (0.7, 1.4), description="temperatures in [min, max], in multiples of the critical temperature T_c")

    def __init__(self, **params) -> None:
        super().__init__(**params)
        tc = potts_critical_temperature(self.q)
        T = self.settings.temperature_grid(unit=tc)
        self.params = {"q": self.q, "L": self.L, "temperatures": T.tolist(), "n_equilibrate": self.n_equilibrate,
                       "n_between": self.n_between}
        self.temperatures, self.T_c = T, tc

    def _generate(self, n: int, rng: np.random.Generator) -> Dataset:
        T = self.temperatures
        flat, temps = configurations_across_temperatures(
            T, n, self.L, rng,
            lambda per: simulate_potts(self.L, self.q, T, per, rng, self.n_equilibrate, self.n_between))
        N = self.L * self.L
        return Dataset(
            flat.reshape(-1, N).astype(float),
            temps,
            [f"s{i}" for i in range(N)],
            ["T"],
            units={"T": "dimensionless"},
            aux={"temperature": temps, "order_parameter": potts_order_parameter(flat, self.q),
                 "energy": potts_energy_per_site(flat)},
            meta={"lattice": lattice_meta(self.L), "q": self.q, "units": "J = k_B = 1", "algorithm": "swendsen_wang"},
        )

    @property
    def truth(self) -> GroundTruth:
        return GroundTruth(
            latent_dim=1,
            relevant_inputs=[f"s{i}" for i in range(self.L * self.L)],
            critical_points={"T_c": self.T_c},
            extra={
                "order_parameter": "largest fraction of sites in one state, m = (q max_a n_a/N - 1)/(q - 1)",
                "phases": {"ordered": "T < T_c", "disordered": "T > T_c"},
                "transition": "continuous" if self.q <= 4 else "first order",
                "symmetries_note": f"S_{self.q} permutations of the states, lattice translations and D4",
            },
        )
