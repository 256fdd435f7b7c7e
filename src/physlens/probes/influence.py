"""Training-data influence: which rows shaped the network, and which rows look wrong.

Method: TracIn (Pruthi, Liu, Kale & Sundararajan 2020, "Estimating training data
influence by tracing gradient descent"), in its checkpoint form TracInCP: the
influence of a training row ``z`` on a row ``z'`` is the sum over the saved
weight snapshots ``t`` of ``eta_t * grad L(z; w_t) . grad L(z'; w_t)``, with ``L``
the emulator's own loss (squared error in standardised target units). The
computation is Captum's ``TracInCP`` (per-sample gradients of the linear layers
in batches, ``sample_wise_grads_per_batch``); this module supplies the snapshots,
their weights and the decision.

**Each snapshot stands for the epochs since the previous one.** TracIn sums over
every step; the snapshots of :func:`physlens.train.fit` are log-spaced (epochs 1,
2, 4, 6, 10, 15, 24, 38, 60 of 60), so weighting each by its learning rate alone
lets the first epochs, where the network is wrong everywhere, dominate. The
weight of snapshot ``k`` is ``lr_k * (epoch_k - epoch_{k-1})``. Measured on
``toy_distractor`` (3000 rows, 60 of them with targets moved by 3 standard
deviations, 60 epochs): the 60 largest self-influences held 80 % of the corrupted
rows with learning-rate weights and 95 % with the span weights.

**Suspect rows.** The self-influence ``s(z) = sum_t w_t |grad L(z; w_t)|^2`` is a
weighted sum of squared residuals times squared output gradients: a product of
two squares, skewed far beyond a normal. Its fourth root is close enough to
normal in the bulk that a robust z-score can be read: a row is flagged when the
robust z-score of ``s^(1/4)`` (median, 1.4826 x MAD, both from the data) exceeds
the one-sided normal quantile at family-wise level ``alpha`` over all rows,
``Phi^-1(1 - alpha / n)``. The root was chosen by measurement on
``y = x1 x2^2 + x3 * 0`` (2000 rows, 100 epochs, three seeds, ``alpha = 0.05``):
on clean data the fourth root flagged 0-2 rows (the cube root, the
Wilson-Hilferty transform of a chi-square, 8-11; the square root 42-77); with
2 % of the targets moved by 3 standard deviations it flagged 35-41 rows at
recall 0.88-0.93 and precision 0.90-1.0 (cube root: recall 1.0, precision
0.68-0.85). The log scale, tried first, flagged none: the clean rows' scores span
four decades, so the MAD of the logs is a decade wide.

**A negative result worth knowing.** For regression the self-influence is
``4 r^2 |grad_w f|^2`` summed over snapshots: the squared residual ``r`` times the
gradient of the output. The residual alone (the plain largest-residual
baseline of ``benchmarks/influence.py``) separates mislabelled targets at least
as well when the network has not memorised them (on the example above it
flagged exactly the 60 corrupted rows); TracIn earns its keep by integrating over
training (a row the network ends up fitting still stood out while it was being
learnt) and by naming, for one prediction, the training rows that pushed it
(proponents) and held it back (opponents).

Row numbers: a data set loaded from a file maps its rows to the file's rows
through ``aux["file_row"]`` (0-based data rows, header excluded) when the loader
records it; otherwise the data set's own row indices are reported.
"""

from __future__ import annotations

import copy
import time

import numpy as np
import torch
from scipy.stats import norm

from physlens.data.dataset import Dataset
from physlens.errors import ConfigError
from physlens.findings import Finding

REQUIRES: dict = {}
COST = 0.5


def applies(dataset: Dataset) -> str | None:
    """None when the rows can be traced: at least 20 rows with inputs and targets (snapshots are checked in ``run``).

    Example:
        >>> from physlens.systems import get_system
        >>> applies(get_system("toy_distractor").sample(50)) is None
        True
    """
    if dataset.n < 20:
        return f"only {dataset.n} rows: too few to tell a suspect row from the rest"
    return None


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


