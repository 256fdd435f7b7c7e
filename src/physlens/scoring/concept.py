"""Scoring of ``concept`` findings against the truth: the number of latents and what they encode.

The concepts probe returns one ``concept`` finding per latent the answer needs
(value ``{"latent": i, "explained_by": {candidate: R²}}``), and ``concept``
findings of linear layer probes (value ``{"candidate": ...}``) that no truth
speaks to (left unscored).

A latent finding matches when the number of latent findings equals
``GroundTruth.latent_dim`` and, where the truth names the latent variables
(``extra["latent_variables"]``, e.g. ``["k", "b"]``) and the finding was
compared with them, the latent set explains every one of them with R² of at
least ``R2_MIN`` (``evidence["set_r2"]``). With more latent findings than the
truth has latents every one fails; with fewer, too. A count of 0 against a
truth of 0 leaves nothing to score here (the probe's ``quality`` finding
carries the count).
"""

from __future__ import annotations

from physlens.findings import Finding, GroundTruth, register_scorer

R2_MIN = 0.95


@register_scorer("concept")
def score_concepts(findings: list[Finding], truth: GroundTruth) -> None:
    """Set ``match`` on latent findings: right count and, where named, latent variables explained.

    Example:
        >>> fs = [Finding("concept", f"latent {i}", {"latent": i, "explained_by": {"k": 0.9}},
        ...               evidence={"set_r2": {"k": 0.99, "b": 0.97}}) for i in range(2)]
        >>> score_concepts(fs, GroundTruth(latent_dim=2, extra={"latent_variables": ["k", "b"]}))
        >>> [f.match for f in fs]
        [True, True]
        >>> score_concepts(fs[:1], GroundTruth(latent_dim=2)); fs[0].match
        False
    """
    latents = [f for f in findings if isinstance(f.value, dict) and "latent" in f.value]
    ids = {id(f) for f in latents}
    named = list((truth.extra or {}).get("latent_variables") or [])
    for f in findings:
        if id(f) not in ids:
            f.match, f.score_detail = None, {"reason": "a layer probe: the truth says nothing about it"}
    if truth.latent_dim is None:
        for f in latents:
            f.match, f.score_detail = None, {"reason": "the truth has no latent dimension"}
        return
    count_ok = len(latents) == int(truth.latent_dim)
    for f in latents:
        set_r2 = (f.evidence or {}).get("set_r2") or {}
        compared = [v for v in named if v in set_r2]
        weak = {v: set_r2[v] for v in compared if set_r2[v] < R2_MIN}
        f.match = bool(count_ok and not weak)
        f.score_detail = {"found_latents": len(latents), "true_latents": int(truth.latent_dim),
                          "latent_variables_compared": compared, "below_r2": weak, "r2_min": R2_MIN}
