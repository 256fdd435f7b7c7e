"""The equation scorer: laws with per-trajectory or hidden parameters are compared by structure."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from physlens.findings import Finding, GroundTruth, score
from physlens.probes.equations.dynamics import discover_dynamics
from physlens.systems import get_system
from physlens.systems.classical.pendulum import DampedPendulum

TH, OM, X, Y = sp.symbols("theta omega x y", real=True)


def _pendulum_truth() -> GroundTruth:
    return DampedPendulum().truth


def _dynamics_finding(expression: str, target: str = "domega_dt", per_trajectory: dict | None = None) -> Finding:
    """A finding shaped like the dynamics probe's: text expression, state names, per-trajectory parameters."""
    rng = np.random.default_rng(0)
    params = {
        name: {"term": term, "values": rng.uniform(lo, hi, 8), "mean": (lo + hi) / 2, "std": 0.1, "min": lo, "max": hi}
        for name, (term, lo, hi) in (per_trajectory or {}).items()
    }
    value = {"expression": expression, "state": target[1:-3], "state_names": ["theta", "omega"]}
    if params:
        value["parameters"] = params
    return Finding("equation", f"d/dt = {expression}", value, target=target)


PER_TRAJECTORY = {"c_omega_0": ("omega", -0.50, -0.06), "c_omega_1": ("sin(theta)", -1.90, -0.5)}


def _scored(finding: Finding, truth: GroundTruth) -> Finding:
    score([finding], truth)
    return finding


def test_damped_pendulum_law_with_per_trajectory_coefficients_matches_hidden_k_and_b():
    f = _scored(_dynamics_finding("c_omega_0*omega + c_omega_1*sin(theta)", per_trajectory=PER_TRAJECTORY),
                _pendulum_truth())
    assert f.match is True
    assert f.score_detail["by"] == "structure with parameters"
    assert f.score_detail["parameters_found"] == ["c_omega_0", "c_omega_1"]
    assert f.score_detail["parameters_true"] == ["b", "k"]
    assert sorted(t["term"] for t in f.score_detail["terms"]) == ["omega", "sin(theta)"]


def test_damped_pendulum_law_with_a_wrong_term_does_not_match():
    params = {"c_omega_0": ("omega", -0.50, -0.06), "c_omega_1": ("cos(theta)", -1.90, -0.5)}
    f = _scored(_dynamics_finding("c_omega_0*omega + c_omega_1*cos(theta)", per_trajectory=params),
                _pendulum_truth())
    assert f.match is False
    reasons = {t["term"]: t.get("reason") for t in f.score_detail["terms"]}
    assert reasons["sin(theta)"] == "missing in the finding" and reasons["cos(theta)"] == "not in the truth"


def test_damped_pendulum_law_with_a_missing_term_does_not_match():
    f = _scored(_dynamics_finding("c_omega_1*sin(theta)", per_trajectory={"c_omega_1": PER_TRAJECTORY["c_omega_1"]}),
                _pendulum_truth())
    assert f.match is False


def test_fit_of_one_trajectory_with_numbers_matches_the_law_with_hidden_parameters():
    f = _scored(_dynamics_finding("-0.3*omega - 1.2*sin(theta)"), _pendulum_truth())
    assert f.match is True
    assert f.score_detail["parameters_found"] == [] and f.score_detail["parameters_true"] == ["b", "k"]


def test_parameter_free_term_of_a_law_with_parameters_is_still_compared_numerically():
    # d(theta)/dt = omega has no parameter: it is scored as before, to 1e-6
    truth = _pendulum_truth()
    assert _scored(_dynamics_finding("omega", target="dtheta_dt"), truth).match is True
    assert _scored(_dynamics_finding("1.01*omega", target="dtheta_dt"), truth).match is False
    # in a law with parameters, a constant term must agree too
    truth2 = GroundTruth(equations={"y": -sp.Symbol("k") * X + 2 * X**2}, relevant_inputs=["x"])
    ok = Finding("equation", "", {"expression": "-0.7*x + 2.0*x**2"}, target="y")
    off = Finding("equation", "", {"expression": "-0.7*x + 2.1*x**2"}, target="y")
    param_for_constant = Finding("equation", "", {"expression": "-0.7*x + c*x**2", "parameters": {"c": {}}},
                                 target="y")
    score([ok, off, param_for_constant], truth2)
    assert (ok.match, off.match, param_for_constant.match) == (True, False, False)


def test_law_without_parameters_is_scored_numerically_as_before():
    truth = GroundTruth(equations={"z": X * Y**2}, relevant_inputs=["x", "y"])
    same = Finding("equation", "", {"expression": X * Y**2}, target="z")
    wrong = Finding("equation", "", {"expression": X * Y}, target="z")
    score([same, wrong], truth)
    assert same.match is True and wrong.match is False
    assert "by" not in same.score_detail


def test_a_missed_input_variable_is_not_taken_for_a_parameter():
    truth = GroundTruth(equations={"z": X * Y}, relevant_inputs=["x", "y"])
    f = _scored(Finding("equation", "", {"expression": 2 * X}, target="z"), truth)
    assert f.match is False
    assert "different variables" in f.score_detail["method"]


def test_observed_parameters_are_variables_of_the_law():
    truth = DampedPendulum(observe_params=True).truth
    f = _scored(_dynamics_finding("-k*sin(theta) - b*omega"), truth)
    assert f.match is True and "by" not in f.score_detail


@pytest.mark.parametrize("observe_params", [False, True])
def test_damped_pendulum_laws_found_by_the_dynamics_probe_are_scored_as_matches(observe_params):
    ds = get_system("damped_pendulum", observe_params=observe_params).sample(400, seed=0)
    findings = discover_dynamics(ds)
    card = score(findings, ds.truth)
    assert card["kinds"]["equation"] == {"scored": 2, "matched": 2}, [f.statement for f in findings]
    domega = next(f for f in findings if f.target == "domega_dt")
    assert (domega.score_detail.get("by") == "structure with parameters") is (not observe_params)