class _StandardisedLoss(torch.nn.Module):
    """Sum over rows of the squared error in standardised target units (the emulators' own loss, summed)."""

    reduction = "sum"

    def __init__(self, y_std: torch.Tensor) -> None:
        super().__init__()
        self.y_std = y_std

    def forward(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (((out - y) / self.y_std) ** 2).sum()


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


def tracin(model: torch.nn.Module, dataset: Dataset, snapshots: list, history: list[dict] | None = None,
           train_rows: np.ndarray | None = None, batch_size: int = 2048):
    """Captum ``TracInCP`` over the snapshots, on a copy of ``model`` (the caller's weights are untouched).

    ``train_rows`` are the rows influence is traced back to (default: all). Returns the Captum object;
    its ``self_influence`` and ``influence`` methods take ``(X, y)`` tensors or a DataLoader.

    Example:
        >>> from physlens.systems import get_system
        >>> from physlens.models import build_model
        >>> from physlens.train import fit, TrainConfig
        >>> ds = get_system("toy_distractor").sample(200)
        >>> res = fit(build_model("mlp", ds, width=8), ds, TrainConfig(epochs=4, n_snapshots=2, progress=False))
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
    y_std = getattr(work, "y_std", None)
    p = next(work.parameters())
    if not isinstance(y_std, torch.Tensor):
        y_std = torch.as_tensor(np.where(dataset.y.std(axis=0) > 0, dataset.y.std(axis=0), 1.0), dtype=p.dtype)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return TracInCP(work, train, checkpoints=list(snapshots), checkpoints_load_func=load, layers=layers,
                        loss_fn=_StandardisedLoss(y_std.detach().clone()), batch_size=batch_size,
                        sample_wise_grads_per_batch=True)


def _tensors(model: torch.nn.Module, dataset: Dataset, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    p = next(model.parameters())
    return (torch.as_tensor(dataset.X[rows], dtype=p.dtype, device=p.device),
            torch.as_tensor(dataset.y[rows], dtype=p.dtype, device=p.device))


def self_influence(model: torch.nn.Module, dataset: Dataset, snapshots: list, history: list[dict] | None = None,
                   rows: np.ndarray | None = None, batch_size: int = 2048) -> np.ndarray:
    """TracIn self-influence ``sum_t w_t |grad L(z; w_t)|^2`` of each row in ``rows`` (default: all rows).

    Example:
        >>> from physlens.systems import get_system
        >>> from physlens.models import build_model
        >>> from physlens.train import fit, TrainConfig
        >>> ds = get_system("toy_distractor").sample(200)
        >>> res = fit(build_model("mlp", ds, width=8), ds, TrainConfig(epochs=4, n_snapshots=2, progress=False))
        >>> s = self_influence(res.model, ds, res.snapshots, res.history)
        >>> s.shape, bool((s >= 0).all())
        ((200,), True)
    """
    import warnings

    rows = np.arange(dataset.n) if rows is None else np.asarray(rows, dtype=np.int64)
    tr = tracin(model, dataset, snapshots, history, train_rows=rows[: min(len(rows), 1)], batch_size=batch_size)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(*_tensors(tr.model, dataset, rows)),
                                         batch_size=batch_size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = tr.self_influence(loader)
    return out.detach().cpu().numpy().astype(np.float64)


def suspect_rows(scores: np.ndarray, alpha: float = 0.05) -> tuple[np.ndarray, float, np.ndarray]:
    """Rows whose score stands out of the data's own distribution: ``(rows, threshold, z)``.

    The robust z-score of ``scores ** (1/4)`` (the module docstring says why the fourth root) must exceed
    ``Phi^-1(1 - alpha / n)``: were the transformed scores normal, clean data would have ``alpha`` rows
    flagged in all (measured: 0-2 of 2000).
    ``threshold`` is returned on the scale of ``scores``. Rows come sorted by decreasing score.

    Example:
        >>> s = np.random.default_rng(0).chisquare(2, 1000); s[[7, 42]] = 1e3
        >>> rows, thr, z = suspect_rows(s)
        >>> sorted(rows.tolist())
        [7, 42]
    """
    if not 0.0 < alpha < 1.0:
        raise ConfigError(f"alpha must be in (0, 1), got {alpha}")
    s = np.clip(np.asarray(scores, dtype=np.float64), 0.0, None)
    c = s ** 0.25
    med = float(np.median(c))
    mad = 1.4826 * float(np.median(np.abs(c - med)))
    if not mad > 0:
        mad = float(np.std(c)) or 1.0
    z = (c - med) / mad
    z_star = float(norm.isf(alpha / max(len(s), 1)))
    flagged = np.flatnonzero(z > z_star)
    flagged = flagged[np.argsort(-s[flagged])]
    return flagged, float(max(med + z_star * mad, 0.0) ** 4), z


def run(
    model: torch.nn.Module,
    dataset: Dataset,
    training=None,
    heldout: np.ndarray | None = None,
    query: int | None = None,
    top: int = 5,
    alpha: float = 0.05,
    max_rows: int = 20_000,
    budget_seconds: float | None = None,
    seed: int = 0,
) -> list[Finding]:
    """One ``influence`` finding: the suspect rows by TracIn self-influence, and who pushed one prediction.

    Args:
        model: the trained emulator.
        dataset: its data.
        training: the :class:`~physlens.train.fit.TrainResult` (snapshots, history, training rows); without
            snapshots there is nothing to trace and the probe returns no finding.
        heldout: validation rows (the study runner passes them); the default query is the held-out row the
            model misses most.
        query: a data-set row whose prediction is explained by its proponents and opponents among the
            training rows (default: see ``heldout``).
        top: proponents and opponents listed.
        alpha: family-wise level of the suspect-row decision (see :func:`suspect_rows`).
        max_rows: rows scored at most (a seeded sample of them beyond that; the finding says so).
        budget_seconds: time share; scoring stops adding snapshots beyond it (newest kept first).
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
    snapshots = list(getattr(training, "snapshots", None) or [])
    if not snapshots or not _linear_layers(model):
        return []
    t0 = time.perf_counter()
    history = getattr(training, "history", None)
    if budget_seconds is not None and len(snapshots) > 2:
        # cost grows with the snapshots: time one and keep the newest that fit (the late ones carry most weight)
        probe_rows = np.arange(min(dataset.n, 512))
        t1 = time.perf_counter()
        self_influence(model, dataset, snapshots[-1:], history, probe_rows)
        per = (time.perf_counter() - t1) * min(dataset.n, max_rows) / len(probe_rows)
        # two passes per snapshot (every row's self-influence; the training rows' influence on the query)
        keep = max(2, int(0.4 * budget_seconds / max(per, 1e-6)))
        if keep < len(snapshots):
            weights = snapshot_weights(snapshots, history)
            order = np.argsort(weights)[::-1][:keep]
            snapshots = [snapshots[i] for i in sorted(order)]
    rng = np.random.default_rng(seed)
    rows = np.arange(dataset.n) if dataset.n <= max_rows else np.sort(rng.choice(dataset.n, max_rows, replace=False))
    scores = self_influence(model, dataset, snapshots, history, rows)
    flagged, threshold, z = suspect_rows(scores, alpha)
    train_rows = getattr(training, "train_index", None)
    train_rows = np.arange(dataset.n) if train_rows is None else np.asarray(train_rows, dtype=np.int64)
    suspects = file_rows(dataset, rows[flagged])
    trained = set(train_rows.tolist())

    # the prediction to explain: the held-out row the model misses most (or the caller's row)
    explain = None
    if top > 0 and len(train_rows) > 0:
        if query is None:
            pool = heldout if heldout is not None and len(heldout) else getattr(training, "val_index", None)
            pool = np.arange(dataset.n) if pool is None or not len(pool) else np.asarray(pool, dtype=np.int64)
            pred = model.predict(dataset.X[pool]) if hasattr(model, "predict") else None
            if pred is not None:
                sd = np.where(dataset.y.std(axis=0) > 0, dataset.y.std(axis=0), 1.0)
                query = int(pool[np.argmax((((pred - dataset.y[pool]) / sd) ** 2).sum(axis=1))])
            else:
                query = int(pool[0])
        if not 0 <= int(query) < dataset.n:
            raise ConfigError(f"query row {query} is outside the data ({dataset.n} rows)")
        explain = proponents_opponents(model, dataset, snapshots, history, int(query), train_rows, top)

    shown = ", ".join(str(int(r)) for r in suspects[:12]) + (f" (+{len(suspects) - 12} more)" if len(suspects) > 12 else "")
    if len(suspects):
        statement = (f"{len(suspects)} row(s) of {len(rows)} stand out by self-influence (TracIn over {len(snapshots)} "
                     f"snapshots; family-wise level {alpha:g}): rows {shown} — check them for wrong targets or outliers")
    else:
        statement = (f"No row stands out by self-influence (TracIn over {len(snapshots)} snapshots, {len(rows)} rows, "
                     f"family-wise level {alpha:g})")
    if explain is not None:
        statement += (f"; the prediction for row {explain['query_row']} was pushed most by rows "
                      f"{', '.join(str(p['row']) for p in explain['proponents'][:3])}")
    evidence = {
        "threshold": threshold,
        "z_threshold": float(norm.isf(alpha / max(len(rows), 1))),
        "z": [float(z[i]) for i in flagged],
        "trained_on": [int(r) in trained for r in rows[flagged]],
        "rows_scored": int(len(rows)),
        "rows_sampled": bool(len(rows) < dataset.n),
        "snapshots": [int(e) for e, _ in snapshots],
        "snapshot_weights": snapshot_weights(snapshots, history),
        "score_quantiles": {str(q): float(np.quantile(scores, q)) for q in (0.5, 0.9, 0.99)},
        "row_numbers": "rows of the user's file (0-based, header excluded)" if "file_row" in (dataset.aux or {})
        else "rows of the data set (0-based)",
        "method": "TracInCP (Captum), snapshot weight = learning rate x epochs since the previous snapshot",
        "seconds": time.perf_counter() - t0,
    }
    if explain is not None:
        evidence["explained_prediction"] = explain
    return [Finding(
        kind="influence",
        statement=statement,
        value={"suspect_rows": [int(r) for r in suspects], "scores": [float(scores[i]) for i in flagged]},
        evidence=evidence,
        confidence=float(min(1.0, 0.5 + 0.5 * (1.0 - alpha))),
        probe="influence",
        target=dataset.target_names[0] if dataset.d_out == 1 else None,
        subject="training rows",
    )]


def proponents_opponents(model: torch.nn.Module, dataset: Dataset, snapshots: list, history: list[dict] | None,
                         query: int, train_rows: np.ndarray, top: int = 5) -> dict:
    """The training rows that pushed row ``query``'s prediction most (proponents) and held it back (opponents).

    TracIn influence of each training row on the query's loss; rows are reported in the user's file numbering.
    Rows with large losses have large gradients and lead both lists: measured on ``y = x1 x2^2`` with 2 %
    of the targets corrupted (2000 rows), 7-10 of the 10 strongest proponents of an ordinary held-out
    prediction were corrupted rows, 0-1 on the clean data (the trait RelatIF, Barshan et al. 2020,
    corrects by normalising; read the lists after the suspect rows are dealt with).

    Example:
        >>> from physlens.systems import get_system
        >>> from physlens.models import build_model
        >>> from physlens.train import fit, TrainConfig
        >>> ds = get_system("toy_distractor").sample(200)
        >>> res = fit(build_model("mlp", ds, width=8), ds, TrainConfig(epochs=4, n_snapshots=2, progress=False))
        >>> len(proponents_opponents(res.model, ds, res.snapshots, res.history, 0, res.train_index, 3)["proponents"])
        3
    """
    import warnings

    tr = tracin(model, dataset, snapshots, history, train_rows=train_rows)
    q = _tensors(tr.model, dataset, np.array([query]))
    k = int(min(top, len(train_rows)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores = tr.influence(q, k=None)[0].detach().cpu().numpy().astype(np.float64)
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
