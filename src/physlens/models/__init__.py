"""Emulators: models whose structure mirrors physics and whose insides can be read.

``build_model(name, dataset, seed, **params)`` builds one from the registry
(:data:`physlens.models.base.MODELS`); every model module registers itself with
:func:`register_model` and is imported on first use, and third-party packages add models
through the ``physlens.models`` entry-point group.
"""

from __future__ import annotations

from physlens.models.base import MODELS, Emulator, activation, build_model, model_registry, register_model
from physlens.models.predict import HeldoutError, heldout_error, predict_numpy


def _import_all() -> None:
    """Import every built-in model module and load the plug-ins (kept for older callers)."""
    MODELS.discover()


__all__ = ["MODELS", "Emulator", "build_model", "register_model", "model_registry", "activation", "predict_numpy",
           "heldout_error", "HeldoutError"]
