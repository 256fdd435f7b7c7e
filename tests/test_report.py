"""The HTML report and the Jupyter HTML: one section per finding kind with its figure, escaping, robustness."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from physlens.data import Dataset
from physlens.findings import KINDS, Finding, findings_to_json
from physlens.io import write_json, write_text
from physlens.report import figures as F
from physlens.report import render_report, write_report
from physlens.report.notebook import finding_html, findings_html, run_html, scorecard_html

EVIL = "<script>alert(1)</script>"
EVIL_ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"

SO2 = [[0.0, -1.0, 0.0], [1.0, 0.0, 0.0]]


def oscillator_dataset(names=("q", "p"), targets=("dq_dt", "dp_dt")) -> Dataset:
    """Exact harmonic-oscillator trajectories (omega = 1): energy (q^2 + p^2)/2 is conserved."""
    t = np.linspace(0, 2 * np.pi, 60)
    amp = np.linspace(0.5, 2.0, 5)[:, None]
    phase = np.linspace(0, 1, 5)[:, None]
    q, p = amp * np.cos(t + phase), -amp * np.sin(t + phase)
    traj = np.stack([q, p], axis=-1)  # (5, 60, 2)
    X = traj.reshape(-1, 2)
    y = np.stack([X[:, 1], -X[:, 0]], axis=1)
    return Dataset(X, y, list(names), list(targets), trajectories=traj, times=t, state_names=list(names),
                   units={names[0]: "m"}, meta={"system": "oscillator (exact)"}, name="osc")


def one_finding_per_kind(names=("q", "p"), targets=("dq_dt", "dp_dt")) -> list[Finding]:
    q, p = names
    dq, dp = targets
    fs = [
        Finding("symmetry", f"The network is equivariant under so(2) acting on ({q}, {p}).",
                {"generators": [np.array(SO2)], "group": "so(2)", "dimension": 1, "residual": 0.3,
                 "output_generators": [np.array(SO2)]}, confidence=0.95, probe="symmetry", target=dq, subject="so(2)"),
        Finding("symmetry", f"Z2: invariant under 'flip {q}'.",
                {"transform": np.diag([-1.0, 1.0]), "name": f"flip {q}", "output_transform": np.diag([1.0, -1.0])},
                confidence=0.9, probe="symmetry", target=dq, subject="Z2"),
        Finding("symmetry", "a rotation by 0.6 rad", {"transform": np.array([[0.8, -0.6], [0.6, 0.8]]),
                                                       "name": "rotation 0.6"}, confidence=0.7, subject="rotation"),
        Finding("conserved", f"{p}**2/2 + {q}**2/2 is conserved", {"expression": f"{p}**2/2 + {q}**2/2",
                                                                     "relative_variation": 1e-9},
                confidence=0.97, probe="conservation", subject="energy"),
        Finding("equation", f"{dq} = {p}", {"target": dq, "expression": p, "latex": p, "complexity": 1, "rmse": 1e-3,
                                           "r2": 0.99999, "pareto": [
                                               {"expression": "0.1", "latex": "0.1", "complexity": 1, "rmse": 0.9},
                                               {"expression": p, "latex": p, "complexity": 1, "rmse": 1e-3},
                                               {"expression": f"{p} + 0.001*{q}", "latex": "p", "complexity": 5,
                                                "rmse": 9e-4}]},
                confidence=0.99, probe="equations", target=dq, subject=dq),
        Finding("relevant-variable", f"{p} affects {dq}", {"variable": p, "relevant": True, "permutation": 2.0,
                                                         "permutation_std": 0.05},
                evidence={"threshold": 1e-3}, confidence=1.0, probe="attribution", target=dq, subject=p),
        Finding("relevant-variable", f"{q} does not affect {dq}", {"variable": q, "relevant": False, "permutation": 0.0,
                                                                 "permutation_std": 0.0},
                evidence={"threshold": 1e-3}, confidence=1.0, probe="attribution", target=dq, subject=q),
    ]
    for kind in KINDS:
        if not any(f.kind == kind for f in fs):
            fs.append(Finding(kind, f"a {kind} finding about {q}", {"name": kind, "score": 0.5}, confidence=0.6,
                              subject=kind))
    fs[0].match, fs[1].match, fs[3].match, fs[4].match, fs[5].match = True, False, True, True, True
    return fs


def scorecard_for(findings: list[Finding]) -> dict:
    kinds: dict[str, dict] = {}
    for f in findings:
        if f.match is not None:
            k = kinds.setdefault(f.kind, {"scored": 0, "matched": 0})
            k["scored"] += 1
            k["matched"] += int(f.match)
    return {"kinds": kinds, "scored": sum(k["scored"] for k in kinds.values()),
            "matched": sum(k["matched"] for k in kinds.values()), "findings": []}


PROBES = [
    {"probe": "attribution", "status": "ran", "reason": None, "seconds": 1.234, "findings": 2},
    {"probe": "symmetry", "status": "ran", "reason": None, "seconds": 4.5, "findings": 3},
    {"probe": "concepts", "status": "skipped", "reason": "needs a bottleneck model", "seconds": 0.0, "findings": 0},
    {"probe": "phases", "status": "failed", "reason": "ValueError: no temperature column", "seconds": 0.2,
     "findings": 0},
]


def write_run(run_dir: Path, dataset: Dataset | None = None, findings: list[Finding] | None = None,
              probes: list[dict] | None = PROBES) -> Path:
    """A run directory as run_study writes it, built by hand (no training)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    ds = dataset or oscillator_dataset()
    fs = findings if findings is not None else one_finding_per_kind(ds.input_names, ds.target_names)
    ds.to_npz(run_dir / "dataset.npz")
    write_json(run_dir / "findings.json", findings_to_json(fs))
    write_json(run_dir / "scorecard.json", scorecard_for(fs))
    write_json(run_dir / "training.json", {
        "summary": {"epochs_run": 30, "best_val_loss": 1.2e-3, "relative_error": 0.035, "stopped_early": False},
        "history": [{"epoch": i + 1, "train_loss": 1.0 / (i + 1) ** 1.5, "val_loss": 1.1 / (i + 1) ** 1.4}
                    for i in range(30)]})
    write_text(run_dir / "study.yaml", f"name: osc\nsource:\n  system: oscillator\nmodel:\n  name: mlp\n")
    if probes is not None:
        write_json(run_dir / "probes.json", probes)
    return run_dir


