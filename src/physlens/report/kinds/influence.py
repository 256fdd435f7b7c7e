"""Report figures for ``influence`` findings: the suspect rows, and who pushed one prediction.

The caption lists the suspect rows (in the user's file numbering when the data
came from a file), so a reader can open the file at those rows; the bars show
how many times each row's statistic (by default its loss summed over the training
snapshots) exceeds that of its nearest rows, against the threshold the probe
derived from the number of rows.
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt

from physlens.findings import Finding
from physlens.report.figures import Figures, figure_for, to_png

MAX_BARS = 30


@figure_for("influence", per="finding")
def influence_figure(finding: Finding, dataset: Any = None) -> Figures:
    """Bars of the suspect rows' ratio to their neighbours, with the threshold; who pushed one prediction.

    Example:
        >>> f = Finding("influence", "rows 4, 8", {"suspect_rows": [4, 8], "scores": [9.0, 5.0]},
        ...             evidence={"threshold": 2.0, "explained_prediction": {"query_row": 1,
        ...                       "proponents": [{"row": 3, "influence": 1.0}], "opponents": [{"row": 5, "influence": -1.0}]}})
        >>> [c.split(":")[0] for c, _ in influence_figure(f)]
        ['Suspect rows (2)', 'Training rows that pushed the prediction for row 1 (proponents) and held it back (opponents)']
    """
    v = finding.value if isinstance(finding.value, dict) else {}
    ev = finding.evidence or {}
    rows = [int(r) for r in v.get("suspect_rows") or []]
    scores = [float(s) for s in v.get("scores") or []]
    out: Figures = []
    if rows and len(scores) == len(rows):
        shown = min(len(rows), MAX_BARS)
        fig, ax = plt.subplots(figsize=(min(10.0, 1.5 + 0.3 * shown), 3.0))
        ax.bar(range(shown), scores[:shown], color="tab:red")
        ax.set_xticks(range(shown))
        ax.set_xticklabels([str(r) for r in rows[:shown]], rotation=90, fontsize=7)
        if ev.get("threshold") is not None:
            ax.axhline(float(ev["threshold"]), color="k", ls="--", lw=1, label="threshold (family-wise, from n rows)")
            ax.legend(fontsize=8)
        ax.set_yscale("log")
        ax.set_xlabel("row")
        ax.set_ylabel(str(ev.get("score_name", "self-influence (TracIn)")), fontsize=8)
        more = f" (+{len(rows) - shown} more in the finding)" if len(rows) > shown else ""
        listed = ", ".join(str(r) for r in rows[:60]) + (" ..." if len(rows) > 60 else "")
        out.append((f"Suspect rows ({len(rows)}): {listed}{more}; {ev.get('row_numbers', 'row numbers')}", to_png(fig)))
    expl = ev.get("explained_prediction")
    if isinstance(expl, dict) and (expl.get("proponents") or expl.get("opponents")):
        items = list(expl.get("proponents") or []) + list(reversed(expl.get("opponents") or []))
        fig, ax = plt.subplots(figsize=(6.0, 0.35 * len(items) + 1.0))
        vals = [float(p["influence"]) for p in items]
        ax.barh(range(len(items)), vals, color=["tab:blue" if x >= 0 else "tab:orange" for x in vals])
        ax.set_yticks(range(len(items)))
        ax.set_yticklabels([f"row {int(p['row'])}" for p in items], fontsize=8)
        ax.invert_yaxis()
        ax.axvline(0.0, color="k", lw=0.8)
        ax.set_xlabel(f"TracIn influence on the loss at row {expl.get('query_row')}")
        out.append((f"Training rows that pushed the prediction for row {expl.get('query_row')} (proponents) "
                    "and held it back (opponents)", to_png(fig)))
    return out
