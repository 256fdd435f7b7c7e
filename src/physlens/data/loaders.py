"""Load a user's own measurements from CSV, Parquet, NPZ or HDF5 into a :class:`Dataset`.

The file is read into columns, the target and input columns are picked by
name, and everything is validated here, once, with a :class:`DataError` that
names the column and row: missing column, non-numeric cell, NaN/inf, constant
column, too few rows, unknown unit. A text table may separate its columns with commas,
semicolons, tabs, bars or spaces, start with ``#`` comment lines, and (with a separator other
than the comma) write its decimals with a comma, as spreadsheets do in many locales.
"""

from __future__ import annotations

import csv
import io
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from physlens.data.dataset import Dataset, check_finite
from physlens.data.derivatives import MIN_POINTS, differentiate
from physlens.data.units import parse_units_spec
from physlens.errors import DataError

MIN_ROWS = 20
FORMATS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".dat": "csv",
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


_MAGIC = {  # what a file's first bytes say it is, to name a misnamed file
    b"PK\x03\x04": "a zip archive (an .npz?)",
    b"PK\x05\x06": "an empty zip archive",
    b"PAR1": "a Parquet file",
    b"\x89HDF\r\n\x1a\n": "an HDF5 file",
    b"\x93NUMPY": "a NumPy .npy array",
    b"\x80": "a Python pickle",
    b"\x1f\x8b": "a gzip archive",
    b"%PDF": "a PDF document",
    b"\x89PNG": "a PNG image",
}
_SIZE_LIMIT = 2 * 1024**3  # a text table larger than this is read by pandas in chunks, not here


def _one_line(exc: BaseException, limit: int = 200) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _looks_like(head: bytes) -> str | None:
    for magic, what in _MAGIC.items():
        if head.startswith(magic):
            return what
    return None


def _is_binary(data: bytes) -> bool:
    """Binary data, not text: a NUL byte, or many control characters, in the first 8 KiB."""
    head = data[:8192]
    if b"\x00" in head:
        return True
    control = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13)) + head.count(b"\x7f")
    return control > 0.05 * max(len(head), 1)


