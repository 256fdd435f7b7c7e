"""`physlens discover SYSTEM` works for every built-in system with the probes that exist."""

from __future__ import annotations

import json

import pytest

from physlens.study import Study, run_study
from physlens.systems import get_system, list_systems
from tests.conftest import run_cli

SYSTEMS = [name for name, _, _ in list_systems()]


@pytest.mark.slow
@pytest.mark.parametrize("name", SYSTEMS)
def test_every_system_runs_end_to_end(name, tmp_path):
    n = min(get_system(name).default_n, 300)
    study = Study.parse(
        {
            "name": name,
            "source": {"system": name, "n": n if name != "planets" else None},
            "train": {"epochs": 2, "progress": False},
            "probes": [{"name": "attribution", "options": {"repeats": 2, "max_samples": 150}}],
        }
    )
    result = run_study(study, out=tmp_path)
    assert (result.run_dir / "report.html").exists()
    # every (input, target) pair is judged: relevant or not, or listed as undetermined when the (2-epoch)
    # model misses too much of the target to vouch that an input does not matter
    judged = sum(f.kind == "relevant-variable" for f in result.findings)
    judged += sum(len(f.value["variables"]) for f in result.findings if f.kind == "uncertainty")
    assert judged == result.dataset.d_in * result.dataset.d_out
    assert result.dataset.truth is not None


def test_discover_takes_a_system_name_and_parameters(tmp_path):
    proc = run_cli("discover", "kepler", "--param", "target=energy", "--n", "300", "--epochs", "2",
                   "--out", str(tmp_path), "--json", "--quiet", "--probes", "attribution")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    judged = {f["subject"] for f in out["findings"] if f["kind"] == "relevant-variable"}
    judged |= {v for f in out["findings"] if f["kind"] == "uncertainty" for v in f["value"]["variables"]}
    assert judged == {"x", "y", "vx", "vy"}


def test_bad_system_parameter_is_a_one_line_error(tmp_path):
    proc = run_cli("discover", "nbody_springs", "--param", "n_particles=99", "--out", str(tmp_path), "--quiet")
    assert proc.returncode == 2 and "n_particles" in proc.stderr and "Traceback" not in proc.stderr
