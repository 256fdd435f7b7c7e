"""Import every module of a package once, so that modules which register themselves
(systems, models, scorers, CLI commands) are found without a central list."""

from __future__ import annotations

import functools
import importlib
import pkgutil
from types import ModuleType


@functools.cache
def import_submodules(package: str, recursive: bool = False, skip: tuple[str, ...] = ("base",)) -> tuple[ModuleType, ...]:
    """Import the submodules of ``package`` (once; later calls return the cached modules).

    Modules whose last name part is in ``skip`` or starts with ``_`` are left out.

    Example:
        >>> "physlens.scoring.conserved" in [m.__name__ for m in import_submodules("physlens.scoring")]
        True
    """
    pkg = importlib.import_module(package)
    walker = pkgutil.walk_packages if recursive else pkgutil.iter_modules
    modules = []
    for sub in sorted(walker(pkg.__path__, prefix=f"{package}."), key=lambda m: m.name):
        last = sub.name.rsplit(".", 1)[-1]
        if last in skip or last.startswith("_"):
            continue
        modules.append(importlib.import_module(sub.name))
    return tuple(modules)
