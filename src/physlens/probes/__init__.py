"""Probes: the tools that read a trained model.

Every probe is a module here with a function ``run(model, dataset, **options) -> list[Finding]``
and a module docstring naming the method it follows. A probe never writes
files and never looks at ``dataset.truth`` (only :func:`physlens.findings.score` does).

``get_probe(name)`` returns the ``run`` function; ``list_probes()`` the names
with one-line descriptions (the first line of the module docstring).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable

from physlens.errors import ConfigError

_PRIVATE = {"base"}


def list_probes() -> list[tuple[str, str]]:
    """``(name, description)`` of every probe module that has a ``run`` function.

    Example:
        >>> "attribution" in dict(list_probes())
        True
    """
    out = []
    for sub in pkgutil.iter_modules(__path__):
        if sub.name.startswith("_") or sub.name in _PRIVATE:
            continue
        mod = importlib.import_module(f"{__name__}.{sub.name}")
        if callable(getattr(mod, "run", None)):
            doc = (mod.__doc__ or "").strip().splitlines()
            out.append((sub.name, doc[0] if doc else ""))
    return sorted(out)


def get_probe(name: str) -> Callable:
    """The ``run`` function of probe ``name``.

    Example:
        >>> get_probe("attribution").__name__
        'run'
    """
    names = dict(list_probes())
    if name not in names:
        raise ConfigError(f"unknown probe {name!r}; available: {', '.join(sorted(names))}")
    return importlib.import_module(f"{__name__}.{name}").run


__all__ = ["get_probe", "list_probes"]
