"""Report figures of ``phase`` findings: the three methods' curves along the control parameter, per lattice size."""

from __future__ import annotations

from typing import Any

import numpy as np

from physlens.findings import Finding
from physlens.report.figures import Figures, figure_for, plt, to_png


def _arr(v: Any) -> np.ndarray | None:
    return None if v is None else np.asarray(v, dtype=float)


@figure_for("phase")
def phase_section(findings: list[Finding], dataset: Any = None) -> Figures:
    """The curves of every ``phase`` finding of the phases probe, one figure each (the section's figures).

    Example:
        >>> phase_section([Finding("phase", "none", {"critical": None})])
        []
    """
    out: Figures = []
    for f in findings:
        out.extend(phase_curves(f, dataset))
    return out


def phase_curves(finding: Finding, dataset: Any = None) -> Figures:
    """Supervised probability, confusion accuracy and the unsupervised statistics vs the control, one line per size.

    Example:
        >>> f = Finding("phase", "x", {"critical": 1.0}, {"control": "T", "per_size": {"all": {"levels": [0, 1, 2],
        ...     "methods": {"supervised": {"curve": [0.1, 0.5, 0.9]}}}}})
        >>> len(phase_curves(f))
        1
    """
    ev = finding.evidence or {}
    per = ev.get("per_size") or {}
    if not per or finding.probe not in ("", "phases"):
        return []
    control = ev.get("control", "control")
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.3))
    for label, r in per.items():
        lv = _arr(r.get("levels"))
        m = r.get("methods") or {}
        tag = f"L = {label}" if label != "all" else None
        if "supervised" in m and m["supervised"].get("curve") is not None:
            axes[0].plot(lv, _arr(m["supervised"]["curve"]), "o-", ms=3, label=tag)
        if "confusion" in m and m["confusion"].get("curve") is not None:
            axes[1].plot(_arr(m["confusion"]["splits"]), _arr(m["confusion"]["curve"]), "o-", ms=3, label=tag)
        for name, style in (("pca", "o-"), ("autoencoder", "s--")):
            if name in m and m[name].get("curve") is not None:
                c = _arr(m[name]["curve"])
                span = np.ptp(c) or 1.0
                axes[2].plot(lv, (c - c.min()) / span, style, ms=3, label=f"{name}" + (f" {tag}" if tag else ""))
    crit = (finding.value or {}).get("critical")
    for ax, title in zip(axes, ("supervised: P(high side)", "confusion: held-out accuracy", "unsupervised (scaled)")):
        if crit is not None:
            ax.axvline(crit, color="k", lw=0.8, ls=":")
        ax.set_xlabel(control)
        ax.set_title(title, fontsize=10)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    axes[0].axhline(0.5, color="grey", lw=0.6)
    caption = (f"{control}: the three methods per lattice size; dotted line: combined estimate {crit:.4g}"
               if crit is not None else f"{control}: the three methods per lattice size; no transition found")
    return [(caption, to_png(fig))]
