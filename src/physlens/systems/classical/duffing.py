"""The undamped Duffing oscillator H = p^2/(2m) + k q^2/2 + b q^4/4: an anharmonic well.

Its energy is a quartic polynomial, one degree beyond the cubic library the conservation
probe starts from, so it is the built-in case of a conserved quantity found only in a
wider library (:func:`physlens.probes.conservation.library.wider_libraries`). The well
hardens with ``b`` > 0 and every orbit is closed; the period falls with the energy. As for
the harmonic oscillator, trajectories are integrated with Yoshida's 4th-order symplectic
method (the energy is kept to ~1e-9 relative) and the targets are the exact Hamiltonian
vector field (dq/dt, dp/dt) = (p/m, -k q - b q^3) at the sampled states.
"""

from __future__ import annotations

import numpy as np
import sympy as sp
from pydantic import Field

from physlens.data.dataset import Dataset
from physlens.findings import GroundTruth
from physlens.systems.base import Interval, System, SystemParams, register_system
from physlens.systems.classical.common import exact, flatten_trajectories, n_trajectories
from physlens.systems.classical.integrators import integrate_separable


@register_system
class Duffing(System):
    """Undamped Duffing oscillator; inputs (q, p), targets (dq_dt, dp_dt).

    Each trajectory starts at a random point of the level set H = E with E drawn uniformly from
    ``energy_range``; samples are its states at ``points_per_trajectory`` times spaced by 1/60 of
    the small-oscillation period 2 pi sqrt(m/k) (``aux["trajectory"]``, ``aux["t"]``, ``aux["energy"]``).

    Example:
        >>> ds = Duffing(b=2.0).sample(200, seed=0)
        >>> q, p = ds.X[:, 0], ds.X[:, 1]
        >>> bool(np.allclose(ds.y[:, 1], -q - 2.0 * q**3))
        True
        >>> E = p**2 / 2 + q**2 / 2 + 2.0 * q**4 / 4
        >>> bool(np.ptp(E[ds.aux["trajectory"] == 0]) < 1e-7 * E[0])
        True
    """

    name = "duffing"
    description = "undamped Duffing oscillator H = p^2/2m + k q^2/2 + b q^4/4: a quartic energy conserved, parity"

    class Params(SystemParams):
        k: float = Field(1.0, gt=0, description="linear stiffness")
        b: float = Field(1.0, gt=0, description="cubic stiffness (a hardening well)")
        m: float = Field(1.0, gt=0, description="mass")
        energy_range: Interval(gt=0) = Field((0.1, 2.0), description="orbit energies drawn uniformly in [min, max]")
        points_per_trajectory: int = Field(100, ge=2, le=100_000, description="samples per orbit")

    @property
    def truth(self) -> GroundTruth:
        q, p = sp.symbols("q p", real=True)
        k, b, m = exact(self.k), exact(self.b), exact(self.m)
        H = p**2 / (2 * m) + k * q**2 / 2 + b * q**4 / 4
        x = sp.Symbol("x", real=True)
        return GroundTruth(
            conserved=[H],
            equations={"dq_dt": p / m, "dp_dt": -k * q - b * q**3},
            relevant_inputs=["q", "p"],
            symmetries=[
                {
                    "name": "parity",
                    "kind": "discrete",
                    "transform": -np.eye(2),
                    "output_transform": -np.eye(2),
                    "description": "(q, p) -> (-q, -p); the vector field is odd",
                },
            ],
            extra={
                "hamiltonian": H,
                "textbook_form": "x'' = -(k/m) x - (b/m) x^3",
                "second_order_equation": {"x''": -(k / m) * x - (b / m) * x**3},
                "parameters": {"k": self.k, "b": self.b, "m": self.m},
                # one degree of freedom: every conserved function of (q, p) is a function of H
                "conserved_complete": True,
            },
        )

    def vector_field(self, X: np.ndarray) -> np.ndarray:
        """(dq/dt, dp/dt) = (p/m, -k q - b q^3) for rows of states X = (q, p).

        Example:
            >>> Duffing(k=2.0, b=1.0).vector_field(np.array([[1.0, 3.0]])).tolist()
            [[3.0, -3.0]]
        """
        q = X[:, 0]
        return np.stack([X[:, 1] / self.m, -self.k * q - self.b * q**3], axis=1)

    def _generate(self, n: int, rng: np.random.Generator) -> Dataset:
        T = self.points_per_trajectory
        n_traj = n_trajectories(n, T)
        E = rng.uniform(*self.energy_range, size=n_traj)
        phase = rng.uniform(0, 2 * np.pi, size=n_traj)
        # a point of H = E: the kinetic share sin^2, the potential share cos^2 (k u/2 + b u^2/4 = E cos^2, u = q^2)
        potential = E * np.cos(phase) ** 2
        u = (-self.k / 2 + np.sqrt(self.k**2 / 4 + self.b * potential)) / (self.b / 2)
        q0 = np.sign(np.cos(phase)) * np.sqrt(u)
        p0 = np.sqrt(2 * self.m * E) * np.sin(phase)
        substeps = 20
        dt_save = 2 * np.pi * np.sqrt(self.m / self.k) / 60
        qs, ps = integrate_separable(q0, p0, lambda p: p / self.m, lambda q: -self.k * q - self.b * q**3,
                                     dt_save / substeps, (T - 1) * substeps, substeps)
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
