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
level, not a tuned threshold). Noise in ``y`` inflates the residuals; where
inputs repeat (spin snapshots, repeated measurements) the noise is averaged over
the replicates and its variance subtracted (pure error, :func:`replicate_residuals`),
so the budget is the model's own error; otherwise noisy data resolve only
breakings larger than the noise.

The error test alone has no power where the output barely depends on the moved
inputs; :func:`contrast_test` compares the candidate with a control move of the
same inputs by comparable random amounts, and :func:`resolved` asks that the
control change the prediction beyond the error and by more than the candidate
plus the error budget.

Images that leave the data's support would be judged on the network's
extrapolation; an image counts as inside when every coordinate stays within the
range of its column and its distance to its k-th nearest data point
(standardised coordinates, k = ``SUPPORT_K`` = 1) is within the 95th percentile
of the data's own k-th-neighbour distances (scipy's cKDTree), a k-NN density
level set. (k = 10 makes particle swaps of trajectory data testable, where
states come in tight clusters along each trajectory; measured, it did not change
the n-body verdicts, so the nearest neighbour stays the default.) In many dimensions the neighbour test alone is weak
(every point is "near" some data point), so the column ranges matter there.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from scipy import stats
from scipy.spatial import cKDTree

from physlens.models.predict import predict_numpy


SUPPORT_K = 1  # neighbours of the k-NN support test


def predict(model: torch.nn.Module, X: np.ndarray) -> np.ndarray:
    """Model outputs for a NumPy array, in original units, without gradients.

    Example:
        >>> predict(torch.nn.Linear(2, 1), np.zeros((3, 2))).shape
        (3, 1)
    """
    return predict_numpy(model, X).reshape(len(X), -1)


@dataclass
class SymmetryContext:
    """Data, predictions and residuals shared by every test of one probe run.

    ``X`` original inputs; ``mu, sd`` their mean and std (standardisation
    ``z = (x - mu) / sd``); ``F`` predictions; ``ysd`` output scales; ``R``
    residuals ``(f(x) - y) / ysd``; ``tree`` a KD-tree over the standardised
    inputs and ``radius`` the 95th percentile of the ``SUPPORT_K``-th-nearest-neighbour distances.

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
    Rbar: np.ndarray | None = None  # residual against the mean target of the point's replicates
    S2m: np.ndarray | None = None  # sampling variance of that mean (pure error / replicates; 0 if single)

    @classmethod
    def build(cls, model, X: np.ndarray, Y: np.ndarray, alpha: float = 0.01,
              groups: np.ndarray | None = None) -> SymmetryContext:
        """Compute predictions, residuals and the neighbour structure of ``X``.

        ``groups`` (one label per row, e.g. the trajectory each state was sampled from) makes the
        support radius a distance between groups: states along one trajectory sit much closer to
        each other than to any other trajectory, so their own nearest-neighbour distances would
        call almost every new state (the image of a symmetry included) "outside" the data.
        """
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
        radius = support_radius(tree, Z, groups)
        Rbar, S2m = replicate_residuals(X, Y, F)
        return cls(model, X, Y, mu, sd, F, ysd, (F - Y) / ysd, Z, tree, radius, Z.min(axis=0), Z.max(axis=0), alpha,
                   Rbar=Rbar / ysd, S2m=S2m / ysd**2)

    def error2(self, rows: np.ndarray, lin: np.ndarray | None = None) -> np.ndarray:
        """Per-point estimate of the squared model error ``|lin e(x)|^2`` (scaled outputs) at ``rows``.

        Without replicated inputs this is the squared residual (an upper estimate: it holds the
        noise of ``y`` too). Where inputs repeat, the noise is averaged out and its variance
        removed: ``|lin (f - ybar)|^2 - sum_j (lin^2)_{.j} s_j^2 / m`` (the pure-error /
        lack-of-fit split of regression analysis), unbiased for ``|lin e|^2``.
        """
        Rb, S2 = self.Rbar[rows], self.S2m[rows]
        if lin is None:
            return np.sum(Rb**2, axis=1) - np.sum(S2, axis=1)
        return np.sum((Rb @ lin.T) ** 2, axis=1) - np.sum(S2 @ (lin**2).T, axis=1)

    @property
    def model_error(self) -> float:
        """RMS residual of the model in units of the target std (all outputs pooled)."""
        return float(np.sqrt(np.mean(self.R**2)))


@dataclass
class TestResult:
    """Outcome of :func:`transform_test` (``symmetric`` is the decision).

    Example:
        >>> TestResult(symmetric=True, p_value=0.5, ratio=0.3, violation=0.01, inside=1.0, n=100).symmetric
        True
    """

    symmetric: bool
    p_value: float
    ratio: float  # rms(Delta) / (rms(e(gx)) + rms(rho e(x))): <= 1 for a symmetry
    violation: float  # rms(Delta) in target-std units
    inside: float  # fraction of images inside the data's support
    n: int
    contrast: ContrastResult | None = None  # comparison with a control move (see contrast_test)
    undetermined: bool = False  # passed the error test, but the network cannot resolve such a move

    def as_dict(self) -> dict:
        """Plain dict for a finding's evidence."""
        out = {"p_value": self.p_value, "violation_over_error": self.ratio, "violation": self.violation,
               "fraction_inside": self.inside, "samples": self.n}
        if self.contrast is not None:
            out.update(self.contrast.as_dict())
        if self.undetermined:
            out["undetermined"] = True
        return out


