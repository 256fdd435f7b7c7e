"""The phases probe: critical points three ways, the order parameter, no transition where there is none."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from physlens.cli import app
from physlens.findings import GroundTruth, score
from physlens.probes import phases
from physlens.systems import get_system
from physlens.systems.statistical.ising import T_CRITICAL
from physlens.systems.statistical.potts import potts_critical_temperature

FAST = {"epochs": 30, "n_bootstrap": 20, "max_splits": 10}


@pytest.fixture(scope="module")
def ising16():
    return get_system("ising_2d", L=12, T_range=(1.6, 3.0), n_temperatures=12, n_equilibrate=100).sample(1200, seed=1)


def test_ising_critical_temperature_is_found_within_ten_percent_on_one_small_lattice(ising16):
    fs = phases.run(None, ising16, **FAST)
    phase = fs[0]
    assert phase.kind == "phase" and phase.value["method"] == "combined"
    assert phase.value["critical"] == pytest.approx(T_CRITICAL, rel=0.10)
    assert set(phase.evidence["methods"]) >= {"supervised", "pca"}
    # the order parameter is |m|, from the configuration alone
    assert phase.value["order_parameter"] == "|m|"
    concept = [f for f in fs if f.kind == "concept"][0]
    assert concept.subject == "|m|" and concept.value["r2"] > 0.8
    card = score(fs, ising16.truth)
    assert card["kinds"]["phase"]["scored"] == 1
    assert phase.score_detail["relative_error"] == pytest.approx(abs(phase.value["critical"] / T_CRITICAL - 1))


def test_one_lattice_size_states_its_finite_size_rounding_in_the_error(ising16):
    phase = phases.run(None, ising16, **FAST)[0]
    ev = phase.evidence
    rounding, stat = ev["finite_size_rounding"], ev["statistical_uncertainty"]
    assert 0 < rounding < 0.5 * (3.0 - 1.6)  # the supervised step is narrower than the range
    assert phase.value["uncertainty"] == pytest.approx(np.hypot(stat, rounding))
    assert "finite-size rounding" in phase.statement


def test_a_scan_cut_short_by_the_deadline_still_spans_the_control_range(ising16):
    # a deadline already past: the scan stops after its minimum number of splits, which must reach both
    # ends and the middle (in increasing order it kept only the lowest splits, a W with no right side)
    T = ising16.y[:, 0]
    S = ising16.X
    full = phases.analyse_size(S, T, (12, 12), np.array([-1.0, 1.0]), **FAST, autoencoder=False, seed=0)
    cut = phases.analyse_size(S, T, (12, 12), np.array([-1.0, 1.0]), **FAST, autoencoder=False, seed=0,
                              deadline=0.0)
    got, every = cut["methods"]["confusion"]["splits"], full["methods"]["confusion"]["splits"]
    assert len(got) == phases.MIN_SPLITS < len(every)
    assert got[0] == every[0] and got[-1] == every[-1]
    assert np.all(np.diff(got) > 0)
    assert cut["w_shape"]["significant"] and abs(cut["w_shape"]["critical"] - T_CRITICAL) < 0.15 * T_CRITICAL


def test_mixed_sizes_are_analysed_size_by_size_with_nu():
    from physlens.data.dataset import Dataset
    from physlens.systems.statistical.ising import simulate

    T = np.linspace(1.6, 3.0, 8)
    rng = np.random.default_rng(0)
    X, c, L = [], [], []
    for size in (4, 6, 8):
        conf = simulate(size, T, 25, rng, n_equilibrate=50).reshape(-1, size * size)
        pad = np.zeros((conf.shape[0], 64))
        pad[:, : size * size] = conf
        X.append(pad), c.append(np.repeat(T, 25)), L.append(np.full(conf.shape[0], float(size)))
    ds = Dataset(np.hstack([np.vstack(X), np.concatenate(L)[:, None]]), np.concatenate(c),
                 [f"s{i}" for i in range(64)] + ["L"], ["T"])
    fs = phases.run(None, ds, size="L", epochs=20, n_bootstrap=10, max_splits=4, autoencoder=False, min_steps=200)
    ev = fs[0].evidence
    assert ev["sizes"] == [4, 6, 8] and set(ev["per_size"]) == {"4", "6", "8"}
    assert all(r["methods"]["supervised"]["critical"] is not None for r in ev["per_size"].values())


def test_one_dimensional_chain_has_no_transition():
    ds = get_system("ising_chain", n_spins=48, n_temperatures=12).sample(1200, seed=0)
    fs = phases.run(None, ds, **FAST)
    assert len(fs) == 1 and fs[0].kind == "phase"
    assert fs[0].value["critical"] is None and fs[0].value["order_parameter"] is None
    assert "no phase transition" in fs[0].statement
    assert score(fs, ds.truth)["kinds"]["phase"]["matched"] == 1


def test_potts_order_parameter_is_the_largest_state_fraction():
    ds = get_system("potts_2d", q=3, L=8, n_temperatures=10, n_equilibrate=100).sample(800, seed=0)
    fs = phases.run(None, ds, autoencoder=False, **FAST)
    r2 = fs[0].evidence["order_parameter_r2"]
    assert max(r2, key=lambda o: r2[o]["leading components"]) == "max state fraction"
    if fs[0].value["critical"] is not None:
        assert fs[0].value["critical"] == pytest.approx(potts_critical_temperature(3), rel=0.15)


def test_finite_size_extrapolation_recovers_the_limit_and_nu():
    L = np.array([8.0, 12.0, 16.0, 24.0, 32.0])
    c, e, shifted = phases.finite_size(L, 2.269 + 0.9 / L, np.full(5, 1e-3), 1.0, 0.05)
    assert shifted and c == pytest.approx(2.269, abs=0.005) and e < 0.02
    flat = phases.finite_size(L, 2.269 + np.array([1, -1, 1, -1, 0]) * 1e-3, np.full(5, 1e-3), 1.0, 0.05)
    assert not flat[2] and flat[0] == pytest.approx(2.269, abs=0.002)


def test_observables_of_a_checkerboard_are_staggered():
    S = np.where(np.indices((4, 4)).sum(axis=0) % 2 == 0, 1.0, -1.0).reshape(1, 16)
    obs = phases.observables(S, (4, 4), np.array([-1.0, 1.0]))
    assert obs["|m|"][0] == 0 and obs["|staggered m|"][0] == 1 and obs["neighbour sum (energy)"][0] == 1


def test_applies_to_spin_configurations_only():
    assert phases.applies(get_system("ising_2d", L=4, n_temperatures=5, n_equilibrate=10).sample(100)) is None
    assert phases.applies(get_system("tfim_chain", n_spins=6, n_fields=5).sample(100)) is None
    assert phases.applies(get_system("toy_distractor").sample(100)) is not None


def _csv(tmp_path, X, c, names=None, extra=None):
    cols = names or [f"s{i}" for i in range(X.shape[1])]
    rows = [",".join(cols + ["T"] + ([extra[0]] if extra else []))]
    for i in range(X.shape[0]):
        vals = [f"{v:g}" for v in X[i]] + [f"{c[i]:g}"] + ([f"{extra[1][i]:g}"] if extra else [])
        rows.append(",".join(vals))
    p = tmp_path / "conf.csv"
    p.write_text("\n".join(rows) + "\n")
    return p


def test_cli_phases_json_contract(tmp_path):
    ds = get_system("ising_2d", L=6, T_range=(1.6, 3.0), n_temperatures=8, n_equilibrate=60).sample(480, seed=2)
    p = _csv(tmp_path, ds.X, ds.y[:, 0])
    res = CliRunner().invoke(app, ["phases", str(p), "--control", "T", "--json", "--out", str(tmp_path / "runs"),
                                   "--epochs", "20", "--bootstrap", "10", "--no-autoencoder"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    phase = [f for f in out["findings"] if f["kind"] == "phase"][0]
    assert set(phase["value"]) >= {"critical", "uncertainty", "method", "order_parameter"}
    assert out["run_dir"]


@pytest.mark.parametrize("case, word", [("one_control", "T"), ("bad_size", "size"), ("text", "s1")])
def test_cli_phases_bad_input_is_one_line(tmp_path, case, word, monkeypatch, capsys):
    from physlens.cli import main

    rng = np.random.default_rng(0)
    X = rng.choice([-1.0, 1.0], size=(60, 16))
    c = np.repeat(np.linspace(1, 3, 6), 10)
    args = []
    if case == "one_control":
        p = _csv(tmp_path, X, np.full(60, 2.0))
    elif case == "bad_size":
        p = _csv(tmp_path, X, c, extra=("L", np.tile([3.0, 5.0], 30)))
        args = ["--size", "L"]
    else:
        p = _csv(tmp_path, X, c)
        text = p.read_text().splitlines()
        first = text[1].split(",")
        first[1] = "up"
        text[1] = ",".join(first)
        p.write_text("\n".join(text) + "\n")
    monkeypatch.setattr(sys, "argv", ["physlens", "phases", str(p), "--control", "T", "--json", "--out",
                                      str(tmp_path / "runs"), "--epochs", "5", "--bootstrap", "3", *args])
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and word in err and "Traceback" not in err, err


def test_phase_scorer_tolerance_and_absence():
    from physlens.findings import Finding

    near = Finding("phase", "x", {"critical": 1.02, "uncertainty": 0.01})
    far = Finding("phase", "x", {"critical": 1.2, "uncertainty": 0.01})
    none = Finding("phase", "x", {"critical": None, "uncertainty": None})
    score([near, far], GroundTruth(critical_points={"g_c": 1.0}))
    score([none], GroundTruth(critical_points={"T_c": None}))
    assert near.match and not far.match and none.match
