"""Reports: a self-contained HTML page (figures embedded, everything escaped), and HTML for Jupyter.

``write_report(run_dir)`` reads what a run wrote (study.yaml, dataset.npz,
training.json, findings.json, scorecard.json and, when present, probes.json)
and writes ``report.html`` atomically: a scorecard against the ground truth,
the probes that ran or were skipped, then one section per finding kind with
the figure a physicist expects (generator heat maps, Pareto fronts, relevance
bars, conserved quantities along trajectories), the model and the study.
Jinja2 autoescaping escapes every user-supplied name; images are data: URIs
and LaTeX is drawn by matplotlib's mathtext, so the page needs no network.
:mod:`physlens.report.notebook` renders the same pieces for Jupyter.
"""

from __future__ import annotations

from pathlib import Path

from physlens.io import write_text
from physlens.report.page import context, environment, load_run


def render_report(run_dir: str | Path) -> str:
    """The HTML text of a run's report.

    Example:
        >>> import json, tempfile
        >>> from physlens.findings import Finding, findings_to_json
        >>> run_dir = Path(tempfile.mkdtemp())
        >>> _ = (run_dir / "findings.json").write_text(json.dumps(findings_to_json([Finding("quality", "fits", 0.99)])))
        >>> "<html" in render_report(run_dir)
        True
    """
    return environment().get_template("report.html").render(**context(load_run(run_dir)))


def write_report(run_dir: str | Path) -> Path:
    """Write ``report.html`` into ``run_dir`` (atomically) and return its path.

    Example:
        >>> import tempfile
        >>> run_dir = Path(tempfile.mkdtemp())
        >>> _ = (run_dir / "findings.json").write_text("[]")
        >>> write_report(run_dir).name
        'report.html'
    """
    path = Path(run_dir) / "report.html"
    write_text(path, render_report(run_dir))
    return path


__all__ = ["render_report", "write_report"]
