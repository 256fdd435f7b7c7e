"""Reliability diagram of the uncertainty probe's prediction intervals: nominal against observed coverage.

The observed coverage at each nominal level is the probe's cross-conformal count on held-out rows
(:mod:`physlens.probes.uncertainty`); a calibrated model lies on the diagonal, within the binomial
band ``± 2 sqrt(p (1 - p) / n)`` drawn around it. Other probes' ``uncertainty`` findings (undetermined
relevance, undecided symmetries) carry no intervals and get no figure here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from physlens.findings import Finding
from physlens.report.figures import Figures, _short, figure_for, plt, to_png


def _is_interval_finding(f: Finding) -> bool:
    return (f.probe == "uncertainty" and isinstance(f.value, dict)
            and isinstance(f.value.get("reliability"), dict) and "nominal" in f.value["reliability"])


@figure_for("uncertainty")
def reliability_diagram(findings: list[Finding], dataset: Any = None) -> Figures:
    """Observed against nominal coverage of the prediction intervals, one line per target.

    Example:
        >>> f = Finding("uncertainty", "intervals", {"reliability": {"nominal": [0.5, 0.9], "observed": [0.52, 0.9],
        ...             "observed_by_target": {"y": [0.52, 0.9]}}, "coverage": 0.9, "level": 0.9},
        ...             evidence={"heldout_rows": 200}, probe="uncertainty")
        >>> [c.split(":")[0] for c, _ in reliability_diagram([f])]
        ['Reliability of the prediction intervals']
        >>> reliability_diagram([Finding("uncertainty", "undetermined", {"variables": ["x"]}, probe="attribution")])
        []
    """
    out: Figures = []
    for f in findings:
        if not _is_interval_finding(f):
            continue
        rel = f.value["reliability"]
        nominal = np.asarray(rel["nominal"], dtype=float)
        order = np.argsort(nominal)
        nominal = nominal[order]
        n = int((f.evidence or {}).get("heldout_rows", 0) or 0)
        fig, ax = plt.subplots(figsize=(4.2, 4.0))
        grid = np.linspace(0.0, 1.0, 101)
        ax.plot(grid, grid, color="#555", lw=1, ls="--", label="calibrated")
        if n > 0:
            band = 2 * np.sqrt(grid * (1 - grid) / n)
            ax.fill_between(grid, grid - band, grid + band, color="#999", alpha=0.2, label=f"±2σ for {n} rows")
        by_target = rel.get("observed_by_target") or {}
        if len(by_target) > 1:
            for t, obs in list(by_target.items())[:8]:
                ax.plot(nominal, np.asarray(obs, dtype=float)[order], marker=".", lw=0.8, alpha=0.7, label=_short(t, 14))
        if rel.get("laplace_gaussian"):
            ax.plot(nominal, np.asarray(rel["laplace_gaussian"], dtype=float)[order], marker="s", ms=3, color="tab:orange",
                    lw=1, ls=":", label="Laplace spread alone (Gaussian)")
        ax.plot(nominal, np.asarray(rel["observed"], dtype=float)[order], marker="o", color="tab:blue", lw=1.8,
                label="mean over targets" if len(by_target) > 1 else "observed")
        lo = max(0.0, float(nominal.min()) - 0.1)
        ax.set_xlim(lo, 1.0)
        shown = [v for v in [*rel["observed"], *(rel.get("laplace_gaussian") or [])] if v is not None]
        ax.set_ylim(min(lo, max(0.0, min(shown) - 0.05)), 1.0)
        ax.set_xlabel("nominal coverage (interval level)")
        ax.set_ylabel("observed coverage on held-out rows")
        ax.set_title("Reliability of prediction intervals")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left")
        level = f.value.get("level", 0.9)
        cov = f.value.get("coverage")
        caption = (f"Reliability of the prediction intervals: observed coverage (cross-conformal on held-out rows) "
                   f"against the level asked; at {level:.0%} the intervals cover "
                   f"{cov:.1%}; dotted: the uncalibrated Gaussian intervals of the spread alone"
                   if cov is not None else "Reliability of the prediction intervals")
        out.append((caption, to_png(fig)))
    return out
