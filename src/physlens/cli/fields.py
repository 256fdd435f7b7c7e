"""``physlens fields FILE.npz --channels "u,v:vector"``: a shortcut for ``discover FILE --channels ... --probes fields``.

The same :class:`physlens.study.Study` as ``discover``: the fields load as a
:class:`physlens.data.fields.FieldDataset`, a grid emulator (the plain CNN by default, or the
D4-equivariant one) trains with the study's recipe, the fields probe reads the grid
transformations it respects and the PDE, and the run directory holds ``study.yaml``,
``dataset.npz`` (the fields' tabular view, layout in ``meta["field"]``), ``checkpoints/``,
``training.json``, ``probes.json``, ``findings.json``, ``scorecard.json`` and ``report.html``.
``FILE`` may also name a built-in field system (``vector_diffusion``), whose truth is then scored
(:mod:`physlens.scoring.fields`: the grid group, and the PDE coefficients within 1 %).
"""

from __future__ import annotations

from pathlib import Path

import typer

from rich.markup import escape
from physlens.cli import AsJson, Budget, Out, Seed, commands, print_findings
from physlens.errors import ConfigError

GRID_MODELS = ("cnn", "d4cnn")


def run_fields(source: str, channels: str | None = None, model: str = "cnn", epochs: int | None = None,
               budget: str = "standard", seed: int = 0, n: int | None = None, params: list[str] | None = None,
               out: str | Path = "runs", progress: bool = False, probe_options: dict | None = None):
    """Build the fields study (``discover SOURCE --channels ... --probes fields``) and run it; returns the RunResult.

    (tests/test_fields_discover.py runs it end to end; a run takes seconds, longer than an example may.)

    Example:
        >>> try:
        ...     run_fields("vector_diffusion", model="resnet")
        ... except ConfigError as e:
        ...     print(e)
        model must be 'cnn' or 'd4cnn', got 'resnet'
    """
    from physlens.study import BUDGETS, build_study, run_study
    from physlens.systems.fields import FIELD_SYSTEMS

    if budget not in BUDGETS:
        raise ConfigError(f"budget must be one of {', '.join(BUDGETS)}, got {budget!r}")
    if model not in GRID_MODELS:
        raise ConfigError(f"model must be 'cnn' or 'd4cnn', got {model!r}")
    if source not in FIELD_SYSTEMS and channels is None:
        from physlens.data.fields import scalar_channels

        channels = scalar_channels(source)  # without a declaration every channel is a scalar
    study = build_study(source, channels=channels, model=model, epochs=epochs, budget=budget, seed=seed, n=n,
                        params=params, probes="fields", probe_options={"fields": dict(probe_options or {})},
                        progress=progress)
    return run_study(study, out=out, progress=progress)


def _fields(
    file: str = typer.Argument(..., help="NPZ or HDF5 file of fields (or a built-in field system: vector_diffusion)"),
    channels: str = typer.Option(None, "--channels", help="channel names and kinds, e.g. \"u,v:vector; p:scalar\" "
                                 "(default: every channel array with a d<name>_dt target, as a scalar)"),
    model: str = typer.Option("cnn", "--model", help="cnn (plain; its learned symmetries are read) or d4cnn"),
    epochs: int = typer.Option(None, "--epochs", min=1, help="training epochs exactly (default: within the budget)"),
    n: int = typer.Option(None, "--n", min=2, help="samples drawn from a built-in field system (default 48)"),
    param: list[str] = typer.Option(None, "--param", help="field-system parameter NAME=VALUE (repeatable)"),
    seed: Seed = 0,
    budget: Budget = "standard",
    out: Out = Path("runs"),
    as_json: AsJson = False,
) -> None:
    """Train a grid emulator on fields; report the grid transformations it respects and the PDE (SINDy).

    A shortcut for `physlens discover FILE --channels ... --probes fields`. The fields come as
    `inputs`/`targets` arrays (samples x channels x H x W) or one array per channel with targets
    `d<name>_dt`; `--channels` declares which channels form vectors (without it every channel is a scalar).
    """
    result = run_fields(file, channels, model=model, epochs=epochs, budget=budget, seed=seed, n=n, params=param,
                        out=out, progress=not as_json)
    print_findings(result, as_json, _show, "fields")


def _show(console, f) -> None:
    badge = "" if f.match is None else (" [green]matches truth[/]" if f.match else " [red]does not match[/]")
    console.print(f"[bold]{f.kind}[/] ({f.confidence:.2f}): {escape(f.statement)}{badge}", highlight=False)


register = commands(_fields)


__all__ = ["GRID_MODELS", "register", "run_fields"]
