"""Scoring of ``influence`` findings: the flagged rows against rows known to be corrupted.

A system (or a benchmark that corrupts data on purpose) declares the rows whose
targets it altered as ``GroundTruth.extra["corrupted_rows"]`` (the same row
numbering as the finding: the user's file rows when the data came from a file,
else the data set's rows). A finding matches when it recovers at least
``RECALL`` of them with a precision of at least ``PRECISION`` (the thresholds of
the influence benchmark); with no corrupted rows declared, it matches when it
flags nothing. Without the key the truth says nothing, and ``match`` stays None.
"""

from __future__ import annotations

from physlens.findings import Finding, GroundTruth, register_scorer

RECALL = 0.8
PRECISION = 0.5


@register_scorer("influence")
def score_influence(findings: list[Finding], truth: GroundTruth) -> None:
    """Set ``match`` from the recall and precision of the suspect rows against ``truth.extra["corrupted_rows"]``.

    Example:
        >>> f = Finding("influence", "rows 3, 9 stand out", {"suspect_rows": [3, 9, 11], "scores": [9.0, 8.0, 7.0]})
        >>> score_influence([f], GroundTruth(extra={"corrupted_rows": [3, 9]})); f.match, f.score_detail["recall"]
        (True, 1.0)
        >>> g = Finding("influence", "no row stands out", {"suspect_rows": [], "scores": []})
        >>> score_influence([g], GroundTruth()); g.match is None
        True
    """
    bad = (truth.extra or {}).get("corrupted_rows")
    for f in findings:
        rows = (f.value or {}).get("suspect_rows") if isinstance(f.value, dict) else None
        if bad is None or rows is None:
            f.match, f.score_detail = None, None
            continue
        bad_set, flagged = {int(r) for r in bad}, {int(r) for r in rows}
        hit = len(bad_set & flagged)
        if not bad_set:
            f.match = not flagged
            f.score_detail = {"corrupted": 0, "flagged": len(flagged)}
            continue
        recall = hit / len(bad_set)
        precision = hit / len(flagged) if flagged else 0.0
        f.match = bool(recall >= RECALL and precision >= PRECISION)
        f.score_detail = {"recall": recall, "precision": precision, "corrupted": len(bad_set),
                          "flagged": len(flagged), "needs": {"recall": RECALL, "precision": PRECISION}}
