"""Rabi oscillations of a driven two-level system.

In the frame rotating with the drive (rotating-wave approximation, hbar = 1)
the Hamiltonian is H = (Omega sigma_x - Delta sigma_z) / 2 with Rabi frequency
Omega and detuning Delta. The system starts in |0> and the target is the
probability of finding it in |1> after time t,

    P(t) = Omega^2 / (Omega^2 + Delta^2) * sin^2(sqrt(Omega^2 + Delta^2) t / 2)

(Rabi 1937; e.g. Sakurai, Modern Quantum Mechanics, sec. 5.5). P is computed
here by exponentiating the 2x2 Hamiltonian (``scipy.linalg.expm`` on the whole
batch), not from the formula, so the formula is a checkable ground truth.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import sympy as sp
from pydantic import Field

from physlens.data.dataset import Dataset
from physlens.findings import GroundTruth
from physlens.systems.base import Interval, System, SystemParams, register_system

SIGMA_X = np.array([[0, 1], [1, 0]], dtype=complex)
SIGMA_Z = np.array([[1, 0], [0, -1]], dtype=complex)


def transition_probability(omega: np.ndarray, delta: np.ndarray, t: np.ndarray) -> np.ndarray:
    """P(|0> -> |1>) after time t under H = (Omega sx - Delta sz)/2, by matrix exponential.

    Example:
        >>> float(transition_probability(np.array([1.0]), np.array([0.0]), np.array([np.pi]))[0])
        1.0
    """
    omega, delta, t = (np.asarray(a, dtype=float).reshape(-1) for a in (omega, delta, t))
    H = 0.5 * (omega[:, None, None] * SIGMA_X - delta[:, None, None] * SIGMA_Z)
    U = scipy.linalg.expm(-1j * H * t[:, None, None])
    return np.abs(U[:, 1, 0]) ** 2


@register_system
class Rabi(System):
    """Driven two-level system: inputs (Omega, Delta, t), target P(t) of the excited state.

    Parameters:
        omega_range: range of the Rabi frequency Omega (rad/s, >= 0), default (0.5, 2).
        delta_range: range of the detuning Delta (rad/s), default (-2, 2).
        t_range: range of times t (s, >= 0), default (0, 10).

    Example:
        >>> ds = Rabi().sample(4, seed=0)
        >>> ds.input_names, ds.target_names
        (['Omega', 'Delta', 't'], ['P'])
    """

    name = "rabi"
    description = "Rabi oscillations of a driven qubit: P(Omega, Delta, t) from the 2x2 Schrodinger equation"

    class Params(SystemParams):
        omega_range: Interval(ge=0, strict=True) = Field((0.5, 2.0), description="range of the Rabi frequency Omega (rad/s)")
        delta_range: Interval(strict=True) = Field((-2.0, 2.0), description="range of the detuning Delta (rad/s)")
        t_range: Interval(ge=0, strict=True) = Field((0.0, 10.0), description="range of the times t (s)")

    @property
    def truth(self) -> GroundTruth:
        Om, De, t = sp.symbols("Omega Delta t", real=True)
        W2 = Om**2 + De**2
        # P depends on Delta only through Delta^2, and is invariant under
        # (Omega, Delta, t) -> (l Omega, l Delta, t / l): generator diag(1, 1, -1).
        reflect = np.diag([1.0, -1.0, 1.0])
        scaling = np.zeros((3, 4))
        scaling[:3, :3] = np.diag([1.0, 1.0, -1.0])
        return GroundTruth(
            symmetries=[
                {"name": "parity", "kind": "discrete", "transform": reflect, "variables": ["Delta"]},
                {"name": "scaling", "kind": "continuous", "generators": [scaling]},
            ],
            equations={"P": Om**2 / W2 * sp.sin(sp.sqrt(W2) * t / 2) ** 2},
            relevant_inputs=["Omega", "Delta", "t"],
            extra={"units": "hbar = 1; Omega, Delta in rad/s", "initial_state": "|0>"},
        )

    def _generate(self, n: int, rng: np.random.Generator) -> Dataset:
        omega = rng.uniform(*self.omega_range, size=n)
        delta = rng.uniform(*self.delta_range, size=n)
        t = rng.uniform(*self.t_range, size=n)
        P = transition_probability(omega, delta, t)
        return Dataset(
            np.column_stack([omega, delta, t]),
            P,
            ["Omega", "Delta", "t"],
            ["P"],
            units={"Omega": "1/s", "Delta": "1/s", "t": "s", "P": "dimensionless"},
        )
