"""Sweeps: one study, the product of a grid of settings, one run directory per point and a table.

``--grid "model.params.width=32,64,128" --grid "seed=0,1,2"`` gives nine points; each
is the study with those dotted keys set, validated before anything runs, and run
through :mod:`physlens.execution` (local pool or Ray) as one task. A point's
summary (its scores, fit quality, how many findings of each kind, its run
directory) is stored as it finishes, so re-running an interrupted sweep runs only
the missing points. The whole table goes to ``sweep.json`` in the sweep's folder.

Grid values are read as YAML scalars (``32`` is a number, ``mlp`` text, ``null``
None); a value cannot itself contain a comma. Setting a ``train.*`` key makes the
training recipe explicit (the study's own choice of recipe is then not used); the
top-level ``seed`` varies the chosen recipe's seed instead.
"""

from __future__ import annotations

import copy
import itertools
import time
from pathlib import Path
from typing import Any

import yaml

from physlens.errors import ConfigError


def parse_grid(items: list[str] | None) -> list[tuple[str, list[Any]]]:
    """``["model.params.width=32,64", "seed=0,1"]`` -> ``[("model.params.width", [32, 64]), ("seed", [0, 1])]``.

    Example:
        >>> parse_grid(["model.kind=mlp,graph", "seed=0,1"])
        [('model.kind', ['mlp', 'graph']), ('seed', [0, 1])]
    """
    out: list[tuple[str, list[Any]]] = []
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"--grid {item!r} must look like KEY=V1,V2,...")
        key, _, values = item.partition("=")
        key = key.strip()
        if not key or any(not part for part in key.split(".")):
            raise ConfigError(f"--grid {item!r}: the key must be dotted names like model.params.width")
        vals = []
        for v in values.split(","):
            v = v.strip()
            if not v:
                raise ConfigError(f"--grid {item!r} has an empty value")
            try:
                vals.append(yaml.safe_load(v))
            except yaml.YAMLError:
                vals.append(v)
        if key in {k for k, _ in out}:
            raise ConfigError(f"--grid names {key!r} twice")
        out.append((key, vals))
    return out


def set_dotted(data: dict, key: str, value: Any) -> dict:
    """A copy of ``data`` with the dotted ``key`` set to ``value`` (missing levels are created).

    Example:
        >>> set_dotted({"model": {"kind": "mlp"}}, "model.params.width", 64)
        {'model': {'kind': 'mlp', 'params': {'width': 64}}}
    """
    out = copy.deepcopy(data)
    node = out
    parts = key.split(".")
    for p in parts[:-1]:
        if node.get(p) is None:
            node[p] = {}
        if not isinstance(node[p], dict):
            raise ConfigError(f"cannot set {key!r}: {p!r} is not a section of the study")
        node = node[p]
    node[parts[-1]] = value
    return out


def point_key(point: dict[str, Any]) -> str:
    """A point's name: ``"width=64,seed=1"`` (the last part of each dotted key).

    Example:
        >>> point_key({"model.params.width": 64, "seed": 1})
        'model.params.width=64,seed=1'
    """
    return ",".join(f"{k}={v}" for k, v in point.items()) or "base"


def grid_points(study: dict, grid: list[tuple[str, list[Any]]]) -> list[tuple[str, dict, dict]]:
    """``(key, point, study dict)`` for every point of the grid's product; each study is validated.

    Example:
        >>> pts = grid_points({"source": {"system": "toy_distractor"}}, parse_grid(["seed=0,1"]))
        >>> [k for k, _, _ in pts]
        ['seed=0', 'seed=1']
    """
    from physlens.study import Study

    keys = [k for k, _ in grid]
    out = []
    for values in itertools.product(*[v for _, v in grid]):
        point = dict(zip(keys, values))
        data = study
        for k, v in point.items():
            data = set_dotted(data, k, v)
        key = point_key(point)
        Study.parse(data, where=f"sweep point {key}")  # every point is checked before any runs
        out.append((key, point, data))
    return out