def _decode_text(path: Path, data: bytes) -> str:
    """The text of a table file: UTF-8 (with or without a byte-order mark) or UTF-16 with its mark."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            pass
    elif _is_binary(data):
        what = _looks_like(data)
        hint = f" (it looks like {what})" if what else ""
        raise DataError(f"{path.name} is not text but binary data{hint}; a {path.suffix} file must be a text table")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DataError(
            f"{path.name} is not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}); save it as UTF-8"
        ) from None


def _delimiter(text: str, suffix: str) -> str:
    """The column separator: tab for .tsv, else the one the sniffer finds among , ; tab |, else whitespace."""
    if suffix == ".tsv":
        return "\t"
    lines = [ln for ln in text.splitlines() if ln.strip()][:20]
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=",;\t|").delimiter
    except csv.Error:
        first = lines[0]
        for d in ",;\t|":
            if d in first:
                return d
        return r"\s+" if len(first.split()) > 1 else ","


def _csv_message(path: Path, exc: Exception) -> str:
    text = _one_line(exc)
    m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", text)
    if m:
        return f"{path.name}: line {m.group(2)} has {m.group(3)} fields but the header has {m.group(1)}"
    if "unexpected end of data" in text or "EOF inside string" in text:
        return f"{path.name} has a quote (\") that is never closed"
    return f"cannot read {path.name} as a CSV table: {text}"


def _read_csv(path: Path) -> dict[str, np.ndarray]:
    import pandas as pd

    text = _decode_text(path, path.read_bytes())
    # the last comment line before the first row may hold the names (``# m v E``, as numpy.savetxt writes them)
    comment_names = None
    for ln in text.split("\n"):
        if ln.lstrip().startswith("#"):
            comment_names = ln.lstrip()[1:].strip()
        elif ln.strip():
            break
    # whole-line comments (``# measured on ...``) are blanked, so that line numbers in messages stay the file's
    text = "\n".join("" if ln.lstrip().startswith("#") else ln for ln in text.split("\n"))
    if not text.strip():
        raise DataError(f"{path.name} is empty (only blank lines or comments): expected a header line of column names")
    sep = _delimiter(text, path.suffix.lower())
    try:
        df = pd.read_csv(io.StringIO(text), sep=sep, engine="python", skipinitialspace=True, dtype=str,
                         keep_default_na=False, header=None, skip_blank_lines=True)
    except Exception as exc:  # the csv module's and pandas' parse errors
        raise DataError(_csv_message(path, exc)) from None
    header = ["" if isinstance(v, float) else str(v).strip() for v in df.iloc[0]]
    body_start = 1
    if header and all(_is_number(h) for h in header):  # no header line: the first line is data
        # the comment's names split as the rows are, or else at white space (``# m v E`` above comma rows)
        names = []
        for split in (r"\s+" if sep == r"\s+" else re.escape(sep), r"[\s,;|]+"):
            names = [n.strip() for n in re.split(split, comment_names or "") if n.strip()]
            if len(names) == len(header):
                break
        if len(names) != len(header):
            raise DataError(f"{path.name} has no header line of column names: its first line is numbers "
                            f"({', '.join(header[:4])}{', ...' if len(header) > 4 else ''}); add a first line "
                            f"naming the {len(header)} columns")
        header, body_start = names, 0
    for j, name in enumerate(header):
        if not name:
            raise DataError(f"column {j + 1} of {path.name} has no name in the header line")
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise DataError(f"{path.name} has two columns named {name!r}")
        seen.add(name)
    body = df.iloc[body_start:]
    if sep != "," and _decimal_commas(body):  # 2,5;3,1 (a spreadsheet's export in many locales)
        body = body.apply(lambda col: col.str.replace(",", ".", regex=False))
    return {name: body.iloc[:, j].to_numpy() for j, name in enumerate(header)}


def _is_number(cell: str) -> bool:
    """Whether a header cell reads as a number (``2.5``, ``-1e3``, ``2,5``): then the line is data, not names."""
    try:
        float(cell.replace(",", ".", 1) if _DECIMAL_COMMA.match(cell) else cell)
    except ValueError:
        return False
    return True


_DECIMAL_COMMA = re.compile(r"^[+-]?(\d+,\d*|,\d+)([eE][+-]?\d+)?$")
_PLAIN_NUMBER = re.compile(r"^[+-]?\d+([eE][+-]?\d+)?$")


def _decimal_commas(body) -> bool:
    """Whether the cells write decimals with a comma: every non-empty cell a number, some with one comma."""
    values = body.to_numpy().astype(str).ravel()
    if not np.any(np.char.find(values, ",") >= 0):  # the common case, settled without a regex per cell
        return False
    cells = [c for c in (v.strip() for v in values) if c]
    commas = sum(1 for c in cells if _DECIMAL_COMMA.match(c))
    return commas > 0 and all(_DECIMAL_COMMA.match(c) or _PLAIN_NUMBER.match(c) for c in cells)


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    head = path.read_bytes()[:8]
    if not head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        what = _looks_like(head) or ("a text file" if not _is_binary(path.read_bytes()[:8192]) else None)
        raise DataError(f"{path.name} is not an NPZ archive (a zip of NumPy arrays)" + (f"; it looks like {what}" if what else ""))
    cols: dict[str, np.ndarray] = {}
    arrays: dict[str, np.ndarray] = {}
    try:
        z = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise DataError(f"{path.name} is a damaged NPZ archive: {_one_line(exc)}") from None
    with z:
        for k in z.files:
            try:
                a = z[k]
            except ValueError as exc:
                if "allow_pickle" in str(exc):
                    raise DataError(f"array {k!r} in {path.name} holds Python objects, which physlens does not "
                                    f"unpickle; store numbers") from None
                raise DataError(f"array {k!r} in {path.name} is not readable: {_one_line(exc)}") from None
            except Exception as exc:
                raise DataError(f"array {k!r} in {path.name} is not readable: {_one_line(exc)}") from None
            if a.dtype.names:
                raise DataError(f"array {k!r} in {path.name} is a record array; store one 1-D array per column")
            if a.ndim not in (1, 2):
                raise DataError(f"array {k!r} in {path.name} has {a.ndim} dimensions; store one column per 1-D array")
            arrays[k] = a
    # the names of a matrix's columns: a string array beside it ("columns", "names", "<matrix>_columns")
    label_of = {k: next((n for n in _name_keys(k) if n in arrays and arrays[n].ndim == 1
                         and arrays[n].dtype.kind in "US" and len(arrays[n]) == a.shape[1]), None)
                for k, a in arrays.items() if a.ndim == 2}
    for k, a in arrays.items():  # in the archive's order (the last column is the default target)
        if a.ndim == 2:
            cols.update(_matrix_columns(k, a, None if label_of[k] is None else arrays[label_of[k]]))
        elif k not in label_of.values():
            cols[k] = a
    return cols


def _name_keys(matrix: str) -> tuple[str, ...]:
    """Where the names of a 2-D array's columns may stand: beside it in an archive, or as its attribute."""
    return (f"{matrix}_columns", f"{matrix}_names", "columns", "names", "column_names", "labels")


