"""What a report shows, assembled once for the HTML page and for Jupyter.

:class:`RunData` holds what a run wrote (findings, scorecard, training,
dataset, probes.json, study.yaml), read from a run directory or taken from a
:class:`~physlens.study.RunResult` in memory. :func:`sections` turns its
findings into one section per finding kind, each with the figure a physicist
expects (see :mod:`physlens.report.figures`) and one row per finding
(statement, confidence, match badge, details). The Jinja2 templates in
``templates/`` render these plain dicts; autoescaping is on and no template
marks user text safe, so every column name, statement and formula is escaped.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from physlens.errors import ConfigError
from physlens.findings import KINDS, Finding, findings_from_json, to_jsonable
from physlens.report import figures as F

KIND_INFO: dict[str, tuple[str, str]] = {
    "symmetry": ("Symmetries", "Transformations of the inputs under which the network's prediction stays the same "
                 "(invariance) or transforms along (equivariance)."),
    "conserved": ("Conserved quantities", "Functions of the state that stay constant along the motion."),
    "equation": ("Equations", "Closed-form laws found by symbolic regression, on the accuracy-complexity Pareto "
                 "front."),
    "relevant-variable": ("Relevant variables", "Which inputs the trained network actually uses, by how much its "
                          "prediction changes when one input is shuffled."),
    "interaction": ("Interactions", "Which inputs act together rather than additively."),
    "concept": ("Concepts", "Latent variables the network represents."),
    "phase": ("Phases", "Phases and transitions the network distinguishes."),
    "quality": ("Model quality", "How well the network fits the data, and what that allows."),
    "uncertainty": ("Uncertainty", "What the network cannot decide, and error bars on its predictions."),
    "influence": ("Influence", "Which training samples shape the predictions most."),
}
DETAILS_LIMIT = 20_000


# --------------------------------------------------------------------------- the run
@dataclass
class RunData:
    """Everything a report shows about one run.

    Example:
        >>> RunData(name="demo").findings
        []
    """

    name: str
    findings: list[Finding] = field(default_factory=list)
    scorecard: dict = field(default_factory=dict)
    training: dict = field(default_factory=dict)
    dataset: Any = None
    probes: list[dict] | None = None
    study_yaml: str = ""


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path} is not readable JSON ({exc.__class__.__name__}: {exc})") from None


def load_run(run_dir: str | Path) -> RunData:
    """Read a run directory (findings.json is required; every other file is optional).

    Example:
        >>> import tempfile, json
        >>> d = Path(tempfile.mkdtemp()); _ = (d / "findings.json").write_text("[]")
        >>> load_run(d).probes is None
        True
    """
    from physlens.data.dataset import Dataset

    run_dir = Path(run_dir)
    if not (run_dir / "findings.json").exists():
        raise ConfigError(f"{run_dir} has no findings.json (is it a finished physlens run?)")
    findings = findings_from_json(_read_json(run_dir / "findings.json"))
    opt = {name: _read_json(run_dir / name) if (run_dir / name).exists() else None
           for name in ("scorecard.json", "training.json", "probes.json")}
    ds = Dataset.from_npz(run_dir / "dataset.npz") if (run_dir / "dataset.npz").exists() else None
    study_yaml = (run_dir / "study.yaml").read_text() if (run_dir / "study.yaml").exists() else ""
    probes = opt["probes.json"]
    return RunData(name=run_dir.name, findings=findings, scorecard=opt["scorecard.json"] or {},
                   training=opt["training.json"] or {}, dataset=ds,
                   probes=[p for p in probes if isinstance(p, dict)] if isinstance(probes, list) else None,
                   study_yaml=study_yaml)


def run_data(run: Any) -> RunData:
    """A :class:`RunData` from a run directory, a ``RunResult`` (or anything with the same attributes) or itself.

    Example:
        >>> run_data(RunData(name="x")).name
        'x'
    """
    if isinstance(run, RunData):
        return run
    if isinstance(run, (str, Path)):
        return load_run(run)
    if hasattr(run, "findings") and hasattr(run, "run_dir"):
        run_dir = Path(run.run_dir)
        training: dict = {}
        tr = getattr(run, "train", None)
        if tr is not None and hasattr(tr, "summary"):
            training = {"summary": tr.summary(), "history": list(getattr(tr, "history", []) or [])}
        elif (run_dir / "training.json").exists():
            training = _read_json(run_dir / "training.json")
        probes = _read_json(run_dir / "probes.json") if (run_dir / "probes.json").exists() else None
        study_yaml = (run_dir / "study.yaml").read_text() if (run_dir / "study.yaml").exists() else ""
        return RunData(name=run_dir.name, findings=list(run.findings), scorecard=getattr(run, "scorecard", {}) or {},
                       training=training, dataset=getattr(run, "dataset", None),
                       probes=[p for p in probes if isinstance(p, dict)] if isinstance(probes, list) else None,
                       study_yaml=study_yaml)
    raise ConfigError(f"cannot show {type(run).__name__}: expected a run directory or a RunResult")


# --------------------------------------------------------------------------- formatting
def number(v: Any) -> str:
    """A number as a physicist writes it in a table (4 significant digits); other values as text.

    Example:
        >>> number(0.000123456), number(12), number(True), number(float("nan"))
        ('0.0001235', '12', 'yes', 'nan')
    """
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return f"{v:.4g}" if math.isfinite(v) else str(v)
    return "" if v is None else str(v)


def match_badge(match: bool | None) -> tuple[str, str]:
    """(css class, text) of a finding's match against the truth.

    Example:
        >>> match_badge(True), match_badge(None)
        (('yes', 'matches truth'), ('none', 'no truth'))
    """
    if match is None:
        return "none", "no truth"
    return ("yes", "matches truth") if match else ("no", "does not match")


def _plain(obj: Any) -> Any:
    """JSON-ready with arrays as nested lists and floats at 6 significant digits."""
    if isinstance(obj, dict):
        if "__ndarray__" in obj:
            return _plain(obj["__ndarray__"])
        if "__sympy__" in obj and len(obj) == 1:
            return obj["__sympy__"]
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_plain(v) for v in obj]
    if isinstance(obj, float):
        return float(f"{obj:.6g}")
    return obj


_SCALAR_LIST = re.compile(r"\[\s+((?:-?[\d.eE+-]+|true|false|null|\"[^\"\n]*\")(?:,\s+(?:-?[\d.eE+-]+|true|false|null"
                          r"|\"[^\"\n]*\"))*)\s+\]")


def details_json(f: Finding, limit: int = DETAILS_LIMIT) -> str:
    """The value, evidence and score detail of a finding as indented JSON (lists of numbers on one line), truncated.

    Example:
        >>> print(details_json(Finding("quality", "ok", {"m": [[1.0, 2.0], [3.0, 4.0]]})))
        {
         "value": {
          "m": [
           [1.0, 2.0],
           [3.0, 4.0]
          ]
         },
         "evidence": {}
        }
    """
    data: dict[str, Any] = {"value": to_jsonable(f.value), "evidence": to_jsonable(f.evidence)}
    if f.score_detail:
        data["score_detail"] = to_jsonable(f.score_detail)
    text = json.dumps(_plain(data), indent=1, ensure_ascii=False)
    text = _SCALAR_LIST.sub(lambda m: "[" + re.sub(r",\s+", ", ", m.group(1)) + "]", text)
    if len(text) > limit:
        text = text[:limit] + f"\n… (truncated: {len(text)} characters in all; findings.json has everything)"
    return text


def _latex_of(f: Finding) -> str | None:
    v = f.value
    if isinstance(v, dict) and isinstance(v.get("latex"), str):
        return v["latex"]
    if f.kind == "conserved":
        try:
            import sympy as sp

            return sp.latex(F.conserved_expression(v))
        except Exception:
            return None
    return None


def _facts(f: Finding) -> list[tuple[str, str]]:
    """Short key numbers shown under a finding's statement."""
    v = f.value if isinstance(f.value, dict) else {}
    keys: list[tuple[str, str]] = []
    if f.kind == "equation":
        keys = [("complexity", "complexity"), ("rmse", "RMSE"), ("r2", "R²")]
    elif f.kind == "symmetry" and v.get("generators"):
        keys = [("group", "group"), ("dimension", "dimension"), ("translations", "translations"),
                ("residual", "residual / model error"), ("abelian", "abelian"), ("closure_residual", "closure residual")]
    elif f.kind == "conserved":
        keys = [("relative_variation", "relative variation")]
    def shown(k: str) -> str:
        if v.get(k) is None:
            return "unnamed" if k == "group" else ""
        if k == "r2" and isinstance(v[k], float) and math.isfinite(v[k]):
            return f"{v[k]:.6f}"
        return number(v[k])

    out = [(label, shown(k)) for k, label in keys if k in v]
    if f.target:
        out.insert(0, ("target", str(f.target)))
    return [(a, b) for a, b in out if b != ""]


