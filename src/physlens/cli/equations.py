"""``physlens equations``: find the closed-form law ``target = f(inputs)`` in a data file."""

from __future__ import annotations

from pathlib import Path

import typer

from physlens.cli import print_json


def register(app: typer.Typer) -> None:
    """Add the ``equations`` command to the app.

    Example:
        >>> app = typer.Typer(); register(app)
    """

    @app.command("equations")
    def equations(
        file: Path = typer.Argument(..., help="CSV, Parquet, NPZ or HDF5 file"),
        target: str = typer.Option(..., "--target", help="target column"),
        inputs: str = typer.Option(None, "--inputs", help="comma-separated input columns (default: all others)"),
        units: str = typer.Option(None, "--units", help='pint units per column, e.g. "x=m,t=s,y=m/s" (enables dimensional analysis)'),
        time_limit: float = typer.Option(60.0, "--time-limit", min=1.0, help="seconds for the search"),
        noise_aware: bool = typer.Option(False, "--noise-aware", help="fit the formula to a trained emulator's predictions (denoising)"),
        seed: int = typer.Option(0, "--seed"),
        max_samples: int = typer.Option(2000, "--max-samples", min=10, help="rows used by the search"),
        as_json: bool = typer.Option(False, "--json", help="print one JSON object on stdout"),
    ) -> None:
        """Find the equation target = f(inputs): a SymPy formula, its LaTeX and the accuracy/complexity Pareto front."""
        from physlens.data.loaders import load
        from physlens.findings import findings_to_json
        from physlens.probes.equations import static_law_findings

        ds = load(file, target=target, inputs=inputs, units=units, min_rows=10)
        model = None
        if noise_aware:
            from physlens.train import train_default

            model = train_default(ds, seed=seed, progress=not as_json).model
        findings = static_law_findings(ds, model=model, noise_aware=noise_aware, time_limit=time_limit,
                                       max_samples=max_samples, seed=seed, progress=not as_json)
        if as_json:
            print_json({"findings": findings_to_json(findings)})
            return
        from rich.console import Console
        from rich.table import Table

        console = Console()
        for f in findings:
            console.print(f"[bold]{f.statement}[/]")
            table = Table(title=f"Pareto front for {f.target}")
            for col in ("complexity", "rmse", "expression"):
                table.add_column(col)
            for p in f.value["pareto"]:
                table.add_row(str(p["complexity"]), f"{p['rmse']:.3g}", p["expression"])
            console.print(table)
