"""``physlens discover``: run a study end to end on a built-in system, a data file or a study YAML."""

from __future__ import annotations

from pathlib import Path

import typer

from physlens.cli import Budget, Out, commands, print_json
from physlens.study import build_study  # noqa: F401  (re-exported: the one study builder lives in physlens.study)


def findings_table(findings, title: str = "Findings"):
    """A Rich table of findings (kind, statement, confidence, match).

    Example:
        >>> from physlens.findings import Finding
        >>> findings_table([Finding("quality", "fine")]).row_count
        1
    """
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, show_lines=False)
    table.add_column("kind", style="bold")
    table.add_column("statement")
    table.add_column("conf.", justify="right")
    table.add_column("truth", justify="center")
    for f in findings:
        match = {None: "[dim]-[/]", True: "[green]yes[/]", False: "[red]no[/]"}[f.match]
        table.add_row(f.kind, Text(f.statement), f"{f.confidence:.2f}", match)  # statements are text, not markup
    return table


def _discover(
    source: str = typer.Argument(None, help="built-in system name, data file (CSV, Parquet, NPZ, HDF5) or study YAML; default: the demo study"),
    channels: str = typer.Option(None, "--channels", help='the file holds fields on a grid (samples x channels x H x W): '
                                 'channel names and kinds, e.g. "u,v:vector; p:scalar"'),
    target: str = typer.Option(None, "--target", help="target column(s), comma-separated (default: last column)"),
    inputs: str = typer.Option(None, "--inputs", help="input columns, comma-separated (default: all others)"),
    units: str = typer.Option(None, "--units", help='SI units per column, e.g. "F=N,eta=Pa*s,r=m,v=m/s"'),
    groups: str = typer.Option(None, "--groups", help="column naming each row's trajectory or run: not an input; "
                               "validation holds out whole trajectories"),
    time_col: str = typer.Option(None, "--time", help="column of each row's time: the rows are trajectories; "
                                 "without --target the time derivatives of the other columns are the targets"),
    probes: str = typer.Option(None, "--probes", help="probes to run, comma-separated (default: every probe that "
                               "applies; see `physlens probes`)"),
    budget: Budget = "standard",
    out: Out = Path("runs"),
    seed: int = typer.Option(0, "--seed", help="seed for sampling, splitting, initialisation and shuffling"),
    n: int = typer.Option(None, "--n", help="number of samples drawn from a built-in system"),
    noise: float = typer.Option(0.0, "--noise", help="relative Gaussian noise on a system's targets"),
    epochs: int = typer.Option(None, "--epochs", help="training epochs exactly (default: physlens trains to what "
                               "the probes need within the budget)"),
    model: str = typer.Option(None, "--model", help="emulator name (default auto: graph network for particles, else mlp)"),
    param: list[str] = typer.Option(None, "--param", help="system parameter NAME=VALUE (repeatable)"),
    config: Path = typer.Option(None, "--config", help="study YAML file"),
    resume: Path = typer.Option(None, "--resume", help="continue an interrupted run directory from its last checkpoint"),
    json_out: bool = typer.Option(False, "--json", help="print one JSON object {findings, run_dir} on stdout"),
    quiet: bool = typer.Option(False, "--quiet", help="no progress bar"),
) -> None:
    """Train an emulator on a system or a data file, read it with every probe that applies, score and report.

    With no argument: the flagship study, 2-D Kepler orbits. A study YAML as the argument is the
    same as ``--config``. Fields on a grid come from a
    field file with --channels, or from a built-in field system (vector_diffusion).
    """
    from physlens.findings import findings_to_json
    from physlens.study import resume_study, run_study

    if source is not None and config is None and Path(source).suffix.lower() in (".yaml", ".yml"):
        source, config = None, Path(source)  # `physlens discover study.yaml` is `--config study.yaml`
    if resume is not None:
        result = resume_study(resume, progress=not quiet)
    else:
        study = build_study(source, target, inputs, units, probes, seed, n, noise, epochs, model, param, config,
                            progress=not quiet, groups=groups, time_column=time_col, channels=channels,
                            budget=None if config is not None and budget == "standard" else budget)
        result = run_study(study, out=out, progress=not quiet)
    if json_out:
        print_json({"findings": findings_to_json(result.findings), "run_dir": str(result.run_dir),
                    "probes": [{k: v for k, v in p.items() if k != "traceback"} for p in result.probes]})
        return
    print_result(result)


register = commands(_discover)


def print_result(result) -> None:
    """Print a finished run for a terminal: findings table, probes left out and why, score, report path.

    Example:
        >>> import tempfile
        >>> from physlens.study import Study, run_study
        >>> r = run_study(Study.parse({"source": {"system": "toy_distractor", "n": 200}, "probes": [{"name": "attribution"}],
        ...                            "train": {"epochs": 2, "progress": False}}), out=tempfile.mkdtemp(), progress=False)
        >>> import contextlib, io
        >>> buf = io.StringIO()
        >>> with contextlib.redirect_stdout(buf):
        ...     print_result(r)
        >>> "report:" in buf.getvalue()
        True
    """
    from rich.console import Console

    console = Console()
    console.print(findings_table(result.findings, title=f"Findings ({result.run_dir.name})"))
    for note in result.probes:
        if note["status"] != "ran":
            console.print(f"[dim]{note['probe']}: {note['status']} — {note['reason']}[/]", highlight=False)
    card = result.scorecard
    if card.get("scored"):
        console.print(f"ground truth: {card['matched']}/{card['scored']} findings match")
    console.print(f"report: {result.run_dir / 'report.html'}", soft_wrap=True)
