"""N-body systems with pairwise central forces: springs, charges and gravity.

The setting of graph networks with readable messages (Battaglia et al. 2016,
"Interaction Networks"; Cranmer et al. 2020, "Discovering Symbolic Models from Deep
Learning with Inductive Biases", whose spring / charge / 1/r systems these follow).
Every pair of particles interacts (complete graph). With d_ij = r_i - r_j and the
softened distance s_ij = sqrt(|d_ij|^2 + eps^2), the force on particle i from j is

* ``nbody_springs``: F_ij = -k (s_ij - L) d_ij / s_ij      (potential k (s - L)^2 / 2, rest length L)
* ``nbody_charges``: F_ij = +k_e q_i q_j d_ij / s_ij^3      (potential k_e q_i q_j / s)
* ``nbody_gravity``: F_ij = -G m_i m_j d_ij / s_ij^3        (potential -G m_i m_j / s)

and a_i = sum_j F_ij / m_i. The softening length eps (``softening``) keeps close
encounters of gravity and opposite charges finite and makes the spring direction
defined at coincidence; with eps -> 0 these are the textbook laws.

Layout (particle-major, physlens convention 2): for particle i the columns are
position ``x{i}, y{i}[, z{i}]``, velocity ``vx{i}, vy{i}[, vz{i}]``, then its scalars
``m{i}`` (and ``q{i}`` for charges). Targets are the accelerations
``ax{i}, ay{i}[, az{i}]`` of every particle. Masses (and charges) are drawn per particle
and per trajectory, so particles are not identical: the permutation symmetry permutes
whole particle blocks, scalar columns included, and the targets' particle blocks with them.

Trajectories (Yoshida 4th-order symplectic integrator) have as state exactly the input
columns (scalars constant in time), so rows of ``X`` are rows of ``trajectories``.

Ground truth: translations of every position along each axis and Galilean boosts (the
accelerations are invariant), rotations SO(d) acting on all position and velocity
vectors at once (the accelerations rotate along: ``output_generators``), a reflection,
the particle permutations (transposition (0 1) and the cyclic shift, which generate S_N),
and conserved total momentum, angular momentum and energy.
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
    exact,
    flatten_trajectories,
    n_trajectories,
    particle_permutation,
    so_basis,
)
from physlens.systems.classical.integrators import integrate_separable

AXES = ("x", "y", "z")


class PairwiseNBody(System):
    """Common machinery of the pairwise-force N-body systems (not registered itself).

    Subclasses set ``scalars`` (scalar features per particle) and implement
    :meth:`pair_coefficient` (c_ij with F_ij = c_ij d_ij) and :meth:`pair_potential_expr`.

    Parameters shared by all:
        n_particles: 4 to 8.
        dim: 2 or 3.
        mass_range: particle masses uniform in [min, max] (> 0).
        box: initial positions uniform in [-box, box]^dim.
        velocity_scale: initial velocities ~ N(0, velocity_scale^2) (the centre of mass moves too).
        softening: eps > 0 in s = sqrt(r^2 + eps^2).

    Example:
        >>> from physlens.systems import get_system
        >>> isinstance(get_system("nbody_springs"), PairwiseNBody)
        True

        points_per_trajectory: samples per trajectory, ``dt`` apart; ``substeps`` integration steps between.
    """

    scalars: tuple[str, ...] = ("m",)
    # many short runs, as the symmetry and model benchmarks sample them: the states fill the phase space
    discover_params = {"points_per_trajectory": 5}
    discover_n = 4000

    class Params(SystemParams):
        n_particles: int = Field(4, ge=4, le=8, description="number of particles")
        dim: Literal[2, 3] = Field(2, description="number of space dimensions")
        mass_range: Interval(gt=0) = Field((0.5, 2.0), description="masses drawn uniformly in [min, max]")
        box: float = Field(1.0, gt=0, description="initial positions uniform in [-box, box]^dim")
        velocity_scale: float = Field(0.5, ge=0, description="initial velocities ~ N(0, velocity_scale^2)")
        softening: float = Field(0.1, gt=0, description="eps in the softened distance s = sqrt(r^2 + eps^2)")
        points_per_trajectory: int = Field(50, ge=2, le=10_000, description="samples per trajectory, dt apart")
        dt: float = Field(0.05, gt=0, description="time between samples")
        substeps: int = Field(25, ge=1, le=10_000, description="integration steps between samples")

    # ------------------------------------------------------------------ layout
    @property
    def block(self) -> int:
        """Columns per particle: 2 dim + number of scalars."""
        return 2 * self.dim + len(self.scalars)

    @property
    def input_names(self) -> list[str]:
        """Particle-major input columns, e.g. ``x0, y0, vx0, vy0, m0, x1, ...``."""
        ax = AXES[: self.dim]
        names = []
        for i in range(self.n_particles):
            names += [f"{a}{i}" for a in ax] + [f"v{a}{i}" for a in ax] + [f"{s}{i}" for s in self.scalars]
        return names

    @property
    def target_names(self) -> list[str]:
        """``ax0, ay0, ..., ax1, ...``."""
        return [f"a{a}{i}" for i in range(self.n_particles) for a in AXES[: self.dim]]

    def split_inputs(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """Positions (n, N, d), velocities (n, N, d) and scalars {name: (n, N)} from input rows.

        Example:
            >>> sysm = NBodySprings()
            >>> pos, vel, sc = sysm.split_inputs(np.zeros((3, len(sysm.input_names))))
            >>> pos.shape, sorted(sc)
            ((3, 4, 2), ['m'])
        """
        d = self.dim
        B = X.reshape(X.shape[0], self.n_particles, self.block)
        return B[..., :d], B[..., d : 2 * d], {s: B[..., 2 * d + j] for j, s in enumerate(self.scalars)}

    # ------------------------------------------------------------------ physics
    def pair_coefficient(self, s: np.ndarray, sc: dict[str, np.ndarray]) -> np.ndarray:
        """c_ij (shape (..., N, N)) with F_ij = c_ij (r_i - r_j), from softened distances ``s``."""
        raise NotImplementedError

    def pair_potential_expr(self, s: sp.Expr) -> sp.Expr:
        """Pair potential V(s) of particles i and j as SymPy, in ``s`` and the symbols ``m_i, m_j`` (``q_i, q_j``)."""
        raise NotImplementedError

    def accelerations(self, pos: np.ndarray, sc: dict[str, np.ndarray]) -> np.ndarray:
        """a_i = sum_j c_ij (r_i - r_j) / m_i for positions (..., N, d).

        Example:
            >>> sysm = NBodyGravity(softening=1e-9)
            >>> pos = np.array([[[0.0, 0], [1, 0], [0, 50], [0, -50]]])
            >>> a = sysm.accelerations(pos, {"m": np.array([[1.0, 1.0, 1e-12, 1e-12]])})
            >>> round(float(a[0, 0, 0]), 6)  # G m1 / r^2 towards particle 1
            1.0
        """
        diff = pos[..., :, None, :] - pos[..., None, :, :]
        s = np.sqrt(np.sum(diff * diff, axis=-1) + self.softening**2)
        c = self.pair_coefficient(s, sc)
        N = pos.shape[-2]
        c = c * (1.0 - np.eye(N))
        force = np.einsum("...ij,...ijk->...ik", c, diff)
        return force / sc["m"][..., None]

    def target_function(self, X: np.ndarray) -> np.ndarray:
        """Accelerations of every particle (particle-major) for input rows X.

        Example:
            >>> sysm = NBodySprings()
            >>> ds = sysm.sample(50, seed=0)
            >>> bool(np.allclose(sysm.target_function(ds.X), ds.y))
            True
        """
        pos, _, sc = self.split_inputs(X)
        return self.accelerations(pos, sc).reshape(X.shape[0], -1)

    # ------------------------------------------------------------------ truth
    def _symbols(self) -> dict[str, sp.Symbol]:
        return {n: sp.Symbol(n, real=True) for n in self.input_names}

    def _pair_symbols(self) -> dict[str, sp.Symbol]:
        return {f"{s}_{k}": sp.Symbol(f"{s}_{k}", real=True) for s in self.scalars for k in "ij"}

    def _pair_coefficient_expr(self) -> tuple[sp.Expr, sp.Symbol]:
        """c(r) with F_ij = c(r) d_ij, from the pair potential: c = -V'(r) / r."""
        r = sp.Symbol("r", real=True)
        V = self.pair_potential_expr(sp.sqrt(r**2 + exact(self.softening) ** 2))
        return -sp.diff(V, r) / r, r

    def _truth_expressions(self):
        S = self._symbols()
        d, N, ax = self.dim, self.n_particles, AXES[: self.dim]
        pos = [[S[f"{a}{i}"] for a in ax] for i in range(N)]
        vel = [[S[f"v{a}{i}"] for a in ax] for i in range(N)]
        m = [S[f"m{i}"] for i in range(N)]
        coeff, r = self._pair_coefficient_expr()
        V = self.pair_potential_expr(sp.sqrt(r**2 + exact(self.softening) ** 2))
        P = self._pair_symbols()

        def for_pair(expr, i, j, dist):
            subs = {r: dist}
            for s in self.scalars:
                subs[P[f"{s}_i"]] = S[f"{s}{i}"]
                subs[P[f"{s}_j"]] = S[f"{s}{j}"]
            return expr.subs(subs)

        potential, acc = 0, []
        for i in range(N):
            force = [0] * d
            for j in range(N):
                if j == i:
                    continue
                dvec = [pos[i][a] - pos[j][a] for a in range(d)]
                dist = sp.sqrt(sum(c**2 for c in dvec))
                c_ij = for_pair(coeff, i, j, dist)
                force = [force[a] + c_ij * dvec[a] for a in range(d)]
                if j > i:
                    potential += for_pair(V, i, j, dist)
            acc += [force[a] / m[i] for a in range(d)]
        kinetic = sum(m[i] * sum(c**2 for c in vel[i]) for i in range(N)) / 2
        momentum = [sum(m[i] * vel[i][a] for i in range(N)) for a in range(d)]
        if d == 2:
            angular = [sum(m[i] * (pos[i][0] * vel[i][1] - pos[i][1] * vel[i][0]) for i in range(N))]
        else:
            angular = [
                sum(m[i] * (pos[i][b] * vel[i][c] - pos[i][c] * vel[i][b]) for i in range(N))
                for b, c in ((1, 2), (2, 0), (0, 1))
            ]
        return acc, kinetic + potential, momentum, angular

    def _pair_law(self) -> dict:
        ax = AXES[: self.dim]
        coeff, r = self._pair_coefficient_expr()
        V = self.pair_potential_expr(sp.sqrt(r**2 + exact(self.softening) ** 2))
        dsyms = [sp.Symbol(f"d{a}", real=True) for a in ax]
        dist = sp.sqrt(sum(c**2 for c in dsyms))
        return {
            "pair_potential": V,
            "radial_force": -sp.diff(V, r),
            "pair_force": {f"F{a}": coeff.subs(r, dist) * c for a, c in zip(ax, dsyms)},
            "pair_force_variables": [f"d{a}" for a in ax] + list(self._pair_symbols()),
        }

    @property
    def truth(self) -> GroundTruth:
        d, N, blk = self.dim, self.n_particles, self.block
        n_in = N * blk
        acc, energy, momentum, angular = self._truth_expressions()
        pos_starts = [i * blk for i in range(N)]
        vel_starts = [i * blk + d for i in range(N)]
        acc_starts = [i * d for i in range(N)]

        translations, boosts = [], []
        for a in range(d):
            b = np.zeros(n_in)
            b[[s + a for s in pos_starts]] = 1.0
            translations.append(affine(np.zeros((n_in, n_in)), b))
            b = np.zeros(n_in)
            b[[s + a for s in vel_starts]] = 1.0
            boosts.append(affine(np.zeros((n_in, n_in)), b))
        rot_in, rot_out = [], []
        for J in so_basis(d):
            rot_in.append(affine(block_action(n_in, J, pos_starts + vel_starts)))
            rot_out.append(block_action(N * d, J, acc_starts))
        reflect = np.eye(d)
        reflect[-1, -1] = -1.0
        swap = [1, 0] + list(range(2, N))
        cycle = [(i + 1) % N for i in range(N)]
        symmetries = [
            {"name": "translations", "kind": "continuous", "generators": translations,
             "description": "shift every particle's position along each axis; accelerations invariant"},
            {"name": "galilean-boosts", "kind": "continuous", "generators": boosts,
             "description": "shift every particle's velocity along each axis; accelerations invariant"},
            {"name": f"so({d})", "kind": "continuous", "generators": rot_in, "output_generators": rot_out,
             "description": "rotate all position and velocity vectors at once; accelerations rotate along"},
            {"name": "parity", "kind": "discrete",
             "transform": np.eye(n_in) + block_action(n_in, reflect - np.eye(d), pos_starts + vel_starts),
             "output_transform": block_action(N * d, reflect, acc_starts),
             "description": f"reflect the {AXES[d - 1]} axis of every vector"},
            {"name": "permutation", "kind": "discrete", "transform": particle_permutation(blk, swap),
             "output_transform": particle_permutation(d, swap),
             "description": "swap particles 0 and 1 (all their columns, scalars included)"},
            {"name": "permutation", "kind": "discrete", "transform": particle_permutation(blk, cycle),
             "output_transform": particle_permutation(d, cycle),
             "description": "cyclic shift of the particles (with the swap, generates S_N)"},
        ]
        relevant = [n for n in self.input_names if not n.startswith("v")]
        extra = {
            "force_law": self.force_law_text,
            "softening": self.softening,
            "edges": "complete",
            "hamiltonian": energy,
            "conserved_names": [f"P_{a}" for a in AXES[:d]]
            + (["L_z"] if d == 2 else ["L_x", "L_y", "L_z"])
            + ["energy"],
            **self._pair_law(),
            **self.law_parameters(),
        }
        return GroundTruth(
            symmetries=symmetries,
            conserved=[*momentum, *angular, energy],
            equations=dict(zip(self.target_names, acc)),
            relevant_inputs=relevant,
            extra=extra,
        )

    force_law_text: str = ""

    def law_parameters(self) -> dict:
        """The force-law constants (for ``truth.extra``)."""
        return {}

    # ------------------------------------------------------------------ sampling
    def _draw_scalars(self, rng: np.random.Generator, n_traj: int) -> dict[str, np.ndarray]:
        return {"m": rng.uniform(*self.mass_range, size=(n_traj, self.n_particles))}

    def _generate(self, n: int, rng: np.random.Generator) -> Dataset:
        d, N, T = self.dim, self.n_particles, self.points_per_trajectory
        n_traj = n_trajectories(n, T)
        sc = self._draw_scalars(rng, n_traj)
        pos0 = rng.uniform(-self.box, self.box, size=(n_traj, N, d))
        vel0 = self.velocity_scale * rng.standard_normal((n_traj, N, d))
        h = self.dt / self.substeps
        ps, vs = integrate_separable(
            pos0, vel0, lambda v: v, lambda q: self.accelerations(q, sc), h, (T - 1) * self.substeps, self.substeps
        )
        # (T, n_traj, N, d) -> (n_traj, T, N, block)
        scal = np.stack([sc[s] for s in self.scalars], axis=-1)  # (n_traj, N, s)
        scal = np.broadcast_to(scal[None], (T, *scal.shape))
        blocks = np.concatenate([ps, vs, scal], axis=-1).transpose(1, 0, 2, 3)
        traj = blocks.reshape(n_traj, T, N * self.block)
        times = self.dt * np.arange(T)
        X, aux = flatten_trajectories(traj, times, n)
        particles = {
            "n": N,
            "dim": d,
            "vectors": ["pos", "vel"],
            "scalars": list(self.scalars),
            "metric": "euclidean",
            "target_vectors": ["acc"],
        }
        return self.trajectory_dataset(X, traj, times, aux=aux,
                                       meta={"particles": particles, "edges": "complete", "integrator": "yoshida4",
                                             "dt": h})


