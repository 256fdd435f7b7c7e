"""2-D Ising Monte Carlo against Onsager's exact solution, and the ising_2d system contract."""

from __future__ import annotations

import json

import numpy as np
import pytest
import sympy as sp
from scipy.special import ellipk

from physlens.errors import ParameterError
from physlens.findings import GroundTruth
from physlens.systems import get_system
from physlens.systems.statistical.ising import T_CRITICAL, energy_per_site, onsager_magnetisation, simulate


def onsager_energy(T: float) -> float:
    """Exact energy per site of the infinite square-lattice Ising model (J = 1)."""
    b = 1.0 / T
    k = 2 * np.sinh(2 * b) / np.cosh(2 * b) ** 2
    return float(-1 / np.tanh(2 * b) * (1 + 2 / np.pi * (2 * np.tanh(2 * b) ** 2 - 1) * ellipk(k**2)))


@pytest.mark.parametrize("algorithm", ["swendsen_wang", "metropolis"])
def test_magnetisation_at_L32_matches_onsager_below_tc_within_two_percent(algorithm):
    T = np.array([1.8, 2.0, 3.0])
    conf = simulate(32, T, 150, np.random.default_rng(7), algorithm, n_equilibrate=300, n_between=1)
    m_abs = np.abs(conf.mean(axis=(2, 3))).mean(axis=1)
    exact = onsager_magnetisation(T[:2])
    np.testing.assert_allclose(m_abs[:2], exact, rtol=0.02)
    assert m_abs[2] < 0.15  # disordered well above T_c (finite-size |m| ~ 1/L)


def test_energy_per_site_at_L32_matches_onsager_away_from_tc():
    T = np.array([1.8, 3.0])
    conf = simulate(32, T, 150, np.random.default_rng(3), "swendsen_wang", n_equilibrate=200, n_between=1)
    e = np.array([energy_per_site(c).mean() for c in conf])
    np.testing.assert_allclose(e, [onsager_energy(t) for t in T], rtol=0.01)


def test_ising_dataset_orders_below_and_disorders_above_the_critical_temperature():
    ds = get_system("ising_2d", L=16, n_temperatures=10).sample(1000, seed=0)
    T, m = ds.aux["temperature"], ds.aux["abs_magnetisation"]
    assert m[T < 2.0].mean() > 0.85 and m[T > 2.8].mean() < 0.2
    np.testing.assert_allclose(np.abs(ds.X.mean(axis=1)), m)
    np.testing.assert_array_equal(ds.y[:, 0], T)
    phase = get_system("ising_2d", L=8, n_temperatures=4, target="phase").sample(80, seed=1)
    np.testing.assert_array_equal(phase.y[:, 0], (phase.aux["temperature"] < T_CRITICAL).astype(float))


def test_ising_truth_has_tc_z2_and_translations_acting_on_the_spins():
    s = get_system("ising_2d", L=6)
    truth = s.truth
    assert abs(truth.critical_points["T_c"] - 2.269185) < 1e-5
    ds = s.sample(50, seed=2)
    e0 = energy_per_site(ds.X.reshape(-1, 6, 6))
    for sym in truth.symmetries:
        Xt = ds.X @ sym["transform"].T
        np.testing.assert_allclose(energy_per_site(Xt.reshape(-1, 6, 6)), e0)  # the Hamiltonian is invariant
    back = GroundTruth.from_json(json.dumps(json.loads(truth.to_json())))
    assert back.to_json() == truth.to_json()
    assert float(back.extra["magnetisation_exact"].subs(sp.Symbol("T", real=True), 2.0)) == pytest.approx(0.91132, abs=1e-4)


def test_ising_default_sample_has_its_size():
    ds = get_system("ising_2d").sample(seed=0)
    assert ds.n == 2000 and ds.d_in == 256


@pytest.mark.parametrize(
    "params, word",
    [({"L": 200}, "L"), ({"T_range": (-1.0, 2.0)}, "T_range"), ({"temperatures": [2.0, -1.0]}, "temperatures"),
     ({"algorithm": "wolff"}, "algorithm"), ({"target": "energy"}, "target"), ({"n_between": 0}, "n_between")],
)
def test_bad_ising_parameters_raise_a_parameter_error_naming_them(params, word):
    with pytest.raises(ParameterError, match=word):
        get_system("ising_2d", **params)
    with pytest.raises(ParameterError, match="samples"):
        get_system("ising_2d").sample(0)
