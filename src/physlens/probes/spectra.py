"""Weight spectra: the data-free quality of a trained network, read from the eigenvalues of its weight matrices.

Method: heavy-tailed self-regularisation (Martin & Mahoney 2021, "Implicit
self-regularization in deep neural networks", JMLR 22(165); Martin, Peng &
Mahoney 2021, "Predicting trends in the quality of state-of-the-art neural
networks without access to training or testing data", Nat. Commun. 12, 4122),
as implemented in the WeightWatcher tool. For every weight matrix W (N x M,
N >= M after a transpose) the empirical spectral density (ESD) of the
eigenvalues of WᵀW is read:

* the power-law exponent α of the ESD's tail, p(λ) ∝ λ^-α for λ >= x_min, by
  continuous maximum likelihood, α = 1 + n / Σ log(λ_i / x_min), with x_min
  chosen by the minimum Kolmogorov–Smirnov distance between the tail and the
  fitted law (Clauset, Shalizi & Newman 2009) over every eigenvalue as a
  candidate, exactly as WeightWatcher's own fit does (eigenvalues below 1e-5
  are left out of the fit, as there); trained layers of good models have
  2 <= α <= 6, α < 2 marks a very heavy tail (over-fitting, or a layer that
  learned a few strong directions), α > 6 an ESD close to random (under-trained);
* α̂ = α log10 λ_max (WeightWatcher's ``alpha_weighted``), log10 ||W||_F²,
  log10 ||W||_2², the stable rank ||W||_F² / ||W||_2²;
* the Marchenko–Pastur bulk edge λ+ = σ² (√N + √M)² of a random matrix with
  the layer's own element scale, σ² estimated from the bulk (a fixed point:
  σ² = mean of the eigenvalues below λ+, divided by N), and the soft rank: the
  number of eigenvalues beyond λ+ (the directions the layer learned);
* a randomisation distance: the Jensen–Shannon distance between the log-ESDs of
  W and of W with its elements permuted (a random matrix with the same element
  distribution); near 0 the layer holds no more structure than noise.

Where this goes beyond WeightWatcher, for the small networks of physics
emulators: a bootstrap error bar on α (resampling the eigenvalues and refitting
α and x_min, on at most 128 x_min candidates per refit), an explicit
"too few eigenvalues" finding (α null, with the reason) instead of a silent
skip for matrices with fewer than ``min_eigenvalues`` (20) eigenvalues, where
WeightWatcher switches to a small-sample estimator from 8 eigenvalues on; and
one batched eigenvalue call on the Gram matrices (float64) of all
matrices of one shape, instead of one SVD per matrix (4x faster than NumPy's
SVD on a 2048² matrix on one core, eigenvalues equal to 1e-14 relative).

The module does not import torch: a safetensors file read with safetensors' NumPy
loader is analysed with NumPy alone (the Gram matrices through NumPy's BLAS, the
eigenvalues through LAPACK's two-stage tridiagonal reduction, ``dsyevd_2stage``, of
the OpenBLAS that NumPy ships: 0.57 s against 0.97 s for ``numpy.linalg.eigvalsh`` on
a 2048² Gram matrix on one core). When torch is already loaded (a model in memory),
``torch.linalg.eigvalsh`` is used (MKL: 0.44 s there). The eigenvalues agree to
1e-15 relative, so α does too. Every eigenvalue is computed: the x_min search tries
each one as the start of the tail, so α cannot be had exactly from the top few alone,
and the tridiagonal reduction, which costs the same whatever part of the spectrum is
then extracted, is most of the work.

Convolution kernels (out, in, k) or (out, in, kh, kw) are read as WeightWatcher
does: one (out x in) matrix per kernel position, their eigenvalues pooled into one
ESD (norms here are of the raw kernel; WeightWatcher rescales convolution slices by a
convention factor, which moves its log norms but not α). Written here rather than calling WeightWatcher because that tool takes a
framework model (not a state dict), fits one SVD at a time, and skips small
matrices silently; benchmarks/spectra.py compares the two on every layer.
"""

from __future__ import annotations

import ctypes
import glob
import importlib.util
import math
import os
import sys
from collections.abc import Mapping

import numpy as np

from physlens.clock import work_seconds
from physlens.errors import ConfigError
from physlens.findings import Finding

