"""The one decision rule every symmetry candidate goes through: does the transformation
change the network's output by more than the network's own error could explain?

For a candidate map ``g`` on the inputs (a finite flow ``exp(t A)`` of a Lie generator,
or a discrete reflection/permutation) and an optional linear map ``rho`` on the
outputs, the change at a data point is ``Delta_i = f(g x_i) - rho f(x_i)``. If the
true function were exactly symmetric, ``Delta_i = e(g x_i) - rho e(x_i)`` where
``e = f - f_true`` is the model's error, and by the triangle (Minkowski)
inequality ``rms(Delta) <= rms(e(g x)) + rms(rho e(x))`` whatever the correlation
of the errors. We do not know ``e`` but we know the residuals ``r = f(x) - y``
on the data: ``e(x_i)`` is estimated by ``r_i`` and ``e(g x_i)`` by the residual of
the nearest data point of the image (a local estimate). The statistic
``S = rms(Delta) - rms(r_nn) - rms(rho r)`` is positive only when the change is
larger than the model's error can explain; its standard error comes from the
delta method and a one-sided z-test gives a p-value. The candidate is accepted
as a symmetry when the test does not reject at level ``alpha`` (a significance
level, not a tuned threshold). Noise in ``y`` inflates the residuals, so noisy
data resolve only breakings larger than the noise — as they should.

Images that leave the data's support would be judged on the network's
extrapolation; an image counts as inside when every coordinate stays within the
range of its column and its distance to the nearest data point (standardised
coordinates) is within the 95th percentile of the data's own nearest-neighbour
distances (scipy's cKDTree). In many dimensions the neighbour test alone is weak
(every point is "near" some data point), so the column ranges matter there.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from scipy import stats
from scipy.spatial import cKDTree


def predict(model: torch.nn.Module, X: np.ndarray) -> np.ndarray:
    """Model outputs for a NumPy array, in original units, without gradients.

    Example:
        >>> predict(torch.nn.Linear(2, 1), np.zeros((3, 2))).shape
        (3, 1)
    """
    if hasattr(model, "predict"):
        return np.asarray(model.predict(X), dtype=np.float64)
    p = next(model.parameters())
    with torch.no_grad():
        out = model(torch.as_tensor(X, dtype=p.dtype, device=p.device))
    return out.detach().cpu().numpy().astype(np.float64).reshape(len(X), -1)


@dataclass
class SymmetryContext:
    """Data, predictions and residuals shared by every test of one probe run.

    ``X`` original inputs; ``mu, sd`` their mean and std (standardisation
    ``z = (x - mu) / sd``); ``F`` predictions; ``ysd`` output scales; ``R``
    residuals ``(f(x) - y) / ysd``; ``tree`` a KD-tree over the standardised
    inputs and ``radius`` the 95th percentile of nearest-neighbour distances.

    Example:
        >>> ctx = SymmetryContext.build(torch.nn.Linear(2, 1), np.random.rand(50, 2), np.random.rand(50, 1))
        >>> ctx.Z.shape
        (50, 2)
    """

    model: torch.nn.Module
    X: np.ndarray
    Y: np.ndarray
    mu: np.ndarray
    sd: np.ndarray
    F: np.ndarray
    ysd: np.ndarray
    R: np.ndarray
    Z: np.ndarray
    tree: cKDTree
    radius: float
    lo: np.ndarray
    hi: np.ndarray
    alpha: float = 0.01
    extras: dict = field(default_factory=dict)

    @classmethod
    def build(cls, model, X: np.ndarray, Y: np.ndarray, alpha: float = 0.01) -> SymmetryContext:
        """Compute predictions, residuals and the neighbour structure of ``X``."""
        X = np.asarray(X, dtype=np.float64)
        Y = np.asarray(Y, dtype=np.float64).reshape(len(X), -1)
        mu = X.mean(axis=0)
        sd = X.std(axis=0)
        sd = np.where(sd > 0, sd, 1.0)
        F = predict(model, X)
        ysd = Y.std(axis=0)
        ysd = np.where(ysd > 0, ysd, 1.0)
        Z = (X - mu) / sd
        tree = cKDTree(Z)
        d, _ = tree.query(Z, k=2)
        radius = float(np.quantile(d[:, 1], 0.95))
        return cls(model, X, Y, mu, sd, F, ysd, (F - Y) / ysd, Z, tree, radius, Z.min(axis=0), Z.max(axis=0), alpha)

    @property
    def model_error(self) -> float:
        """RMS residual of the model in units of the target std (all outputs pooled)."""
        return float(np.sqrt(np.mean(self.R**2)))


@dataclass
class TestResult:
    """Outcome of :func:`transform_test` (``symmetric`` is the decision)."""

    symmetric: bool
    p_value: float
    ratio: float  # rms(Delta) / (rms(e(gx)) + rms(rho e(x))): <= 1 for a symmetry
    violation: float  # rms(Delta) in target-std units
    inside: float  # fraction of images inside the data's support
    n: int

    def as_dict(self) -> dict:
        """Plain dict for a finding's evidence."""
        return {"p_value": self.p_value, "violation_over_error": self.ratio, "violation": self.violation,
                "fraction_inside": self.inside, "samples": self.n}