def _matrix_columns(name: str, a: np.ndarray, names=None) -> dict[str, np.ndarray]:
    """The columns of a 2-D array: named by ``names`` when given (one per column), else ``<name>0``, ``<name>1``, ...

    Example:
        >>> sorted(_matrix_columns("data", np.zeros((4, 2)), np.array(["m", "v"])))
        ['m', 'v']
        >>> sorted(_matrix_columns("X", np.zeros((4, 2))))
        ['X0', 'X1']
    """
    if names is not None:
        labels = [v.decode() if isinstance(v, bytes) else str(v) for v in np.asarray(names).tolist()]
        if len(labels) == a.shape[1] and all(labels) and len(set(labels)) == len(labels):
            return {lab: a[:, j] for j, lab in enumerate(labels)}
    return {f"{name}{j}": a[:, j] for j in range(a.shape[1])}


def _read_parquet(path: Path) -> dict[str, np.ndarray]:
    import pandas as pd

    with open(path, "rb") as fh:
        head = fh.read(4)
        fh.seek(-4, 2)
        tail = fh.read(4)
    if head != b"PAR1" or tail != b"PAR1":
        if head == b"PAR1":
            raise DataError(f"{path.name} is a Parquet file cut short (no footer); write it again")
        what = _looks_like(head)
        raise DataError(f"{path.name} is not a Parquet file" + (f"; it looks like {what}" if what else ""))
    try:
        df = pd.read_parquet(path)
    except Exception as exc:
        raise DataError(f"{path.name} is a damaged Parquet file: {_one_line(exc)}") from None
    return {str(c): df[c].to_numpy() for c in df.columns}


def _read_hdf5(path: Path) -> dict[str, np.ndarray]:
    import h5py

    if not h5py.is_hdf5(path):
        what = _looks_like(path.read_bytes()[:8])
        raise DataError(f"{path.name} is not an HDF5 file" + (f"; it looks like {what}" if what else ""))
    cols: dict[str, np.ndarray] = {}
    try:
        with h5py.File(path, "r") as f:

            def visit(name, obj):
                if isinstance(obj, h5py.Dataset):
                    a = obj[()]
                    if not isinstance(a, np.ndarray):
                        return  # a scalar attribute-like dataset: not a column
                    if a.dtype.names:  # a table (compound dtype)
                        for fld in a.dtype.names:
                            cols[fld] = np.asarray(a[fld])
                    elif a.ndim == 1:
                        cols[name] = np.asarray(a)
                    elif a.ndim == 2:
                        names = next((obj.attrs[k] for k in _name_keys(name.rsplit("/", 1)[-1]) if k in obj.attrs), None)
                        cols.update(_matrix_columns(name, a, names))

            f.visititems(visit)
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"{path.name} is a damaged HDF5 file: {_one_line(exc)}") from None
    # columns that all sit in one group are named without it ("run1/m" -> "m")
    parents = {k.rsplit("/", 1)[0] if "/" in k else "" for k in cols}
    if len(parents) == 1 and "" not in parents:
        short = {k.rsplit("/", 1)[1]: v for k, v in cols.items()}
        if len(short) == len(cols):
            cols = short
    return cols


