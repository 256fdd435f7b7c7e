"""Classical systems: integrators, data against the stated physics, ground truth round trips, bad parameters."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest
import sympy as sp
from scipy.linalg import expm

from physlens.errors import ParameterError
from physlens.findings import GroundTruth
from physlens.systems import get_system
from physlens.systems.classical.copernicus import PERIOD_EARTH_DAYS
from physlens.systems.classical.integrators import integrate_separable, rk4
from physlens.systems.classical.kepler import kepler_acceleration, orbit_state

CONFIGS = [
    ("harmonic_oscillator", ()),
    ("duffing", (("b", 2.0),)),
    ("damped_pendulum", ()),
    ("damped_pendulum", (("observe_params", True),)),
    ("kepler", ()),
    ("kepler", (("dim", 3),)),
    ("kepler", (("target", "energy"),)),
    ("kepler", (("dim", 3), ("target", "acceleration"))),
    ("nbody_springs", ()),
    ("nbody_charges", ()),
    ("nbody_gravity", ()),
    ("nbody_gravity", (("dim", 3), ("n_particles", 5))),
    ("double_pendulum", ()),
    ("copernicus", ()),
    ("copernicus", (("encoding", "cossin"), ("window", 3))),
    ("lorentz_invariant", ()),
    ("lorentz_invariant", (("quantity", "dot"), ("n_particles", 3))),
]
IDS = [name + "".join(f"-{k}={v}" for k, v in params) for name, params in CONFIGS]


@lru_cache(maxsize=None)
def sampled(name: str, params: tuple = ()):
    """(system, default-size dataset), generated once per test session (sampling time: benchmarks/systems_sampling.py)."""
    system = get_system(name, **dict(params))
    return system, system.sample(seed=0)


def evaluate(expr, names, columns):
    """Evaluate a SymPy expression in the named columns (2-D array, one column per name)."""
    syms = [sp.Symbol(n, real=True) for n in names]
    f = sp.lambdify(syms, expr, "numpy")
    return np.broadcast_to(np.asarray(f(*[columns[..., i] for i in range(len(names))]), dtype=float), columns.shape[:-1])


def target_function(system, ds):
    """The system's exact target map X -> y, as a plain function of the input rows."""
    if hasattr(system, "target_function"):
        return system.target_function
    if system.name == "damped_pendulum":
        return lambda X: system.vector_field(X[:, :2], ds.aux["k"][: len(X)], ds.aux["b"][: len(X)])
    return system.vector_field


# ----------------------------------------------------------------------------- integrators
@pytest.mark.slow
def test_symplectic_integrators_keep_oscillator_energy_within_1e_minus_4_over_1000_periods():
    omega = 1.0
    period = 2 * np.pi / omega
    q0, p0 = np.array([1.0, 0.3]), np.array([0.0, -1.2])
    E0 = 0.5 * p0**2 + 0.5 * q0**2
    for method, steps_per_period in (("yoshida4", 50), ("verlet", 400)):
        qs, ps = integrate_separable(
            q0, p0, lambda p: p, lambda q: -q, period / steps_per_period, 1000 * steps_per_period, 10, method=method
        )
        drift = np.max(np.abs((0.5 * ps**2 + 0.5 * qs**2) / E0 - 1))
        assert drift < 1e-4, (method, drift)


@pytest.mark.slow
def test_yoshida_keeps_kepler_orbit_energy_within_1e_minus_4_over_1000_periods():
    e = np.array([0.1, 0.3, 0.5])
    r0, v0 = orbit_state(np.ones(3), e, np.zeros(3), 1.0)
    period, spp = 2 * np.pi, 150
    rs, vs = integrate_separable(
        r0, v0, lambda v: v, lambda r: kepler_acceleration(r, 1.0), period / spp, 1000 * spp, 25
    )
    E = 0.5 * np.sum(vs**2, axis=-1) - 1.0 / np.linalg.norm(rs, axis=-1)
    rel = np.abs(E / E[0] - 1)
    assert rel.max() < 1e-4
    # bounded, not drifting: the error in the last 100 periods is no worse than in the first 100
    k = len(rel) // 10
    assert rel[-k:].max() < 3 * rel[:k].max() + 1e-12
    # and the orbit keeps its shape: the eccentricity |A|/GM from the Laplace-Runge-Lenz vector
    x, y, vx, vy = rs[-1, :, 0], rs[-1, :, 1], vs[-1, :, 0], vs[-1, :, 1]
    Lz, r = x * vy - y * vx, np.hypot(x, y)
    A = np.stack([vy * Lz - x / r, -vx * Lz - y / r], -1)
    np.testing.assert_allclose(np.linalg.norm(A, axis=1), e, atol=1e-4)


