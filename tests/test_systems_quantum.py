"""Quantum systems: Rabi formula, harmonic spectrum, SciNet tomography, TFIM exact diagonalisation."""

from __future__ import annotations

import json

import numpy as np
import pytest
import sympy as sp
from scipy.integrate import solve_ivp

from physlens.errors import ParameterError
from physlens.findings import GroundTruth
from physlens.systems import get_system
from physlens.systems.quantum.schrodinger import lowest_levels
from physlens.systems.quantum.tfim import tfim_exact_energy, tfim_ground_state

QUANTUM = [
    ("rabi", {}),
    ("schrodinger_1d", {}),
    ("schrodinger_1d", {"family": "mixed", "density": True}),
    ("qubit_tomography", {"n_qubits": 1}),
    ("qubit_tomography", {"n_qubits": 2}),
    ("tfim_chain", {}),
    ("tfim_chain", {"n_spins": 12, "target": "phase"}),
]


# ----------------------------------------------------------------------------- rabi
def test_rabi_probability_matches_the_rabi_formula_and_a_direct_ode_integration():
    s = get_system("rabi")
    ds = s.sample(400, seed=0)
    Om, De, t = ds.X.T
    W = np.sqrt(Om**2 + De**2)
    formula = Om**2 / W**2 * np.sin(W * t / 2) ** 2
    np.testing.assert_allclose(ds.y[:, 0], formula, atol=1e-12)
    # independent check: integrate i dpsi/dt = H psi for a few samples
    for i in range(3):
        H = 0.5 * np.array([[-De[i], Om[i]], [Om[i], De[i]]], dtype=complex)
        sol = solve_ivp(lambda _t, y: -1j * (H @ y), (0, t[i]), np.array([1, 0], dtype=complex), rtol=1e-10, atol=1e-12)
        assert abs(abs(sol.y[1, -1]) ** 2 - ds.y[i, 0]) < 1e-7
    # the truth equation evaluates to the data
    f = sp.lambdify(sp.symbols("Omega Delta t", real=True), s.truth.equations["P"], "numpy")
    np.testing.assert_allclose(f(Om, De, t), ds.y[:, 0], atol=1e-12)


def test_rabi_is_invariant_under_detuning_reflection_and_frequency_time_scaling():
    from physlens.systems.quantum.rabi import transition_probability

    s = get_system("rabi")
    X = s.sample(200, seed=2).X
    P = transition_probability(*X.T)
    for sym in s.truth.symmetries:
        if sym["kind"] == "discrete":
            Xt = X @ sym["transform"].T
        else:
            L = sym["generators"][0][:, :3]
            Xt = X * np.exp(0.3 * np.diag(L))  # finite flow of the diagonal generator
        np.testing.assert_allclose(transition_probability(*Xt.T), P, atol=1e-12)


# ----------------------------------------------------------------------------- schrodinger
def test_tridiagonal_solver_gives_the_harmonic_spectrum_n_plus_one_half():
    x = np.linspace(-10, 10, 4001)[1:-1]
    E = lowest_levels(0.5 * x**2, x[1] - x[0], 6)
    np.testing.assert_allclose(E, np.arange(6) + 0.5, atol=1e-3)


def test_particle_in_a_box_levels_are_n_squared():
    s = get_system("schrodinger_1d", n_grid=16, n_levels=4, n_fine=2000)
    E = s.solve(np.zeros((1, 16)))[0]
    width = 2 * s.L
    np.testing.assert_allclose(E, (np.pi * np.arange(1, 5)) ** 2 / (2 * width**2), rtol=1e-4)


def test_harmonic_family_levels_follow_omega_times_n_plus_half_plus_offset():
    s = get_system("schrodinger_1d", family="harmonic", n_fine=1500)
    ds = s.sample(60, seed=4)
    pred = ds.aux["omega"][:, None] * (np.arange(3) + 0.5) + ds.aux["offset"][:, None]
    np.testing.assert_allclose(ds.y, pred, atol=2e-3)


def test_schrodinger_parity_and_shift_equivariance_hold_for_the_solver():
    s = get_system("schrodinger_1d", family="mixed", density=True)
    ds = s.sample(40, seed=5)
    par, shift = s.truth.symmetries
    Y_par = s.solve(ds.X @ par["transform"].T)
    np.testing.assert_allclose(Y_par, ds.y @ par["output_transform"].T, atol=1e-9)
    c = 0.8
    G = ds.d_in
    Y_shift = s.solve(ds.X + c * shift["generators"][0][:, G])
    np.testing.assert_allclose(Y_shift, ds.y + c * shift["output_generator"][:, -1], atol=1e-9)
    # the ground-state density integrates to one on the input grid
    rho = ds.y[:, 3:]
    np.testing.assert_allclose(np.trapezoid(rho, s.x, axis=1), 1.0, atol=2e-2)


