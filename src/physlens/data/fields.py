"""Fields on a grid: ``samples x channels x H x W`` arrays whose channels are declared scalars or vectors.

A :class:`FieldDataset` holds input fields ``X`` (n, c, H, W) and target fields
``y`` (n, c', H, W) on a periodic grid, and says what each channel *is*: a
scalar (a density, a vorticity) is carried along when the grid is rotated, a
vector pair ``(u, v)`` = (x, y) components is carried along *and* rotated.
That declaration is what lets a probe tell a rotation of a vector field (a
symmetry of isotropic physics) from a rotation of positions alone (not one).

Conventions, used by every field module of physlens: array index
``[..., iy, ix]`` (rows are y, columns are x), positions ``p = (ix, iy)``; the
dihedral group D4 of the square grid is the 8 signed 2 x 2 permutation
matrices ``R`` (:func:`d4_elements`), acting on a field by
``(g.a)(p) = rho(R) a(R^-1 p mod N)`` with ``rho(R) = R`` on vector pairs and
1 on scalars (:func:`transform_fields`); translations are periodic rolls.

Spatial derivatives of periodic fields are spectral (:func:`spectral_derivative`: exact for
band-limited fields, as a pseudo-spectral solver computes them). Fields come in from NPZ or HDF5 (:func:`load_fields`), are validated once here
(``physlens.errors.DataError`` with a one-line message naming the problem), and
are handed to the tabular training loop through :meth:`FieldDataset.tabular`
(one row per sample, the field flattened; the layout travels in ``meta["field"]``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from physlens.data.dataset import Dataset
from physlens.errors import DataError
from physlens.findings import GroundTruth

KINDS = ("scalar", "vector")


# --------------------------------------------------------------------------- the group D4
def d4_elements() -> dict[str, np.ndarray]:
    """The 8 elements of D4 as integer 2 x 2 matrices acting on positions (x, y), by name.

    Example:
        >>> g = d4_elements(); len(g), g["rot90"].tolist()
        (8, [[0, -1], [1, 0]])
    """
    rot = np.array([[0, -1], [1, 0]])
    flip_x = np.array([[-1, 0], [0, 1]])  # x -> -x
    out = {}
    for k, name in enumerate(("identity", "rot90", "rot180", "rot270")):
        out[name] = np.linalg.matrix_power(rot, k).astype(int)
    out["flip_x"] = flip_x
    out["flip_y"] = np.array([[1, 0], [0, -1]])
    out["flip_diag"] = np.array([[0, 1], [1, 0]])
    out["flip_antidiag"] = np.array([[0, -1], [-1, 0]])
    return out


def d4_subgroup_name(elements: list[str]) -> str:
    """Name of a subgroup of D4 given by its element names.

    Example:
        >>> d4_subgroup_name(["identity", "flip_y"]), d4_subgroup_name(list(d4_elements()))
        ('Z2 (flip_y)', 'D4')
    """
    s = set(elements) | {"identity"}
    if len(s) == 8:
        return "D4"
    if len(s) == 4:
        return "C4" if "rot90" in s else "D2 (" + ", ".join(sorted(s - {"identity", "rot180"})) + ")"
    if len(s) == 2:
        other = next(iter(s - {"identity"}))
        return "C2" if other == "rot180" else f"Z2 ({other})"
    if len(s) == 1:
        return "trivial"
    return "{" + ", ".join(sorted(s)) + "}"


def parse_channels(spec: str) -> tuple[list[str], list[dict]]:
    """Channel names and kinds from ``"u,v:vector; p:scalar"`` (groups split by ``;``; kind default scalar).

    Example:
        >>> parse_channels("u,v:vector; p")
        (['u', 'v', 'p'], [{'kind': 'vector', 'channels': [0, 1]}, {'kind': 'scalar', 'channels': [2]}])
    """
    names: list[str] = []
    kinds: list[dict] = []
    for part in [p.strip() for p in str(spec).replace(" ", ";").split(";") if p.strip()]:
        cols, _, kind = part.partition(":")
        kind = kind.strip() or "scalar"
        cols_l = [c.strip() for c in cols.split(",") if c.strip()]
        if kind not in KINDS:
            raise DataError(f"channel kind {kind!r} in {part!r} is not one of {', '.join(KINDS)}")
        if not cols_l:
            raise DataError(f"channel group {part!r} names no channel")
        if kind == "vector" and len(cols_l) != 2:
            raise DataError(f"a vector is a pair of channels (x, y components); {part!r} names {len(cols_l)}")
        for c in cols_l:
            if c in names:
                raise DataError(f"channel {c!r} is named twice in {spec!r}")
        if kind == "vector":
            kinds.append({"kind": "vector", "channels": [len(names), len(names) + 1]})
        else:
            kinds.extend({"kind": "scalar", "channels": [len(names) + i]} for i in range(len(cols_l)))
        names.extend(cols_l)
    if not names:
        raise DataError("no channels declared (expected e.g. \"u,v:vector\")")
    return names, kinds


def channel_rep(kinds: list[dict], c: int, R: np.ndarray, vector: bool = True) -> np.ndarray:
    """The c x c matrix by which group element ``R`` mixes channels (R on vector pairs, 1 elsewhere).

    With ``vector=False`` the components are not turned (the "scalar" action on a vector field).

    Example:
        >>> channel_rep([{"kind": "vector", "channels": [0, 1]}], 2, d4_elements()["rot90"]).tolist()
        [[0.0, -1.0], [1.0, 0.0]]
    """
    rho = np.eye(c)
    if vector:
        for k in kinds:
            if k["kind"] == "vector":
                i, j = k["channels"]
                rho[np.ix_([i, j], [i, j])] = R
    return rho


def _source_index(R: np.ndarray, H: int, W: int) -> tuple[np.ndarray, np.ndarray]:
    if H != W and not np.array_equal(np.abs(R), np.eye(2)):
        raise DataError(f"a rotation by 90 degrees needs a square grid, got {H} x {W}")
    iy, ix = np.meshgrid(np.arange(H), np.arange(W), indexing="ij")
    Rinv = np.round(np.linalg.inv(R)).astype(int)
    sx = (Rinv[0, 0] * ix + Rinv[0, 1] * iy) % W
    sy = (Rinv[1, 0] * ix + Rinv[1, 1] * iy) % H
    return sy, sx


def transform_fields(a: Any, kinds: list[dict], R: np.ndarray, vector: bool = True, shift: tuple[int, int] = (0, 0)):
    """Apply a grid transformation to fields (n, c, H, W): D4 element ``R`` (about the origin), then a roll.

    ``(g.a)(p) = rho(R) a(R^-1 p)`` then translated by ``shift = (dx, dy)``. Works on NumPy
    arrays and torch tensors.

    Example:
        >>> a = np.zeros((1, 2, 4, 4)); a[0, 0, 0, 1] = 1.0   # u = 1 at x = 1, y = 0
        >>> b = transform_fields(a, [{"kind": "vector", "channels": [0, 1]}], d4_elements()["rot90"])
        >>> float(b[0, 1, 1, 0])                               # now v = 1 at x = 0, y = 1
        1.0
    """
    n, c, H, W = a.shape
    sy, sx = _source_index(np.asarray(R), H, W)
    out = a[..., sy, sx]
    rho = channel_rep(kinds, c, np.asarray(R, dtype=float), vector)
    if not np.allclose(rho, np.eye(c)):
        if isinstance(out, np.ndarray):
            out = np.einsum("ij,njhw->nihw", rho, out)
        else:
            import torch

            out = torch.einsum("ij,njhw->nihw", torch.as_tensor(rho, dtype=out.dtype, device=out.device), out)
    dx, dy = shift
    if dx or dy:
        if isinstance(out, np.ndarray):
            out = np.roll(out, (dy, dx), axis=(2, 3))
        else:
            import torch

            out = torch.roll(out, (dy, dx), dims=(2, 3))
    return out


# --------------------------------------------------------------------------- spectral derivatives
def wavenumbers(N: int, spacing: float, W: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Angular wave numbers (kx, ky) on the FFT grid of N rows (y) and W columns (x, default N), each (N, W).

    Example:
        >>> kx, ky = wavenumbers(4, np.pi / 2); kx[0].tolist()
        [0.0, 1.0, -2.0, -1.0]
    """
    W = N if W is None else W
    ky, kx = np.meshgrid(2 * np.pi * np.fft.fftfreq(N, d=spacing), 2 * np.pi * np.fft.fftfreq(W, d=spacing),
                         indexing="ij")
    return kx, ky