def _one_sided_p(stat: float, infl: np.ndarray) -> float:
    """p-value of ``stat > 0`` from per-point influences (delta method, one-sided z-test)."""
    se = float(infl.std(ddof=1) / np.sqrt(len(infl))) if len(infl) > 1 else 0.0
    if not se > 0:
        return 1.0 if stat <= 0 else 0.0
    return float(stats.norm.sf(stat / se))


def _error_mean(e2: np.ndarray) -> float:
    """Mean squared-error estimate, never below its own standard error (noise-corrected estimates
    of a tiny model error can come out near zero or negative)."""
    sem = float(e2.std(ddof=1) / np.sqrt(len(e2))) if len(e2) > 1 else 0.0
    return max(float(e2.mean()), sem, 1e-300)


def _changes(ctx: SymmetryContext, idx: np.ndarray, X_img: np.ndarray, rho: np.ndarray | None):
    """Per-point squared change ``|f(g x) - rho f(x)|^2`` and squared residual estimates (scaled outputs).

    Returns ``(inside, delta2, a2, b2)`` over all rows (values outside the support are 0), or None
    when no image is inside.
    """
    Zi = (X_img - ctx.mu) / ctx.sd
    Zi = np.where(np.isfinite(Zi), Zi, 1e300)  # a diverging flow lands outside the data
    kk = int(min(SUPPORT_K, len(ctx.Z) - 1))
    dist, nn = ctx.tree.query(Zi, k=kk, distance_upper_bound=ctx.radius * (1 + 1e-9) + 1e-12)
    dist, nn = dist.reshape(len(Zi), -1), nn.reshape(len(Zi), -1)
    inside = (dist[:, -1] <= ctx.radius) & np.all((Zi >= ctx.lo) & (Zi <= ctx.hi), axis=1)
    if not inside.any():
        return None
    nn = np.where(inside, nn[:, 0], 0)
    delta2 = np.zeros(len(idx))
    a2 = np.zeros(len(idx))
    b2 = np.zeros(len(idx))
    idx_in = idx[inside]
    F_img = predict(ctx.model, X_img[inside]) / ctx.ysd
    F_src = ctx.F[idx_in] / ctx.ysd
    k = F_src.shape[1]
    if rho is not None:
        lin = rho[:k, :k]
        shift = rho[:k, k] if rho.shape[0] == k + 1 else 0.0
        F_src = F_src @ lin.T + shift
    delta2[inside] = np.sum((F_img - F_src) ** 2, axis=1)
    a2[inside] = ctx.error2(nn[inside])
    b2[inside] = ctx.error2(idx_in, None if rho is None else rho[:k, :k])
    return inside, delta2, a2, b2


