"""Coverage of the ground truth: per finding kind, what was matched, what was missed, what was spurious.

:func:`physlens.findings.score` says of each *finding* whether it matches the truth.
The rediscovery scorecard also needs the other direction: which items of the *truth*
no finding recovered. :func:`coverage` counts, per kind,

* ``matched`` — findings scored as matching the truth;
* ``spurious`` — findings scored as not matching it;
* ``missed`` — truth items no matching finding covers: relevant inputs never found
  relevant, target equations without a matching law, a continuous symmetry algebra
  not matched, listed discrete symmetries not found, conserved quantities, a latent
  dimension, critical points;
* ``unscored`` — findings the truth says nothing about.

It reads findings after :func:`~physlens.findings.score` has set their ``match``.
"""

from __future__ import annotations

import numpy as np

from physlens.findings import KINDS, Finding, GroundTruth


def _transform_close(a, b, n: int) -> bool:
    A, B = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    A, B = A[:, :n] if A.ndim == 2 else A, B[:, :n] if B.ndim == 2 else B
    return A.shape == B.shape and bool(np.allclose(A, B, atol=1e-3))


def _missed(kind: str, found: list[Finding], truth: GroundTruth) -> int:
    good = [f for f in found if f.match]
    if kind == "relevant-variable":
        said = {(f.value or {}).get("variable") for f in good if (f.value or {}).get("relevant")}
        return len([v for v in truth.relevant_inputs or [] if v not in said])
    if kind == "equation":
        return len([t for t in truth.equations if not any(f.target == t for f in good)])
    if kind == "symmetry":
        missed = 0
        if any(s.get("kind") == "continuous" for s in truth.symmetries):
            missed += not any("generators" in (f.value or {}) and (f.score_detail or {}).get("truth_contained", True)
                              for f in good)
        for s in truth.symmetries:
            if s.get("kind") != "discrete" or s.get("transform") is None:
                continue
            n = np.asarray(s["transform"]).shape[0]
            missed += not any("transform" in (f.value or {}) and _transform_close(f.value["transform"], s["transform"], n)
                              for f in good)
        return missed
    if kind == "conserved":
        return max(0, len(truth.conserved) - len(good))
    if kind == "concept":
        return int(truth.latent_dim is not None and not good)
    if kind == "phase":
        return max(0, len(truth.critical_points) - len(good))
    return 0


def coverage(findings: list[Finding], truth: GroundTruth | None) -> dict[str, dict[str, int]]:
    """Per kind: matched / missed / spurious / unscored counts (empty when there is no truth).

    Example:
        >>> truth = GroundTruth(relevant_inputs=["x1", "x2"])
        >>> f = Finding("relevant-variable", "x1 matters", {"variable": "x1", "relevant": True}, match=True)
        >>> coverage([f], truth)["relevant-variable"]
        {'matched': 1, 'missed': 1, 'spurious': 0, 'unscored': 0}
    """
    if truth is None:
        return {}
    out: dict[str, dict[str, int]] = {}
    for kind in KINDS:
        found = [f for f in findings if f.kind == kind]
        missed = _missed(kind, found, truth)
        if not found and not missed:
            continue
        out[kind] = {
            "matched": sum(f.match is True for f in found),
            "missed": int(missed),
            "spurious": sum(f.match is False for f in found),
            "unscored": sum(f.match is None for f in found),
        }
    return out


__all__ = ["coverage"]
