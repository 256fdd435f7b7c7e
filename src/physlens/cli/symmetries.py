"""``physlens symmetries``: a shortcut for ``discover FILE --probes symmetry`` that prints generator matrices."""

from __future__ import annotations

from pathlib import Path

import typer

from rich.markup import escape
from physlens.cli import AsJson, Budget, DataFile, Inputs, Out, Seed, commands, print_findings


def _symmetries(
    file: DataFile,
    target: str = typer.Option(None, "--target", help="target column(s), comma-separated (default: the last column)"),
    inputs: Inputs = None,
    alpha: float = typer.Option(0.01, "--alpha", min=1e-6, max=0.5, help="significance level of the symmetry tests"),
    no_discrete: bool = typer.Option(False, "--no-discrete", help="skip the search for discrete symmetries"),
    seed: Seed = 0,
    max_samples: int = typer.Option(10_000, "--max-samples", min=10, help="rows used for the Lie constraint"),
    epochs: int = typer.Option(None, "--epochs", min=1, help="training epochs exactly (default: trained to the "
                               "fit quality the symmetry probe needs, within the budget)"),
    patience: int = typer.Option(None, "--patience", min=1, help="early-stopping patience with --epochs"),
    budget: Budget = "standard",
    out: Out = Path("runs"),
    as_json: AsJson = False,
) -> None:
    """Find the continuous (Lie) and discrete symmetries of target = f(inputs) learned by a network.

    A shortcut for `physlens discover FILE --probes symmetry`: the same study, training recipe,
    run directory, scorecard and report. Continuous symmetries come as one finding whose value
    holds the generators [L | b] (x -> x + eps (L x + b)) in the file's own columns and units.
    """
    import numpy as np

    from physlens.study import build_study, run_study

    study = build_study(str(file), target=target, inputs=inputs, probes="symmetry", seed=seed, epochs=epochs,
                        progress=not as_json, budget=budget,
                        probe_options={"symmetry": {"alpha": alpha, "discrete": not no_discrete,
                                                    "max_samples": max_samples}})
    if patience is not None and study.train is not None:
        study.train.patience = patience
    result = run_study(study, out=out, progress=not as_json)
    names = result.dataset.input_names + ["1"]

    def show(console, f) -> None:
        console.print(f"[bold]{escape(f.subject)}[/] ({f.confidence:.2f}): {escape(f.statement)}")
        for i, g in enumerate((f.value or {}).get("generators", [])):
            console.print(f"  generator {i + 1} [L | b] (columns {', '.join(names)}):")
            console.print("  " + np.array2string(np.round(g, 4), prefix="  "))

    print_findings(result, as_json, show, "symmetry", kind="symmetry",
                   nothing="No symmetry found: every candidate changes the prediction by more than the model's error.")

register = commands(_symmetries)
