"""Copernicus: the Sun and Mars seen from Earth, after SciNet (Iten et al. 2020, PRL 124, 010508).

Earth and Mars move on circular, coplanar, heliocentric orbits with their real radii
and sidereal periods (1 AU, 365.256 d; 1.5237 AU, 686.980 d). Their heliocentric
angles phi_E(t), phi_M(t) advance uniformly. What an observer on Earth records are the
geocentric angles of the Sun and of Mars (ecliptic longitudes)::

    theta_sun  = angle of (-cos phi_E, -sin phi_E)                   = phi_E + pi
    theta_mars = angle of (r_M cos phi_M - r_E cos phi_E, r_M sin phi_M - r_E sin phi_E)

Mars shows retrograde loops in theta_mars; the simple description needs the two
heliocentric angles, so ``latent_dim = 2`` (the SciNet result: a network forced through
a 2-neuron bottleneck learns phi_E and phi_M).

Layout (param ``window`` = number of consecutive observations, ``dt_days`` apart):

* ``encoding="angle"`` (default): inputs ``theta_sun, theta_mars`` (window 1) or
  ``theta_sun_t0, theta_mars_t0, ..., theta_sun_t{w-1}, theta_mars_t{w-1}`` (oldest first),
  angles in [-pi, pi] (numpy.arctan2); targets ``theta_sun_next, theta_mars_next`` one step after the
  latest observation. Note the targets jump by 2 pi where an angle wraps.
* ``encoding="cossin"``: each angle is given as its cosine and sine instead
  (``cos_sun, sin_sun, cos_mars, sin_mars`` ...), targets likewise; no wrap-around.

``aux["phi_earth"]``, ``aux["phi_mars"]`` hold the heliocentric angles (in [0, 2 pi)) at the
time of the latest observation, ``aux["t"]`` its time in days. Trajectories hold the
observations (in the chosen encoding) along each time series.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import sympy as sp
from pydantic import Field

from physlens.data.dataset import Dataset
from physlens.findings import GroundTruth
from physlens.systems.base import System, SystemParams, register_system
from physlens.systems.classical.common import (
    exact,
    n_trajectories,
)

R_EARTH_AU = 1.0
R_MARS_AU = 1.5237
PERIOD_EARTH_DAYS = 365.256
PERIOD_MARS_DAYS = 686.980


def geocentric_angles(phi_e: np.ndarray, phi_m: np.ndarray, r_e: float = R_EARTH_AU, r_m: float = R_MARS_AU):
    """Angles of the Sun and of Mars seen from Earth, in [-pi, pi], from heliocentric angles.

    Example:
        >>> s, m = geocentric_angles(np.array([np.pi / 2]), np.array([np.pi / 2]))
        >>> round(float(s[0]), 6), round(float(m[0]), 6)
        (-1.570796, 1.570796)
    """
    sun = np.arctan2(-r_e * np.sin(phi_e), -r_e * np.cos(phi_e))
    mars = np.arctan2(r_m * np.sin(phi_m) - r_e * np.sin(phi_e), r_m * np.cos(phi_m) - r_e * np.cos(phi_e))
    return sun, mars


@register_system
class Copernicus(System):
    """Geocentric angles of Sun and Mars -> the same angles one time step later (SciNet's Copernicus task).

    Parameters:
        dt_days: time between observations (days, > 0).
        window: number of consecutive observations in the inputs (1 to 50).
        encoding: ``"angle"`` or ``"cossin"``.
        points_per_trajectory: samples per observed time series.

    Example:
        >>> ds = Copernicus().sample(100, seed=0)
        >>> ds.input_names, ds.target_names
        (['theta_sun', 'theta_mars'], ['theta_sun_next', 'theta_mars_next'])
    """

    name = "copernicus"
    description = "Sun and Mars angles seen from Earth -> next angles (SciNet); latent: 2 heliocentric angles"

    class Params(SystemParams):
        dt_days: float = Field(7.0, gt=0, description="time step between observations (days)")
        window: int = Field(1, ge=1, le=50, description="number of past observations in the inputs")
        encoding: Literal["angle", "cossin"] = Field("angle", description="angles as radians or as (cos, sin) pairs")
        points_per_trajectory: int = Field(100, ge=1, le=100_000, description="observations per trajectory")

    # ------------------------------------------------------------------ names
    @property
    def observation_names(self) -> list[str]:
        """Columns of one observation."""
        if self.encoding == "angle":
            return ["theta_sun", "theta_mars"]
        return ["cos_sun", "sin_sun", "cos_mars", "sin_mars"]

    @property
    def input_names(self) -> list[str]:
        """One observation's columns per time in the window, oldest first."""
        if self.window == 1:
            return self.observation_names
        return [f"{c}_t{k}" for k in range(self.window) for c in self.observation_names]

    @property
    def target_names(self) -> list[str]:
        """The observation one step after the latest input."""
        return [f"{c}_next" for c in self.observation_names]

    def encode(self, sun: np.ndarray, mars: np.ndarray) -> np.ndarray:
        """Observation columns (..., 2 or 4) from the two angles.

        Example:
            >>> Copernicus(encoding="cossin").encode(np.array([0.0]), np.array([np.pi / 2])).round(6).tolist()
            [[1.0, 0.0, 0.0, 1.0]]
        """
        if self.encoding == "angle":
            return np.stack([sun, mars], axis=-1)
        return np.stack([np.cos(sun), np.sin(sun), np.cos(mars), np.sin(mars)], axis=-1)

    # ------------------------------------------------------------------ truth
    @property
    def truth(self) -> GroundTruth:
        phi_e, phi_m = sp.symbols("phi_earth phi_mars", real=True)
        rE, rM = exact(R_EARTH_AU), exact(R_MARS_AU)
        wE = 2 * sp.pi / exact(PERIOD_EARTH_DAYS)
        wM = 2 * sp.pi / exact(PERIOD_MARS_DAYS)
        dist = sp.sqrt(rE**2 + rM**2 - 2 * rE * rM * sp.cos(phi_m - phi_e))
        observation = {
            "cos_sun": -sp.cos(phi_e),
            "sin_sun": -sp.sin(phi_e),
            "cos_mars": (rM * sp.cos(phi_m) - rE * sp.cos(phi_e)) / dist,
            "sin_mars": (rM * sp.sin(phi_m) - rE * sp.sin(phi_e)) / dist,
        }
        equations = {}
        if self.encoding == "cossin":
            last = "" if self.window == 1 else f"_t{self.window - 1}"
            c, s = sp.Symbol(f"cos_sun{last}", real=True), sp.Symbol(f"sin_sun{last}", real=True)
            a = wE * exact(self.dt_days)
            equations = {"cos_sun_next": c * sp.cos(a) - s * sp.sin(a), "sin_sun_next": s * sp.cos(a) + c * sp.sin(a)}
        return GroundTruth(
            latent_dim=2,
            equations=equations,
            relevant_inputs=self.observation_names if self.window == 1 else None,
            extra={
                "latent_variables": ["phi_earth", "phi_mars"],
                "latent_aux_keys": ["phi_earth", "phi_mars"],
                "latent_dynamics": {"phi_earth": phi_e + wE * exact(self.dt_days), "phi_mars": phi_m + wM * exact(self.dt_days)},
                "observation_model": observation,
                "radii_au": {"earth": R_EARTH_AU, "mars": R_MARS_AU},
                "periods_days": {"earth": PERIOD_EARTH_DAYS, "mars": PERIOD_MARS_DAYS},
                "layout": "inputs: window of geocentric observations (oldest first); targets: next observation",
                "encoding": self.encoding,
                "dt_days": self.dt_days,
            },
        )

    # ------------------------------------------------------------------ sampling
    def _generate(self, n: int, rng: np.random.Generator) -> Dataset:
        T, w = self.points_per_trajectory, self.window
        n_traj = n_trajectories(n, T)
        L = T + w  # observations per series: w inputs for the first sample ... + 1 target for the last
        t = self.dt_days * np.arange(L)
        phi_e = rng.uniform(0, 2 * np.pi, n_traj)[:, None] + 2 * np.pi * t / PERIOD_EARTH_DAYS
        phi_m = rng.uniform(0, 2 * np.pi, n_traj)[:, None] + 2 * np.pi * t / PERIOD_MARS_DAYS
        sun, mars = geocentric_angles(phi_e, phi_m)
        obs = self.encode(sun, mars)  # (n_traj, L, c)
        c = obs.shape[-1]
        # sample j of a series: observations j .. j+w-1 as inputs, j+w as target
        X = np.concatenate([obs[:, k : k + T, :] for k in range(w)], axis=-1).reshape(n_traj * T, w * c)[:n]
        y = obs[:, w : w + T, :].reshape(n_traj * T, c)[:n]
        latest = np.arange(T) + w - 1
        aux = {
            "trajectory": np.repeat(np.arange(n_traj), T)[:n],
            "t": np.tile(t[latest], n_traj)[:n],
            "phi_earth": np.mod(phi_e[:, latest], 2 * np.pi).reshape(-1)[:n],
            "phi_mars": np.mod(phi_m[:, latest], 2 * np.pi).reshape(-1)[:n],
        }
        return Dataset(
            X,
            y,
            self.input_names,
            self.target_names,
            trajectories=obs,
            times=t,
            state_names=self.observation_names,
            aux=aux,
            meta={"time_unit": "day", "window": w, "encoding": self.encoding},
        )
