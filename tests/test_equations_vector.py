"""Specification of vector laws through scalar invariants (physlens.probes.equations.vector)."""

from __future__ import annotations

import numpy as np
import pytest

from physlens.data.dataset import Dataset
from physlens.errors import ConfigError
from physlens.expressions import parse_expression
from physlens.findings import Finding, score
from physlens.probes.equations import run
from physlens.probes.equations.budget import counted
from physlens.probes.equations.vector import applies, row_coefficients, vector_law_findings
from physlens.scoring.equations import symbolically_equal
from physlens.systems import get_system


@pytest.fixture(autouse=True)
def _counted_budget():
    """Every search here counts work instead of seconds (``time_limit`` is virtual seconds): no outcome
    depends on how busy the machine is."""
    with counted():
        yield


def _by_target(findings):
    return {f.target: f for f in findings}


def _matches_truth(finding, ds) -> bool:
    found = parse_expression(finding.value["expression"], variables=ds.input_names)
    return symbolically_equal(found, ds.truth.equations[finding.target])[0]


def _point_cloud(acc, vectors=("pos",), dim=2, n=1500, seed=1, r_min=0.3):
    """Random states of one particle (inside a box, |r| > r_min) and their acceleration ``acc(X)``."""
    X = np.random.default_rng(seed).uniform(-2, 2, (n, dim * len(vectors)))
    X = X[np.linalg.norm(X[:, :dim], axis=1) > r_min]
    axes = ["x", "y", "z"][:dim]
    names = axes + ([f"v{a}" for a in axes] if len(vectors) > 1 else [])
    meta = {"particles": {"n": 1, "dim": dim, "vectors": list(vectors), "scalars": [], "metric": "euclidean",
                          "target_vectors": ["acc"]}}
    return Dataset(X, acc(X), names, [f"a{a}" for a in axes], meta=meta)


def _equal(found: str, truth: str, names) -> bool:
    return symbolically_equal(parse_expression(found, variables=names), parse_expression(truth, variables=names))[0]


def _two_particles(force, n=1500, seed=1, scalars=("m",)):
    """Random states of two particles in 2-D (|r_1 - r_0| > 0.3), accelerations ``force(P, V, M)`` shaped (n, 2, 2)."""
    rng = np.random.default_rng(seed)
    P, V, M = rng.uniform(-2, 2, (n, 2, 2)), rng.normal(size=(n, 2, 2)), rng.uniform(0.5, 2, (n, 2, len(scalars)))
    keep = np.linalg.norm(P[:, 1] - P[:, 0], axis=1) > 0.3
    P, V, M = P[keep], V[keep], M[keep]
    names = [f"{c}{i}" for i in range(2) for c in ["x", "y", "vx", "vy", *scalars]]
    meta = {"particles": {"n": 2, "dim": 2, "vectors": ["pos", "vel"], "scalars": list(scalars),
                          "target_vectors": ["acc"]}}
    X = np.concatenate([P, V, M], axis=2).reshape(len(P), -1)
    return Dataset(X, force(P, V, M).reshape(len(P), -1), names, ["ax0", "ay0", "ax1", "ay1"], meta=meta)


# ----------------------------------------------------------------------------- Kepler
def test_kepler_2d_inverse_square_law_is_found_in_closed_form():
    ds = get_system("kepler", dim=2, points_per_trajectory=10).sample(2000, seed=0)
    found = _by_target(vector_law_findings(ds, time_limit=5))
    assert set(found) == {"dx_dt", "dy_dt", "dvx_dt", "dvy_dt"}
    assert found["dx_dt"].value["expression"] == "vx"
    assert found["dvx_dt"].value["expression"] == "-x/(x**2 + y**2)**(3/2)"
    for f in found.values():
        assert _matches_truth(f, ds), f.value["expression"]
        assert f.value["r2"] > 0.999999 and f.kind == "equation" and f.probe == "equations"
    acc = found["dvx_dt"].value
    assert acc["method"] == "vector invariants"
    assert acc["coefficients"] == {"pos": "-1/pos_pos**(3/2)", "vel": "0"}
    assert acc["invariants"]["pos_pos"] == "x**2 + y**2"
    assert {"target", "expression", "latex", "complexity", "rmse", "pareto"} <= set(acc)
    assert acc["pareto"][0]["expression"] == acc["expression"]