# ----------------------------------------------------------------------------- qubits
@pytest.mark.parametrize("n_qubits", [1, 2])
def test_tomography_answer_is_determined_by_the_measurements(n_qubits):
    s = get_system("qubit_tomography", n_qubits=n_qubits)
    ds = s.sample(300, seed=1)
    M = s.M
    assert np.all((ds.X >= -1e-12) & (ds.X <= 1 + 1e-12))
    bf = s.truth.extra["bilinear_form"]
    pred = 1 / bf["dim"] + np.einsum("ni,ij,nj->n", ds.X[:, :M] - bf["o0"], bf["B"], ds.X[:, M:] - bf["o0"])
    np.testing.assert_allclose(pred, ds.y[:, 0], atol=1e-10)
    assert s.truth.latent_dim == {1: 2, 2: 6}[n_qubits]
    # the observation block has exactly latent_dim + 1 affine degrees of freedom (pure states)
    sv = np.linalg.svd(ds.X[:, :M] - ds.X[:, :M].mean(0), compute_uv=False)
    assert np.sum(sv > 1e-8 * sv[0]) == {1: 3, 2: 15}[n_qubits]


def test_tomography_answer_is_symmetric_under_swapping_state_and_question():
    s = get_system("qubit_tomography", n_qubits=1)
    ds = s.sample(100, seed=3)
    swap = s.truth.symmetries[0]["transform"]
    np.testing.assert_allclose(s.answer_from_inputs(ds.X @ swap.T), ds.y[:, 0], atol=1e-10)
    e = s.truth.equations["p"]
    f = sp.lambdify(sp.symbols(ds.input_names, real=True), e, "numpy")
    np.testing.assert_allclose(f(*ds.X.T), ds.y[:, 0], atol=1e-9)


# ----------------------------------------------------------------------------- TFIM
@pytest.mark.parametrize("n_spins, g", [(8, 0.3), (8, 1.0), (10, 1.5), (12, 0.9), (7, 0.6)])
def test_tfim_ground_energy_matches_the_free_fermion_formula(n_spins, g):
    E, psi = tfim_ground_state(n_spins, g)
    assert abs(E - tfim_exact_energy(n_spins, g)) < 1e-8
    assert abs(np.linalg.norm(psi) - 1) < 1e-12


def test_tfim_snapshots_are_ordered_below_and_disordered_above_the_critical_field():
    ds = get_system("tfim_chain", n_spins=10, g_range=(0.2, 2.0), n_fields=20).sample(4000, seed=0)
    m = np.abs(ds.X.mean(axis=1))
    g = ds.aux["g"]
    assert m[g < 0.5].mean() > 0.9
    assert m[g > 1.6].mean() < 0.45
    # spin-flip symmetry of the Born distribution: mean magnetisation ~ 0 at every field
    assert abs(ds.X.mean()) < 0.05
    # translation symmetry: every site has the same <s_i s_{i+1}>
    corr = (ds.X * np.roll(ds.X, -1, axis=1)).mean(axis=0)
    assert np.ptp(corr) < 0.08
    truth = get_system("tfim_chain").truth
    assert truth.critical_points["g_c"] == 1.0
    names = {s["name"] for s in truth.symmetries}
    assert {"Z2", "translations"} <= names


def test_tfim_transforms_are_permutations_or_flips_of_the_spin_columns():
    truth = get_system("tfim_chain", n_spins=6).truth
    for sym in truth.symmetries:
        T = sym["transform"]
        assert T.shape == (6, 6)
        np.testing.assert_allclose(np.abs(T) @ np.ones(6), np.ones(6))
        np.testing.assert_allclose(T @ T.T, np.eye(6))


# ----------------------------------------------------------------------------- common
@pytest.mark.parametrize("name, params", QUANTUM)
def test_quantum_truth_round_trips_through_json(name, params):
    truth = get_system(name, **params).truth
    back = GroundTruth.from_json(json.dumps(json.loads(truth.to_json())))
    assert back.to_json() == truth.to_json()


@pytest.mark.parametrize("name, params", QUANTUM)
def test_quantum_systems_sample_default_size_finite(name, params):
    s = get_system(name, **params)
    ds = s.sample(seed=0)
    assert ds.n == s.default_n and np.isfinite(ds.X).all() and np.isfinite(ds.y).all()
    assert ds.truth is not None and ds.name == name


@pytest.mark.parametrize(
    "name, params, word",
    [
        ("tfim_chain", {"n_spins": 20}, "n_spins"),
        ("tfim_chain", {"g_range": (-1.0, 2.0)}, "g_range"),
        ("tfim_chain", {"target": "energy"}, "target"),
        ("rabi", {"t_range": (-1.0, 5.0)}, "t_range"),
        ("rabi", {"omega_range": (2.0, 1.0)}, "omega_range"),
        ("schrodinger_1d", {"family": "quartic"}, "family"),
        ("schrodinger_1d", {"n_levels": 0}, "n_levels"),
        ("schrodinger_1d", {"box": -1.0}, "box"),
        ("qubit_tomography", {"n_qubits": 3}, "n_qubits"),
        ("qubit_tomography", {"n_qubits": 2, "n_measurements": 5}, "n_measurements"),
    ],
)
def test_bad_quantum_parameters_raise_a_parameter_error_naming_them(name, params, word):
    with pytest.raises(ParameterError, match=word):
        get_system(name, **params)


def test_zero_samples_is_a_parameter_error():
    with pytest.raises(ParameterError, match="samples"):
        get_system("rabi").sample(0)
