"""``physlens fields FILE.npz --channels "u,v:vector"``: train a grid emulator on fields and read its symmetries and PDE.

The tabular :class:`physlens.study.Study` cannot load field files yet, so this command runs the same
flow by the same parts and writes the same kind of run directory: ``study.yaml`` (what was run),
``dataset.npz`` (the fields' tabular view, the layout in ``meta["field"]``), ``checkpoints/``
(safetensors, from :func:`physlens.train.fit.fit`), ``training.json``, ``probes.json``,
``findings.json``, ``scorecard.json`` and ``report.html``. ``FILE`` may also name a built-in field
system (``vector_diffusion``), whose ground truth is then scored: :func:`score_grid_findings`
compares the grid group and the PDE coefficients (1 % relative) with the truth.
"""

from __future__ import annotations

import time
from pathlib import Path

import typer
import yaml

from physlens.cli import print_json
from physlens.errors import ConfigError
from physlens.findings import Finding, GroundTruth

BUDGET_SECONDS = {"quick": 35.0, "standard": 75.0, "thorough": 360.0}


def score_grid_findings(findings: list[Finding], truth: GroundTruth | None) -> dict:
    """Set ``match`` on the fields probe's findings from a field system's truth; return counts by kind.

    The grid group matches when the translations and the sets of D4 elements respected with and
    without the vector action equal the truth's; a PDE matches when it has the truth's terms and
    every coefficient is within 1 % (relative) of the truth's.

    Example:
        >>> from physlens.systems.fields import VectorDiffusion
        >>> from physlens.probes.fields import run
        >>> s = VectorDiffusion(grid=8); found = run(None, s.sample(4), symmetries=False, source="data")
        >>> score_grid_findings(found, s.truth)["equation"]
        {'scored': 2, 'matched': 2}
    """
    card: dict = {}
    if truth is None or "grid_symmetries" not in truth.extra:
        return card
    held = truth.extra["grid_symmetries"]
    for f in findings:
        if f.probe != "fields":
            continue
        if f.kind == "symmetry":
            g = f.value["grid_group"]
            want_v = sorted(h["element"] for h in held if h["holds"] and h["action"] == "vector")
            want_s = sorted(h["element"] for h in held if h["holds"] and h["action"] == "scalar")
            ok = (g["translations"] == bool(truth.extra.get("translations", True)) and sorted(g["vector_action"]) == want_v
                  and sorted(g["scalar_action"]) == want_s)
            f.match = bool(ok)
            f.score_detail = {"by": "grid group", "truth_vector_action": want_v, "truth_scalar_action": want_s,
                              "truth_group": truth.extra.get("group")}
        elif f.kind == "equation":
            want = truth.extra.get("pde_coefficients", {}).get(f.target)
            if want is None:
                continue
            want = {k: v for k, v in want.items() if v != 0}
            got = f.value["coefficients"]
            errs = {k: abs(got.get(k, 0.0) - v) / abs(v) for k, v in want.items()}
            ok = set(got) == set(want) and max(errs.values(), default=0.0) <= 0.01
            f.match = bool(ok)
            f.score_detail = {"by": "coefficients within 1 %", "relative_errors": errs,
                              "extra_terms": sorted(set(got) - set(want))}
        else:
            continue
        row = card.setdefault(f.kind, {"scored": 0, "matched": 0})
        row["scored"] += 1
        row["matched"] += int(bool(f.match))
    return card


