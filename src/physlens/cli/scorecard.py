"""``physlens scorecard``: the default study on every built-in system, one table of what was rediscovered.

Each system runs the same study ``physlens discover SYSTEM`` runs (every probe that applies,
the chosen training recipe, one budget), in its own run directory under ``--out``. The table
has a row per system and a column per finding kind: matched / missed / spurious against the
system's ground truth (:func:`physlens.scoring.coverage.coverage`). The whole card is written
as ``scorecard.json`` and ``scorecard.html`` next to the run directories.
"""

from __future__ import annotations

import html
import json
import time
from pathlib import Path

import typer

from physlens.cli import Budget, Seed, commands, print_json


def score_system(name: str, budget: str, out: str, seed: int = 0, threads: int = 1, epochs: int | None = None,
                 probes: str | None = None) -> dict:
    """Run the default study on built-in system ``name`` and summarise it against its truth.

    ``epochs`` fixes the training (default: the budget's recipe, trained to the probes' needs);
    ``probes`` (comma-separated) restricts the probes (default: every one that applies).

    Example:
        >>> import tempfile
        >>> row = score_system("toy_distractor", "quick", tempfile.mkdtemp())  # doctest: +SKIP
        >>> row["coverage"]["relevant-variable"]["missed"]  # doctest: +SKIP
        0
    """
    import torch

    from physlens.scoring.coverage import coverage
    from physlens.study import build_study, run_study

    torch.set_num_threads(max(1, threads))
    t0 = time.perf_counter()
    try:
        study = build_study(name, budget=budget, seed=seed, progress=False, epochs=epochs, probes=probes)
        result = run_study(study, out=out, progress=False)
    except Exception as exc:  # one system failing is a row of the card, not the end of it
        return {"system": name, "error": f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}",
                "seconds": time.perf_counter() - t0}
    return {
        "system": name,
        "run_dir": str(result.run_dir),
        "seconds": time.perf_counter() - t0,
        "coverage": coverage(result.findings, result.dataset.truth),
        "matched": result.scorecard.get("matched", 0),
        "scored": result.scorecard.get("scored", 0),
        "probes": [{k: v for k, v in p.items() if k != "traceback"} for p in result.probes],
        "relative_error": (result.train.summary().get("relative_error") if result.train is not None else None),
    }


class Scorecard(dict):
    """The scorecard: a plain dict (JSON as it is) that shows itself as its HTML table in Jupyter.

    Example:
        >>> card = Scorecard(budget="quick", systems=[], totals={}, seconds=0.0)
        >>> "<table" in card._repr_html_()
        True
    """

    def _repr_html_(self) -> str:
        return scorecard_page(self)


