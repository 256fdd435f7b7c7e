"""One training loop for every emulator.

``fit(model, dataset, TrainConfig)`` does a seeded train/validation split
(whole trajectories held out when the data are trajectories: a row held out
between two training rows of its trajectory only tests interpolation in time;
on 4-body springs a plain MLP scored 6 % on held-out rows and over 100 % on
held-out trajectories),
mini-batch Adam(W) with an optional learning-rate schedule and gradient
clipping, early stopping on the validation loss (restoring the best weights),
a Rich progress bar on stderr, snapshots of the weights at log-spaced epochs,
and checkpoints (safetensors, atomic) from which ``resume=True`` carries on
bit-for-bit: the shuffle of each epoch is derived from (seed, epoch), so an
interrupted and resumed run follows exactly the path of an uninterrupted one.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from physlens.data.dataset import Dataset
from physlens.errors import CheckpointError, ConfigError
from physlens.train.checkpoint import load_checkpoint, save_checkpoint, save_weights


class TrainConfig(BaseModel):
    """Training options (validated).

    Example:
        >>> TrainConfig(epochs=10, lr=1e-3).batch_size
        256
    """

    model_config = ConfigDict(extra="forbid")

    epochs: int = Field(300, ge=1)
    batch_size: int = Field(256, ge=1)
    lr: float = Field(3e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    val_fraction: float = Field(0.2, gt=0, lt=1)
    split: Literal["auto", "rows", "trajectories"] = Field(
        "auto", description="hold out whole trajectories (auto: when the data have 5 or more) or random rows")
    patience: int = Field(40, ge=1, description="epochs without validation improvement before stopping")
    min_delta: float = Field(0.0, ge=0, description="relative improvement that counts")
    schedule: Literal["cosine", "plateau", "none"] = "cosine"
    grad_clip: float | None = Field(1.0, gt=0)
    seed: int = 0
    device: str = "cpu"
    checkpoint_every: int = Field(5, ge=1)
    snapshots: Literal["log", "none"] | list[int] = "log"
    n_snapshots: int = Field(10, ge=1)
    restore_best: bool = True
    progress: bool = True
    max_seconds: float | None = Field(
        None, gt=0, description="wall-clock cap: stop after the epoch that passes it (the study's time budget); "
                                "None trains for the full epochs/patience, which alone is reproducible")


@dataclass
class TrainResult:
    """What :func:`fit` returns.

    Attributes:
        model: the trained model (best validation weights when ``restore_best``).
        history: one dict per epoch: epoch, train_loss, val_loss, lr.
        best_val_loss, final_train_loss, final_val_loss: losses of the returned model.
        epochs_run: epochs completed (including those before a resume).
        stopped_early: whether early stopping ended training.
        snapshots: ``(epoch, state_dict)`` pairs taken during training (CPU tensors);
            rewind a model with :func:`load_snapshot`.
        train_index, val_index: the rows used for training and validation.

    Example:
        >>> from physlens.systems import get_system
        >>> from physlens.models import build_model
        >>> ds = get_system("toy_distractor").sample(100)
        >>> fit(build_model("mlp", ds), ds, TrainConfig(epochs=2, progress=False)).summary()["epochs_run"]
        2
    """

    model: torch.nn.Module
    history: list[dict[str, float]]
    best_val_loss: float
    final_train_loss: float
    final_val_loss: float
    epochs_run: int
    stopped_early: bool
    stopped_by: str = "epochs"
    snapshots: list[tuple[int, dict[str, torch.Tensor]]] = field(default_factory=list)
    train_index: np.ndarray | None = None
    val_index: np.ndarray | None = None
    device: str = "cpu"

    def summary(self) -> dict[str, Any]:
        """Numbers worth printing or saving."""
        return {
            "best_val_loss": self.best_val_loss,
            "final_train_loss": self.final_train_loss,
            "final_val_loss": self.final_val_loss,
            "epochs_run": self.epochs_run,
            "stopped_early": self.stopped_early,
            "stopped_by": self.stopped_by,
            "relative_error": relative_error(self.best_val_loss),
            "device": self.device,
        }


def relative_error(val_loss: float) -> float:
    """Relative RMS error of a model from its validation loss (MSE in standardised target units).

    An emulator's loss is the mean squared error with every target scaled to unit
    variance, so its square root is the RMS error as a fraction of the targets' spread.

    Example:
        >>> relative_error(0.0004)
        0.02
    """
    return float(math.sqrt(max(val_loss, 0.0))) if math.isfinite(val_loss) else float("inf")


def resolve_device(name: str) -> torch.device:
    """``"auto"`` -> cuda when present else cpu; otherwise validate the name.

    Example:
        >>> resolve_device("cpu").type
        'cpu'
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device {name!r}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' requested but no GPU is available")
    return dev


def snapshot_epochs(cfg: TrainConfig) -> set[int]:
    """Epochs (1-based) at which weights are snapshotted.

    Example:
        >>> sorted(snapshot_epochs(TrainConfig(epochs=100, n_snapshots=4)))
        [1, 5, 22, 100]
    """
    if cfg.snapshots == "none":
        return set()
    if isinstance(cfg.snapshots, list):
        return {int(e) for e in cfg.snapshots if 1 <= e <= cfg.epochs}
    return {int(round(v)) for v in np.logspace(0, math.log10(cfg.epochs), cfg.n_snapshots)}


