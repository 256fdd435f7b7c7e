"""Probes: the tools that read a trained model.

Every probe is a module (or package) here with

* ``run(model, dataset, **options) -> list[Finding]`` — the reader itself; a
  module docstring names the method it follows;
* ``applies(dataset) -> str | None`` — None when the probe can read this data,
  else one line saying why not (``discover`` runs every probe that applies and
  prints that line for the others); a probe without it applies everywhere;
  ``applies(dataset, options)`` also sees the options the probe was asked to run with;
* optional ``REQUIRES = {"relative_error": 0.03}`` — the fit quality the probe
  needs from the emulator (relative RMS error on held-out rows, the square
  root of the standardised validation loss): the study runner trains until the
  strictest requirement of its probes is met or its time is spent, and says
  so when it was not met;
* optional ``NEEDS_MODEL = False`` — the probe reads the data only (a study of
  such probes trains no emulator), or a callable ``NEEDS_MODEL(options) -> bool``;
* optional ``COST`` — the probe's relative share of the probe time budget
  (default 1); a probe whose ``run`` accepts ``budget_seconds`` receives its
  share of the study's budget.

The runner also hands a probe, when its ``run`` names them: ``seed``; ``heldout``
(the validation rows); ``training`` (the :class:`~physlens.train.fit.TrainResult`:
history, weight snapshots, training rows); ``findings`` (the other probes' findings;
such a probe runs after them, as ``emergence`` and ``conservation`` do).

A probe never writes files and never looks at ``dataset.truth`` (only
:func:`physlens.findings.score` does). Third-party probes register through the
``physlens.probes`` entry-point group (a module with the same attributes).

``get_probe(name)`` returns the ``run`` function, ``probe_spec(name)`` the whole
:class:`ProbeSpec`, ``list_probes()`` the names with one-line descriptions. All read
:data:`PROBES`, the probes' :class:`physlens.plugins.Registry` (the one registry systems,
models, scorers and commands use too); a plug-in that fails to load is left out with one
warning line and never shadows a built-in probe of the same name.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from physlens.errors import ConfigError
from physlens.plugins import Registry, unknown_name_message

_PRIVATE = {"base"}
ENTRY_POINT_GROUP = "physlens.probes"


@dataclass(frozen=True)
class ProbeSpec:
    """What the study runner needs to know about a probe.

    Attributes:
        name: registry name (``physlens probes`` lists them).
        description: first line of the module docstring.
        run: ``run(model, dataset, **options) -> list[Finding]``.
        applies: ``applies(dataset) -> str | None`` (None: it can run).
        requires: fit quality the probe needs, e.g. ``{"relative_error": 0.03}``.
        needs_model: ``needs_model(options) -> bool``: whether an emulator must be trained.
        cost: relative share of the probe time budget.
        options: names of the keyword options ``run`` declares.
        open_options: whether ``run`` also takes any other keyword (``**kwargs``).

    Example:
        >>> spec = probe_spec("attribution")
        >>> spec.name, spec.needs_model({}), spec.accepts("seed")
        ('attribution', True, True)
    """

    name: str
    description: str
    run: Callable
    applies: Callable[[Any], str | None]
    requires: dict = field(default_factory=dict)
    needs_model: Callable[[dict], bool] = lambda options: True
    cost: float = 1.0
    options: frozenset = frozenset()
    open_options: bool = False

    def accepts(self, option: str) -> bool:
        """Whether ``run`` takes the keyword ``option`` (declared, or through ``**kwargs``).

        Example:
            >>> probe_spec("attribution").accepts("no_such_option")
            False
        """
        return self.open_options or option in self.options

    def declares(self, option: str) -> bool:
        """Whether ``run`` names the keyword ``option`` itself (the runner passes budgets and seeds only then).

        Example:
            >>> probe_spec("attribution").declares("seed")
            True
        """
        return option in self.options

    def why_not(self, dataset, options: dict | None = None) -> str | None:
        """``applies(dataset)``, with a probe's own error turned into the one-line reason.

        A probe whose ``applies`` takes a second parameter also sees the options it would run with
        (a question column named on the command line makes a user's file a concept task).

        Example:
            >>> from physlens.systems import get_system
            >>> probe_spec("attribution").why_not(get_system("toy_distractor").sample(50)) is None
            True
        """
        try:
            if _takes_options(self.applies):
                reason = self.applies(dataset, dict(options or {}))
            else:
                reason = self.applies(dataset)
        except Exception as exc:  # a probe's own check failing is a reason, never a traceback
            return f"could not check whether it applies: {type(exc).__name__}: {exc}"
        return None if reason is None else str(reason).strip().splitlines()[0]


def _takes_options(fn: Callable) -> bool:
    try:
        params = [p for p in inspect.signature(fn).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        return False
    return len(params) >= 2


def _always(dataset) -> None:
    return None


def _spec_from_module(name: str, mod: ModuleType) -> ProbeSpec:
    run = mod.run
    params = inspect.signature(run).parameters
    open_options = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    options = frozenset(n for n, p in list(params.items())[2:] if p.kind is not inspect.Parameter.VAR_KEYWORD)
    needs = getattr(mod, "NEEDS_MODEL", True)
    needs_fn = needs if callable(needs) else (lambda options, _v=bool(needs): _v)
    doc = (mod.__doc__ or "").strip().splitlines()
    return ProbeSpec(
        name=name,
        description=doc[0] if doc else "",
        run=run,
        applies=getattr(mod, "applies", _always),
        requires=dict(getattr(mod, "REQUIRES", {}) or {}),
        needs_model=needs_fn,
        cost=float(getattr(mod, "COST", 1.0)),
        options=options,
        open_options=open_options,
    )


def _adopt_probe(name: str, obj: Any) -> ProbeSpec | None:
    """A built-in module, or an entry point of ``physlens.probes`` (a module with ``run``, or a ProbeSpec)."""
    if isinstance(obj, ProbeSpec):
        return obj
    if isinstance(obj, ModuleType):
        return _spec_from_module(name, obj) if callable(getattr(obj, "run", None)) else None
    raise TypeError("a probe plug-in must be a module with run(model, dataset, **options)")


#: every probe: the modules of this package, then plug-ins of the ``physlens.probes`` entry-point group
#: (a plug-in never shadows a built-in probe of the same name)
PROBES: Registry[ProbeSpec] = Registry("probe", package=__name__, entry_point_group=ENTRY_POINT_GROUP,
                                       skip=tuple(_PRIVATE), adopt=_adopt_probe)


def _registry() -> dict[str, ProbeSpec]:
    return PROBES.as_dict()


def list_probes() -> list[tuple[str, str]]:
    """``(name, description)`` of every probe (built-in modules and entry-point plug-ins).

    Example:
        >>> "attribution" in dict(list_probes())
        True
    """
    return [(name, spec.description) for name, spec in _registry().items()]


def probe_spec(name: str) -> ProbeSpec:
    """The :class:`ProbeSpec` of probe ``name`` (a one-line error names the available ones).

    Example:
        >>> probe_spec("symmetry").requires["relative_error"] > 0
        True
    """
    builtin = _builtin_spec(name)
    if builtin is not None:  # a built-in probe: no need to import every other probe to find it
        return builtin
    specs = _registry()
    if name not in specs:
        raise ConfigError(unknown_name_message("probe", name, list(specs)))
    return specs[name]


def _builtin_spec(name: str) -> ProbeSpec | None:
    """The spec of the built-in probe module ``name`` (importing that module only), or None."""
    import importlib.util

    if not name.isidentifier() or name in _PRIVATE or importlib.util.find_spec(f"{__name__}.{name}") is None:
        return None
    return _adopt_probe(name, importlib.import_module(f"{__name__}.{name}"))


def get_probe(name: str) -> Callable:
    """The ``run`` function of probe ``name``.

    Example:
        >>> get_probe("attribution").__name__
        'run'
    """
    return probe_spec(name).run


def applicable_probes(dataset) -> list[tuple[str, str | None]]:
    """``(name, reason)`` for every probe: reason None when it applies to ``dataset``.

    Example:
        >>> from physlens.systems import get_system
        >>> dict(applicable_probes(get_system("toy_distractor").sample(50)))["attribution"] is None
        True
    """
    return [(name, spec.why_not(dataset)) for name, spec in _registry().items()]


def too_few_rows(dataset, minimum: int, purpose: str) -> str | None:
    """The ``applies`` line of a probe that needs ``minimum`` rows to ``purpose``; None when there are enough.

    Example:
        >>> from physlens.systems import get_system
        >>> too_few_rows(get_system("toy_distractor").sample(10), 20, "tell a suspect row from the rest")
        'only 10 rows: too few to tell a suspect row from the rest (needs 20)'
    """
    if dataset.n < minimum:
        return f"only {dataset.n} rows: too few to {purpose} (needs {minimum})"
    return None


__all__ = ["PROBES", "ProbeSpec", "applicable_probes", "get_probe", "list_probes", "probe_spec", "too_few_rows"]
