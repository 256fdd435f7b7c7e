"""Reports: a self-contained HTML page (figures embedded, everything escaped), JSON, terminal tables.

``write_report(run_dir)`` reads what a run wrote (study.yaml, dataset.npz,
training.json, findings.json, scorecard.json) and writes ``report.html``
atomically. Jinja2 autoescaping escapes every user-supplied name.
"""

from __future__ import annotations

import json
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

from physlens.errors import ConfigError
from physlens.findings import Finding, findings_from_json
from physlens.io import write_text
from physlens.report.figures import figures_for_findings, latex_png, training_curve


def _match(f: Finding) -> tuple[str, str]:
    if f.match is None:
        return "none", "no truth"
    return ("true", "yes") if f.match else ("false", "no")


def render_report(run_dir: str | Path) -> str:
    """The HTML text of a run's report.

    Example:
        >>> import tempfile
        >>> from physlens.study import Study, run_study
        >>> r = run_study(Study.parse({"source": {"system": "toy_distractor", "n": 200},
        ...                            "train": {"epochs": 2, "progress": False}}), out=tempfile.mkdtemp())
        >>> "<html" in render_report(r.run_dir)
        True
    """
    import physlens
    from physlens.data.dataset import Dataset

    run_dir = Path(run_dir)
    if not (run_dir / "findings.json").exists():
        raise ConfigError(f"{run_dir} has no findings.json (is it a finished physlens run?)")
    findings = findings_from_json(json.loads((run_dir / "findings.json").read_text()))
    card = json.loads((run_dir / "scorecard.json").read_text()) if (run_dir / "scorecard.json").exists() else {}
    training = json.loads((run_dir / "training.json").read_text()) if (run_dir / "training.json").exists() else {}
    study_yaml = (run_dir / "study.yaml").read_text() if (run_dir / "study.yaml").exists() else ""
    ds = Dataset.from_npz(run_dir / "dataset.npz") if (run_dir / "dataset.npz").exists() else None
    # re-attach scoring results to findings (findings.json holds them already after run_study)
    rows = []
    for f in findings:
        latex = f.value.get("latex") if isinstance(f.value, dict) else None
        cls, text = _match(f)
        rows.append(
            {
                "kind": f.kind,
                "statement": f.statement,
                "confidence": f.confidence,
                "latex": latex,
                "latex_png": latex_png(latex) if latex else None,
                "details": json.dumps({"value": f.to_dict()["value"], "evidence": f.to_dict()["evidence"]}, indent=1)[:20000],
                "match_class": cls,
                "match_text": text,
            }
        )
    figures = []
    curve = training_curve(training.get("history", []))
    if curve:
        figures.append(("Training and validation loss", curve))
    figures.extend(figures_for_findings(findings))
    summary = training.get("summary", {})
    if card.get("scored"):
        score_line = f"{card['matched']} of {card['scored']} scored findings match the ground truth"
    else:
        score_line = "no ground truth for this data"
    import yaml

    study = yaml.safe_load(study_yaml) if study_yaml else {}
    model = (study or {}).get("model", {})
    env = Environment(loader=PackageLoader("physlens", "report/templates"), autoescape=select_autoescape(["html"]))
    return env.get_template("report.html").render(
        name=run_dir.name,
        source=(ds.meta.get("source") or ds.meta.get("system") or ds.name) if ds else "",
        inputs=", ".join(ds.input_names) if ds else "",
        targets=", ".join(ds.target_names) if ds else "",
        n=ds.n if ds else "",
        model=f"{model.get('name', '')} {model.get('params', '')}",
        training=", ".join(f"{k} = {v:.4g}" if isinstance(v, float) else f"{k} = {v}" for k, v in summary.items()),
        score_line=score_line,
        findings=rows,
        figures=figures,
        study_yaml=study_yaml,
        version=physlens.__version__,
    )


def write_report(run_dir: str | Path) -> Path:
    """Write ``report.html`` into ``run_dir`` (atomically) and return its path.

    Example:
        >>> import tempfile
        >>> from physlens.study import Study, run_study
        >>> r = run_study(Study.parse({"source": {"system": "toy_distractor", "n": 200},
        ...                            "train": {"epochs": 2, "progress": False}}), out=tempfile.mkdtemp())
        >>> write_report(r.run_dir).name
        'report.html'
    """
    path = Path(run_dir) / "report.html"
    write_text(path, render_report(run_dir))
    return path


__all__ = ["render_report", "write_report"]
