"""The one record every probe returns, the ground truth it is checked against, and scoring.

A :class:`Finding` is what physlens learned from a trained network: a kind
(``symmetry``, ``equation``, ``relevant-variable`` ...), a sentence for humans,
a machine-readable value (a SymPy expression, a matrix, a number with an
uncertainty), the evidence behind it and a confidence. :class:`GroundTruth` is
the physics a system is known to have, written as data. :func:`score` is the
only place where the two meet: probes never see the truth.

Values are serialised losslessly to JSON by :mod:`physlens.codec` (re-exported
here as ``to_jsonable`` / ``from_jsonable``). Scorers register themselves with
:func:`register_scorer`; importing :mod:`physlens` imports them all, so this module
never imports the layer above it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, fields
from types import ModuleType
from typing import Any

from physlens.codec import from_jsonable, to_jsonable
from physlens.plugins import Registry

KINDS = (
    "symmetry",
    "conserved",
    "equation",
    "relevant-variable",
    "interaction",
    "concept",
    "phase",
    "quality",
    "uncertainty",
    "influence",
)


# --------------------------------------------------------------------------- Finding
class _JsonRecord:
    """The JSON round trip that :class:`Finding` and :class:`GroundTruth` share: ``to_dict`` encodes
    every dataclass field with :func:`to_jsonable`, ``from_dict`` ignores keys that are not fields."""

    def to_dict(self) -> dict:
        """JSON-ready dict (see module docstring for the encoding)."""
        return to_jsonable({f.name: getattr(self, f.name) for f in fields(self)})

    @classmethod
    def from_dict(cls, d: dict):
        """Inverse of :meth:`to_dict`."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: from_jsonable(v) for k, v in d.items() if k in names})

    def to_json(self) -> str:
        """Serialise to a JSON string."""
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str):
        """Read back from :meth:`to_json` output."""
        return cls.from_dict(json.loads(text))


@dataclass
class Finding(_JsonRecord):
    """One thing a probe learned from a trained model.

    Attributes:
        kind: one of :data:`KINDS`.
        statement: one human sentence, e.g. ``"x3 does not affect y"``.
        value: machine form (SymPy expression, matrix, dict of numbers...).
        evidence: the numbers that support it (scores, p-values, errors).
        confidence: in [0, 1].
        probe: name of the probe that produced it.
        target: the output the finding is about, when there is one.
        subject: what the finding is about (a variable name, a group name...).
        match: set by :func:`score`: True/False when truth exists, else None.
        score_detail: set by :func:`score`: how the comparison was made.

    Example:
        >>> f = Finding("relevant-variable", "x1 matters for y", {"variable": "x1", "relevant": True})
        >>> Finding.from_json(f.to_json()) == f
        True
    """

    kind: str
    statement: str
    value: Any = None
    evidence: dict = field(default_factory=dict)
    confidence: float = 1.0
    probe: str = ""
    target: str | None = None
    subject: str | None = None
    match: bool | None = None
    score_detail: dict | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown finding kind {self.kind!r}; expected one of {', '.join(KINDS)}")
        self.confidence = float(min(max(self.confidence, 0.0), 1.0))


    def __eq__(self, other: object) -> bool:
        return isinstance(other, Finding) and json.dumps(self.to_dict(), sort_keys=True) == json.dumps(
            other.to_dict(), sort_keys=True
        )

    def _repr_html_(self) -> str:
        """Jupyter display: kind, statement, confidence, match badge, value and evidence; every string escaped.

        Self-contained (inline styles only); :mod:`physlens.report.notebook` draws the figures too.

        Example:
            >>> html = Finding("quality", "<b>fits</b>", 1.0)._repr_html_()
            >>> "&lt;b&gt;fits&lt;/b&gt;" in html and "<b>fits</b>" not in html
            True
        """
        from html import escape

        match = None if self.match is None else bool(self.match)
        bg, fg, label = {None: ("#eef1f4", "#59636e", "no truth"), True: ("#dafbe1", "#116329", "matches truth"),
                         False: ("#ffe2e0", "#a40e26", "does not match")}[match]
        d = self.to_dict()
        details = json.dumps({"value": d["value"], "evidence": d["evidence"]}, indent=1)
        if len(details) > 4000:
            details = details[:4000] + f"\n… ({len(details)} characters in all)"
        about = " · ".join(escape(str(x)) for x in (self.probe, self.target, self.subject) if x)
        return (
            '<div style="border:1px solid #d0d7de;border-radius:8px;padding:.5em .8em;margin:.3em 0;'
            'font-family:system-ui,sans-serif;line-height:1.4;color:#1f2328;background:#fff">'
            f'<div><b>{escape(self.kind)}</b> <span style="color:#59636e;font-size:.85em">{about}</span>'
            f'<span style="float:right;font-size:.8em;font-weight:600;padding:.05em .5em;border-radius:1em;'
            f'background:{bg};color:{fg}">{label}</span></div>'
            f"<div>{escape(self.statement)}</div>"
            f'<div style="color:#59636e;font-size:.85em">confidence {self.confidence:.2f}</div>'
            '<details><summary style="cursor:pointer;color:#59636e;font-size:.85em">value and evidence</summary>'
            f'<pre style="background:#f6f8fa;padding:.5em;overflow-x:auto;max-height:24em">{escape(details)}</pre>'
            "</details></div>"
        )