def finding_row(f: Finding, dataset: Any = None, figures: bool = True, limit: int = DETAILS_LIMIT) -> dict:
    """The dict a template renders for one finding (figures drawn here; a failing one becomes a note).

    Example:
        >>> row = finding_row(Finding("quality", "fits well", 0.99))
        >>> row["match_text"], row["confidence"]
        ('no truth', '1.00')
    """
    cls, text = match_badge(f.match)
    latex = _latex_of(f)
    if latex is not None and f.kind == "equation" and f.target:
        import sympy as sp

        import re

        try:
            m = re.fullmatch(r"d(.+)_dt", str(f.target))
            lhs = (rf"\frac{{d{sp.latex(sp.Symbol(m.group(1)))}}}{{dt}}" if m  # d<state>_dt: a time derivative
                   else sp.latex(sp.Symbol(str(f.target))))
            latex = f"{lhs} = {latex}"
        except Exception:
            pass
    row: dict[str, Any] = {
        "kind": f.kind,
        "statement": f.statement,
        "subject": f.subject or "",
        "target": f.target or "",
        "probe": f.probe or "",
        "confidence": f"{f.confidence:.2f}",
        "confidence_pct": round(100 * f.confidence),
        "match_class": cls,
        "match_text": text,
        "latex": latex,
        "latex_png": F.latex_png(latex) if latex else None,
        "facts": _facts(f),
        "details": details_json(f, limit),
        "figures": [],
        "notes": [],
        "maps": [],
    }
    if figures:
        figs, note = F.finding_figures(f, dataset)
        row["figures"] = figs
        if note:
            row["notes"].append(note)
    v = f.value if isinstance(f.value, dict) else {}
    if f.kind == "symmetry" and v.get("transform") is not None:
        row["name"] = str(v.get("name") or f.subject or "")
        try:
            T = F._matrix(v["transform"])
            row["maps"].append(F.signed_permutation_text(T, F._input_labels(T.shape[0], dataset)))
            if v.get("output_transform") is not None:
                P = F._matrix(v["output_transform"])
                row["maps"].append(F.signed_permutation_text(P, F._target_labels(P.shape[0], dataset)))
        except Exception as exc:
            row["notes"].append(f"transform not shown: {F._one_line(exc)}")
        row["maps"] = [m for m in row["maps"] if m]
    return row


