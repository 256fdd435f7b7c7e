"""Scoring of the fields probe's findings: the grid group and the PDE coefficients.

A field system's truth (:class:`physlens.systems.fields.VectorDiffusion`) lists, in
``GroundTruth.extra``, which of the 16 grid actions (8 elements of D4, each with the vector
components turned or not) commute with its law (``grid_symmetries``, decided on the exact law),
whether translations hold (``translations``) and the PDE's coefficients per target over the
terms of the probe's library (``pde_coefficients``, e.g. ``{"du_dt": {"u_xx": 0.8, ...}}``).

* **The grid group** (a ``symmetry`` finding whose value has ``grid_group``): a match when the
  translations agree and the sets of D4 elements respected with the vector action and with the
  positions-only (scalar) action both equal the truth's. A finding that keeps an element the law
  breaks, or loses one it keeps, does not match. :mod:`physlens.scoring.symmetry` hands such
  findings here.
* **The PDE** (an ``equation`` finding with ``coefficients`` whose target the truth's
  ``pde_coefficients`` cover): a match when the found terms are exactly the truth's non-zero
  terms and every coefficient is within 1 % (relative) of the truth's: the coefficient read off a
  trained emulator carries the emulator's error (about 1e-3 on the benchmark), which the
  symbolic scorer's 1e-6 would never accept. :mod:`physlens.scoring.equations` hands such
  findings here.
"""

from __future__ import annotations

from physlens.findings import Finding, GroundTruth

#: relative tolerance on a PDE coefficient
PDE_RTOL = 0.01


def is_grid_finding(f: Finding) -> bool:
    """Whether ``f`` states a grid group (judged by :func:`score_grid_group`).

    Example:
        >>> is_grid_finding(Finding("symmetry", "D4", {"grid_group": {"translations": True}}))
        True
    """
    return isinstance(f.value, dict) and f.value.get("grid_group") is not None


def is_pde_finding(f: Finding, truth: GroundTruth) -> bool:
    """Whether ``f`` is an equation with coefficients whose target has PDE coefficients in the truth.

    Example:
        >>> t = GroundTruth(extra={"pde_coefficients": {"du_dt": {"u_xx": 1.0}}})
        >>> is_pde_finding(Finding("equation", "du_dt = u_xx", {"coefficients": {"u_xx": 1.0}}, target="du_dt"), t)
        True
    """
    pde = (truth.extra or {}).get("pde_coefficients") or {}
    return (isinstance(f.value, dict) and isinstance(f.value.get("coefficients"), dict)
            and (f.target or f.value.get("target")) in pde)


def score_grid_group(f: Finding, truth: GroundTruth) -> None:
    """Set ``match`` on a grid-group finding (None when the truth lists no grid symmetries).

    Example:
        >>> held = [{"element": "identity", "action": "vector", "holds": True},
        ...         {"element": "flip_y", "action": "vector", "holds": True},
        ...         {"element": "rot90", "action": "vector", "holds": False},
        ...         {"element": "identity", "action": "scalar", "holds": True}]
        >>> t = GroundTruth(extra={"grid_symmetries": held, "translations": True})
        >>> f = Finding("symmetry", "Z2", {"grid_group": {"translations": True, "vector_action": ["identity", "flip_y"],
        ...                                               "scalar_action": ["identity"]}})
        >>> score_grid_group(f, t); f.match
        True
        >>> f.value["grid_group"]["vector_action"].append("rot90"); score_grid_group(f, t); f.match
        False
    """
    held = (truth.extra or {}).get("grid_symmetries")
    if not held:
        f.match = None
        return
    g = f.value["grid_group"]
    want_v = sorted(h["element"] for h in held if h["holds"] and h["action"] == "vector")
    want_s = sorted(h["element"] for h in held if h["holds"] and h["action"] == "scalar")
    got_v, got_s = sorted(g.get("vector_action") or []), sorted(g.get("scalar_action") or [])
    trans = bool(truth.extra.get("translations", True))
    tested_d4 = len(got_v) > 1 or any(t.get("action") == "vector" for t in (f.evidence or {}).get("tests", []))
    ok = bool(g.get("translations")) == trans and got_v == want_v and got_s == want_s
    f.match = bool(ok) if tested_d4 else None  # a non-square grid: D4 was not tested, the group cannot be judged
    f.score_detail = {"by": "grid group", "truth_group": truth.extra.get("group"),
                      "truth_vector_action": want_v, "truth_scalar_action": want_s,
                      "extra": sorted(set(got_v) - set(want_v)), "missed": sorted(set(want_v) - set(got_v)),
                      "extra_scalar_action": sorted(set(got_s) - set(want_s)),
                      "missed_scalar_action": sorted(set(want_s) - set(got_s)),
                      "translations_agree": bool(g.get("translations")) == trans, "d4_tested": tested_d4}


def score_pde(f: Finding, truth: GroundTruth, rtol: float = PDE_RTOL) -> None:
    """Set ``match`` on a PDE finding: the truth's terms exactly, each coefficient within ``rtol`` (relative).

    Example:
        >>> t = GroundTruth(extra={"pde_coefficients": {"du_dt": {"u_xx": 0.8, "u_yy": 0.5, "1": 0.0}}})
        >>> f = Finding("equation", "", {"coefficients": {"u_xx": 0.803, "u_yy": 0.4991}}, target="du_dt")
        >>> score_pde(f, t); f.match, sorted(f.score_detail["relative_errors"])
        (True, ['u_xx', 'u_yy'])
        >>> g = Finding("equation", "", {"coefficients": {"u_xx": 0.84, "u_yy": 0.5}}, target="du_dt")
        >>> score_pde(g, t); g.match
        False
    """
    target = f.target or f.value.get("target")
    want = {k: float(v) for k, v in truth.extra["pde_coefficients"][target].items() if v != 0}
    got = {k: float(v) for k, v in f.value["coefficients"].items()}
    errs = {k: abs(got.get(k, 0.0) - v) / abs(v) for k, v in want.items()}
    extra, missed = sorted(set(got) - set(want)), sorted(set(want) - set(got))
    f.match = bool(not extra and not missed and max(errs.values(), default=0.0) <= rtol)
    f.score_detail = {"by": f"coefficients within {rtol:.0%}", "relative_errors": errs, "extra_terms": extra,
                      "missed_terms": missed, "truth": want}


def score_grid_findings(findings: list[Finding], truth: GroundTruth | None) -> dict:
    """Score the grid findings and PDEs among ``findings``; return ``{kind: {"scored", "matched"}}`` for them.

    Example:
        >>> from physlens.systems.fields import VectorDiffusion
        >>> from physlens.probes.fields import run
        >>> s = VectorDiffusion(grid=8); found = run(None, s.sample(4), symmetries=False, source="data")
        >>> score_grid_findings(found, s.truth)["equation"]
        {'scored': 2, 'matched': 2}
    """
    card: dict = {}
    if truth is None:
        return card
    for f in findings:
        if f.kind == "symmetry" and is_grid_finding(f):
            score_grid_group(f, truth)
        elif f.kind == "equation" and is_pde_finding(f, truth):
            score_pde(f, truth)
        else:
            continue
        if f.match is None:
            continue
        row = card.setdefault(f.kind, {"scored": 0, "matched": 0})
        row["scored"] += 1
        row["matched"] += int(bool(f.match))
    return card


__all__ = ["PDE_RTOL", "is_grid_finding", "is_pde_finding", "score_grid_findings", "score_grid_group", "score_pde"]
