"""Scoring of ``relevant-variable`` findings against ``GroundTruth.relevant_inputs``."""

from __future__ import annotations

from physlens.findings import Finding, GroundTruth, register_scorer


@register_scorer("relevant-variable")
def score_relevance(findings: list[Finding], truth: GroundTruth) -> None:
    """A finding matches when its relevant/irrelevant verdict agrees with the truth.

    Example:
        >>> f = Finding("relevant-variable", "x3 is irrelevant", {"variable": "x3", "relevant": False})
        >>> score_relevance([f], GroundTruth(relevant_inputs=["x1"])); f.match
        True
    """
    if truth.relevant_inputs is None:
        return
    truth_set = set(truth.relevant_inputs)
    for f in findings:
        value = f.value or {}
        name = value.get("variable")
        if name is None:
            continue
        expected = name in truth_set
        f.match = bool(value.get("relevant")) == expected
        f.score_detail = {"expected_relevant": expected, "found_relevant": bool(value.get("relevant"))}
