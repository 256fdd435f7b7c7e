"""The Lorenz-63 system: the textbook chaotic ODE, a test bed for discovering dynamics from trajectories.

Lorenz (1963), "Deterministic nonperiodic flow", J. Atmos. Sci. 20, 130::

    dx/dt = sigma (y - x)
    dy/dt = x (rho - z) - y
    dz/dt = x y - beta z

with the classical chaotic parameters sigma = 10, rho = 28, beta = 8/3. It is
the standard benchmark of sparse identification of nonlinear dynamics (Brunton,
Proctor & Kutz 2016, PNAS 113, 3932).

Data follow the dynamical-system convention of physlens: the inputs ``X`` are
states ``x, y, z`` on the attractor, the targets ``y`` their exact time
derivatives ``dx_dt, dy_dt, dz_dt`` (from the right-hand side), and the rows are
the concatenated ``trajectories`` (n_traj, T, 3) sampled every ``dt`` at
``times``. Trajectories start from random points, are integrated through a
``transient`` first so that they lie on the attractor, and are computed with
SciPy's ``solve_ivp`` (DOP853, rtol = atol = 1e-10), all trajectories stacked
into one vectorised system.
"""

from __future__ import annotations

import numpy as np
import sympy as sp
from pydantic import Field
from scipy.integrate import solve_ivp

from physlens.data.dataset import Dataset
from physlens.errors import ParameterError
from physlens.findings import GroundTruth
from physlens.systems.base import System, SystemParams, register_system


def lorenz_rhs(state: np.ndarray, sigma: float = 10.0, rho: float = 28.0, beta: float = 8.0 / 3.0) -> np.ndarray:
    """Right-hand side of Lorenz-63 for states of shape (..., 3).

    Example:
        >>> lorenz_rhs(np.array([1.0, 1.0, 1.0])).round(3).tolist()
        [0.0, 26.0, -1.667]
    """
    x, y, z = state[..., 0], state[..., 1], state[..., 2]
    return np.stack([sigma * (y - x), x * (rho - z) - y, x * y - beta * z], axis=-1)


def _exact(value: float) -> sp.Expr:
    """A parameter as a SymPy number: a simple rational when it is one (8/3), else a Float."""
    r = sp.nsimplify(value, rational=True, tolerance=1e-12 * max(1.0, abs(value)))
    return r if isinstance(r, sp.Rational) and r.q <= 1000 else sp.Float(value)


@register_system
class Lorenz(System):
    """Chaotic Lorenz-63 trajectories; inputs are states, targets their exact time derivatives.

    ``n`` is the number of rows; trajectories of ``steps`` samples each are made
    until there are enough, and the first ``n`` rows are returned.

    Example:
        >>> ds = Lorenz().sample(400, seed=0)
        >>> ds.trajectories.shape, ds.target_names
        ((1, 400, 3), ['dx_dt', 'dy_dt', 'dz_dt'])
        >>> bool(np.allclose(ds.y, lorenz_rhs(ds.X)))
        True
    """

    name = "lorenz"
    description = "Lorenz-63 chaotic ODE (sigma=10, rho=28, beta=8/3): states -> exact time derivatives, with trajectories"
    default_n = 10000

    class Params(SystemParams):
        sigma: float = Field(10.0, gt=0, description="Prandtl number sigma")
        rho: float = Field(28.0, gt=0, description="Rayleigh number rho")
        beta: float = Field(8.0 / 3.0, gt=0, description="geometric factor beta")
        dt: float = Field(0.01, gt=0, le=0.1, description="time between samples")
        steps: int = Field(1000, ge=10, le=100_000, description="samples per trajectory")
        transient: float = Field(5.0, ge=0, le=100, description="time discarded before sampling (onto the attractor)")
        rtol: float = Field(1e-10, ge=1e-13, le=1e-4, description="relative tolerance of the integrator")

    @property
    def truth(self) -> GroundTruth:
        x, y, z = sp.symbols("x y z", real=True)
        s, r, b = _exact(self.sigma), _exact(self.rho), _exact(self.beta)
        z2 = np.diag([-1.0, -1.0, 1.0])
        return GroundTruth(
            equations={"dx_dt": s * (y - x), "dy_dt": x * (r - z) - y, "dz_dt": x * y - b * z},
            relevant_inputs=["x", "y", "z"],
            symmetries=[{"name": "Z2", "kind": "discrete", "transform": z2, "output_transform": z2}],
            # dissipative for every sigma, rho, beta > 0 (div = -(sigma + 1 + beta)): every trajectory falls onto the
            # attractor, so a continuous conserved function is constant: the empty list is complete
            extra={"params": {"sigma": self.sigma, "rho": self.rho, "beta": self.beta}, "chaotic": True,
                   "conserved_complete": True},
        )

    def _integrate(self, y0: np.ndarray, t_eval: np.ndarray) -> np.ndarray:
        """Integrate every initial state of ``y0`` (m, 3); returns (m, len(t_eval), 3)."""
        m = y0.shape[0]

        def rhs(_t, flat):
            return lorenz_rhs(flat.reshape(m, 3), self.sigma, self.rho, self.beta).ravel()

        sol = solve_ivp(rhs, (0.0, float(t_eval[-1])), y0.ravel(), method="DOP853", t_eval=t_eval,
                        rtol=self.rtol, atol=self.rtol)
        if not sol.success:  # pragma: no cover - DOP853 does not fail on Lorenz at these tolerances
            raise ParameterError(f"lorenz: integration failed: {sol.message}")
        return sol.y.reshape(m, 3, len(t_eval)).transpose(0, 2, 1)

    def _generate(self, n: int, rng: np.random.Generator) -> Dataset:
        steps = min(self.steps, n)
        n_traj = -(-n // steps)
        start = np.column_stack([rng.uniform(-15, 15, n_traj), rng.uniform(-20, 20, n_traj), rng.uniform(5, 45, n_traj)])
        if self.transient > 0:
            start = self._integrate(start, np.array([0.0, self.transient]))[:, -1]
        times = np.arange(steps) * self.dt
        if steps > 1:
            traj = self._integrate(start, times)
        else:  # pragma: no cover
            traj = start[:, None, :]
        X = traj.reshape(-1, 3)[:n]
        y = lorenz_rhs(X, self.sigma, self.rho, self.beta)
        return Dataset(
            X,
            y,
            ["x", "y", "z"],
            ["dx_dt", "dy_dt", "dz_dt"],
            trajectories=traj,
            times=times,
            state_names=["x", "y", "z"],
            aux={"trajectory": np.repeat(np.arange(n_traj), steps)[:n]},
            meta={"dynamical": True, "dt": self.dt},
        )