def spectral_derivative(a: np.ndarray, spacing: float, nx: int, ny: int) -> np.ndarray:
    """d^(nx+ny) a / dx^nx dy^ny of periodic fields (..., H, W), exactly for band-limited fields.

    Example:
        >>> N = 16; x = np.arange(N) * 2 * np.pi / N
        >>> f = np.sin(x)[None, :] * np.ones((N, 1))      # sin(x), constant in y
        >>> bool(np.allclose(spectral_derivative(f, 2 * np.pi / N, 2, 0), -f))
        True
    """
    kx, ky = wavenumbers(a.shape[-2], spacing, a.shape[-1])
    mult = (1j * kx) ** nx * (1j * ky) ** ny
    if nx % 2 or ny % 2:  # a Nyquist mode (even grids) has no odd derivative
        mult = mult * (np.abs(kx) < np.pi / spacing - 1e-9) * (np.abs(ky) < np.pi / spacing - 1e-9)
    return np.real(np.fft.ifft2(np.fft.fft2(a) * mult))


# --------------------------------------------------------------------------- the dataset
@dataclass
class FieldDataset:
    """Fields on a periodic grid with declared channel kinds.

    Attributes:
        X: input fields (n, c, H, W). y: target fields (n, c', H, W).
        channel_names, target_names: one name per channel.
        kinds, target_kinds: ``[{"kind": "scalar"|"vector", "channels": [...]}]``.
        spacing: grid spacing (dx = dy), for spatial derivatives.
        truth, name, meta: as in :class:`physlens.data.dataset.Dataset`.

    Example:
        >>> ds = FieldDataset(np.random.default_rng(0).normal(size=(3, 2, 4, 4)), np.zeros((3, 2, 4, 4)) + 1,
        ...                   ["u", "v"], [{"kind": "vector", "channels": [0, 1]}])
        >>> ds.n, ds.target_names, ds.tabular().X.shape
        (3, ['du_dt', 'dv_dt'], (3, 32))
    """

    X: np.ndarray
    y: np.ndarray
    channel_names: list[str]
    kinds: list[dict]
    target_names: list[str] | None = None
    target_kinds: list[dict] | None = None
    spacing: float = 1.0
    truth: GroundTruth | None = None
    name: str = "fields"
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.X = np.asarray(self.X, dtype=float)
        self.y = np.asarray(self.y, dtype=float)
        for what, a in (("input fields", self.X), ("target fields", self.y)):
            if a.ndim != 4:
                raise DataError(f"{what} must be samples x channels x height x width, got shape {a.shape}")
            if not np.isfinite(a).all():
                i = int(np.argmax(~np.isfinite(a).reshape(len(a), -1).all(axis=1)))
                raise DataError(f"{what} have NaN or inf in sample {i + 1}")
        if self.X.shape[0] != self.y.shape[0] or self.X.shape[2:] != self.y.shape[2:]:
            raise DataError(f"inputs {self.X.shape} and targets {self.y.shape} differ in samples or grid")
        if len(self.channel_names) != self.X.shape[1]:
            raise DataError(f"{len(self.channel_names)} channel names for {self.X.shape[1]} input channels")
        if self.target_names is None:
            self.target_names = [f"d{c}_dt" for c in self.channel_names]
        if self.target_kinds is None:
            self.target_kinds = [dict(k) for k in self.kinds]
        if len(self.target_names) != self.y.shape[1]:
            raise DataError(f"{len(self.target_names)} target names for {self.y.shape[1]} target channels")
        if self.n < 2:
            raise DataError(f"need at least 2 field samples, got {self.n}")
        if min(self.X.shape[2:]) < 3:
            raise DataError(f"grid {self.X.shape[2]} x {self.X.shape[3]} is too small (at least 3 x 3)")

    @property
    def n(self) -> int:
        """Number of samples."""
        return int(self.X.shape[0])

    @property
    def d_in(self) -> int:
        """Number of input values per sample (c*H*W), as in the tabular view."""
        return int(np.prod(self.X.shape[1:]))

    @property
    def d_out(self) -> int:
        """Number of target values per sample (c'*H*W)."""
        return int(np.prod(self.y.shape[1:]))

    @property
    def grid(self) -> tuple[int, int]:
        """(H, W)."""
        return int(self.X.shape[2]), int(self.X.shape[3])

    def layout(self) -> dict:
        """The JSON-ready description of the channels and grid (kept in the tabular view's meta).

        Example:
            >>> ds = FieldDataset(np.ones((2, 1, 3, 3)) * np.arange(3), np.ones((2, 1, 3, 3)), ["p"],
            ...                   [{"kind": "scalar", "channels": [0]}])
            >>> ds.layout()["grid"]
            [3, 3]
        """
        return {"channels": list(self.channel_names), "kinds": self.kinds, "target_channels": list(self.target_names),
                "target_kinds": self.target_kinds, "grid": list(self.grid), "spacing": float(self.spacing)}

    def subset(self, index) -> FieldDataset:
        """The samples at ``index``.

        Example:
            >>> ds = FieldDataset(np.ones((4, 1, 3, 3)), np.ones((4, 1, 3, 3)), ["p"], [{"kind": "scalar", "channels": [0]}])
            >>> ds.subset([0, 1]).n
            2
        """
        index = np.asarray(index)
        return FieldDataset(self.X[index], self.y[index], list(self.channel_names), self.kinds,
                            list(self.target_names), self.target_kinds, self.spacing, self.truth, self.name,
                            dict(self.meta))

    def tabular(self) -> Dataset:
        """One row per sample, each field flattened (c*H*W columns), for :func:`physlens.train.fit.fit`.

        Example:
            >>> ds = FieldDataset(np.ones((2, 1, 3, 3)), np.ones((2, 1, 3, 3)), ["p"], [{"kind": "scalar", "channels": [0]}])
            >>> t = ds.tabular(); t.input_names[:2], t.meta["field"]["channels"]
            (['p[0,0]', 'p[0,1]'], ['p'])
        """
        H, W = self.grid
        names = [f"{c}[{i},{j}]" for c in self.channel_names for i in range(H) for j in range(W)]
        tnames = [f"{c}[{i},{j}]" for c in self.target_names for i in range(H) for j in range(W)]
        meta = dict(self.meta)
        meta["field"] = self.layout()
        return Dataset(self.X.reshape(self.n, -1), self.y.reshape(self.n, -1), names, tnames, truth=self.truth,
                       name=self.name, meta=meta)


    @classmethod
    def from_tabular(cls, ds: Dataset) -> FieldDataset:
        """Rebuild the fields from their tabular view (e.g. a run directory's ``dataset.npz``).

        Example:
            >>> f = FieldDataset(np.arange(18.0).reshape(2, 1, 3, 3), np.ones((2, 1, 3, 3)), ["p"],
            ...                  [{"kind": "scalar", "channels": [0]}])
            >>> bool(np.array_equal(FieldDataset.from_tabular(f.tabular()).X, f.X))
            True
        """
        lay = (ds.meta or {}).get("field")
        if not lay:
            raise DataError("this dataset is tabular: it has no field layout (meta['field'])")
        H, W = lay["grid"]
        meta = {k: v for k, v in ds.meta.items() if k != "field"}
        return cls(ds.X.reshape(ds.n, len(lay["channels"]), H, W), ds.y.reshape(ds.n, len(lay["target_channels"]), H, W),
                   list(lay["channels"]), lay["kinds"], list(lay["target_channels"]), lay["target_kinds"],
                   float(lay["spacing"]), ds.truth, ds.name, meta)


