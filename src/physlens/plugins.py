"""One registry for everything physlens finds by name: systems, models, probes, scorers and commands.

A :class:`Registry` holds the objects of one kind by name. Built-in ones are found by importing
every module of their package once (a new file is a new entry: modules register themselves with
:meth:`Registry.register` on import, or are adopted as they are, as probes and commands are);
third-party ones through a Python entry-point group such as ``physlens.systems`` or
``physlens.probes`` (declared in the plug-in's ``pyproject.toml``, see ``examples/plugin/``).
Discovery is lazy: it runs on the first lookup, not on import.

A plug-in that fails to load never stops physlens: it is left out with one :class:`PluginWarning`
line that names it and says why.
"""

from __future__ import annotations

import difflib
import functools
import importlib
import pkgutil
import warnings
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any, Generic, TypeVar

from physlens.errors import ConfigError, PhyslensError

T = TypeVar("T")


class PluginWarning(UserWarning):
    """A third-party plug-in (an entry point) could not be loaded and was left out."""


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


def warn_plugin(group: str, name: str, value: str, exc: BaseException | str) -> None:
    """Warn, in one line, that the plug-in ``name`` (entry point ``value`` in ``group``) was left out.

    Example:
        >>> import warnings
        >>> with warnings.catch_warnings(record=True) as seen:
        ...     warnings.simplefilter("always")
        ...     warn_plugin("physlens.probes", "broken", "pkg.mod", ImportError("no module named pkg"))
        >>> str(seen[0].message)
        "plug-in 'broken' (physlens.probes = pkg.mod) left out: ImportError: no module named pkg"
    """
    why = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
    line = " ".join(str(why).split())
    warnings.warn(f"plug-in {name!r} ({group} = {value}) left out: {line}", PluginWarning, stacklevel=3)


def close_names(name: str, names: list[str], n: int = 3) -> list[str]:
    """The registered names closest to a misspelt ``name`` (difflib ratio >= 0.6), best first.

    Example:
        >>> close_names("keplr", ["kepler", "lorenz", "rabi"])
        ['kepler']
    """
    return difflib.get_close_matches(str(name), names, n=n, cutoff=0.6)


def unknown_name_message(kind: str, name: str, names: list[str], hint: str | None = None) -> str:
    """The one line for an unknown ``name`` of ``kind``: close names first, then ``hint`` or every name.

    Example:
        >>> unknown_name_message("probe", "symetry", ["attribution", "symmetry"])
        "unknown probe 'symetry' (did you mean 'symmetry'?); available: attribution, symmetry"
    """
    names = sorted(names)
    close = close_names(name, names)
    guess = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
    return f"unknown {kind} {name!r}{guess}; {hint or 'available: ' + (', '.join(names) or 'none')}"


def adopt_subclasses(base: type, register: Callable[[type], Any]) -> Callable[[str, Any], None]:
    """An ``adopt`` for entry points naming a module that registers its classes on import, or a subclass
    of ``base`` (handed to ``register``); anything else is refused with a TypeError.

    Example:
        >>> seen = []
        >>> adopt = adopt_subclasses(int, seen.append)
        >>> adopt("flag", bool), seen
        (None, [<class 'bool'>])
    """

    def adopt(name: str, obj: Any) -> None:
        if isinstance(obj, type) and issubclass(obj, base):
            register(obj)
            return None
        if isinstance(obj, ModuleType):
            return None
        raise TypeError(f"{obj!r} is neither a {base.__name__} subclass nor a module")

    return adopt


