"""Lorentz-invariant functions of particle four-momenta (special relativity).

The test case of invariant-feature models (Villar et al. 2021, "Scalars are universal",
whose Lorentz examples use invariant masses of particle systems; Bogatskiy et al. 2020,
"Lorentz Group Equivariant Neural Network for Particle Physics"). Each sample holds
``n_particles`` massive on-shell particles: masses uniform in ``mass_range``, three-momentum
components ~ N(0, momentum_scale^2), energy E = sqrt(m^2 + |p|^2) (units with c = 1).

Layout (particle-major, physlens convention 2): ``E0, px0, py0, pz0, E1, px1, ...``;
``meta["particles"]`` says ``dim = 4`` and ``metric = "minkowski"`` with signature (+,-,-,-).

``quantity`` chooses the target:

* ``"pair_mass"`` (default): ``s`` = (sum_i p_i)^2 = (sum E)^2 - |sum p|^2, the invariant mass
  squared of all particles (the pair mass for the default two particles);
* ``"dot"``: ``p0_dot_p1`` = E0 E1 - p0 . p1, the Minkowski product of the first two particles.

Ground truth: so(1,3) with 6 generators (rotations about x, y, z, then boosts along x, y, z)
acting on every four-vector at once, as n x (n+1) affine matrices; the swap of particles
0 and 1 (and, for ``pair_mass``, the cyclic shift of all particles); the spatial parity.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import sympy as sp
from pydantic import Field

from physlens.data.dataset import Dataset
from physlens.findings import GroundTruth
from physlens.systems.base import Interval, System, SystemParams, register_system
from physlens.systems.classical.common import (
    affine,
    block_action,
    particle_permutation,
    so_basis,
)

COMPONENTS = ("E", "px", "py", "pz")
METRIC = np.diag([1.0, -1.0, -1.0, -1.0])


def lorentz_algebra() -> list[np.ndarray]:
    """The six 4x4 generators of so(1,3) on (E, px, py, pz): J_x, J_y, J_z, K_x, K_y, K_z.

    Each G satisfies G^T eta + eta G = 0 with eta = diag(1, -1, -1, -1).

    Example:
        >>> gens = lorentz_algebra()
        >>> all(np.allclose(G.T @ METRIC + METRIC @ G, 0) for G in gens)
        True
    """
    gens = []
    for J in so_basis(3):
        G = np.zeros((4, 4))
        G[1:, 1:] = J
        gens.append(G)
    for a in range(3):
        K = np.zeros((4, 4))
        K[0, 1 + a] = K[1 + a, 0] = 1.0
        gens.append(K)
    return gens


def minkowski_dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a^0 b^0 - a . b on the last axis.

    Example:
        >>> float(minkowski_dot(np.array([2.0, 1, 0, 0]), np.array([2.0, 1, 0, 0])))
        3.0
    """
    return a[..., 0] * b[..., 0] - np.sum(a[..., 1:] * b[..., 1:], axis=-1)


