"""The Kepler problem: a test mass in the field of a central mass, H = |v|^2/2 - GM/|r| (per unit mass).

Bound orbits with random semi-major axes, eccentricities, orientations and starting
points (the mean anomaly is drawn uniformly and Kepler's equation E - e sin E = M is
solved by Newton's method, so the starting point is uniform in time along the orbit).
Each orbit is then advanced with the 4th-order symplectic integrator of Yoshida (1990),
which keeps the energy bounded over thousands of periods.

Inputs are the reduced single-body state ``x, y[, z], vx, vy[, vz]`` (unit test mass,
so velocities are the canonical momenta). ``target`` chooses the targets:

* ``"derivatives"`` (default): ``dx_dt, dy_dt[, dz_dt], dvx_dt, dvy_dt[, dvz_dt]`` = (v, -GM r/|r|^3);
* ``"energy"``: ``E`` = |v|^2/2 - GM/|r|;
* ``"acceleration"``: ``ax, ay[, az]`` = -GM r/|r|^3.

Ground truth: energy, angular momentum (L_z in 2-D, the vector L in 3-D) and the
Laplace-Runge-Lenz vector A = v x L - GM r/|r| are conserved; the rotations SO(d) act
on position and velocity at once (block-diagonal generators). For the vector-valued
targets the mechanical-similarity scaling r -> lambda r, v -> lambda^(-1/2) v is listed too
(an equivariance: it changes the energy, so it is not listed for ``target="energy"``). For the vector-valued
targets ``"output_generators"`` give the action on the targets (equivariance):
y(x + eps L x) = y(x) + eps L_out y(x) + O(eps^2). A symmetry without
``output_generators``/``output_transform`` leaves the target invariant.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import sympy as sp
from pydantic import Field, model_validator

from physlens.data.dataset import Dataset
from physlens.findings import GroundTruth
from physlens.systems.base import Interval, System, SystemParams, register_system
from physlens.systems.classical.common import (
    affine,
    block_action,
    exact,
    flatten_trajectories,
    n_trajectories,
    so_basis,
)
from physlens.systems.classical.integrators import integrate_separable

AXES = ("x", "y", "z")


def solve_kepler_equation(M: np.ndarray, e: np.ndarray, tol: float = 1e-14) -> np.ndarray:
    """Eccentric anomaly E with E - e sin E = M (Newton's method, vectorised, e < 1).

    Example:
        >>> E = solve_kepler_equation(np.array([1.0]), np.array([0.5]))
        >>> bool(abs(E[0] - 0.5 * np.sin(E[0]) - 1.0) < 1e-12)
        True
    """
    M = np.asarray(M, dtype=float)
    e = np.asarray(e, dtype=float)
    E = np.where(e < 0.8, M, np.pi * np.ones_like(M))
    for _ in range(100):
        step = (E - e * np.sin(E) - M) / (1.0 - e * np.cos(E))
        E = E - step
        if np.max(np.abs(step)) < tol:
            break
    return E


def orbit_state(a: np.ndarray, e: np.ndarray, M: np.ndarray, GM: float) -> tuple[np.ndarray, np.ndarray]:
    """Position and velocity in the orbital plane (periapsis on +x, motion counter-clockwise).

    ``a``: semi-major axes, ``e``: eccentricities, ``M``: mean anomalies. Returns arrays (k, 2).

    Example:
        >>> r, v = orbit_state(np.array([1.0]), np.array([0.0]), np.array([0.0]), 1.0)
        >>> r.tolist(), v.tolist()
        ([[1.0, 0.0]], [[-0.0, 1.0]])
    """
    E = solve_kepler_equation(M, e)
    b = a * np.sqrt(1.0 - e**2)
    r = np.stack([a * (np.cos(E) - e), b * np.sin(E)], axis=1)
    dist = a * (1.0 - e * np.cos(E))
    s = np.sqrt(GM * a) / dist
    v = np.stack([-s * np.sin(E), s * np.sqrt(1.0 - e**2) * np.cos(E)], axis=1)
    return r, v


def random_rotations(rng: np.random.Generator, k: int, dim: int) -> np.ndarray:
    """``k`` random orthogonal dim x dim matrices, Haar-distributed on O(dim) (QR with sign fix).

    Reflections are included so that orbits of both senses of rotation occur.

    Example:
        >>> R = random_rotations(np.random.default_rng(0), 3, 3)
        >>> bool(np.allclose(R[0] @ R[0].T, np.eye(3)))
        True
    """
    A = rng.standard_normal((k, dim, dim))
    Q, Rr = np.linalg.qr(A)
    return Q * np.sign(np.diagonal(Rr, axis1=1, axis2=2))[:, None, :]


def kepler_acceleration(r: np.ndarray, GM: float) -> np.ndarray:
    """-GM r / |r|^3 on the last axis.

    Example:
        >>> kepler_acceleration(np.array([[2.0, 0.0]]), 4.0).tolist()
        [[-1.0, -0.0]]
    """
    d = np.sqrt(np.sum(r * r, axis=-1, keepdims=True))
    return -GM * r / d**3


@register_system
class Kepler(System):
    """Bound Kepler orbits in 2-D or 3-D (see the module docstring for the layout).

    Parameters:
        dim: 2 or 3.
        GM: gravitational parameter of the central body (> 0).
        target: ``"derivatives"``, ``"energy"`` or ``"acceleration"``.
        eccentricity_range: eccentricities drawn uniformly in [min, max], 0 <= min <= max <= 0.9.
        semi_major_range: semi-major axes drawn uniformly, max/min <= 10.
        points_per_trajectory: samples per orbit, equally spaced in time over one
            period of the widest possible orbit (so every orbit is covered at least once).

    Example:
        >>> ds = Kepler(dim=2, target="energy").sample(300, seed=0)
        >>> ds.input_names, ds.target_names
        (['x', 'y', 'vx', 'vy'], ['E'])
    """

    name = "kepler"
    description = "Kepler orbits (2-D/3-D) of a test mass; targets: state derivatives, energy or acceleration"
    # 400 orbits of 10 states fill phase space; 20 orbits of 100 left pericentres unseen (emulator error 18 %)
    discover_params = {"points_per_trajectory": 10}
    discover_n = 4000

    class Params(SystemParams):
        dim: Literal[2, 3] = Field(2, description="number of space dimensions")
        GM: float = Field(1.0, gt=0, description="gravitational parameter of the central body")
        target: Literal["derivatives", "energy", "acceleration"] = Field(
            "derivatives", description="targets: state derivatives (v, a), the energy E, or the acceleration")
        eccentricity_range: Interval(ge=0, le=0.9) = Field(
            (0.0, 0.6), description="eccentricities drawn uniformly in [min, max]")
        semi_major_range: Interval(gt=0) = Field(
            (0.5, 1.5), description="semi-major axes drawn uniformly in [min, max], max <= 10 min")
        points_per_trajectory: int = Field(
            100, ge=2, le=10_000, description="samples per orbit, over one period of the widest orbit")

        @model_validator(mode="after")
        def _span(self):
            lo, hi = self.semi_major_range
            if hi > 10 * lo:
                raise ValueError(f"parameter semi_major_range must have max <= 10 * min, got {self.semi_major_range!r}")
            return self

    # ------------------------------------------------------------------ names
    @property
    def input_names(self) -> list[str]:
        """``x, y[, z], vx, vy[, vz]``."""
        ax = AXES[: self.dim]
        return list(ax) + [f"v{a}" for a in ax]

    @property
    def target_names(self) -> list[str]:
        """Target columns for the chosen ``target``."""
        if self.target == "energy":
            return ["E"]
        if self.target == "acceleration":
            return [f"a{a}" for a in AXES[: self.dim]]
        return [f"d{c}_dt" for c in self.input_names]

    # ------------------------------------------------------------------ physics
    def target_function(self, X: np.ndarray) -> np.ndarray:
        """The exact targets for rows of states X.

        Example:
            >>> Kepler(target="energy").target_function(np.array([[1.0, 0.0, 0.0, 1.0]])).tolist()
            [[-0.5]]
        """
        d = self.dim
        r, v = X[:, :d], X[:, d:]
        if self.target == "energy":
            return (0.5 * np.sum(v * v, axis=1) - self.GM / np.linalg.norm(r, axis=1))[:, None]
        acc = kepler_acceleration(r, self.GM)
        if self.target == "acceleration":
            return acc
        return np.hstack([v, acc])

    @property
    def truth(self) -> GroundTruth:
        d = self.dim
        names = self.input_names
        syms = sp.symbols(names, real=True)
        r, v = sp.Matrix(syms[:d]), sp.Matrix(syms[d:])
        GM = exact(self.GM)
        dist = sp.sqrt(sum(c**2 for c in r))
        energy = sum(c**2 for c in v) / 2 - GM / dist
        acc = [-GM * c / dist**3 for c in r]
        if d == 2:
            Lz = r[0] * v[1] - r[1] * v[0]
            lrl = [v[1] * Lz - GM * r[0] / dist, -v[0] * Lz - GM * r[1] / dist]
            angular = [Lz]
        else:
            Lvec = r.cross(v)
            A = v.cross(Lvec) - GM * r / dist
            angular = list(Lvec)
            lrl = list(A)
        if self.target == "energy":
            equations = {"E": energy}
        elif self.target == "acceleration":
            equations = dict(zip(self.target_names, acc))
        else:
            equations = dict(zip(self.target_names, list(v) + acc))

        n = 2 * d
        gens, outs = [], []
        for J in so_basis(d):
            gens.append(affine(block_action(n, J, [0, d])))
            if self.target == "derivatives":
                outs.append(block_action(n, J, [0, d]))
            elif self.target == "acceleration":
                outs.append(J.copy())
        rotation = {
            "name": f"so({d})",
            "kind": "continuous",
            "generators": gens,
            "description": "rotations acting on position and velocity simultaneously",
        }
        if outs:
            rotation["output_generators"] = outs
        # mechanical similarity (Kepler's third law): r -> lambda r, v -> lambda^(-1/2) v, t -> lambda^(3/2) t
        scale_in = np.diag([1.0] * d + [-0.5] * d)
        scaling = {
            "name": "scaling",
            "kind": "continuous",
            "generators": [affine(scale_in)],
            "description": "r -> lambda r, v -> lambda^(-1/2) v (mechanical similarity, Kepler's third law); "
            "velocities scale by lambda^(-1/2), accelerations by lambda^(-2)",
        }
        if self.target == "derivatives":
            scaling["output_generators"] = [np.diag([-0.5] * d + [-2.0] * d)]
        elif self.target == "acceleration":
            scaling["output_generators"] = [-2.0 * np.eye(d)]
        reflect = np.eye(d)
        reflect[-1, -1] = -1.0
        reflection = {
            "name": "parity",
            "kind": "discrete",
            "transform": block_action(n, reflect, [0, d]),
            "description": f"reflection of the {AXES[d - 1]} axis of position and velocity (O({d}) \\ SO({d}))",
        }
        time_rev = {
            "name": "time-reversal",
            "kind": "discrete",
            "transform": np.diag([1.0] * d + [-1.0] * d),
            "description": "v -> -v",
        }
        if self.target == "derivatives":
            reflection["output_transform"] = block_action(n, reflect, [0, d])
            time_rev["output_transform"] = np.diag([-1.0] * d + [1.0] * d)
        elif self.target == "acceleration":
            reflection["output_transform"] = reflect
            time_rev["output_transform"] = np.eye(d)
        relevant = names if self.target != "acceleration" else names[:d]
        continuous = [rotation] if self.target == "energy" else [rotation, scaling]
        return GroundTruth(
            symmetries=[*continuous, reflection, time_rev],
            conserved=[energy, *angular, *lrl],
            equations=equations,
            relevant_inputs=list(relevant),
            extra={
                "force_law": "F = -G*M*m*r/|r|**3",
                "acceleration": dict(zip([f"a{a}" for a in AXES[:d]], acc)),
                "hamiltonian": energy,
                "conserved_names": ["energy"]
                + (["L_z"] if d == 2 else ["L_x", "L_y", "L_z"])
                + [f"A_{a}" for a in AXES[:d]],
                "GM": self.GM,
                "target": self.target,
                # maximally superintegrable: E, L and the Runge-Lenz vector give the 2d - 1 independent integrals
                "conserved_complete": True,
                **(
                    {"target_invariance_note": "E depends on |r| and |v| only, so rotating positions and velocities "
                     "separately also leaves it invariant (so(d) + so(d)); the physical symmetry listed is the joint one",
                     "similarity": "E(lambda r, lambda^(-1/2) v) = E(r, v) / lambda (scaling, not an invariance)"}
                    if self.target == "energy"
                    else {}
                ),
            },
        )

    # ------------------------------------------------------------------ sampling
    def _generate(self, n: int, rng: np.random.Generator) -> Dataset:
        d, T, GM = self.dim, self.points_per_trajectory, self.GM
        n_traj = n_trajectories(n, T)
        a = rng.uniform(*self.semi_major_range, size=n_traj)
        e = rng.uniform(*self.eccentricity_range, size=n_traj)
        M = rng.uniform(0, 2 * np.pi, size=n_traj)
        r2, v2 = orbit_state(a, e, M, GM)
        if d == 3:
            r2 = np.hstack([r2, np.zeros((n_traj, 1))])
            v2 = np.hstack([v2, np.zeros((n_traj, 1))])
        R = random_rotations(rng, n_traj, d)
        r0 = np.einsum("kij,kj->ki", R, r2)
        v0 = np.einsum("kij,kj->ki", R, v2)

        t_span = 2 * np.pi * np.sqrt(self.semi_major_range[1] ** 3 / GM)
        r_peri = a * (1 - e)
        dt_max = 0.02 * float(np.min(np.sqrt(r_peri**3 / GM)))
        substeps = max(1, int(np.ceil(t_span / (T - 1) / dt_max)))
        dt_save = t_span / (T - 1)
        rs, vs = integrate_separable(
            r0, v0, lambda v: v, lambda r: kepler_acceleration(r, GM), dt_save / substeps, (T - 1) * substeps, substeps
        )
        traj = np.concatenate([rs, vs], axis=-1).transpose(1, 0, 2)  # (n_traj, T, 2d)
        times = dt_save * np.arange(T)
        X, aux = flatten_trajectories(traj, times, n)
        aux["eccentricity"] = np.repeat(e, T)[:n]
        aux["semi_major_axis"] = np.repeat(a, T)[:n]
        particles = {"n": 1, "dim": d, "vectors": ["pos", "vel"], "scalars": [], "metric": "euclidean"}
        if self.target == "derivatives":
            particles["target_vectors"] = ["vel", "acc"]
        elif self.target == "acceleration":
            particles["target_vectors"] = ["acc"]
        return self.trajectory_dataset(
            X, traj, times, aux=aux,
            meta={
                "canonical": {"q": list(range(d)), "p": list(range(d, 2 * d))},
                "particles": particles,
                "integrator": "yoshida4",
                "dt": dt_save / substeps,
            },
        )