def data_uri_pngs(html: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)]


def png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


# ----------------------------------------------------------------------------- the page
def test_every_finding_kind_gets_a_section_and_the_physics_figures_are_drawn(tmp_path):
    html = (write_report(write_run(tmp_path / "run"))).read_text()
    for kind in KINDS:
        assert f'id="kind-{kind}"' in html, kind
    assert '<div class="note">' not in html  # every figure was drawn
    # generator heat maps (so(2), titled), the Pareto front, relevance bars, conserved along trajectories,
    # the non-permutation discrete transform, the training curve, LaTeX formulas
    for caption in ("Generators [L | b] of so(2)", "Pareto front of the equation search for dq_dt",
                    "Permutation importance for dq_dt", "along the data&#39;s trajectories",
                    "Transform &#39;rotation 0.6&#39;", "Training and validation loss"):
        assert caption in html, caption
    pngs = data_uri_pngs(html)
    assert len(pngs) >= 8
    assert all(min(png_size(p)) > 10 for p in pngs)
    # the flip is a signed permutation: written as a map, inputs and outputs
    assert "(q, p) → (−q, p)" in html and "(dq_dt, dp_dt) → (dq_dt, −dp_dt)" in html
    # one row per finding with statement, confidence and match badge, details collapsible
    assert html.count("<details><summary>value and evidence</summary>") == len(one_finding_per_kind())
    assert 'class="badge yes">matches truth' in html and 'class="badge no">does not match' in html
    assert 'class="badge none">no truth' in html
    assert "no external" not in html and "http://" not in html and "https://" not in html
    assert "<script" not in html  # the page runs no code at all


def test_scorecard_shows_matched_over_scored_per_kind_with_colours(tmp_path):
    html = render_report(write_run(tmp_path / "run"))
    assert "4 of 5 scored findings match the ground truth" in html
    assert re.search(r'<tr class="some"><td><a href="#kind-symmetry">Symmetries</a>.*?1 / 2', html, re.S)
    assert re.search(r'<tr class="all"><td><a href="#kind-equation">Equations</a>.*?1 / 1', html, re.S)
    assert re.search(r'<tr class="unscored"><td><a href="#kind-phase">Phases</a>', html)
    none_dir = write_run(tmp_path / "none", findings=[Finding("quality", "fits", 1.0)])
    write_json(none_dir / "scorecard.json", {"kinds": {}, "matched": 0, "scored": 0, "findings": []})
    assert "no ground truth for this data" in render_report(none_dir)