def _read(path: Path, shapes: bool = False) -> dict:
    """The arrays of a field file by name; with ``shapes``, only their shapes, from the headers (nothing loaded)."""
    suffix = path.suffix.lower()
    if not path.exists():
        raise DataError(f"no such file: {path}")
    if suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as z:
                return {k: _npy_shape(z, k) if shapes else np.asarray(z[k]) for k in z.files}
        except (OSError, ValueError, KeyError) as exc:
            raise DataError(f"{path} is not a readable NPZ file ({exc})") from None
    if suffix in (".h5", ".hdf5"):
        import h5py

        out: dict = {}

        def keep(k, obj):
            if isinstance(obj, h5py.Dataset):
                out[k] = tuple(obj.shape) if shapes else np.asarray(obj)

        try:
            with h5py.File(path, "r") as f:
                f.visititems(keep)
        except OSError as exc:
            raise DataError(f"{path} is not a readable HDF5 file ({exc})") from None
        return out
    raise DataError(f"field files must be .npz, .h5 or .hdf5, got {path.name!r}")


def _npy_shape(z, key: str) -> tuple[int, ...]:
    """The shape of array ``key`` of an open NPZ archive, from its .npy header alone."""
    with z.zip.open(key + ".npy") as fh:
        version = np.lib.format.read_magic(fh)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        return tuple(read(fh)[0])