# --------------------------------------------------------------------------- sections
def sections(findings: list[Finding], dataset: Any = None, figures: bool = True,
             limit: int = DETAILS_LIMIT) -> list[dict]:
    """One section per finding kind present, in the order of :data:`physlens.findings.KINDS`.

    Each section has a title, a one-line explanation, its figures, notes for
    figures that failed, and its findings split into ``cards`` (one block with
    figures each: continuous symmetries, equations, conserved quantities) and
    ``rows`` (a compact table: everything else).

    Example:
        >>> [s["title"] for s in sections([Finding("quality", "ok", 1.0), Finding("symmetry", "Z2", {})])]
        ['Symmetries', 'Model quality']
    """
    by_kind: dict[str, list[Finding]] = {}
    for f in findings:
        by_kind.setdefault(f.kind, []).append(f)
    order = [k for k in KINDS if k in by_kind] + sorted(k for k in by_kind if k not in KINDS)
    out = []
    for kind in order:
        group = by_kind[kind]
        title, blurb = KIND_INFO.get(kind, (kind, ""))
        figs, note = F.section_figures(kind, group, dataset) if figures else ([], None)
        cards, rows = [], []
        for f in group:
            row = finding_row(f, dataset, figures=figures, limit=limit)
            v = f.value if isinstance(f.value, dict) else {}
            card = (kind == "equation" or (kind == "symmetry" and bool(v.get("generators")))
                    or (kind == "conserved" and bool(row["figures"] or row["notes"])))  # no trajectories: a table row
            (cards if card else rows).append(row)
        scored = [f for f in group if f.match is not None]
        out.append({
            "kind": kind,
            "anchor": "kind-" + re.sub(r"[^a-z0-9-]", "-", kind.lower()),
            "title": title,
            "blurb": blurb,
            "figures": figs,
            "notes": [note] if note else [],
            "cards": cards,
            "rows": rows,
            "count": len(group),
            "scored": len(scored),
            "matched": sum(bool(f.match) for f in scored),
        })
    return out


def scorecard_rows(card: dict, findings: list[Finding] | None = None) -> dict:
    """The scorecard as rows per kind with a colour class, and a headline.

    Example:
        >>> s = scorecard_rows({"kinds": {"symmetry": {"scored": 2, "matched": 1}}, "scored": 2, "matched": 1})
        >>> s["headline"], s["rows"][0]["status"]
        ('1 of 2 scored findings match the ground truth', 'some')
    """
    card = card or {}
    counts: dict[str, int] = {}
    for f in findings or []:
        counts[f.kind] = counts.get(f.kind, 0) + 1
    kinds = dict(card.get("kinds") or {})
    names = [k for k in KINDS if k in kinds or k in counts] + sorted(k for k in {*kinds, *counts} if k not in KINDS)
    rows = []
    for k in names:
        entry = kinds.get(k) or {}
        scored, matched = int(entry.get("scored", 0) or 0), int(entry.get("matched", 0) or 0)
        status = "unscored" if scored == 0 else "all" if matched == scored else "none" if matched == 0 else "some"
        rows.append({"kind": k, "title": KIND_INFO.get(k, (k, ""))[0], "found": counts.get(k, ""),
                     "scored": scored, "matched": matched, "status": status,
                     "pct": round(100 * matched / scored) if scored else 0,
                     "anchor": "kind-" + re.sub(r"[^a-z0-9-]", "-", k.lower())})
    scored, matched = int(card.get("scored", 0) or 0), int(card.get("matched", 0) or 0)
    if scored:
        headline = f"{matched} of {scored} scored findings match the ground truth"
    elif kinds:
        headline = "the ground truth says nothing about these findings"
    else:
        headline = "no ground truth for this data"
    status = "unscored" if scored == 0 else "all" if matched == scored else "none" if matched == 0 else "some"
    return {"rows": rows, "headline": headline, "scored": scored, "matched": matched, "status": status,
            "truth": bool(kinds) or scored > 0}