def test_probes_table_says_which_ran_how_long_and_why_others_were_skipped(tmp_path):
    html = render_report(write_run(tmp_path / "run"))
    assert "<h3>Probes</h3>" in html
    assert re.search(r"<code>attribution</code></td><td><span class=\"badge ran\">ran</span></td>\s*"
                     r"<td class=\"num\">1.2 s</td><td class=\"num\">2</td>", html)
    assert re.search(r'badge skipped">skipped</span>.*?needs a bottleneck model', html, re.S)
    assert re.search(r'badge failed">failed</span>.*?no temperature column', html, re.S)
    # a run written before probes.json existed still renders, without the table
    old = write_run(tmp_path / "old", probes=None)
    html = render_report(old)
    assert "<h3>Probes</h3>" not in html and 'id="kind-symmetry"' in html


def test_user_supplied_strings_are_escaped_everywhere(tmp_path):
    ds = oscillator_dataset(names=(EVIL, "p"), targets=("dq_dt", EVIL + "2"))
    fs = one_finding_per_kind(ds.input_names, ds.target_names)
    fs[0].value["group"] = EVIL
    fs[1].value["name"] = EVIL
    probes = [{"probe": EVIL, "status": EVIL, "reason": EVIL, "seconds": 1.0, "findings": 1}]
    run_dir = write_run(tmp_path / "run", dataset=ds, findings=fs, probes=probes)
    write_text(run_dir / "study.yaml", f"name: '{EVIL}'\n")
    html = write_report(run_dir).read_text()
    assert EVIL not in html and "<script" not in html
    assert EVIL_ESCAPED in html
    assert "alert(1)" in html  # the column is shown, escaped, not dropped
    for fragment in (run_html(run_dir), findings_html(fs, ds), finding_html(fs[0], ds), fs[0]._repr_html_()):
        assert EVIL not in fragment and EVIL_ESCAPED in fragment


def test_a_figure_that_fails_leaves_a_one_line_note_and_the_rest_of_the_page(tmp_path, monkeypatch):
    def broken(findings, dataset=None):
        raise RuntimeError("the plotting library\nexploded")

    monkeypatch.setitem(F._SECTION_MAKERS, "relevant-variable", [broken])
    fs = one_finding_per_kind()
    fs[0].value["generators"] = [np.zeros(4)]  # not a matrix: the heat map cannot be drawn
    fs[3].value["expression"] = "p**2 + undefined_name"  # not a state variable: no curve
    fs[4].value["latex"] = r"\frac{p}{"  # mathtext cannot parse it
    html = render_report(write_run(tmp_path / "run", findings=fs))
    assert "figure broken failed: RuntimeError: the plotting library exploded" in html
    assert "figure symmetry_figures failed: ValueError: expected a matrix" in html
    assert "figure conserved_figure failed" in html and "undefined_name" in html
    assert r"<code>\frac{dq}{dt} = \frac{p}{</code>" in html  # the formula falls back to text
    for kind in KINDS:
        assert f'id="kind-{kind}"' in html
    assert "Training and validation loss" in html


def test_conserved_quantity_is_flat_along_the_trajectories_and_a_wrong_one_is_not():
    import sympy as sp

    ds = oscillator_dataset()
    q, p = sp.symbols("q p", real=True)
    _, energy = F.conserved_along_trajectories(p**2 / 2 + q**2 / 2, ds)
    _, wrong = F.conserved_along_trajectories(p * q, ds)
    assert np.abs(energy).max() < 1e-12
    assert np.abs(wrong).max() > 0.5
    # without trajectories the conserved quantity is listed, not drawn
    flat = Dataset(ds.X, ds.y, ds.input_names, ds.target_names)
    finding = Finding("conserved", "E is conserved", {"expression": "p**2 + q**2"})
    assert F.conserved_figure(finding, flat) == []
    from physlens.report.page import sections

    (section,) = sections([finding], flat)
    assert section["cards"] == [] and [r["statement"] for r in section["rows"]] == ["E is conserved"]
    assert section["rows"][0]["latex_png"]  # the formula is still drawn, in the table