COST = 0.2
REQUIRES: dict = {}
#: fewer eigenvalues than this: α is not fitted (a power law's tail needs a few decades of rank)
MIN_EIGENVALUES = 20
#: eigenvalues at or below this are left out of the power-law fit (WeightWatcher's threshold)
EIGENVALUE_FLOOR = 1e-5
#: most eigenvalues kept per finding for the ESD figure (quantiles beyond this)
MAX_STORED = 4096
_EXACT_XMIN = 4096  # above this many eigenvalues, x_min is searched over 2048 quantiles


def applies(dataset) -> str | None:
    """None: the spectra are read from the weights alone, for every dataset.

    Example:
        >>> applies(None) is None
        True
    """
    return None


# --------------------------------------------------------------------------- matrices
def _as_array(t) -> np.ndarray | None:
    """A float tensor (torch or NumPy) as a float64 NumPy array on the CPU; None for anything else."""
    if isinstance(t, np.ndarray):
        return t.astype(np.float64) if np.issubdtype(t.dtype, np.floating) else None
    if "torch" in sys.modules:
        import torch

        if isinstance(t, torch.Tensor):
            return t.detach().to("cpu", torch.float64).numpy() if t.is_floating_point() else None
    return None


def weight_matrices(state: Mapping) -> dict[str, np.ndarray]:
    """The weight matrices of a state dict: key -> float64 stack (k, N, M) with N >= M (k kernel positions).

    Tensors may be torch's or NumPy's (a safetensors file read with ``safetensors.numpy``).
    Dense weights (2-D) give one matrix; convolution kernels (out, in, *kernel) one (out x in)
    matrix per kernel position, as WeightWatcher reads them. Vectors (biases, norms) are left out.

    Example:
        >>> import torch
        >>> net = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Conv2d(4, 6, 3))
        >>> {k: tuple(v.shape) for k, v in weight_matrices(net.state_dict()).items()}
        {'0.weight': (1, 8, 3), '1.weight': (9, 6, 4)}
    """
    out = {}
    for key, t in state.items():
        if getattr(t, "ndim", 0) < 2 or t.ndim > 5:
            continue
        w = _as_array(t)
        if w is None:
            continue
        if w.ndim == 2:
            mats = w[None]
        else:  # (out, in, *kernel) -> (positions, out, in)
            mats = w.reshape(w.shape[0], w.shape[1], -1).transpose(2, 0, 1)
        if mats.shape[1] < mats.shape[2]:
            mats = mats.transpose(0, 2, 1)
        out[key] = np.ascontiguousarray(mats)
    return out


_LAPACK_2STAGE: list = []  # [function or None], found once


def _lapack_2stage(kind: str = "d"):
    """LAPACKE ``<kind>syevd_2stage`` (``kind`` "d" float64, "s" float32) of the OpenBLAS that NumPy (or SciPy)
    ships, with its integer type; None if absent."""
    cache = _LAPACK_2STAGE[0] if _LAPACK_2STAGE else {}
    if not _LAPACK_2STAGE:
        _LAPACK_2STAGE.append(cache)
    if kind in cache:
        return cache[kind]
    found = None
    for pkg in ("numpy", "scipy"):
        try:
            spec = importlib.util.find_spec(pkg)  # the package's location, without importing it
        except (ImportError, ValueError):
            spec = None
        if spec is None or spec.origin is None:
            continue
        libdir = os.path.dirname(os.path.dirname(spec.origin)) + os.sep + pkg + ".libs"
        for path in sorted(glob.glob(os.path.join(libdir, "*openblas*"))):
            try:
                lib = ctypes.CDLL(path)
            except OSError:
                continue
            for prefix, itype in (("scipy_LAPACKE_", ctypes.c_int64), ("LAPACKE_", ctypes.c_int64),
                                  ("scipy_LAPACKE_", ctypes.c_int32), ("LAPACKE_", ctypes.c_int32)):
                suffix = "64_" if itype is ctypes.c_int64 else ""
                fn = getattr(lib, f"{prefix}{kind}syevd_2stage{suffix}", None)
                if fn is not None:
                    fn.restype = itype
                    found = (fn, itype)
                    break
            if found:
                break
        if found:
            break
    cache[kind] = found
    return found