#: names of the grid step in a field file (a single number), in the order they are looked for
SPACING_KEYS = ("spacing", "dx")


def scalar_channels(path: str | Path) -> str:
    """The channel declaration of a field file read as scalars only: each array with a ``d<name>_dt`` target,
    or ``c0; c1; ...`` for an ``inputs`` array (a file that holds vectors must say so with a declaration).

    Example:
        >>> import tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "f.npz"); z = np.zeros((2, 4, 4))
        >>> np.savez(p, u=z, du_dt=z, p=z, dp_dt=z, dx=0.1)
        >>> scalar_channels(p), parse_channels(scalar_channels(p))[1]
        ('u; p', [{'kind': 'scalar', 'channels': [0]}, {'kind': 'scalar', 'channels': [1]}])
    """
    path = Path(path)
    arrays = _read(path, shapes=True)  # the names are enough: the fields are read once, by load_fields
    if "inputs" in arrays:
        shape = arrays["inputs"]
        if len(shape) != 4:
            raise DataError(f"'inputs' must be samples x channels x H x W, got shape {shape}")
        return "; ".join(f"c{i}" for i in range(shape[1]))
    names = [k for k in arrays if f"d{k}_dt" in arrays]
    if not names:
        raise DataError(f"{path.name} has neither 'inputs' nor an array with a d<name>_dt target; arrays: "
                        f"{', '.join(sorted(arrays)) or 'none'}")
    return "; ".join(names)