def test_yoshida_and_rk4_are_fourth_order():
    errs_y, errs_r = [], []
    t_end = 3.0
    for n in (30, 60):
        qs, _ = integrate_separable(np.array([1.0]), np.array([0.0]), lambda p: p, lambda q: -q, t_end / n, n, n)
        errs_y.append(abs(qs[-1, 0] - np.cos(t_end)))
        ys = rk4(lambda y: np.stack([y[..., 1], -y[..., 0]], -1), np.array([[1.0, 0.0]]), t_end / n, n, n)
        errs_r.append(abs(ys[-1, 0, 0] - np.cos(t_end)))
    assert 12 < errs_y[0] / errs_y[1] < 20  # 2^4 = 16
    assert 12 < errs_r[0] / errs_r[1] < 20


def test_integrated_kepler_orbit_matches_keplers_equation():
    a, e = np.array([1.3, 0.8]), np.array([0.6, 0.2])
    M0 = np.array([0.3, 2.0])
    r0, v0 = orbit_state(a, e, M0, 2.0)
    t_end = 5.0
    rs, vs = integrate_separable(r0, v0, lambda v: v, lambda r: kepler_acceleration(r, 2.0), 1e-3, 5000, 5000)
    n_motion = np.sqrt(2.0 / a**3)
    r_exact, v_exact = orbit_state(a, e, M0 + n_motion * t_end, 2.0)
    np.testing.assert_allclose(rs[-1], r_exact, atol=1e-8)
    np.testing.assert_allclose(vs[-1], v_exact, atol=1e-8)


# ----------------------------------------------------------------------------- every system
@pytest.mark.parametrize("name,params", CONFIGS, ids=IDS)
def test_system_samples_a_valid_dataset(name, params):
    system, ds = sampled(name, params)
    assert ds.n == system.default_n
    assert system.category == "classical" and "\n" not in system.description and system.description
    assert ds.truth is not None and ds.meta["system"] == name
    for key, arr in ds.aux.items():
        assert len(arr) == ds.n, key
    if ds.trajectories is not None:
        assert ds.trajectories.shape[1] == len(ds.times)
        assert ds.trajectories.shape[2] == len(ds.state_names)
    rel = ds.truth.relevant_inputs
    assert rel is None or set(rel) <= set(ds.input_names)
    again = system.sample(seed=0)
    np.testing.assert_array_equal(again.X, ds.X)  # deterministic given the seed
    assert not np.array_equal(system.sample(seed=1).X, ds.X)


def _assert_same(a, b, path="truth"):
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), path
        for k in a:
            _assert_same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f"{path}[{i}]")
    elif isinstance(a, np.ndarray):
        assert np.allclose(a, np.asarray(b)), path
    elif isinstance(a, sp.Basic):
        assert isinstance(b, sp.Basic), path
        diff = a - b
        assert diff == 0 or sp.simplify(diff) == 0, path
    elif isinstance(a, float):
        assert np.isclose(a, b), path
    else:
        assert a == b, path


@pytest.mark.parametrize("name,params", CONFIGS, ids=IDS)
def test_ground_truth_round_trips_through_json(name, params):
    truth = get_system(name, **dict(params)).truth
    back = GroundTruth.from_json(truth.to_json())
    _assert_same(truth.symmetries, back.symmetries, "symmetries")
    _assert_same(truth.conserved, back.conserved, "conserved")
    _assert_same(truth.equations, back.equations, "equations")
    _assert_same(truth.extra, back.extra, "extra")
    assert back.latent_dim == truth.latent_dim and back.relevant_inputs == truth.relevant_inputs
    n_in = sampled(name, params)[1].d_in
    for sym in back.symmetries:
        for G in sym.get("generators", []):
            assert G.shape == (n_in, n_in + 1), sym["name"]
        if "transform" in sym:
            assert sym["transform"].shape in ((n_in, n_in), (n_in, n_in + 1)), sym["name"]