def read_columns(path: str | Path) -> dict[str, np.ndarray]:
    """Read a file into ``{column name: 1-D array}`` (values not yet checked).

    A file that cannot be a table of that type is a :class:`DataError` that says why in one
    line: it is empty, it is binary data where text was expected (or the other way round), it
    is not UTF-8, a line has more fields than the header, two columns share a name, columns
    have different lengths.

    Example:
        >>> import tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "d.csv"); _ = open(p, "w").write("a,b\\n1,2\\n3,4\\n")
        >>> sorted(read_columns(p))
        ['a', 'b']
        >>> _ = open(p, "w").write("")
        >>> read_columns(p)
        Traceback (most recent call last):
        ...
        physlens.errors.DataError: d.csv is empty (0 bytes)
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"file not found: {path}")
    if path.is_dir():
        raise DataError(f"{path} is a directory, not a data file")
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DataError(f"unsupported file type {path.suffix!r} for {path.name}; use one of {', '.join(sorted(FORMATS))}")
    try:
        size = path.stat().st_size
        if size == 0:
            raise DataError(f"{path.name} is empty (0 bytes)")
        if fmt == "csv" and size > _SIZE_LIMIT:
            raise DataError(f"{path.name} is {size / 1024**3:.1f} GiB; convert it to Parquet or HDF5 first")
        reader = {"csv": _read_csv, "npz": _read_npz, "parquet": _read_parquet, "hdf5": _read_hdf5}[fmt]
        cols = reader(path)
    except DataError:
        raise
    except OSError as exc:
        raise DataError(f"cannot read {path.name}: {exc.strerror or _one_line(exc)}") from None
    except Exception as exc:  # anything else a corrupt file provokes
        raise DataError(f"cannot read {path.name} as {fmt}: {_one_line(exc)}") from None
    lengths = {k: len(v) for k, v in cols.items()}
    if len(set(lengths.values())) > 1:
        first = next(iter(lengths))
        other = next(k for k, n in lengths.items() if n != lengths[first])
        raise DataError(f"columns of {path.name} differ in length: {first!r} has {lengths[first]} rows, "
                        f"{other!r} has {lengths[other]}")
    return cols


def _to_float(name: str, values: np.ndarray) -> np.ndarray:
    if values.dtype.kind in "fiub":
        return values.astype(np.float64)
    out = np.empty(len(values), dtype=np.float64)
    for i, v in enumerate(values):
        if v is None or (isinstance(v, float) and v != v) or type(v).__name__ == "NAType":
            raise DataError(f"column {name!r} has a missing value in row {i + 1}")
        s = v.decode(errors="replace") if isinstance(v, bytes) else str(v)
        s = s.strip()
        if s == "":
            raise DataError(f"column {name!r} has an empty cell in row {i + 1}")
        try:
            out[i] = float(s)
        except ValueError:
            raise DataError(f"column {name!r} has a non-numeric value {s!r} in row {i + 1}") from None
    return out


def _is_label_column(values: np.ndarray) -> bool:
    """A column of labels: not a single cell reads as a number."""
    if values.dtype.kind in "fiub":
        return False
    for v in values:
        s = (v.decode(errors="replace") if isinstance(v, bytes) else str(v)).strip()
        try:
            float(s)
            return False
        except ValueError:
            continue
    return True


def _run_name(label: Any) -> str:
    return repr(label.item() if hasattr(label, "item") else label)


def _order_by_time(
    t: np.ndarray, labels: np.ndarray | None, time: str, groups: str | None, min_points: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row order by (run, time) and each sorted row's run index; errors on repeated times and short runs.

    Returns ``(order, codes, run_labels)``: ``codes[order]`` are the runs of the sorted rows.
    """
    if labels is None:
        run_labels, codes = np.array(["all"]), np.zeros(len(t), dtype=np.int64)
    else:
        run_labels, codes = np.unique(labels, return_inverse=True)
        codes = codes.astype(np.int64)
    order = np.lexsort((t, codes))
    ts, cs = t[order], codes[order]
    same = np.flatnonzero((np.diff(ts) == 0) & (np.diff(cs) == 0))
    if len(same):
        i = int(same[0])
        rows = sorted([int(order[i]) + 1, int(order[i + 1]) + 1])
        where = f"run {_run_name(run_labels[cs[i]])} ({groups!r} column)" if labels is not None else "the data"
        raise DataError(
            f"{where} has two rows at time {ts[i]:g} (rows {rows[0]} and {rows[1]}); "
            f"times must be distinct within a run"
        )
    if min_points:
        counts = np.bincount(codes, minlength=len(run_labels))
        short = np.flatnonzero(counts < min_points)
        if len(short):
            if labels is None:
                raise DataError(f"only {int(counts[0])} time points; at least {min_points} are needed to differentiate in time")
            listed = ", ".join(f"{_run_name(run_labels[k])} ({int(counts[k])} rows)" for k in short[:5])
            more = f" and {len(short) - 5} more" if len(short) > 5 else ""
            raise DataError(
                f"runs with fewer than {min_points} time points cannot be differentiated: {listed}{more}; "
                f"remove them from the file"
            )
    return order, cs, run_labels