def _eigvalsh(gram: np.ndarray, backend: str | None = None) -> np.ndarray:
    """Eigenvalues (ascending, float64) of a stack (b, n, n) of symmetric matrices, computed in the stack's
    precision (float32 or float64).

    ``backend`` None picks: ``"torch"`` (torch.linalg.eigvalsh) when torch is already loaded; else
    ``"lapack"``, LAPACK's two-stage ``syevd_2stage`` (eigenvalues only) from NumPy's OpenBLAS;
    else ``"numpy"`` (numpy.linalg.eigvalsh).

    Example:
        >>> G = np.array([[[2.0, 1.0], [1.0, 2.0]]])
        >>> [_eigvalsh(G, b).round(12).tolist() for b in ("numpy", "lapack")]
        [[[1.0, 3.0]], [[1.0, 3.0]]]
        >>> _eigvalsh(G.astype(np.float32), "lapack").round(5).tolist()
        [[1.0, 3.0]]
    """
    b, n, _ = gram.shape
    dtype = np.float32 if gram.dtype == np.float32 else np.float64
    if backend is None:
        backend = "torch" if "torch" in sys.modules else "lapack"
    if backend == "torch":
        import torch

        return torch.linalg.eigvalsh(torch.from_numpy(np.ascontiguousarray(gram, dtype=dtype))).double().numpy()
    lapack = _lapack_2stage("s" if dtype == np.float32 else "d") if backend == "lapack" else None
    if lapack is None:
        return np.linalg.eigvalsh(gram.astype(dtype)).astype(np.float64)
    fn, itype = lapack
    out = np.empty((b, n), dtype=dtype)
    for i in range(b):
        a = np.array(gram[i], dtype=dtype, order="C")  # a copy (LAPACK overwrites it); symmetric, so C = F order
        info = fn(ctypes.c_int(102), ctypes.c_char(b"N"), ctypes.c_char(b"L"), itype(n),
                  a.ctypes.data_as(ctypes.c_void_p), itype(n), out[i].ctypes.data_as(ctypes.c_void_p))
        if info != 0:  # never seen; the standard driver then
            out[i] = np.linalg.eigvalsh(gram[i].astype(dtype))
    return out.astype(np.float64)


def eigenvalues(mats) -> np.ndarray:
    """Pooled, sorted eigenvalues of WᵀW for a stack (k, N, M) of matrices: k·M values, float64.

    Example:
        >>> W = np.array([[[3.0, 0.0], [0.0, 2.0], [0.0, 0.0]]])
        >>> eigenvalues(W).tolist()
        [4.0, 9.0]
    """
    mats = np.asarray(_as_array(mats) if not isinstance(mats, np.ndarray) else mats, dtype=np.float64)
    gram = np.matmul(mats.transpose(0, 2, 1), mats)
    return np.sort(np.clip(_eigvalsh(gram), 0.0, None).reshape(-1))


#: matrices whose smaller side reaches this size are reduced in float32 under ``precision="auto"``: twice
#: as fast, and the eigenvalues the power-law tail reads keep ~6 significant digits (α moves by ~1e-5)
FLOAT32_FROM = 1024


def _batched_eigenvalues(mats: dict[str, np.ndarray], precision: str = "float64") -> dict[str, np.ndarray]:
    """Eigenvalues of every matrix, one batched eigenvalue call per shape (dense layers of one width share it).

    ``precision`` "float64", "float32", or "auto" (float32 for matrices with both sides ≥ :data:`FLOAT32_FROM`).
    """
    if precision not in ("float64", "float32", "auto"):
        raise ConfigError(f"precision must be float64, float32 or auto, got {precision!r}")
    by_shape: dict[tuple, list[str]] = {}
    for key, m in mats.items():
        by_shape.setdefault(tuple(m.shape[1:]), []).append(key)
    out = {}
    for shape, keys in by_shape.items():
        single = precision == "float32" or (precision == "auto" and min(shape) >= FLOAT32_FROM)
        stack = np.concatenate([mats[k] for k in keys]).astype(np.float32 if single else np.float64, copy=False)
        # the Gram matrices through NumPy's BLAS: 0.75 s against torch's 1.14 s CPU for five 2048² float64
        # products on one thread (torch's batched float64 matmul is the slower one)
        ev = np.clip(_eigvalsh(np.matmul(stack.transpose(0, 2, 1), stack)), 0.0, None)
        i = 0
        for k in keys:
            n = mats[k].shape[0]
            out[k] = np.sort(ev[i:i + n].reshape(-1))
            i += n
    return out