def run_fields(source: str, channels: str | None = None, model: str = "cnn", epochs: int | None = None,
               budget: str = "standard", seed: int = 0, n: int = 48, params: dict | None = None,
               out: str | Path = "runs", progress: bool = False, probe_options: dict | None = None):
    """Run the fields flow end to end; returns ``(run_dir, findings, scorecard)``.

    (tests/test_fields.py runs it end to end; a run takes seconds, longer than an example may.)

    Example:
        >>> try:
        ...     run_fields("vector_diffusion", model="resnet")
        ... except ConfigError as e:
        ...     print(e)
        model must be 'cnn' or 'd4cnn', got 'resnet'
    """
    from physlens.data.fields import load_fields
    from physlens.codec import to_jsonable
    from physlens.findings import findings_to_json, score
    from physlens.io import write_json, write_text
    from physlens.models import build_model
    from physlens.probes import fields as probe
    from physlens.report import write_report
    from physlens.study import new_run_dir
    from physlens.systems.fields import FIELD_SYSTEMS, get_field_system
    from physlens.train.fit import TrainConfig, fit, relative_error

    if budget not in BUDGET_SECONDS:
        raise ConfigError(f"budget must be one of {', '.join(BUDGET_SECONDS)}, got {budget!r}")
    if model not in ("cnn", "d4cnn"):
        raise ConfigError(f"model must be 'cnn' or 'd4cnn', got {model!r}")
    if source in FIELD_SYSTEMS:
        ds = get_field_system(source, **(params or {})).sample(n, seed=seed)
    else:
        if channels is None:
            raise ConfigError("a field file needs --channels, e.g. \"u,v:vector\"")
        ds = load_fields(source, channels)
    run_dir = new_run_dir(out, f"fields-{ds.name}")
    study = {"name": f"fields-{ds.name}", "source": {"file" if source not in FIELD_SYSTEMS else "field_system": source,
                                                     "channels": channels, "n": ds.n, "seed": seed,
                                                     "params": params or {}},
             "model": {"name": model}, "train": {"epochs": epochs, "budget": budget, "seed": seed},
             "probes": [{"name": "fields", "options": probe_options or {}}]}
    write_text(run_dir / "study.yaml", yaml.safe_dump(study, sort_keys=False))
    tab = ds.tabular()
    tab.to_npz(run_dir / "dataset.npz")
    net = build_model(model, tab, seed=seed)
    cfg = TrainConfig(epochs=epochs or 3000, batch_size=4, lr=1e-2, patience=epochs or 300, seed=seed,
                      progress=progress, max_seconds=None if epochs else BUDGET_SECONDS[budget])
    result = fit(net, tab, cfg, checkpoint_dir=run_dir / "checkpoints")
    quality = {"relative_error": relative_error(result.best_val_loss)}
    write_json(run_dir / "training.json", {"summary": result.summary(), "history": result.history, "quality": quality})
    t0 = time.perf_counter()
    note = {"probe": "fields", "status": "ran", "reason": None}
    try:
        findings = probe.run(result.model, ds, seed=seed, heldout=result.val_index, **(probe_options or {}))
    except ConfigError:
        raise
    except Exception as exc:  # a failed probe is reported, as the study runner does
        findings, note = [], {"probe": "fields", "status": "failed", "reason": f"{type(exc).__name__}: {exc}"}
    note.update(seconds=time.perf_counter() - t0, findings=len(findings))
    card = score(findings, ds.truth)
    grid = score_grid_findings(findings, ds.truth)
    for kind, row in grid.items():  # the grid scorer decides the fields probe's findings
        card["kinds"][kind] = row
    card["matched"] = sum(r["matched"] for r in card["kinds"].values())
    card["scored"] = sum(r["scored"] for r in card["kinds"].values())
    if card.get("findings"):
        card["findings"] = to_jsonable([{"kind": f.kind, "subject": f.subject, "statement": f.statement,
                                         "match": f.match, "detail": f.score_detail} for f in findings])
    card["probes"] = [note]
    write_json(run_dir / "probes.json", [note])
    write_json(run_dir / "findings.json", findings_to_json(findings))
    write_json(run_dir / "scorecard.json", card)
    write_report(run_dir)
    return run_dir, findings, card


def register(app: typer.Typer) -> None:
    """Add the ``fields`` command to the app.

    Example:
        >>> app = typer.Typer(); register(app)
    """

    @app.command("fields")
    def fields(
        file: str = typer.Argument(..., help="NPZ or HDF5 file of fields (or a built-in field system: vector_diffusion)"),
        channels: str = typer.Option(None, "--channels", help="channel names and kinds, e.g. \"u,v:vector; p:scalar\""),
        model: str = typer.Option("cnn", "--model", help="cnn (plain; its learned symmetries are read) or d4cnn"),
        epochs: int = typer.Option(None, "--epochs", min=1, help="training epochs exactly (default: within the budget)"),
        n: int = typer.Option(48, "--n", min=4, help="samples drawn from a built-in field system"),
        seed: int = typer.Option(0, "--seed"),
        budget: str = typer.Option("standard", "--budget", help="quick | standard | thorough"),
        out: Path = typer.Option(Path("runs"), "--out", help="parent directory of the run directory"),
        as_json: bool = typer.Option(False, "--json", help="print one JSON object on stdout"),
    ) -> None:
        """Train a grid emulator on fields; report the grid transformations it respects and the PDE (SINDy).

        The fields come as `inputs`/`targets` arrays (samples x channels x H x W) or one array per
        channel with targets `d<name>_dt`; `--channels` declares which channels form vectors.
        """
        from rich.console import Console

        from physlens.findings import findings_to_json

        run_dir, found, card = run_fields(file, channels, model=model, epochs=epochs, budget=budget, seed=seed, n=n,
                                          out=out, progress=not as_json)
        if as_json:
            print_json({"findings": findings_to_json(found), "run_dir": str(run_dir)})
            return
        console = Console()
        for f in found:
            badge = "" if f.match is None else (" [green]matches truth[/]" if f.match else " [red]does not match[/]")
            console.print(f"[bold]{f.kind}[/] ({f.confidence:.2f}): {f.statement}{badge}", highlight=False)
        console.print(f"report: {run_dir / 'report.html'}", soft_wrap=True)


__all__ = ["register", "run_fields", "score_grid_findings"]
