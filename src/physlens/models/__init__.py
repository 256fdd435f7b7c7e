"""Emulators: models whose structure mirrors physics and whose insides can be read.

``build_model(name, dataset, seed, **params)`` builds one from the registry;
every model module registers itself and is imported on first use.
"""

from __future__ import annotations

import importlib
import pkgutil

from physlens.models.base import Emulator, activation, build_model, model_registry, register_model

_IMPORTED = False


def _import_all() -> None:
    global _IMPORTED
    if _IMPORTED:
        return
    _IMPORTED = True
    for sub in pkgutil.iter_modules(__path__):
        if sub.name != "base":
            importlib.import_module(f"{__name__}.{sub.name}")


__all__ = ["Emulator", "build_model", "register_model", "model_registry", "activation"]