def test_kepler_3d_acceleration_components_score_as_the_truth():
    ds = get_system("kepler", dim=3, target="acceleration", points_per_trajectory=10).sample(1000, seed=0)
    findings = vector_law_findings(ds, time_limit=5)
    assert [f.target for f in findings] == ["ax", "ay", "az"]
    score(findings, ds.truth)
    assert all(f.match for f in findings)
    assert all(Finding.from_json(f.to_json()) == f for f in findings)


def test_kepler_law_survives_five_percent_noise():
    ds = get_system("kepler", dim=2, target="acceleration", points_per_trajectory=10).sample(2000, seed=0, noise=0.05)
    found = _by_target(vector_law_findings(ds, time_limit=5))
    assert set(found) == {"ax", "ay"}
    assert all(_matches_truth(f, ds) for f in found.values())
    assert 0.99 < found["ax"].value["r2"] < 0.999  # reported as the noise allows, not as exact


# ----------------------------------------------------------------------------- other central and velocity forces
def test_screened_central_force_is_found():
    def acc(X):
        d = np.linalg.norm(X[:, :2], axis=1, keepdims=True)
        return -X[:, :2] / d * np.exp(-d)

    ds = _point_cloud(acc)
    found = _by_target(vector_law_findings(ds, time_limit=8))
    truth = parse_expression("-x*exp(-sqrt(x**2 + y**2))/sqrt(x**2 + y**2)", variables=ds.input_names)
    assert symbolically_equal(parse_expression(found["ax"].value["expression"], variables=ds.input_names), truth)[0]
    assert found["ay"].value["r2"] > 0.999999


def test_damped_spring_in_3d_has_rational_coefficients():
    ds = _point_cloud(lambda X: -2.5 * X[:, :3] - 0.3 * X[:, 3:], vectors=("pos", "vel"), dim=3)
    found = _by_target(vector_law_findings(ds, time_limit=5))
    assert found["az"].value["coefficients"] == {"pos": "-5/2", "vel": "-3/10"}
    truth = parse_expression("-5*z/2 - 3*vz/10", variables=ds.input_names)
    assert symbolically_equal(parse_expression(found["az"].value["expression"], variables=ds.input_names), truth)[0]


def test_particle_scalars_enter_the_coefficients():
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, (1500, 4))
    X = X[np.linalg.norm(X[:, :2], axis=1) > 0.3]
    m, q = rng.uniform(0.5, 2, (2, len(X)))
    r = X[:, :2]
    acc = -(q / m)[:, None] * r / np.linalg.norm(r, axis=1, keepdims=True) ** 3
    meta = {"particles": {"n": 1, "dim": 2, "vectors": ["pos", "vel"], "scalars": ["m", "q"], "target_vectors": ["acc"]}}
    ds = Dataset(np.column_stack([X, m, q]), acc, ["x", "y", "vx", "vy", "m", "q"], ["ax", "ay"], meta=meta)
    found = _by_target(vector_law_findings(ds, time_limit=5))
    truth = parse_expression("-q*x/(m*(x**2 + y**2)**(3/2))", variables=ds.input_names)
    assert symbolically_equal(parse_expression(found["ax"].value["expression"], variables=ds.input_names), truth)[0]


def test_minkowski_products_are_used_for_four_vectors():
    rng = np.random.default_rng(0)
    P = rng.normal(size=(800, 4))
    P[:, 0] = np.sqrt(rng.uniform(0.5, 2, 800) ** 2 + np.sum(P[:, 1:] ** 2, axis=1))  # on shell, masses 0.5..2
    mass2 = P[:, 0] ** 2 - np.sum(P[:, 1:] ** 2, axis=1)
    meta = {"particles": {"n": 1, "dim": 4, "vectors": ["p"], "metric": "minkowski", "target_vectors": ["t"]}}
    ds = Dataset(P, mass2[:, None] * P, ["E", "px", "py", "pz"], ["tE", "tx", "ty", "tz"], meta=meta)
    found = _by_target(vector_law_findings(ds, time_limit=5))
    assert found["tx"].value["invariants"] == {"p_p": "E**2 - px**2 - py**2 - pz**2"}
    truth = parse_expression("px*(E**2 - px**2 - py**2 - pz**2)", variables=ds.input_names)
    assert symbolically_equal(parse_expression(found["tx"].value["expression"], variables=ds.input_names), truth)[0]


# ----------------------------------------------------------------------------- what is not an equivariant law
@pytest.mark.parametrize("vectors", [("pos",), ("pos", "vel")])
def test_field_that_is_not_equivariant_is_not_reported(vectors):
    ds = _point_cloud(lambda X: np.column_stack([X[:, 0] * X[:, 1], X[:, 0]]), vectors=vectors)
    assert vector_law_findings(ds, time_limit=5) == []


