"""Lotka-Volterra predator-prey dynamics: a conserved quantity that is no polynomial.

Lotka (1925) and Volterra (1926)::

    dx/dt = alpha x - beta x y        (prey)
    dy/dt = delta x y - gamma y       (predators)

Every orbit with x, y > 0 is closed around the coexistence point
(gamma/delta, alpha/beta), and V = delta x - gamma ln x + beta y - alpha ln y is
constant along it (dV/dt = 0 term by term). The system is the test of a
conserved-quantity search whose candidates go beyond monomials: V needs the
logarithms of the two populations.

Data follow the dynamical-system convention of physlens: inputs are the states
``x, y``, targets their exact time derivatives ``dx_dt, dy_dt`` (from the
right-hand side), rows are the concatenated ``trajectories``. An orbit starts at
``(s gamma/delta, alpha/beta)`` with ``s`` drawn uniformly from ``start_range``
(each orbit crosses that line once on the prey-poor side, so ``s`` labels the
orbits) and is integrated with SciPy's ``solve_ivp`` (DOP853, rtol = atol =
1e-11), all orbits stacked into one vectorised system.
"""

from __future__ import annotations

import numpy as np
import sympy as sp
from pydantic import Field
from scipy.integrate import solve_ivp

from physlens.data.dataset import Dataset
from physlens.errors import ParameterError
from physlens.findings import GroundTruth
from physlens.systems.base import Interval, System, SystemParams, register_system
from physlens.systems.classical.common import exact, flatten_trajectories, n_trajectories


@register_system
class LotkaVolterra(System):
    """Predator-prey orbits; inputs (x, y) the populations, targets (dx_dt, dy_dt).

    Parameters:
        alpha, beta, gamma, delta: the rates (> 0) of prey growth, predation, predator death and growth.
        start_range: orbits start at x = s gamma/delta, y = alpha/beta with s uniform in this range (0 < s < 1; s = 1 is the fixed point).
        dt: time between samples (default: 1/40 of the small-orbit period 2 pi / sqrt(alpha gamma)).
        points_per_trajectory: samples per orbit.

    Example:
        >>> ds = LotkaVolterra().sample(200, seed=0)
        >>> x, y = ds.X[:, 0], ds.X[:, 1]
        >>> V = 0.25 * x - 0.75 * np.log(x) + 0.5 * y - np.log(y)
        >>> bool(np.ptp(V[ds.aux["trajectory"] == 0]) < 1e-8)
        True
    """

    name = "lotka_volterra"
    description = "Lotka-Volterra predator-prey ODE: closed orbits, V = delta x - gamma ln x + beta y - alpha ln y conserved"

    class Params(SystemParams):
        alpha: float = Field(1.0, gt=0, description="prey growth rate")
        beta: float = Field(0.5, gt=0, description="predation rate")
        gamma: float = Field(0.75, gt=0, description="predator death rate")
        delta: float = Field(0.25, gt=0, description="predator growth per prey eaten")
        start_range: Interval(gt=0, lt=1, strict=True) = Field(
            (0.2, 0.9), description="orbit starts s: x = s gamma/delta, y = alpha/beta, s in [min, max]")
        dt: float | None = Field(None, gt=0, description="time between samples (default: small-orbit period / 40)")
        points_per_trajectory: int = Field(100, ge=2, le=100_000, description="samples per orbit")

    @property
    def step(self) -> float:
        """The time between samples: ``dt``, or 1/40 of the small-orbit period 2 pi / sqrt(alpha gamma)."""
        return float(self.dt) if self.dt is not None else float(2 * np.pi / np.sqrt(self.alpha * self.gamma) / 40)

    @property
    def truth(self) -> GroundTruth:
        x, y = sp.symbols("x y", positive=True)
        a, b, c, d = (exact(v) for v in (self.alpha, self.beta, self.gamma, self.delta))
        V = d * x - c * sp.log(x) + b * y - a * sp.log(y)
        return GroundTruth(
            conserved=[V],
            equations={"dx_dt": a * x - b * x * y, "dy_dt": d * x * y - c * y},
            relevant_inputs=["x", "y"],
            # no affine map of (x, y) carries the vector field into itself; its own flow is not affine
            symmetries=[],
            extra={
                "params": {"alpha": self.alpha, "beta": self.beta, "gamma": self.gamma, "delta": self.delta},
                "equilibrium": [self.gamma / self.delta, self.alpha / self.beta],
                # one degree of freedom (a 2-D flow with closed orbits): every conserved function is a function of V
                "conserved_complete": True,
            },
        )

    def vector_field(self, X: np.ndarray) -> np.ndarray:
        """(dx/dt, dy/dt) for rows of states X = (x, y).

        Example:
            >>> LotkaVolterra().vector_field(np.array([[3.0, 2.0]])).tolist()  # the coexistence point
            [[0.0, 0.0]]
        """
        x, y = X[..., 0], X[..., 1]
        return np.stack([self.alpha * x - self.beta * x * y, self.delta * x * y - self.gamma * y], axis=-1)

    def _generate(self, n: int, rng: np.random.Generator) -> Dataset:
        lo, hi = self.start_range
        T = self.points_per_trajectory
        m = n_trajectories(n, T)
        s = rng.uniform(lo, hi, size=m)
        start = np.column_stack([s * self.gamma / self.delta, np.full(m, self.alpha / self.beta)])
        times = self.step * np.arange(T)

        def rhs(_t, flat):
            return self.vector_field(flat.reshape(m, 2)).ravel()

        sol = solve_ivp(rhs, (0.0, float(times[-1])), start.ravel(), method="DOP853", t_eval=times,
                        rtol=1e-11, atol=1e-11)
        if not sol.success:  # pragma: no cover - DOP853 does not fail on these smooth orbits
            raise ParameterError(f"lotka_volterra: integration failed: {sol.message}")
        traj = sol.y.reshape(m, 2, T).transpose(0, 2, 1)
        X, aux = flatten_trajectories(traj, times, n)
        return Dataset(
            X,
            self.vector_field(X),
            ["x", "y"],
            ["dx_dt", "dy_dt"],
            trajectories=traj,
            times=times,
            state_names=["x", "y"],
            aux=aux,
            meta={"dynamical": True, "dt": self.step},
        )