def support_radius(tree: cKDTree, Z: np.ndarray, groups: np.ndarray | None = None, q: float = 0.95) -> float:
    """The ``q`` quantile of the data's own ``SUPPORT_K``-th-nearest-neighbour distances.

    With ``groups``, neighbours from the point's own group are skipped (the distance from a
    state to the nearest state of *another* trajectory): the scale at which a new, independent
    sample of the same distribution meets the data. Groups of a single row behave as without.

    Example:
        >>> Z = np.repeat(np.arange(10.0), 5)[:, None] + np.tile(np.arange(5) * 1e-3, 10)[:, None]
        >>> tree = cKDTree(Z)
        >>> round(support_radius(tree, Z), 4), round(support_radius(tree, Z, np.repeat(np.arange(10), 5)), 3)
        (0.001, 0.999)
    """
    m = len(Z)
    kk = int(min(SUPPORT_K, m - 1))
    if kk < 1:
        return 0.0
    if groups is None:
        d, _ = tree.query(Z, k=kk + 1)
        return float(np.quantile(d[:, kk], q))
    groups = np.asarray(groups).ravel()
    if len(groups) != m:
        raise ValueError(f"groups has {len(groups)} labels for {m} rows")
    _, inv, cnt = np.unique(groups, return_inverse=True, return_counts=True)
    if cnt.max() < 2 or len(cnt) < 2:
        d, _ = tree.query(Z, k=kk + 1)
        return float(np.quantile(d[:, kk], q))
    k_q = int(min(m, cnt.max() + kk))
    d, nn = tree.query(Z, k=k_q)
    d, nn = d.reshape(m, -1), nn.reshape(m, -1)
    other = inv[np.minimum(nn, m - 1)] != inv[:, None]
    other &= nn < m
    # the kk-th neighbour from another group (rows whose query found none keep the farthest found)
    rank = np.cumsum(other, axis=1)
    hit = rank >= kk
    first = np.where(hit.any(axis=1), hit.argmax(axis=1), d.shape[1] - 1)
    return float(np.quantile(d[np.arange(m), first], q))


def replicate_residuals(X: np.ndarray, Y: np.ndarray, F: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Residuals against the replicate means and the sampling variance of those means.

    Rows with identical inputs (spin snapshots, repeated measurements) form groups; for a row
    in a group of ``m`` rows, ``Rbar = f(x) - mean(y)`` and ``S2m = s^2 / m`` with ``s^2`` the
    group's unbiased variance of ``y`` (the "pure error" of a lack-of-fit test, Draper & Smith,
    *Applied Regression Analysis*, ch. 2). Single rows get ``Rbar = f - y`` and, when the
    replicates give at least 20 degrees of freedom, the pooled pure-error variance (else 0).

    Example:
        >>> X = np.array([[0.0], [0.0], [1.0]]); Y = np.array([[1.0], [3.0], [5.0]]); F = np.array([[2.0], [2.0], [4.0]])
        >>> Rbar, S2m = replicate_residuals(X, Y, F)
        >>> Rbar.ravel().tolist(), S2m.ravel().tolist()
        ([0.0, 0.0, -1.0], [1.0, 1.0, 0.0])
    """
    R = F - Y
    _, inv, cnt = np.unique(X, axis=0, return_inverse=True, return_counts=True)
    inv = inv.ravel()
    if cnt.max() < 2:
        return R, np.zeros_like(R)
    ybar = np.zeros((len(cnt), Y.shape[1]))
    np.add.at(ybar, inv, Y)
    ybar /= cnt[:, None]
    ss = np.zeros_like(ybar)
    np.add.at(ss, inv, (Y - ybar[inv]) ** 2)
    m = cnt[inv][:, None].astype(float)
    s2 = np.where(m > 1, ss[inv] / np.maximum(m - 1, 1), 0.0)
    dof = len(Y) - len(cnt)
    if dof >= 20:
        # single rows borrow the pooled pure-error variance (homoscedastic noise assumed there)
        s2 = np.where(m > 1, s2, ss.sum(axis=0) / dof)
    return F - ybar[inv], s2 / m


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
    ch = _changes(ctx, idx, X_img, rho)
    if ch is None or ch[0].sum() < min_points:
        return None
    inside, delta2, a2, b2 = ch
    delta2, a2, b2 = delta2[inside], a2[inside], b2[inside]
    md = max(float(delta2.mean()), 1e-300)
    ma, mb = _error_mean(a2), _error_mean(b2)
    stat = np.sqrt(md) - np.sqrt(ma) - np.sqrt(mb)
    # delta method: influence of each point on the statistic
    infl = (delta2 - md) / (2 * np.sqrt(md)) - (a2 - ma) / (2 * np.sqrt(ma)) - (b2 - mb) / (2 * np.sqrt(mb))
    p = _one_sided_p(stat, infl)
    ratio = float(np.sqrt(md) / (np.sqrt(ma) + np.sqrt(mb)))
    return TestResult(
        symmetric=bool(p >= ctx.alpha),
        p_value=p,
        ratio=ratio,
        violation=float(np.sqrt(delta2.mean())),
        inside=float(inside.mean()),
        n=int(inside.sum()),
    )


@dataclass
class ContrastResult:
    """Outcome of :func:`contrast_test`: is the change under ``g`` smaller than under a control move?

    Example:
        >>> ContrastResult(p_value=0.001, ratio=0.1, control=None, n=50).as_dict()["contrast_samples"]
        50
    """

    p_value: float  # one-sided p of rms(change under control) - rms(change under g) > error budget
    ratio: float  # rms(change under g) / rms(change under control), on the common points
    control: TestResult | None  # the error-calibrated test of the control move itself (its power)
    n: int
    margin: float = float("nan")  # (rms change under control - under g) / the error budget; > 1 resolves

    def as_dict(self) -> dict:
        """Plain dict for a finding's evidence."""
        out = {"contrast_p_value": self.p_value, "change_over_control_change": self.ratio, "contrast_samples": self.n,
               "contrast_margin_over_error": self.margin}
        if self.control is not None:
            out["control_p_value"] = self.control.p_value
            out["control_violation_over_error"] = self.control.ratio
        return out