# --------------------------------------------------------------------------- power-law fit
def _ks_distances(x: np.ndarray, idx: np.ndarray, alphas: np.ndarray, chunk: int = 256) -> np.ndarray:
    """KS distance between the tail x[i:] and the power law (α_i, x_min = x[i]) for each candidate i in idx.

    ``idx`` ascending. Each chunk of candidates reads only the values from its lowest candidate up
    (the rest lie below every x_min in it), and the law's CDF is 1 - exp((1-α) log(x/x_min)) on
    precomputed logarithms: 2.5x faster than powers over the whole spectrum, equal to 1e-15.
    """
    N = len(x)
    logx = np.log(x)
    D = np.ones(len(idx))
    j = np.arange(N)
    for s in range(0, len(idx), chunk):
        ii = idx[s:s + chunk]
        a = alphas[s:s + chunk]
        n = (N - ii).astype(float)
        lo = int(ii.min())
        jj, lx = j[lo:], logx[lo:]
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            model = -np.expm1((1.0 - a[:, None]) * (lx[None, :] - logx[ii, None]))
            emp = (jj[None, :] - ii[:, None]) / n[:, None]
            diff = np.where(jj[None, :] >= ii[:, None], np.abs(model - emp), 0.0)
        d = np.max(diff, axis=1)
        D[s:s + chunk] = np.where(a > 1.0, d, 1.0)
    return D


def fit_power_law(lam: np.ndarray, candidates: int | None = None) -> dict:
    """Continuous power-law MLE of the tail of ``lam``, x_min by minimum KS distance.

    ``candidates`` None tries every value as x_min (below 4096 values); a number, that many
    quantiles. Returns ``{"alpha", "xmin", "ks", "n_tail", "sigma"}`` (sigma: (α-1)/√n_tail).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> lam = (1 - rng.random(3000)) ** (-1 / 1.5)  # Pareto tail: alpha = 2.5
        >>> round(fit_power_law(lam)["alpha"], 1)
        2.5
    """
    x = np.sort(np.asarray(lam, dtype=np.float64))
    N = len(x)
    if N < 2:
        raise ValueError("a power-law fit needs at least 2 values")
    logx = np.log(x)
    suffix = np.cumsum(logx[::-1])[::-1]  # Σ_{j>=i} log x_j
    if candidates is None and N - 1 <= _EXACT_XMIN:
        idx = np.arange(N - 1)
    else:
        k = min(N - 1, candidates or 2048)
        idx = np.unique(np.linspace(0, N - 2, k).round().astype(int))
    n = (N - idx).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        alphas = 1.0 + n / (suffix[idx] - n * logx[idx])
    alphas = np.where(np.isfinite(alphas), alphas, 0.0)
    D = _ks_distances(x, idx, alphas)
    b = int(np.argmin(D))
    i, a = int(idx[b]), float(alphas[b])
    return {"alpha": a, "xmin": float(x[i]), "ks": float(D[b]), "n_tail": int(N - i),
            "sigma": float((a - 1.0) / math.sqrt(N - i))}


def bootstrap_alpha(lam: np.ndarray, n_boot: int = 50, seed: int = 0, candidates: int = 128) -> np.ndarray:
    """α refitted (x_min included) on ``n_boot`` resamples of the eigenvalues, with replacement.

    Example:
        >>> rng = np.random.default_rng(1)
        >>> lam = (1 - rng.random(500)) ** (-1 / 2.0)  # alpha = 3
        >>> a = bootstrap_alpha(lam, n_boot=20)
        >>> bool(2.5 < np.median(a) < 3.6), a.shape
        (True, (20,))
    """
    rng = np.random.default_rng(seed)
    lam = np.asarray(lam, dtype=np.float64)
    out = np.empty(n_boot)
    for b in range(n_boot):
        out[b] = fit_power_law(rng.choice(lam, size=len(lam), replace=True), candidates=candidates)["alpha"]
    return out


