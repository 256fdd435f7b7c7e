"""Training-data influence: which rows shaped the network, and which rows look wrong.

Method: TracIn (Pruthi, Liu, Kale & Sundararajan 2020, "Estimating training data
influence by tracing gradient descent"), in its checkpoint form TracInCP: the
influence of a training row ``z`` on a row ``z'`` is the sum over the saved
weight snapshots ``t`` of ``w_t * grad L(z; w_t) . grad L(z'; w_t)``, with ``L``
the emulator's own loss (squared error in standardised target units) and ``w_t``
the snapshot's weight.

**Each snapshot stands for the epochs since the previous one.** TracIn sums over
every step; the snapshots of :func:`physlens.train.fit` are log-spaced (epochs 1,
2, 4, 6, 10, 15, 24, 38, 60 of 60), so weighting each by its learning rate alone
lets the first epochs, where the network is wrong everywhere, dominate. The
weight of snapshot ``k`` is ``lr_k * (epoch_k - epoch_{k-1})``. Measured on
``toy_distractor`` (3000 rows, 60 of them with targets moved by 3 standard
deviations, 60 epochs): the 60 largest self-influences held 80 % of the corrupted
rows with learning-rate weights and 95 % with the span weights.

**What influence knows that the final residual does not.** For a squared loss the
self-influence of a row is ``sum_t w_t 4 L_t |grad_w f|^2``: the row's loss *at
every snapshot* times the squared output gradient (the diagonal of the network's
tangent kernel). The final residual sees only the last snapshot. A mislabelled row
that the network ends up memorising has a small final residual but stood out while
it was being learnt; the trajectory keeps that record. The tangent-kernel factor,
on the other hand, carries no information about the label and varies by decades
over the input space (steep regions of ``x1 x2^2``, the Kepler potential near
``r -> 0``), so it only adds variance to the ranking. The probe therefore flags
with the **loss area** ``A(z) = sum_t w_t L_t(z)``: the TracIn self-influence with
the tangent-kernel factor divided out at each snapshot (exact for one target).
The TracIn self-influence itself is computed in the same pass, reported, and can
be chosen (``statistic="self_influence"``). A variant that puts each snapshot's
loss in units of its median over the rows (``relative_loss_area``, so the late
snapshots count as much as the early ones) helps where the network learns the
bulk late and hurts where it memorises (table below).

**Suspect rows: a local, data-calibrated test.** Noise-free physics data have
tiny residuals spread over decades, concentrated where the law is steep; any
global outlier rule on their distribution flags that tail (the former rule, a
robust z of the fourth root of the self-influence, flagged 213 of 4000 rows of
the clean Kepler flagship). A wrong target is wrong *relative to its
neighbours*, which the network fits as well as it fits the row: the probe divides
each row's ``A`` by the median ``A`` of its ``k = 10`` nearest rows in
standardised input space (rows of other trajectories only, when the data have
trajectories, so a whole corrupted run cannot hide among its own rows) and flags
a row when that ratio exceeds ``q_{chi2_1}(1 - alpha / n) / median(chi2_1)``: the
largest ratio that a normal error of the local scale would reach in ``n`` rows at
family-wise level ``alpha`` (one degree of freedom, the heaviest tail of the
chi-square family, so the bound is conservative for several targets and for the
sum over snapshots). Measured (``benchmarks/influence.py`` and the notes of this
module's tests; 2 % of targets, or every row of 4 runs, moved by 3 standard deviations):

============================== ============= ============= ============= =============
case (seeds 0, 1)              final resid.  TracIn        loss area     relative area
============================== ============= ============= ============= =============
clean Kepler flagship, 4000    9, 5 flagged  3, 1          **0, 0**      0, 0
clean ``x1 x2^2``, 300         3             3             **0**         1
flagship, 4 runs corrupted: R  0.90          0.90          0.82          0.95
flagship, 4 runs corrupted: P  0.90          0.95          1.00          1.00
Kepler energy, 5000: recall    1.00, 1.00    0.87, 0.99    0.83, 0.92    0.96, 1.00
Kepler energy: precision       0.85, 0.90    0.99, 1.00    1.00, 1.00    1.00, 1.00
``x1 x2^2``, 2000: R / P       1.00 / 1.00   1.00 / 1.00   1.00 / 1.00   1.00 / 1.00
``x1 x2^2``, 300 memorised: R  0.67, 1.00    1.00, 0.67    1.00, 0.83    1.00, 0.67
``x1 x2^2``, 300 memorised: P  0.57, 0.75    0.55, 0.36    1.00, 0.83    0.75, 0.31
same, last snapshot as model   R .33 P .06   (the weights that fit the wrong targets to 1e-4)
============================== ============= ============= ============= =============

(``benchmarks/influence.py``: default recipe, 100 epochs; the memorised cases a
width-128 network, 1500 epochs, no early stopping. All four columns use the same
local rule; the old global rule on the TracIn score flagged 240 and 152 rows of
the clean flagship.) Where the network memorises the corrupted training rows
(their loss at the last snapshot 1e-4, below the clean rows') the final residual
finds only the held-out ones and its neighbour ratio is noise (clean rows reach
1e6); the default recipe's restored best-validation weights are taken before
the memorising is complete, which saves the residual there. The loss area finds
them either way, with the fewest false flags. Where the network cannot memorise,
the final residual has the better recall (the Kepler-energy network learns the
bulk only in the last epochs, so some corrupted rows stand out late and
briefly) at the price of false flags on clean data. Combined rules were measured
on the same runs and not kept: "loss area or final residual" (each at ``alpha/2``)
has recall 1.00 on Kepler energy but flags 5-10 rows of clean data and 31-35 rows
(precision 0.16) of the memorised case; "loss area, or final residual confirmed by
the self-influence" reaches recall 0.89/0.99 on Kepler energy with 0-1 clean flags,
but precision 0.42-0.67 on the memorised case.

**Why not Captum's TracInCP for the scores.** :func:`tracin` builds Captum's
``TracInCP`` over the same snapshots and weights, and the tests check this
module's numbers against it (equal to 6 digits). The probe does not use it to
score because it needs the per-snapshot losses and gradients (Captum returns only
the sums), and because Captum recomputes the training rows' gradients for each
call (self-influence, then the influence on one prediction): 31.8 s for 10 inputs
x 10 000 rows. For networks whose parameters all sit in ``Linear`` layers applied
once per row (the MLP), the per-row gradient norms and dot products come in one
forward/backward pass per snapshot from the layer inputs ``a`` and output
gradients ``g`` (``|grad_W L|^2 = |g|^2 (|a|^2 + 1)``; Goodfellow 2015,
"Efficient per-example gradient computations"); other models use
``torch.func.vmap`` over per-row gradients.

Proponents and opponents of one prediction: the TracIn influence of every
training row on the loss of one row (by default the held-out row the model misses
most), from the same pass.

Row numbers: a data set loaded from a file maps its rows to the file's rows
through ``aux["file_row"]`` (0-based data rows, header excluded); otherwise the
data set's own row indices are reported.
"""