def findings_to_json(findings: Iterable[Finding]) -> list[dict]:
    """List of JSON-ready dicts for a list of findings.

    Example:
        >>> findings_to_json([Finding("quality", "ok", 1.0)])[0]["kind"]
        'quality'
    """
    return [f.to_dict() for f in findings]


def findings_from_json(data: list[dict]) -> list[Finding]:
    """Inverse of :func:`findings_to_json`.

    Example:
        >>> findings_from_json(findings_to_json([Finding("quality", "ok", 1.0)]))[0].value
        1.0
    """
    return [Finding.from_dict(d) for d in data]


# --------------------------------------------------------------------------- GroundTruth
@dataclass
class GroundTruth(_JsonRecord):
    """The physics a system is known to have, written as data (never code).

    Attributes:
        symmetries: list of dicts. Continuous: ``{"name": "so(2)", "kind": "continuous",
            "generators": [n x (n+1) affine matrices [L | b] in input coordinates]}``;
            discrete: ``{"name": "parity", "kind": "discrete", "transform": n x n matrix}``.
            Equivariance may add ``"output_transform"``.
        conserved: conserved quantities as SymPy expressions in the variable names.
        equations: target (or state-derivative) name -> SymPy expression.
        latent_dim: minimal number of latent variables, when known.
        relevant_inputs: input names the target depends on.
        critical_points: name -> value (e.g. ``{"T_c": 2.269}``).
        extra: anything else a scorer needs (e.g. force law, order parameter).

    Example:
        >>> import sympy as sp
        >>> x = sp.Symbol("x", real=True)
        >>> t = GroundTruth(equations={"y": x**2}, relevant_inputs=["x"])
        >>> GroundTruth.from_json(t.to_json()).equations["y"] == x**2
        True
    """

    symmetries: list[dict] = field(default_factory=list)
    conserved: list[Any] = field(default_factory=list)
    equations: dict[str, Any] = field(default_factory=dict)
    latent_dim: int | None = None
    relevant_inputs: list[str] | None = None
    critical_points: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-ready dict."""
        return to_jsonable(asdict(self))



# --------------------------------------------------------------------------- scoring
Scorer = Callable[[list[Finding], GroundTruth], None]
_SCORERS: dict[str, Scorer] = {}


def register_scorer(kind: str) -> Callable[[Scorer], Scorer]:
    """Register the function that scores findings of ``kind`` against the truth.

    A scorer receives every finding of its kind and the truth, and sets
    ``finding.match`` (True/False, or None when the truth says nothing) and
    ``finding.score_detail``.

    Example:
        >>> @register_scorer("quality")
        ... def _score_quality(findings, truth):
        ...     for f in findings:
        ...         f.match = None
    """

    def deco(fn: Scorer) -> Scorer:
        _SCORERS[kind] = fn
        return fn

    return deco


def _adopt_scorer(kind: str, obj):
    if isinstance(obj, ModuleType):
        return None  # registered itself on import
    if callable(obj):
        return obj
    raise TypeError("a scorer plug-in must be a module or a function scorer(findings, truth)")


#: the scorers by finding kind: the modules of the ``physlens.scoring`` package (found by name on the
#: first :func:`score`, as plug-ins are, so this module never imports the layer above it), then the
#: ``physlens.scorers`` entry points, each a module that registers its scorers or a function
#: ``scorer(findings, truth)`` registered under the entry point's name (the finding kind)
SCORERS = Registry("scorer", package="physlens.scoring", entry_point_group="physlens.scorers", skip=(),
                   adopt=_adopt_scorer, table=_SCORERS)


def score(findings: list[Finding], truth: GroundTruth | None) -> dict:
    """Compare findings with the ground truth; set ``match`` on each; return a scorecard.

    Returns a dict ``{"kinds": {kind: {"scored", "matched"}}, "matched", "scored", "findings"}``.
    With no truth (a user's own data) every ``match`` stays None.

    Example:
        >>> truth = GroundTruth(relevant_inputs=["x1"])
        >>> fs = [Finding("relevant-variable", "x1 matters", {"variable": "x1", "relevant": True})]
        >>> score(fs, truth)["matched"]
        1
    """
    SCORERS.discover()
    card: dict[str, Any] = {"kinds": {}, "matched": 0, "scored": 0}
    if truth is None:
        card["findings"] = []
        return card
    by_kind: dict[str, list[Finding]] = {}
    for f in findings:
        by_kind.setdefault(f.kind, []).append(f)
    for kind, group in by_kind.items():
        scorer = _SCORERS.get(kind)
        if scorer is not None:
            scorer(group, truth)
        scored = [f for f in group if f.match is not None]
        matched = sum(bool(f.match) for f in scored)
        card["kinds"][kind] = {"scored": len(scored), "matched": matched}
        card["scored"] += len(scored)
        card["matched"] += matched
    card["findings"] = [
        {"kind": f.kind, "subject": f.subject, "statement": f.statement, "match": f.match, "detail": f.score_detail}
        for f in findings
    ]
    return to_jsonable(card)
