"""Fields through `discover`: the Study loads field files and field systems, trains a grid emulator, runs the
fields probe only, scores the grid group and the PDE, resumes, and refuses bad field files in one line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from physlens.data.fields import FieldDataset, d4_elements
from physlens.findings import score
from physlens.study import TABULAR_ON_FIELDS, build_study, resume_study, run_study
from physlens.systems.fields import VectorDiffusion
from tests.conftest import run_cli

EPOCHS = 150  # deterministic training budget (no wall clock)


def _write_npz(path, ds):
    np.savez(path, u=ds.X[:, 0], v=ds.X[:, 1], du_dt=ds.y[:, 0], dv_dt=ds.y[:, 1], spacing=ds.spacing)
    return path


def _grid_finding(findings):
    (f,) = [f for f in findings if f.kind == "symmetry"]
    return f


def test_discover_on_a_field_npz_finds_d4_with_the_vector_action_scored_as_a_match_and_resumes(tmp_path):
    system = VectorDiffusion(grid=8, k_scale=1.5)
    path = _write_npz(tmp_path / "flow.npz", system.sample(16, seed=1))
    study = build_study(str(path), channels="u,v:vector", epochs=EPOCHS, progress=False)
    result = run_study(study, out=tmp_path, progress=False)
    assert isinstance(result.dataset, FieldDataset) and result.dataset.kinds[0]["kind"] == "vector"
    ran = [p["probe"] for p in result.probes if p["status"] == "ran"]
    assert ran == ["fields"]  # every tabular probe is left out, with the reason
    assert all(p["reason"] == TABULAR_ON_FIELDS for p in result.probes if p["status"] == "skipped")
    group = _grid_finding(result.findings)
    assert group.value["group"] == "D4 x translations", group.statement
    assert group.match is None  # a user's file carries no truth
    card = score(result.findings, system.truth)  # the law the file was drawn from
    assert card["kinds"]["symmetry"] == {"scored": 1, "matched": 1}, group.score_detail
    assert group.score_detail["by"] == "grid group"
    # the run directory keeps the fields (tabular view + layout) and resumes as fields
    again = resume_study(result.run_dir, progress=False)
    assert isinstance(again.dataset, FieldDataset) and np.allclose(again.dataset.X, result.dataset.X)
    assert _grid_finding(again.findings).value["group"] == "D4 x translations"


@pytest.mark.parametrize("force", [0.0, 2.0])
def test_discover_field_system_scores_the_group_and_a_force_loses_exactly_the_broken_elements(tmp_path, force):
    study = build_study("vector_diffusion", params=["grid=8", f"force={force}"], n=16, epochs=EPOCHS, progress=False)
    result = run_study(study, out=tmp_path, progress=False)
    group = _grid_finding(result.findings)
    truth = result.dataset.truth.extra["grid_symmetries"]
    broken = {h["element"] for h in truth if h["action"] == "vector" and not h["holds"]}
    lost = set(d4_elements()) - set(group.value["grid_group"]["vector_action"])
    assert lost == broken, group.statement
    assert broken == (set() if force == 0 else {"rot90", "rot180", "rot270", "flip_x", "flip_diag", "flip_antidiag"})
    assert group.match is True and result.scorecard["kinds"]["symmetry"] == {"scored": 1, "matched": 1}
    for eq in (f for f in result.findings if f.kind == "equation"):  # PDE read off the emulator, 1 % tolerance
        errs = eq.score_detail["relative_errors"]
        assert eq.match == (max(errs.values()) <= 0.01 and not eq.score_detail["extra_terms"]), eq.score_detail
        assert max(errs.values()) < 0.05, (eq.statement, errs)
    with open(result.run_dir / "report.html") as fh:
        html = fh.read()
    assert "applied with and without turning the vector components" in html
    assert "the found PDE evaluated on the input field" in html


def test_discover_cli_takes_channels_and_the_fields_shortcut_is_the_same_study(tmp_path):
    path = _write_npz(tmp_path / "flow.npz", VectorDiffusion(grid=8).sample(6))
    proc = run_cli("discover", str(path), "--channels", "u,v:vector", "--epochs", "3", "--json", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert [p["probe"] for p in out["probes"] if p["status"] == "ran"] == ["fields"]
    study = build_study(str(path), channels="u,v:vector", model="d4cnn", probes="fields", epochs=3)
    assert study.source.channels == "u,v:vector" and study.train.batch_size == 4 and study.model.name == "d4cnn"


@pytest.mark.parametrize("arrays,channels,needle", [
    ({"u": np.zeros((3, 4, 4))}, "u,v:vector", "no array 'v'"),
    ({"inputs": np.zeros((3, 3, 4, 4)), "targets": np.zeros((3, 3, 4, 4))}, "u,v:vector", "2 channels"),
    ({"u": np.full((3, 4, 4), np.nan), "du_dt": np.zeros((3, 4, 4))}, "u", "NaN"),
    ({"u": np.zeros((3, 4, 4)), "du_dt": np.zeros((3, 4, 4))}, "u,v,w:vector", "pair"),
])
def test_bad_field_files_are_one_line_errors_in_discover(tmp_path, arrays, channels, needle):
    from physlens.errors import PhyslensError

    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(PhyslensError, match=needle) as err:
        run_study(build_study(str(path), channels=channels, epochs=2, progress=False), out=tmp_path, progress=False)
    assert "\n" not in str(err.value)
    if needle == "pair":  # and on the command line: exit 2, one line, no traceback
        proc = run_cli("discover", str(path), "--channels", channels, "--epochs", "2", "--out", str(tmp_path))
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1 and needle in lines[0], proc.stderr


def test_channels_on_a_built_in_system_and_table_options_on_fields_are_one_line_errors(tmp_path):
    from physlens.errors import ConfigError

    with pytest.raises(ConfigError, match="field file"):
        build_study("kepler", channels="u,v:vector")
    with pytest.raises(ConfigError, match="'target'"):
        build_study("vector_diffusion", target="du_dt").source.load()
