"""The damped pendulum with hidden per-trajectory parameters.

Equation of motion (exact form used here)::

    dtheta/dt = omega
    domega/dt = -k sin(theta) - b omega

with k = g/l (> 0) and damping rate b (>= 0). Each trajectory draws its own k and b
uniformly from ``k_range`` and ``b_range``; they are hidden from the inputs (they go
in ``aux["k"]``, ``aux["b"]`` per sample and ``meta["trajectory_params"]`` per
trajectory) unless ``observe_params=True`` adds them as input columns. So the map
(theta, omega) -> derivatives is only determined up to two latent numbers
(``latent_dim = 2``), the setting of SciNet-style latent discovery
(Iten et al. 2020, PRL 124, 010508). Integrated with classical RK4 (dissipative,
so no symplectic method applies).
"""

from __future__ import annotations

import math

import numpy as np
import sympy as sp
from pydantic import Field

from physlens.data.dataset import Dataset
from physlens.findings import GroundTruth
from physlens.systems.base import Interval, System, SystemParams, register_system
from physlens.systems.classical.common import (
    flatten_trajectories,
    n_trajectories,
)
from physlens.systems.classical.integrators import rk4


@register_system
class DampedPendulum(System):
    """Damped pendulum theta'' = -k sin(theta) - b theta' with random hidden k, b per trajectory.

    Parameters:
        k_range: range of k = g/l (> 0).
        b_range: range of the damping rate b (>= 0).
        theta_max: initial angles uniform in [-theta_max, theta_max] (0 < theta_max <= pi).
        omega_max: initial angular velocities uniform in [-omega_max, omega_max].
        points_per_trajectory: samples per trajectory, spaced by ``dt``.
        dt: time between samples.
        observe_params: if True, ``k`` and ``b`` are also input columns.

    Inputs ``theta, omega`` (plus ``k, b`` if observed); targets ``dtheta_dt, domega_dt``.

    Example:
        >>> ds = DampedPendulum().sample(200, seed=0)
        >>> k, b = ds.aux["k"], ds.aux["b"]
        >>> bool(np.allclose(ds.y[:, 1], -k * np.sin(ds.X[:, 0]) - b * ds.X[:, 1]))
        True
    """

    name = "damped_pendulum"
    description = "damped pendulum theta'' = -k sin(theta) - b theta' with hidden random k, b per trajectory (latent dim 2)"

    class Params(SystemParams):
        k_range: Interval(gt=0) = Field((0.5, 2.0), description="stiffness k (= g/l) drawn uniformly in [min, max]")
        b_range: Interval(ge=0) = Field((0.05, 0.5), description="damping b drawn uniformly in [min, max]")
        theta_max: float = Field(2.5, gt=0, le=math.pi, description="initial angles drawn in [-theta_max, theta_max] (rad)")
        omega_max: float = Field(1.0, ge=0, description="initial angular velocities drawn in [-omega_max, omega_max]")
        points_per_trajectory: int = Field(100, ge=2, le=100_000, description="samples per trajectory")
        dt: float = Field(0.1, gt=0, description="time between samples")
        observe_params: bool = Field(False, description="add k and b to the inputs")

    @property
    def input_names(self) -> list[str]:
        """``theta, omega`` (and ``k, b`` when observed)."""
        return ["theta", "omega"] + (["k", "b"] if self.observe_params else [])

    @property
    def truth(self) -> GroundTruth:
        theta, omega, k, b = sp.symbols("theta omega k b", real=True)
        return GroundTruth(
            equations={"dtheta_dt": omega, "domega_dt": -k * sp.sin(theta) - b * omega},
            latent_dim=0 if self.observe_params else 2,
            relevant_inputs=self.input_names,
            symmetries=[
                {
                    "name": "parity",
                    "kind": "discrete",
                    "transform": np.diag([-1.0, -1.0] + [1.0, 1.0] * self.observe_params),
                    "output_transform": -np.eye(2),
                    "description": "(theta, omega) -> (-theta, -omega); the vector field is odd",
                }
            ],
            extra={
                "ode": "theta'' = -k*sin(theta) - b*theta'",
                "second_order_equation": {"theta''": -k * sp.sin(theta) - b * omega},
                "latent_variables": [] if self.observe_params else ["k", "b"],
                "hidden_parameters": ["k", "b"],
                "energy": omega**2 / 2 - k * sp.cos(theta),
                "energy_rate": -b * omega**2,
                # every trajectory damped (b > 0) and no parameter observed: nothing is conserved
                "conserved_complete": self.b_range[0] > 0 and not self.observe_params,
                "k_range": list(self.k_range),
                "b_range": list(self.b_range),
            },
        )

    @staticmethod
    def vector_field(state: np.ndarray, k: np.ndarray, b: np.ndarray) -> np.ndarray:
        """(dtheta/dt, domega/dt) for states (..., 2) with matching k, b (...).

        Example:
            >>> DampedPendulum.vector_field(np.array([[0.0, 1.0]]), np.array([1.0]), np.array([0.5])).tolist()
            [[1.0, -0.5]]
        """
        theta, omega = state[..., 0], state[..., 1]
        return np.stack([omega, -k * np.sin(theta) - b * omega], axis=-1)

    def _generate(self, n: int, rng: np.random.Generator) -> Dataset:
        T = self.points_per_trajectory
        n_traj = n_trajectories(n, T)
        k = rng.uniform(*self.k_range, size=n_traj)
        b = rng.uniform(*self.b_range, size=n_traj)
        y0 = np.stack(
            [rng.uniform(-self.theta_max, self.theta_max, n_traj), rng.uniform(-self.omega_max, self.omega_max, n_traj)],
            axis=1,
        )
        # RK4 step: at most 0.02 of the shortest small-oscillation period / (2 pi)
        substeps = max(1, int(np.ceil(self.dt / (0.02 / np.sqrt(self.k_range[1])))))
        h = self.dt / substeps
        states = rk4(lambda s: self.vector_field(s, k, b), y0, h, (T - 1) * substeps, substeps)
        traj = states.transpose(1, 0, 2)  # (n_traj, T, 2)
        times = self.dt * np.arange(T)
        rows, aux = flatten_trajectories(traj, times, n)
        ks, bs = k[aux["trajectory"]], b[aux["trajectory"]]
        y = self.vector_field(rows, ks, bs)
        aux["k"], aux["b"] = ks, bs
        X = np.hstack([rows, ks[:, None], bs[:, None]]) if self.observe_params else rows
        return Dataset(
            X,
            y,
            self.input_names,
            ["dtheta_dt", "domega_dt"],
            trajectories=traj,
            times=times,
            state_names=["theta", "omega"],
            aux=aux,
            meta={"trajectory_params": {"k": k, "b": b}, "integrator": "rk4", "dt": h},
        )