def load(
    path: str | Path,
    target: str | list[str] | None = None,
    inputs: str | list[str] | None = None,
    units: str | dict | None = None,
    min_rows: int = MIN_ROWS,
    allow_constant: bool = False,
    groups: str | None = None,
    time: str | None = None,
) -> Dataset:
    """Load a data file into a validated :class:`Dataset`.

    Args:
        path: ``.csv``/``.tsv``, ``.parquet``, ``.npz`` or ``.h5``/``.hdf5``.
        target: target column name(s); defaults to the last column (without ``time``).
        inputs: input column names (comma-separated or a list); defaults to all other columns.
        units: ``"F=N,eta=Pa*s"`` or a dict of pint units per column.
        min_rows: fewer rows than this is an error.
        allow_constant: accept constant input columns (otherwise an error).
        groups: a column naming the trajectory (run, experiment) of each row, any labels. It is
            not an input; it becomes ``aux["trajectory"]``, so training validates on held-out
            trajectories and the dynamics probes keep trajectories apart.
        time: a column holding each row's time: the file holds trajectories (one per ``groups``
            label, or a single one without ``groups``). Rows are sorted by (run, time); the
            time is not an input but ``aux["time"]``, and ``meta["time"]``/``meta["groups"]``
            name the columns. Times must be numeric, finite and distinct within a run.
            Without ``target``, the task is the state's time derivative: the state is every
            numeric column left (or ``inputs``), each run must have at least
            :data:`~physlens.data.derivatives.MIN_POINTS` (5) rows (a shorter run is an error
            naming it, not silently dropped: it usually means a mislabelled run), the targets
            ``d<name>_dt`` are estimated run by run (:func:`physlens.data.derivatives.differentiate`:
            finite differences on the true, possibly uneven, times; Savitzky-Golay smoothing
            when the data look noisy), the edge rows of each run, where that estimate is less
            accurate, are dropped, and ``meta["derivatives"]`` says how. A column constant
            along every run (a per-run parameter) stays an input without a derivative. When
            every run has the same time grid, ``trajectories``/``times`` hold them too. With
            ``target``, the target is kept and only the time and runs are recorded.

    Every data row keeps its row in the file as ``aux["file_row"]`` (0-based data rows, header
    excluded), through the sorting by time and the dropped run edges, so a probe that names rows
    (``influence``) names them as the user sees them.

    Example:
        >>> import tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "d.csv")
        >>> rows = "\\n".join(f"{i},{i % 3},{2 * i}" for i in range(30))
        >>> _ = open(p, "w").write("a,b,y\\n" + rows)
        >>> ds = load(p, target="y", units="a=m,y=m")
        >>> ds.input_names, ds.target_names, ds.units["a"]
        (['a', 'b'], ['y'], 'm')
        >>> import math
        >>> rows = "\\n".join(f"{r},{k * 0.1:.1f},{math.cos(k * 0.1 + r)}" for r in range(2) for k in range(20))
        >>> _ = open(p, "w").write("run,t,x\\n" + rows)
        >>> ds = load(p, groups="run", time="t")
        >>> ds.target_names, ds.meta["derivatives"], ds.trajectories.shape
        (['dx_dt'], 'estimated (finite differences (4th order))', (2, 20, 1))
        >>> ds.aux["file_row"][:3].tolist()  # run edges dropped: the first kept row is the file's third
        [2, 3, 4]
    """
    path = Path(path)
    cols = read_columns(path)
    if not cols:
        raise DataError(f"{path.name} has no columns")
    names = list(cols)
    derive = time is not None and not _split_names(target)
    if time is not None and time not in cols:
        raise DataError(f"time column {time!r} not found in {path.name}; columns are: {', '.join(names)}")
    if time is not None and time == groups:
        raise DataError(f"column {time!r} cannot be both the time and the groups column")
    targets = _split_names(target) or ([] if derive else [c for c in names if c != time][-1:])
    for c in targets:
        if c not in cols:
            raise DataError(f"target column {c!r} not found in {path.name}; columns are: {', '.join(names)}")
        if c == time:
            raise DataError(f"column {c!r} is both the time column and a target")
    if groups is not None:
        if groups not in cols:
            raise DataError(f"groups column {groups!r} not found in {path.name}; columns are: {', '.join(names)}")
        if groups in targets:
            raise DataError(f"column {groups!r} is both the groups column and a target")
    input_list = _split_names(inputs)
    if input_list is None:
        input_list = [c for c in names if c not in targets and c != groups and c != time]
        if derive:  # label columns (a material, an operator) are not part of the state
            labels_only = [c for c in input_list if _is_label_column(cols[c])]
            if labels_only:
                warnings.warn(f"non-numeric column(s) {', '.join(map(repr, labels_only))} left out of the state",
                              stacklevel=2)
            input_list = [c for c in input_list if c not in labels_only]
    if groups is not None and groups in input_list:
        raise DataError(f"column {groups!r} is both the groups column and an input")
    if time is not None and time in input_list:
        raise DataError(f"column {time!r} is both the time column and an input")
    for c in input_list:
        if c not in cols:
            raise DataError(f"input column {c!r} not found in {path.name}; columns are: {', '.join(names)}")
        if c in targets:
            raise DataError(f"column {c!r} is both an input and the target")
    if not input_list:
        raise DataError(f"no input columns left in {path.name} besides the target")
    n = len(cols[names[0]])
    file_row = np.arange(n, dtype=np.int64)  # each data row's row in the file (0-based, header excluded)
    if n == 0:
        raise DataError(f"{path.name} has column names but no data rows")
    if n < min_rows:
        raise DataError(f"{path.name} has only {n} rows; at least {min_rows} are needed")
    X = np.column_stack([_to_float(c, cols[c]) for c in input_list])
    check_finite(X, input_list, "inputs")
    y = np.column_stack([_to_float(c, cols[c]) for c in targets]) if targets else None
    if y is not None:
        check_finite(y, targets, "targets")
    spread = X.max(axis=0) - X.min(axis=0)
    if not allow_constant:
        for j, c in enumerate(input_list):
            if spread[j] == 0:
                raise DataError(f"column {c!r} is constant (every row is {X[0, j]:g}); it carries no information")
    for j, c in enumerate(targets):
        if np.ptp(y[:, j]) == 0:
            raise DataError(f"target column {c!r} is constant (every row is {y[0, j]:g}); there is nothing to learn")
    unit_columns = input_list + targets + ([time] if time is not None else [])
    unit_map = parse_units_spec(units, columns=unit_columns)
    meta: dict[str, Any] = {"source": str(path)}
    labels = None
    if groups is not None:
        labels = np.asarray(cols[groups])
        if labels.dtype.kind == "f" and not np.all(np.isfinite(labels)):
            raise DataError(f"groups column {groups!r} has missing or non-finite labels")
        if labels.dtype.kind in "OUS":
            blank = [i for i, v in enumerate(labels)
                     if v is None or (isinstance(v, float) and v != v) or not str(v).strip()]
            if blank:
                raise DataError(f"groups column {groups!r} has an empty label in row {blank[0] + 1}"
                                f" ({len(blank)} row{'s' if len(blank) > 1 else ''} in all)")
    if time is None:
        aux = {"trajectory": np.unique(labels, return_inverse=True)[1].astype(np.int64)} if labels is not None else {}
        aux["file_row"] = file_row
        return Dataset(X=X, y=y, input_names=input_list, target_names=targets, units=unit_map, aux=aux, meta=meta,
                       name=path.stem)

    t = _to_float(time, cols[time])
    check_finite(t[:, None], [time], "time")
    order, codes, run_labels = _order_by_time(t, labels, time, groups, MIN_POINTS if derive else 0)
    X, t = X[order], t[order]
    meta.update({"time": time, "groups": groups})
    if time in unit_map:
        meta["time_unit"] = unit_map.pop(time)
    if not derive:
        aux = {"trajectory": codes, "time": t, "file_row": file_row[order]}
        return Dataset(X=X, y=y[order], input_names=input_list, target_names=targets, units=unit_map, aux=aux,
                       meta=meta, name=path.stem)
    return _time_derivative_dataset(X, t, codes, input_list, unit_map, meta, path.stem, file_row[order])


