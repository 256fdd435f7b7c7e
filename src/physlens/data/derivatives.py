"""Time derivatives of sampled trajectories, on uniform or uneven time grids, smoothed only when noise needs it.

Shared by the loader (a user's trajectory file whose task is the state's time
derivative, :func:`physlens.data.loaders.load` with ``time=``) and the SINDy
dynamics probe (:mod:`physlens.probes.equations.dynamics`), so both estimate
derivatives the same way.

Method, through PySINDy's differentiation objects (de Silva et al. 2020):

* **Clean data**: ``ps.FiniteDifference(order=4)``, the 5-point central
  stencil; given the array of times it solves for the stencil weights at every
  point, so uneven time steps keep 4th-order accuracy. The two first and last
  samples of a trajectory use one-sided stencils of lower accuracy and are
  marked invalid.
* **Noisy data** (:func:`looks_noisy`): on a uniform grid
  ``ps.SmoothedFiniteDifference`` (Savitzky-Golay 11/3 smoothing of the states,
  then the same differences); on an uneven grid, where ``savgol_filter``
  assumes equal steps, :class:`LocalPolynomial`: a cubic fitted by least
  squares in the true times over 11 consecutive samples, whose value is the
  smoothed state and whose slope is the derivative (Savitzky-Golay on uneven
  times); the 5 first and last samples (off-centre windows) are marked
  invalid. Smoothing biases the derivative while random errors average out in
  a regression, so it is used only when the noise would dominate the
  differences (measured on the oscillator of the tests: with 1 % noise on 100
  uneven samples per run, finite differences carry 10 % derivative noise, the
  local cubic 1.8 %; clean, the finite differences are good to 2e-5).

What is written here by hand, and why: the noise test (PySINDy has none; it
generalises the ratio test of 6th to 4th differences to uneven grids with
divided differences, see :func:`looks_noisy`) and :class:`LocalPolynomial`, a
PySINDy differentiation object. PySINDy reaches a Savitzky-Golay filter on
uneven times only through the ``derivative`` package
(``ps.SINDyDerivative(kind="savitzky_golay")``), which fits sample by sample
in Python (4.5 s to load a noisy, unevenly sampled 10,000-row file of 50 runs, against 0.2 s for
the batched fits here) and returns the states unsmoothed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from physlens.errors import ConfigError

MIN_POINTS = 5  # the 5-point stencil needs 5 samples of a trajectory
SMOOTH_WINDOW = 11  # samples in a Savitzky-Golay window

_FINITE = "finite differences (4th order)"
_SMOOTHED_UNIFORM = "smoothed finite differences (Savitzky-Golay 11/3, 4th order)"
_SMOOTHED_UNEVEN = "smoothed local cubic fits over 11 samples (Savitzky-Golay on uneven times)"


def _as_lists(trajectories: Any, times: Any) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(n_traj, T, d) with (T,) times, or sequences of (T_i, d) states and (T_i,) times, as two lists."""
    if isinstance(trajectories, np.ndarray) and trajectories.ndim == 3:
        t = np.asarray(times, dtype=np.float64)
        return [np.asarray(tr, dtype=np.float64) for tr in trajectories], [t] * len(trajectories)
    trajs = [np.asarray(tr, dtype=np.float64).reshape(len(tr), -1) for tr in trajectories]
    ts = [np.asarray(t, dtype=np.float64) for t in times]
    if len(ts) != len(trajs) or any(len(t) != len(tr) for t, tr in zip(ts, trajs)):
        raise ValueError("one time per sample of every trajectory is needed")
    return trajs, ts


def is_uniform(times: np.ndarray, rtol: float = 1e-6) -> bool:
    """Whether the time steps are all equal (to ``rtol`` of the mean step).

    Example:
        >>> is_uniform(np.linspace(0, 1, 11)), is_uniform(np.array([0.0, 0.1, 0.3, 0.4]))
        (True, False)
    """
    steps = np.diff(np.asarray(times, dtype=np.float64))
    if len(steps) == 0:
        return True
    return bool(np.all(np.abs(steps - steps.mean()) <= rtol * abs(steps.mean())))


