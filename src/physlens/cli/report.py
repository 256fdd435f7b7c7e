"""``physlens report RUN_DIR``: (re)write the HTML report of a run."""

from __future__ import annotations

from pathlib import Path

import typer

from physlens.cli import commands


def _report(run_dir: Path = typer.Argument(..., help="a run directory written by `physlens discover`")) -> None:
    """Write RUN_DIR/report.html from the run's findings and print its path."""
    from physlens.errors import ConfigError
    from physlens.report import write_report

    if not run_dir.is_dir():
        raise ConfigError(f"no run directory at {run_dir}")
    print(write_report(run_dir))


register = commands(_report)