def _time_derivative_dataset(
    X: np.ndarray, t: np.ndarray, codes: np.ndarray, columns: list[str], units: dict[str, str],
    meta: dict[str, Any], name: str, file_row: np.ndarray | None = None,
) -> Dataset:
    """Rows sorted by (run, time) -> states as inputs, their estimated time derivatives ``d<name>_dt`` as targets."""
    cuts = np.flatnonzero(np.diff(codes)) + 1
    runs = np.split(np.arange(len(t)), cuts)
    # a column constant along every run is a per-run parameter, not a state
    param = np.array([all(np.ptp(X[r, j]) == 0 for r in runs) for j in range(X.shape[1])])
    if param.all():
        raise DataError(f"every column is constant along each run ({', '.join(columns)}); there is no motion to differentiate")
    states = [c for c, p in zip(columns, param) if not p]
    targets = [f"d{s}_dt" for s in states]
    clash = [c for c in targets if c in columns]
    if clash:
        raise DataError(f"column {clash[0]!r} already exists; name it as the target (--target) instead of estimating it")
    S = X[:, ~param]
    est = differentiate([S[r] for r in runs], [t[r] for r in runs], "auto")
    keep = np.concatenate(est.valid)
    if not keep.any():
        raise DataError("no row is left after dropping the edges of each run; the runs are too short")
    ydot = np.concatenate(est.derivatives)
    tu = meta.get("time_unit")
    for s, d in zip(states, targets):
        if tu and s in units:
            units[d] = f"({units[s]})/({tu})"
    grids = [t[r] for r in runs]
    same_grid = all(len(g) == len(grids[0]) and np.allclose(g, grids[0], rtol=1e-9, atol=0) for g in grids)
    meta["derivatives"] = f"estimated ({est.method})"
    if param.any():
        meta["parameters"] = [c for c, p in zip(columns, param) if p]
    return Dataset(
        X=X[keep],
        y=ydot[keep],
        input_names=columns,
        target_names=targets,
        units=units,
        trajectories=np.stack([S[r] for r in runs]) if same_grid else None,
        times=grids[0] if same_grid else None,
        state_names=states,
        aux={"trajectory": codes[keep], "time": t[keep],
             "file_row": (np.arange(len(t), dtype=np.int64) if file_row is None else file_row)[keep]},
        meta=meta,
        name=name,
    )