from __future__ import annotations

import copy
import time
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from scipy.spatial import cKDTree
from scipy.stats import chi2

from physlens.clock import work_seconds
from physlens.data.dataset import Dataset
from physlens.errors import ConfigError
from physlens.findings import Finding
from physlens.probes import too_few_rows

REQUIRES: dict = {}
COST = 0.3
NEIGHBOURS = 10
STATISTICS = ("loss_area", "self_influence", "relative_loss_area", "residual")


def applies(dataset: Dataset) -> str | None:
    """None when the rows can be traced: at least 20 rows with inputs and targets (snapshots are checked in ``run``).

    Example:
        >>> from physlens.systems import get_system
        >>> applies(get_system("toy_distractor").sample(10))
        'only 10 rows: too few to tell a suspect row from the rest (needs 20)'
    """
    return too_few_rows(dataset, 20, "tell a suspect row from the rest")


def file_rows(dataset: Dataset, rows: np.ndarray) -> np.ndarray:
    """Rows of the user's file (0-based data rows) of the data set's ``rows``: ``aux["file_row"]`` when present.

    Example:
        >>> ds = Dataset(np.arange(4.0), np.arange(4.0), ["x"], ["y"], aux={"file_row": np.array([3, 5, 7, 9])})
        >>> file_rows(ds, np.array([0, 2])).tolist()
        [3, 7]
    """
    rows = np.asarray(rows, dtype=np.int64)
    mapping = (dataset.aux or {}).get("file_row")
    if mapping is None or np.asarray(mapping).ndim != 1 or len(mapping) != dataset.n:
        return rows
    return np.asarray(mapping, dtype=np.int64)[rows]


