"""``physlens conserved``: a shortcut for ``discover FILE --groups RUN --time T --probes conservation``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import typer

from rich.markup import escape
from physlens.cli import AsJson, Budget, Out, Seed, commands, print_findings
from physlens.errors import DataError


def check_trajectory_file(path: str | Path, groups: str, time: str) -> None:
    """One-line errors for trajectory files the conservation study cannot read: one run, unsorted times, runs of one point.

    (Missing columns, NaN, repeated times and runs too short to differentiate are the loader's
    own errors.)

    Example:
        >>> import tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "one.csv")
        >>> _ = open(p, "w").write("run,t,q\\n" + "".join(f"a,{i},{i * i}\\n" for i in range(8)))
        >>> check_trajectory_file(p, "run", "t")
        Traceback (most recent call last):
        ...
        physlens.errors.DataError: only one run ('a') in column 'run': conserved quantities need several trajectories
    """
    from physlens.data.loaders import read_columns

    path = Path(path)
    if not path.exists():
        raise DataError(f"file not found: {path}")
    cols = read_columns(path)
    for what, name in (("groups", groups), ("time", time)):
        if name not in cols:
            raise DataError(f"{what} column {name!r} not found in {path.name}; columns are: {', '.join(cols)}")
    labels = np.asarray(cols[groups])
    try:
        t = np.asarray(cols[time], dtype=float)
    except (TypeError, ValueError):
        raise DataError(f"time column {time!r} is not numeric") from None
    bad = np.flatnonzero(~np.isfinite(t))
    if len(bad):
        raise DataError(f"time column {time!r} has NaN or infinite value in row {int(bad[0]) + 1}")
    runs, inverse, counts = np.unique(labels.astype(str), return_inverse=True, return_counts=True)
    if len(runs) < 2:
        raise DataError(f"only one run ('{runs[0]}') in column {groups!r}: conserved quantities need several trajectories")
    single = runs[counts < 2]
    if len(single):
        listed = ", ".join(f"'{r}'" for r in single[:5]) + (f" and {len(single) - 5} more" if len(single) > 5 else "")
        raise DataError(f"runs of one point in column {groups!r}: {listed}; a trajectory needs several time points")
    for k in range(len(runs)):
        rows = np.flatnonzero(inverse == k)
        step = np.diff(t[rows])
        back = np.flatnonzero(step < 0)
        if len(back):
            i = rows[back[0] + 1]
            raise DataError(f"run '{runs[k]}' has unsorted times: row {int(i) + 1} (t={t[i]:g}) comes after "
                            f"t={t[rows[back[0]]]:g}; sort each run by time")
        same = np.flatnonzero(step == 0)
        if len(same):
            i = rows[same[0] + 1]
            raise DataError(f"run '{runs[k]}' has a repeated time t={t[i]:g} (row {int(i) + 1}); times must be "
                            "distinct within a run")


def _conserved(
    file: Path = typer.Argument(..., help="CSV, Parquet, NPZ or HDF5 file of trajectories"),
    groups: str = typer.Option(..., "--groups", help="column naming each row's run (trajectory)"),
    time_col: str = typer.Option(..., "--time", help="column of each row's time"),
    inputs: str = typer.Option(None, "--inputs", help="state columns, comma-separated (default: all others)"),
    seed: Seed = 0,
    budget: Budget = "standard",
    out: Out = Path("runs"),
    as_json: AsJson = False,
) -> None:
    """Find the conserved quantities of trajectories: how many, and which in closed form.

    A shortcut for `physlens discover FILE --groups RUN --time T --probes conservation`: the
    state's time derivatives are estimated from the trajectories, an emulator of the flow is
    trained, and each independent conserved quantity comes as one finding (SymPy in the file's
    column names, LaTeX, relative variation along held-out trajectories).
    """
    from physlens.study import build_study, run_study

    check_trajectory_file(file, groups, time_col)
    study = build_study(str(file), inputs=inputs, probes="conservation", seed=seed, groups=groups,
                        time_column=time_col, progress=not as_json, budget=budget)
    result = run_study(study, out=out, progress=not as_json)
    print_findings(result, as_json, _show, "conservation", kind="conserved",
                   nothing="No conserved quantity in closed form.")


def _show(console, f) -> None:
    if f.kind != "conserved":
        console.print(escape(f.statement), highlight=False)
        return
    console.print(f"[bold]{escape(f.value['expression'])}[/]  (relative variation {f.value['relative_variation']:.2g}, "
                  f"confidence {f.confidence:.2f})", highlight=False)


register = commands(_conserved)
