"""``physlens spectra``: the data-free quality of a trained model from the spectra of its weight matrices.

Reads a run directory's final weights (``checkpoints/model.safetensors``) or any
``.safetensors`` file, and runs the ``spectra`` probe on them through the same
probe runner as ``discover`` (no data and no training are needed: the probe reads
the weights alone).

A plain safetensors file is read with safetensors' NumPy loader and, when no bootstrap
runs (``--bootstrap 0`` or 1: the asymptotic error bar), analysed without importing torch
or the study runner: the runner's time budget only bounds the bootstrap, the probe queries
no model (so no extrapolation marking), and importing torch costs 1.5-2 s of CPU, as much
as the eigenvalues of a 21 M-parameter model. The findings are those of the runner's path.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from rich.markup import escape
from physlens.cli import Budget, Seed, commands, print_json


def load_state(path: str | Path) -> tuple[dict, Path | None]:
    """The tensors of a run's final model or of a safetensors file, and the run directory (None for a file).

    A physlens checkpoint (written by ``save_weights``) gives its model's state dict (torch tensors);
    any other safetensors file gives all its tensors under their own names, as NumPy arrays (torch
    tensors where NumPy has no such dtype, bfloat16).

    Example:
        >>> import tempfile, os, torch
        >>> from safetensors.torch import save_file
        >>> p = os.path.join(tempfile.mkdtemp(), "w.safetensors")
        >>> save_file({"fc.weight": torch.ones(3, 2)}, p)
        >>> state, run_dir = load_state(p)
        >>> list(state), run_dir, state["fc.weight"].shape
        (['fc.weight'], None, (3, 2))
    """
    from safetensors import safe_open

    from physlens.errors import CheckpointError, ConfigError

    path = Path(path)
    run_dir = None
    if path.is_dir():
        run_dir = path
        path = path / "checkpoints" / "model.safetensors"
        if not path.exists():
            raise ConfigError(f"{run_dir} has no checkpoints/model.safetensors (not a finished physlens run?)")
    elif not path.exists():
        raise ConfigError(f"no such file or directory: {path}")
    elif path.suffix != ".safetensors":
        raise ConfigError(f"{path} is neither a run directory nor a .safetensors file")
    try:
        with safe_open(str(path), framework="numpy") as f:
            meta = f.metadata() or {}
    except Exception as exc:
        raise CheckpointError(f"{path} is not a readable safetensors file: {' '.join(str(exc).split())[:200]}") from None
    if "physlens" in meta:
        from physlens.train.checkpoint import load_checkpoint

        state = load_checkpoint(path)
        state = state.get("model", state) if isinstance(state, dict) else state
        return dict(state), run_dir
    try:
        from safetensors.numpy import load_file

        state = load_file(str(path))
    except (TypeError, ValueError):  # a dtype NumPy lacks (bfloat16): torch's loader
        from safetensors.torch import load_file

        state = load_file(str(path))
    return dict(state), run_dir


def spectra_table(findings, title: str = "Weight spectra"):
    """A Rich table, one row per weight matrix: α ± error, α̂, norms, stable rank, soft rank, randomisation distance.

    Example:
        >>> import torch
        >>> from physlens.probes.spectra import run
        >>> spectra_table(run(torch.nn.Linear(40, 30), None, bootstrap=0)).row_count
        1
    """
    from rich.table import Table

    def num(v, fmt=".2f"):
        return "-" if v is None else format(v, fmt)

    table = Table(title=title)
    # the layer names keep a readable width in an 80-column terminal; two-word headers may wrap instead
    longest = max((len(str(f.value.get("layer", ""))) for f in findings if isinstance(f.value, dict)), default=6)
    table.add_column("matrix", overflow="fold", min_width=min(max(longest, 6), 16))
    for col in ("shape", "n λ", "α", "α̂", "log‖W‖²", "st. rank", "soft rank", "rand"):
        table.add_column(col, justify="left" if col == "shape" else "right", no_wrap=col not in ("α", "st. rank", "soft rank"))
    for f in findings:
        v = f.value
        if f.subject == "summary" or not isinstance(v, dict):
            continue
        if v["alpha"] is None:
            alpha = "[dim]too few[/]"
        else:
            alpha = f"{v['alpha']:.2f}" + (f" ± {v['alpha_error']:.2f}" if v.get("alpha_error") is not None else "")
        table.add_row(v["layer"], "x".join(str(s) for s in v["shape"][1:]) + (f" ·{v['shape'][0]}" if v["shape"][0] > 1 else ""),
                      str(v["n_eigenvalues"]), alpha, num(v["alpha_weighted"]), num(v["log_norm"]),
                      num(v["stable_rank"], ".1f"), str(v["soft_rank"]), num(v.get("rand_distance")))
    return table


def _spectra(
    path: Path = typer.Argument(..., help="run directory (its checkpoints/model.safetensors) or a .safetensors file"),
    bootstrap: int = typer.Option(50, "--bootstrap", min=0, help="bootstrap resamples for the error bar on α "
                                  "(0: asymptotic error (α-1)/√n)"),
    min_eigenvalues: int = typer.Option(20, "--min-eigenvalues", min=2, help="fewest eigenvalues to fit α on"),
    no_randomize: bool = typer.Option(False, "--no-randomize", help="skip the randomisation distance"),
    seed: Seed = 0,
    budget: Budget = "standard",
    as_json: bool = typer.Option(False, "--json", help="print one JSON object {findings, run_dir} on stdout"),
) -> None:
    """Power-law exponent α of each weight matrix's eigenvalue spectrum, and the model's data-free quality.

    For every weight matrix: α (2-6: heavy-tailed, well trained; < 2: over-fitted; > 6: close to
    random) with a bootstrap error bar, α̂ = α log10 λ_max, log norms, stable rank, the
    Marchenko-Pastur soft rank and the distance to the same matrix with its elements shuffled.
    """
    from physlens.errors import ConfigError, PhyslensError

    state, run_dir = load_state(path)
    options = {"bootstrap": bootstrap, "min_eigenvalues": min_eigenvalues, "randomize": not no_randomize}
    if bootstrap <= 1 and "torch" not in sys.modules:  # nothing for the runner's budget to bound: NumPy alone
        from physlens.probes.spectra import run

        try:
            findings = run(state, None, seed=seed, **options)
        except PhyslensError:
            raise
        except Exception as exc:  # as the runner reports a failed probe: one line
            raise ConfigError(f"spectra probe failed: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}") from None
    else:
        from physlens.study import ProbeConfig, run_probes

        findings, notes = run_probes(state, None, [ProbeConfig(name="spectra", options=options)], budget=budget,
                                     seed=seed)
        failed = [n for n in notes if n["status"] != "ran"]
        if failed:
            raise ConfigError(f"spectra probe {failed[0]['status']}: {failed[0]['reason']}")
    from physlens.findings import findings_to_json
    if not any(f.subject != "summary" for f in findings):
        raise ConfigError(f"{path} holds no weight matrix (no tensor with 2 or more dimensions)")
    if as_json:
        print_json({"findings": findings_to_json(findings), "run_dir": None if run_dir is None else str(run_dir)})
        return
    from rich.console import Console

    console = Console()
    console.print(spectra_table(findings))
    summary = [f for f in findings if f.subject == "summary"]
    if summary:
        console.print(summary[0].statement, highlight=False)
    for f in findings:
        if f.subject != "summary" and f.value["alpha"] is None:
            console.print(f"[dim]{escape(f.statement)}[/]", highlight=False)


register = commands(_spectra)
