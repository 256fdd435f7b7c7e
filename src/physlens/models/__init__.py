"""Emulators: models whose structure mirrors physics and whose insides can be read.

``build_model(name, dataset, seed, **params)`` builds one from the registry;
every model module registers itself and is imported on first use.
"""

from __future__ import annotations

from physlens.plugins import import_submodules
from physlens.models.base import Emulator, activation, build_model, model_registry, register_model


def _import_all() -> None:
    import_submodules(__name__)


__all__ = ["Emulator", "build_model", "register_model", "model_registry", "activation"]