def run_point(study: dict, out: str, key: str) -> dict:
    """Run one point's study (a task of the sweep) and summarise it.

    Example:
        >>> import tempfile
        >>> row = run_point({"source": {"system": "toy_distractor", "n": 200},
        ...                  "train": {"epochs": 2, "progress": False}, "probes": [{"name": "attribution"}]},
        ...                 tempfile.mkdtemp(), "demo")
        >>> row["key"], sum(row["findings"].values()) > 0, row["scored"] >= row["matched"]
        ('demo', True, True)
    """
    from physlens.scoring.coverage import coverage
    from physlens.study import Study, run_study

    t0 = time.perf_counter()
    s = Study.parse(study, where=f"sweep point {key}")
    result = run_study(s, out=out, progress=False)
    counts: dict[str, int] = {}
    for f in result.findings:
        counts[f.kind] = counts.get(f.kind, 0) + 1
    summary = result.train.summary() if result.train is not None else {}
    return {
        "key": key,
        "run_dir": str(result.run_dir),
        "matched": result.scorecard.get("matched", 0),
        "scored": result.scorecard.get("scored", 0),
        "relative_error": summary.get("relative_error"),
        "best_val_loss": summary.get("best_val_loss"),
        "findings": counts,
        "coverage": coverage(result.findings, result.dataset.truth),
        "probes": {p["probe"]: p["status"] for p in result.probes},
        "seconds": time.perf_counter() - t0,
    }


def run_sweep(study: dict, grid: list[tuple[str, list[Any]]], out: str | Path, executor: str = "local",
              jobs: int | None = None, address: str | None = None, progress: bool = True,
              track: str | None = None, tracking_uri: str | None = None) -> dict:
    """Run every point of the grid; return ``{"points": [row, ...], "failed": [...], "seconds"}``.

    Rows follow the grid's order; each row has the point's settings, its scores and run
    directory. Finished points found in ``out/.tasks`` are not run again.

    Example:
        >>> import tempfile
        >>> base = {"source": {"system": "toy_distractor", "n": 200},
        ...         "train": {"epochs": 2, "progress": False}, "probes": [{"name": "attribution"}]}
        >>> sw = run_sweep(base, parse_grid(["train.lr=0.01,0.003"]), tempfile.mkdtemp(), jobs=1, progress=False)
        >>> [r["key"] for r in sw["points"]], sw["failed"]
        (['train.lr=0.01', 'train.lr=0.003'], [])
    """
    from physlens.execution import Task, run_tasks
    from physlens.findings import to_jsonable
    from physlens.io import write_json

    out = Path(out)
    points = grid_points(study, grid)
    if track not in (None, "mlflow"):
        raise ConfigError(f"--track must be 'mlflow', got {track!r}")
    tracker = None
    if track == "mlflow":
        from physlens.tracking import MlflowTracker

        tracker = MlflowTracker(uri=tracking_uri, experiment=str(study.get("name") or out.name))
    runs_dir = out / "runs"
    tasks = [Task(key, "physlens.sweep:run_point", {"study": data, "out": str(runs_dir), "key": key})
             for key, _, data in points]
    t0 = time.perf_counter()

    def tracked(r) -> None:
        if tracker is not None and r.ok and not r.resumed:
            tracker.log_run(r.value["run_dir"], params=dict(next(p for k, p, _ in points if k == r.key)),
                            summary=r.value)

    results = run_tasks(tasks, executor=executor, jobs=jobs, address=address, store=out / ".tasks",
                        progress=progress, on_result=tracked)
    rows, failed = [], []
    for (key, point, _), r in zip(points, results):
        if r.ok:
            rows.append({"params": point, **r.value})
        else:
            failed.append({"key": key, "params": point, "error": r.error})
    sweep = {"grid": [[k, v] for k, v in grid], "executor": executor, "points": rows, "failed": failed,
             "seconds": time.perf_counter() - t0}
    write_json(out / "sweep.json", to_jsonable(sweep))
    return sweep


def sweep_table(sweep: dict):
    """A Rich table: one row per point, its settings, matched/scored, fit error, findings and time.

    Example:
        >>> sweep_table({"grid": [["seed", [0]]], "points": [], "failed": []}).row_count
        0
    """
    from rich.table import Table

    keys = [k for k, _ in sweep["grid"]]
    table = Table(title="Sweep")
    for k in keys:
        table.add_column(k)
    for col in ("matched/scored", "rel. error", "findings", "s", "run directory"):
        table.add_column(col, justify="right" if col != "run directory" else "left")
    for row in sweep["points"]:
        rel = row.get("relative_error")
        found = ", ".join(f"{k} {v}" for k, v in sorted(row.get("findings", {}).items()))
        table.add_row(*[str(row["params"].get(k)) for k in keys], f"{row['matched']}/{row['scored']}",
                      "-" if rel is None else f"{rel:.2%}", found, f"{row['seconds']:.0f}", row["run_dir"])
    for row in sweep["failed"]:
        table.add_row(*[str(row["params"].get(k)) for k in keys], "[red]failed[/]", "", row["error"][:80], "", "")
    return table
