"""``physlens equations``: a shortcut for ``discover FILE --probes equations``: the closed-form law ``target = f(inputs)``."""

from __future__ import annotations

from pathlib import Path

import typer

from physlens.cli import AsJson, DataFile, Inputs, Out, Seed, commands, print_findings


def _equations(
    file: DataFile,
    target: str = typer.Option(None, "--target", help="target column (default: the last column)"),
    inputs: Inputs = None,
    units: str = typer.Option(None, "--units", help='pint units per column, e.g. "x=m,t=s,y=m/s" (enables dimensional analysis)'),
    time_limit: float = typer.Option(60.0, "--time-limit", min=1.0, help="seconds for the search"),
    noise_aware: bool = typer.Option(False, "--noise-aware", help="fit the formula to a trained emulator's predictions (denoising)"),
    seed: Seed = 0,
    max_samples: int = typer.Option(2000, "--max-samples", min=10, help="rows used by the search"),
    out: Out = Path("runs"),
    as_json: AsJson = False,
) -> None:
    """Find the equation target = f(inputs): a SymPy formula, its LaTeX and the accuracy/complexity Pareto front.

    A shortcut for `physlens discover FILE --probes equations` (same study, run directory,
    scorecard and report); no network is trained unless --noise-aware asks for one.
    """
    from physlens.study import build_study, run_study

    study = build_study(str(file), target=target, inputs=inputs, units=units, probes="equations", seed=seed,
                        progress=not as_json, min_rows=10,
                        probe_options={"equations": {"time_limit": time_limit, "noise_aware": noise_aware,
                                                     "max_samples": max_samples, "dynamics": False,
                                                     "progress": not as_json}})
    result = run_study(study, out=out, progress=not as_json)
    print_findings(result, as_json, _show, "equations")


def _show(console, f) -> None:
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    console.print(f"[bold]{escape(f.statement)}[/]")
    if "pareto" not in (f.value or {}):
        return
    table = Table(title=f"Pareto front for {f.target}")
    for col in ("complexity", "rmse", "expression"):
        table.add_column(col)
    for p in f.value["pareto"]:
        table.add_row(str(p["complexity"]), f"{p['rmse']:.3g}", Text(p["expression"]))
    console.print(table)


register = commands(_equations)