def _epoch_permutation(n: int, seed: int, epoch: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(int(seed) * 1_000_003 + int(epoch))
    return torch.randperm(n, generator=g)


def _epoch_noise_seed(seed: int, epoch: int) -> int:
    return (int(seed) * 1_000_003 + int(epoch) * 7919 + 12345) % (2**63 - 1)


def load_snapshot(model: torch.nn.Module, state: dict[str, torch.Tensor] | tuple[int, dict[str, torch.Tensor]]) -> torch.nn.Module:
    """Load one snapshot (a state dict, or an ``(epoch, state_dict)`` pair from ``TrainResult.snapshots``) into ``model``.

    Snapshots are stored on the CPU; the tensors are copied onto the device
    and dtype of ``model``'s own parameters, so a model trained on a GPU can
    be rewound in place. Returns ``model`` (in eval mode) for chaining.

    Example:
        >>> from physlens.systems import get_system
        >>> from physlens.models import build_model
        >>> ds = get_system("toy_distractor").sample(128)
        >>> res = fit(build_model("mlp", ds, width=8), ds, TrainConfig(epochs=4, n_snapshots=2, progress=False))
        >>> epoch, _ = res.snapshots[0]
        >>> load_snapshot(res.model, res.snapshots[0]) is res.model, epoch
        (True, 1)
    """
    if isinstance(state, tuple):
        state = state[1]
    if not isinstance(state, dict):
        raise CheckpointError(f"a snapshot must be a state dict or an (epoch, state_dict) pair, got {type(state).__name__}")
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise CheckpointError(f"snapshot does not fit model {getattr(model, 'name', type(model).__name__)!r}: {exc}") from None
    model.eval()
    return model


def _make_scheduler(cfg: TrainConfig, opt: torch.optim.Optimizer):
    if cfg.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs, eta_min=cfg.lr * 0.01)
    if cfg.schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=max(2, cfg.patience // 4))
    return None


def _mean_loss(model, X: torch.Tensor, Y: torch.Tensor, batch: int = 8192) -> float:
    total, count = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(X), batch):
            loss, _ = model.training_loss(X[i : i + batch], Y[i : i + batch])
            total += float(loss) * len(X[i : i + batch])
            count += len(X[i : i + batch])
    return total / max(count, 1)


