"""Symmetry scoring against the truth's equations (not only the symmetries the truth lists)."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from physlens.findings import Finding, GroundTruth, score
from physlens.systems import get_system
from physlens.systems.classical.common import affine, block_action, so_basis

J2 = so_basis(2)[0]


@pytest.fixture(scope="module")
def kepler_field():
    return get_system("kepler", dim=2).truth


@pytest.fixture(scope="module")
def kepler_energy():
    return get_system("kepler", dim=2, target="energy").truth


def discrete(T, P=None, name="candidate"):
    value = {"transform": np.asarray(T, dtype=float), "name": name}
    if P is not None:
        value["output_transform"] = np.asarray(P, dtype=float)
    return Finding("symmetry", name, value, probe="symmetry")


def continuous(gens, target=None, outs=None):
    value = {"generators": [np.asarray(g, dtype=float) for g in gens], "group": "?"}
    if outs is not None:
        value["output_generators"] = outs
    return Finding("symmetry", "algebra", value, probe="symmetry", target=target)


def test_kepler_field_flip_of_x_alone_is_an_equivariance_of_the_law(kepler_field):
    flip_x = np.diag([-1.0, 1.0, 1.0, 1.0])
    right = discrete(flip_x, np.diag([1.0, 1.0, -1.0, 1.0]), "flip x")  # only dvx/dt = -x/r^3 changes sign
    invariant = discrete(flip_x, None, "flip x")
    score([right, invariant], kepler_field)
    assert right.match is True and right.score_detail["by"] == "equations"
    assert right.score_detail["max_violation"] < 1e-12
    assert invariant.match is False and invariant.score_detail["by"] == "equations"
    assert invariant.score_detail["median_violation"] > 0.01


def test_kepler_field_time_reversal_matches_and_a_random_rotation_does_not(kepler_field):
    reversal = discrete(np.diag([1.0, 1.0, -1.0, -1.0]), np.diag([-1.0, -1.0, 1.0, 1.0]), "v -> -v")
    Q, _ = np.linalg.qr(np.random.default_rng(3).normal(size=(4, 4)))
    wrong = discrete(Q, None, "random")
    wrong_out = discrete(Q, Q, "random with outputs")
    score([reversal, wrong, wrong_out], kepler_field)
    assert reversal.match is True and reversal.score_detail["by"] == "equations"
    assert wrong.match is False and wrong_out.match is False


def test_kepler_field_algebra_is_rotation_and_mechanical_similarity(kepler_field):
    rot = affine(block_action(4, J2, [0, 2]))
    scaling = affine(np.diag([1.0, 1.0, -0.5, -0.5]))
    # the probe's estimate is a little off (about 1 degree) and in another basis
    noisy = [rot + 0.5 * scaling + 0.01 * np.random.default_rng(0).normal(size=(4, 5)), scaling - rot]
    both = continuous(noisy, outs=[np.zeros((4, 5))] * 2)
    rotation_only = continuous([rot], outs=[np.zeros((4, 5))])
    score([both, rotation_only], kepler_field)
    d = both.score_detail
    assert both.match is True and d["by"] == "equations" and d["truth_contained"]
    assert d["law_max_angle_deg"] < 5.0
    # with the output action free, v -> v + eps (A v + b) is an equivariance of the field too (dx/dt = v moves
    # along); with so(2) and the scaling of r: 2 + 4 + 2 = 8 dimensions
    assert d["law_equivariance_dim"] == 8
    # a true symmetry, so not a false claim; the similarity scaling it lacks is recorded (and counted as missed)
    assert rotation_only.match is True and rotation_only.score_detail["truth_contained"] is False
    from physlens.scoring.coverage import coverage

    listed_discrete = sum(s.get("kind") == "discrete" for s in kepler_field.symmetries)
    assert coverage([rotation_only], kepler_field)["symmetry"]["missed"] == 1 + listed_discrete
    assert rotation_only.score_detail["all_symmetries_of_law"] is True


def test_energy_is_invariant_under_separate_rotations_of_r_and_v(kepler_energy):
    rot_r = affine(block_action(4, J2, [0]))
    rot_v = affine(block_action(4, J2, [2]))
    found = continuous([rot_r + rot_v, rot_r - 2 * rot_v], target="E")
    shear = np.zeros((4, 5))
    shear[0, 1] = 1.0  # x -> x + eps y
    sheared = continuous([rot_r + rot_v, affine(shear[:, :4])], target="E")
    card = score([found, sheared], kepler_energy)
    d = found.score_detail
    assert found.match is True and d["by"] == "equations"
    assert d["truth_contained"] is True and d["max_angle_deg"] < 1e-6
    assert d["law_dim"] == 2 and d["found_dim"] == 2 and d["mode"] == "invariance"
    assert sheared.match is False and sheared.score_detail["law_max_angle_deg"] > 30
    assert card["kinds"]["symmetry"] == {"scored": 2, "matched": 1}


def test_energy_scaling_is_an_equivariance_but_not_an_invariance(kepler_energy):
    scaling = affine(np.diag([1.0, 1.0, -0.5, -0.5]))  # E(lambda r, lambda^-1/2 v) = E / lambda
    rot = affine(block_action(4, J2, [0, 2]))
    claimed_invariant = continuous([rot, scaling], target="E")
    claimed_equivariant = continuous([rot, scaling], target="E", outs=[np.zeros((1, 2)), np.array([[-1.0, 0.0]])])
    score([claimed_invariant, claimed_equivariant], kepler_energy)
    assert claimed_invariant.match is False
    assert claimed_equivariant.match is True
    assert claimed_equivariant.score_detail["law_dim"] == 3  # so(2) + so(2) + scaling


def test_law_without_listed_symmetries_judges_generators_by_its_equation():
    x1, x2 = sp.symbols("x1 x2", positive=True)
    truth = GroundTruth(equations={"y": x1 * x2**2}, relevant_inputs=["x1", "x2"])
    wrong = continuous([affine(J2)], target="y")  # a rotation of (x1, x2)
    right = continuous([affine(np.diag([2.0, -1.0]))], target="y")  # x1 -> lambda^2 x1, x2 -> x2 / lambda
    score([wrong, right], truth)
    assert wrong.match is False and wrong.score_detail["by"] == "equations"
    assert right.match is True and right.score_detail["law_dim"] == 1


def test_truth_without_equations_falls_back_to_the_listed_group():
    truth = GroundTruth(symmetries=[{"name": "parity", "kind": "discrete", "transform": -np.eye(2)}])
    parity, flip = discrete(-np.eye(2)), discrete(np.diag([-1.0, 1.0]))
    score([parity, flip], truth)
    assert parity.match is True and flip.match is False
    assert parity.score_detail["by"] == "listed group"


def test_unknown_input_order_falls_back_to_the_listed_group():
    x, y = sp.symbols("x y", real=True)
    truth = GroundTruth(symmetries=[{"name": "parity", "kind": "discrete", "transform": -np.eye(2)}],
                        equations={"u": x**2 + y**4})  # no input names anywhere
    flip = discrete(np.diag([-1.0, 1.0]))
    score([flip], truth)
    assert flip.score_detail["by"] == "listed group" and "order" in flip.score_detail["equations_not_used"]
    named = GroundTruth(symmetries=truth.symmetries, equations=truth.equations, extra={"input_names": ["x", "y"]})
    flip = discrete(np.diag([-1.0, 1.0]))
    score([flip], named)
    assert flip.match is True and flip.score_detail["by"] == "equations"


def test_truth_whose_listed_symmetry_fails_its_equations_is_not_trusted_for_the_order():
    x, y = sp.symbols("x y", real=True)
    # listed as if the inputs were (y, x): swapping the claimed order breaks the listed flip
    truth = GroundTruth(symmetries=[{"name": "flip", "kind": "discrete", "transform": np.diag([1.0, -1.0])}],
                        equations={"u": x**2 + y}, relevant_inputs=["x", "y"])
    f = discrete(np.diag([-1.0, 1.0]))
    score([f], truth)
    assert f.score_detail["by"] == "listed group" and "flip" in f.score_detail["equations_not_used"]


@pytest.mark.parametrize("seed", range(12))
def test_input_permutations_that_are_not_symmetries_do_not_match(kepler_field, seed):
    # property over random permutations of (x, y, vx, vy), the outputs permuted alike
    perm = list(np.random.default_rng(seed).permutation(4))
    T = np.eye(4)[perm]
    f = discrete(T, T)
    score([f], kepler_field)
    # the only symmetric ones: the identity and the mirror x <-> y (with vx <-> vy)
    assert f.match is (perm in ([0, 1, 2, 3], [1, 0, 3, 2]))
    assert f.score_detail["by"] == "equations"


def test_the_mirror_x_y_with_vx_vy_is_a_symmetric_permutation(kepler_field):
    T = np.eye(4)[[1, 0, 3, 2]]
    f = discrete(T, T)
    score([f], kepler_field)
    assert f.match is True and f.score_detail["by"] == "equations"