def contrast_test(
    ctx: SymmetryContext,
    idx: np.ndarray,
    X_img: np.ndarray,
    X_ctrl: np.ndarray,
    rho: np.ndarray | None = None,
    min_points: int = 20,
) -> ContrastResult | None:
    """Compare the change under ``x -> X_img`` with the change under a control move ``x -> X_ctrl``.

    The control moves the same columns by comparable random amounts; a symmetry must change
    the prediction significantly *less* than it (paired one-sided z-test on
    ``rms(Delta_ctrl) - rms(Delta_g)``, delta method). When the network cannot tell the
    control from the candidate the test has no power: an output that barely depends on the
    moved columns passes the error test of :func:`transform_test` for any move. Returns None
    when fewer than ``min_points`` points have both images inside the data's support.

    Example:
        >>> lin = torch.nn.Linear(2, 1)
        >>> with torch.no_grad(): _ = lin.weight.copy_(torch.tensor([[1.0, 0.0]])); _ = lin.bias.zero_()
        >>> rng = np.random.default_rng(0)
        >>> X = rng.uniform(-1, 1, (400, 2)); Y = X[:, :1] + rng.normal(0, 0.01, (400, 1))
        >>> ctx = SymmetryContext.build(lin, X, Y)
        >>> ctrl = X + rng.normal(0, 0.3, X.shape)
        >>> contrast_test(ctx, np.arange(400), X * [1, -1], ctrl).p_value < 0.01
        True
    """
    g = _changes(ctx, idx, X_img, rho)
    c = _changes(ctx, idx, X_ctrl, rho)
    if g is None or c is None:
        return None
    both = g[0] & c[0]
    control = transform_test(ctx, idx[c[0]], X_ctrl[c[0]], rho, min_points=min_points)
    if both.sum() < min_points:
        return ContrastResult(1.0, float("nan"), control, int(both.sum()))
    dg, dc = g[1][both], c[1][both]
    a2, b2 = g[2][both], g[3][both]
    mg, mc = max(float(dg.mean()), 1e-300), max(float(dc.mean()), 1e-300)
    ma, mb = _error_mean(a2), _error_mean(b2)
    # the control must change the prediction more than the candidate by more than the error budget
    stat = np.sqrt(mc) - np.sqrt(mg) - np.sqrt(ma) - np.sqrt(mb)
    infl = ((dc - mc) / (2 * np.sqrt(mc)) - (dg - mg) / (2 * np.sqrt(mg))
            - (a2 - ma) / (2 * np.sqrt(ma)) - (b2 - mb) / (2 * np.sqrt(mb)))
    return ContrastResult(_one_sided_p(stat, infl), float(np.sqrt(mg / mc)), control, int(both.sum()),
                          float((np.sqrt(mc) - np.sqrt(mg)) / (np.sqrt(ma) + np.sqrt(mb))))


def resolved(contrast, alpha: float) -> bool:
    """Whether a contrast shows the network resolves the move: the control move itself breaks the
    prediction beyond the model's error (power), and the candidate changes it significantly less.

    Example:
        >>> resolved(None, 0.01)
        False
    """
    return bool(contrast is not None and contrast.control is not None and contrast.control.p_value < alpha
                and contrast.p_value < alpha)
