"""Calibrated prediction intervals and out-of-distribution warnings for a trained emulator.

Three parts, each a published method, composed so that a finished run can make
intervals later (``physlens predict``) with nothing but its saved model, its
``dataset.npz`` and the one ``uncertainty`` finding this probe writes:

* **Spread: last-layer Laplace.** The emulator's output is an affine map of its
  penultimate activations ``phi(x)``; a Laplace approximation over that last
  layer alone (MacKay 1992, "The evidence framework applied to classification
  networks"; Kristiadi, Hein & Hennig 2020; Daxberger et al. 2021, "Laplace
  Redux", whose recommended default is exactly this last-layer variant) is,
  for a squared-error loss, Bayesian linear regression on ``phi``: posterior
  covariance ``Sigma = (beta PhiᵀPhi + alpha I)^-1`` with the noise precision
  ``beta`` from the training residuals and the prior precision ``alpha`` by
  MacKay's evidence maximisation (closed-form fixed point on the eigenvalues of
  ``PhiᵀPhi``). The predictive scale is ``s(x)² = 1/beta + phi(x)ᵀ Sigma phi(x)``:
  noise everywhere, plus the epistemic part that grows away from the data. When
  the model is an :class:`~physlens.models.ensemble.Ensemble` the members'
  variance is added (deep-ensemble disagreement, Lakshminarayanan et al. 2017).
* **Calibration: split conformal on normalised residuals** (Papadopoulos,
  Gammerman & Vovk 2008; Lei et al. 2018). On the held-out rows, which the
  emulator never trained on, the scores ``|y - f(x)| / s(x)`` are sorted; the
  interval at level ``1 - a`` is ``f(x) ± q s(x)`` with ``q`` the
  ``ceil((n+1)(1-a))``-th smallest score. For exchangeable rows the coverage is
  then at least ``1 - a`` and at most ``1 - a + 1/(n+1)``, noise included,
  whatever the quality of ``s``; ``s`` only makes the intervals narrow where the
  model is sure and wide where it is not. The coverage the finding reports is
  measured by cross-conformal over the held-out rows (K folds, whole
  trajectories per fold when the rows are trajectories): calibrate on K-1 folds,
  count hits on the last.
* **Out of distribution: distance in the network's own representation plus
  disagreement.** The k-th nearest-neighbour distance of ``phi(x)``
  (standardised) to the training rows' ``phi`` (Sun et al. 2022, "Out-of-
  distribution detection with deep nearest neighbors"; k = 1 here: on inputs
  10-50 % of a range outside the training box, the AUROC of the distance alone
  fell from 0.96-0.98 at k = 1 to 0.93-0.95 at k = 5 and 0.88-0.91 at k = 20 on
  toy_distractor and rabi, 1500 rows) and the epistemic
  ``sqrt(phi Sigma phi · beta)`` (the disagreement of last-layer posterior
  draws, in units of the noise), each divided by its median over the held-out
  rows, are averaged. The flag's threshold is the conformal 99 % quantile of
  that score on the held-out rows (so at most about 1 % of in-distribution rows
  are flagged), never a number set by hand.

Why not MAPIE and laplace-torch: the calibration must be stored as JSON in a
finding and reused by another process with the saved safetensors model, while
MAPIE keeps its state in a fitted (pickled) scikit-learn object and its
normalised score fits a separate residual regressor instead of using the
network's own spread; the conformal step itself is one order statistic.
laplace-torch's last-layer Laplace for regression is the closed-form Bayesian
linear regression above, with a gradient-based prior-precision search where
MacKay's fixed point is exact here; neither is installed, and neither would
remove more than a few lines.

Findings computed where the model extrapolates: while any probe runs, the study
runner can watch the rows it queries the model with (:func:`watch_queries`: a
forward pre-hook keeping a uniform reservoir sample of the queried rows, inside
``torch.func`` transforms too) and :func:`mark_extrapolation` scores them with the
OOD flag above, writing ``evidence["extrapolation"] = {"share", "n", ...}`` into
each of that probe's findings and, at a share of 10 % or more (ten times the
in-distribution flag rate), "(partly extrapolated: x % of the model's queries lie
outside the training data)" into its statement. The probe needs no change. For a
probe's own points, :func:`extrapolating` gives the flag directly and
:func:`mark_extrapolating` records it.

When no last affine layer can be found (a model whose output is not an affine
map of one hidden layer's activations, checked numerically), the
representation falls back to the standardised inputs and the spread to the
noise alone: intervals are still conformal (constant width), and the OOD score
is the distance in input space; ``value["representation"]`` says which.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from physlens.data.dataset import Dataset
from physlens.errors import ConfigError, DataError
from physlens.findings import Finding
from physlens.models.predict import predict_numpy
from physlens.probes import too_few_rows

REQUIRES: dict = {}
COST = 0.3
#: nominal levels of the reliability diagram (observed coverage at each, by cross-conformal)
RELIABILITY_LEVELS = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)
#: quantile of the held-out rows' OOD scores above which a row is flagged
OOD_QUANTILE = 0.99
#: widest representation the Laplace step decomposes (its cost grows as the cube of the width)
MAX_FEATURES = 2048
#: fewest held-out rows to calibrate on (a 90 % interval needs 9)
MIN_HELDOUT = 10


def applies(dataset: Dataset) -> str | None:
    """None when there are enough rows to hold some out for calibration (at least 50).

    Example:
        >>> from physlens.systems import get_system
        >>> applies(get_system("toy_distractor").sample(30))
        'only 30 rows: too few to calibrate intervals on held-out rows (needs 50)'
    """
    return too_few_rows(dataset, 50, "calibrate intervals on held-out rows")


# --------------------------------------------------------------------------- conformal arithmetic
def conformal_quantile(scores: np.ndarray, level: float) -> float:
    """The ``ceil((n+1) level)``-th smallest of ``scores`` (inf when n is too small for ``level``).

    This is the split-conformal quantile: an interval ``f ± q s`` then covers a new exchangeable
    row with probability at least ``level``.

    Example:
        >>> conformal_quantile(np.arange(1.0, 10.0), 0.8)
        8.0
        >>> conformal_quantile(np.arange(1.0, 4.0), 0.9)
        inf
    """
    s = np.sort(np.asarray(scores, dtype=float))
    n = len(s)
    if not 0.0 < level < 1.0:
        raise ConfigError(f"level must be strictly between 0 and 1, got {level}")
    k = int(math.ceil((n + 1) * level))
    return float(s[k - 1]) if 1 <= k <= n else float("inf")


def _folds(index: np.ndarray, groups: np.ndarray | None, k: int, seed: int) -> list[np.ndarray]:
    """Positions 0..len(index)-1 split into k folds (whole groups per fold when groups are given)."""
    rng = np.random.default_rng(seed)
    n = len(index)
    if groups is not None:
        labels = np.unique(groups)
        if len(labels) >= k:
            order = rng.permutation(labels)
            return [np.flatnonzero(np.isin(groups, part)) for part in np.array_split(order, k)]
    return [np.sort(part) for part in np.array_split(rng.permutation(n), k)]


def cross_conformal_coverage(scores: np.ndarray, levels, folds: list[np.ndarray]) -> np.ndarray:
    """Observed coverage at each level: calibrate on all folds but one, count scores within ``q`` on it.

    ``scores`` has shape (n,) or (n, d_out); the result is (len(levels),) or (len(levels), d_out).

    Example:
        >>> s = np.abs(np.random.default_rng(0).normal(size=2000))
        >>> folds = np.array_split(np.arange(2000), 5)
        >>> np.round(cross_conformal_coverage(s, [0.5, 0.9], folds), 2).tolist()
        [0.5, 0.9]
    """
    S = np.asarray(scores, dtype=float)
    flat = S.ndim == 1
    S = S[:, None] if flat else S
    out = np.zeros((len(levels), S.shape[1]))
    n = len(S)
    for li, level in enumerate(levels):
        hits = np.zeros(S.shape[1])
        for f in folds:
            rest = np.setdiff1d(np.arange(n), f)
            for k in range(S.shape[1]):
                q = conformal_quantile(S[rest, k], level)
                hits[k] += np.sum(S[f, k] <= q)
        out[li] = hits / n
    return out[:, 0] if flat else out


# --------------------------------------------------------------------------- the network's representation
def candidate_layers(model: torch.nn.Module, d_out: int) -> list[str]:
    """Names of the layers whose inputs may be the representation the output is an affine map of.

    First the last ``nn.Linear`` with ``d_out`` outputs (an MLP's head); then, when several
    layers have ``d_out`` outputs (an ensemble's member heads), all of them together, comma-joined
    (the mean of the members is affine in their concatenated features). :class:`Calibration`
    checks numerically which one, if any, really is.

    Example:
        >>> from physlens.models.mlp import MLP
        >>> candidate_layers(MLP(3, 1, width=8), 1)
        ['head']
    """
    names = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear) and m.out_features == d_out]
    out = names[-1:]
    if len(names) > 1:
        out.append(",".join(names))
    return out


def penultimate_features(model: torch.nn.Module, X: np.ndarray, layer: str, batch_size: int = 8192) -> np.ndarray:
    """The inputs of module ``layer`` (or of several, comma-separated, side by side) for the rows of ``X``.

    Example:
        >>> from physlens.models.mlp import MLP
        >>> penultimate_features(MLP(3, 1, width=8), np.zeros((5, 3)), "head").shape
        (5, 8)
    """
    modules = dict(model.named_modules())
    names = layer.split(",")
    got: dict[str, list[torch.Tensor]] = {n: [] for n in names}
    hooks = [modules[n].register_forward_hook(lambda m, inp, out, _n=n: got[_n].append(inp[0].detach()))
             for n in names]
    p = next(model.parameters())
    out = []
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            for i in range(0, len(X), batch_size):
                rows = len(X[i : i + batch_size])
                for n in names:
                    got[n].clear()
                model(torch.as_tensor(X[i : i + batch_size], dtype=p.dtype, device=p.device))
                parts = []
                for n in names:
                    if len(got[n]) != 1 or got[n][0].shape[0] != rows:
                        raise ValueError(f"layer {n!r} is not applied once per row")
                    parts.append(got[n][0].reshape(rows, -1).cpu().numpy().astype(np.float64))
                out.append(np.hstack(parts))
    finally:
        for h in hooks:
            h.remove()
        model.train(was)
    return np.concatenate(out)


def _member_variance(model: torch.nn.Module, X: np.ndarray) -> np.ndarray | None:
    members = getattr(model, "members", None)
    if members is None or len(members) < 2:
        return None
    preds = np.stack([predict_numpy(m, X) for m in members])
    return preds.var(axis=0, ddof=1)


# --------------------------------------------------------------------------- the calibration
@dataclass
class Calibration:
    """Everything needed to turn the emulator's predictions into calibrated intervals and OOD flags.

    Build it with :meth:`fit` (training rows as the reference, held-out rows for calibration), or
    from a stored finding with :meth:`from_value`. Learned state ends in an underscore.

    Example:
        >>> from physlens.models.mlp import MLP
        >>> X = np.random.default_rng(0).uniform(-1, 1, (300, 2))
        >>> ds = Dataset(X, X[:, 0] * X[:, 1], ["a", "b"], ["y"])
        >>> cal = Calibration.fit(MLP(2, 1, width=8), ds, heldout=np.arange(240, 300))
        >>> out = cal.predict(ds.X[:3], level=0.9)
        >>> bool(np.all(out["lower"] <= out["upper"])), out["ood"].shape
        (True, (3,))
    """

    layer: str | None
    reference_rows: np.ndarray
    scores_: np.ndarray  # (n_cal, d_out) held-out nonconformity scores
    noise_var_: np.ndarray  # (d_out,) in output units
    prior_precision_: np.ndarray  # (d_out,)
    ood_medians_: tuple[float, float]  # held-out medians of (knn distance, disagreement)
    ood_threshold_: float
    k_neighbours: int = 1
    ood_quantile: float = OOD_QUANTILE
    heldout_ood_: np.ndarray | None = None
    _model: Any = field(default=None, repr=False)
    _feat_mean: np.ndarray | None = field(default=None, repr=False)
    _feat_scale: np.ndarray | None = field(default=None, repr=False)
    _eig: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)
    _knn: Any = field(default=None, repr=False)
    _weights: np.ndarray | None = field(default=None, repr=False)

    # ---------------------------------------------------------------- building
    @classmethod
    def fit(cls, model: torch.nn.Module, dataset: Dataset, heldout, train_rows=None, seed: int = 0,
            max_reference: int = 3000, k_neighbours: int = 1, ood_quantile: float = OOD_QUANTILE) -> Calibration:
        """Calibrate on ``heldout`` rows, with ``train_rows`` (default: all others) as the reference data.

        Example:
            >>> from physlens.models.mlp import MLP
            >>> ds = Dataset(np.random.default_rng(0).normal(size=(200, 2)), np.zeros(200), ["a", "b"], ["y"])
            >>> Calibration.fit(MLP(2, 1, width=8), ds, np.arange(150, 200)).scores_.shape
            (50, 1)
        """
        heldout = np.asarray(heldout, dtype=np.int64)
        if len(heldout) < MIN_HELDOUT:
            raise ConfigError(f"calibration needs at least {MIN_HELDOUT} held-out rows, got {len(heldout)}")
        if train_rows is None:
            train_rows = np.setdiff1d(np.arange(dataset.n), heldout)
        train_rows = np.asarray(train_rows, dtype=np.int64)
        if len(train_rows) > max_reference:
            train_rows = np.sort(np.random.default_rng(seed).choice(train_rows, max_reference, replace=False))
        model.eval()
        candidates = candidate_layers(model, dataset.d_out)
        cal = cls(layer=candidates[0] if candidates else None, reference_rows=train_rows, scores_=np.zeros((0, dataset.d_out)),
                  noise_var_=np.ones(dataset.d_out), prior_precision_=np.ones(dataset.d_out), ood_medians_=(1.0, 1.0),
                  ood_threshold_=float("inf"), k_neighbours=k_neighbours, ood_quantile=ood_quantile, _model=model)
        Xr, Yr = dataset.X[train_rows], dataset.y[train_rows]
        cal.noise_var_ = np.maximum(np.mean((predict_numpy(model, Xr) - Yr) ** 2, axis=0), 1e-12 * np.var(Yr, axis=0) + 1e-300)
        cal._prepare(Xr, evidence=True, candidates=candidates)
        Xh, Yh = dataset.X[heldout], dataset.y[heldout]
        cal.scores_ = np.abs(Yh - predict_numpy(model, Xh)) / cal.scale(Xh)
        knn, spread = cal._ood_parts(Xh)
        cal.ood_medians_ = (float(max(np.median(knn), 1e-12)), float(max(np.median(spread), 1e-12)))
        cal.heldout_ood_ = cal.ood_score(Xh)
        cal.ood_threshold_ = conformal_quantile(cal.heldout_ood_, ood_quantile)
        if not np.isfinite(cal.ood_threshold_):
            cal.ood_threshold_ = float(np.max(cal.heldout_ood_))
        return cal

    def _prepare(self, Xr: np.ndarray, evidence: bool, candidates: list[str] | None = None) -> None:
        """Reference features, Laplace eigen-decomposition (and prior precision when ``evidence``), kNN index.

        With ``evidence`` the first of ``candidates`` whose inputs the output is an affine map of becomes
        the representation (none: the inputs); otherwise the stored ``layer`` is used as it is.
        """
        from sklearn.neighbors import NearestNeighbors

        Phi = None
        for layer in (candidates if evidence else [self.layer]) or []:
            if layer is None:
                continue
            try:
                Phi = penultimate_features(self._model, Xr, layer)
                if Phi.shape[1] > MAX_FEATURES or (evidence and not self._is_affine(Phi, Xr)):
                    Phi = None
            except (ValueError, RuntimeError):
                Phi = None
            if Phi is not None:
                self.layer = layer
                break
        if Phi is None:
            self.layer = None
        if Phi is None:  # fall back to the standardised inputs
            Phi = np.asarray(Xr, dtype=float)
        self._feat_mean = Phi.mean(axis=0)
        sd = Phi.std(axis=0)
        floor = 1e-3 * (np.median(sd[sd > 0]) if np.any(sd > 0) else 1.0)
        self._feat_scale = np.maximum(sd, floor)
        Z = (Phi - self._feat_mean) / self._feat_scale
        self._knn = NearestNeighbors(n_neighbors=min(self.k_neighbours, len(Z))).fit(Z)
        if self.layer is None:
            self._eig = None
            return
        A = np.hstack([Phi, np.ones((len(Phi), 1))])
        lam, V = np.linalg.eigh(A.T @ A)
        self._eig = (np.maximum(lam, 0.0), V)
        if evidence:
            self.prior_precision_ = self._evidence_precision(A, lam)

    def _is_affine(self, Phi: np.ndarray, Xr: np.ndarray) -> bool:
        """Whether the model's output is an affine map of ``Phi`` (so the Laplace spread applies)."""
        A = np.hstack([Phi, np.ones((len(Phi), 1))])
        F = predict_numpy(self._model, Xr)
        W, *_ = np.linalg.lstsq(A, F, rcond=None)
        resid = F - A @ W
        self._weights = W
        return bool(np.all(np.sqrt(np.mean(resid**2, axis=0)) <= 1e-4 * (F.std(axis=0) + 1e-12)))

    def _evidence_precision(self, A: np.ndarray, lam: np.ndarray) -> np.ndarray:
        """MacKay's fixed point alpha = gamma / |w|², gamma = sum beta lam / (beta lam + alpha), per target."""
        W = self._weights
        out = np.ones(len(self.noise_var_))
        if W is None:
            return out
        for k in range(len(out)):
            beta, ww = 1.0 / self.noise_var_[k], float(np.sum(W[:, k] ** 2)) + 1e-300
            alpha = 1.0
            for _ in range(100):
                gamma = float(np.sum(beta * lam / (beta * lam + alpha)))
                new = max(gamma, 1e-6) / ww
                if abs(new - alpha) <= 1e-8 * alpha:
                    alpha = new
                    break
                alpha = new
            out[k] = alpha
        return out

    # ---------------------------------------------------------------- using
    def _features(self, X: np.ndarray) -> np.ndarray:
        return penultimate_features(self._model, X, self.layer) if self.layer is not None else np.asarray(X, float)

    def _epistemic_var(self, Phi: np.ndarray) -> np.ndarray:
        """phi(x)ᵀ Sigma_k phi(x) per row and target (output units); zeros without a last layer."""
        n, d = len(Phi), len(self.noise_var_)
        if self._eig is None:
            return np.zeros((n, d))
        lam, V = self._eig
        P2 = (np.hstack([Phi, np.ones((n, 1))]) @ V) ** 2
        return np.stack([P2 @ (1.0 / (lam / self.noise_var_[k] + self.prior_precision_[k])) for k in range(d)], axis=1)

    def _parts(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        Phi = self._features(X)
        epi = self._epistemic_var(Phi)
        members = _member_variance(self._model, X)
        if members is not None:
            epi = epi + members
        return Phi, epi, predict_numpy(self._model, X)

    def scale(self, X: np.ndarray) -> np.ndarray:
        """Predictive standard deviation s(x) = sqrt(noise + epistemic), (n, d_out), output units.

        Example:
            >>> from physlens.models.mlp import MLP
            >>> ds = Dataset(np.random.default_rng(0).normal(size=(100, 2)), np.zeros(100), ["a", "b"], ["y"])
            >>> bool((Calibration.fit(MLP(2, 1, width=4), ds, np.arange(80, 100)).scale(ds.X[:5]) > 0).all())
            True
        """
        _, epi, _ = self._parts(X)
        return np.sqrt(self.noise_var_[None, :] + epi)

    def _ood_parts(self, X: np.ndarray, parts=None) -> tuple[np.ndarray, np.ndarray]:
        Phi, epi, _ = parts if parts is not None else self._parts(X)
        Z = (Phi - self._feat_mean) / self._feat_scale
        dist = self._knn.kneighbors(Z)[0][:, -1]
        spread = np.sqrt(np.mean(epi / self.noise_var_[None, :], axis=1))
        return dist, spread

    def ood_score(self, X: np.ndarray, parts=None) -> np.ndarray:
        """OOD score per row: mean of (kNN distance in the representation, disagreement), each over its held-out median.

        Example:
            >>> from physlens.models.mlp import MLP
            >>> ds = Dataset(np.random.default_rng(0).normal(size=(300, 2)), np.zeros(300), ["a", "b"], ["y"])
            >>> cal = Calibration.fit(MLP(2, 1, width=8), ds, np.arange(200, 300))
            >>> bool(cal.ood_score(np.array([[30.0, -30.0]]))[0] > cal.ood_threshold_)
            True
        """
        dist, spread = self._ood_parts(X, parts)
        r_dist = dist / self.ood_medians_[0]
        if self._eig is None and getattr(self._model, "members", None) is None:
            return r_dist
        return 0.5 * (r_dist + spread / self.ood_medians_[1])

    def flags(self, X: np.ndarray) -> np.ndarray:
        """True for rows where the model extrapolates (OOD score above the held-out threshold).

        Example:
            >>> from physlens.models.mlp import MLP
            >>> ds = Dataset(np.random.default_rng(0).normal(size=(300, 2)), np.zeros(300), ["a", "b"], ["y"])
            >>> Calibration.fit(MLP(2, 1, width=8), ds, np.arange(200, 300)).flags(np.array([[0.0, 0.0], [40.0, 40.0]])).tolist()
            [False, True]
        """
        return self.ood_score(X) > self.ood_threshold_

    def predict(self, X: np.ndarray, level: float = 0.9) -> dict[str, np.ndarray]:
        """Prediction, interval at ``level``, OOD score and flag for the rows of ``X``.

        Returns a dict of arrays: ``y``, ``lower``, ``upper`` (n, d_out), ``ood_score``, ``ood`` (n,).
        Coverage guarantee (exchangeable rows): at least ``level``, at most ``level + 1/(n_cal + 1)``.

        Example:
            >>> from physlens.models.mlp import MLP
            >>> ds = Dataset(np.random.default_rng(0).normal(size=(200, 2)), np.zeros(200), ["a", "b"], ["y"])
            >>> out = Calibration.fit(MLP(2, 1, width=4), ds, np.arange(100, 200)).predict(ds.X[:2], 0.8)
            >>> sorted(out), out["y"].shape
            (['lower', 'ood', 'ood_score', 'upper', 'y'], (2, 1))
        """
        X = np.asarray(X, dtype=float)
        parts = self._parts(X)
        _, epi, y = parts
        s = np.sqrt(self.noise_var_[None, :] + epi)
        q = np.array([conformal_quantile(self.scores_[:, k], level) for k in range(self.scores_.shape[1])])
        score = self.ood_score(X, parts)
        return {"y": y, "lower": y - q * s, "upper": y + q * s, "ood_score": score, "ood": score > self.ood_threshold_}

    # ---------------------------------------------------------------- storage
    def to_value(self) -> dict:
        """The JSON-able calibration stored in the finding (rebuilt by :meth:`from_value`).

        Example:
            >>> from physlens.models.mlp import MLP
            >>> ds = Dataset(np.random.default_rng(0).normal(size=(100, 2)), np.zeros(100), ["a", "b"], ["y"])
            >>> sorted(Calibration.fit(MLP(2, 1, width=4), ds, np.arange(80, 100)).to_value())[:3]
            ['k_neighbours', 'layer', 'noise_var']
        """
        return {
            "layer": self.layer,
            "reference_rows": [int(i) for i in self.reference_rows],
            "scores": np.sort(self.scores_, axis=0).T.tolist(),
            "noise_var": [float(v) for v in self.noise_var_],
            "prior_precision": [float(v) for v in self.prior_precision_],
            "ood_medians": [float(v) for v in self.ood_medians_],
            "ood_threshold": float(self.ood_threshold_),
            "ood_quantile": float(self.ood_quantile),
            "k_neighbours": int(self.k_neighbours),
        }

    @classmethod
    def from_value(cls, value: dict, model: torch.nn.Module, dataset: Dataset) -> Calibration:
        """Rebuild a calibration from a stored finding value, the run's model and the run's dataset.

        Example:
            >>> from physlens.models.mlp import MLP
            >>> m = MLP(2, 1, width=4)
            >>> ds = Dataset(np.random.default_rng(0).normal(size=(100, 2)), np.zeros(100), ["a", "b"], ["y"])
            >>> cal = Calibration.fit(m, ds, np.arange(80, 100))
            >>> again = Calibration.from_value(cal.to_value(), m, ds)
            >>> bool(np.allclose(again.predict(ds.X[:4])["upper"], cal.predict(ds.X[:4])["upper"]))
            True
        """
        try:
            rows = np.asarray(value["reference_rows"], dtype=np.int64)
            cal = cls(layer=value["layer"], reference_rows=rows,
                      scores_=np.asarray(value["scores"], dtype=float).T.reshape(-1, dataset.d_out),
                      noise_var_=np.asarray(value["noise_var"], dtype=float),
                      prior_precision_=np.asarray(value["prior_precision"], dtype=float),
                      ood_medians_=tuple(float(v) for v in value["ood_medians"]),
                      ood_threshold_=float(value["ood_threshold"]), k_neighbours=int(value["k_neighbours"]),
                      ood_quantile=float(value["ood_quantile"]), _model=model)
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"the stored calibration is incomplete or malformed ({type(exc).__name__}: {exc})") from None
        if len(rows) and (rows.max() >= dataset.n or rows.min() < 0):
            raise DataError("the stored calibration names rows the run's dataset does not have")
        model.eval()
        cal._prepare(dataset.X[rows], evidence=False)
        return cal


# --------------------------------------------------------------------------- for other probes
def extrapolating(model: torch.nn.Module, dataset: Dataset, X: np.ndarray, heldout=None, training=None,
                  seed: int = 0) -> np.ndarray:
    """Boolean mask over the rows of ``X``: True where ``model`` extrapolates (flagged out of distribution).

    A probe that evaluates the model at points of its own (shuffled rows, transformed states) calls
    this with the ``heldout`` rows and ``training`` result the runner gives it, then records the share
    with :func:`mark_extrapolating`. For many calls, build one :class:`Calibration` and use ``flags``.

    Example:
        >>> from physlens.models.mlp import MLP
        >>> ds = Dataset(np.random.default_rng(0).normal(size=(300, 2)), np.zeros(300), ["a", "b"], ["y"])
        >>> extrapolating(MLP(2, 1, width=8), ds, np.array([[0.1, 0.2], [50.0, 0.0]]), np.arange(240, 300)).tolist()
        [False, True]
    """
    train_rows = getattr(training, "train_index", None) if training is not None else None
    if heldout is None:
        heldout = getattr(training, "val_index", None) if training is not None else None
    if heldout is None:
        raise ConfigError("telling extrapolation apart needs held-out rows (heldout=...) or a training result")
    return Calibration.fit(model, dataset, heldout, train_rows, seed=seed).flags(np.asarray(X, dtype=float))


def mark_extrapolating(finding: Finding, mask: np.ndarray, at: float = 0.5) -> Finding:
    """Record in ``finding`` the share of its points where the model extrapolates; say so when it is ≥ ``at``.

    Example:
        >>> f = mark_extrapolating(Finding("symmetry", "rotation"), np.array([True, True, False]))
        >>> f.evidence["extrapolating"], f.statement
        (0.6666666666666666, 'rotation (model extrapolating on 67% of the points read)')
    """
    share = float(np.mean(np.asarray(mask, dtype=bool))) if np.size(mask) else 0.0
    finding.evidence = {**(finding.evidence or {}), "extrapolating": share}
    if share >= at:
        finding.statement = f"{finding.statement} (model extrapolating on {share:.0%} of the points read)"
    return finding


# --------------------------------------------------------------------------- the probe
def run(model: torch.nn.Module, dataset: Dataset, level: float = 0.9, folds: int = 5, seed: int = 0,
        heldout: np.ndarray | None = None, training=None, max_heldout: int = 5000) -> list[Finding]:
    """One ``uncertainty`` finding: held-out coverage of ``level`` intervals, their width, and the calibration.

    ``heldout`` (the runner's validation rows) are the calibration rows; ``training`` gives the
    training rows used as the reference data. The finding's ``value["calibration"]`` is what
    ``physlens predict`` needs to make intervals later.

    Example:
        >>> from physlens.systems import get_system
        >>> from physlens.models import build_model
        >>> from physlens.train import fit as train, TrainConfig
        >>> ds = get_system("toy_distractor").sample(500, noise=0.05)
        >>> res = train(build_model("mlp", ds, width=16), ds, TrainConfig(epochs=30, progress=False))
        >>> (f,) = run(res.model, ds, heldout=res.val_index, training=res)
        >>> f.kind, 0.75 < f.value["coverage"] <= 1.0
        ('uncertainty', True)
    """
    if heldout is None and training is not None:
        heldout = training.val_index
    if heldout is None:
        raise ConfigError("the uncertainty probe needs held-out rows the model was not trained on (heldout=...)")
    heldout = np.asarray(heldout, dtype=np.int64)
    if len(heldout) > max_heldout:
        heldout = np.sort(np.random.default_rng(seed).choice(heldout, max_heldout, replace=False))
    if len(heldout) < MIN_HELDOUT:
        return [Finding(kind="uncertainty", probe="uncertainty", subject="prediction intervals", confidence=0.0,
                        statement=(f"No calibrated prediction intervals: only {len(heldout)} held-out rows "
                                   f"(at least {MIN_HELDOUT} are needed; give more data or a larger validation fraction)"),
                        value={"name": "prediction intervals", "calibrated": False, "heldout_rows": int(len(heldout))})]
    train_rows = getattr(training, "train_index", None) if training is not None else None
    cal = Calibration.fit(model, dataset, heldout, train_rows, seed=seed)
    groups = dataset.groups()
    k = int(min(folds, max(2, len(heldout) // 10)))
    parts = _folds(heldout, groups[heldout] if groups is not None else None, k, seed)
    levels = list(RELIABILITY_LEVELS)
    observed = cross_conformal_coverage(cal.scores_, levels, parts)  # (levels, d_out)
    li = int(np.argmin(np.abs(np.array(levels) - level)))
    if abs(levels[li] - level) > 1e-9:
        levels.append(level)
        observed = np.vstack([observed, cross_conformal_coverage(cal.scores_, [level], parts)])
        li = len(levels) - 1
    from scipy.stats import norm

    # the Laplace spread alone as Gaussian intervals f ± z s: what the conformal step corrects
    gaussian = np.array([float(np.mean(cal.scores_ <= norm.ppf(0.5 + v / 2))) for v in levels])
    cov_by = {t: float(observed[li, j]) for j, t in enumerate(dataset.target_names)}
    coverage = float(np.mean(observed[li]))
    Xh = dataset.X[heldout]
    out = cal.predict(Xh, level)
    width = np.median(out["upper"] - out["lower"], axis=0)
    sd = dataset.y.std(axis=0)
    rel_width = width / np.where(sd > 0, sd, 1.0)
    n_cal = len(heldout)
    se = math.sqrt(level * (1 - level) / n_cal)
    confidence = float(math.exp(-max(0.0, abs(coverage - level) - 2 * se) / 0.05))
    rep = f"penultimate layer {cal.layer!r}" if cal.layer is not None else "standardised inputs (no last affine layer)"
    widths = ", ".join(f"{t} ±{w / 2:.3g} ({r:.2g} sd)" for t, w, r in list(zip(dataset.target_names, width, rel_width))[:4])
    if dataset.d_out > 4:
        widths += f" and {dataset.d_out - 4} more targets"
    n_traj = len(np.unique(groups[heldout])) if groups is not None else None
    few = (f"; only {n_traj} held-out trajectories: rows within one are not independent, so the coverage is "
           "rougher than the row count suggests" if n_traj is not None and n_traj < 30 else "")
    statement = (f"{level:.0%} prediction intervals cover {coverage:.1%} of held-out rows "
                 f"(split conformal on {n_cal} rows over a last-layer Laplace spread, {k}-fold cross-check); "
                 f"median half-width {widths}; rows whose OOD score exceeds {cal.ood_threshold_:.3g} "
                 f"(the held-out {cal.ood_quantile:.0%} quantile) are flagged as extrapolation{few}")
    value = {
        "name": "prediction intervals",
        "level": float(level),
        "coverage": coverage,
        "coverage_by_target": cov_by,
        "width": {t: float(w) for t, w in zip(dataset.target_names, width)},
        "width_over_std": {t: float(r) for t, r in zip(dataset.target_names, rel_width)},
        "reliability": {"nominal": [float(v) for v in levels],
                        "observed": [float(v) for v in observed.mean(axis=1)],
                        "laplace_gaussian": [float(v) for v in gaussian],
                        "observed_by_target": {t: [float(v) for v in observed[:, j]]
                                               for j, t in enumerate(dataset.target_names)}},
        "targets": list(dataset.target_names),
        "representation": rep,
        "calibrated": True,
        "calibration": cal.to_value(),
    }
    evidence = {"heldout_rows": n_cal, "heldout_trajectories": n_traj, "folds": k, "coverage_standard_error": se,
                "heldout_flagged": float(np.mean(cal.heldout_ood_ > cal.ood_threshold_)),
                "guarantee": f"coverage between {level:.2f} and {level + 1 / (n_cal + 1):.3f} for exchangeable rows"}
    return [Finding(kind="uncertainty", statement=statement, value=value, evidence=evidence, confidence=confidence,
                    probe="uncertainty", subject="prediction intervals")]


# --------------------------------------------------------------------------- where the other probes query the model
#: share of a probe's queries flagged out of distribution above which its findings say so. In-distribution rows
#: are flagged at about 1 - OOD_QUANTILE = 1 % (the threshold is the held-out 99 % quantile), so 10 % is ten
#: times the false-flag rate, far outside its binomial spread for any sample of 100 queries or more; and at one
#: query in ten a reader should know that part of the evidence comes from where the model was never trained.
EXTRAPOLATION_SHARE = 0.10
#: most query rows kept per probe (a uniform reservoir sample over every row the model was queried with)
QUERY_CAPACITY = 2000


def _no_functorch():
    """A guard that switches ``torch.func`` transforms off while the hook reads a tensor's rows."""
    import contextlib

    guard = getattr(torch._C, "_DisableFuncTorch", None)
    return guard() if guard is not None else contextlib.nullcontext()


def _plain_rows(t: torch.Tensor, d_in: int) -> torch.Tensor | None:
    """The rows of a (possibly vmap-batched or grad-wrapped) input tensor as a plain (n, d_in) tensor, or None.

    Inside ``torch.func`` transforms the hook sees wrapped tensors; they are unwrapped level by level
    (a batched level's batch dimension moved to the front) with the transforms switched off meanwhile.
    """
    if not isinstance(t, torch.Tensor):
        return None
    try:
        from torch._C import _functorch as ft
    except ImportError:  # a torch without functorch internals: plain tensors only
        ft = None
    with _no_functorch():
        while ft is not None and ft.is_functorch_wrapped_tensor(t):
            bdim = ft.maybe_get_bdim(t) if ft.is_batchedtensor(t) else -1
            t = ft.get_unwrapped(t)
            if bdim is not None and bdim >= 0:
                t = t.movedim(bdim, 0)
        if t.ndim == 0 or t.shape[-1] != d_in or not t.is_floating_point():
            return None
        return t.detach().reshape(-1, d_in)


class QueryWatcher:
    """Records a bounded, uniform sample of the input rows a model is queried with while a probe runs.

    A forward pre-hook on the model sees every call's first argument (also inside ``torch.func``
    transforms, whose wrapped tensors are unwrapped to their rows); reservoir sampling (Vitter 1985,
    algorithm R) keeps ``capacity`` rows drawn uniformly from all rows seen, so the memory is bounded
    however often the probe calls the model. Use it through :func:`watch_queries`, then score the
    rows with :func:`mark_extrapolation`. Calls whose input is not a floating tensor with the
    dataset's ``d_in`` columns (a field grid, an integer index) are counted in ``skipped`` and not kept.

    Example:
        >>> from physlens.models.mlp import MLP
        >>> m = MLP(2, 1, width=4)
        >>> ds = Dataset(np.zeros((60, 2)), np.zeros(60), ["a", "b"], ["y"])
        >>> with watch_queries(m, ds, capacity=5) as w:
        ...     _ = m(torch.ones(8, 2)); _ = m(torch.ones(3, 2))
        >>> w.n_seen, w.rows.shape
        (11, (5, 2))
    """

    def __init__(self, model: torch.nn.Module | None, dataset: Dataset, heldout=None, training=None,
                 calibration: Calibration | None = None, capacity: int = QUERY_CAPACITY, seed: int = 0) -> None:
        self.model, self.dataset = model, dataset
        self.heldout, self.training = heldout, training
        self.calibration = calibration
        self.capacity = int(capacity)
        self.seed = int(seed)
        self.n_seen = 0
        self.skipped = 0
        self.reason: str | None = None  # why no share could be measured, once share_outside() has run
        d_in = getattr(dataset, "d_in", None)
        if not isinstance(model, torch.nn.Module) or not isinstance(d_in, int):
            self.model = None  # a state dict (``physlens spectra``) or a dataset without input rows: nothing to watch
            d_in = 0
        self._d_in = d_in
        self._rows = np.zeros((0, d_in))
        self._rng = np.random.default_rng(seed)
        self._hook = None
        self._stand_in_hooks: list = []

    @property
    def rows(self) -> np.ndarray:
        """The kept query rows, (k, d_in), k = min(n_seen, capacity)."""
        return self._rows

    def _record(self, module, args) -> None:
        try:
            t = _plain_rows(args[0], self._d_in) if args else None
        except RuntimeError:  # a tensor whose rows cannot be read here (a wrapper of an unknown transform)
            t = None
        if t is None:
            self.skipped += 1
            return
        m = int(t.shape[0])
        if m == 0:
            return
        k, seen = self.capacity, self.n_seen
        free = max(0, k - len(self._rows))
        take = np.arange(min(free, m))  # fill the reservoir first
        later = np.arange(len(take), m)
        # algorithm R: row number i (1-based over all rows seen) replaces a random slot with probability k / i
        slots = self._rng.integers(0, seen + later + 1) if len(later) else np.zeros(0, dtype=np.int64)
        keep = slots < k
        picked = np.concatenate([take, later[keep]])
        if len(picked):
            with _no_functorch():
                values = t[torch.as_tensor(picked)].to(torch.float64).cpu().numpy()
            if len(take):
                self._rows = np.vstack([self._rows, values[: len(take)]])
            if keep.any():
                self._rows[slots[keep]] = values[len(take):]  # in order: a later row overwrites an earlier one
        self.n_seen = seen + m

    def __enter__(self) -> QueryWatcher:
        if self.model is not None:
            self._hook = self.model.register_forward_pre_hook(self._record)
        _ACTIVE_WATCHERS.append(self)
        return self

    def __exit__(self, *exc) -> None:
        if self in _ACTIVE_WATCHERS:
            _ACTIVE_WATCHERS.remove(self)
        for h in self._stand_in_hooks:
            h.remove()
        self._stand_in_hooks = []
        if self._hook is not None:
            self._hook.remove()
            self._hook = None

    def watch_stand_in(self, network: torch.nn.Module) -> None:
        """Record the rows ``network`` is queried with too, as if the model had been (until the watch ends)."""
        if self.model is not None and isinstance(network, torch.nn.Module) and network is not self.model:
            self._stand_in_hooks.append(network.register_forward_pre_hook(self._record))


    def share_outside(self) -> tuple[float | None, str | None]:
        """(fraction of the kept query rows flagged out of distribution, None) or (None, why it was not measured).

        Fits the :class:`Calibration` (training rows as reference, held-out rows for the threshold)
        the first time, unless one was given; the fitted one stays in ``self.calibration`` for reuse.

        Example:
            >>> from physlens.models.mlp import MLP
            >>> X = np.random.default_rng(0).normal(size=(300, 2))
            >>> m, ds = MLP(2, 1, width=8), Dataset(X, np.zeros(300), ["a", "b"], ["y"])
            >>> with watch_queries(m, ds, heldout=np.arange(240, 300)) as w:
            ...     _ = m(torch.as_tensor(X[:5], dtype=torch.float32)), m(torch.full((5, 2), 50.0))
            >>> w.share_outside()
            (0.5, None)
        """
        if self.model is None:
            self.reason = "no model to watch"
        elif not len(self._rows):
            self.reason = "the model was not queried with input rows"
        else:
            try:
                if self.calibration is None:
                    heldout = self.heldout
                    if heldout is None and self.training is not None:
                        heldout = getattr(self.training, "val_index", None)
                    if heldout is None or len(heldout) < MIN_HELDOUT:
                        self.reason = "too few held-out rows to set the out-of-distribution threshold"
                        return None, self.reason
                    train_rows = getattr(self.training, "train_index", None) if self.training is not None else None
                    self.calibration = Calibration.fit(self.model, self.dataset, heldout, train_rows, seed=self.seed)
                return float(np.mean(self.calibration.flags(self._rows))), None
            except (ConfigError, DataError, ValueError, RuntimeError) as exc:  # marking never fails the probe
                self.reason = f"out-of-distribution score unavailable: {type(exc).__name__}: {exc}"
        return None, self.reason


#: the watchers of the probes running now (innermost last); :func:`observe_stand_in` adds networks to them
_ACTIVE_WATCHERS: list[QueryWatcher] = []


def observe_stand_in(network: torch.nn.Module) -> torch.nn.Module:
    """Count a network a probe queries in the model's place (on the dataset's inputs) as the model's queries.

    A probe that fits its own network to the same rows and reads the law from it (the equation
    search's separability oracle) queries that network, not the study's model, so the forward
    pre-hook of :func:`watch_queries` never sees those rows. Called on such a network, every
    active watcher records its queries as well; the extrapolation mark then says how many of the
    probe's queries lie outside the training data, whichever network answered them. Outside a
    watch it does nothing. Returns ``network``.

    Example:
        >>> from physlens.models.mlp import MLP
        >>> ds = Dataset(np.zeros((60, 2)), np.zeros(60), ["a", "b"], ["y"])
        >>> model, oracle = MLP(2, 1, width=4), MLP(2, 1, width=4)
        >>> with watch_queries(model, ds) as w:
        ...     _ = observe_stand_in(oracle)(torch.zeros(5, 2))
        >>> w.n_seen, len(oracle._forward_pre_hooks)
        (5, 0)
    """
    for watcher in _ACTIVE_WATCHERS:
        watcher.watch_stand_in(network)
    return network


def watch_queries(model: torch.nn.Module | None, dataset: Dataset, heldout=None, training=None,
                  calibration: Calibration | None = None, capacity: int = QUERY_CAPACITY, seed: int = 0) -> QueryWatcher:
    """A context manager that records where ``model`` is queried while a probe runs (see :class:`QueryWatcher`).

    ``heldout`` and ``training`` are the runner's validation rows and training result (they set the
    out-of-distribution threshold and reference data); pass a ``calibration`` fitted earlier to
    reuse it across probes. With ``model=None`` nothing is watched.

    Example:
        >>> from physlens.models.mlp import MLP
        >>> m = MLP(2, 1, width=4)
        >>> ds = Dataset(np.zeros((60, 2)), np.zeros(60), ["a", "b"], ["y"])
        >>> with watch_queries(m, ds) as w:
        ...     _ = m(torch.zeros(4, 2))
        >>> w.n_seen
        4
    """
    return QueryWatcher(model, dataset, heldout=heldout, training=training, calibration=calibration,
                        capacity=capacity, seed=seed)


def mark_extrapolation(findings: list[Finding], watcher: QueryWatcher, at: float = EXTRAPOLATION_SHARE) -> list[Finding]:
    """Mark each finding with the share of its probe's model queries that lie outside the training data.

    Sets ``evidence["extrapolation"] = {"share", "n", "n_queries", "threshold"}`` (``n`` = query rows
    scored, a uniform sample of the ``n_queries`` rows the probe sent to the model) and, when the share
    is at least ``at`` (default :data:`EXTRAPOLATION_SHARE`), appends "(partly extrapolated: x % of the
    model's queries lie outside the training data)" to the statement. Findings of a probe that did
    not query the model (or when no threshold can be set) are returned unchanged.

    Example:
        >>> from physlens.models.mlp import MLP
        >>> m = MLP(2, 1, width=8)
        >>> ds = Dataset(np.random.default_rng(0).normal(size=(300, 2)), np.zeros(300), ["a", "b"], ["y"])
        >>> with watch_queries(m, ds, heldout=np.arange(240, 300)) as w:
        ...     _ = m(torch.full((10, 2), 50.0))
        >>> (f,) = mark_extrapolation([Finding("symmetry", "y is even in a")], w)
        >>> f.statement
        "y is even in a (partly extrapolated: 100 % of the model's queries lie outside the training data)"
    """
    share, _why = watcher.share_outside()
    if share is None:
        return findings
    mark = {"share": share, "n": int(len(watcher.rows)), "n_queries": int(watcher.n_seen),
            "threshold": float(watcher.calibration.ood_threshold_)}
    for f in findings:
        f.evidence = {**(f.evidence or {}), "extrapolation": dict(mark)}
        if share >= at and "(partly extrapolated" not in f.statement:
            f.statement = (f"{f.statement} (partly extrapolated: {100 * share:.0f} % of the model's queries lie "
                           "outside the training data)")
    return findings
