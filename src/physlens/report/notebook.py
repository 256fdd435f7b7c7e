"""Rich HTML for Jupyter: findings, a scorecard and a whole run, as HTML strings.

The pieces are those of the report page (:mod:`physlens.report.page`), with
the page's CSS scoped under ``.physlens`` so it does not restyle the notebook.
Every function returns a string; a notebook shows it with
``IPython.display.HTML(...)``, and objects that define ``_repr_html_`` (a
``RunResult``) are shown this way automatically.
"""

from __future__ import annotations

from typing import Any

from physlens.findings import Finding
from physlens.report.page import (
    context,
    environment,
    finding_row,
    run_data,
    scorecard_rows,
    sections,
)

NOTEBOOK_DETAILS_LIMIT = 4000  # characters of JSON per finding: a notebook cell should stay light


def _render(body: str, **ctx: Any) -> str:
    env = environment()
    style = env.get_template("_style_css.html").render()
    return env.from_string("{% import '_macros.html' as M %}" + body).render(style=style, **ctx)


_WRAP = '<style>{{ style }}</style><div class="physlens">'


def finding_html(f: Finding, dataset: Any = None) -> str:
    """One finding as an HTML card: statement, confidence, match badge, formula, figures, details.

    Example:
        >>> html = finding_html(Finding("relevant-variable", "<b>x</b> matters", {"variable": "x", "relevant": True}))
        >>> "&lt;b&gt;x&lt;/b&gt; matters" in html and "<b>x</b>" not in html
        True
    """
    row = finding_row(f, dataset, limit=NOTEBOOK_DETAILS_LIMIT)
    return _render(_WRAP + "{{ M.card(f) }}</div>", f=row)


def findings_html(findings: list[Finding], dataset: Any = None) -> str:
    """A list of findings grouped by kind, each kind with its figures.

    Example:
        >>> html = findings_html([Finding("quality", "fits", 1.0), Finding("quality", "well", 1.0)])
        >>> html.count("<section"), "Model quality" in html
        (1, True)
    """
    secs = sections(list(findings), dataset, limit=NOTEBOOK_DETAILS_LIMIT)
    body = _WRAP + "{% for s in secs %}{{ M.section(s, 'h3') }}{% else %}<p>No findings.</p>{% endfor %}</div>"
    return _render(body, secs=secs)


def scorecard_html(card: dict, findings: list[Finding] | None = None) -> str:
    """The scorecard (matched / scored per kind) as an HTML table.

    Example:
        >>> "2 of 3 scored findings" in scorecard_html({"kinds": {"equation": {"scored": 3, "matched": 2}},
        ...                                              "scored": 3, "matched": 2})
        True
    """
    return _render(_WRAP + "{{ M.scorecard(score) }}</div>", score=scorecard_rows(card, findings))


def run_html(run: Any) -> str:
    """A whole run (a run directory or a ``RunResult``): scorecard, probes, findings by kind with figures, model.

    Example:
        >>> import json, tempfile
        >>> from pathlib import Path
        >>> from physlens.findings import Finding, findings_to_json
        >>> run_dir = Path(tempfile.mkdtemp())
        >>> f = Finding("relevant-variable", "x matters", {"variable": "x", "relevant": True, "permutation": 0.5})
        >>> _ = (run_dir / "findings.json").write_text(json.dumps(findings_to_json([f])))
        >>> "Relevant variables" in run_html(run_dir)
        True
    """
    ctx = context(run_data(run), limit=NOTEBOOK_DETAILS_LIMIT)
    ctx["study_yaml"] = ""  # the notebook user has the study at hand
    env = environment()
    style = env.get_template("_style_css.html").render()
    return f"<style>{style}</style>" + env.get_template("_body.html").render(**ctx)


__all__ = ["finding_html", "findings_html", "run_html", "scorecard_html"]