# --------------------------------------------------------------------------- other metrics
def marchenko_pastur(lam: np.ndarray, N: int, M: int, iterations: int = 20) -> dict:
    """Bulk edge λ+ = σ²(√N+√M)² of the Marchenko–Pastur law for WᵀW, σ² from the bulk; soft rank beyond it.

    σ² starts from the mean eigenvalue / N (all of ||W||_F²) and is re-estimated from the eigenvalues
    inside the current edge until it settles, so a few strong learned directions do not inflate it.

    Example:
        >>> W = np.random.default_rng(0).normal(size=(400, 100))
        >>> W[:, 0] *= 8.0  # one learned direction
        >>> mp = marchenko_pastur(np.linalg.eigvalsh(W.T @ W), 400, 100)
        >>> mp["soft_rank"], round(mp["sigma2"], 1)
        (1, 1.0)
    """
    lam = np.asarray(lam, dtype=np.float64)
    sigma2 = float(np.mean(lam)) / N
    edge = sigma2 * (math.sqrt(N) + math.sqrt(M)) ** 2
    for _ in range(iterations):
        bulk = lam[lam <= edge]
        if len(bulk) == 0:
            break
        new = float(np.mean(bulk)) / N
        if abs(new - sigma2) <= 1e-9 * max(sigma2, 1e-300):
            break
        sigma2, edge = new, new * (math.sqrt(N) + math.sqrt(M)) ** 2
    return {"sigma2": sigma2, "bulk_edge": edge, "soft_rank": int(np.sum(lam > edge)),
            "softrank_ratio": float(edge / lam.max()) if lam.max() > 0 else float("nan")}


def randomisation_distance(lam: np.ndarray, lam_random: np.ndarray, bins: int = 50) -> float:
    """Jensen–Shannon distance (base 2, in [0, 1]) between the histograms of log10 of two ESDs.

    Example:
        >>> a = np.linspace(1, 2, 100)
        >>> randomisation_distance(a, a), round(randomisation_distance(a, a * 100), 2)
        (0.0, 1.0)
    """
    a = np.log10(np.asarray(lam)[np.asarray(lam) > EIGENVALUE_FLOOR])
    b = np.log10(np.asarray(lam_random)[np.asarray(lam_random) > EIGENVALUE_FLOOR])
    if len(a) == 0 or len(b) == 0:
        return float("nan")
    lo, hi = min(a.min(), b.min()), max(a.max(), b.max())
    if hi <= lo:
        return 0.0
    p, _ = np.histogram(a, bins=bins, range=(lo, hi))
    q, _ = np.histogram(b, bins=bins, range=(lo, hi))
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2

    def kl(u):
        nz = u > 0
        return float(np.sum(u[nz] * np.log2(u[nz] / m[nz])))

    return float(math.sqrt(max(0.0, (kl(p) + kl(q)) / 2)))


