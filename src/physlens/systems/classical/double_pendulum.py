"""The planar double pendulum in canonical coordinates: a chaotic Hamiltonian system.

State ``theta1, theta2, p1, p2``: angles from the downward vertical and their
conjugate momenta (p_i = dL/d(theta_i')). With Delta = theta1 - theta2 and
D = m1 + m2 sin^2(Delta), the Hamiltonian is (Goldstein, Classical Mechanics, ch. 8)::

    H = (m2 l2^2 p1^2 + (m1+m2) l1^2 p2^2 - 2 m2 l1 l2 p1 p2 cos Delta) / (2 m2 l1^2 l2^2 D)
        - (m1+m2) g l1 cos theta1 - m2 g l2 cos theta2

Energy is its only conserved quantity (the motion is chaotic at the default
energies: both pendulums start at rest from angles uniform in [-theta_max, theta_max]).
Targets are Hamilton's equations ``dtheta1_dt, dtheta2_dt, dp1_dt, dp2_dt`` evaluated
exactly at the sampled states. H is not separable, so trajectories use classical RK4
with a small step (the energy error per trajectory is reported in ``aux["energy_error"]``).
Angles are not wrapped: a pendulum that goes over the top keeps counting.
"""

from __future__ import annotations

import math

import numpy as np
import sympy as sp
from pydantic import Field

from physlens.data.dataset import Dataset
from physlens.findings import GroundTruth
from physlens.systems.base import System, SystemParams, register_system
from physlens.systems.classical.common import (
    affine,
    exact,
    flatten_trajectories,
    n_trajectories,
)
from physlens.systems.classical.integrators import rk4



def _hamiltonian(state, constants, lib):
    """H = T - V of the double pendulum in canonical coordinates, written once for SymPy and NumPy.

    ``state`` is (theta1, theta2, p1, p2), ``constants`` (m1, m2, l1, l2, g) and ``lib`` the module
    that supplies ``sin`` and ``cos`` (``sympy`` for the truth expression, ``numpy`` for the energy).
    """
    t1, t2, p1, p2 = state
    m1, m2, l1, l2, g = constants
    delta = t1 - t2
    D = m1 + m2 * lib.sin(delta) ** 2
    T = (m2 * l2**2 * p1**2 + (m1 + m2) * l1**2 * p2**2 - 2 * m2 * l1 * l2 * p1 * p2 * lib.cos(delta)) / (
        2 * m2 * l1**2 * l2**2 * D
    )
    return T - (m1 + m2) * g * l1 * lib.cos(t1) - m2 * g * l2 * lib.cos(t2)


