"""``physlens concepts``: how many latent variables the answer needs and what each one means (SciNet-style).

A shortcut for ``discover FILE --probes concepts`` with the concepts probe's
options: the same study, run directory, scorecard and report.
"""

from __future__ import annotations

from pathlib import Path

import typer

from rich.markup import escape
from physlens.cli import AsJson, Budget, DataFile, Out, Seed, commands, fail, print_findings


#: the count search's time per budget level: the command runs this one probe, which trains a dozen networks, so
#: it gets more than the share of a study's probe budget sized for reading one emulator (standard: 90 s, in
#: which a CSV of SciNet's pendulum, 2000 rows, had 6 of its fits held under half their epochs and counted 1
#: latent of 2); a search that finishes sooner stops sooner (the benchmarks' tasks: 30-170 s of one core)
SEARCH_SECONDS = {"quick": 90.0, "standard": 300.0, "thorough": 1200.0}


def _names(text: str | None) -> list[str]:
    return [c.strip() for c in (text or "").split(",") if c.strip()]


def check_columns(columns: list[str], target: list[str], question: list[str], candidates: list[str],
                  inputs: list[str] | None) -> list[str]:
    """The input columns (observation + question) of a concepts run; a one-line error for inconsistent choices.

    Example:
        >>> check_columns(["o1", "o2", "q", "y", "k"], ["y"], ["q"], ["k"], None)
        ['o1', 'o2', 'q']
        >>> check_columns(["o", "q", "y"], ["y"], ["q"], [], ["o", "q"])
        Traceback (most recent call last):
        ...
        physlens.errors.ConfigError: question column 'q' is also an input (observation) column: give it to --question only
    """
    from physlens.errors import ConfigError

    for group, what in ((target, "target"), (question, "question"), (candidates, "candidate")):
        for c in group:
            if c not in columns:
                raise ConfigError(f"{what} column {c!r} not found; columns are: {', '.join(columns)}")
    if not question:
        raise ConfigError("--question names no column")
    for c in question:
        if c in target:
            raise ConfigError(f"question column {c!r} is also a target")
        if inputs is not None and c in inputs:
            raise ConfigError(f"question column {c!r} is also an input (observation) column: give it to --question only")
    for c in candidates:
        if c in target or c in question or (inputs is not None and c in inputs):
            raise ConfigError(f"candidate column {c!r} is also a target, question or input column")
    obs = inputs if inputs is not None else [c for c in columns if c not in target + question + candidates]
    for c in obs:
        if c not in columns:
            raise ConfigError(f"input column {c!r} not found; columns are: {', '.join(columns)}")
    if not obs:
        raise ConfigError("no observation column is left: the inputs are the columns that are not target, question or candidate")
    return list(obs) + list(question)


def _concepts(
    file: DataFile,
    target: str = typer.Option(..., "--target", help="answer column(s), comma-separated"),
    question: str = typer.Option(..., "--question", help="question column(s) given to the decoder, comma-separated"),
    candidates: str = typer.Option(None, "--candidates", help="columns that may explain the latents (not inputs)"),
    inputs: str = typer.Option(None, "--inputs", help="observation columns (default: all remaining columns)"),
    max_latents: int = typer.Option(None, "--max-latents", min=1, max=32, help="most latents tried (default: min(8, observations))"),
    epochs: int = typer.Option(150, "--epochs", min=1, help="epochs of each bottleneck fit"),
    restarts: int = typer.Option(2, "--restarts", min=1, max=10, help="fresh starts per number of latents"),
    width: int = typer.Option(None, "--width", min=2, max=4096,
                              help="hidden units per layer of the bottleneck's networks (default: the probe's, 64)"),
    widen: int = typer.Option(None, "--widen", min=0, max=4,
                              help="doublings of the width tried on validation, each kept when the error falls by a "
                                   "quarter (default: the probe's, 1)"),
    seed: Seed = 0,
    budget: Budget = "standard",
    out: Out = Path("runs"),
    as_json: AsJson = False,
) -> None:
    """Find the fewest latent variables that answer the question from the observation, and what they mean.

    Observation (the remaining columns) -> K noisy latents -> decoder(latents, question) -> target.
    One `concept` finding per latent needed, with the R² of each candidate column from it.
    The search may take up to 90 s (--budget quick), 300 s (standard) or 1200 s (thorough).
    """
    import numpy as np

    from physlens.data.loaders import load
    from physlens.errors import DataError
    from physlens.probes.concepts import MIN_ROWS_PER_LATENT
    from physlens.study import build_study, run_study

    tgt, q, cands = _names(target), _names(question), _names(candidates)
    whole = load(str(file), target=tgt, allow_constant=True)
    columns = whole.input_names + whole.target_names
    in_cols = check_columns(columns, tgt, q, cands, _names(inputs) if inputs else None)
    for c in cands:
        v = whole.X[:, whole.input_names.index(c)]
        if np.std(v) <= 1e-12 * (1 + np.abs(v).max()):
            raise DataError(f"candidate column {c!r} is constant: it cannot explain a latent")
    k_max = max_latents if max_latents is not None else min(8, len(in_cols) - len(q))
    need = MIN_ROWS_PER_LATENT * (k_max + 1)
    if whole.n < need:
        raise DataError(f"{whole.n} rows are too few to test up to {k_max} latents (need at least {need}); "
                        "give more rows or a smaller --max-latents")
    options = {"question_columns": q, "layer_probes": False, "max_latents": k_max, "epochs": epochs,
               "restarts": restarts, "budget_seconds": SEARCH_SECONDS[budget]}
    options.update({k: v for k, v in (("width", width), ("widen", widen)) if v is not None})
    if cands:
        options.update({"candidates": cands, "candidate_source": str(file)})
    study = build_study(str(file), target=",".join(tgt), inputs=",".join(in_cols), probes="concepts", seed=seed,
                        progress=not as_json, budget=budget, probe_options={"concepts": options})
    result = run_study(study, out=out, progress=not as_json)
    for note in result.probes:
        if note["status"] == "failed":
            fail(f"the concepts probe failed: {note['reason']}")
    print_findings(result, as_json, _show)


def _show(console, f) -> None:
    console.print(f"[bold]{escape(f.subject)}[/] ({f.confidence:.2f}): {escape(f.statement)}", highlight=False)


register = commands(_concepts)
