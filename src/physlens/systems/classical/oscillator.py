"""The 1-D harmonic oscillator H = p^2/(2m) + k q^2/2, the simplest Hamiltonian system.

Trajectories are integrated with the 4th-order symplectic method of Yoshida (1990)
(:mod:`physlens.systems.classical.integrators`), so the energy on every trajectory
is conserved to ~1e-9 relative; the targets are the exact Hamiltonian vector field
(dq/dt, dp/dt) = (p/m, -k q) at the sampled states (the convention of
Greydanus et al. 2019, "Hamiltonian Neural Networks").
"""

from __future__ import annotations

import numpy as np
import sympy as sp
from pydantic import Field

from physlens.data.dataset import Dataset
from physlens.findings import GroundTruth
from physlens.systems.base import Interval, System, SystemParams, register_system
from physlens.systems.classical.common import (
    affine,
    exact,
    flatten_trajectories,
    n_trajectories,
)
from physlens.systems.classical.integrators import integrate_separable


def parity() -> dict:
    """The ground-truth entry of the parity (q, p) -> (-q, -p) of a one-dimensional oscillator in an even potential.

    Example:
        >>> parity()["output_transform"].tolist()
        [[-1.0, -0.0], [-0.0, -1.0]]
    """
    return {"name": "parity", "kind": "discrete", "transform": -np.eye(2), "output_transform": -np.eye(2),
            "description": "(q, p) -> (-q, -p); the vector field is odd"}


@register_system
class HarmonicOscillator(System):
    """1-D harmonic oscillator; inputs (q, p), targets (dq_dt, dp_dt).

    Parameters:
        k: spring constant (> 0); m: mass (> 0).
        energy_range: range of the trajectories' energies (uniform).
        points_per_trajectory: samples per trajectory, spaced by 1/60 of a period.

    Each trajectory starts at a random phase with an energy drawn from ``energy_range``;
    samples are its states at ``points_per_trajectory`` equally spaced times (rows are
    grouped by trajectory, ``aux["trajectory"]`` and ``aux["t"]`` say which and when).

    Example:
        >>> ds = HarmonicOscillator(k=4.0, m=1.0).sample(200, seed=0)
        >>> bool(np.allclose(ds.y[:, 1], -4.0 * ds.X[:, 0]))
        True
    """

    name = "harmonic_oscillator"
    description = "1-D harmonic oscillator H = p^2/2m + k q^2/2; (q, p) -> (dq/dt, dp/dt), symplectic trajectories"

    class Params(SystemParams):
        k: float = Field(1.0, gt=0, description="spring constant")
        m: float = Field(1.0, gt=0, description="mass")
        energy_range: Interval(gt=0) = Field((0.1, 2.0), description="orbit energies drawn uniformly in [min, max]")
        points_per_trajectory: int = Field(100, ge=2, le=100_000, description="samples per orbit")

    @property
    def omega(self) -> float:
        """Angular frequency sqrt(k/m)."""
        return float(np.sqrt(self.k / self.m))

    @property
    def truth(self) -> GroundTruth:
        q, p = sp.symbols("q p", real=True)
        k, m = exact(self.k), exact(self.m)
        H = p**2 / (2 * m) + k * q**2 / 2
        x = sp.Symbol("x", real=True)
        return GroundTruth(
            conserved=[H],
            equations={"dq_dt": p / m, "dp_dt": -k * q},
            relevant_inputs=["q", "p"],
            symmetries=[
                parity(),
                {
                    "name": "scaling",
                    "kind": "continuous",
                    "generators": [affine(np.eye(2))],
                    "output_generators": [np.eye(2)],
                    "description": "(q, p) -> lambda (q, p); the linear vector field scales along (equivariance)",
                },
                {
                    "name": "time-translation",
                    "kind": "continuous",
                    "generators": [affine(np.array([[0.0, 1.0 / self.m], [-self.k, 0.0]]))],
                    "output_generators": [np.array([[0.0, 1.0 / self.m], [-self.k, 0.0]])],
                    "description": "the Hamiltonian flow itself (Noether partner of the energy); "
                    "H is invariant, the vector field equivariant",
                },
            ],
            extra={
                "hamiltonian": H,
                "textbook_form": "x'' = -(k/m) x",
                "second_order_equation": {"x''": -(k / m) * x},
                "omega": self.omega,
                "period": 2 * np.pi / self.omega,
                "parameters": {"k": self.k, "m": self.m},
                # one degree of freedom: every conserved function of (q, p) is a function of H
                "conserved_complete": True,
            },
        )

    def vector_field(self, X: np.ndarray) -> np.ndarray:
        """(dq/dt, dp/dt) = (p/m, -k q) (the :meth:`force`) for rows of states X = (q, p).

        Example:
            >>> HarmonicOscillator(k=2.0).vector_field(np.array([[1.0, 3.0]])).tolist()
            [[3.0, -2.0]]
        """
        return np.stack([X[:, 1] / self.m, self.force(X[:, 0])], axis=1)

    def force(self, q: np.ndarray) -> np.ndarray:
        """dp/dt = -k q (a subclass with another potential overrides this and :meth:`start`).

        Example:
            >>> HarmonicOscillator(k=2.0).force(np.array([1.5])).tolist()
            [-3.0]
        """
        return -self.k * q

    def start(self, E: np.ndarray, phase: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Initial states (q0, p0) of energy ``E`` at ``phase`` on the orbit.

        Example:
            >>> q0, p0 = HarmonicOscillator(k=4.0).start(np.array([2.0]), np.array([0.0]))
            >>> q0.tolist(), p0.tolist()
            ([1.0], [-0.0])
        """
        amp = np.sqrt(2 * E / self.k)
        return amp * np.cos(phase), -self.m * self.omega * amp * np.sin(phase)

    def _generate(self, n: int, rng: np.random.Generator) -> Dataset:
        T = self.points_per_trajectory
        n_traj = n_trajectories(n, T)
        E = rng.uniform(*self.energy_range, size=n_traj)
        phase = rng.uniform(0, 2 * np.pi, size=n_traj)
        q0, p0 = self.start(E, phase)
        period = 2 * np.pi / self.omega  # of the small oscillations
        substeps = 20  # integration steps between saved samples -> 1200 steps per period
        dt_save = period / 60
        qs, ps = integrate_separable(
            q0, p0, lambda p: p / self.m, self.force, dt_save / substeps, (T - 1) * substeps, substeps
        )
        traj = np.stack([qs.T, ps.T], axis=-1)  # (n_traj, T, 2)
        times = dt_save * np.arange(T)
        X, aux = flatten_trajectories(traj, times, n)
        aux["energy"] = np.repeat(E, T)[:n]
        return Dataset(
            X,
            self.vector_field(X),
            ["q", "p"],
            ["dq_dt", "dp_dt"],
            trajectories=traj,
            times=times,
            state_names=["q", "p"],
            aux=aux,
            meta={"canonical": {"q": [0], "p": [1]}, "integrator": "yoshida4", "dt": dt_save / substeps},
        )