@pytest.mark.parametrize("name,params", [c for c in CONFIGS if c[0] != "copernicus"], ids=[i for i in IDS if not i.startswith("copernicus")])
def test_targets_equal_the_stated_equations(name, params):
    system, ds = sampled(name, params)
    names = list(ds.input_names)
    cols = ds.X
    if name == "damped_pendulum" and "k" not in names:  # hidden parameters: take them from aux
        names += ["k", "b"]
        cols = np.hstack([ds.X, ds.aux["k"][:, None], ds.aux["b"][:, None]])
    for j, target in enumerate(ds.target_names):
        predicted = evaluate(ds.truth.equations[target], names, cols)
        np.testing.assert_allclose(predicted, ds.y[:, j], rtol=1e-9, atol=1e-9 * np.abs(ds.y[:, j]).max())


@pytest.mark.parametrize(
    "name,params",
    [("harmonic_oscillator", ()), ("duffing", (("b", 2.0),)), ("kepler", ()), ("kepler", (("dim", 3),)),
     ("nbody_springs", ()),
     ("nbody_charges", ()), ("nbody_gravity", ()), ("nbody_gravity", (("dim", 3), ("n_particles", 5))),
     ("double_pendulum", ())],
)
def test_conserved_quantities_stay_constant_along_trajectories(name, params):
    _, ds = sampled(name, params)
    assert ds.state_names == ds.input_names
    for expr in ds.truth.conserved:
        values = evaluate(expr, ds.state_names, ds.trajectories)  # (n_traj, T)
        scale = np.sqrt(np.mean(values**2)) + np.std(values)
        assert scale > 1e-6, f"{expr} is trivially zero on the data"
        spread = np.ptp(values, axis=1).max() / scale
        assert spread < 1e-4, (str(expr)[:80], spread)
        # and it does vary between trajectories (otherwise the check says nothing)
        assert np.std(values[:, 0]) > 1e-3 * scale


def test_damped_pendulum_energy_decays_at_the_stated_rate():
    system, ds = sampled("damped_pendulum", ())
    extra = ds.truth.extra
    traj, times = ds.trajectories, ds.times
    k = ds.meta["trajectory_params"]["k"][:, None]
    b = ds.meta["trajectory_params"]["b"][:, None]
    theta, omega = traj[..., 0], traj[..., 1]
    E = omega**2 / 2 - k * np.cos(theta)
    np.testing.assert_allclose(
        E, evaluate(extra["energy"], ["theta", "omega", "k", "b"], np.stack([theta, omega, np.broadcast_to(k, theta.shape), np.broadcast_to(b, theta.shape)], -1)),
    )
    assert np.all(np.diff(E, axis=1) <= 1e-12)  # never gains energy
    dE_dt = np.gradient(E, times, axis=1)[:, 2:-2]
    rate = (-b * omega**2)[:, 2:-2]
    np.testing.assert_allclose(dE_dt, rate, atol=1e-2 * np.abs(rate).max())  # central differences, dt = 0.1
    # the hidden parameters are constant along each trajectory and hidden from X
    per_traj = ds.aux["k"].reshape(-1, 100)
    assert np.allclose(per_traj, per_traj[:, :1]) and ds.input_names == ["theta", "omega"]
    assert ds.truth.latent_dim == 2


def test_kepler_truth_values_match_orbital_elements():
    _, ds = sampled("kepler", (("dim", 3),))
    GM = 1.0
    names = ds.input_names
    E = evaluate(ds.truth.conserved[0], names, ds.X)
    np.testing.assert_allclose(E, -GM / (2 * ds.aux["semi_major_axis"]), rtol=1e-6)
    lrl = np.stack([evaluate(c, names, ds.X) for c in ds.truth.conserved[4:7]], -1)
    np.testing.assert_allclose(np.linalg.norm(lrl, axis=1), GM * ds.aux["eccentricity"], atol=1e-6)
    L = np.stack([evaluate(c, names, ds.X) for c in ds.truth.conserved[1:4]], -1)
    np.testing.assert_allclose(np.sum(L * lrl, axis=1), 0.0, atol=1e-6)  # A lies in the orbital plane


