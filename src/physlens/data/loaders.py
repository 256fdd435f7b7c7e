"""Load a user's own measurements from CSV, Parquet, NPZ or HDF5 into a :class:`Dataset`.

The file is read into columns, the target and input columns are picked by
name, and everything is validated here, once, with a :class:`DataError` that
names the column and row: missing column, non-numeric cell, NaN/inf, constant
column, too few rows, unknown unit.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from physlens.data.dataset import Dataset, check_finite
from physlens.data.units import parse_units_spec
from physlens.errors import DataError

MIN_ROWS = 20
FORMATS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".npz": "npz",
    ".h5": "hdf5",
    ".hdf5": "hdf5",
    ".hdf": "hdf5",
}


def _split_names(value: str | list[str] | None) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        names = [v.strip() for v in value.split(",") if v.strip()]
        return names or None
    return [str(v) for v in value]


def read_columns(path: str | Path) -> dict[str, np.ndarray]:
    """Read a file into ``{column name: 1-D array}`` (values not yet checked).

    Example:
        >>> import tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "d.csv"); _ = open(p, "w").write("a,b\\n1,2\\n3,4\\n")
        >>> sorted(read_columns(p))
        ['a', 'b']
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"file not found: {path}")
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DataError(f"unsupported file type {path.suffix!r} for {path.name}; use one of {', '.join(sorted(FORMATS))}")
    try:
        if fmt == "csv":
            import pandas as pd

            sep = "\t" if path.suffix.lower() == ".tsv" else None
            df = pd.read_csv(path, sep=sep, engine="python", skipinitialspace=True, dtype=str, keep_default_na=False)
            return {str(c).strip(): df[c].to_numpy() for c in df.columns}
        if fmt == "parquet":
            import pandas as pd

            df = pd.read_parquet(path)
            return {str(c): df[c].to_numpy() for c in df.columns}
        if fmt == "npz":
            with np.load(path, allow_pickle=False) as z:
                cols: dict[str, np.ndarray] = {}
                for k in z.files:
                    a = z[k]
                    if a.ndim == 1:
                        cols[k] = a
                    elif a.ndim == 2:
                        for j in range(a.shape[1]):
                            cols[f"{k}{j}"] = a[:, j]
                    else:
                        raise DataError(f"array {k!r} in {path.name} has {a.ndim} dimensions; store one column per 1-D array")
                return cols
        import h5py

        cols = {}
        with h5py.File(path, "r") as f:

            def visit(name, obj):
                if isinstance(obj, h5py.Dataset):
                    a = obj[()]
                    if a.dtype.names:  # a table (compound dtype)
                        for field in a.dtype.names:
                            cols[field] = np.asarray(a[field])
                    elif a.ndim == 1:
                        cols[name] = np.asarray(a)
                    elif a.ndim == 2:
                        for j in range(a.shape[1]):
                            cols[f"{name}{j}"] = a[:, j]

            f.visititems(visit)
        return cols
    except DataError:
        raise
    except Exception as exc:  # a corrupt or unreadable file
        raise DataError(f"cannot read {path.name} as {fmt}: {exc}") from None


def _to_float(name: str, values: np.ndarray) -> np.ndarray:
    if values.dtype.kind in "fiub":
        return values.astype(np.float64)
    out = np.empty(len(values), dtype=np.float64)
    for i, v in enumerate(values):
        s = v.decode() if isinstance(v, bytes) else str(v)
        s = s.strip()
        if s == "":
            raise DataError(f"column {name!r} has an empty cell in row {i + 1}")
        try:
            out[i] = float(s)
        except ValueError:
            raise DataError(f"column {name!r} has a non-numeric value {s!r} in row {i + 1}") from None
    return out


def load(
    path: str | Path,
    target: str | list[str] | None = None,
    inputs: str | list[str] | None = None,
    units: str | dict | None = None,
    min_rows: int = MIN_ROWS,
    allow_constant: bool = False,
    groups: str | None = None,
) -> Dataset:
    """Load a data file into a validated :class:`Dataset`.

    Args:
        path: ``.csv``/``.tsv``, ``.parquet``, ``.npz`` or ``.h5``/``.hdf5``.
        target: target column name(s); defaults to the last column.
        inputs: input column names (comma-separated or a list); defaults to all other columns.
        units: ``"F=N,eta=Pa*s"`` or a dict of pint units per column.
        min_rows: fewer rows than this is an error.
        allow_constant: accept constant input columns (otherwise an error).
        groups: a column naming the trajectory (run, experiment) of each row, any labels. It is
            not an input; it becomes ``aux["trajectory"]``, so training validates on held-out
            trajectories and the dynamics probes keep trajectories apart.

    Example:
        >>> import tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "d.csv")
        >>> rows = "\\n".join(f"{i},{i % 3},{2 * i}" for i in range(30))
        >>> _ = open(p, "w").write("a,b,y\\n" + rows)
        >>> ds = load(p, target="y", units="a=m,y=m")
        >>> ds.input_names, ds.target_names, ds.units["a"]
        (['a', 'b'], ['y'], 'm')
    """
    path = Path(path)
    cols = read_columns(path)
    if not cols:
        raise DataError(f"{path.name} has no columns")
    names = list(cols)
    targets = _split_names(target) or [names[-1]]
    for c in targets:
        if c not in cols:
            raise DataError(f"target column {c!r} not found in {path.name}; columns are: {', '.join(names)}")
    if groups is not None:
        if groups not in cols:
            raise DataError(f"groups column {groups!r} not found in {path.name}; columns are: {', '.join(names)}")
        if groups in targets:
            raise DataError(f"column {groups!r} is both the groups column and a target")
    input_list = _split_names(inputs) or [c for c in names if c not in targets and c != groups]
    if groups is not None and groups in input_list:
        raise DataError(f"column {groups!r} is both the groups column and an input")
    for c in input_list:
        if c not in cols:
            raise DataError(f"input column {c!r} not found in {path.name}; columns are: {', '.join(names)}")
        if c in targets:
            raise DataError(f"column {c!r} is both an input and the target")
    if not input_list:
        raise DataError(f"no input columns left in {path.name} besides the target")
    n = len(cols[targets[0]])
    if n < min_rows:
        raise DataError(f"{path.name} has only {n} rows; at least {min_rows} are needed")
    X = np.column_stack([_to_float(c, cols[c]) for c in input_list])
    y = np.column_stack([_to_float(c, cols[c]) for c in targets])
    check_finite(X, input_list, "inputs")
    check_finite(y, targets, "targets")
    spread = X.max(axis=0) - X.min(axis=0)
    if not allow_constant:
        for j, c in enumerate(input_list):
            if spread[j] == 0:
                raise DataError(f"column {c!r} is constant (every row is {X[0, j]:g}); it carries no information")
    for j, c in enumerate(targets):
        if np.ptp(y[:, j]) == 0:
            raise DataError(f"target column {c!r} is constant (every row is {y[0, j]:g}); there is nothing to learn")
    unit_map = parse_units_spec(units, columns=input_list + targets)
    aux = {}
    if groups is not None:
        labels = np.asarray(cols[groups])
        if labels.dtype.kind == "f" and not np.all(np.isfinite(labels)):
            raise DataError(f"groups column {groups!r} has missing or non-finite labels")
        aux["trajectory"] = np.unique(labels, return_inverse=True)[1].astype(np.int64)
    return Dataset(
        X=X,
        y=y,
        input_names=input_list,
        target_names=targets,
        units=unit_map,
        aux=aux,
        meta={"source": str(path)},
        name=path.stem,
    )
