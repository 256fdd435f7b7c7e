"""``physlens discover``: run a study end to end on a built-in system, a data file or a study YAML."""

from __future__ import annotations

from pathlib import Path

import typer

from physlens.cli import print_json
from physlens.errors import ConfigError


def _parse_params(items: list[str] | None) -> dict:
    """``["k=2", "dim=3", "name=x"]`` -> ``{"k": 2, "dim": 3, "name": "x"}`` (numbers parsed, text kept)."""
    import yaml

    out = {}
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"--param {item!r} must look like NAME=VALUE")
        k, v = item.split("=", 1)
        try:
            out[k.strip()] = yaml.safe_load(v)
        except yaml.YAMLError:
            out[k.strip()] = v
    return out


def build_study(
    source: str | None,
    target: str | None = None,
    inputs: str | None = None,
    units: str | None = None,
    probes: str | None = None,
    seed: int = 0,
    n: int | None = None,
    noise: float = 0.0,
    epochs: int | None = None,
    model: str | None = None,
    params: list[str] | None = None,
    config: Path | None = None,
    progress: bool = True,
    groups: str | None = None,
):
    """Turn CLI arguments into a validated :class:`~physlens.study.Study`.

    ``source`` is a data file when such a file exists (or has a data-file
    suffix), otherwise the name of a built-in system; None means the default
    study (the ``toy_distractor`` law with the attribution probe).

    Example:
        >>> build_study("toy_distractor", probes="attribution", epochs=5).train.epochs
        5
    """
    from physlens.data.loaders import FORMATS
    from physlens.study import Study
    from physlens.systems import registry

    data: dict = Study.parse({}).model_dump() if config is None else Study.from_yaml(config).model_dump()
    src = data["source"]
    if source is not None:
        path = Path(source)
        if path.exists() or path.suffix.lower() in FORMATS:
            src = {"file": str(path)}
            data["name"] = path.stem
        elif source in registry():
            src = {"system": source, "params": _parse_params(params)}
            data["name"] = source
        else:
            raise ConfigError(f"{source!r} is neither an existing data file nor a built-in system (see `physlens systems`)")
    elif config is None:
        data["name"] = src.get("system") or "study"
    if params and "system" in src and source is None:
        src["params"] = {**src.get("params", {}), **_parse_params(params)}
    for key, val in {"target": target, "inputs": inputs, "units": units, "n": n, "groups": groups}.items():
        if val is not None:
            src[key] = val
    if noise:
        src["noise"] = noise
    src["seed"] = seed
    data["source"] = src
    data["train"]["seed"] = seed
    data["train"]["progress"] = progress
    if epochs is not None:
        data["train"]["epochs"] = epochs
    if model is not None:
        data["model"] = {"name": model, "params": {} if model != "mlp" else data["model"]["params"]}
    if probes is not None:
        names = [p.strip() for p in probes.split(",") if p.strip()]
        if not names:
            raise ConfigError("--probes is empty")
        data["probes"] = [{"name": p, "options": {}} for p in names]
    return Study.parse(data)


def findings_table(findings, title: str = "Findings"):
    """A Rich table of findings (kind, statement, confidence, match).

    Example:
        >>> from physlens.findings import Finding
        >>> findings_table([Finding("quality", "fine")]).row_count
        1
    """
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    table.add_column("kind", style="bold")
    table.add_column("statement")
    table.add_column("conf.", justify="right")
    table.add_column("truth", justify="center")
    for f in findings:
        match = {None: "[dim]-[/]", True: "[green]yes[/]", False: "[red]no[/]"}[f.match]
        table.add_row(f.kind, f.statement, f"{f.confidence:.2f}", match)
    return table


def register(app: typer.Typer) -> None:
    """Add the ``discover`` command to ``app``.

    Example:
        >>> import typer
        >>> app = typer.Typer()
        >>> register(app)
    """

    @app.command()
    def discover(
        source: str = typer.Argument(None, help="built-in system name or data file (CSV, Parquet, NPZ, HDF5); default: the demo study"),
        target: str = typer.Option(None, "--target", help="target column(s), comma-separated (default: last column)"),
        inputs: str = typer.Option(None, "--inputs", help="input columns, comma-separated (default: all others)"),
        units: str = typer.Option(None, "--units", help='SI units per column, e.g. "F=N,eta=Pa*s,r=m,v=m/s"'),
        groups: str = typer.Option(None, "--groups", help="column naming each row's trajectory or run: not an input; "
                                   "validation holds out whole trajectories"),
        probes: str = typer.Option(None, "--probes", help="probes to run, comma-separated (see `physlens probes`)"),
        out: Path = typer.Option(Path("runs"), "--out", help="parent directory of the run directory"),
        seed: int = typer.Option(0, "--seed", help="seed for sampling, splitting, initialisation and shuffling"),
        n: int = typer.Option(None, "--n", help="number of samples drawn from a built-in system"),
        noise: float = typer.Option(0.0, "--noise", help="relative Gaussian noise on a system's targets"),
        epochs: int = typer.Option(None, "--epochs", help="maximum training epochs"),
        model: str = typer.Option(None, "--model", help="emulator name (default mlp)"),
        param: list[str] = typer.Option(None, "--param", help="system parameter NAME=VALUE (repeatable)"),
        config: Path = typer.Option(None, "--config", help="study YAML file"),
        resume: Path = typer.Option(None, "--resume", help="continue an interrupted run directory from its last checkpoint"),
        json_out: bool = typer.Option(False, "--json", help="print one JSON object {findings, run_dir} on stdout"),
        quiet: bool = typer.Option(False, "--quiet", help="no progress bar"),
    ) -> None:
        """Train an emulator on a system or a data file, read it with probes, score and report."""
        from rich.console import Console

        from physlens.findings import findings_to_json
        from physlens.study import resume_study, run_study

        err = Console(stderr=True)
        if resume is not None:
            result = resume_study(resume, progress=not quiet)
        else:
            study = build_study(source, target, inputs, units, probes, seed, n, noise, epochs, model, param, config,
                                progress=not quiet, groups=groups)
            if not quiet:
                err.print(f"[bold]physlens[/] study [cyan]{study.name}[/]: probes {', '.join(p.name for p in study.probes)}")
            result = run_study(study, out=out)
        if json_out:
            print_json({"findings": findings_to_json(result.findings), "run_dir": str(result.run_dir)})
            return
        console = Console()
        console.print(findings_table(result.findings, title=f"Findings ({result.run_dir.name})"))
        card = result.scorecard
        if card.get("scored"):
            console.print(f"ground truth: {card['matched']}/{card['scored']} findings match")
        console.print(f"report: {result.run_dir / 'report.html'}")
