"""Scoring of ``phase`` findings: the critical point (or its absence) against ``GroundTruth.critical_points``.

A finding with a critical value matches when it lies within max(3 %, 2 sigma) of the
true critical point, the 2 sigma capped at 10 % (a vague estimate is not a right one).
When the truth says there is no transition (a critical point given as None), a finding
matches when it reports none. A system without critical points leaves the finding
unscored. The true order parameter (``extra["order_parameter"]``) is copied into the
detail next to the one found, for the reader to compare.
"""

from __future__ import annotations

import math

from physlens.findings import Finding, GroundTruth, register_scorer

RELATIVE_TOLERANCE = 0.03
MAX_TOLERANCE = 0.10


@register_scorer("phase")
def score_phase(findings: list[Finding], truth: GroundTruth) -> None:
    """Set ``match`` on each phase finding: its critical point against the truth's (or none against none).

    Example:
        >>> f = Finding("phase", "T_c = 2.28", {"critical": 2.28, "uncertainty": 0.02})
        >>> score_phase([f], GroundTruth(critical_points={"T_c": 2.269})); f.match
        True
        >>> g = Finding("phase", "no transition", {"critical": None, "uncertainty": None})
        >>> score_phase([g], GroundTruth(critical_points={"T_c": 2.269})); g.match
        False
    """
    points = truth.critical_points or {}
    if not points:
        return
    name, true = next(iter(points.items()))
    for f in findings:
        value = f.value or {}
        if "critical" not in value:
            continue
        found = value.get("critical")
        detail = {"truth_name": name, "truth": true, "found": found,
                  "order_parameter_found": value.get("order_parameter"),
                  "order_parameter_truth": (truth.extra or {}).get("order_parameter")}
        if true is None or found is None:
            f.match = (true is None) and (found is None)
        else:
            sigma = value.get("uncertainty")
            sigma = float(sigma) if sigma is not None and math.isfinite(float(sigma)) else 0.0
            tol = max(RELATIVE_TOLERANCE * abs(true), min(2 * sigma, MAX_TOLERANCE * abs(true)))
            detail.update(relative_error=abs(found - true) / abs(true), tolerance=tol)
            f.match = abs(found - true) <= tol
        f.score_detail = detail
