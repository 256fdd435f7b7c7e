"""Report figure for the emergence probe: each followed finding's statistic against the training epoch.

One panel per kind of statistic (relevance, symmetry violation, interaction
strength, spectral alpha), log-scaled epochs; filled markers where the finding
holds, hollow where it does not, and the threshold of its test as a dashed line
(the relevance threshold differs per target; the symmetry line is 1, a change as
large as the model's own error). A symmetry's violation over the error grows as the
error shrinks, so a last panel shows when the network resolves the move at all:
the power contrast's margin (control move's change minus the symmetry's, over the
error budget), which must pass 1 before the symmetry counts. Registered for ``quality`` findings and drawn
only for the emergence summary; other ``quality`` findings get no figure here.
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from physlens.findings import Finding
from physlens.report.figures import Figures, figure_for, to_png

PANELS = {
    "relevant-variable": "permutation importance / Var(target)",
    "symmetry": "violation / model error",
    "interaction": "interaction strength",
    "quality": "spectral alpha",
    "power": "symmetry resolved: contrast margin / error",
}
MAX_LINES = 12


def _is_emergence(f: Finding) -> bool:
    return f.probe == "emergence" or (f.subject == "emergence" and isinstance(f.value, dict) and "series" in f.value)


@figure_for("quality")
def emergence_figure(findings: list[Finding], dataset: Any = None) -> Figures:
    """Each followed finding's statistic against epoch (only for the emergence summary finding).

    Example:
        >>> s = {"label": "x1 affects y", "kind": "relevant-variable", "epochs": [1, 10, 100],
        ...      "statistic": [0.001, 0.2, 1.0], "holds": [False, True, True], "threshold": 0.01}
        >>> f = Finding("quality", "x1 from epoch 10", {"name": "emergence", "series": [s]}, probe="emergence",
        ...             subject="emergence")
        >>> [c[:40] for c, _ in emergence_figure([f, Finding("quality", "other", {})])]
        ['When each finding appears over training:']
    """
    out: Figures = []
    for f in findings:
        if not _is_emergence(f):
            continue
        series = [s for s in (f.value.get("series") or []) if s.get("epochs")]
        power = [{**s, "kind": "power", "statistic": s["contrast_margin"], "threshold": 1.0}
                 for s in series if s.get("kind") == "symmetry" and s.get("contrast_margin")]
        series = series + power
        kinds = [k for k in PANELS if any(s.get("kind") == k for s in series)]
        if not kinds:
            continue
        fig, axes = plt.subplots(1, len(kinds), figsize=(4.6 * len(kinds), 3.4), squeeze=False)
        for ax, kind in zip(axes[0], kinds):
            group = [s for s in series if s.get("kind") == kind][:MAX_LINES]
            cmap = plt.get_cmap("tab10" if len(group) <= 10 else "tab20")
            thresholds = set()
            for i, s in enumerate(group):
                ep = np.asarray(s["epochs"], dtype=float)
                st = np.asarray([np.nan if v is None else v for v in s["statistic"]], dtype=float)
                holds = [bool(h) for h in (s.get("holds") or [False] * len(ep))]
                color = cmap(i % cmap.N)
                ax.plot(ep, st, "-", color=color, lw=1.2, label=_short(s.get("label", "")))
                ax.scatter(ep[holds], st[holds], color=color, s=22, zorder=3)
                ax.scatter(ep[[not h for h in holds]], st[[not h for h in holds]], facecolors="none",
                           edgecolors=color, s=22, zorder=3)
                if s.get("threshold") is not None and kind != "quality":
                    thresholds.add(round(float(s["threshold"]), 12))
            for thr in sorted(thresholds):
                ax.axhline(thr, color="k", ls="--", lw=0.8)
            ax.set_xscale("log")
            finite = np.concatenate([np.asarray([np.nan if v is None else v for v in s["statistic"]], dtype=float)
                                     for s in group])
            finite = finite[np.isfinite(finite)]
            if len(finite) and finite.min() > 0 and finite.max() / finite.min() > 50:
                ax.set_yscale("log")
            ax.set_xlabel("epoch")
            ax.set_ylabel(PANELS[kind])
            ax.legend(fontsize=6, loc="best")
        fig.tight_layout()
        n = len(series) - len(power)
        out.append((f"When each finding appears over training: {n} finding(s) followed over epochs "
                    f"{f.value.get('epochs', ['?'])[0]}-{f.value.get('epochs', ['?'])[-1]}; filled markers where it "
                    "holds, dashed lines at each test's threshold", to_png(fig)))
    return out


def _short(text: str, limit: int = 34) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