def test_signed_permutations_are_written_as_maps_and_others_are_not():
    assert F.signed_permutation_text(np.array([[0, -1, 0], [1, 0, 0], [0, 0, 1]]), ["x", "y", "z"]) == \
        "(x, y, z) → (−y, x, z)"
    assert F.signed_permutation_text(np.eye(2) * 2, ["x", "y"]) is None
    assert F.signed_permutation_text(np.eye(2), ["x"]) is None


def test_pareto_front_marks_the_chosen_law_and_tolerates_exact_fits():
    f = one_finding_per_kind()[4]
    f.value["rmse"] = 0.0
    f.value["pareto"][1]["rmse"] = 0.0
    figs = F.pareto_figure(f)
    assert len(figs) == 1 and min(png_size(base64.b64decode(figs[0][1]))) > 100
    single = Finding("equation", "y = x", {"expression": "x", "complexity": 1, "rmse": 0.1,
                                            "pareto": [{"expression": "x", "complexity": 1, "rmse": 0.1}]})
    assert F.pareto_figure(single) == []  # one formula: the statement says it all


def test_relevance_bars_have_error_bars_and_one_chart_per_target_in_data_order():
    fs = [Finding("relevant-variable", f"{v} vs {t}", {"variable": v, "relevant": v == "a", "permutation": 0.5,
                                                       "permutation_std": 0.1}, target=t, subject=v)
          for t in ("z", "b_target") for v in ("a", "b")]
    figs = F.relevance_bars(fs)
    assert [c.split(" (")[0] for c, _ in figs] == ["Permutation importance for z", "Permutation importance for b_target"]


# ----------------------------------------------------------------------------- Jupyter
def test_notebook_html_for_findings_scorecard_and_a_run(tmp_path):
    ds = oscillator_dataset()
    fs = one_finding_per_kind()
    card = finding_html(fs[0], ds)
    assert card.startswith("<style>") and 'class="physlens"' in card and "so(2)" in card
    assert len(data_uri_pngs(card)) == 1  # the generator heat map
    many = findings_html(fs, ds)
    assert many.count("<section") == len(KINDS)
    assert "Generators [L | b] of so(2)" in many and "Permutation importance" in many
    score = scorecard_html(scorecard_for(fs), fs)
    assert "4 of 5 scored findings match the ground truth" in score and "<table" in score
    run_dir = write_run(tmp_path / "run")
    html = run_html(run_dir)
    assert "<h3>Probes</h3>" in html and 'id="kind-conserved"' in html and "Training and validation loss" in html
    assert "<html" not in html and "study.yaml" not in html
    # a RunResult in memory: its findings, scorecard, dataset and training are used as they are
    train = SimpleNamespace(summary=lambda: {"epochs_run": 3}, history=[{"epoch": 1, "train_loss": 1.0,
                                                                          "val_loss": 1.1}])
    result = SimpleNamespace(run_dir=run_dir, dataset=ds, findings=fs[:1], scorecard={}, train=train)
    html = run_html(result)
    assert 'id="kind-symmetry"' in html and 'id="kind-equation"' not in html and "epochs_run" in html
    # details are kept short in a notebook
    big = Finding("quality", "big", {"m": np.zeros((200, 200))})
    assert len(finding_html(big)) < 20_000 and "truncated" in finding_html(big)


def test_finding_repr_html_is_self_contained():
    f = Finding("equation", "y = x**2", {"expression": "x**2"}, confidence=0.8)
    f.match = True
    html = f._repr_html_()
    assert "matches truth" in html and "confidence 0.80" in html and "y = x**2" in html
    assert "<style" not in html and "<script" not in html and "http" not in html


def test_report_of_a_run_directory_without_findings_is_refused(tmp_path):
    from physlens.errors import ConfigError

    with pytest.raises(ConfigError, match="has no findings.json"):
        render_report(tmp_path)
    (tmp_path / "findings.json").write_text("{not json")
    with pytest.raises(ConfigError, match="not readable JSON"):
        render_report(tmp_path)
