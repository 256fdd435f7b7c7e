"""Physical systems with ground truth: classical, quantum, statistical, laws and real data.

``get_system(name, **params)`` builds one; ``list_systems()`` lists them with
their one-line descriptions. Each subpackage module registers its systems with
:func:`physlens.systems.base.register_system`; they are imported on first use.
"""

from __future__ import annotations

import inspect

from physlens.plugins import import_submodules
from physlens.errors import ParameterError
from physlens.systems.base import System, register_system, registry


def _import_all() -> None:
    import_submodules(__name__, recursive=True)


def get_system(name: str, **params) -> System:
    """Build the system called ``name`` with parameters ``params``.

    Example:
        >>> get_system("toy_distractor").truth.relevant_inputs
        ['x1', 'x2']
    """
    systems = registry()
    if name not in systems:
        raise ParameterError(f"unknown system {name!r}; run `physlens systems` to list them")
    cls = systems[name]
    accepted = [n for n, q in inspect.signature(cls).parameters.items() if q.kind is q.KEYWORD_ONLY or
                q.kind is q.POSITIONAL_OR_KEYWORD]
    takes_any = any(q.kind is q.VAR_KEYWORD for q in inspect.signature(cls).parameters.values())
    unknown = [k for k in params if k not in accepted and not takes_any]
    if unknown:
        raise ParameterError(f"system {name!r} has no parameter {unknown[0]!r}; it takes: {', '.join(accepted) or 'none'}")
    return cls(**params)


def list_systems() -> list[tuple[str, str, str]]:
    """``(name, category, description)`` for every registered system, sorted by category and name.

    Example:
        >>> any(n == "toy_distractor" for n, _, _ in list_systems())
        True
    """
    return sorted(((c.name, c.category, c.description) for c in registry().values()), key=lambda t: (t[1], t[0]))


__all__ = ["System", "register_system", "get_system", "list_systems"]