@register_system
class LorentzInvariant(System):
    """Four-momenta of massive particles -> a Lorentz invariant (see the module docstring).

    Parameters:
        n_particles: 2 to 6.
        quantity: ``"pair_mass"`` or ``"dot"``.
        mass_range: particle masses uniform in [min, max] (> 0).
        momentum_scale: standard deviation of each three-momentum component (> 0).

    Example:
        >>> ds = LorentzInvariant().sample(100, seed=0)
        >>> ds.input_names[:4], ds.target_names
        (['E0', 'px0', 'py0', 'pz0'], ['s'])
    """

    name = "lorentz_invariant"
    description = "four-momenta of massive particles -> invariant mass squared (or Minkowski product); so(1,3) symmetry"

    class Params(SystemParams):
        n_particles: int = Field(2, ge=2, le=6, description="number of four-momenta in the inputs")
        quantity: Literal["pair_mass", "dot"] = Field(
            "pair_mass", description="target: invariant mass of the first pair, or the Minkowski dot product")
        mass_range: Interval(gt=0) = Field((0.1, 1.0), description="rest masses drawn uniformly in [min, max]")
        momentum_scale: float = Field(1.0, gt=0, description="scale of the random 3-momenta")

    @property
    def input_names(self) -> list[str]:
        """``E0, px0, py0, pz0, E1, ...``."""
        return [f"{c}{i}" for i in range(self.n_particles) for c in COMPONENTS]

    @property
    def target_name(self) -> str:
        """``s`` or ``p0_dot_p1``."""
        return "s" if self.quantity == "pair_mass" else "p0_dot_p1"

    def target_function(self, X: np.ndarray) -> np.ndarray:
        """The exact target for rows of four-momenta.

        Example:
            >>> X = np.array([[2.0, 1, 0, 0, 2.0, -1, 0, 0]])
            >>> LorentzInvariant().target_function(X).tolist()
            [[16.0]]
        """
        P = X.reshape(X.shape[0], self.n_particles, 4)
        if self.quantity == "pair_mass":
            tot = P.sum(axis=1)
            return minkowski_dot(tot, tot)[:, None]
        return minkowski_dot(P[:, 0], P[:, 1])[:, None]

    @property
    def truth(self) -> GroundTruth:
        N = self.n_particles
        S = {n: sp.Symbol(n, real=True) for n in self.input_names}
        vec = [[S[f"{c}{i}"] for c in COMPONENTS] for i in range(N)]

        def dot(a, b):
            return a[0] * b[0] - a[1] * b[1] - a[2] * b[2] - a[3] * b[3]

        if self.quantity == "pair_mass":
            tot = [sum(v[k] for v in vec) for k in range(4)]
            expr = dot(tot, tot)
            relevant = self.input_names
        else:
            expr = dot(vec[0], vec[1])
            relevant = self.input_names[:8]
        n_in = 4 * N
        starts = [4 * i for i in range(N)]
        gens = [affine(block_action(n_in, G, starts)) for G in lorentz_algebra()]
        symmetries = [
            {"name": "so(1,3)", "kind": "continuous", "generators": gens,
             "description": "rotations about x, y, z then boosts along x, y, z, acting on every four-momentum"},
            {"name": "permutation", "kind": "discrete",
             "transform": particle_permutation(4, [1, 0] + list(range(2, N))),
             "description": "swap particles 0 and 1"},
            {"name": "parity", "kind": "discrete", "transform": block_action(n_in, METRIC, starts),
             "description": "spatial inversion p -> -p of every particle"},
        ]
        if self.quantity == "pair_mass" and N > 2:
            symmetries.append({"name": "permutation", "kind": "discrete",
                               "transform": particle_permutation(4, [(i + 1) % N for i in range(N)]),
                               "description": "cyclic shift of the particles"})
        return GroundTruth(
            symmetries=symmetries,
            equations={self.target_name: expr},
            relevant_inputs=relevant,
            extra={
                "metric": METRIC,
                "signature": "(+,-,-,-)",
                "on_shell": {f"m{i}**2": dot(vec[i], vec[i]) for i in range(N)},
                "quantity": self.quantity,
            },
        )

    def _generate(self, n: int, rng: np.random.Generator) -> Dataset:
        N = self.n_particles
        m = rng.uniform(*self.mass_range, size=(n, N))
        p = self.momentum_scale * rng.standard_normal((n, N, 3))
        E = np.sqrt(m**2 + np.sum(p * p, axis=-1))
        X = np.concatenate([E[..., None], p], axis=-1).reshape(n, 4 * N)
        return Dataset(
            X,
            self.target_function(X),
            self.input_names,
            [self.target_name],
            aux={"mass": m},
            meta={"particles": {"n": N, "dim": 4, "vectors": ["p"], "scalars": [], "metric": "minkowski"}},
        )