def fit(
    model: torch.nn.Module,
    dataset: Dataset,
    config: TrainConfig | None = None,
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
    callback: Callable[[int, dict[str, float]], None] | None = None,
) -> TrainResult:
    """Train ``model`` on ``dataset``; see the module docstring for what happens.

    Args:
        model: an :class:`~physlens.models.Emulator` (anything with ``training_loss``).
        dataset: the data; split into train/validation with ``config.seed``.
        config: :class:`TrainConfig`.
        checkpoint_dir: where ``last.safetensors`` and ``snapshots/`` go (None: no files).
        resume: continue from ``checkpoint_dir/last.safetensors``.
        callback: called after every epoch with (epoch, logs); may raise to stop.

    Example:
        >>> from physlens.systems import get_system
        >>> from physlens.models import build_model
        >>> ds = get_system("toy_distractor").sample(256)
        >>> res = fit(build_model("mlp", ds, width=16), ds, TrainConfig(epochs=3, progress=False))
        >>> res.epochs_run
        3
    """
    cfg = config or TrainConfig()
    device = resolve_device(cfg.device)
    if dataset.n < 4:
        raise ConfigError(f"need at least 4 samples to train, got {dataset.n}")
    train_idx, val_idx = dataset.split_index(cfg.val_fraction, cfg.seed, cfg.split)

    if hasattr(model, "adapt"):
        model.adapt(dataset.X[train_idx], dataset.y[train_idx])
    model.to(device)
    dtype = next(model.parameters()).dtype
    Xt = torch.as_tensor(dataset.X[train_idx], dtype=dtype, device=device)
    Yt = torch.as_tensor(dataset.y[train_idx], dtype=dtype, device=device)
    Xv = torch.as_tensor(dataset.X[val_idx], dtype=dtype, device=device)
    Yv = torch.as_tensor(dataset.y[val_idx], dtype=dtype, device=device)

    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = _make_scheduler(cfg, opt)
    snap_at = snapshot_epochs(cfg)
    ckpt_path = Path(checkpoint_dir) / "last.safetensors" if checkpoint_dir else None

    history: list[dict[str, float]] = []
    best_val = math.inf
    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    bad_epochs = 0
    start_epoch = 1
    snapshots: list[tuple[int, dict[str, torch.Tensor]]] = []
    stopped_early = False

    if resume:
        if ckpt_path is None:
            raise CheckpointError("resume needs a checkpoint directory")
        state = load_checkpoint(ckpt_path)
        if state.get("train_config") != cfg.model_dump(exclude={"progress", "device"}):
            raise CheckpointError(f"checkpoint {ckpt_path} was written with different training options")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optim"])
        if sched is not None and state.get("sched") is not None:
            sched.load_state_dict(state["sched"])
        history = state["history"]
        best_val = float(state["best_val"])
        best_state = {k: v.to(device) for k, v in state["best"].items()}
        bad_epochs = int(state["bad_epochs"])
        start_epoch = int(state["epoch"]) + 1
        stopped_early = bool(state.get("stopped_early", False))
        for p in sorted((ckpt_path.parent / "snapshots").glob("epoch_*.safetensors")):
            snap_epoch = int(p.stem.split("_")[1])
            if snap_epoch < start_epoch:
                snapshots.append((snap_epoch, load_checkpoint(p)["model"]))

    def save(epoch: int) -> None:
        if ckpt_path is None:
            return
        save_checkpoint(
            ckpt_path,
            {
                "config": getattr(model, "config", {}),
                "train_config": cfg.model_dump(exclude={"progress", "device"}),
                "model": model.state_dict(),
                "optim": opt.state_dict(),
                "sched": sched.state_dict() if sched is not None else None,
                "history": history,
                "best_val": best_val,
                "best": best_state,
                "bad_epochs": bad_epochs,
                "epoch": epoch,
                "stopped_early": stopped_early,
            },
        )

    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(
        TextColumn("[bold]training[/] {task.fields[name]}"),
        BarColumn(),
        TextColumn("epoch {task.completed}/{task.total}"),
        TextColumn("val {task.fields[val]}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
        disable=not cfg.progress,
    )
    n_train = len(Xt)
    bs = min(cfg.batch_size, n_train)
    stopped_by = "patience" if stopped_early else "epochs"
    t_start = time.perf_counter()
    with progress:
        task = progress.add_task("train", total=cfg.epochs, completed=start_epoch - 1,
                                 name=getattr(model, "name", "model"), val="-")
        epoch = start_epoch - 1
        for epoch in range(start_epoch, cfg.epochs + 1):
            if stopped_early:
                break
            model.train()
            order = _epoch_permutation(n_train, cfg.seed, epoch).to(device)
            total, logs_sum = 0.0, {}
            # Stochastic models (VAE bottlenecks, KL messages) draw their noise from
            # torch's global generator; seeding it from (seed, epoch) inside a forked
            # RNG state keeps resume bit-exact for them too and leaves the caller's
            # generator untouched. Deterministic models are unaffected.
            with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                torch.manual_seed(_epoch_noise_seed(cfg.seed, epoch))
                for i in range(0, n_train, bs):
                    idx = order[i : i + bs]
                    loss, logs = model.training_loss(Xt[idx], Yt[idx])
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    if cfg.grad_clip is not None:
                        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                    opt.step()
                    total += float(loss.detach()) * len(idx)
                    for k, v in logs.items():
                        logs_sum[k] = logs_sum.get(k, 0.0) + float(v) * len(idx)
            model.eval()
            val_loss = _mean_loss(model, Xv, Yv)
            lr = opt.param_groups[0]["lr"]
            if sched is not None:
                sched.step(val_loss) if cfg.schedule == "plateau" else sched.step()
            record = {"epoch": epoch, "train_loss": total / n_train, "val_loss": val_loss, "lr": lr}
            record.update({k: v / n_train for k, v in logs_sum.items()})
            history.append(record)
            if not math.isfinite(val_loss):
                raise ConfigError(f"training diverged at epoch {epoch} (validation loss {val_loss}); lower the learning rate")
            if val_loss < best_val * (1 - cfg.min_delta) - 1e-15:
                best_val = val_loss
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                bad_epochs = 0
            else:
                bad_epochs += 1
            if epoch in snap_at:
                snap = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
                snapshots.append((epoch, snap))
                if ckpt_path is not None:
                    save_weights(ckpt_path.parent / "snapshots" / f"epoch_{epoch:05d}.safetensors", model)
            if bad_epochs >= cfg.patience:
                stopped_early, stopped_by = True, "patience"
            elif cfg.max_seconds is not None and time.perf_counter() - t_start > cfg.max_seconds and epoch < cfg.epochs:
                stopped_early, stopped_by = True, "time"
            if epoch % cfg.checkpoint_every == 0 or stopped_early or epoch == cfg.epochs:
                save(epoch)
            progress.update(task, completed=epoch, val=f"{val_loss:.3g}")
            if callback is not None:
                callback(epoch, record)

    if cfg.restore_best:
        model.load_state_dict(best_state)
    model.eval()
    final_train = _mean_loss(model, Xt, Yt)
    final_val = _mean_loss(model, Xv, Yv)
    if ckpt_path is not None:
        save_weights(ckpt_path.parent / "model.safetensors", model)
    return TrainResult(
        model=model,
        history=history,
        best_val_loss=best_val,
        final_train_loss=final_train,
        final_val_loss=final_val,
        epochs_run=history[-1]["epoch"] if history else 0,
        stopped_early=stopped_early,
        stopped_by=stopped_by,
        snapshots=snapshots,
        train_index=train_idx,
        val_index=val_idx,
        device=str(device),
    )