def snapshot_weights(snapshots: list, history: list[dict] | None) -> list[float]:
    """TracIn weight of each ``(epoch, state)`` snapshot: learning rate x epochs since the previous snapshot.

    Example:
        >>> snapshot_weights([(1, {}), (4, {}), (10, {})], [{"epoch": e, "lr": 0.1} for e in range(1, 11)])
        [0.1, 0.30000000000000004, 0.6000000000000001]
    """
    lr = {int(h["epoch"]): float(h.get("lr", 1.0)) for h in (history or []) if "epoch" in h}
    out, prev = [], 0
    for epoch, _ in snapshots:
        out.append(lr.get(int(epoch), 1.0) * max(int(epoch) - prev, 1))
        prev = int(epoch)
    return out


def _linear_layers(model: torch.nn.Module) -> list[str]:
    return [name for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)]


def _y_scale(model: torch.nn.Module, dataset: Dataset) -> torch.Tensor:
    p = next(model.parameters())
    y_std = getattr(model, "y_std", None)
    if not isinstance(y_std, torch.Tensor):
        sd = dataset.y.std(axis=0)
        y_std = torch.as_tensor(np.where(sd > 0, sd, 1.0))
    return y_std.detach().clone().to(dtype=p.dtype, device=p.device)


def _tensors(model: torch.nn.Module, dataset: Dataset, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    p = next(model.parameters())
    return (torch.as_tensor(dataset.X[rows], dtype=p.dtype, device=p.device),
            torch.as_tensor(dataset.y[rows], dtype=p.dtype, device=p.device))


@dataclass
class RowTrace:
    """Per-snapshot losses and gradient norms of the traced rows (one pass over the snapshots).

    Attributes:
        rows: the data-set rows traced.
        epochs: the snapshots' epochs; ``weights`` their TracIn weights.
        loss: ``(snapshots, rows)`` loss of each row (squared error in standardised target units).
        grad_sq: ``(snapshots, rows)`` squared norm of each row's loss gradient over all parameters.
        query_influence: ``(rows,)`` TracIn influence of each row on the query row's loss, or None.
    """

    rows: np.ndarray
    epochs: list[int]
    weights: np.ndarray
    loss: np.ndarray
    grad_sq: np.ndarray
    query_influence: np.ndarray | None = None

    @property
    def self_influence(self) -> np.ndarray:
        """TracIn self-influence ``sum_t w_t |grad L_t|^2`` of each row."""
        return self.weights @ self.grad_sq

    def loss_area(self, relative: bool = False) -> np.ndarray:
        """``sum_t w_t L_t`` of each row; ``relative``: each snapshot's loss divided by its median over the rows."""
        w = self.weights
        if relative:
            med = np.median(self.loss, axis=1)
            w = w / np.where(med > 0, med, np.finfo(float).tiny)
        return w @ self.loss


class _NotPlain(Exception):
    """The model is not a stack of Linear layers applied once per row (use per-row autograd instead)."""


def _plain_linear_pass(work, lin, x, y, ys, query=None):
    """Per-row loss and squared gradient norm (and dot products with ``query``'s gradient) from one backward."""
    acts: dict = {}

    def hook(mod, inp, out):
        if mod in acts or inp[0].ndim != 2 or inp[0].shape[0] != len(x):
            raise _NotPlain
        acts[mod] = (inp[0].detach(), out)

    handles = [m.register_forward_hook(hook) for m in lin]
    try:
        out = work(x)
    finally:
        for h in handles:
            h.remove()
    if len(acts) != len(lin):
        raise _NotPlain
    loss = (((out - y) / ys) ** 2).sum(dim=1)
    grads = torch.autograd.grad(loss.sum(), [acts[m][1] for m in lin])
    gsq = torch.zeros_like(loss)
    parts = []
    for m, g in zip(lin, grads):
        a = acts[m][0]
        bias = 1.0 if m.bias is not None else 0.0
        gsq = gsq + (g ** 2).sum(dim=1) * ((a ** 2).sum(dim=1) + bias)
        parts.append((a, g, bias))
    dots = None
    if query is not None:
        dots = torch.zeros_like(loss)
        for (a, g, bias), (aq, gq) in zip(parts, query):
            dots = dots + (g @ gq) * (a @ aq + bias)
    return loss.detach(), gsq.detach(), dots, [(a[:1], g[:1]) for a, g, _ in parts]


def _autograd_pass(work, x, y, ys, query=None):
    """Per-row loss, squared gradient norm and dot products with ``query`` (a flat gradient) by ``torch.func``."""
    from torch.func import functional_call, grad, vmap

    params = {k: v.detach() for k, v in work.named_parameters()}
    buffers = dict(work.named_buffers())

    def one(p, xi, yi):
        o = functional_call(work, (p, buffers), (xi[None],))[0]
        return (((o - yi) / ys) ** 2).sum()

    with torch.no_grad():
        out = work(x)
    loss = (((out - y) / ys) ** 2).sum(dim=1)
    g = vmap(grad(one), in_dims=(None, 0, 0))(params, x, y)
    flat = torch.cat([v.reshape(len(x), -1) for v in g.values()], dim=1)
    dots = flat @ query if query is not None else None
    return loss, (flat ** 2).sum(dim=1), dots, flat[:1]


def _trained_toy(rows: int = 200, epochs: int = 4):
    """The small trained model (with 2 weight snapshots) and data that this module's examples read.

    Example:
        >>> res, ds = _trained_toy(rows=50, epochs=2)
        >>> len(res.snapshots), ds.n
        (2, 50)
    """
    from physlens.models import build_model
    from physlens.systems import get_system
    from physlens.train import TrainConfig, fit

    ds = get_system("toy_distractor").sample(rows)
    return fit(build_model("mlp", ds, width=8), ds, TrainConfig(epochs=epochs, n_snapshots=2, progress=False)), ds


def trace_rows(model: torch.nn.Module, dataset: Dataset, snapshots: list, history: list[dict] | None = None,
               rows: np.ndarray | None = None, query_row: int | None = None, batch_size: int = 4096) -> RowTrace:
    """Loss and gradient norm of every row at every snapshot, on a copy of ``model`` (the caller's weights stay).

    With ``query_row``, also the TracIn influence of each traced row on that row's loss
    (``sum_t w_t grad L(z; w_t) . grad L(query; w_t)``).

    Example:
        >>> res, ds = _trained_toy()
        >>> tr = trace_rows(res.model, ds, res.snapshots, res.history, query_row=0)
        >>> tr.loss.shape, tr.query_influence.shape, bool(tr.query_influence[0] > 0)
        ((2, 200), (200,), True)
    """
    if not snapshots:
        raise ConfigError("influence needs weight snapshots taken during training (TrainConfig.snapshots)")
    rows = np.arange(dataset.n) if rows is None else np.asarray(rows, dtype=np.int64)
    work = copy.deepcopy(model)
    work.eval()
    for p in work.parameters():
        p.requires_grad_(True)
    ys = _y_scale(work, dataset)
    lin = [m for m in work.modules() if isinstance(m, torch.nn.Linear)]
    lin_params = {id(p) for m in lin for p in m.parameters()}
    plain = bool(lin) and all(id(p) in lin_params for p in work.parameters())
    X, Y = _tensors(work, dataset, rows)
    T = len(snapshots)
    loss = np.zeros((T, len(rows)))
    gsq = np.zeros((T, len(rows)))
    qinf = np.zeros(len(rows)) if query_row is not None else None
    weights = np.asarray(snapshot_weights(snapshots, history), dtype=np.float64)
    for k, (_epoch, state) in enumerate(snapshots):
        work.load_state_dict(state)
        work.eval()
        q = None
        if query_row is not None:
            xq, yq = _tensors(work, dataset, np.array([int(query_row)]))
            if plain:
                try:
                    q = _plain_linear_pass(work, lin, xq, yq, ys)[3]
                    q = [(a[0], g[0]) for a, g in q]
                except _NotPlain:
                    plain = False
            if not plain:
                q = _autograd_pass(work, xq, yq, ys)[3][0]
        for s in range(0, len(rows), batch_size):
            x, y = X[s:s + batch_size], Y[s:s + batch_size]
            if plain:
                try:
                    lo, gs, dots, _ = _plain_linear_pass(work, lin, x, y, ys, q)
                except _NotPlain:
                    plain = False
                    if q is not None:
                        q = _autograd_pass(work, *_tensors(work, dataset, np.array([int(query_row)])), ys)[3][0]
            if not plain:
                lo, gs, dots, _ = _autograd_pass(work, x, y, ys, q)
            loss[k, s:s + batch_size] = lo.detach().cpu().numpy()
            gsq[k, s:s + batch_size] = gs.detach().cpu().numpy()
            if qinf is not None:
                qinf[s:s + batch_size] += weights[k] * dots.detach().cpu().numpy()
    return RowTrace(rows=rows, epochs=[int(e) for e, _ in snapshots], weights=weights, loss=loss, grad_sq=gsq,
                    query_influence=qinf)


def tracin(model: torch.nn.Module, dataset: Dataset, snapshots: list, history: list[dict] | None = None,
           train_rows: np.ndarray | None = None, batch_size: int = 2048):
    """Captum ``TracInCP`` over the same snapshots and weights, on a copy of ``model`` (a cross-check of this module).

    ``train_rows`` are the rows influence is traced back to (default: all). Returns the Captum object;
    its ``self_influence`` and ``influence`` methods take ``(X, y)`` tensors or a DataLoader.

    Example:
        >>> res, ds = _trained_toy()
        >>> tr = tracin(res.model, ds, res.snapshots, res.history)
        >>> tuple(tr.self_influence(_tensors(res.model, ds, np.arange(5))).shape)
        (5,)
    """
    from captum.influence import TracInCP

    if not snapshots:
        raise ConfigError("influence needs weight snapshots taken during training (TrainConfig.snapshots)")
    layers = _linear_layers(model)
    if not layers:
        raise ConfigError("influence traces the gradients of linear layers, and this model has none")
    work = copy.deepcopy(model)
    work.eval()
    weights = dict(zip([e for e, _ in snapshots], snapshot_weights(snapshots, history)))

    def load(m: torch.nn.Module, snap) -> float:
        epoch, state = snap
        m.load_state_dict(state)
        m.eval()
        return weights[epoch]

    rows = np.arange(dataset.n) if train_rows is None else np.asarray(train_rows, dtype=np.int64)
    train = torch.utils.data.TensorDataset(*_tensors(work, dataset, rows))
    y_std = _y_scale(work, dataset)

    class _StandardisedLoss(torch.nn.Module):
        reduction = "sum"

        def forward(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return (((out - y) / y_std) ** 2).sum()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return TracInCP(work, train, checkpoints=list(snapshots), checkpoints_load_func=load, layers=layers,
                        loss_fn=_StandardisedLoss(), batch_size=batch_size, sample_wise_grads_per_batch=True)


def self_influence(model: torch.nn.Module, dataset: Dataset, snapshots: list, history: list[dict] | None = None,
                   rows: np.ndarray | None = None, batch_size: int = 4096) -> np.ndarray:
    """TracIn self-influence ``sum_t w_t |grad L(z; w_t)|^2`` of each row in ``rows`` (default: all rows).

    Example:
        >>> res, ds = _trained_toy()
        >>> s = self_influence(res.model, ds, res.snapshots, res.history)
        >>> s.shape, bool((s >= 0).all())
        ((200,), True)
    """
    return trace_rows(model, dataset, snapshots, history, rows, batch_size=batch_size).self_influence


def neighbours(dataset: Dataset, rows: np.ndarray | None = None, k: int = NEIGHBOURS) -> np.ndarray:
    """The ``k`` nearest of ``rows`` to each row in standardised input space (positions in ``rows``), self excluded.

    When the data have trajectories, rows of the same trajectory are skipped (so a whole corrupted run is
    compared with other runs), unless fewer than ``k`` others are near enough to be found.

    Example:
        >>> ds = Dataset(np.arange(10.0)[:, None], np.zeros(10), ["x"], ["y"])
        >>> sorted(neighbours(ds, k=2)[0].tolist())
        [1, 2]
    """
    rows = np.arange(dataset.n) if rows is None else np.asarray(rows, dtype=np.int64)
    X = dataset.X[rows]
    sd = X.std(axis=0)
    Z = (X - X.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    k = int(min(k, len(rows) - 1))
    if k < 1:
        raise ConfigError("at least 2 rows are needed to compare a row with its neighbours")
    groups = dataset.groups()
    groups = None if groups is None else np.asarray(groups)[rows]
    extra = 0
    if groups is not None:
        extra = int(min(np.bincount(np.unique(groups, return_inverse=True)[1]).max(), 64))
    kk = int(min(len(rows), k + 1 + extra))
    _, idx = cKDTree(Z).query(Z, k=kk)
    idx = idx[:, 1:] if kk > 1 else idx[:, None]
    if groups is None:
        return idx[:, :k]
    other = groups[idx] != groups[:, None]
    order = np.argsort(~other, axis=1, kind="stable")  # rows of other trajectories first, nearest first
    return np.take_along_axis(idx, order, axis=1)[:, :k]


def local_ratio(scores: np.ndarray, nbrs: np.ndarray) -> np.ndarray:
    """Each row's score over the median score of its neighbours (``nbrs`` from :func:`neighbours`).

    Example:
        >>> local_ratio(np.array([1.0, 1.0, 8.0, 1.0]), np.array([[1, 3], [0, 3], [1, 3], [0, 1]])).tolist()
        [1.0, 1.0, 8.0, 1.0]
    """
    s = np.asarray(scores, dtype=np.float64)
    ref = np.median(s[nbrs], axis=1)
    floor = max(float(np.median(s)) * 1e-12, np.finfo(float).tiny)
    return s / np.maximum(ref, floor)


def ratio_threshold(n: int, alpha: float = 0.05) -> float:
    """Largest neighbour ratio a normal error of the local scale reaches in ``n`` rows at family-wise ``alpha``.

    ``q_{chi2_1}(1 - alpha / n) / median(chi2_1)`` (see the module docstring).

    Example:
        >>> round(ratio_threshold(4000), 1)
        42.0
    """
    if not 0.0 < alpha < 1.0:
        raise ConfigError(f"alpha must be in (0, 1), got {alpha}")
    return float(chi2.isf(alpha / max(int(n), 1), 1) / chi2.median(1))


def suspect_rows(ratio: np.ndarray, alpha: float = 0.05) -> tuple[np.ndarray, float]:
    """Rows whose neighbour ratio (:func:`local_ratio`) exceeds :func:`ratio_threshold`: ``(rows, threshold)``.

    Rows come sorted by decreasing ratio.

    Example:
        >>> r = np.random.default_rng(0).chisquare(1, 2000) / 0.455; r[[7, 42]] = 500.0
        >>> rows, thr = suspect_rows(r)
        >>> sorted(rows.tolist()), round(thr)
        ([7, 42], 39)
    """
    r = np.asarray(ratio, dtype=np.float64)
    thr = ratio_threshold(len(r), alpha)
    flagged = np.flatnonzero(r > thr)
    return flagged[np.argsort(-r[flagged])], thr


def row_statistics(trace: RowTrace, model: torch.nn.Module | None = None, dataset: Dataset | None = None) -> dict:
    """The per-row statistics the suspect test can use, by name (:data:`STATISTICS`).

    ``residual`` is the final model's loss when ``model`` and ``dataset`` are given, else the last snapshot's.

    Example:
        >>> tr = RowTrace(np.arange(3), [1, 2], np.array([1.0, 1.0]), np.array([[1.0, 2, 3], [1, 1, 1]]),
        ...               np.ones((2, 3)))
        >>> row_statistics(tr)["loss_area"].tolist()
        [2.0, 3.0, 4.0]
    """
    resid = trace.loss[-1]
    if model is not None and dataset is not None and hasattr(model, "predict"):
        pred = np.asarray(model.predict(dataset.X[trace.rows]), dtype=np.float64).reshape(len(trace.rows), -1)
        ys = _y_scale(model, dataset).cpu().numpy().astype(np.float64)
        resid = (((pred - dataset.y[trace.rows]) / ys) ** 2).sum(axis=1)
    return {"loss_area": trace.loss_area(relative=False), "self_influence": trace.self_influence,
            "relative_loss_area": trace.loss_area(relative=True), "residual": resid}


def run(
    model: torch.nn.Module,
    dataset: Dataset,
    training=None,
    heldout: np.ndarray | None = None,
    query: int | None = None,
    top: int = 5,
    alpha: float = 0.05,
    statistic: str = "loss_area",
    max_rows: int = 20_000,
    budget_seconds: float | None = None,
    seed: int = 0,
) -> list[Finding]:
    """One ``influence`` finding: rows that stand out from their neighbours over training; who pushed one prediction.

    Args:
        model: the trained emulator.
        dataset: its data.
        training: the :class:`~physlens.train.fit.TrainResult` (snapshots, history, training rows); without
            snapshots there is nothing to trace and the probe returns no finding.
        heldout: validation rows (the study runner passes them); the default query is the held-out row the
            model misses most.
        query: a data-set row whose prediction is explained by its proponents and opponents among the
            training rows (default: see ``heldout``); ``top=0`` skips it.
        top: proponents and opponents listed.
        alpha: family-wise level of the suspect-row decision (see :func:`ratio_threshold`).
        statistic: what is compared with the neighbours: one of :data:`STATISTICS` (the module docstring
            gives the measured comparison).
        max_rows: rows scored at most (a seeded sample of them beyond that; the finding says so).
        budget_seconds: time share; snapshots with the least weight are dropped to fit it.
        seed: for the row sample.

    Example:
        >>> from physlens.systems import get_system
        >>> from physlens.models import build_model
        >>> from physlens.train import fit, TrainConfig
        >>> ds = get_system("toy_distractor").sample(300)
        >>> res = fit(build_model("mlp", ds, width=16), ds, TrainConfig(epochs=10, progress=False))
        >>> [f.kind for f in run(res.model, ds, training=res)]
        ['influence']
    """
    if statistic not in STATISTICS:
        raise ConfigError(f"unknown influence statistic {statistic!r}; use one of {', '.join(STATISTICS)}")
    if not 0.0 < alpha < 1.0:
        raise ConfigError(f"alpha must be in (0, 1), got {alpha}")
    snapshots = list(getattr(training, "snapshots", None) or [])
    if not snapshots or not _linear_layers(model):
        return []
    t0 = time.perf_counter()
    history = getattr(training, "history", None)
    rng = np.random.default_rng(seed)
    rows = np.arange(dataset.n) if dataset.n <= max_rows else np.sort(rng.choice(dataset.n, max_rows, replace=False))
    train_rows = getattr(training, "train_index", None)
    train_rows = np.arange(dataset.n) if train_rows is None else np.asarray(train_rows, dtype=np.int64)
    if budget_seconds is not None and len(snapshots) > 2:
        # cost grows with rows x snapshots: time one snapshot on a slice, keep the weightiest that fit
        probe_rows = rows[: min(len(rows), 1024)]
        t1 = work_seconds()  # cost on the thread's CPU time (physlens.clock), not the load's wall time
        trace_rows(model, dataset, snapshots[-1:], history, probe_rows)
        per = (work_seconds() - t1) * len(rows) / len(probe_rows)
        keep = max(2, int(0.6 * budget_seconds / max(per, 1e-6)))
        if keep < len(snapshots):
            order = np.argsort(snapshot_weights(snapshots, history))[::-1][:keep]
            snapshots = [snapshots[i] for i in sorted(order)]

    # the prediction to explain: the held-out row the model misses most (or the caller's row)
    if top > 0 and query is None and hasattr(model, "predict"):
        pool = heldout if heldout is not None and len(heldout) else getattr(training, "val_index", None)
        pool = rows if pool is None or not len(pool) else np.asarray(pool, dtype=np.int64)
        pred = np.asarray(model.predict(dataset.X[pool]), dtype=np.float64).reshape(len(pool), -1)
        sd = np.where(dataset.y.std(axis=0) > 0, dataset.y.std(axis=0), 1.0)
        query = int(pool[np.argmax((((pred - dataset.y[pool]) / sd) ** 2).sum(axis=1))])
    if query is not None and not 0 <= int(query) < dataset.n:
        raise ConfigError(f"query row {query} is outside the data ({dataset.n} rows)")
    explain_rows = np.union1d(rows, train_rows) if top > 0 and query is not None else rows
    trace = trace_rows(model, dataset, snapshots, history, explain_rows,
                       query_row=None if top <= 0 or query is None else int(query))
    pos = np.searchsorted(explain_rows, rows)
    full = trace
    trace = RowTrace(rows, full.epochs, full.weights, full.loss[:, pos], full.grad_sq[:, pos])
    stats = row_statistics(trace, model, dataset)
    nbrs = neighbours(dataset, rows)
    ratios = {name: local_ratio(s, nbrs) for name, s in stats.items()}
    flagged, threshold = suspect_rows(ratios[statistic], alpha)
    suspects = file_rows(dataset, rows[flagged])
    trained = set(train_rows.tolist())

    explain = None
    if full.query_influence is not None:
        tpos = np.searchsorted(explain_rows, train_rows)
        explain = _proponents_opponents(model, dataset, int(query), train_rows, full.query_influence[tpos], top)

    shown = ", ".join(str(int(r)) for r in suspects[:12])
    shown += f" (+{len(suspects) - 12} more)" if len(suspects) > 12 else ""
    how = (f"{statistic.replace('_', ' ')} over {len(snapshots)} snapshots against the {nbrs.shape[1]} nearest rows; "
           f"family-wise level {alpha:g}")
    if len(suspects):
        statement = (f"{len(suspects)} row(s) of {len(rows)} stand out from their neighbours over training ({how}): "
                     f"rows {shown} — check them for wrong targets or outliers")
    else:
        statement = f"No row of {len(rows)} stands out from its neighbours over training ({how})"
    if explain is not None:
        statement += (f"; the prediction for row {explain['query_row']} was pushed most by rows "
                      f"{', '.join(str(p['row']) for p in explain['proponents'][:3])}")
    evidence = {
        "statistic": statistic,
        "threshold": threshold,
        "score_name": f"{statistic.replace('_', ' ')} / neighbours' median",
        "ratios": {name: [float(r[i]) for i in flagged] for name, r in ratios.items()},
        "self_influence": [float(stats["self_influence"][i]) for i in flagged],
        "flagged_by": {name: int((r > threshold).sum()) for name, r in ratios.items()},
        "trained_on": [int(r) in trained for r in rows[flagged]],
        "rows_scored": int(len(rows)),
        "rows_sampled": bool(len(rows) < dataset.n),
        "neighbours": int(nbrs.shape[1]),
        "snapshots": [int(e) for e, _ in snapshots],
        "snapshot_weights": [float(w) for w in trace.weights],
        "ratio_quantiles": {str(q): float(np.quantile(ratios[statistic], q)) for q in (0.5, 0.9, 0.99)},
        "row_numbers": "rows of the user's file (0-based, header excluded)" if "file_row" in (dataset.aux or {})
        else "rows of the data set (0-based)",
        "method": "TracIn over the snapshots (weight = learning rate x epochs since the previous snapshot); "
                  "a row is compared with its nearest rows in input space",
        "seconds": time.perf_counter() - t0,
    }
    if explain is not None:
        evidence["explained_prediction"] = explain
    return [Finding(
        kind="influence",
        statement=statement,
        value={"suspect_rows": [int(r) for r in suspects], "scores": [float(ratios[statistic][i]) for i in flagged]},
        evidence=evidence,
        confidence=float(min(1.0, 0.5 + 0.5 * (1.0 - alpha))),
        probe="influence",
        target=dataset.target_names[0] if dataset.d_out == 1 else None,
        subject="training rows",
    )]


def _proponents_opponents(model, dataset: Dataset, query: int, train_rows: np.ndarray, scores: np.ndarray,
                          top: int) -> dict:
    k = int(min(top, len(train_rows)))
    order = np.argsort(-scores)
    pro_i, opp_i = order[:k], order[::-1][:k]
    pro, opp = file_rows(dataset, train_rows[pro_i]), file_rows(dataset, train_rows[opp_i])
    pred = model.predict(dataset.X[[query]])[0] if hasattr(model, "predict") else None
    return {
        "query_row": int(file_rows(dataset, np.array([query]))[0]),
        "target": dataset.y[query].tolist(),
        "prediction": None if pred is None else np.asarray(pred).tolist(),
        "proponents": [{"row": int(r), "influence": float(v)} for r, v in zip(pro, scores[pro_i])],
        "opponents": [{"row": int(r), "influence": float(v)} for r, v in zip(opp, scores[opp_i])],
    }


def proponents_opponents(model: torch.nn.Module, dataset: Dataset, snapshots: list, history: list[dict] | None,
                         query: int, train_rows: np.ndarray, top: int = 5) -> dict:
    """The training rows that pushed row ``query``'s prediction most (proponents) and held it back (opponents).

    TracIn influence of each training row on the query's loss; rows are reported in the user's file numbering.
    Rows with large losses have large gradients and lead both lists: measured on ``y = x1 x2^2`` with 2 %
    of the targets corrupted (2000 rows), 7-10 of the 10 strongest proponents of an ordinary held-out
    prediction were corrupted rows, 0-1 on the clean data (the trait RelatIF, Barshan et al. 2020,
    corrects by normalising; read the lists after the suspect rows are dealt with).

    Example:
        >>> res, ds = _trained_toy()
        >>> len(proponents_opponents(res.model, ds, res.snapshots, res.history, 0, res.train_index, 3)["proponents"])
        3
    """
    train_rows = np.asarray(train_rows, dtype=np.int64)
    tr = trace_rows(model, dataset, snapshots, history, train_rows, query_row=int(query))
    return _proponents_opponents(model, dataset, int(query), train_rows, tr.query_influence, top)