def probe_rows(probes: list[dict] | None) -> list[dict] | None:
    """The rows of the "Probes" table (probes.json), or None when the run did not write one.

    Example:
        >>> probe_rows([{"probe": "symmetry", "status": "skipped", "reason": "one input only", "seconds": 0.0}])[0]["status"]
        'skipped'
    """
    if probes is None:
        return None
    rows = []
    for p in probes:
        if not isinstance(p, dict):
            continue
        status = str(p.get("status", ""))
        secs = p.get("seconds")
        rows.append({
            "probe": str(p.get("probe", "?")),
            "status": status,
            "status_class": status if status in ("ran", "skipped", "failed") else "other",
            "reason": "" if p.get("reason") is None else str(p.get("reason")),
            "seconds": f"{secs:.1f} s" if isinstance(secs, (int, float)) and math.isfinite(secs) else "",
            "findings": "" if p.get("findings") is None else str(p.get("findings")),
        })
    return rows


def model_info(run: RunData) -> dict:
    """Model, data and training facts for the "Model" section, with the training curve.

    Example:
        >>> model_info(RunData(name="x"))["curve"] is None
        True
    """
    import yaml

    try:
        study = yaml.safe_load(run.study_yaml) if run.study_yaml else {}
    except yaml.YAMLError:
        study = {}
    study = study if isinstance(study, dict) else {}
    model = study.get("model") if isinstance(study.get("model"), dict) else {}
    summary = run.training.get("summary") if isinstance(run.training, dict) else None
    history = run.training.get("history") if isinstance(run.training, dict) else None
    curve, note = None, None
    if history:
        figs, note = F.draw(lambda h: [("", F.training_curve(h))], history)
        curve = figs[0][1] if figs else None
    ds = run.dataset
    units = dict(getattr(ds, "units", {}) or {})

    def named(names: list[str]) -> list[str]:
        return [f"{n} [{units[n]}]" if units.get(n) else n for n in names]

    meta = getattr(ds, "meta", {}) or {}
    return {
        "source": str(meta.get("source") or meta.get("system") or getattr(ds, "name", "")) if ds is not None else "",
        "inputs": ", ".join(named(ds.input_names)) if ds is not None else "",
        "targets": ", ".join(named(ds.target_names)) if ds is not None else "",
        "samples": str(ds.n) if ds is not None else "",
        "trajectories": (f"{ds.trajectories.shape[0]} of {ds.trajectories.shape[1]} steps"
                         if ds is not None and getattr(ds, "trajectories", None) is not None else ""),
        "model": " ".join(str(x) for x in (model.get("name", ""), model.get("params", "") or "") if x),
        "summary": [(str(k), number(v)) for k, v in summary.items()] if isinstance(summary, dict) else [],
        "curve": curve,
        "note": note,
    }


# --------------------------------------------------------------------------- rendering
_ENV: Environment | None = None


def environment() -> Environment:
    """The Jinja2 environment of the report templates (autoescaping on for .html).

    Example:
        >>> environment().autoescape("report.html")
        True
    """
    global _ENV
    if _ENV is None:
        _ENV = Environment(loader=PackageLoader("physlens", "report/templates"),
                           autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)
    return _ENV


def context(run: RunData, limit: int = DETAILS_LIMIT) -> dict:
    """Everything the templates need to render one run.

    Example:
        >>> context(RunData(name="x"))["score"]["headline"]
        'no ground truth for this data'
    """
    import physlens

    secs = sections(run.findings, run.dataset, limit=limit)
    return {
        "name": run.name,
        "score": scorecard_rows(run.scorecard, run.findings),
        "probes": probe_rows(run.probes),
        "sections": secs,
        "model": model_info(run),
        "study_yaml": run.study_yaml,
        "n_findings": len(run.findings),
        "version": physlens.__version__,
    }
