"""A user's own trajectory file (run, time, state columns) gives the ODE, as the built-in systems do.

The files are written here from ODEs integrated with SciPy (dense output read at
the file's time points); the loader estimates the time derivatives and the
SINDy probe (:func:`physlens.probes.equations.dynamics.discover_dynamics`)
identifies the equations, coefficient by coefficient.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import sympy as sp
from scipy.integrate import solve_ivp

from physlens.data import Dataset, load
from physlens.errors import DataError
from physlens.expressions import parse_expression
from physlens.probes.equations.dynamics import applies, derivative_data, discover_dynamics


def _oscillator(t, s):
    return [s[1], -2.0 * s[0] - 0.3 * s[1]]


def _lorenz(t, s, sigma=10.0, rho=28.0, beta=8.0 / 3.0):
    x, y, z = s
    return [sigma * (y - x), x * (rho - z) - y, x * y - beta * z]


def _write_runs(path, rhs, names, n_runs, n_points, dt, uneven, seed, x0, time_name="t", noise=0.0, shuffle=False):
    """A CSV with one row per (run, time): each run integrated from x0(rng) and read at its own time points."""
    rng = np.random.default_rng(seed)
    frames = []
    for r in range(n_runs):
        steps = dt * (rng.uniform(0.5, 1.5, n_points - 1) if uneven else np.ones(n_points - 1))
        t = np.concatenate([[0.0], np.cumsum(steps)])
        sol = solve_ivp(rhs, (0.0, t[-1]), x0(rng), dense_output=True, rtol=1e-11, atol=1e-12, method="DOP853")
        states = sol.sol(t).T
        frames.append(pd.DataFrame({"run": f"run{r:02d}", time_name: t, **{n: states[:, j] for j, n in enumerate(names)}}))
    df = pd.concat(frames, ignore_index=True)
    if noise:
        for n in names:
            df[n] += noise * df[n].std() * rng.normal(size=len(df))
    if shuffle:
        df = df.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    df.to_csv(path, index=False, float_format="%.17g")
    return df


def _coefficients(finding) -> dict[sp.Expr, float]:
    return {parse_expression(t): float(c) for t, c in finding.value["coefficients"].items()}


def _assert_ode(findings, truth: dict[str, str], tol: float):
    assert [f.subject for f in findings] == list(truth)
    for f in findings:
        true = {}
        for term in sp.Add.make_args(sp.expand(parse_expression(truth[f.subject]))):
            c, rest = term.as_coeff_Mul()
            true[rest] = float(c)
        found = _coefficients(f)
        assert set(found) == set(true), f"{f.statement}: terms {set(found)} != {set(true)}"
        err = max(abs(found[k] - c) / abs(c) for k, c in true.items())
        assert err < tol, f"{f.statement}: coefficient error {err:.2%}"


OSCILLATOR = {"x": "v", "v": "-2*x - 0.3*v"}


@pytest.fixture(scope="module")
def oscillator_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("osc") / "oscillator.csv"
    _write_runs(path, _oscillator, ["x", "v"], n_runs=20, n_points=100, dt=0.1, uneven=True, seed=0,
                x0=lambda rng: rng.uniform(-2, 2, 2))
    return path


def test_damped_oscillator_ode_is_found_from_a_file_of_uneven_runs(oscillator_file):
    ds = load(oscillator_file, groups="run", time="t")
    assert ds.input_names == ["x", "v"] and ds.target_names == ["dx_dt", "dv_dt"]
    assert ds.meta["time"] == "t" and ds.meta["groups"] == "run"
    assert ds.meta["derivatives"] == "estimated (finite differences (4th order))"
    assert ds.trajectories is None  # every run has its own time grid
    assert len(np.unique(ds.groups())) == 20 and ds.n == 20 * (100 - 4)  # 2 edge rows dropped at each end
    # the estimated derivatives are the vector field to the precision of 4th-order differences
    exact = np.array([_oscillator(0, s) for s in ds.X])
    assert np.max(np.abs(ds.y - exact)) < 1e-3 * np.abs(exact).max()
    assert applies(ds) is None
    findings = discover_dynamics(ds)
    _assert_ode(findings, OSCILLATOR, tol=0.02)
    assert all(f.evidence["mode"] == "pooled" for f in findings)
    # differenced derivatives know no coefficient better than 1e-4: v and -2 x - 0.3 v, not 0.99999 v
    assert [f.value["expression"] for f in findings] == ["v", "-0.3*v - 2*x"]


def test_noisy_oscillator_runs_give_the_ode_structure_and_coefficients_within_5_percent(tmp_path):
    path = tmp_path / "noisy.csv"
    _write_runs(path, _oscillator, ["x", "v"], n_runs=20, n_points=100, dt=0.1, uneven=True, seed=1,
                x0=lambda rng: rng.uniform(-2, 2, 2), noise=0.01)
    ds = load(path, groups="run", time="t")
    assert ds.meta["derivatives"].startswith("estimated (smoothed")
    _assert_ode(discover_dynamics(ds), OSCILLATOR, tol=0.05)


def test_lorenz_file_with_a_column_named_y_and_shuffled_rows(tmp_path):
    path = tmp_path / "lorenz.csv"

    def on_attractor(rng):  # start on the attractor: integrate a random point for 20 time units
        s0 = rng.uniform(-10, 10, 3) + [0, 0, 25]
        return solve_ivp(_lorenz, (0, 20), s0, rtol=1e-10, atol=1e-10).y[:, -1]

    _write_runs(path, _lorenz, ["x", "y", "z"], n_runs=4, n_points=500, dt=0.005, uneven=False, seed=2,
                x0=on_attractor, time_name="time", shuffle=True)
    ds = load(path, groups="run", time="time")
    assert ds.target_names == ["dx_dt", "dy_dt", "dz_dt"] and "time" not in ds.input_names
    assert ds.trajectories.shape == (4, 500, 3) and ds.state_names == ["x", "y", "z"]  # one grid: kept whole
    assert np.all(np.diff(ds.times) > 0)
    findings = discover_dynamics(ds)
    truth = {"x": "-10*x + 10*y", "y": "28*x - x*z - y", "z": "x*y - 8*z/3"}
    _assert_ode(findings, truth, tol=0.02)
    # the coefficients are rounded within what the differenced derivatives leave unknown: -y, not -0.99996*y
    # (a term small beside the target is known only to the bias over its own size)
    for f in findings:
        assert sp.expand(parse_expression(f.value["expression"]) - parse_expression(truth[f.subject])) == 0, f.statement


def test_a_target_given_with_time_is_kept_and_the_dynamics_still_come_from_the_rows(oscillator_file, tmp_path):
    df = pd.read_csv(oscillator_file)
    df["E"] = 0.5 * df["v"] ** 2 + df["x"] ** 2
    path = tmp_path / "with_energy.csv"
    df.sample(frac=1.0, random_state=0).to_csv(path, index=False, float_format="%.17g")
    ds = load(path, target="E", groups="run", time="t")
    assert ds.target_names == ["E"] and ds.input_names == ["x", "v"] and ds.n == len(df)
    assert ds.trajectories is None and "derivatives" not in ds.meta
    t, g = ds.aux["time"], ds.groups()
    assert np.all((np.diff(t) > 0) | (np.diff(g) != 0))  # sorted by (run, time)
    assert applies(ds) is None
    data = derivative_data(ds)  # no d<state>_dt target: the rows are differentiated run by run
    assert data.state_names == ["x", "v"] and data.source == "finite differences (4th order)"
    _assert_ode(discover_dynamics(ds), OSCILLATOR, tol=0.02)


def test_a_single_trajectory_without_groups_and_a_per_run_parameter(tmp_path):
    rng = np.random.default_rng(3)
    rows = []
    for r, k in enumerate([1.0, 2.0, 3.0]):
        t = np.linspace(0, 6, 60)
        sol = solve_ivp(lambda _, s: [s[1], -k * s[0]], (0, 6), rng.uniform(-1, 1, 2), dense_output=True,
                        rtol=1e-11, atol=1e-12)
        q, p = sol.sol(t)
        rows += [{"run": r, "k": k, "t": ti, "q": qi, "p": pi} for ti, qi, pi in zip(t, q, p)]
    df = pd.DataFrame(rows)
    one = tmp_path / "one.csv"
    df[df.run == 1].drop(columns=["run", "k"]).to_csv(one, index=False, float_format="%.17g")
    ds = load(one, time="t", units="q=m,p=m/s,t=s")
    assert ds.meta["groups"] is None and set(ds.groups()) == {0} and ds.trajectories.shape == (1, 60, 2)
    assert ds.units["dq_dt"] == "(m)/(s)" and ds.meta["time_unit"] == "s" and "t" not in ds.units
    _assert_ode(discover_dynamics(ds), {"q": "p", "p": "-2*q"}, tol=0.01)
    # k is constant along each run: a parameter, an input without a derivative
    many = tmp_path / "many.csv"
    df.to_csv(many, index=False, float_format="%.17g")
    ds = load(many, groups="run", time="t")
    assert ds.input_names == ["k", "q", "p"] and ds.target_names == ["dq_dt", "dp_dt"]
    assert ds.meta["parameters"] == ["k"]
    dq, dp = discover_dynamics(ds)
    k, q = sp.symbols("k q", real=True)
    assert set(_coefficients(dp)) == {k * q} and abs(_coefficients(dp)[k * q] + 1) < 0.01


def test_trajectory_dataset_round_trips_through_npz(oscillator_file, tmp_path):
    ds = load(oscillator_file, groups="run", time="t")
    ds.to_npz(tmp_path / "d.npz")
    back = Dataset.from_npz(tmp_path / "d.npz")
    assert np.array_equal(back.aux["time"], ds.aux["time"]) and np.array_equal(back.groups(), ds.groups())
    assert back.meta == ds.meta and back.state_names == ds.state_names
    assert applies(back) is None
    lorenz = tmp_path / "grid.csv"
    _write_runs(lorenz, _oscillator, ["x", "v"], n_runs=3, n_points=40, dt=0.1, uneven=False, seed=4,
                x0=lambda rng: rng.uniform(-1, 1, 2))
    ds = load(lorenz, groups="run", time="t")
    ds.to_npz(tmp_path / "g.npz")
    back = Dataset.from_npz(tmp_path / "g.npz")
    assert np.array_equal(back.trajectories, ds.trajectories) and np.array_equal(back.times, ds.times)


def test_a_plain_table_does_not_apply_and_says_what_to_give():
    from physlens.systems import get_system

    assert applies(get_system("toy_distractor").sample(50)) == "no trajectories: give --time (and --groups) for a trajectory file"


def _bad(text, tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    return p


def _runs_text(lengths, dup=None, bad_time=None):
    lines = ["run,t,x,v"]
    for r, n in enumerate(lengths):
        for k in range(n):
            t = 0.1 * k
            if dup == (r, k):
                t = 0.1 * (k - 1)
            if bad_time == (r, k):
                t = "soon"
            lines.append(f"r{r},{t},{np.cos(0.1 * k + r)},{-np.sin(0.1 * k + r)}")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    "text, kwargs, message",
    [
        (_runs_text([10, 10, 10]), {"groups": "run", "time": "time"}, "time column 'time' not found in bad.csv"),
        (_runs_text([10, 10, 10], bad_time=(1, 4)), {"groups": "run", "time": "t"},
         "column 't' has a non-numeric value 'soon' in row 15"),
        (_runs_text([10, 10, 10], dup=(2, 6)), {"groups": "run", "time": "t"},
         "run 'r2' \\('run' column\\) has two rows at time 0.5 \\(rows 26 and 27\\)"),
        (_runs_text([10, 3, 10]), {"groups": "run", "time": "t"},
         "runs with fewer than 5 time points cannot be differentiated: 'r1' \\(3 rows\\)"),
        (_runs_text([10, 10, 10]), {"groups": "run", "time": "t", "inputs": "t,x"},
         "column 't' is both the time column and an input"),
        (_runs_text([10, 10, 10]), {"groups": "t", "time": "t"}, "both the time and the groups column"),
    ],
)
def test_bad_trajectory_files_give_a_one_line_error(tmp_path, text, kwargs, message):
    with pytest.raises(DataError, match=message) as err:
        load(_bad(text, tmp_path), **kwargs)
    assert "\n" not in str(err.value)


def test_non_finite_time_is_named(tmp_path):
    text = _runs_text([10, 10, 10]).replace("r1,0.2,", "r1,nan,")
    with pytest.raises(DataError, match="column 't' has NaN in row 13"):
        load(_bad(text, tmp_path), groups="run", time="t")