@register_system
class NBodySprings(PairwiseNBody):
    """Particles joined pairwise by springs, F_ij = -k (s_ij - L) d_ij / s_ij.

    Extra parameters: ``k`` (> 0), ``rest_length`` L (>= 0), ``softening`` (default 0.01).

    Example:
        >>> ds = NBodySprings(n_particles=4).sample(100, seed=0)
        >>> ds.input_names[:5], ds.target_names[:2]
        (['x0', 'y0', 'vx0', 'vy0', 'm0'], ['ax0', 'ay0'])
    """

    name = "nbody_springs"
    description = "N particles (4-8, 2-D/3-D) joined pairwise by springs; positions, velocities, masses -> accelerations"
    force_law_text = "F_ij = -k*(s - L)*(r_i - r_j)/s with s = sqrt(|r_i - r_j|**2 + eps**2)"

    class Params(PairwiseNBody.Params):
        k: float = Field(1.0, gt=0, description="spring constant")
        rest_length: float = Field(1.0, ge=0, description="rest length L of the springs")
        softening: float = Field(0.01, gt=0, description="eps in the softened distance s = sqrt(r^2 + eps^2)")

    def pair_coefficient(self, s, sc):
        """c_ij = -k (s - L) / s."""
        return -self.k * (s - self.rest_length) / s

    def pair_potential_expr(self, s):
        """V = k (s - L)^2 / 2."""
        return exact(self.k) * (s - exact(self.rest_length)) ** 2 / 2

    def law_parameters(self):
        return {"k": self.k, "rest_length": self.rest_length}