def test_a_small_symmetry_breaking_term_is_not_absorbed():
    def acc(X):
        r = X[:, :2]
        return -r / np.linalg.norm(r, axis=1, keepdims=True) ** 3 + 0.05 * np.column_stack([X[:, 1], 0 * X[:, 0]])

    assert vector_law_findings(_point_cloud(acc, vectors=("pos", "vel")), time_limit=5) == []


# ----------------------------------------------------------------------------- where it applies
def test_applies_names_why_it_cannot_run():
    assert applies(get_system("kepler", dim=3).sample(100, seed=0)) is None
    assert applies(get_system("kepler", target="energy").sample(100, seed=0)) is None  # invariant scalars now
    assert applies(get_system("lorentz_invariant").sample(100, seed=0)) is None
    assert "4 particles" in applies(get_system("nbody_springs").sample(100, seed=0))
    plain = Dataset(np.random.rand(50, 2), np.random.rand(50, 2), ["a", "b"], ["c", "d"])
    assert "meta['particles']" in applies(plain)
    assert vector_law_findings(plain) == []
    assert vector_law_findings(get_system("nbody_springs").sample(100, seed=0)) == []
    many = Dataset(np.random.rand(50, 25), np.random.rand(50, 1), [f"c{j}" for j in range(25)], ["e"],
                   meta={"particles": {"n": 5, "dim": 2, "vectors": ["pos", "vel"], "scalars": ["m"]}})
    assert "60 invariants" in applies(many)
    two_global = _two_particles(lambda P, V, M: P[:, ::-1] - P, n=100)
    two_global = Dataset(two_global.X, two_global.y[:, :2], two_global.input_names, ["ax", "ay"], meta=two_global.meta)
    assert "global target vectors" in applies(two_global)


def test_bad_options_raise_config_errors():
    ds = get_system("kepler").sample(100, seed=0)
    with pytest.raises(ConfigError, match="time_limit"):
        vector_law_findings(ds, time_limit=0)
    with pytest.raises(ConfigError, match="max_samples"):
        vector_law_findings(ds, max_samples=3)
    with pytest.raises(ConfigError, match="max_invariants"):
        vector_law_findings(ds, max_invariants=0)


def test_parallel_vectors_are_left_out_of_the_row_solve():
    E = np.array([[[1.0, 0.0], [0.0, 1.0]], [[1.0, 2.0], [2.0, 4.0]], [[1.0, 0.0], [1.0, 1e-6]]])
    g, cond, res = row_coefficients(E, np.array([[2.0, -1.0], [1.0, 2.0], [1.0, 0.0]]))
    assert np.allclose(g[0], [2.0, -1.0])
    assert np.isinf(cond[1]) and cond[2] > 1e5 and cond[0] < 2
    assert res[0] < 1e-12


# ----------------------------------------------------------------------------- invariant scalars
def test_lorentz_pair_mass_is_the_sum_of_minkowski_products():
    ds = get_system("lorentz_invariant").sample(800, seed=0)
    (found,) = vector_law_findings(ds, time_limit=5)
    assert found.target == "s" and found.value["method"] == "vector invariants"
    assert found.value["law_in_invariants"] == "p0_p0 + 2*p0_p1 + p1_p1"
    assert found.value["invariants"]["p0_p1"] == "E0*E1 - px0*px1 - py0*py1 - pz0*pz1"
    assert _matches_truth(found, ds) and found.value["r2"] > 0.999999
    score([found], ds.truth)
    assert found.match


def test_kepler_energy_is_found_in_the_invariants():
    ds = get_system("kepler", dim=2, target="energy", points_per_trajectory=10).sample(1000, seed=0)
    (found,) = vector_law_findings(ds, time_limit=5)
    assert found.value["law_in_invariants"] == "vel_vel/2 - 1/sqrt(pos_pos)"
    assert _equal(found.value["expression"], "(vx**2 + vy**2)/2 - 1/sqrt(x**2 + y**2)", ds.input_names)
    assert _matches_truth(found, ds)
    assert found.evidence["relevant_invariants"] == ["pos_pos", "vel_vel"]  # pos.vel does not enter
    assert Finding.from_json(found.to_json()) == found