@register_system
class DoublePendulum(System):
    """Chaotic double pendulum; inputs (theta1, theta2, p1, p2), targets their time derivatives.

    Parameters: masses ``m1, m2``, lengths ``l1, l2``, gravity ``g`` (all > 0),
    ``theta_max`` (initial angles in [-theta_max, theta_max], <= pi), ``points_per_trajectory``
    and ``dt`` (time between samples).

    Example:
        >>> ds = DoublePendulum().sample(100, seed=0)
        >>> ds.input_names, ds.target_names[2]
        (['theta1', 'theta2', 'p1', 'p2'], 'dp1_dt')
    """

    name = "double_pendulum"
    description = "chaotic double pendulum in canonical (theta1, theta2, p1, p2) -> Hamilton's equations; energy conserved"

    class Params(SystemParams):
        m1: float = Field(1.0, gt=0, description="mass of the upper bob")
        m2: float = Field(1.0, gt=0, description="mass of the lower bob")
        l1: float = Field(1.0, gt=0, description="length of the upper rod")
        l2: float = Field(1.0, gt=0, description="length of the lower rod")
        g: float = Field(9.81, gt=0, description="gravitational acceleration")
        theta_max: float = Field(2.5, gt=0, le=math.pi, description="initial angles drawn in [-theta_max, theta_max] (rad)")
        points_per_trajectory: int = Field(100, ge=2, le=100_000, description="samples per trajectory")
        dt: float = Field(0.05, gt=0, description="time between samples")

    # ------------------------------------------------------------------ physics
    def hamiltonian_expr(self) -> sp.Expr:
        """H(theta1, theta2, p1, p2) as SymPy with this system's parameter values."""
        state = sp.symbols("theta1 theta2 p1 p2", real=True)
        constants = tuple(exact(v) for v in (self.m1, self.m2, self.l1, self.l2, self.g))
        return _hamiltonian(state, constants, sp)

    def energy(self, state: np.ndarray) -> np.ndarray:
        """H at states (..., 4).

        Example:
            >>> float(DoublePendulum(g=1.0).energy(np.zeros(4)))
            -3.0
        """
        constants = (self.m1, self.m2, self.l1, self.l2, self.g)
        return _hamiltonian(tuple(state[..., i] for i in range(4)), constants, np)

    def vector_field(self, state: np.ndarray) -> np.ndarray:
        """Hamilton's equations (dtheta1, dtheta2, dp1, dp2)/dt at states (..., 4).

        Written out by hand (the standard closed form) so sampling needs no code generation;
        the tests check it against SymPy derivatives of :meth:`hamiltonian_expr`.

        Example:
            >>> v = DoublePendulum(g=1.0).vector_field(np.array([np.pi / 2, 0.0, 1.0, 0.0]))
            >>> [round(float(c), 6) for c in v[[0, 2]]]  # dtheta1/dt = p1 / (m1 + m2), dp1/dt = -(m1 + m2) g l1
            [0.5, -2.0]
        """
        m1, m2, l1, l2, g = self.m1, self.m2, self.l1, self.l2, self.g
        t1, t2, p1, p2 = (state[..., i] for i in range(4))
        delta = t1 - t2
        s, c = np.sin(delta), np.cos(delta)
        D = m1 + m2 * s**2
        dt1 = (l2 * p1 - l1 * p2 * c) / (l1**2 * l2 * D)
        dt2 = ((m1 + m2) * l1 * p2 - m2 * l2 * p1 * c) / (m2 * l1 * l2**2 * D)
        C1 = p1 * p2 * s / (l1 * l2 * D)
        C2 = (m2 * l2**2 * p1**2 + (m1 + m2) * l1**2 * p2**2 - 2 * m2 * l1 * l2 * p1 * p2 * c) * np.sin(2 * delta) / (
            2 * l1**2 * l2**2 * D**2
        )
        dp1 = -(m1 + m2) * g * l1 * np.sin(t1) - C1 + C2
        dp2 = -m2 * g * l2 * np.sin(t2) + C1 - C2
        return np.stack([dt1, dt2, dp1, dp2], axis=-1)

    @property
    def truth(self) -> GroundTruth:
        H = self.hamiltonian_expr()
        t1, t2, p1, p2 = sp.symbols("theta1 theta2 p1 p2", real=True)
        equations = {
            "dtheta1_dt": sp.diff(H, p1),
            "dtheta2_dt": sp.diff(H, p2),
            "dp1_dt": -sp.diff(H, t1),
            "dp2_dt": -sp.diff(H, t2),
        }
        shift1 = np.zeros(4)
        shift1[0] = 2 * np.pi
        shift2 = np.zeros(4)
        shift2[1] = 2 * np.pi
        return GroundTruth(
            symmetries=[
                {"name": "parity", "kind": "discrete", "transform": -np.eye(4), "output_transform": -np.eye(4),
                 "description": "mirror image: all angles and momenta change sign"},
                {"name": "time-reversal", "kind": "discrete", "transform": np.diag([1.0, 1.0, -1.0, -1.0]),
                 "output_transform": np.diag([-1.0, -1.0, 1.0, 1.0]), "description": "p -> -p"},
                {"name": "periodicity", "kind": "discrete", "transform": affine(np.eye(4), shift1),
                 "description": "theta1 -> theta1 + 2 pi (affine), targets unchanged"},
                {"name": "periodicity", "kind": "discrete", "transform": affine(np.eye(4), shift2),
                 "description": "theta2 -> theta2 + 2 pi (affine), targets unchanged"},
            ],
            conserved=[H],
            equations=equations,
            relevant_inputs=["theta1", "theta2", "p1", "p2"],
            extra={
                "hamiltonian": H,
                "chaotic": True,
                "only_conserved": "energy",
                "coordinates": "canonical: p_i = dL/d(theta_i')",
                "parameters": {"m1": self.m1, "m2": self.m2, "l1": self.l1, "l2": self.l2, "g": self.g},
                # non-integrable (no meromorphic first integral independent of H): the energy is the whole list
                "conserved_complete": True,
            },
        )

    # ------------------------------------------------------------------ sampling
    def _generate(self, n: int, rng: np.random.Generator) -> Dataset:
        T = self.points_per_trajectory
        n_traj = n_trajectories(n, T)
        y0 = np.zeros((n_traj, 4))
        y0[:, :2] = rng.uniform(-self.theta_max, self.theta_max, size=(n_traj, 2))
        omega0 = np.sqrt(self.g / min(self.l1, self.l2))
        substeps = max(1, int(np.ceil(self.dt / (0.01 / omega0))))
        h = self.dt / substeps
        states = rk4(self.vector_field, y0, h, (T - 1) * substeps, substeps)
        traj = states.transpose(1, 0, 2)
        times = self.dt * np.arange(T)
        X, aux = flatten_trajectories(traj, times, n)
        E = self.energy(traj)
        aux["energy_error"] = np.abs(E - E[:, :1]).max(axis=1)[aux["trajectory"]]
        names = ["theta1", "theta2", "p1", "p2"]
        return Dataset(
            X,
            self.vector_field(X),
            names,
            [f"d{c}_dt" for c in names],
            trajectories=traj,
            times=times,
            state_names=names,
            aux=aux,
            meta={"canonical": {"q": [0, 1], "p": [2, 3]}, "integrator": "rk4", "dt": h},
        )
