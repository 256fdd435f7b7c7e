"""Report figures of the fields probe's grid-symmetry finding: the field, a transformation applied, and the tests.

* **The field and the transformation**: one held-in field drawn as arrows (vector pairs) or an
  image (scalars), the same field after a respected element of D4 (vector action), and after the
  same element with the components left unturned — the picture of why a scalar rotation is not a
  symmetry of a vector field.
* **The tests**: every candidate's equivariance error relative to twice the model's error
  (log scale) with the threshold drawn; bars under it are respected.
* **The PDE** (each ``equation`` finding of the fields probe): for one field of the data, the
  target channel, the found PDE's right-hand side evaluated on the input field (spectral
  derivatives, as the probe's library computes them), and their difference on the same colour
  scale: a right law leaves a blank third panel.

Works on a :class:`physlens.data.fields.FieldDataset` or on the tabular view a run directory holds
(the layout in ``meta["field"]``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from physlens.data.fields import d4_elements, transform_fields
from physlens.findings import Finding
from physlens.report.figures import Figures, figure_for, plt, to_png


def _field_dataset(dataset: Any):
    """The :class:`FieldDataset` behind ``dataset`` (itself, or rebuilt from a run's tabular view), or None."""
    from physlens.data.fields import FieldDataset

    if dataset is None or isinstance(dataset, FieldDataset):
        return dataset
    if not (getattr(dataset, "meta", None) or {}).get("field"):
        return None
    try:
        return FieldDataset.from_tabular(dataset)
    except Exception:  # a damaged layout draws no figure rather than breaking the report
        return None


def _fields_of(dataset: Any) -> tuple[np.ndarray, list[dict], list[str]] | None:
    fd = _field_dataset(dataset)
    return None if fd is None else (fd.X, fd.kinds, list(fd.channel_names))


def _draw(ax, a: np.ndarray, kinds: list[dict], title: str) -> None:
    vec = next((k["channels"] for k in kinds if k["kind"] == "vector"), None)
    if vec is not None:
        H, W = a.shape[1:]
        yy, xx = np.mgrid[0:H, 0:W]
        u, v = a[vec[0]], a[vec[1]]
        ax.imshow(np.hypot(u, v), origin="lower", cmap="Greys", alpha=0.5)
        longest = float(np.hypot(u, v).max()) or 1.0
        ax.quiver(xx, yy, u, v, color="#1f4e99", scale_units="xy", angles="xy", scale=longest / 1.3, width=0.006)
    else:
        ax.imshow(a[0], origin="lower", cmap="RdBu_r")
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


@figure_for("symmetry", per="finding")
def grid_symmetry_figures(finding: Finding, dataset: Any = None) -> Figures:
    """The field with a respected transformation applied (vector vs scalar action), and the test ratios.

    Example:
        >>> from physlens.systems.fields import VectorDiffusion
        >>> ds = VectorDiffusion(grid=8).sample(2)
        >>> tests = [{"transformation": "rot90 (vector action)", "element": "rot90", "action": "vector",
        ...           "ratio": 0.5, "respected": True}]
        >>> f = Finding("symmetry", "D4", {"group": "D4", "grid_group": {"vector_action": ["identity", "rot90"]}},
        ...             {"tests": tests}, probe="fields")
        >>> [c[:9] for c, _ in grid_symmetry_figures(f, ds)]
        ['The field', 'Equivaria']
    """
    value = finding.value or {}
    if "grid_group" not in value:
        return []
    out: Figures = []
    got = _fields_of(dataset)
    tests = (finding.evidence or {}).get("tests") or []
    if got is not None:
        X, kinds, _ = got
        kept = [e for e in value["grid_group"].get("vector_action", []) if e != "identity"]
        name = kept[0] if kept else "rot90"
        R = d4_elements()[name]
        a = X[:1]
        fig, axes = plt.subplots(1, 3, figsize=(10, 3.6))
        _draw(axes[0], a[0], kinds, "a field of the data")
        _draw(axes[1], transform_fields(a, kinds, R, True)[0], kinds, f"{name}, components turned")
        _draw(axes[2], transform_fields(a, kinds, R, False)[0], kinds, f"{name}, positions only")
        out.append((f"The field, and {name} applied with and without turning the vector components "
                    f"({'respected' if kept else 'not respected'} by the emulator with the vector action)", to_png(fig)))
    if tests:
        fig, ax = plt.subplots(figsize=(7.5, 0.28 * len(tests) + 1.2))
        ratios = np.array([max(float(t["ratio"]), 1e-6) for t in tests])
        colours = ["#2da44e" if t["respected"] else "#cf222e" for t in tests]
        ax.barh(range(len(tests)), ratios, color=colours)
        ax.set_xscale("log")
        ax.axvline(3.0, color="#555", ls="--", lw=1)
        ax.set_yticks(range(len(tests)), [t["transformation"] for t in tests], fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel("equivariance error / (2 x model error)")
        ax.set_title(f"Respected: {value.get('group', '')}", fontsize=9)
        out.append(("Equivariance error of each grid transformation relative to the model's own error "
                    "(green: respected, under the dashed threshold)", to_png(fig)))
    return out


@figure_for("equation", per="finding")
def pde_figures(finding: Finding, dataset: Any = None) -> Figures:
    """For one field: the target channel, the found PDE's right-hand side on the input field, their difference.

    Example:
        >>> from physlens.systems.fields import VectorDiffusion
        >>> from physlens.probes.fields import run
        >>> ds = VectorDiffusion(grid=8).sample(3)
        >>> f = run(None, ds, symmetries=False, source="data")[0]
        >>> [c[:24] for c, _ in pde_figures(f, ds)]
        ['du_dt on one field: the ']
    """
    from physlens.probes.fields import derivative_library

    value = finding.value if isinstance(finding.value, dict) else {}
    fd = _field_dataset(dataset)
    if finding.probe != "fields" or "coefficients" not in value or fd is None or finding.target not in fd.target_names:
        return []
    Theta, terms = derivative_library(fd.X[:1], list(fd.channel_names), fd.spacing)
    coef = np.array([float(value["coefficients"].get(t, 0.0)) for t in terms])
    H, W = fd.grid
    rhs = (Theta @ coef).reshape(H, W)
    target = fd.y[0, fd.target_names.index(finding.target)]
    lim = float(np.abs(target).max()) or 1.0
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.4))
    for ax, a, title in ((axes[0], target, f"{finding.target} (data)"), (axes[1], rhs, "found PDE, right-hand side"),
                         (axes[2], target - rhs, "difference")):
        im = ax.imshow(a, origin="lower", cmap="RdBu_r", vmin=-lim, vmax=lim)
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(im, ax=axes, shrink=0.8)
    rel = float(np.sqrt(np.mean((target - rhs) ** 2) / (np.mean(target**2) or 1.0)))
    return [(f"{finding.target} on one field: the data, the found PDE evaluated on the input field, and the "
             f"difference on the same scale (relative RMS {rel:.1e})", to_png(fig))]