class Registry(Generic[T]):
    """The objects of one ``kind`` by name, discovered lazily from a package and an entry-point group.

    Args:
        kind: what is registered, for messages ("system", "probe", ...).
        package: the package whose submodules hold the built-in entries (imported on first lookup).
        entry_point_group: the entry-point group third-party packages declare (``physlens.systems``).
        recursive: walk sub-packages of ``package`` too.
        skip: module names of ``package`` that are not entries (``base``).
        adopt: ``adopt(name, obj) -> entry or None`` turns a discovered module or entry-point object
            into an entry; None means "nothing to add" (a module that registered itself on import).
            Without it, entry-point objects are registered as they are and modules are only imported.
        error: the :class:`~physlens.errors.PhyslensError` an unknown name raises.
        hint: the end of that message; default "available: <names>".
        table: an existing dict to keep the entries in (so older lookups of that dict still work).

    Example:
        >>> shapes = Registry("shape")
        >>> @shapes.register("square")
        ... def square(a):
        ...     return a * a
        >>> shapes.get("square")(3), shapes.names()
        (9, ['square'])
        >>> shapes.get("sqare")
        Traceback (most recent call last):
        ...
        physlens.errors.ConfigError: unknown shape 'sqare' (did you mean 'square'?); available: square
    """

    def __init__(
        self,
        kind: str,
        package: str | None = None,
        entry_point_group: str | None = None,
        *,
        recursive: bool = False,
        skip: tuple[str, ...] = ("base",),
        adopt: Callable[[str, Any], T | None] | None = None,
        error: type[PhyslensError] = ConfigError,
        hint: str | None = None,
        table: dict[str, T] | None = None,
    ) -> None:
        self.kind = kind
        self.package = package
        self.entry_point_group = entry_point_group
        self.recursive = recursive
        self.skip = tuple(skip)
        self.adopt = adopt
        self.error = error
        self.hint = hint
        self._table: dict[str, T] = {} if table is None else table
        self._state = "new"  # new -> discovering -> done
        self.plugins: dict[str, str] = {}  # entry-point name -> "module:attr" of the plug-ins loaded

    # ------------------------------------------------------------------ registering
    def register(self, name: str | None = None) -> Callable[[T], T]:
        """Decorator adding an object under ``name`` (default: the object's ``name`` attribute).

        Example:
            >>> r = Registry("thing")
            >>> class Box:
            ...     name = "box"
            >>> r.register()(Box) is Box, r.names()
            (True, ['box'])
        """

        def deco(obj: T) -> T:
            key = name if name is not None else getattr(obj, "name", "")
            if not key:
                raise TypeError(f"{getattr(obj, '__name__', obj)!r} has no name to register it under")
            self._table[str(key)] = obj
            return obj

        return deco

    def add(self, name: str, obj: T) -> T:
        """Add ``obj`` under ``name`` (replacing an entry of that name); returns ``obj``.

        Example:
            >>> Registry("thing").add("one", 1)
            1
        """
        self._table[str(name)] = obj
        return obj

    def remove(self, name: str) -> None:
        """Take ``name`` out of the registry (no error when it is not there).

        Example:
            >>> r = Registry("thing"); _ = r.add("one", 1); r.remove("one"); r.names()
            []
        """
        self._table.pop(str(name), None)
        self.plugins.pop(str(name), None)

    # ------------------------------------------------------------------ discovery
    def discover(self) -> None:
        """Import the built-in modules and load the entry points, once (later calls return at once).

        Example:
            >>> r = Registry("scorer module", package="physlens.scoring", skip=())
            >>> r.discover(); r.discover()
        """
        if self._state != "new":
            return  # done, or under way higher up the stack (a module importing the registry)
        self._state = "discovering"
        try:
            if self.package is not None:
                for mod in import_submodules(self.package, self.recursive, self.skip):
                    self._adopt(mod.__name__.rsplit(".", 1)[-1], mod)
            if self.entry_point_group is not None:
                self._load_entry_points()
        finally:
            self._state = "done"

    def _adopt(self, name: str, obj: Any) -> bool:
        """Add what ``obj`` brings; return whether the registry now holds something from it."""
        entry = self.adopt(name, obj) if self.adopt is not None else (None if isinstance(obj, ModuleType) else obj)
        if entry is not None:
            self._table.setdefault(name, entry)  # a built-in name is never shadowed
            return True
        if isinstance(obj, ModuleType):  # a module that registered its entries on import
            prefix = obj.__name__
            return any(getattr(e, "__module__", "") in (prefix,) or
                       str(getattr(e, "__module__", "")).startswith(prefix + ".") for e in self._table.values())
        return any(e is obj for e in self._table.values())  # an object the adopter registered itself

    def _load_entry_points(self) -> None:
        from importlib.metadata import entry_points

        group = self.entry_point_group
        for ep in sorted(entry_points(group=group), key=lambda e: e.name):
            try:
                obj = ep.load()
            except Exception as exc:  # a broken plug-in must not break physlens itself
                warn_plugin(group, ep.name, ep.value, exc)
                continue
            try:
                found = self._adopt(ep.name, obj)
            except Exception as exc:
                warn_plugin(group, ep.name, ep.value, exc)
                continue
            if not found:
                warn_plugin(group, ep.name, ep.value, f"it holds no {self.kind}")
                continue
            self.plugins[ep.name] = ep.value

    def reset(self) -> None:
        """Forget the discovery so the next lookup runs it again (for a plug-in installed at run time).

        Example:
            >>> r = Registry("thing"); r.reset()
        """
        self._state = "new"

    # ------------------------------------------------------------------ lookups
    def get(self, name: str) -> T:
        """The entry ``name``; an unknown name raises ``error`` in one line naming the close ones.

        Example:
            >>> r = Registry("colour"); _ = r.add("red", 1)
            >>> r.get("red")
            1
        """
        self.discover()
        if name in self._table:
            return self._table[name]
        raise self.error(unknown_name_message(self.kind, name, list(self._table), self.hint))

    def names(self) -> list[str]:
        """The registered names, sorted.

        Example:
            >>> r = Registry("colour"); _ = r.add("red", 1); _ = r.add("blue", 2)
            >>> r.names()
            ['blue', 'red']
        """
        self.discover()
        return sorted(self._table)

    def as_dict(self) -> dict[str, T]:
        """A copy of the entries by name, sorted by name.

        Example:
            >>> r = Registry("colour"); _ = r.add("red", 1)
            >>> r.as_dict()
            {'red': 1}
        """
        self.discover()
        return dict(sorted(self._table.items()))

    def __contains__(self, name: object) -> bool:
        self.discover()
        return name in self._table

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        self.discover()
        return len(self._table)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self._table)} entries)"
