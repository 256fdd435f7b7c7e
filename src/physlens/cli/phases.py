"""``physlens phases``: a shortcut for ``discover FILE --probes phases``: the critical point three ways and the order parameter."""

from __future__ import annotations

from pathlib import Path

import typer

from rich.markup import escape
from physlens.cli import AsJson, Budget, Out, Seed, commands, fail, print_findings


def _phases(
    file: Path = typer.Argument(..., help="CSV, Parquet, NPZ or HDF5 file: one configuration per row, one column per site"),
    control: str = typer.Option(..., "--control", help="column of the tuning parameter (temperature, field)"),
    size: str = typer.Option(None, "--size", help="column of the linear lattice size when the file mixes sizes"),
    epochs: int = typer.Option(60, "--epochs", min=1, help="training epochs of each small classifier"),
    n_bootstrap: int = typer.Option(100, "--bootstrap", min=2, help="bootstrap resamplings for the errors"),
    no_autoencoder: bool = typer.Option(False, "--no-autoencoder", help="unsupervised method by PCA only"),
    seed: Seed = 0,
    budget: Budget = "standard",
    out: Out = Path("runs"),
    as_json: AsJson = False,
) -> None:
    """Locate the phase transition along --control (supervised, confusion, PCA/autoencoder) and name the order parameter.

    A shortcut for `physlens discover FILE --probes phases` with the control as the target: the
    same study, run directory, scorecard and report. With --size, each lattice size is analysed
    and the crossings are extrapolated to infinite size (with the exponent nu). The transition
    is a finding of kind `phase` whose value is {critical, uncertainty, method, order_parameter};
    critical is null when the data show no transition.
    """

    from physlens.study import build_study, run_study

    options = {"control": control, "epochs": epochs, "n_bootstrap": n_bootstrap, "autoencoder": not no_autoencoder}
    if size is not None:
        if size == control:
            fail(f"--size and --control name the same column {control!r}")
        options["size"] = size
    study = build_study(str(file), target=control, probes="phases", seed=seed, progress=not as_json,
                        budget=budget, probe_options={"phases": options})
    result = run_study(study, out=out, progress=not as_json)
    for note in result.probes:
        if note["status"] == "failed":
            fail(note["reason"].split(": ", 1)[-1] if note["reason"].startswith(("DataError", "ConfigError"))
                 else f"phases probe failed: {note['reason']}")
        if note["status"] == "skipped":
            fail(f"phases probe cannot read {file}: {note['reason']}")
    print_findings(result, as_json, _show)


def _show(console, f) -> None:
    console.print(f"[bold]{f.kind}[/] ({f.confidence:.2f}): {escape(f.statement)}", highlight=False)
    if f.kind == "phase":
        for m, d in (f.evidence.get("methods") or {}).items():
            console.print(f"  {m:12s} {d['critical']:.4g} ± {d['uncertainty']:.2g}", highlight=False)


register = commands(_phases)
