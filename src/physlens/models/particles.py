"""Reading the particle layout of a point-cloud dataset (shared by the ``scalars`` and ``graph`` models).

The data convention (``/work/briefs/conventions.md`` section 2) stores particles
*particle-major*: for particle i, each of its vector features (``dim``
components each) then its scalar features, e.g. ``x0, y0, vx0, vy0, m0, x1, ...``,
and describes it in ``meta["particles"]``::

    {"n": N, "dim": d, "vectors": ["pos", "vel"], "scalars": ["m"],
     "metric": "euclidean" | "minkowski", "target_vectors": ["acc"]}

Columns after the ``N`` particle blocks are *global* scalars (e.g. a coupling
constant shared by all particles). Targets are invariant scalars unless
``target_vectors`` is given; then they are either one vector per particle per
name (``N * len(target_vectors) * dim`` columns, particle-major) or global
vectors (``len(target_vectors) * dim`` columns). The Minkowski metric is
``diag(+1, -1, ..., -1)`` with the time component first.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from physlens.errors import ConfigError


@dataclass
class ParticleLayout:
    """Column indices of the particles' vectors, scalars and outputs.

    Attributes:
        n, dim: number of particles and spatial dimension.
        vectors, scalars: names of the per-particle vector and scalar features.
        metric: ``"euclidean"`` or ``"minkowski"``.
        vec_idx: int array (n, n_vectors, dim) of input columns.
        sca_idx: int array (n, n_scalars) of input columns.
        glob_idx: int array of global (non-particle) input columns.
        target_vectors: names of vector targets ([] when targets are invariant scalars).
        out_mode: ``"invariant"``, ``"particle_vectors"`` or ``"global_vectors"``.
        out_idx: for vector outputs, int array (n_or_1, n_target_vectors, dim) of target columns.

    Example:
        >>> meta = {"particles": {"n": 2, "dim": 2, "vectors": ["pos"], "scalars": ["m"], "target_vectors": ["acc"]}}
        >>> lay = ParticleLayout.from_meta(meta, d_in=6, d_out=4)
        >>> lay.vec_idx[1, 0].tolist(), lay.sca_idx[1].tolist(), lay.out_mode
        ([3, 4], [5], 'particle_vectors')
    """

    n: int
    dim: int
    vectors: list[str]
    scalars: list[str]
    metric: str
    vec_idx: np.ndarray
    sca_idx: np.ndarray
    glob_idx: np.ndarray
    target_vectors: list[str] = field(default_factory=list)
    out_mode: str = "invariant"
    out_idx: np.ndarray | None = None

    @classmethod
    def from_meta(cls, meta: dict, d_in: int, d_out: int, model: str = "model") -> ParticleLayout:
        """Parse ``meta["particles"]`` and check it against the number of columns."""
        info = meta.get("particles") if isinstance(meta, dict) else None
        if not isinstance(info, dict):
            raise ConfigError(
                f"model {model!r} needs point-cloud data: dataset.meta['particles'] = "
                "{'n', 'dim', 'vectors', 'scalars', 'metric'} is missing"
            )
        try:
            n, dim = int(info["n"]), int(info["dim"])
        except (KeyError, TypeError, ValueError):
            raise ConfigError(f"model {model!r}: meta['particles'] needs integer 'n' and 'dim'") from None
        vectors = list(info.get("vectors") or [])
        scalars = list(info.get("scalars") or [])
        metric = str(info.get("metric", "euclidean")).lower()
        if n < 1 or dim < 1 or not vectors:
            raise ConfigError(f"model {model!r}: meta['particles'] needs n >= 1, dim >= 1 and at least one vector")
        if metric not in ("euclidean", "minkowski"):
            raise ConfigError(f"model {model!r}: metric must be 'euclidean' or 'minkowski', got {metric!r}")
        per = len(vectors) * dim + len(scalars)
        if n * per > d_in:
            raise ConfigError(
                f"model {model!r}: {n} particles x ({len(vectors)} vectors x {dim} + {len(scalars)} scalars) "
                f"= {n * per} columns, but the data has {d_in} inputs"
            )
        vec_idx = np.stack([np.arange(len(vectors) * dim).reshape(len(vectors), dim) + i * per for i in range(n)])
        sca_idx = np.stack([np.arange(len(scalars)) + i * per + len(vectors) * dim for i in range(n)]).reshape(
            n, len(scalars)
        )
        glob_idx = np.arange(n * per, d_in)
        target_vectors = list(info.get("target_vectors") or [])
        out_mode, out_idx = "invariant", None
        if target_vectors:
            ntv = len(target_vectors)
            if d_out == n * ntv * dim:
                out_mode = "particle_vectors"
                out_idx = np.arange(d_out).reshape(n, ntv, dim)
            elif d_out == ntv * dim:
                out_mode = "global_vectors"
                out_idx = np.arange(d_out).reshape(1, ntv, dim)
            else:
                raise ConfigError(
                    f"model {model!r}: {ntv} target vector(s) of dimension {dim} do not fit {d_out} target columns "
                    f"(expected {n * ntv * dim} per particle or {ntv * dim} global)"
                )
        return cls(n, dim, vectors, scalars, metric, vec_idx, sca_idx, glob_idx, target_vectors, out_mode, out_idx)

    @property
    def n_vectors(self) -> int:
        """Vector features per particle."""
        return len(self.vectors)

    @property
    def n_scalars(self) -> int:
        """Scalar features per particle."""
        return len(self.scalars)

    @property
    def n_global(self) -> int:
        """Global (non-particle) input columns."""
        return int(len(self.glob_idx))

    def metric_diag(self, device=None, dtype=torch.float32) -> torch.Tensor:
        """Diagonal of the metric: ones, or (+1, -1, ..., -1) for Minkowski.

        Example:
            >>> ParticleLayout.from_meta({"particles": {"n": 1, "dim": 4, "vectors": ["p"], "metric": "minkowski"}}, 4, 1).metric_diag().tolist()
            [1.0, -1.0, -1.0, -1.0]
        """
        eta = torch.ones(self.dim, device=device, dtype=dtype)
        if self.metric == "minkowski":
            eta[1:] = -1.0
        return eta


def symmetric_standardisation(layout: ParticleLayout, X: np.ndarray, y: np.ndarray, centre_first: bool = False):
    """Standardisation that keeps rotations, boosts and permutations symmetries.

    Every vector feature gets ONE scale shared by all its components and all
    particles (its RMS) and no offset, so a rotation or boost commutes with the
    standardisation; particle scalars get a mean/std pooled over particles
    (permutation-symmetric); global columns and invariant targets get the usual
    per-column mean/std; vector targets one RMS scale per vector name. With
    ``centre_first`` the first vector (positions) is measured about the
    particles' centroid (translation-invariant models).

    Returns ``(x_mean, x_std, y_mean, y_std)`` arrays.

    Example:
        >>> lay = ParticleLayout.from_meta({"particles": {"n": 2, "dim": 2, "vectors": ["pos"]}}, 4, 1)
        >>> xm, xs, ym, ys = symmetric_standardisation(lay, np.random.randn(50, 4) * 3, np.random.randn(50, 1))
        >>> bool(np.all(xm == 0) and np.ptp(xs) == 0)
        True
    """
    d_in, d_out = X.shape[1], y.shape[1]
    x_mean, x_std = np.zeros(d_in), np.ones(d_in)
    for a in range(layout.n_vectors):
        V = X[:, layout.vec_idx[:, a, :]]  # (N, n, dim)
        if centre_first and a == 0 and layout.n > 1:
            V = V - V.mean(axis=1, keepdims=True)
        s = float(np.sqrt(np.mean(V**2)))
        x_std[layout.vec_idx[:, a, :].ravel()] = s if s > 0 else 1.0
    for c in range(layout.n_scalars):
        cols = layout.sca_idx[:, c]
        vals = X[:, cols]
        m, s = float(vals.mean()), float(vals.std())
        x_mean[cols] = m
        x_std[cols] = s if s > 0 else 1.0
    if layout.n_global:
        g = X[:, layout.glob_idx]
        s = g.std(axis=0)
        x_mean[layout.glob_idx] = g.mean(axis=0)
        x_std[layout.glob_idx] = np.where(s > 0, s, 1.0)
    if layout.out_mode == "invariant":
        s = y.std(axis=0)
        y_mean, y_std = y.mean(axis=0), np.where(s > 0, s, 1.0)
    else:
        y_mean, y_std = np.zeros(d_out), np.ones(d_out)
        for b in range(len(layout.target_vectors)):
            cols = layout.out_idx[:, b, :].ravel()
            s = float(np.sqrt(np.mean(y[:, cols] ** 2)))
            y_std[cols] = s if s > 0 else 1.0
    return x_mean, x_std, y_mean, y_std


def set_buffers(model, x_mean, x_std, y_mean, y_std) -> None:
    """Copy standardisation arrays into an Emulator's buffers (on the buffers' device and dtype).

    Example:
        >>> from physlens.models.mlp import MLP
        >>> m = MLP(2, 1, width=4, depth=1)
        >>> set_buffers(m, [0.0, 1.0], [1.0, 2.0], [0.5], [3.0]); m.x_std.tolist()
        [1.0, 2.0]
    """
    for name, arr in (("x_mean", x_mean), ("x_std", x_std), ("y_mean", y_mean), ("y_std", y_std)):
        buf = getattr(model, name)
        buf.copy_(torch.as_tensor(np.asarray(arr), dtype=buf.dtype, device=buf.device))


def particle_feature_names(input_names: list[str], layout: ParticleLayout) -> list[str]:
    """Per-particle feature names (the column names of particle 0 with the trailing index removed).

    Example:
        >>> lay = ParticleLayout.from_meta({"particles": {"n": 2, "dim": 2, "vectors": ["pos"], "scalars": ["m"]}}, 6, 1)
        >>> particle_feature_names(["x0", "y0", "m0", "x1", "y1", "m1"], lay)
        ['x', 'y', 'm']
    """
    per = layout.n_vectors * layout.dim + layout.n_scalars
    out = []
    for c in range(per):
        name = input_names[c] if c < len(input_names) else f"f{c}"
        stripped = name[:-1] if name.endswith("0") and len(name) > 1 else name
        out.append(stripped)
    return out
