"""The default emulator and training recipe used when a user just hands over a file.

``train_default(dataset)`` builds an MLP sized to the data and trains it with
early stopping; the CLI commands ``discover``, ``symmetries`` and ``equations``
use it so that every command reads the same kind of model.
"""

from __future__ import annotations

from pathlib import Path

from physlens.data.dataset import Dataset
from physlens.train.fit import TrainConfig, TrainResult, fit


def default_train_config(dataset: Dataset, seed: int = 0, progress: bool = True, **overrides) -> TrainConfig:
    """A training recipe scaled to the dataset: more epochs for small data, capped for large data.

    Example:
        >>> from physlens.systems import get_system
        >>> cfg = default_train_config(get_system("toy_distractor").sample(2000))
        >>> cfg.epochs, cfg.batch_size
        (200, 128)
    """
    n = dataset.n
    epochs = int(min(400, max(200, 400_000 // max(n, 1))))
    batch = 128 if n <= 5000 else 256
    opts = dict(epochs=epochs, batch_size=batch, lr=3e-3, patience=40, seed=seed, progress=progress)
    opts.update(overrides)
    return TrainConfig(**opts)


def train_default(
    dataset: Dataset,
    seed: int = 0,
    progress: bool = True,
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
    model: str = "mlp",
    model_params: dict | None = None,
    **overrides,
) -> TrainResult:
    """Build the default emulator (an MLP, width 64, depth 3, SiLU) and train it.

    Example:
        >>> from physlens.systems import get_system
        >>> ds = get_system("toy_distractor").sample(300)
        >>> train_default(ds, progress=False, epochs=5).epochs_run
        5
    """
    from physlens.models import build_model

    params = {"width": 64, "depth": 3} if model == "mlp" else {}
    params.update(model_params or {})
    net = build_model(model, dataset, seed=seed, **params)
    cfg = default_train_config(dataset, seed=seed, progress=progress, **overrides)
    return fit(net, dataset, cfg, checkpoint_dir=checkpoint_dir, resume=resume)