def scaled_differences(x: np.ndarray, t: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """k-th divided differences scaled to the local mean step, ``k! h^k x[t_i..t_i+k]``, and their noise gains.

    On a uniform grid they are exactly ``np.diff(x, k)``; on an uneven grid they are
    what the k-th difference would be for the same smooth signal. The gain
    ``sum_j w_j^2`` of each window's weights is the variance of the difference
    for unit white noise (``C(2k, k)`` on a uniform grid).

    Example:
        >>> t = np.array([0.0, 0.1, 0.3, 0.4, 0.7])
        >>> D, W = scaled_differences(t**2, t, 2)  # a parabola: 2! h^2 * 1
        >>> np.allclose(D[:, 0], 2 * ((t[2:] - t[:-2]) / 2) ** 2)
        True
        >>> scaled_differences(np.arange(5.0) ** 3, np.arange(5.0), 3)[1].tolist()
        [20.0, 20.0]
    """
    x = np.asarray(x, dtype=np.float64)
    x = x.reshape(len(x), -1)
    n = len(t) - k
    if n <= 0:
        return np.zeros((0, x.shape[1])), np.zeros(0)
    T = np.stack([t[j : j + n] for j in range(k + 1)], axis=1)  # (n, k+1) window times
    gaps = T[:, :, None] - T[:, None, :]
    gaps[:, np.arange(k + 1), np.arange(k + 1)] = 1.0
    h = (T[:, -1] - T[:, 0]) / k
    w = (math.factorial(k) * h**k)[:, None] / np.prod(gaps, axis=2)  # Lagrange weights of the divided difference
    D = np.einsum("nj,njd->nd", w, np.stack([x[j : j + n] for j in range(k + 1)], axis=1))
    return D, np.sum(w**2, axis=1)


def looks_noisy(trajectories: Any, times: Any, ratio: float = 6.0, tolerance: float = 0.05) -> bool:
    """Whether finite differences of the trajectories would be dominated by measurement noise.

    ``trajectories`` is an array (n_traj, T, d) with ``times`` (T,), or a list of
    (T_i, d) arrays with a list of their (T_i,) times (uneven grids allowed).

    Two tests, both needed. (1) Noise dominates the sampling scale: for a
    sampled sinusoid of angular step w*dt the k-th difference has amplitude
    (2 sin(w dt / 2))^k, so ``var(diff6) / var(diff4)`` is below (w dt)^4 for a
    well-resolved signal, while for white noise it is C(12, 6) / C(8, 4) = 13.2.
    On uneven grids the differences are divided differences scaled to the local
    step (:func:`scaled_differences`) and each is normalised by its own noise
    gain, which reduces to the same test on a uniform grid. (2) The noise is
    large for the derivative: with sigma^2 = var(diff6) / 924 (white noise), the
    4th-order central difference carries noise of RMS 0.95 sigma / dt; smoothing
    (which biases the derivative) is only worth it when that exceeds
    ``tolerance`` times the RMS derivative. Random errors of the derivative
    below that level average out in the regression.

    Example:
        >>> t = np.linspace(0, 10, 500)
        >>> clean = np.sin(t)[None, :, None]
        >>> noisy = clean + 0.01 * np.random.default_rng(0).normal(size=clean.shape)
        >>> looks_noisy(clean, t), looks_noisy(noisy, t)
        (False, True)
    """
    trajs, ts = _as_lists(trajectories, times)
    pairs = [(tr, t) for tr, t in zip(trajs, ts) if len(t) >= 12]
    if not pairs:
        return False
    d = pairs[0][0].shape[1]
    s4, s6, w4, w6 = 0.0, np.zeros(d), 0.0, 0.0
    slopes, steps = [], []
    for tr, t in pairs:
        D4, W4 = scaled_differences(tr, t, 4)
        D6, W6 = scaled_differences(tr, t, 6)
        s4 += float(np.sum(D4**2))
        s6 += np.sum(D6**2, axis=0)
        w4 += float(W4.sum())
        w6 += float(W6.sum())
        slopes.append(np.gradient(tr, t, axis=0))
        steps.append(np.diff(t))
    # (1) per unit of noise gain, 6th differences as large as 4th ones: noise, not signal
    sigma2_4, sigma2_6 = s4 / (w4 * d), float(np.sum(s6)) / (w6 * d)
    if not sigma2_6 > ratio * (70.0 / 924.0) * sigma2_4:
        return False
    # (2) the noise of a 4th-order difference, relative to the derivative
    dt = float(np.median(np.concatenate(steps)))
    sigma = np.sqrt(s6 / w6)
    deriv_rms = np.sqrt(np.mean(np.concatenate(slopes) ** 2, axis=0)) + 1e-300
    return bool(np.max(0.95 * sigma / dt / deriv_rms) > tolerance)


class LocalPolynomialFit:
    """Savitzky-Golay on uneven times: a polynomial fitted by least squares to ``window`` consecutive samples.

    For every sample, the polynomial of degree ``degree`` in the time offset,
    fitted to the ``window`` samples centred on it (shifted inward near the
    ends), gives the smoothed state (``smoothed_x_``, its value) and the
    derivative (its slope). All fits are solved at once (batched normal
    equations in offsets scaled to the local step).

    ``LocalPolynomial`` (same arguments) is this method as a PySINDy differentiation object
    (a subclass of PySINDy's ``BaseDifferentiation``, for ``ps.SINDy(differentiation_method=...)``);
    it is built on first use, so that importing this module (every ``physlens`` command does,
    through the loaders) does not import PySINDy and scikit-learn.

    Example:
        >>> t = np.cumsum(np.random.default_rng(0).uniform(0.05, 0.15, 40))
        >>> d = LocalPolynomialFit(window=7, degree=3)(np.c_[t**3], t)
        >>> bool(np.allclose(d[:, 0], 3 * t**2))
        True
        >>> from pysindy.differentiation.base import BaseDifferentiation
        >>> isinstance(_local_polynomial()(window=7), BaseDifferentiation)
        True
    """

    def __init__(self, window: int = SMOOTH_WINDOW, degree: int = 3):
        self.window = window
        self.degree = degree

    def __call__(self, x, t=1):
        return self._differentiate(x, t)

    def _differentiate(self, x, t=1):
        x = np.asarray(x, dtype=np.float64)
        flat = x.ndim == 1
        x = x.reshape(len(x), -1)
        n = len(x)
        t = np.arange(n) * float(t) if np.isscalar(t) else np.asarray(t, dtype=np.float64)
        w = min(self.window, n)
        if w < 2:
            raise ValueError("a local polynomial needs at least 2 samples")
        p = min(max(self.degree, 1), w - 1) + 1
        start = np.clip(np.arange(n) - w // 2, 0, n - w)
        idx = start[:, None] + np.arange(w)  # (n, w) samples of each window
        h = (t[idx[:, -1]] - t[idx[:, 0]]) / max(w - 1, 1)
        s = (t[idx] - t[:, None]) / h[:, None]
        A = s[..., None] ** np.arange(p)  # (n, w, p)
        coef = np.linalg.solve(np.einsum("nwi,nwj->nij", A, A), np.einsum("nwi,nwd->nid", A, x[idx]))
        smooth, slope = coef[:, 0, :], coef[:, 1, :] / h[:, None]
        self.smoothed_x_ = smooth[:, 0] if flat else smooth
        return slope[:, 0] if flat else slope


_LOCAL_POLYNOMIAL: type | None = None


def _local_polynomial() -> type:
    """``LocalPolynomial``: :class:`LocalPolynomialFit` as a PySINDy ``BaseDifferentiation`` (PySINDy imported here)."""
    global _LOCAL_POLYNOMIAL
    if _LOCAL_POLYNOMIAL is None:
        from pysindy.differentiation.base import BaseDifferentiation

        cls = type("LocalPolynomial", (LocalPolynomialFit, BaseDifferentiation),
                   {"__module__": __name__, "__doc__": LocalPolynomialFit.__doc__,
                    "__call__": BaseDifferentiation.__call__})
        _LOCAL_POLYNOMIAL = cls
    return _LOCAL_POLYNOMIAL


def __getattr__(name: str):
    if name == "LocalPolynomial":  # built on first use: PySINDy is imported only when it is needed
        return _local_polynomial()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass
class Derivatives:
    """Time derivatives of a set of trajectories.

    Attributes:
        states: per trajectory, the (T_i, d) states the derivatives belong to
            (smoothed when the method smooths the states, else as given).
        derivatives: per trajectory, (T_i, d) time derivatives.
        valid: per trajectory, (T_i,) mask of samples whose derivative is accurate
            (interior samples: the edges use truncated stencils or windows).
        method: what was done, in words.

    Example:
        >>> t = np.linspace(0, 1, 20)
        >>> d = differentiate([np.c_[t**2]], [t])
        >>> bool(np.allclose(d.derivatives[0][d.valid[0], 0], 2 * t[d.valid[0]]))
        True
    """

    states: list[np.ndarray]
    derivatives: list[np.ndarray]
    valid: list[np.ndarray]
    method: str


def _differentiator(method: Any, uniform: bool, n_points: int) -> tuple[Any, str, int]:
    """(PySINDy differentiation object, description, samples invalid at each edge) for one trajectory length."""
    import pysindy as ps

    if not isinstance(method, str):
        return method, type(method).__name__, 2
    if method == "finite":
        return ps.FiniteDifference(order=4), _FINITE, 2
    window = min(SMOOTH_WINDOW, n_points if n_points % 2 else n_points - 1)
    if uniform:
        # an explicit dict: PySINDy's default smoother_kws is a shared mutable default
        kws = {"window_length": window, "polyorder": min(3, window - 1)}
        return ps.SmoothedFiniteDifference(order=4, smoother_kws=kws), _SMOOTHED_UNIFORM, 2
    return _local_polynomial()(window=window, degree=3), _SMOOTHED_UNEVEN, (window - 1) // 2


def differentiate(trajectories: Any, times: Any, method: Any = "auto") -> Derivatives:
    """Differentiate trajectories in time (see the module docstring for the methods).

    Args:
        trajectories: an array (n_traj, T, d) with ``times`` (T,), or a list of (T_i, d)
            arrays with a list of their (T_i,) times; times strictly increasing.
        times: the sample times, as above.
        method: ``"finite"`` (4th-order central differences on the true times),
            ``"smoothed"`` (Savitzky-Golay smoothing), ``"auto"`` (smoothed when
            :func:`looks_noisy`), or a PySINDy differentiation object.

    Trajectories shorter than :data:`MIN_POINTS` get no valid sample.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> t = np.cumsum(rng.uniform(0.05, 0.15, 60))  # uneven steps
        >>> d = differentiate([np.c_[np.sin(t)]], [t])
        >>> d.method, float(np.max(np.abs(d.derivatives[0][d.valid[0], 0] - np.cos(t)[d.valid[0]]))) < 1e-4
        ('finite differences (4th order)', True)
    """
    trajs, ts = _as_lists(trajectories, times)
    if isinstance(method, str) and method not in ("auto", "finite", "smoothed"):
        raise ConfigError(f"differentiation must be 'auto', 'finite', 'smoothed' or a PySINDy object, got {method!r}")
    uniform = all(is_uniform(t) for t in ts)
    if method == "auto":
        method = "smoothed" if looks_noisy(trajs, ts) else "finite"
    states, derivs, valid, used = [], [], [], []
    for tr, t in zip(trajs, ts):
        T = len(t)
        if T < MIN_POINTS:
            states.append(tr)
            derivs.append(np.full_like(tr, np.nan))
            valid.append(np.zeros(T, dtype=bool))
            continue
        diff, desc, edge = _differentiator(method, uniform, T)
        used.append(desc)
        d = np.asarray(diff(tr, t), dtype=np.float64).reshape(tr.shape)
        xs = np.asarray(getattr(diff, "smoothed_x_", tr))
        if xs.shape != tr.shape:
            xs = tr
        ok = np.zeros(T, dtype=bool)
        ok[edge : T - edge] = True
        ok &= np.all(np.isfinite(d), axis=1)
        states.append(xs)
        derivs.append(d)
        valid.append(ok)
    described = sorted(set(used), key=used.index)
    return Derivatives(states, derivs, valid, "; ".join(described) if described else _FINITE)
