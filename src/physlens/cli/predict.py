"""``physlens predict``: a finished run's model predicts new rows, with calibrated intervals and OOD flags.

The run must have been made with the ``uncertainty`` probe (every ``discover`` runs it): its
finding holds the conformal scores of the held-out rows and the reference statistics of the
out-of-distribution score, and the run directory holds the model (``checkpoints/model.safetensors``,
safetensors only) and its data (``dataset.npz``). What it guarantees: for rows drawn like the
run's held-out rows, the interval at ``--level`` covers the true value with probability at least
``level`` and at most ``level + 1/(n+1)`` (n held-out rows), noise included (split conformal);
rows flagged ``ood`` are where the model extrapolates, and there no interval is trustworthy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import typer

from physlens.cli import commands, print_json
from physlens.errors import ConfigError, DataError


def load_calibrated_model(run_dir: str | Path):
    """``(Calibration, Dataset)`` of a finished run: its saved model with the uncertainty probe's calibration.

    Example:
        >>> import tempfile
        >>> from physlens.study import Study, run_study
        >>> r = run_study(Study.parse({"source": {"system": "toy_distractor", "n": 200}, "probes": [{"name": "uncertainty"}],
        ...                            "train": {"epochs": 3, "progress": False}}), out=tempfile.mkdtemp(), progress=False)
        >>> cal, ds = load_calibrated_model(r.run_dir)
        >>> cal.predict(ds.X[:2])["y"].shape
        (2, 1)
    """
    from physlens.data.dataset import Dataset
    from physlens.findings import findings_from_json
    import json
    from physlens.probes.uncertainty import Calibration
    from physlens.train.checkpoint import load_model

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ConfigError(f"run directory not found: {run_dir}")
    for name in ("findings.json", "dataset.npz", "checkpoints/model.safetensors"):
        if not (run_dir / name).exists():
            raise ConfigError(f"{run_dir} has no {name} (is it a finished physlens run?)")
    try:
        findings = findings_from_json(json.loads((run_dir / "findings.json").read_text()))
    except (ValueError, TypeError, KeyError) as exc:
        raise ConfigError(f"{run_dir / 'findings.json'} is not readable ({type(exc).__name__}: {exc})") from None
    stored = [f for f in findings if f.kind == "uncertainty" and f.probe == "uncertainty"
              and isinstance(f.value, dict) and "calibration" in f.value]
    if not stored:
        raise ConfigError(f"{run_dir} has no calibration: the uncertainty probe did not run there or had too few "
                          "held-out rows (rerun discover with it and more data)")
    dataset = Dataset.from_npz(run_dir / "dataset.npz")
    model = load_model(run_dir / "checkpoints" / "model.safetensors", dataset)
    return Calibration.from_value(stored[-1].value["calibration"], model, dataset), dataset


def read_rows(path: str | Path, inputs: list[str], allowed: list[str] = ()) -> np.ndarray:
    """The input columns of a data file as an (n, d) array, in the run's input order.

    A file lacking an input column, or holding a column that is neither an input nor one of
    ``allowed`` (the run's targets, ignored), is a one-line :class:`DataError` naming them.

    Example:
        >>> import tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "new.csv"); _ = open(p, "w").write("b,a\\n1,2\\n3,4\\n")
        >>> read_rows(p, ["a", "b"]).tolist()
        [[2.0, 1.0], [4.0, 3.0]]
    """
    from physlens.data.dataset import check_finite
    from physlens.data.loaders import _to_float, read_columns

    cols = read_columns(path)
    name = Path(path).name
    missing = [c for c in inputs if c not in cols]
    extra = [c for c in cols if c not in inputs and c not in allowed]
    if missing or extra:
        parts = ([f"missing input column(s) {', '.join(missing)}"] if missing else []) + (
            [f"unknown column(s) {', '.join(extra)}"] if extra else [])
        raise DataError(f"{name}: {'; '.join(parts)} (the model takes {', '.join(inputs)})")
    X = np.stack([_to_float(c, np.asarray(cols[c])) for c in inputs], axis=1) if inputs else np.zeros((0, 0))
    if len(X) == 0:
        raise DataError(f"{name} has no rows")
    check_finite(X, inputs, "inputs")
    return X


def predictions(run_dir: str | Path, file: str | Path, level: float = 0.9) -> dict:
    """``{"predictions": [{"y", "lower", "upper", "ood", "ood_score"}, ...], ...}`` for the rows of ``file``.

    One target: plain numbers; several: lists in the run's target order.

    Example:
        >>> import tempfile, os
        >>> from physlens.study import Study, run_study
        >>> d = tempfile.mkdtemp()
        >>> r = run_study(Study.parse({"source": {"system": "toy_distractor", "n": 200}, "probes": [{"name": "uncertainty"}],
        ...                            "train": {"epochs": 3, "progress": False}}), out=d, progress=False)
        >>> p = os.path.join(d, "new.csv"); _ = open(p, "w").write("x1,x2,x3\\n0.5,0.5,0.5\\n")
        >>> row = predictions(r.run_dir, p)["predictions"][0]
        >>> sorted(row), row["lower"] <= row["y"] <= row["upper"]
        (['interval_guaranteed', 'lower', 'ood', 'ood_score', 'upper', 'y'], True)
    """
    if not 0.0 < level < 1.0:
        raise ConfigError(f"--level must be strictly between 0 and 1, got {level}")
    cal, dataset = load_calibrated_model(run_dir)
    n_cal = len(cal.scores_)
    if np.ceil((n_cal + 1) * level) > n_cal:
        raise ConfigError(f"--level {level} needs at least {int(np.ceil(level / (1 - level)))} held-out rows; "
                          f"this run calibrated on {n_cal}")
    X = read_rows(file, dataset.input_names, allowed=dataset.target_names)
    out = cal.predict(X, level)
    one = dataset.d_out == 1

    def cell(a: np.ndarray):
        return float(a[0]) if one else [float(v) for v in a]

    rows = [{"y": cell(out["y"][i]), "lower": cell(out["lower"][i]), "upper": cell(out["upper"][i]),
             "ood": bool(out["ood"][i]), "ood_score": float(out["ood_score"][i]),
             "interval_guaranteed": not bool(out["ood"][i])} for i in range(len(X))]
    return {"predictions": rows, "targets": list(dataset.target_names), "level": float(level),
            "ood_threshold": float(cal.ood_threshold_), "calibration_rows": int(n_cal)}


def _predict(
    run_dir: Path = typer.Argument(..., help="a finished run directory (from physlens discover)"),
    file: Path = typer.Argument(..., help="CSV, Parquet, NPZ or HDF5 file with the run's input columns"),
    level: float = typer.Option(0.9, "--level", help="coverage of the intervals, in (0, 1)"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object {predictions: [...]} on stdout"),
) -> None:
    """Predict new rows with a finished run's model: value, calibrated interval, out-of-distribution flag.

    Intervals are split conformal on the run's held-out rows: for rows like those, coverage is at
    least --level (noise included). Rows flagged ood lie outside what the model was trained on.
    """
    result = predictions(run_dir, file, level)
    if as_json:
        print_json(result)
        return
    from rich.console import Console
    from rich.table import Table

    rows = result["predictions"]
    targets = result["targets"]
    table = Table(title=f"{len(rows)} prediction(s), {level:.0%} intervals ({run_dir.name})")
    table.add_column("row", justify="right")
    if len(targets) > 1:
        table.add_column("target")
    table.add_column("prediction", justify="right")
    table.add_column(f"{level:.0%} interval", justify="right")
    table.add_column("OOD score", justify="right")
    table.add_column("extrapolating", justify="center")
    shown = rows[:50]
    for i, r in enumerate(shown):
        ys, lo, hi = ([r[k]] if len(targets) == 1 else r[k] for k in ("y", "lower", "upper"))
        for j, (t, y, a, b) in enumerate(zip(targets, ys, lo, hi)):
            first = j == 0
            # an extrapolating row's interval carries no guarantee: shown dimmed and marked, not as if it held
            span = f"[dim][{a:.5g}, {b:.5g}] (no guarantee)[/]" if r["ood"] else f"[{a:.5g}, {b:.5g}]"
            table.add_row(str(i + 1) if first else "", *([t] if len(targets) > 1 else []), f"{y:.6g}",
                          span, f"{r['ood_score']:.3g}" if first else "",
                          ("[red]yes[/]" if r["ood"] else "no") if first else "",
                          end_section=len(targets) > 1 and j == len(targets) - 1)
    console = Console()
    console.print(table)
    if len(rows) > len(shown):
        console.print(f"[dim]{len(rows) - len(shown)} more row(s): use --json for all[/]")
    flagged = sum(r["ood"] for r in rows)
    console.print(f"{flagged} of {len(rows)} row(s) outside the training data (OOD score > "
                  f"{result['ood_threshold']:.3g}); intervals calibrated on {result['calibration_rows']} held-out rows"
                  + ("; the model extrapolates on the flagged rows, where no interval is guaranteed" if flagged else ""),
                  highlight=False)


register = commands(_predict)
