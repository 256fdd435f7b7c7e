"""A model's predictions as NumPy, and its error on rows it did not train on: what every reading probe needs first.

A probe reads a trained model through its predictions on NumPy rows; :func:`predict_numpy` gives those
for any model (an emulator's own batched ``predict``, which ensembles average over their members, or a
plain ``torch.nn.Module``). Before a probe calls an effect "larger than the model's error" it needs
that error measured honestly: :func:`heldout_error` takes the mean square and a quantile of the
squared error per target on the probe's rows and, when the caller knows validation rows (the study
runner passes ``heldout``), the larger of those and the same figures on the held-out rows, since a
model fits its training rows better than new ones. The attribution and interaction probes both
measure their yardsticks this way; the code lives here, below the probes, because one probe may not
import another (DESIGN.md).
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np
import torch

from physlens.models.base import predict_in_batches

#: held-out rows are used only when at least this many are given (fewer say little about the error)
MIN_HELDOUT = 10


def predict_numpy(model: torch.nn.Module, X: np.ndarray) -> np.ndarray:
    """``model``'s outputs (float64) for the rows of ``X``: its own ``predict`` when it has one, else a no-grad forward.

    A plain module's inputs take the dtype and device of its parameters and run in batches
    (:func:`physlens.models.base.predict_in_batches`).

    Example:
        >>> lin = torch.nn.Linear(2, 1); _ = lin.weight.data.fill_(1.0); _ = lin.bias.data.zero_()
        >>> y = predict_numpy(lin, np.array([[1.0, 2.0], [3.0, 4.0]]))
        >>> y.dtype, y.ravel().tolist()
        (dtype('float64'), [3.0, 7.0])
    """
    if hasattr(model, "predict"):  # the emulators' own batched prediction (ensembles average their members)
        return np.asarray(model.predict(X), dtype=np.float64)
    if next(model.parameters(), None) is None:  # a module without weights (a closed form wrapped as a module)
        with torch.no_grad():
            return model(torch.as_tensor(X, dtype=torch.float64)).cpu().numpy().astype(np.float64)
    return predict_in_batches(model, X)


class HeldoutError(NamedTuple):
    """The model's squared error per target: its mean, its ``quantile`` (the typical row's), and where measured."""

    mse: np.ndarray
    typical_error: np.ndarray
    source: str


def heldout_error(
    predict: Callable[[np.ndarray], np.ndarray],
    dataset,
    rows: np.ndarray,
    heldout: np.ndarray | None,
    quantile: float,
    max_heldout: int = 2000,
    pred: np.ndarray | None = None,
) -> HeldoutError:
    """The model's mean squared error and ``quantile`` of the squared error per target, on held-out rows when known.

    Both are measured on the dataset's ``rows``; when at least :data:`MIN_HELDOUT` ``heldout`` rows are
    given, each is raised to its value on the first ``max_heldout`` of them where that is larger, and
    ``source`` says ``"held-out"`` (else ``"data"``). ``pred`` passes predictions on ``rows`` the caller
    already has, so they are not computed twice.

    Args:
        predict: rows (n, d_in) -> predictions (n, d_out), e.g. ``lambda Z: predict_numpy(model, Z)``.
        dataset: a :class:`physlens.data.dataset.Dataset` (``X`` and ``y`` are read).
        rows: indices of the rows the error is measured on.
        heldout: indices of rows the model was not trained on, or None.
        quantile: which quantile of the per-row squared error is the typical row's (e.g. 0.9).
        max_heldout: at most this many held-out rows are used (the first ones).
        pred: ``predict(dataset.X[rows])`` when already computed.

    Example:
        >>> from physlens.data.dataset import Dataset
        >>> X = np.arange(20.0).reshape(-1, 1)
        >>> ds = Dataset(X, 2 * X, ["x"], ["y"])
        >>> off_by_one = lambda Z: 2 * Z + 1.0
        >>> heldout_error(off_by_one, ds, np.arange(5), None, 0.9)
        HeldoutError(mse=array([1.]), typical_error=array([1.]), source='data')
        >>> worse_late = lambda Z: 2 * Z + (Z >= 10)
        >>> heldout_error(worse_late, ds, np.arange(10), np.arange(10, 20), 0.9).source
        'held-out'
    """
    Y = dataset.y[rows]
    if pred is None:
        pred = predict(dataset.X[rows])
    sq = (pred - Y) ** 2
    mse = np.mean(sq, axis=0)
    typical_error = np.quantile(sq, quantile, axis=0)
    if heldout is None or len(heldout) < MIN_HELDOUT:
        return HeldoutError(mse, typical_error, "data")
    hx = np.asarray(heldout, dtype=np.int64)[:max_heldout]
    hsq = (predict(dataset.X[hx]) - dataset.y[hx]) ** 2
    mse = np.maximum(mse, np.mean(hsq, axis=0))
    typical_error = np.maximum(typical_error, np.quantile(hsq, quantile, axis=0))
    return HeldoutError(mse, typical_error, "held-out")