def test_nbody_accelerations_obey_newtons_third_law_and_the_pair_law():
    for name in ("nbody_springs", "nbody_charges", "nbody_gravity"):
        system, ds = sampled(name, ())
        pos, _, sc = system.split_inputs(ds.X)
        acc = ds.y.reshape(ds.n, system.n_particles, system.dim)
        total_force = np.sum(sc["m"][..., None] * acc, axis=1)
        assert np.abs(total_force).max() < 1e-10 * np.abs(sc["m"][..., None] * acc).max()
    # two particles alone (the other two far away and light), against the textbook laws
    far = np.array([[[0.0, 0.0], [1.5, 0.0], [0.0, 1e6], [1e6, 0.0]]])
    m = np.array([[2.0, 3.0, 1e-30, 1e-30]])
    g = get_system("nbody_gravity", G=1.0, softening=1e-8).accelerations(far, {"m": m})
    assert np.isclose(g[0, 0, 0], 3.0 / 1.5**2) and np.isclose(g[0, 1, 0], -2.0 / 1.5**2)
    q = np.array([[1.0, -2.0, 0.0, 0.0]])
    c = get_system("nbody_charges", softening=1e-8).accelerations(far, {"m": m, "q": q})
    assert np.isclose(c[0, 0, 0], 2.0 / 1.5**2 / 2.0)  # opposite charges attract
    s = get_system("nbody_springs", k=4.0, rest_length=1.0, softening=1e-8).accelerations(far[:, :2], {"m": m[:, :2]})
    assert np.isclose(s[0, 0, 0], 4.0 * 0.5 / 2.0)  # stretched by 0.5: pulled towards the partner


def test_double_pendulum_vector_field_is_hamiltons_equations_of_the_stated_energy():
    system, ds = sampled("double_pendulum", ())
    H = ds.truth.conserved[0]
    syms = sp.symbols("theta1 theta2 p1 p2", real=True)
    rhs = [sp.diff(H, syms[2]), sp.diff(H, syms[3]), -sp.diff(H, syms[0]), -sp.diff(H, syms[1])]
    for j, expr in enumerate(rhs):
        np.testing.assert_allclose(evaluate(expr, ds.input_names, ds.X[:300]), ds.y[:300, j], atol=1e-9)
    # chaos: two trajectories starting 1e-8 apart separate by orders of magnitude
    # chaos: trajectories starting 1e-8 apart separate by orders of magnitude at high energy,
    # but not near the bottom where the motion is nearly linear
    y0 = np.array([[2.0, 2.2, 0.0, 0.0], [2.0 + 1e-8, 2.2, 0.0, 0.0], [0.05, 0.05, 0.0, 0.0], [0.05 + 1e-8, 0.05, 0.0, 0.0]])
    ys = rk4(system.vector_field, y0, 2e-3, 5_000, 5_000)
    assert np.abs(ys[-1, 0] - ys[-1, 1]).max() > 1e-5
    assert np.abs(ys[-1, 2] - ys[-1, 3]).max() < 1e-6


def test_copernicus_observations_follow_the_heliocentric_model():
    _, ds = sampled("copernicus", ())
    obs = ds.truth.extra["observation_model"]
    cols = np.stack([ds.aux["phi_earth"], ds.aux["phi_mars"]], -1)
    sun = np.arctan2(evaluate(obs["sin_sun"], ["phi_earth", "phi_mars"], cols), evaluate(obs["cos_sun"], ["phi_earth", "phi_mars"], cols))
    mars = np.arctan2(evaluate(obs["sin_mars"], ["phi_earth", "phi_mars"], cols), evaluate(obs["cos_mars"], ["phi_earth", "phi_mars"], cols))
    wrap = lambda a: np.angle(np.exp(1j * a))  # noqa: E731
    assert np.abs(wrap(sun - ds.X[:, 0])).max() < 1e-9
    assert np.abs(wrap(mars - ds.X[:, 1])).max() < 1e-9
    # the Sun advances by 2 pi dt / year; Mars is sometimes retrograde
    step = wrap(ds.y - ds.X)
    np.testing.assert_allclose(step[:, 0], 2 * np.pi * 7.0 / PERIOD_EARTH_DAYS, atol=1e-9)
    assert 0.02 < np.mean(step[:, 1] < 0) < 0.3
    assert ds.truth.latent_dim == 2


def test_copernicus_cossin_sun_equation_and_window_layout():
    _, ds = sampled("copernicus", (("encoding", "cossin"), ("window", 3)))
    # the window slides: observation t1 of a sample is observation t0 of the next one in its series
    same = ds.aux["trajectory"][1:] == ds.aux["trajectory"][:-1]
    np.testing.assert_allclose(ds.X[1:, :4][same], ds.X[:-1, 4:8][same])
    np.testing.assert_allclose(ds.X[1:, 8:12][same], ds.y[:-1][same])


