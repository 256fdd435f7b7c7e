"""A damped oscillator seen as a time series: SciNet's pendulum task (Iten et al. 2020, PRL 124, 010508).

Each row is one oscillator ``x'' = -k x - b x'`` released from rest at ``x(0) = 1`` with its own
hidden stiffness ``k`` and damping ``b``. The observation is the position at ``n_observations``
equally spaced times in ``(0, t_max]`` (columns ``x0 .. x{n-1}``; the position at t = 0 is 1 on every
row, a constant column that carries nothing, so it is left out); the question is a time ``t_q``
(drawn uniformly in ``question_range``, by default the observed window); the answer is the
position ``x_q = x(t_q)``. Knowing the series, two numbers answer every question, so the
latent dimension is 2 and the natural latents are ``k`` and ``b`` (SciNet's result: a network
forced through a small bottleneck keeps a function of each).

The motion is underdamped (``k > b^2 / 4`` is required of the ranges), with the closed form::

    x(t) = exp(-b t / 2) (cos w t + b / (2 w) sin w t),   w = sqrt(k - b^2 / 4)

which is exact, so no integrator error enters the data. ``observation_noise`` adds Gaussian noise
of that standard deviation to the observed positions (the amplitude is 1); ``sample(noise=...)``
adds noise to the answers as for every system.

Unlike :class:`~physlens.systems.classical.pendulum.DampedPendulum` (states and derivatives along
trajectories, where the hidden parameters change only a small part of each answer), here the
question is a time and the answer depends on ``k`` and ``b`` throughout.
"""

from __future__ import annotations

import numpy as np
import sympy as sp
from pydantic import Field, model_validator

from physlens.data.dataset import Dataset
from physlens.errors import ParameterError
from physlens.findings import GroundTruth
from physlens.systems.base import Interval, System, SystemParams, register_system


def damped_position(t: np.ndarray, k: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Position of the oscillator ``x'' = -k x - b x'`` released from rest at ``x = 1`` (underdamped).

    Arrays broadcast against each other.

    Example:
        >>> float(damped_position(np.array(0.0), np.array(4.0), np.array(0.0)))
        1.0
        >>> round(float(damped_position(np.array(np.pi / 2), np.array(4.0), np.array(0.0))), 12)
        -1.0
    """
    w = np.sqrt(k - b**2 / 4)
    return np.exp(-b * t / 2) * (np.cos(w * t) + b / (2 * w) * np.sin(w * t))


@register_system
class DampedOscillatorSeries(System):
    """Positions of a damped oscillator at fixed times -> its position at a question time (SciNet's pendulum).

    Parameters:
        k_range: stiffness k drawn uniformly per row.
        b_range: damping b drawn uniformly per row (underdamped: k_min > b_max^2 / 4).
        n_observations: observed positions, equally spaced in (0, t_max].
        t_max: end of the observed window.
        question_range: question times drawn uniformly in [min, max] (default: the observed window).
        observation_noise: standard deviation of Gaussian noise on the observed positions.

    Inputs ``x0 .. x{n-1}`` then the question ``t_q``; target ``x_q``; ``aux["k"]``, ``aux["b"]``
    hold the hidden parameters and ``meta["question_columns"] == ["t_q"]``.

    Example:
        >>> ds = DampedOscillatorSeries(n_observations=5).sample(100, seed=0)
        >>> ds.input_names, ds.target_names, ds.meta["question_columns"]
        (['x0', 'x1', 'x2', 'x3', 'x4', 't_q'], ['x_q'], ['t_q'])
        >>> bool(np.allclose(ds.y[:, 0], damped_position(ds.X[:, -1], ds.aux["k"], ds.aux["b"])))
        True
    """

    name = "damped_oscillator_series"
    description = ("damped oscillator x'' = -k x - b x' from rest at x = 1: 50 positions in time -> position at a "
                   "question time (SciNet's pendulum); latent k, b")

    class Params(SystemParams):
        k_range: Interval(gt=0) = Field((5.0, 10.0), description="stiffness k drawn uniformly in [min, max]")
        b_range: Interval(ge=0) = Field((0.5, 1.0), description="damping b drawn uniformly in [min, max]")
        n_observations: int = Field(50, ge=2, le=10_000, description="observed positions, equally spaced in (0, t_max]")
        t_max: float = Field(5.0, gt=0, description="end of the observed time window")
        question_range: tuple[float, float] | None = Field(
            None, description="question times drawn uniformly in [min, max] (default: [0, t_max])")
        observation_noise: float = Field(0.0, ge=0, description="std of Gaussian noise on the observed positions")

        @model_validator(mode="after")
        def _underdamped(self):
            if self.k_range[0] <= self.b_range[1] ** 2 / 4:
                raise ParameterError(
                    f"k_range starts at {self.k_range[0]}, not above b_max^2/4 = "
                    f"{self.b_range[1] ** 2 / 4}: some oscillators would not oscillate (overdamped)")
            if self.question_range is not None and not self.question_range[0] <= self.question_range[1]:
                raise ParameterError(f"question_range {self.question_range} has min > max")
            return self

    @property
    def input_names(self) -> list[str]:
        """Observed positions ``x0 ..`` then the question time ``t_q``."""
        return [f"x{i}" for i in range(self.n_observations)] + ["t_q"]

    @property
    def target_names(self) -> list[str]:
        """The position at the question time."""
        return ["x_q"]

    @property
    def times(self) -> np.ndarray:
        """The observation times (the first one step after the release).

        Example:
            >>> DampedOscillatorSeries(n_observations=4, t_max=2.0).times.tolist()
            [0.5, 1.0, 1.5, 2.0]
        """
        return np.linspace(0.0, self.t_max, self.n_observations + 1)[1:]

    @property
    def truth(self) -> GroundTruth:
        t, k, b = sp.symbols("t_q k b", real=True)
        w = sp.sqrt(k - b**2 / 4)
        return GroundTruth(
            latent_dim=2,
            relevant_inputs=self.input_names,
            extra={
                # the observations sample one curve: any few of them fix k and b (a network may ignore others)
                "redundant_inputs": [nm for nm in self.input_names if nm != "t_q"],
                "latent_variables": ["k", "b"],
                "hidden_parameters": ["k", "b"],
                "answer": sp.exp(-b * t / 2) * (sp.cos(w * t) + b / (2 * w) * sp.sin(w * t)),
                "ode": "x'' = -k*x - b*x', x(0) = 1, x'(0) = 0",
                "reference": "Iten et al. 2020, PRL 124, 010508 (SciNet)",
            },
        )

    def _generate(self, n: int, rng: np.random.Generator) -> Dataset:
        k = rng.uniform(*self.k_range, n)
        b = rng.uniform(*self.b_range, n)
        lo, hi = self.question_range if self.question_range is not None else (0.0, self.t_max)
        tq = rng.uniform(lo, hi, n)
        obs = damped_position(self.times[None, :], k[:, None], b[:, None])
        if self.observation_noise > 0:  # drawn last: the same seed gives the same oscillators and questions
            obs = obs + self.observation_noise * rng.standard_normal(obs.shape)
        return Dataset(
            np.c_[obs, tq],
            damped_position(tq, k, b)[:, None],
            self.input_names,
            self.target_names,
            aux={"k": k, "b": b},
            meta={"question_columns": ["t_q"], "observation_times": self.times.tolist()},
        )
