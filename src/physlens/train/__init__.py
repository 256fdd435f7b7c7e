"""The training engine shared by every emulator: ``fit(model, dataset, TrainConfig)``."""

from physlens.train.checkpoint import load_checkpoint, load_model, save_checkpoint, save_weights
from physlens.train.fit import TrainConfig, TrainResult, fit, load_snapshot, relative_error, resolve_device, snapshot_epochs
from physlens.train.defaults import default_train_config, train_default

__all__ = [
    "TrainConfig",
    "TrainResult",
    "fit",
    "load_snapshot",
    "relative_error",
    "resolve_device",
    "snapshot_epochs",
    "save_checkpoint",
    "load_checkpoint",
    "save_weights",
    "load_model",
    "default_train_config",
    "train_default",
]