def test_a_scalar_that_is_not_invariant_is_left_to_the_static_search():
    ds = get_system("kepler", dim=2, target="energy", points_per_trajectory=10).sample(1000, seed=0)
    X = ds.X
    both = Dataset(X, np.column_stack([ds.y[:, 0], X[:, 0] * X[:, 3] + 3 * X[:, 0]]), ds.input_names, ["E", "w"],
                   meta=ds.meta)
    lone = both.select(None, ["w"])
    assert vector_law_findings(lone, time_limit=5) == []
    assert [f.target for f in vector_law_findings(both, time_limit=5)] == ["E"]
    # generous limits: the searches stop at the exact law; the limit only matters on a busy machine
    found = {f.target: f for f in run(None, both, time_limit=10, dynamics=False)}
    assert found["E"].value["method"] == "vector invariants"
    assert found["w"].value.get("method") != "vector invariants"  # the static search ran on it
    assert _equal(found["w"].value["expression"], "x*vy + 3*x", ds.input_names)


def test_many_invariants_are_narrowed_to_the_relevant_ones():
    rng = np.random.default_rng(0)
    P, V, M = rng.uniform(-2, 2, (1500, 3, 2)), rng.normal(size=(1500, 3, 2)), rng.uniform(0.5, 2, (1500, 3, 1))
    kinetic = 0.5 * np.sum(M[:, :, 0] * np.sum(V**2, axis=2), axis=1)
    names = [f"{c}{i}" for i in range(3) for c in ["x", "y", "vx", "vy", "m"]]
    ds = Dataset(np.concatenate([P, V, M], axis=2).reshape(1500, -1), kinetic[:, None], names, ["K"],
                 meta={"particles": {"n": 3, "dim": 2, "vectors": ["pos", "vel"], "scalars": ["m"]}})
    (found,) = vector_law_findings(ds, time_limit=5)  # 21 products and 3 masses: 24 candidates
    assert sorted(found.evidence["relevant_invariants"]) == ["m0", "m1", "m2", "vel0_vel0", "vel1_vel1", "vel2_vel2"]
    truth = "m0*(vx0**2 + vy0**2)/2 + m1*(vx1**2 + vy1**2)/2 + m2*(vx2**2 + vy2**2)/2"
    assert _equal(found.value["expression"], truth, names)


# ----------------------------------------------------------------------------- two particles
def _gravity(P, V, M):
    d = P[:, 1] - P[:, 0]
    r3 = np.linalg.norm(d, axis=1, keepdims=True) ** 3
    return np.stack([M[:, 1, :1] * d / r3, -M[:, 0, :1] * d / r3], axis=1)


def test_two_body_gravity_is_a_pair_law_in_the_relative_vectors():
    ds = _two_particles(_gravity)
    found = _by_target(vector_law_findings(ds, time_limit=5))
    assert set(found) == {"ax0", "ay0", "ax1", "ay1"}
    assert found["ax0"].value["coefficients"] == {"dpos": "m1/dpos_dpos**(3/2)", "dvel": "0"}
    assert found["ax0"].value["invariants"]["dpos_dpos"] == "(-x0 + x1)**2 + (-y0 + y1)**2"
    assert _equal(found["ay1"].value["expression"], "m0*(y0 - y1)/((x0 - x1)**2 + (y0 - y1)**2)**(3/2)", ds.input_names)
    assert all(f.value["r2"] > 0.999999 for f in found.values())


def test_damped_spring_pair_has_a_relative_velocity_term():
    def spring(P, V, M):
        d, u = P[:, 1] - P[:, 0], V[:, 1] - V[:, 0]
        s = np.linalg.norm(d, axis=1, keepdims=True)
        force = (s - 1.0) / s * d + 0.5 * u  # on particle 0: rest length 1, k = 1, damping 1/2
        return np.stack([force / M[:, 0], -force / M[:, 1]], axis=1)

    ds = _two_particles(spring)
    # counted budget: 1 virtual second per search already finds both terms; 3 keeps a margin (15 cost 30 s more)
    found = _by_target(vector_law_findings(ds, time_limit=3))
    assert found["ax1"].value["coefficients"]["dvel"] == "1/(2*m1)"
    truth = "((1 - 1/sqrt((x1 - x0)**2 + (y1 - y0)**2))*(x1 - x0) + (vx1 - vx0)/2)/m0"
    assert _equal(found["ax0"].value["expression"], truth, ds.input_names)


def test_a_force_that_is_not_a_pair_interaction_is_not_reported():
    # each particle tied to the origin: not translation invariant, so no law in the relative vectors
    ds = _two_particles(lambda P, V, M: -P / M)
    assert vector_law_findings(ds, time_limit=3) == []
