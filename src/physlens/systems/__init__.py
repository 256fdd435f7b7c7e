"""Physical systems with ground truth: classical, quantum, statistical, laws and real data.

``get_system(name, **params)`` builds one, its parameters validated by the system's pydantic
``Params``; ``list_systems()`` lists them with their one-line descriptions and
``system_parameters(name)`` their parameters. Each subpackage module registers its systems with
:func:`physlens.systems.base.register_system`; third-party packages add theirs through the
``physlens.systems`` entry-point group. Both are found on first use.
"""

from __future__ import annotations

from typing import Any

from physlens.systems.base import SYSTEMS, System, SystemParams, register_system, registry


def get_system(name: str, **params) -> System:
    """Build the system called ``name`` with parameters ``params`` (validated by its ``Params``).

    Example:
        >>> get_system("toy_distractor").truth.relevant_inputs
        ['x1', 'x2']
        >>> get_system("kepler", GM=-1)
        Traceback (most recent call last):
        ...
        physlens.errors.ParameterError: kepler: parameter GM must be greater than 0, got -1 (allowed: number > 0)
    """
    return SYSTEMS.get(name)(**params)


def list_systems() -> list[tuple[str, str, str]]:
    """``(name, category, description)`` for every registered system, sorted by category and name.

    Example:
        >>> any(n == "toy_distractor" for n, _, _ in list_systems())
        True
    """
    return sorted(((c.name, c.category, c.description) for c in registry().values()), key=lambda t: (t[1], t[0]))


def system_parameters(name: str) -> list[dict[str, Any]]:
    """The parameters of system ``name``: ``name``, ``type``, ``default``, ``allowed``, ``description`` each.

    Example:
        >>> [(p["name"], p["default"], p["allowed"]) for p in system_parameters("toy_distractor")][0]
        ('low', -2.0, 'number')
    """
    return SYSTEMS.get(name).describe_params()


def _import_all() -> None:
    """Import every built-in system module and load the plug-ins (kept for older callers)."""
    SYSTEMS.discover()


__all__ = ["System", "SystemParams", "register_system", "get_system", "list_systems", "system_parameters", "registry"]
