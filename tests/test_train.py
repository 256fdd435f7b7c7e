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


def test_device_names_are_checked():
    from physlens.errors import ConfigError
    from physlens.train.fit import resolve_device

    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ConfigError, match="unknown device 'gpu0'"):
        resolve_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no GPU is available"):
            fit(build_model("mlp", get_system("toy_distractor").sample(16)), get_system("toy_distractor").sample(16),
                TrainConfig(epochs=1, device="cuda", progress=False))


def test_latent_noise_does_not_depend_on_the_device():
    # the VAE/KL noise comes from the CPU generator whatever the tensor's device, so a
    # stochastic model trains alike on cpu and cuda (compared on a GPU below)
    from physlens.models.base import standard_normal_like

    target = torch.empty(3, 4, dtype=torch.float64, device="meta")  # stands in for a GPU tensor
    torch.manual_seed(5)
    noise = standard_normal_like(target)
    after_helper = torch.randn(2)
    torch.manual_seed(5)
    torch.randn(3, 4, dtype=torch.float64)
    assert noise.device.type == "meta" and noise.dtype == torch.float64 and noise.shape == (3, 4)
    assert torch.equal(after_helper, torch.randn(2))  # the CPU generator made the draw


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name,system,params", [
    ("mlp", "toy_distractor", {"width": 32}),
    ("graph", "nbody_springs", {"regularizer": "kl"}),
    ("bottleneck", "qubit_tomography", {"latent_dim": 4}),
])
def test_cuda_training_matches_cpu(name, system, params):
    ds = get_system(system).sample(400, seed=0)
    cfg = dict(epochs=5, batch_size=64, progress=False, snapshots="none", seed=2)
    cpu = fit(build_model(name, ds, seed=2, **params), ds, TrainConfig(**cfg))
    gpu = fit(build_model(name, ds, seed=2, **params), ds, TrainConfig(**cfg, device="cuda"))
    a, b = cpu.model.predict(ds.X[:50]), gpu.model.predict(ds.X[:50])
    assert abs(cpu.final_val_loss - gpu.final_val_loss) <= 1e-3 * cpu.final_val_loss
    assert float(abs(a - b).max()) <= 1e-3 * float(abs(a).max())


def test_trajectory_data_are_validated_on_held_out_trajectories():
    from physlens.errors import DataError

    ds = get_system("nbody_springs").sample(400, seed=0)  # 8 trajectories of 50 steps
    traj = ds.groups()
    assert len(set(traj)) == 8
    res = fit(build_model("mlp", ds, width=8), ds, TrainConfig(epochs=1, progress=False, snapshots="none"))
    assert not set(traj[res.val_index]) & set(traj[res.train_index])
    assert abs(len(res.val_index) / ds.n - 0.2) < 0.1
    rows = fit(build_model("mlp", ds, width=8), ds, TrainConfig(epochs=1, progress=False, snapshots="none", split="rows"))
    assert set(traj[rows.val_index]) & set(traj[rows.train_index])  # random rows share trajectories
    plain = get_system("toy_distractor").sample(50)
    with pytest.raises(DataError, match="needs aux\\['trajectory'\\]"):
        plain.split_index(0.2, by="trajectories")