def transform_test(
    ctx: SymmetryContext,
    idx: np.ndarray,
    X_img: np.ndarray,
    rho: np.ndarray | None = None,
    min_points: int = 20,
) -> TestResult | None:
    """Test whether mapping the rows ``ctx.X[idx]`` to ``X_img`` is a symmetry of the model.

    ``rho`` (k x k, or (k+1) x (k+1) affine acting on ``[u, 1]``) acts on the outputs
    ``u = f / ctx.ysd`` (equivariance); None means invariance. Returns None when too few images stay inside the data's support.

    Example:
        >>> lin = torch.nn.Linear(2, 1)
        >>> with torch.no_grad(): _ = lin.weight.copy_(torch.tensor([[1.0, 0.0]]))
        >>> X = np.random.default_rng(0).uniform(-1, 1, (400, 2)); Y = X[:, :1]
        >>> ctx = SymmetryContext.build(lin, X, Y + 0.01)
        >>> transform_test(ctx, np.arange(400), X * [1, -1]).symmetric
        True
    """
    if rho is not None and not np.all(np.isfinite(rho)):
        return TestResult(False, 0.0, float("inf"), float("inf"), 0.0, 0)
    Zi = (X_img - ctx.mu) / ctx.sd
    Zi = np.where(np.isfinite(Zi), Zi, 1e300)  # a diverging flow lands outside the data
    dist, nn = ctx.tree.query(Zi, distance_upper_bound=ctx.radius * (1 + 1e-9) + 1e-12)
    inside = (dist <= ctx.radius) & np.all((Zi >= ctx.lo) & (Zi <= ctx.hi), axis=1)
    if inside.sum() < min_points:
        return None
    nn = np.where(inside, nn, 0)
    idx_in = idx[inside]
    F_img = predict(ctx.model, X_img[inside]) / ctx.ysd
    F_src = ctx.F[idx_in] / ctx.ysd
    R_src = ctx.R[idx_in]
    if rho is not None:
        k = F_src.shape[1]
        lin = rho[:k, :k]
        shift = rho[:k, k] if rho.shape[0] == k + 1 else 0.0
        F_src = F_src @ lin.T + shift
        R_src = R_src @ lin.T
    delta2 = np.sum((F_img - F_src) ** 2, axis=1)
    a2 = np.sum(ctx.R[nn[inside]] ** 2, axis=1)
    b2 = np.sum(R_src**2, axis=1)
    md, ma, mb = (max(float(v.mean()), 1e-300) for v in (delta2, a2, b2))
    stat = np.sqrt(md) - np.sqrt(ma) - np.sqrt(mb)
    # delta method: influence of each point on the statistic
    infl = (delta2 - md) / (2 * np.sqrt(md)) - (a2 - ma) / (2 * np.sqrt(ma)) - (b2 - mb) / (2 * np.sqrt(mb))
    se = float(infl.std(ddof=1) / np.sqrt(len(infl)))
    if se <= 0:
        p = 1.0 if stat <= 0 else 0.0
    else:
        p = float(stats.norm.sf(stat / se))
    ratio = float(np.sqrt(md) / (np.sqrt(ma) + np.sqrt(mb)))
    return TestResult(
        symmetric=bool(p >= ctx.alpha),
        p_value=p,
        ratio=ratio,
        violation=float(np.sqrt(delta2.mean())),
        inside=float(inside.mean()),
        n=int(inside.sum()),
    )