def test_lorentz_inputs_are_on_shell_and_finite_boosts_leave_the_invariant_unchanged():
    system, ds = sampled("lorentz_invariant", ())
    P = ds.X.reshape(ds.n, 2, 4)
    mass2 = P[..., 0] ** 2 - np.sum(P[..., 1:] ** 2, axis=-1)
    np.testing.assert_allclose(mass2, ds.aux["mass"] ** 2, rtol=1e-9, atol=1e-9)
    for G in ds.truth.symmetries[0]["generators"]:
        Lam = expm(0.7 * G[:, :-1])  # a finite rotation / boost of rapidity 0.7
        np.testing.assert_allclose(system.target_function(ds.X @ Lam.T), ds.y, rtol=1e-8, atol=1e-8)


# ----------------------------------------------------------------------------- symmetries
SYMMETRIC = [c for c in CONFIGS if c[0] not in ("copernicus",)]


@pytest.mark.parametrize("name,params", SYMMETRIC, ids=[i for i in IDS if not i.startswith("copernicus")])
def test_truth_generators_leave_the_target_invariant_or_equivariant(name, params):
    system, ds = sampled(name, params)
    f = target_function(system, ds)
    X = ds.X[:200]
    fx = f(X)
    scale = np.abs(fx).max()
    eps = 1e-5
    n_checked = 0
    for sym in ds.truth.symmetries:
        if sym["kind"] == "continuous":
            outs = sym.get("output_generators", [None] * len(sym["generators"]))
            for G, Gout in zip(sym["generators"], outs):
                v = X @ G[:, :-1].T + G[:, -1]
                derivative = (f(X + eps * v) - f(X - eps * v)) / (2 * eps)  # error O(eps^2)
                expected = 0.0 if Gout is None else fx @ Gout.T
                assert np.abs(derivative - expected).max() < 1e-5 * scale, sym["name"]
                n_checked += 1
        else:
            T = sym["transform"]
            TX = X @ T[:, : X.shape[1]].T + (T[:, -1] if T.shape[1] > T.shape[0] else 0.0)
            expected = fx @ sym["output_transform"].T if "output_transform" in sym else fx
            np.testing.assert_allclose(f(TX), expected, atol=1e-9 * scale, err_msg=sym["name"])
            n_checked += 1
    assert n_checked >= 1
    # negative control: a random linear flow is not a symmetry of the target
    rng = np.random.default_rng(1)
    A = rng.standard_normal((X.shape[1], X.shape[1]))
    v = X @ A.T
    derivative = (f(X + eps * v) - f(X - eps * v)) / (2 * eps)
    assert np.abs(derivative).max() > 1e-3 * scale


def test_nbody_permutation_moves_scalar_columns_with_their_particle():
    system, ds = sampled("nbody_charges", ())
    perm = [s for s in ds.truth.symmetries if s["name"] == "permutation"][0]["transform"]
    X = ds.X[:5]
    PX = X @ perm.T
    names = ds.input_names
    for col in ("x", "vy", "m", "q"):
        np.testing.assert_array_equal(PX[:, names.index(f"{col}0")], X[:, names.index(f"{col}1")])


# ----------------------------------------------------------------------------- bad parameters
@pytest.mark.parametrize(
    "name,params,word",
    [
        ("harmonic_oscillator", {"m": -1.0}, "m"),
        ("harmonic_oscillator", {"k": 0.0}, "k"),
        ("damped_pendulum", {"k_range": (-1.0, 2.0)}, "k_range"),
        ("damped_pendulum", {"b_range": (0.5, 0.1)}, "b_range"),
        ("kepler", {"dim": 4}, "dim"),
        ("kepler", {"GM": -1.0}, "GM"),
        ("kepler", {"target": "momentum"}, "target"),
        ("kepler", {"eccentricity_range": (0.0, 1.2)}, "eccentricity_range"),
        ("nbody_springs", {"n_particles": 3}, "n_particles"),
        ("nbody_gravity", {"n_particles": 9}, "n_particles"),
        ("nbody_charges", {"dim": 1}, "dim"),
        ("nbody_gravity", {"mass_range": (-1.0, 1.0)}, "mass_range"),
        ("nbody_gravity", {"softening": 0.0}, "softening"),
        ("double_pendulum", {"m2": -2.0}, "m2"),
        ("copernicus", {"encoding": "degrees"}, "encoding"),
        ("copernicus", {"dt_days": 0}, "dt_days"),
        ("lorentz_invariant", {"n_particles": 1}, "n_particles"),
        ("lorentz_invariant", {"quantity": "energy"}, "quantity"),
        ("lorentz_invariant", {"mass_range": (0.0, 1.0)}, "mass_range"),
    ],
)
def test_bad_parameters_raise_parameter_error_naming_the_parameter(name, params, word):
    with pytest.raises(ParameterError, match=rf"\b{word}\b"):
        get_system(name, **params)


