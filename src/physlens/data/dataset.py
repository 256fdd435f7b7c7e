"""The :class:`Dataset`: arrays plus what they mean.

A dataset holds inputs ``X`` (n x d) and targets ``y`` (n x k) as float arrays,
their variable names and optional SI units, optional trajectories for dynamical
systems, per-sample auxiliary arrays (e.g. the hidden parameters of a
simulation), free-form metadata (``n_particles``, ``dim``...), and the
system's ground truth when there is one. It is validated once when built
(scikit-learn's "check at the boundary" rule); inner code trusts it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from physlens.data.units import dimension_vector
from physlens.errors import DataError
from physlens.codec import from_jsonable, to_jsonable
from physlens.findings import GroundTruth


def check_finite(a: np.ndarray, names: list[str], what: str) -> None:
    """Raise :class:`DataError` naming the column and row of the first NaN/inf.

    Example:
        >>> check_finite(np.array([[1.0], [np.nan]]), ["x"], "inputs")
        Traceback (most recent call last):
        ...
        physlens.errors.DataError: column 'x' has NaN in row 2 (1 bad row in all)
    """
    bad = ~np.isfinite(a)
    if not bad.any():
        return
    rows, cols = np.nonzero(bad)
    j = int(cols[np.argmin(rows)])
    i = int(rows.min())
    col_bad = bad[:, j]
    kind = "NaN" if np.isnan(a[i, j]) else "infinite value"
    count = int(col_bad.sum())
    raise DataError(
        f"column {names[j]!r} has {kind} in row {i + 1} ({count} bad row{'s' if count > 1 else ''} in all)"
    )


@dataclass
class Dataset:
    """Arrays with names, units, optional trajectories and ground truth.

    Attributes:
        X: inputs, shape (n, d).
        y: targets, shape (n, k).
        input_names, target_names: one name per column.
        units: column name -> unit string (pint syntax), for the columns that have one.
        trajectories: optional (n_traj, T, d_state) time series of the state.
        times: optional (T,) times of the trajectories.
        state_names: names of the trajectory state variables.
        aux: per-sample extra arrays (first axis n), e.g. hidden parameters; ``trajectory`` (the
            run of each row, see :meth:`groups`) and ``time`` (its time) for a trajectory file.
        meta: free-form metadata (``system``, ``params``, ``n_particles``, ``dim``...; a trajectory
            file's ``time`` and ``groups`` column names and how ``derivatives`` were estimated).
        truth: ground truth of the system, or None for a user's own data.
        name: short name used for run directories.

    Example:
        >>> ds = Dataset(np.random.rand(50, 2), np.random.rand(50, 1), ["a", "b"], ["y"])
        >>> ds.n, ds.d_in, ds.d_out
        (50, 2, 1)
    """

    X: np.ndarray
    y: np.ndarray
    input_names: list[str]
    target_names: list[str]
    units: dict[str, str] = field(default_factory=dict)
    trajectories: np.ndarray | None = None
    times: np.ndarray | None = None
    state_names: list[str] | None = None
    aux: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    truth: GroundTruth | None = None
    name: str = "data"

    def __post_init__(self) -> None:
        self.X = np.asarray(self.X, dtype=np.float64)
        self.y = np.asarray(self.y, dtype=np.float64)
        if self.X.ndim == 1:
            self.X = self.X[:, None]
        if self.y.ndim == 1:
            self.y = self.y[:, None]
        if self.X.ndim != 2 or self.y.ndim != 2:
            raise DataError(f"inputs and targets must be 2-D arrays, got shapes {self.X.shape} and {self.y.shape}")
        if self.X.shape[0] != self.y.shape[0]:
            raise DataError(f"inputs have {self.X.shape[0]} rows but targets have {self.y.shape[0]}")
        if self.X.shape[0] == 0:
            raise DataError("the dataset has no rows")
        self.input_names = [str(s) for s in self.input_names]
        self.target_names = [str(s) for s in self.target_names]
        if len(self.input_names) != self.X.shape[1]:
            raise DataError(f"{len(self.input_names)} input names for {self.X.shape[1]} input columns")
        if len(self.target_names) != self.y.shape[1]:
            raise DataError(f"{len(self.target_names)} target names for {self.y.shape[1]} target columns")
        dup = {n for n in self.input_names + self.target_names if (self.input_names + self.target_names).count(n) > 1}
        if dup:
            raise DataError(f"duplicate column name(s): {', '.join(sorted(dup))}")
        check_finite(self.X, self.input_names, "inputs")
        check_finite(self.y, self.target_names, "targets")
        for k, v in list(self.aux.items()):
            v = np.asarray(v)
            if v.shape[:1] != (self.n,):
                raise DataError(f"auxiliary array {k!r} has {v.shape[0] if v.ndim else 0} rows, expected {self.n}")
            self.aux[k] = v
        if self.trajectories is not None:
            self.trajectories = np.asarray(self.trajectories, dtype=np.float64)
            if self.trajectories.ndim != 3:
                raise DataError(f"trajectories must be (n_traj, T, d_state), got shape {self.trajectories.shape}")
        if self.times is not None:
            self.times = np.asarray(self.times, dtype=np.float64)

    # ------------------------------------------------------------------ shape
    @property
    def n(self) -> int:
        """Number of samples."""
        return int(self.X.shape[0])

    @property
    def d_in(self) -> int:
        """Number of input columns."""
        return int(self.X.shape[1])

    @property
    def d_out(self) -> int:
        """Number of target columns."""
        return int(self.y.shape[1])

    def dimensions(self) -> dict[str, np.ndarray]:
        """SI dimension vector per column that has a unit (see :mod:`physlens.data.units`).

        Example:
            >>> ds = Dataset(np.random.rand(5, 1), np.random.rand(5, 1), ["t"], ["x"], units={"t": "s"})
            >>> ds.dimensions()["t"].tolist()[:2]
            [0.0, 1.0]
        """
        return {k: dimension_vector(u, column=k) for k, u in self.units.items()}

    # ------------------------------------------------------------------ slicing
    def subset(self, index: np.ndarray) -> Dataset:
        """Rows ``index`` of this dataset (trajectories and meta are kept whole).

        Example:
            >>> ds = Dataset(np.arange(10.0), np.arange(10.0), ["x"], ["y"])
            >>> ds.subset(np.arange(3)).n
            3
        """
        index = np.asarray(index)
        return replace(
            self,
            X=self.X[index],
            y=self.y[index],
            aux={k: v[index] for k, v in self.aux.items()},
            units=dict(self.units),
            meta=dict(self.meta),
        )

    def groups(self) -> np.ndarray | None:
        """The trajectory of each row (``aux["trajectory"]``, integer labels), or None when rows are independent.

        Rows along one trajectory are strongly correlated, so held-out rows should
        come from held-out trajectories (see :meth:`split_index`).

        Example:
            >>> ds = Dataset(np.arange(4.0), np.arange(4.0), ["x"], ["y"], aux={"trajectory": np.array([0, 0, 1, 1])})
            >>> ds.groups().tolist()
            [0, 0, 1, 1]
        """
        g = self.aux.get("trajectory")
        if g is None:
            return None
        g = np.asarray(g)
        if g.ndim != 1:
            return None
        return g

    def split_index(self, val_fraction: float = 0.2, seed: int = 0, by: str = "auto") -> tuple[np.ndarray, np.ndarray]:
        """Sorted (train, validation) row indices.

        ``by="rows"`` draws validation rows at random. ``by="trajectories"`` holds out
        whole trajectories (:meth:`groups`) until about ``val_fraction`` of the rows
        are held out: a validation row lying on a training trajectory, a few time
        steps from a training row, measures interpolation along that trajectory,
        not the law. ``"auto"`` (the default) holds out trajectories when the data
        have at least 5 of them, else rows.

        Example:
            >>> traj = np.repeat(np.arange(10), 5)
            >>> ds = Dataset(np.arange(50.0), np.arange(50.0), ["x"], ["y"], aux={"trajectory": traj})
            >>> train, val = ds.split_index(0.2, seed=0)
            >>> len(val), set(traj[val]) & set(traj[train])
            (10, set())
        """
        if not 0.0 < val_fraction < 1.0:
            raise DataError(f"validation fraction must be in (0, 1), got {val_fraction}")
        if by not in ("auto", "rows", "trajectories"):
            raise DataError(f"split must be 'auto', 'rows' or 'trajectories', got {by!r}")
        n_val = max(1, int(round(self.n * val_fraction)))
        groups = None if by == "rows" else self.groups()
        labels, counts = np.unique(groups, return_counts=True) if groups is not None else (np.empty(0), None)
        if by == "trajectories" and len(labels) < 2:
            raise DataError("split by trajectories needs aux['trajectory'] with at least 2 trajectories")
        if groups is not None and (by == "trajectories" or len(labels) >= 5):
            order = np.random.default_rng(seed).permutation(len(labels))
            cum = np.cumsum(counts[order])
            k = int(np.searchsorted(cum, n_val)) + 1  # first trajectories reaching n_val rows
            if k > 1 and abs(cum[k - 2] - n_val) <= abs(cum[k - 1] - n_val):
                k -= 1  # one trajectory fewer lands closer to the fraction asked
            k = min(k, len(labels) - 1)
            is_val = np.isin(groups, labels[order[:k]])
            return np.flatnonzero(~is_val), np.flatnonzero(is_val)
        perm = np.random.default_rng(seed).permutation(self.n)
        return np.sort(perm[n_val:]), np.sort(perm[:n_val])

    def split(self, val_fraction: float = 0.2, seed: int = 0, by: str = "auto") -> tuple[Dataset, Dataset]:
        """(train, validation) datasets, split as :meth:`split_index` does (by trajectories when the data have them).

        Example:
            >>> ds = Dataset(np.arange(10.0), np.arange(10.0), ["x"], ["y"])
            >>> [p.n for p in ds.split(0.2)]
            [8, 2]
        """
        train, val = self.split_index(val_fraction, seed, by)
        return self.subset(train), self.subset(val)

    def select(self, inputs: list[str] | None = None, targets: list[str] | None = None) -> Dataset:
        """A dataset restricted to some input and target columns, in the given order.

        Example:
            >>> ds = Dataset(np.random.rand(5, 2), np.random.rand(5, 1), ["a", "b"], ["y"])
            >>> ds.select(inputs=["b"]).input_names
            ['b']
        """
        inputs = inputs or self.input_names
        targets = targets or self.target_names
        for c in inputs:
            if c not in self.input_names:
                raise DataError(f"input column {c!r} not found; inputs are: {', '.join(self.input_names)}")
        for c in targets:
            if c not in self.target_names:
                raise DataError(f"target column {c!r} not found; targets are: {', '.join(self.target_names)}")
        xi = [self.input_names.index(c) for c in inputs]
        yi = [self.target_names.index(c) for c in targets]
        keep = set(inputs) | set(targets)
        return replace(
            self,
            X=self.X[:, xi],
            y=self.y[:, yi],
            input_names=list(inputs),
            target_names=list(targets),
            units={k: v for k, v in self.units.items() if k in keep},
            aux=dict(self.aux),
            meta=dict(self.meta),
        )

    # ------------------------------------------------------------------ I/O
    def to_npz(self, path) -> None:
        """Save to ``.npz`` (atomically), with names, units, meta and truth as JSON.

        Example:
            >>> import tempfile, os
            >>> ds = Dataset(np.arange(4.0), np.arange(4.0), ["x"], ["y"])
            >>> p = os.path.join(tempfile.mkdtemp(), "d.npz"); ds.to_npz(p)
            >>> Dataset.from_npz(p).input_names
            ['x']
        """
        from physlens.io import atomic_path

        header = {
            "input_names": self.input_names,
            "target_names": self.target_names,
            "units": self.units,
            "state_names": self.state_names,
            "meta": to_jsonable(self.meta),
            "truth": self.truth.to_dict() if self.truth is not None else None,
            "name": self.name,
            "aux": list(self.aux),
        }
        arrays = {"X": self.X, "y": self.y, "__header__": np.array(json.dumps(header))}
        if self.trajectories is not None:
            arrays["trajectories"] = self.trajectories
        if self.times is not None:
            arrays["times"] = self.times
        for k, v in self.aux.items():
            arrays[f"aux__{k}"] = v
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez_compressed(fh, **arrays)

    @classmethod
    def from_npz(cls, path) -> Dataset:
        """Load a dataset saved by :meth:`to_npz`; a file it did not write, or a damaged one, is a one-line DataError.

        Example:
            >>> import tempfile, os
            >>> p = os.path.join(tempfile.mkdtemp(), "dataset.npz"); _ = open(p, "w").write("garbage")
            >>> Dataset.from_npz(p)
            Traceback (most recent call last):
            ...
            physlens.errors.DataError: dataset.npz is not a dataset saved by physlens (not an NPZ archive)
        """
        from pathlib import Path

        name = Path(path).name
        if not Path(path).is_file():
            raise DataError(f"dataset file not found: {path}")
        with open(path, "rb") as fh:
            if not fh.read(4).startswith(b"PK"):
                raise DataError(f"{name} is not a dataset saved by physlens (not an NPZ archive)")
        try:
            z = np.load(path, allow_pickle=False)
        except Exception as exc:
            raise DataError(f"{name} is a damaged NPZ archive: {' '.join(str(exc).split())[:200]}") from None
        try:
            return cls._from_archive(z)
        except DataError:
            raise
        except Exception as exc:  # a missing array, a bad header, a damaged member
            raise DataError(f"{name} is not a dataset saved by physlens ({type(exc).__name__}: "
                            f"{' '.join(str(exc).split())[:200]})") from None
        finally:
            z.close()

    @classmethod
    def _from_archive(cls, z) -> Dataset:
        header = json.loads(str(z["__header__"]))
        return cls(
            X=z["X"],
            y=z["y"],
            input_names=header["input_names"],
            target_names=header["target_names"],
            units=header["units"],
            trajectories=z["trajectories"] if "trajectories" in z else None,
            times=z["times"] if "times" in z else None,
            state_names=header["state_names"],
            aux={k: z[f"aux__{k}"] for k in header["aux"]},
            meta=from_jsonable(header["meta"]),
            truth=GroundTruth.from_dict(header["truth"]) if header["truth"] else None,
            name=header["name"],
        )

    def to_frame(self):
        """Inputs and targets as one pandas DataFrame.

        Example:
            >>> Dataset(np.arange(3.0), np.arange(3.0), ["x"], ["y"]).to_frame().columns.tolist()
            ['x', 'y']
        """
        import pandas as pd

        return pd.DataFrame(np.hstack([self.X, self.y]), columns=self.input_names + self.target_names)
