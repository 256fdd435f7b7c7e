"""Report figures of the conservation probe: the count's spectra with their gaps, and variation per trajectory.

* ``quality`` section (the conservation probe's count finding only): the
  within/total variance ratios of the library's functions along the
  trajectories, and the emulator's conservation rates with their error floors,
  both on a log scale with the decided null space shaded, so the reader sees the
  gap the count rests on.
* ``conserved`` section: for each quantity found, the distribution over the
  data's trajectories of its relative variation (RMS spread along the trajectory
  over its spread across all of them), on a log scale.

(The per-finding plot of a quantity against time is :func:`physlens.report.figures.conserved_figure`.)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from physlens.findings import Finding
from physlens.report.figures import _short, conserved_expression, figure_for, plt, to_png


def _count_findings(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.probe == "conservation" and isinstance(f.value, dict)
            and "count_from_trajectories" in f.value and f.kind == "quality"]


@figure_for("quality")
def count_spectra(findings: list[Finding], dataset: Any = None) -> list[tuple[str, str]]:
    """Spectra behind the count (trajectories) and the closed forms (emulator), with the decided gaps.

    Example:
        >>> f = Finding("quality", "count", {"count_from_trajectories": 1, "closed_forms": 1},
        ...             evidence={"trajectory_spectrum": [1e-9, 0.2, 0.3], "trajectory_null_dim": 1,
        ...                       "emulator_spectrum": [1e-6, 0.05], "emulator_floors": [1e-5, 1e-5],
        ...                       "emulator_null_dim": 1}, probe="conservation")
        >>> len(count_spectra([f]))
        1
    """
    out = []
    for f in _count_findings(findings):
        ev = f.evidence or {}
        traj = np.asarray(ev.get("trajectory_spectrum") or [], dtype=float)
        emu = np.asarray(ev.get("emulator_spectrum") or [], dtype=float)
        floors = np.asarray(ev.get("emulator_floors") or [], dtype=float)
        panels = [p for p in ((traj, "trajectories"), (emu, "emulator")) if len(p[0])]
        if not panels:
            continue
        fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.2), squeeze=False)
        for ax, (spec, which) in zip(axes[0], panels):
            k = np.arange(1, len(spec) + 1)
            null = int(ev.get("trajectory_null_dim" if which == "trajectories" else "emulator_null_dim") or 0)
            ax.semilogy(k, np.maximum(spec, 1e-16), "o-", color="#1f6feb", ms=4,
                        label="within/total variance" if which == "trajectories" else "rate |dH/dt|² (normalised)")
            if which == "emulator" and len(floors) == len(spec):
                ax.semilogy(k, np.maximum(4 * floors, 1e-16), "_", color="#cf222e", ms=10, mew=2,
                            label="4 × error floor")
            if null:
                ax.axvspan(0.5, null + 0.5, color="#2da44e", alpha=0.15, label=f"null: {null}")
            ax.set_xlabel("direction (ascending)")
            ax.set_title(f"{which}: {null} null function(s)")
            ax.grid(alpha=0.3, which="both")
            ax.legend(fontsize=7)
        v = f.value
        caption = (f"Count of conserved quantities: {v.get('count_from_trajectories')} from the trajectories, "
                   f"{v.get('closed_forms')} closed form(s) from the emulator; shaded: the null space before the gap")
        out.append((caption, to_png(fig)))
    return out


def per_trajectory_variation(expr, dataset: Any) -> np.ndarray:
    """Relative variation of ``expr`` along each trajectory of ``dataset`` (RMS within / spread across all rows).

    Example:
        >>> import sympy as sp
        >>> from physlens.systems import get_system
        >>> ds = get_system("harmonic_oscillator").sample(300)
        >>> q, p = sp.symbols("q p", real=True)
        >>> bool(per_trajectory_variation(p**2 + q**2, ds).max() < 1e-6)
        True
    """
    from physlens.probes.equations.simplify import evaluate

    groups = dataset.groups()
    if groups is None:
        return np.zeros(0)
    cols = {n: dataset.X[:, j] for j, n in enumerate(dataset.input_names)}
    v = evaluate(expr, cols)
    ok = np.isfinite(v)
    v, g = v[ok], groups[ok]
    spread = np.std(v)
    if len(v) < 2 or spread == 0:
        return np.zeros(0)
    _, inv = np.unique(g, return_inverse=True)
    means = np.bincount(inv, v) / np.bincount(inv)
    within = np.sqrt(np.bincount(inv, (v - means[inv]) ** 2) / np.bincount(inv))
    return within / spread


@figure_for("conserved")
def variation_per_trajectory(findings: list[Finding], dataset: Any = None) -> list[tuple[str, str]]:
    """Box plot over trajectories of each conserved quantity's relative variation (log scale).

    Example:
        >>> from physlens.systems import get_system
        >>> ds = get_system("harmonic_oscillator").sample(300)
        >>> f = Finding("conserved", "E", {"expression": "p**2 + q**2"}, probe="conservation")
        >>> len(variation_per_trajectory([f], ds))
        1
    """
    if dataset is None or dataset.groups() is None:
        return []
    mine = [f for f in findings if f.probe == "conservation"]
    data, labels = [], []
    for f in mine:
        try:
            rv = per_trajectory_variation(conserved_expression(f.value), dataset)
        except Exception:  # an expression the data cannot evaluate is left out of the plot
            continue
        if len(rv):
            data.append(np.maximum(rv, 1e-16))
            labels.append(_short(str(f.value.get("expression") if isinstance(f.value, dict) else f.value), 24))
    if not data:
        return []
    fig, ax = plt.subplots(figsize=(max(4.0, 1.3 * len(data) + 2), 3.4))
    ax.boxplot(data, showfliers=True)
    ax.set_xticks(range(1, len(data) + 1), labels, rotation=20, ha="right", fontsize=7)
    ax.set_yscale("log")
    ax.axhline(0.1, color="#cf222e", lw=0.8, ls="--", label="10 %: rejected above")
    ax.set_ylabel("RMS along trajectory / spread")
    ax.set_title(f"Relative variation over {len(data[0])} trajectories")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    return [("Each conserved quantity's relative variation along every trajectory of the data (0: exactly "
             "conserved; the finding states it on held-out trajectories)", to_png(fig))]