@register_system
class NBodyGravity(PairwiseNBody):
    """Self-gravitating particles, F_ij = -G m_i m_j d_ij / s_ij^3 (Plummer softening).

    Extra parameter: ``G`` (> 0).

    Example:
        >>> ds = NBodyGravity(n_particles=5, dim=3).sample(100, seed=0)
        >>> ds.d_in, ds.d_out
        (35, 15)
    """

    name = "nbody_gravity"
    description = "N self-gravitating particles (4-8, 2-D/3-D, softened); positions, velocities, masses -> accelerations"
    force_law_text = "F_ij = -G*m_i*m_j*(r_i - r_j)/s**3 with s = sqrt(|r_i - r_j|**2 + eps**2)"

    class Params(PairwiseNBody.Params):
        G: float = Field(1.0, gt=0, description="gravitational constant")

    def pair_coefficient(self, s, sc):
        """c_ij = -G m_i m_j / s^3."""
        m = sc["m"]
        return -self.G * m[..., :, None] * m[..., None, :] / s**3

    def pair_potential_expr(self, s):
        """V = -G m_i m_j / s."""
        P = self._pair_symbols()
        return -exact(self.G) * P["m_i"] * P["m_j"] / s

    def law_parameters(self):
        return {"G": self.G}


@register_system
class NBodyCharges(PairwiseNBody):
    """Charged particles, Coulomb force F_ij = k_e q_i q_j d_ij / s_ij^3 (softened).

    Extra parameters: ``k_e`` (> 0), ``charge_range`` (charges uniform in [min, max],
    default (-1, 1), both signs). Scalars per particle: ``m{i}, q{i}``.

    Example:
        >>> ds = NBodyCharges().sample(100, seed=0)
        >>> ds.input_names[:6]
        ['x0', 'y0', 'vx0', 'vy0', 'm0', 'q0']
    """

    name = "nbody_charges"
    description = "N charged particles (4-8, 2-D/3-D, softened Coulomb); positions, velocities, m, q -> accelerations"
    scalars = ("m", "q")
    force_law_text = "F_ij = k_e*q_i*q_j*(r_i - r_j)/s**3 with s = sqrt(|r_i - r_j|**2 + eps**2)"

    class Params(PairwiseNBody.Params):
        k_e: float = Field(1.0, gt=0, description="Coulomb constant")
        charge_range: Interval() = Field((-1.0, 1.0), description="charges drawn uniformly in [min, max]")

    def pair_coefficient(self, s, sc):
        """c_ij = k_e q_i q_j / s^3."""
        q = sc["q"]
        return self.k_e * q[..., :, None] * q[..., None, :] / s**3

    def pair_potential_expr(self, s):
        """V = k_e q_i q_j / s."""
        P = self._pair_symbols()
        return exact(self.k_e) * P["q_i"] * P["q_j"] / s

    def _draw_scalars(self, rng, n_traj):
        sc = super()._draw_scalars(rng, n_traj)
        sc["q"] = rng.uniform(*self.charge_range, size=(n_traj, self.n_particles))
        return sc

    def law_parameters(self):
        return {"k_e": self.k_e, "charge_range": list(self.charge_range)}
