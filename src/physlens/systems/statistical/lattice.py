"""What the lattice spin systems share: a scan over temperatures and Monte Carlo sampling on an L x L torus.

The 2-D Ising and Potts models and the 1-D Ising chain all sample spin
configurations at temperatures evenly spaced in a range (or at listed ones).
:class:`TemperatureScan` declares that range once, :class:`LatticeMonteCarlo`
adds the lattice side and the Monte Carlo schedule (sweeps discarded, sweeps
between samples), and :func:`configurations_across_temperatures` turns a batch
simulation (one lattice per temperature) into ``n`` rows spread evenly over the
temperatures. Each system keeps its own default range: only the declaration and
the bookkeeping are shared.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import numpy as np
from pydantic import Field

from physlens.systems.base import Interval, SystemParams

#: largest lattice side of the 2-D Monte Carlo systems
MAX_L = 32


class TemperatureScan(SystemParams):
    """Temperatures evenly spaced in ``T_range`` (a subclass sets its own default range).

    Example:
        >>> TemperatureScan(T_range=(1.0, 2.0), n_temperatures=3).temperature_grid().tolist()
        [1.0, 1.5, 2.0]
    """

    T_range: Interval(gt=0, strict=True) = Field((1.0, 4.0), description="temperatures in [min, max] (J = k_B = 1)")
    n_temperatures: int = Field(20, ge=1, le=1000, description="number of temperatures, evenly spaced in T_range")

    def temperature_grid(self, unit: float = 1.0) -> np.ndarray:
        """The temperatures: ``unit`` times ``n_temperatures`` points evenly spaced in ``T_range``.

        Example:
            >>> TemperatureScan(T_range=(1.0, 2.0), n_temperatures=2).temperature_grid(unit=2.0).tolist()
            [2.0, 4.0]
        """
        grid = np.linspace(*self.T_range, self.n_temperatures)
        return grid if unit == 1.0 else unit * grid


class LatticeMonteCarlo(TemperatureScan):
    """A temperature scan of Monte Carlo samples on a periodic L x L lattice; listed temperatures replace the grid.

    Example:
        >>> LatticeMonteCarlo(temperatures=[2.0, 3.0]).temperature_grid(unit=0.5).tolist()
        [2.0, 3.0]
    """

    L: int = Field(16, ge=4, le=MAX_L, description="side of the periodic L x L lattice")
    temperatures: list[Annotated[float, Field(gt=0)]] | None = Field(
        None, min_length=1, description="explicit absolute temperatures (replace T_range and n_temperatures)")
    n_equilibrate: int = Field(200, ge=0, le=100_000, description="sweeps discarded before sampling")
    n_between: int = Field(2, ge=1, le=100_000, description="sweeps between samples")

    def temperature_grid(self, unit: float = 1.0) -> np.ndarray:
        """The listed ``temperatures`` as they are when given, else the scaled grid of :class:`TemperatureScan`.

        Example:
            >>> LatticeMonteCarlo(T_range=(1.0, 3.0), n_temperatures=3).temperature_grid().tolist()
            [1.0, 2.0, 3.0]
        """
        if self.temperatures is not None:
            return np.asarray(self.temperatures, dtype=float).reshape(-1)
        return super().temperature_grid(unit)


def configurations_across_temperatures(
    temperatures: np.ndarray, n: int, L: int, rng: np.random.Generator, simulate: Callable[[int], np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` configurations (n, L, L) and their temperatures, spread evenly over ``temperatures``.

    ``simulate(per)`` returns (len(temperatures), per, L, L) configurations, ``per`` = ceil(n / n_T)
    at each temperature; when that gives more than ``n``, a random subset (in temperature order) is kept.

    Example:
        >>> draw = lambda per: np.zeros((2, per, 4, 4))
        >>> conf, T = configurations_across_temperatures(np.array([1.0, 2.0]), 3, 4, np.random.default_rng(0), draw)
        >>> conf.shape, T.tolist()
        ((3, 4, 4), [1.0, 1.0, 2.0])
    """
    per = -(-n // temperatures.size)
    flat = simulate(per).reshape(temperatures.size * per, L, L)
    temps = np.repeat(temperatures, per)
    keep = np.sort(rng.permutation(flat.shape[0])[:n]) if flat.shape[0] > n else np.arange(n)
    return flat[keep], temps[keep]


def lattice_meta(L: int) -> dict:
    """The ``meta["lattice"]`` record of an L x L periodic lattice stored row-major.

    Example:
        >>> lattice_meta(4)["shape"]
        [4, 4]
    """
    return {"L": L, "shape": [L, L], "order": "row-major", "boundary": "periodic"}
