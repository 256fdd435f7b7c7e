"""``physlens sweep``: one study over the product of a grid of settings, locally or on Ray."""

from __future__ import annotations

from pathlib import Path

import typer

from physlens.cli import commands, print_json


def _sweep(
    study_file: Path = typer.Argument(..., help="study YAML (the same file `physlens discover STUDY.yaml` takes)"),
    grid: list[str] = typer.Option(..., "--grid", help='KEY=V1,V2,... e.g. "model.params.width=32,64"; '
                                   "repeat for a product"),
    executor: str = typer.Option("local", "--executor", help="local | ray"),
    jobs: int = typer.Option(None, "--jobs", min=1, help="points run side by side (default: all cores)"),
    address: str = typer.Option(None, "--address", help="Ray cluster address (ray://host:10001 or auto); "
                                "default: a local cluster"),
    out: Path = typer.Option(None, "--out", help="the sweep's folder (default runs/sweep-<study name>); "
                             "re-running with the same folder finishes only the missing points"),
    track: str = typer.Option(None, "--track", help="log each run to an experiment tracker: mlflow"),
    tracking_uri: str = typer.Option(None, "--tracking-uri", help="MLflow tracking URI (default ./mlruns)"),
    as_json: bool = typer.Option(False, "--json", help="print the sweep as one JSON object on stdout"),
) -> None:
    """Run a study at every point of a grid; one run directory per point and a comparison table.

    Each point is the study with the grid's dotted keys set (validated before anything runs).
    Points run as tasks of the local process pool or of Ray; a finished point is stored, so an
    interrupted sweep re-run with the same --out runs only the points it is missing.
    """
    import json

    import yaml
    from rich.console import Console

    from physlens.errors import ConfigError
    from physlens.findings import to_jsonable
    from physlens.io import read_text
    from physlens.study import Study, _slug
    from physlens.sweep import parse_grid, run_sweep, sweep_table

    text = read_text(study_file, ConfigError, what="study file")
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{study_file.name} is not valid YAML: {' '.join(str(exc).split())}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{study_file.name} must hold a mapping of study settings")
    name = Study.parse(data, where=study_file.name).name
    folder = out or Path("runs") / f"sweep-{_slug(name)}"
    result = run_sweep(data, parse_grid(grid), folder, executor=executor, jobs=jobs, address=address,
                       progress=not as_json, track=track, tracking_uri=tracking_uri)
    if as_json:
        print_json(json.loads(json.dumps(to_jsonable({**result, "sweep_dir": str(folder)}))))
        return
    console = Console()
    console.print(sweep_table(result))
    console.print(f"sweep: {folder / 'sweep.json'}", soft_wrap=True)
    if result["failed"]:
        raise SystemExit(1)


register = commands(_sweep)