@pytest.mark.parametrize("name", ["harmonic_oscillator", "kepler", "nbody_springs", "lorentz_invariant"])
def test_zero_samples_raise_parameter_error(name):
    with pytest.raises(ParameterError, match="samples"):
        get_system(name).sample(0)


# ----------------------------------------------------------------------------- conserved scorer
def test_conserved_scorer_accepts_functions_of_invariants_and_rejects_the_rest():
    from physlens.findings import Finding, score

    truth = get_system("kepler").truth
    x, y, vx, vy = sp.symbols("x y vx vy", real=True)
    r = sp.sqrt(x**2 + y**2)
    energy = (vx**2 + vy**2) / 2 - 1 / r
    cases = {
        "fitted energy": (1.0003 * (vx**2 + vy**2) / 2 - 0.9998 / r, True),
        "L squared": ((x * vy - y * vx) ** 2, True),
        "energy plus 3 L": (energy + 3 * (x * vy - y * vx), True),
        "radial velocity": (x * vx + y * vy, False),
        "wrong potential": ((vx**2 + vy**2) / 2 - 2 / r, False),
        "constant": (sp.Integer(3), False),
    }
    findings = [Finding("conserved", k, {"expression": e}) for k, (e, _) in cases.items()]
    score(findings, truth)
    assert {f.statement: f.match for f in findings} == {k: ok for k, (_, ok) in cases.items()}
    assert findings[0].score_detail["function_of"] == "energy"


# ----------------------------------------------------------------------------- SciNet's oscillator series
def test_oscillator_series_obeys_its_ode_released_from_rest_and_answers_at_the_question_time():
    system = get_system("damped_oscillator_series", n_observations=4001, t_max=4.0)
    ds = system.sample(6, seed=0)
    assert ds.meta["question_columns"] == ["t_q"] and ds.truth.latent_dim == 2
    x, k, b = ds.X[:, :-1], ds.aux["k"][:, None], ds.aux["b"][:, None]
    h = system.times[1] - system.times[0]
    v = (x[:, 2:] - x[:, :-2]) / (2 * h)
    a = (x[:, 2:] - 2 * x[:, 1:-1] + x[:, :-2]) / h**2
    np.testing.assert_allclose(a, -k * x[:, 1:-1] - b * v, atol=1e-5)  # x'' = -k x - b x' (central differences)
    assert system.times[0] == h
    # released from rest at x = 1: x(h) = 1 - k h^2 / 2 + O(h^3) (a velocity v0 would add v0 h)
    np.testing.assert_allclose(x[:, 0], 1 - ds.aux["k"] * h**2 / 2, atol=1e-8)
    answer = evaluate(ds.truth.extra["answer"], ["t_q", "k", "b"], np.c_[ds.X[:, -1], ds.aux["k"], ds.aux["b"]])
    np.testing.assert_allclose(ds.y[:, 0], answer, rtol=1e-12, atol=1e-12)
    back = GroundTruth.from_json(ds.truth.to_json())
    _assert_same(ds.truth.extra, back.extra, "extra")


def test_oscillator_series_refuses_overdamped_ranges_and_adds_observation_noise():
    with pytest.raises(ParameterError, match=r"\bk_range\b.*overdamped"):
        get_system("damped_oscillator_series", k_range=(0.1, 1.0), b_range=(0.5, 1.0))
    clean = get_system("damped_oscillator_series").sample(300, seed=1)
    noisy = get_system("damped_oscillator_series", observation_noise=0.05).sample(300, seed=1)
    np.testing.assert_array_equal(noisy.y, clean.y)
    assert abs(np.std(noisy.X[:, :-1] - clean.X[:, :-1]) - 0.05) < 0.005
    assert clean.X[:, -1].min() >= 0 and clean.X[:, -1].max() <= 5.0
