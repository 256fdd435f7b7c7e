"""The training loop: determinism, early stopping, snapshots, checkpoints and exact resume."""

from __future__ import annotations

import pytest
import torch

from physlens.errors import CheckpointError
from physlens.models import build_model
from physlens.systems import get_system
from physlens.train import TrainConfig, fit, load_model


@pytest.fixture(scope="module")
def data():
    return get_system("toy_distractor").sample(600, seed=1)


def _cfg(**kw):
    base = dict(epochs=12, batch_size=64, progress=False, checkpoint_every=3, seed=4)
    base.update(kw)
    return TrainConfig(**base)


def test_same_seed_gives_identical_weights(data):
    a = fit(build_model("mlp", data, seed=4, width=16), data, _cfg()).model
    b = fit(build_model("mlp", data, seed=4, width=16), data, _cfg()).model
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k


def test_training_reaches_a_small_error_on_a_smooth_law(data):
    res = fit(build_model("mlp", data, width=64), data, _cfg(epochs=120))
    assert res.final_val_loss < 5e-3  # standardised MSE: relative RMSE about 7 %


def test_interrupted_run_resumes_to_the_same_final_loss(data, tmp_path):
    full = fit(build_model("mlp", data, seed=4, width=16), data, _cfg(), checkpoint_dir=tmp_path / "full")

    class Killed(Exception):
        pass

    def kill_at_8(epoch, logs):
        if epoch == 8:
            raise Killed

    with pytest.raises(Killed):
        fit(build_model("mlp", data, seed=4, width=16), data, _cfg(), checkpoint_dir=tmp_path / "cut", callback=kill_at_8)
    resumed = fit(build_model("mlp", data, seed=4, width=16), data, _cfg(), checkpoint_dir=tmp_path / "cut", resume=True)
    assert resumed.history[0]["epoch"] == 1 and len(resumed.history) == 12
    assert abs(resumed.final_val_loss - full.final_val_loss) < 1e-6
    assert abs(resumed.history[-1]["train_loss"] - full.history[-1]["train_loss"]) < 1e-6


def test_resume_refuses_a_checkpoint_from_other_options(data, tmp_path):
    fit(build_model("mlp", data, width=16), data, _cfg(), checkpoint_dir=tmp_path)
    with pytest.raises(CheckpointError, match="different training options"):
        fit(build_model("mlp", data, width=16), data, _cfg(lr=1e-4), checkpoint_dir=tmp_path, resume=True)


def test_early_stopping_and_snapshots(data, tmp_path):
    res = fit(build_model("mlp", data, width=16), data,
              _cfg(epochs=400, patience=3, lr=0.05, n_snapshots=5), checkpoint_dir=tmp_path)
    assert res.stopped_early and res.epochs_run < 400
    assert [e for e, _ in res.snapshots] == sorted(e for e, _ in res.snapshots)
    assert (tmp_path / "snapshots").is_dir() and (tmp_path / "model.safetensors").exists()
    reloaded = load_model(tmp_path / "model.safetensors", data)
    assert torch.allclose(reloaded(torch.ones(2, 3)), res.model(torch.ones(2, 3)))