def run_scorecard(systems: list[str], budget: str = "quick", out: str | Path = "runs/scorecard", jobs: int = 1,
                  seed: int = 0, progress: bool = True, executor: str = "local", address: str | None = None,
                  epochs: int | None = None, probes: str | None = None) -> dict:
    """Score the default study on ``systems``; ``jobs`` side by side on the local pool or on Ray.

    Returns ``{"budget", "systems": [row, ...], "totals": {kind: {matched, missed, spurious}}, "seconds"}``.
    Each system is one task of :mod:`physlens.execution`, with the same threads on either backend.

    Example:
        >>> card = run_scorecard([], progress=False)
        >>> card["systems"], card["totals"]
        ([], {})
    """
    from physlens.execution import Task, available_cores, run_tasks

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    threads = max(1, available_cores() // max(1, jobs))  # capped by OMP_NUM_THREADS when the caller sets it
    tasks = [Task(name, "physlens.cli.scorecard:score_system",
                  {"name": name, "budget": budget, "out": str(out), "seed": seed, "threads": threads,
                   "epochs": epochs, "probes": probes}, cpus=threads)
             for name in systems]
    results = run_tasks(tasks, executor=executor, jobs=jobs, address=address, progress=progress)
    ordered = [r.value if r.ok else {"system": r.key, "error": r.error, "seconds": r.seconds} for r in results]
    totals: dict[str, dict[str, int]] = {}
    for row in ordered:
        for kind, c in (row.get("coverage") or {}).items():
            t = totals.setdefault(kind, {"matched": 0, "missed": 0, "spurious": 0})
            for key in t:
                t[key] += int(c.get(key, 0))
    return Scorecard(budget=budget, systems=ordered, totals=totals, seconds=time.perf_counter() - t0,
                     executor=executor)


def _cell(c: dict | None) -> str:
    if not c:
        return "-"
    return f"{c['matched']}/{c['missed']}/{c['spurious']}"


def scorecard_table(card: dict):
    """A Rich table: systems x finding kinds, each cell matched/missed/spurious.

    Example:
        >>> scorecard_table({"systems": [], "totals": {}, "budget": "quick", "seconds": 0}).row_count
        1
    """
    from rich.table import Table

    kinds = sorted({k for row in card["systems"] for k in (row.get("coverage") or {})})
    table = Table(title=f"Rediscovery scorecard (budget {card['budget']}; cells: matched/missed/spurious)")
    table.add_column("system", style="bold")
    for k in kinds:
        table.add_column(k, justify="center")
    table.add_column("s", justify="right")
    for row in card["systems"]:
        if "error" in row:
            table.add_row(row["system"], *(["[red]error[/]"] * len(kinds)), f"{row['seconds']:.0f}")
            continue
        cells = []
        for k in kinds:
            c = (row.get("coverage") or {}).get(k)
            text = _cell(c)
            if c and (c["missed"] or c["spurious"]):
                text = f"[yellow]{text}[/]"
            cells.append(text)
        table.add_row(row["system"], *cells, f"{row['seconds']:.0f}")
    table.add_row("[bold]total[/]", *[_cell(card["totals"].get(k)) for k in kinds], f"{card['seconds']:.0f}")
    return table


def scorecard_page(card: dict) -> str:
    """The scorecard as a self-contained HTML page (every name escaped).

    Example:
        >>> "<table" in scorecard_page({"systems": [], "totals": {}, "budget": "quick", "seconds": 0})
        True
    """
    kinds = sorted({k for row in card["systems"] for k in (row.get("coverage") or {})})
    head = "".join(f"<th>{html.escape(k)}</th>" for k in kinds)
    body = []
    for row in card["systems"]:
        cells = []
        for k in kinds:
            c = (row.get("coverage") or {}).get(k)
            bad = c and (c["missed"] or c["spurious"])
            cells.append(f"<td class='{'bad' if bad else 'ok'}'>{html.escape(_cell(c))}</td>")
        if "error" in row:
            cells = [f"<td class='bad' colspan='{max(1, len(kinds))}'>{html.escape(row['error'])}</td>"]
        body.append(f"<tr><th>{html.escape(row['system'])}</th>{''.join(cells)}<td>{row['seconds']:.0f}</td></tr>")
    total = "".join(f"<td>{html.escape(_cell(card['totals'].get(k)))}</td>" for k in kinds)
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>physlens scorecard</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 10px;text-align:center}}td.bad{{background:#fde2c8}}
td.ok{{background:#e3f4e3}}</style></head><body>
<h1>Rediscovery scorecard</h1><p>budget {html.escape(str(card['budget']))}; cells: matched / missed / spurious;
{card['seconds']:.0f} s in all</p>
<table><tr><th>system</th>{head}<th>s</th></tr>{''.join(body)}
<tr><th>total</th>{total}<td></td></tr></table></body></html>"""


def _scorecard(
    systems: str = typer.Option(None, "--systems", help="comma-separated built-in systems (default: all)"),
    budget: Budget = "quick",
    jobs: int = typer.Option(1, "--jobs", min=1, help="systems run side by side (processes or Ray tasks)"),
    executor: str = typer.Option("local", "--executor", help="local | ray"),
    address: str = typer.Option(None, "--address", help="Ray cluster address (default: a local cluster)"),
    out: Path = typer.Option(Path("runs/scorecard"), "--out", help="where the run directories and the card go"),
    seed: Seed = 0,
    epochs: int = typer.Option(None, "--epochs", min=1, help="train exactly this many epochs (default: the "
                               "budget's recipe)"),
    probes: str = typer.Option(None, "--probes", help="comma-separated probes (default: every one that applies)"),
    as_json: bool = typer.Option(False, "--json", help="print the card as one JSON object on stdout"),
) -> None:
    """Run the default study on every built-in system and print what was matched, missed and spurious."""
    from rich.console import Console

    from physlens.errors import ConfigError
    from physlens.findings import to_jsonable
    from physlens.io import write_json, write_text
    from physlens.systems import registry

    names = [s.strip() for s in systems.split(",") if s.strip()] if systems else list(registry())
    unknown = [s for s in names if s not in registry()]
    if unknown:
        raise ConfigError(f"unknown system(s) {', '.join(unknown)}; see `physlens systems`")
    card = run_scorecard(names, budget=budget, out=out, jobs=jobs, seed=seed, progress=not as_json,
                         executor=executor, address=address, epochs=epochs, probes=probes)
    write_json(out / "scorecard.json", to_jsonable(card))
    write_text(out / "scorecard.html", scorecard_page(card))
    if as_json:
        print_json(json.loads(json.dumps(to_jsonable(card))))
        return
    console = Console()
    console.print(scorecard_table(card))
    console.print(f"card: {out / 'scorecard.json'}, {out / 'scorecard.html'}", soft_wrap=True)


register = commands(_scorecard)
