"""A model's NumPy predictions and its held-out error: the yardsticks the attribution and interaction probes share."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from physlens.data.dataset import Dataset
from physlens.models import build_model, heldout_error, predict_numpy
from physlens.systems import get_system


def _line(n: int = 40) -> Dataset:
    X = np.linspace(-1.0, 1.0, n)[:, None]
    return Dataset(X, np.hstack([3 * X, X**2]), ["x"], ["a", "b"])


def test_plain_module_predicts_float64_on_its_own_dtype_and_keeps_its_mode():
    net = torch.nn.Sequential(torch.nn.Linear(1, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))  # float32
    net.train()
    X = _line().X
    got = predict_numpy(net, X)
    with torch.no_grad():
        want = net(torch.as_tensor(X, dtype=torch.float32)).numpy()
    assert got.dtype == np.float64 and got.shape == (40, 2)
    assert np.array_equal(got, want.astype(np.float64))
    assert net.training  # the caller's mode is restored


def test_an_emulator_is_read_through_its_own_predict_in_original_units():
    ds = get_system("toy_distractor").sample(64, seed=0)
    model = build_model("mlp", ds, seed=0)
    assert np.array_equal(predict_numpy(model, ds.X), model.predict(ds.X))

    class Averaged(torch.nn.Module):  # an ensemble-like model whose predict is not its forward
        def forward(self, x):
            raise AssertionError("predict_numpy must use predict")

        def predict(self, X):
            return np.ones((len(X), 1), dtype=np.float32)

    out = predict_numpy(Averaged(), ds.X)
    assert out.dtype == np.float64 and np.all(out == 1.0)


def test_error_on_training_rows_is_raised_to_the_held_out_error_per_target():
    ds = _line()
    # exact on the first half (the "training" rows), off by 0.5 in target a and 0.1 in b on the second half
    predict = lambda Z: np.hstack([3 * Z + 0.5 * (Z > 0), Z**2 + 0.1 * (Z > 0)])  # noqa: E731
    train, val = np.arange(20), np.arange(20, 40)
    mse, typical, source = heldout_error(predict, ds, train, None, 0.9)
    assert source == "data" and np.allclose(mse, 0.0) and np.allclose(typical, 0.0)
    mse, typical, source = heldout_error(predict, ds, train, val, 0.9)
    assert source == "held-out"
    assert mse == pytest.approx([0.25, 0.01]) and typical == pytest.approx([0.25, 0.01])


def test_the_larger_error_wins_and_the_quantile_is_the_typical_rows():
    ds = _line()
    # one row in ten is off by 1 on the probe's rows; the held-out rows are all off by 0.1
    bad = np.zeros(40)
    bad[:20:10] = 1.0
    bad[20:] = 0.1
    predict = lambda Z: 3 * Z + bad[np.round((Z[:, 0] + 1) / 2 * 39).astype(int)][:, None]  # noqa: E731
    one = Dataset(ds.X, ds.y[:, :1], ["x"], ["a"])
    mse, typical, _ = heldout_error(predict, one, np.arange(20), np.arange(20, 40), 0.5)
    assert mse[0] == pytest.approx(max(2 / 20, 0.01))  # the rare big misses carry the mean on the probe's rows
    assert typical[0] == pytest.approx(0.01)  # the median row is the held-out one's 0.1 miss


def test_too_few_held_out_rows_are_not_trusted_and_at_most_max_heldout_are_read():
    ds = _line()
    seen: list[int] = []

    def predict(Z):
        seen.append(len(Z))
        return np.hstack([3 * Z + 1.0, Z**2])

    assert heldout_error(predict, ds, np.arange(5), np.arange(30, 39), 0.9).source == "data"  # 9 < 10 rows
    seen.clear()
    pred = predict(ds.X[np.arange(5)])
    seen.clear()
    heldout_error(predict, ds, np.arange(5), np.arange(10, 40), 0.9, max_heldout=12, pred=pred)
    assert seen == [12]  # the given predictions are not recomputed; 12 held-out rows are read
