"""The undamped Duffing oscillator H = p^2/(2m) + k q^2/2 + b q^4/4: an anharmonic well.

Its energy is a quartic polynomial, one degree beyond the cubic library the conservation
probe starts from, so it is the built-in case of a conserved quantity found only in a
wider library (:func:`physlens.probes.conservation.library.wider_libraries`). The well
hardens with ``b`` > 0 and every orbit is closed; the period falls with the energy. It is the
harmonic oscillator with another force and other starting points (the sampling, Yoshida's
symplectic integration and the layout of the data are the oscillator's, so the energy is kept
to ~1e-9 relative and the targets are the exact field (dq/dt, dp/dt) = (p/m, -k q - b q^3)).
"""

from __future__ import annotations

import numpy as np
import sympy as sp
from pydantic import Field

from physlens.findings import GroundTruth
from physlens.systems.base import register_system
from physlens.systems.classical.common import exact
from physlens.systems.classical.oscillator import HarmonicOscillator, parity


@register_system
class Duffing(HarmonicOscillator):
    """Undamped Duffing oscillator; inputs (q, p), targets (dq_dt, dp_dt).

    Each trajectory starts at a random point of the level set H = E with E drawn uniformly from
    ``energy_range``; samples are spaced by 1/60 of the small-oscillation period 2 pi sqrt(m/k).

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

    class Params(HarmonicOscillator.Params):
        b: float = Field(1.0, gt=0, description="cubic stiffness (a hardening well)")

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
            symmetries=[parity()],
            extra={
                "hamiltonian": H,
                "textbook_form": "x'' = -(k/m) x - (b/m) x^3",
                "second_order_equation": {"x''": -(k / m) * x - (b / m) * x**3},
                "parameters": {"k": self.k, "b": self.b, "m": self.m},
                # one degree of freedom: every conserved function of (q, p) is a function of H
                "conserved_complete": True,
            },
        )

    def force(self, q: np.ndarray) -> np.ndarray:
        """dp/dt = -k q - b q^3.

        Example:
            >>> Duffing(k=2.0, b=1.0).vector_field(np.array([[1.0, 3.0]])).tolist()
            [[3.0, -3.0]]
        """
        return -self.k * q - self.b * q**3

    def start(self, E: np.ndarray, phase: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A point of H = E: the kinetic share sin^2(phase), the potential share cos^2 (solved for q^2).

        Example:
            >>> q0, p0 = Duffing(k=1.0, b=1.0).start(np.array([0.75]), np.array([0.0]))
            >>> q0.tolist(), p0.tolist()  # q^2/2 + q^4/4 = 3/4 at q = 1
            ([1.0], [0.0])
        """
        potential = E * np.cos(phase) ** 2
        u = (-self.k / 2 + np.sqrt(self.k**2 / 4 + self.b * potential)) / (self.b / 2)
        return np.sign(np.cos(phase)) * np.sqrt(u), np.sqrt(2 * self.m * E) * np.sin(phase)