def load_fields(path: str | Path, channels: str) -> FieldDataset:
    """Read fields from NPZ/HDF5: ``inputs`` and ``targets`` (n, c, H, W), or one (n, H, W) array per channel
    with targets ``d<name>_dt``; an optional single number ``spacing`` (or ``dx``), the grid step.

    Example:
        >>> import tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "f.npz"); rng = np.random.default_rng(0)
        >>> np.savez(p, u=rng.normal(size=(3, 4, 4)), v=rng.normal(size=(3, 4, 4)), du_dt=np.ones((3, 4, 4)),
        ...          dv_dt=np.ones((3, 4, 4)))
        >>> load_fields(p, "u,v:vector").kinds
        [{'kind': 'vector', 'channels': [0, 1]}]
    """
    path = Path(path)
    names, kinds = parse_channels(channels)
    arrays = _read(path)
    key = next((k for k in SPACING_KEYS if k in arrays and np.asarray(arrays[k]).size == 1 and k not in names), None)
    spacing = float(np.asarray(arrays[key]).reshape(-1)[0]) if key else 1.0
    if spacing <= 0 or not np.isfinite(spacing):
        raise DataError(f"spacing must be a positive number, got {spacing}")
    if "inputs" in arrays:
        X = arrays["inputs"]
        if "targets" not in arrays:
            raise DataError(f"{path.name} has 'inputs' but no 'targets' array")
        Y = arrays["targets"]
        if X.ndim != 4 or X.shape[1] != len(names):
            raise DataError(f"'inputs' must be samples x {len(names)} channels x H x W for {channels!r}, got {X.shape}")
    else:
        missing = [c for c in names if c not in arrays]
        if missing:
            raise DataError(f"{path.name} has no array {missing[0]!r} (and no 'inputs'); arrays: {', '.join(sorted(arrays))}")
        tmissing = [f"d{c}_dt" for c in names if f"d{c}_dt" not in arrays]
        if tmissing:
            raise DataError(f"{path.name} has no target array {tmissing[0]!r} (and no 'targets')")
        for c in names + [f"d{c}_dt" for c in names]:  # a channel kept with its own axis: samples x 1 x H x W
            if arrays[c].ndim == 4 and arrays[c].shape[1] == 1:
                arrays[c] = arrays[c][:, 0]
        shapes = {arrays[c].shape for c in names} | {arrays[f"d{c}_dt"].shape for c in names}
        if len(shapes) != 1 or len(next(iter(shapes))) != 3:
            raise DataError(f"channel arrays must all be samples x H x W of one shape, got {sorted(shapes)}")
        X = np.stack([arrays[c] for c in names], axis=1)
        Y = np.stack([arrays[f"d{c}_dt"] for c in names], axis=1)
    try:
        X = X.astype(float)
        Y = Y.astype(float)
    except (TypeError, ValueError):
        raise DataError(f"{path.name}: field arrays must be numeric") from None
    tnames = [f"d{c}_dt" for c in names] if Y.shape[1:2] == (len(names),) else [f"y{i}" for i in range(Y.shape[1])]
    tkinds = kinds if Y.shape[1] == len(names) else [{"kind": "scalar", "channels": [i]} for i in range(Y.shape[1])]
    return FieldDataset(X, Y, names, kinds, tnames, tkinds, spacing, name=path.stem, meta={"file": str(path)})