def _permuted(mats: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The stack with each matrix's elements permuted at random (same element distribution, no structure)."""
    k, N, M = mats.shape
    flat = mats.reshape(k, N * M)
    return np.stack([flat[i][rng.permutation(N * M)] for i in range(k)]).reshape(k, N, M)


# --------------------------------------------------------------------------- analysis
def layer_metrics(key: str, mats: np.ndarray, lam: np.ndarray, n_boot: int = 50, seed: int = 0,
                  randomize: bool = True, min_eigenvalues: int = MIN_EIGENVALUES,
                  lam_random: np.ndarray | None = None) -> dict:
    """Every spectral metric of one weight matrix (stack (k, N, M)) with eigenvalues ``lam``.

    Example:
        >>> W = np.random.default_rng(0).normal(size=(1, 200, 50))
        >>> m = layer_metrics("w", W, eigenvalues(W), n_boot=5)
        >>> m["n_eigenvalues"], m["alpha"] is not None, m["soft_rank"] <= 2
        (50, True, True)
    """
    mats = mats if isinstance(mats, np.ndarray) else _as_array(mats)
    k, N, M = mats.shape
    lam = np.asarray(lam, dtype=np.float64)
    lam_max = float(lam.max()) if len(lam) else 0.0
    frob2 = float(lam.sum())
    fit_on = lam[lam > EIGENVALUE_FLOOR]
    out: dict = {"layer": key, "shape": [int(s) for s in mats.shape], "n_eigenvalues": int(len(lam)),
                 "alpha": None, "alpha_error": None, "alpha_weighted": None, "xmin": None, "ks_distance": None,
                 "n_tail": None, "reason": None,
                 "lambda_max": lam_max,
                 "log_norm": math.log10(frob2) if frob2 > 0 else None,
                 "log_spectral_norm": math.log10(lam_max) if lam_max > 0 else None,
                 "stable_rank": frob2 / lam_max if lam_max > 0 else None}
    mp = marchenko_pastur(lam, N, M) if lam_max > 0 else {"sigma2": 0.0, "bulk_edge": 0.0, "soft_rank": 0,
                                                           "softrank_ratio": float("nan")}
    out.update({"mp_bulk_edge": mp["bulk_edge"], "soft_rank": mp["soft_rank"], "mp_softrank_ratio": mp["softrank_ratio"]})
    if len(fit_on) < min_eigenvalues:
        out["reason"] = (f"too few eigenvalues for a power-law fit: {len(fit_on)} above {EIGENVALUE_FLOOR:g} "
                         f"(needs {min_eigenvalues}); a {N}x{M} matrix" + (f" at {k} kernel positions" if k > 1 else ""))
    else:
        fit = fit_power_law(fit_on)
        out.update({"alpha": fit["alpha"], "xmin": fit["xmin"], "ks_distance": fit["ks"], "n_tail": fit["n_tail"],
                    "alpha_weighted": fit["alpha"] * math.log10(lam_max)})
        if n_boot > 1:
            boots = bootstrap_alpha(fit_on, n_boot=n_boot, seed=seed)
            out["alpha_error"] = float(np.std(boots, ddof=1))
        else:
            out["alpha_error"] = fit["sigma"]
    out["rand_distance"] = None
    if randomize and lam_max > 0 and len(fit_on) >= min_eigenvalues:  # a histogram of a handful of values says nothing
        if lam_random is None:
            lam_random = eigenvalues(_permuted(mats, np.random.default_rng(seed)))
        out["rand_distance"] = randomisation_distance(lam, lam_random)
        out["rand_lambda_max"] = float(np.max(lam_random))
    return out


def _verdict(alpha: float | None) -> str:
    if alpha is None:
        return "not fitted"
    if alpha < 2.0:
        return "very heavy tail (α < 2: over-fitted or a few dominant directions)"
    if alpha > 6.0:
        return "close to random (α > 6: under-trained)"
    return "heavy-tailed, well trained (2 ≤ α ≤ 6)"


def _stored(lam: np.ndarray) -> np.ndarray:
    if len(lam) <= MAX_STORED:
        return lam.astype(np.float64)
    return np.quantile(lam, np.linspace(0, 1, MAX_STORED))


def analyze(state, n_boot: int = 50, seed: int = 0, randomize: bool = True,
            min_eigenvalues: int = MIN_EIGENVALUES, budget_seconds: float | None = None,
            precision: str = "auto") -> list[dict]:
    """One metrics dict per weight matrix of a model or state dict (see :func:`layer_metrics`), plus its eigenvalues.

    With ``budget_seconds``, layers reached after the budget is spent get α's plain asymptotic
    error (α-1)/√n_tail instead of the bootstrap (``error_method`` says which). ``precision``: see
    :func:`_batched_eigenvalues` (the default reduces matrices of 1024 or more in float32).

    Example:
        >>> import torch
        >>> net = torch.nn.Sequential(torch.nn.Linear(3, 64), torch.nn.Linear(64, 64), torch.nn.Linear(64, 1))
        >>> [(r["layer"], r["n_eigenvalues"], r["alpha"] is None) for r in analyze(net, n_boot=5)]
        [('0.weight', 3, True), ('1.weight', 64, False), ('2.weight', 1, True)]
    """
    w0 = work_seconds()  # budget shares on the thread's CPU time (physlens.clock)
    if callable(getattr(state, "state_dict", None)):  # a torch module
        state = state.state_dict()
    mats = weight_matrices(state)
    lams = _batched_eigenvalues(mats, precision)
    rand = {}
    if randomize:
        rng = np.random.default_rng(seed)
        rand = _batched_eigenvalues({k: _permuted(m, rng) for k, m in mats.items()}, precision)
    rows = []
    for key, m in mats.items():
        late = budget_seconds is not None and work_seconds() - w0 > budget_seconds
        row = layer_metrics(key, m, lams[key], n_boot=0 if late else n_boot, seed=seed, randomize=randomize,
                            min_eigenvalues=min_eigenvalues, lam_random=rand.get(key))
        row["error_method"] = None if row["alpha"] is None else ("bootstrap" if (n_boot > 1 and not late) else "asymptotic")
        row["eigenvalues"] = _stored(lams[key])
        rows.append(row)
    return rows


def to_frame(findings: list[Finding]):
    """The per-matrix ``quality`` findings of this probe as a pandas DataFrame, one row per matrix.

    Example:
        >>> import torch
        >>> net = torch.nn.Sequential(torch.nn.Linear(3, 64), torch.nn.Linear(64, 64))
        >>> to_frame(run(net, None, bootstrap=0))[["layer", "n_eigenvalues"]].values.tolist()
        [['0.weight', 3], ['1.weight', 64]]
    """
    import pandas as pd

    rows = [dict(f.value) for f in findings if f.probe == "spectra" and f.subject != "summary"]
    return pd.DataFrame(rows)


def run(model, dataset=None, bootstrap: int = 50, min_eigenvalues: int = MIN_EIGENVALUES, randomize: bool = True,
        seed: int = 0, budget_seconds: float | None = None, precision: str = "auto") -> list[Finding]:
    """One ``quality`` finding per weight matrix (α with error bar, norms, MP soft rank...) and one summary.

    ``model`` is a torch module or a state dict (a safetensors file's tensors); the data are not
    read. Matrices with fewer than ``min_eigenvalues`` eigenvalues get α null and the reason.

    Example:
        >>> import torch
        >>> net = torch.nn.Sequential(torch.nn.Linear(2, 64), torch.nn.Tanh(), torch.nn.Linear(64, 64))
        >>> fs = run(net, None, bootstrap=5)
        >>> [(f.subject, f.value["alpha"] is None) for f in fs]
        [('0.weight', True), ('2.weight', False), ('summary', False)]
    """
    rows = analyze(model, n_boot=bootstrap, seed=seed, randomize=randomize, min_eigenvalues=min_eigenvalues,
                   budget_seconds=budget_seconds, precision=precision)
    findings = []
    for r in rows:
        evidence = {"eigenvalues": r.pop("eigenvalues"), "error_method": r.pop("error_method")}
        if r["alpha"] is None:
            statement = f"{r['layer']}: α not fitted — {r['reason']}"
            confidence = 0.0
        else:
            err = f" ± {r['alpha_error']:.2f}" if r["alpha_error"] is not None else ""
            statement = (f"{r['layer']}: α = {r['alpha']:.2f}{err} ({r['n_tail']} of {r['n_eigenvalues']} eigenvalues "
                         f"in the tail), {_verdict(r['alpha'])}; soft rank {r['soft_rank']}")
            confidence = float(max(0.0, min(1.0, 1.0 - r["ks_distance"])))
        findings.append(Finding("quality", statement, value=r, evidence=evidence, confidence=confidence,
                                probe="spectra", subject=r["layer"]))
    findings.append(_summary(rows))
    return findings


def _summary(rows: list[dict]) -> Finding:
    fitted = [r for r in rows if r["alpha"] is not None]
    alphas = np.array([r["alpha"] for r in fitted])

    def mean(name):
        vals = [r[name] for r in rows if r.get(name) is not None and np.isfinite(r[name])]
        return float(np.mean(vals)) if vals else None

    value = {"layer": "summary", "n_matrices": len(rows), "n_fitted": len(fitted),
             "n_too_few": len(rows) - len(fitted),
             "alpha": float(alphas.mean()) if len(fitted) else None,
             "alpha_weighted": mean("alpha_weighted"), "log_norm": mean("log_norm"),
             "log_spectral_norm": mean("log_spectral_norm"), "stable_rank": mean("stable_rank"),
             "soft_rank": mean("soft_rank"), "rand_distance": mean("rand_distance"),
             "n_heavy": int(np.sum(alphas < 2.0)), "n_random_like": int(np.sum(alphas > 6.0)),
             "n_eigenvalues": int(sum(r["n_eigenvalues"] for r in rows))}
    if fitted:
        statement = (f"Weight spectra of {len(rows)} matrices: mean α = {value['alpha']:.2f} over {len(fitted)} fitted "
                     f"({value['n_heavy']} with α < 2, {value['n_random_like']} with α > 6), mean α̂ = "
                     f"{value['alpha_weighted']:.2f}; {value['n_too_few']} too small to fit")
    else:
        statement = (f"Weight spectra of {len(rows)} matrices: none has {MIN_EIGENVALUES} eigenvalues or more, "
                     "so no power-law exponent could be fitted")
    conf = float(np.mean([1.0 - r["ks_distance"] for r in fitted])) if fitted else 0.0
    return Finding("quality", statement, value=value, evidence={"layers": [r["layer"] for r in rows]},
                   confidence=max(0.0, min(1.0, conf)), probe="spectra", subject="summary")


__all__ = ["analyze", "applies", "bootstrap_alpha", "eigenvalues", "fit_power_law", "layer_metrics",
           "marchenko_pastur", "randomisation_distance", "run", "to_frame", "weight_matrices"]
