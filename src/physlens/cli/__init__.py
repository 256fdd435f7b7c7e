"""The ``physlens`` command line (Typer).

Each command lives in its own module of this package with a function
``register(app)``; modules are discovered and registered on start through the one
registry (:data:`COMMANDS`), so a new command is a new file. Third-party packages add
commands through the ``physlens.commands`` entry-point group (a module with ``register``). Errors a user can cause (:class:`PhyslensError`) are
printed as one line on stderr with exit code 2, never as a traceback.
Progress goes to stderr; ``--json`` output alone goes to stdout.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path
from types import ModuleType
from typing import Annotated, Callable, Optional

import typer

from physlens.errors import PhyslensError
from physlens.plugins import PluginWarning, Registry, warn_plugin

_app = typer.Typer(
    name="physlens",
    help="Train neural networks on physical systems, then read the trained network to recover the physics.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def fail(message: str, code: int = 2) -> None:
    """Print ``error: message`` on stderr and exit with ``code`` (no traceback).

    Example:
        >>> try:
        ...     fail("bad")
        ... except SystemExit as e:
        ...     e.code
        2
    """
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(code)


def print_json(obj) -> None:
    """Print exactly one JSON object on stdout.

    Example:
        >>> print_json({"findings": []})
        {"findings": []}
    """
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def shortcut_output(result, as_json: bool, probe: str | None = None):
    """Finish a shortcut command: with ``--json`` print ``{"findings", "run_dir"}`` and return None;
    else return a Rich console, after one line for each probe that did not run (when ``probe`` names it).

    Example:
        >>> from types import SimpleNamespace
        >>> r = SimpleNamespace(findings=[], run_dir="runs/x", probes=[])
        >>> shortcut_output(r, as_json=True)
        {"findings": [], "run_dir": "runs/x"}
    """
    from physlens.findings import findings_to_json

    if as_json:
        print_json({"findings": findings_to_json(result.findings), "run_dir": str(result.run_dir)})
        return None
    from rich.console import Console

    console = Console()
    if probe is not None:
        for note in result.probes:
            if note["status"] != "ran":
                console.print(f"{probe} probe {note['status']}: {note['reason']}", highlight=False)
    return console


def print_findings(result, as_json: bool, show: Callable, probe: str | None = None,
                   kind: str | None = None, nothing: str | None = None) -> None:
    """Finish a shortcut command: the JSON object, or one block per finding then the report's path.

    ``show(console, finding)`` prints one finding. ``nothing`` is printed when no finding of
    ``kind`` came although every probe ran. ``probe`` names the probe whose skip or failure gets
    one line first (see :func:`shortcut_output`).

    Example:
        >>> from types import SimpleNamespace
        >>> r = SimpleNamespace(findings=[], run_dir="runs/x", probes=[])
        >>> print_findings(r, as_json=True, show=print)
        {"findings": [], "run_dir": "runs/x"}
    """
    console = shortcut_output(result, as_json, probe)
    if console is None:
        return
    if nothing is not None and all(n["status"] == "ran" for n in result.probes) \
            and not any(f.kind == kind for f in result.findings):
        console.print(nothing, highlight=False)
    for f in result.findings:
        show(console, f)
    console.print(f"report: {result.run_dir / 'report.html'}", soft_wrap=True)


#: the study budgets (:data:`physlens.study.BUDGETS`, whose import this module avoids; a test keeps them equal)
BUDGET_NAMES = ("quick", "standard", "thorough")


def check_budget(value: str | None) -> str | None:
    """Typer callback of ``--budget``: the value when it names a budget, else the one-line error.

    Example:
        >>> check_budget("quick")
        'quick'
        >>> try:
        ...     check_budget("fast")
        ... except PhyslensError as e:
        ...     print(e)
        --budget must be one of quick, standard, thorough, got 'fast'
    """
    if value is not None and value not in BUDGET_NAMES:
        from physlens.errors import ConfigError

        raise ConfigError(f"--budget must be one of {', '.join(BUDGET_NAMES)}, got {value!r}")
    return value


# The options the study commands share, declared once (Typer's Annotated form) so that their
# flags and help read the same in every command. A command gives the default: ``seed: Seed = 0``.
DataFile = Annotated[Path, typer.Argument(help="CSV, Parquet, NPZ or HDF5 file")]
Inputs = Annotated[Optional[str], typer.Option("--inputs", help="comma-separated input columns (default: all others)")]
Seed = Annotated[int, typer.Option("--seed", help="random seed of the split, the training and the probes")]
Budget = Annotated[str, typer.Option("--budget", callback=check_budget,
                                     help="quick | standard | thorough: training and probe time")]
Out = Annotated[Path, typer.Option("--out", help="parent directory of the run directory")]
AsJson = Annotated[bool, typer.Option("--json", help="print one JSON object on stdout")]


def commands(*functions: Callable) -> Callable[[typer.Typer], None]:
    """A command module's ``register(app)``: it adds each function as the command named after it
    (a leading underscore dropped), its docstring as the help.

    Example:
        >>> def _hello(name: str = "world") -> None:
        ...     '''Say hello.'''
        ...     print(f"hello {name}")
        >>> app = typer.Typer()
        >>> commands(_hello)(app)
        >>> [c.name for c in app.registered_commands]
        ['hello']
    """

    def register(app: typer.Typer) -> None:
        for function in functions:
            app.command(function.__name__.lstrip("_"))(function)

    register.__doc__ = "Add the command(s) " + ", ".join(f.__name__.lstrip("_") for f in functions) + " to ``app``."
    return register


def _adopt_command(name: str, obj) -> ModuleType | None:
    if isinstance(obj, ModuleType):
        return obj if callable(getattr(obj, "register", None)) else None
    raise TypeError("a command plug-in must be a module with register(app)")


#: the command modules: those of this package, then plug-ins of the ``physlens.commands`` entry-point group
COMMANDS: Registry[ModuleType] = Registry("command", package=__name__, entry_point_group="physlens.commands",
                                          skip=(), adopt=_adopt_command)


@_app.callback()
def _group() -> None:
    """(Keeps the app a group of commands when only the invoked command is registered.)"""


_REGISTERED: set[str] = set()


def _register_all() -> None:
    for name, mod in COMMANDS.as_dict().items():
        if name in _REGISTERED:
            continue
        _REGISTERED.add(name)
        if name not in COMMANDS.plugins:
            mod.register(_app)
            continue
        try:  # a plug-in's command that fails to register is left out, in one warning line
            mod.register(_app)
        except Exception as exc:
            warn_plugin("physlens.commands", name, COMMANDS.plugins[name], exc)


def _register_for(argv: list[str]) -> None:
    """Register only the built-in command module named by the first word of ``argv``, when there is one
    (``physlens spectra ...`` then imports what ``spectra`` needs, not every command's probes and
    PySINDy); every command otherwise (``physlens --help``, a plug-in's command)."""
    import importlib
    import importlib.util

    first = next((a for a in argv if not a.startswith("-")), None)
    if first and first.isidentifier() and first not in _REGISTERED and \
            importlib.util.find_spec(f"{__name__}.{first}") is not None:
        mod = importlib.import_module(f"{__name__}.{first}")
        if callable(getattr(mod, "register", None)):
            _REGISTERED.add(first)
            mod.register(_app)
            return
    _register_all()


def __getattr__(name: str):
    """``physlens.cli.app``: the Typer app with every command registered (tests, embedding)."""
    if name == "app":
        _register_all()
        return _app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    if issubclass(category, PluginWarning):
        print(f"warning: {message}", file=sys.stderr if file is None else file)
    else:
        _show_warning(message, category, filename, lineno, file, line)


_show_warning = warnings.showwarning
warnings.showwarning = _one_line_warning  # a broken plug-in is one "warning: ..." line, never a traceback


def main() -> None:
    """Entry point of the ``physlens`` script.

    Example:
        >>> import sys
        >>> sys.argv = ["physlens", "probes", "--json"]
        >>> try:  # doctest: +ELLIPSIS
        ...     main()
        ... except SystemExit as e:
        ...     print("exit code", e.code)
        {"probes": [...]}
        exit code 0
    """
    import importlib

    usage = importlib.import_module(typer.BadParameter.__module__)  # the Click exceptions Typer raises
    try:
        _register_for(sys.argv[1:])
        code = _app(standalone_mode=False)
    except usage.NoArgsIsHelpError as exc:  # `physlens` alone prints the help, as before
        exc.show()
        raise SystemExit(exc.exit_code) from None
    except usage.UsageError as exc:  # Typer's own parsing: unknown option, bad value, missing argument
        where = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx is not None else ""
        fail(" ".join(exc.format_message().split()) + where)
    except typer.Abort:
        fail("interrupted", code=130)
    except PhyslensError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        fail("interrupted", code=130)
    raise SystemExit(code if isinstance(code, int) else 0)  # as Click's standalone mode does
