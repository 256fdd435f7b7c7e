"""The conservation probe: how many conserved quantities from trajectories, which in closed form from the emulator."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
import torch

from physlens.findings import Finding, GroundTruth, score
from physlens.models import build_model
from physlens.probes import conservation
from physlens.probes.conservation.closed_forms import TrajectoryScatter, read_forms
from physlens.probes.conservation.count import noise_scale, poincare_count, trajectory_count
from physlens.probes.conservation.library import Library, build_library, state_map
from physlens.systems import get_system
from physlens.train import TrainConfig, fit


def _count_from_data(ds):
    smap = state_map(ds)
    lib = build_library(ds, smap)
    V, G = lib.values_and_gradients(ds.X, wrt=smap.state)
    return trajectory_count(V, G, ds.groups())


def _trained(ds, epochs):
    return fit(build_model("mlp", ds, width=64, depth=3), ds, TrainConfig(epochs=epochs, progress=False, seed=0))


def test_probe_applies_to_trajectories_of_a_flow_only():
    assert conservation.applies(get_system("kepler", dim=2, points_per_trajectory=10).sample(200)) is None
    assert "trajectories" in conservation.applies(get_system("toy_distractor").sample(50))
    assert conservation.applies(get_system("kepler", target="energy", points_per_trajectory=10).sample(200)) is not None
    assert conservation.applies(get_system("nbody_springs").sample(100)) is None  # positions move with the velocities


@pytest.mark.parametrize("system, params, expected", [
    ("harmonic_oscillator", {"points_per_trajectory": 20}, 1),
    ("kepler", {"dim": 2, "points_per_trajectory": 10}, 3),
    ("kepler", {"dim": 3, "points_per_trajectory": 10}, 5),
    ("damped_pendulum", {"points_per_trajectory": 20}, 0),
    ("lorenz", {"steps": 20}, 0),
])
def test_count_from_trajectories_alone_matches_the_known_number(system, params, expected):
    ds = get_system(system, **params).sample(1000, seed=1)
    got = _count_from_data(ds)
    assert got.count == expected, (got.count, got.spectrum[:8], got.notes)


def test_count_survives_one_percent_noise_on_the_states():
    ds = get_system("kepler", dim=2, points_per_trajectory=10).sample(1000, seed=2)
    ds.X = ds.X + 0.01 * ds.X.std(axis=0) * np.random.default_rng(0).standard_normal(ds.X.shape)
    assert _count_from_data(ds).count == 3


def test_local_pca_baseline_sees_a_closed_orbit_as_one_dimensional():
    t = np.linspace(0, 2 * np.pi, 40, endpoint=False)
    orbits = [np.stack([r * np.cos(t), np.sin(t) / r], axis=1) for r in (0.6, 1.0, 1.4)]
    assert poincare_count(orbits)[0] == 1


def test_harmonic_oscillator_energy_is_read_from_the_emulator_in_closed_form():
    ds = get_system("harmonic_oscillator", points_per_trajectory=20).sample(600, seed=0)
    res = _trained(ds, 150)
    found = conservation.run(res.model, ds, heldout=res.val_index)
    conserved = [f for f in found if f.kind == "conserved"]
    assert [f.value["expression"] for f in conserved] == ["p**2 + q**2"]
    assert conserved[0].value["relative_variation"] < 1e-6
    assert conserved[0].value["noether"]["symmetry"] == "time translation"  # its Hamiltonian flow is the flow
    score(found, ds.truth)
    assert conserved[0].match is True


class _PerturbedKeplerField(torch.nn.Module):
    """The exact 2-D Kepler flow times (1 + 1 % smooth error): an emulator with a known, realistic error."""

    def forward(self, x):
        r, v = x[:, :2], x[:, 2:]
        acc = -r / (r * r).sum(dim=1, keepdim=True) ** 1.5
        wobble = 1.0 + 0.01 * torch.sin(3.0 * x[:, :1] + 2.0 * x[:, 3:4])
        return torch.cat([v, acc], dim=1) * wobble


def test_kepler_energy_angular_momentum_and_runge_lenz_are_read_independent_from_a_flow():
    ds = get_system("kepler", dim=2, points_per_trajectory=10).sample(2000, seed=0)
    model = _PerturbedKeplerField().double()
    heldout = np.flatnonzero(ds.groups() >= 160)
    found = conservation.run(model, ds, heldout=heldout)
    conserved = [f for f in found if f.kind == "conserved"]
    score(found, ds.truth)
    assert len(conserved) == 3, [f.statement for f in found]
    assert all(f.match for f in conserved), [(f.value["expression"], f.score_detail) for f in conserved]
    names = {f.score_detail.get("function_of") for f in conserved}
    assert {"energy", "L_z"} <= names and names & {"A_x", "A_y"}, names  # the second A component is a function of these
    assert "vx**2 + vy**2 - 2/sqrt(x**2 + y**2)" in [f.value["expression"] for f in conserved]
    count = next(f for f in found if f.kind == "quality")
    assert count.value["count_from_trajectories"] == 3 and count.value["agree"]


class _NoEmulator:
    """An emulator that predicts nothing (100 % error): only the data's own null bases can give closed forms."""

    def __init__(self, d_out):
        self.d_out = d_out

    def predict(self, X):
        return np.zeros((len(X), self.d_out))


def _noisy(ds, level, seed=0):
    """Gaussian noise of ``level`` times each column's spread on the states (masses kept exact) and the targets."""
    rng = np.random.default_rng(seed)
    keep = [j for j, n in enumerate(ds.input_names) if n.startswith("m") and n[1:].isdigit()]
    exact = ds.X[:, keep].copy()
    ds.X = ds.X + level * ds.X.std(axis=0) * rng.standard_normal(ds.X.shape)
    ds.X[:, keep] = exact
    ds.y = ds.y + level * np.sqrt(np.mean(ds.y**2, axis=0)) * rng.standard_normal(ds.y.shape)
    return ds


def _held_out(ds):
    g = ds.groups()
    return np.flatnonzero(np.isin(g, np.unique(g)[::5]))


def test_noise_floor_estimated_from_the_trajectories_is_the_added_noise():
    ds = _noisy(get_system("nbody_springs", points_per_trajectory=20).sample(1000, seed=0), 0.01)
    smap = state_map(ds)
    states = ds.X[:, smap.state]
    sigma = noise_scale(states, ds.groups(), ds.aux.get("t"))
    assert np.all(np.abs(sigma / states.std(axis=0) / 0.01 - 1.0) < 0.2), sigma / states.std(axis=0)


def test_noisy_n_body_count_is_momentum_angular_momentum_and_energy():
    ds = _noisy(get_system("nbody_springs", points_per_trajectory=20).sample(4000, seed=1), 0.01)
    smap = state_map(ds)
    lib = build_library(ds, smap)
    V, G = lib.values_and_gradients(ds.X, wrt=smap.state)
    sd = ds.X[:, smap.state].std(axis=0)
    sigma = noise_scale(ds.X[:, smap.state], ds.groups(), ds.aux.get("t")) / sd
    got = trajectory_count(V, G * sd[None, None, :], ds.groups(), sigma=sigma)
    assert got.count == 4, (got.spectrum[:8], got.notes)  # P_x, P_y, L, E (the fixed x20 gap counted 0 here)


def test_kepler_closed_forms_come_from_the_data_when_the_emulator_is_useless():
    ds = _noisy(get_system("kepler", dim=2, points_per_trajectory=20).sample(2000, seed=2), 0.01)
    found = conservation.run(_NoEmulator(ds.d_out), ds, heldout=_held_out(ds))
    conserved = [f for f in found if f.kind == "conserved"]
    score(found, ds.truth)
    assert len(conserved) == 3 and all(f.match for f in conserved), [f.value["expression"] for f in conserved]
    assert {f.evidence["source"] for f in conserved} <= {"derivatives", "trajectories"}
    assert "-vx*y + vy*x" in [f.value["expression"] for f in conserved]


def test_an_orbit_file_without_a_particle_layout_gets_its_radial_terms_from_the_flow():
    """A user's (x, y, vx, vy) file declares no particles: dx/dt = vx marks the positions, and 1/|r| joins."""
    from physlens.probes.conservation.library import kinematic_positions

    ds = get_system("kepler", dim=2, points_per_trajectory=20).sample(2000, seed=2)
    ds.meta = {k: v for k, v in ds.meta.items() if k != "particles"}
    assert [ds.input_names[j] for j in kinematic_positions(ds, state_map(ds))] == ["x", "y"]
    found = conservation.run(_NoEmulator(ds.d_out), ds, heldout=_held_out(ds))
    exprs = [f.value["expression"] for f in found if f.kind == "conserved"]
    assert len(exprs) == 3 and "vx**2 + vy**2 - 2/sqrt(x**2 + y**2)" in exprs, exprs
    # a linear flow (dv/dt = -x as well as dx/dt = v) names no positions: no radial terms for an oscillator
    osc = get_system("harmonic_oscillator").sample(200, seed=0)
    assert kinematic_positions(osc, state_map(osc)) == []


def _flow_file(rhs, names, seed, runs=20, steps=60, span=8.0):
    """Trajectories of dx/dt = rhs(x) as a user's file gives them: states, exact derivatives, run and time."""
    from scipy.integrate import solve_ivp

    from physlens.data.dataset import Dataset

    rng = np.random.default_rng(seed)
    ts = np.linspace(0, span, steps)
    X, run = [], []
    for r in range(runs):
        y0 = [rng.uniform(-1.5, 1.5), rng.uniform(-1.0, 1.0)]
        sol = solve_ivp(lambda t, y: rhs(y), (0, span), y0, t_eval=ts, rtol=1e-11, atol=1e-12)
        X.append(sol.y.T)
        run.append(np.full(steps, r))
    X = np.concatenate(X)
    Y = np.array([rhs(x) for x in X])
    return Dataset(X, Y, names, [f"d{n}_dt" for n in names],
                   aux={"trajectory": np.concatenate(run), "time": np.tile(ts, runs)})


@pytest.mark.parametrize("case", ["duffing", "pendulum named q"])
def test_a_quantity_outside_the_default_library_is_found_in_a_wider_one(case):
    """The count falls short of the local-PCA count: quartic terms (Duffing) or the position as an angle."""
    q, p = sp.symbols("q p", real=True)
    if case == "duffing":
        ds = _flow_file(lambda y: [y[1], -y[0] - y[0] ** 3], ["q", "p"], seed=3)
        energy = p**2 / 2 + q**2 / 2 + q**4 / 4
    else:  # nothing in the names says q is an angle
        ds = _flow_file(lambda y: [y[1], -np.sin(y[0])], ["q", "p"], seed=4)
        energy = p**2 / 2 - sp.cos(q)
    found = conservation.run(_NoEmulator(ds.d_out), ds, heldout=_held_out(ds))
    exprs = [f.value["expression"] for f in found if f.kind == "conserved"]
    assert len(exprs) == 1, exprs
    from physlens.expressions import parse_expression

    ratio = sp.simplify(sp.diff(parse_expression(exprs[0], ["q", "p"]), p) / sp.diff(energy, p))
    assert ratio.free_symbols == set() and sp.simplify(
        sp.diff(parse_expression(exprs[0], ["q", "p"]), q) - ratio * sp.diff(energy, q)) == 0, exprs
    summary = next(f for f in found if f.kind == "quality")
    assert any(w.endswith("(kept)") for w in summary.evidence["library_widenings"])


def test_a_mix_of_energy_and_angular_momentum_is_polished_back_to_the_energy():
    ds = get_system("kepler", dim=2, points_per_trajectory=20).sample(1000, seed=0)
    x, y, vx, vy = sp.symbols("x y vx vy", real=True)
    terms = [vx**2, vy**2, 1 / sp.sqrt(x**2 + y**2), x * vy, y * vx]
    lib = Library(terms, ds.input_names)
    V, G = lib.values_and_gradients(ds.X)
    scatter = TrajectoryScatter(V, ds.groups())
    E, L = np.array([1.0, 1.0, -2.0, 0.0, 0.0]), np.array([0.0, 0.0, 0.0, 1.0, -1.0])
    mixed = E / scatter.norm(E) + 0.3 * L / scatter.norm(L)  # energy plus 30 % angular momentum (in spread)
    kept, _ = read_forms(mixed[:, None], terms, scatter, lambda c: np.einsum("nkd,k->nd", G[:200], c))
    assert [str(q.expression) for q in kept] == ["vx**2 + vy**2 - 2/sqrt(x**2 + y**2)"]


@pytest.mark.parametrize("noise", [0.0, 0.01])
def test_double_pendulum_energy_is_found_over_a_denominator_fitted_to_the_trajectories(noise):
    ds = get_system("double_pendulum", points_per_trajectory=20).sample(4000, seed=1)
    if noise:
        ds = _noisy(ds, noise)
    found = conservation.run(_NoEmulator(ds.d_out), ds, heldout=_held_out(ds))
    quality = next(f for f in found if f.kind == "quality")
    assert quality.evidence["rational_denominator"]["beta"] == "-1/2"  # m1 + m2 sin^2 = (m1 + m2)(1 - cos^2 / 2)
    conserved = [f for f in found if f.kind == "conserved"]
    score(found, ds.truth)
    assert quality.value["count_from_trajectories"] == 1
    assert len(conserved) == 1 and conserved[0].match, [f.value["expression"] for f in conserved]


def test_no_conserved_quantity_on_noisy_lorenz_or_damped_pendulum_from_the_data():
    for ds in (get_system("lorenz", steps=20).sample(1000, seed=2),
               get_system("damped_pendulum", points_per_trajectory=20).sample(1000, seed=2)):
        ds = _noisy(ds, 0.01)
        found = conservation.run(_NoEmulator(ds.d_out), ds, heldout=_held_out(ds))
        assert [f.statement for f in found if f.kind == "conserved"] == []
        assert next(f for f in found if f.kind == "quality").value["count_from_trajectories"] == 0


def test_learned_hamiltonian_of_a_hamiltonian_network_reads_as_the_energy():
    ds = get_system("harmonic_oscillator", points_per_trajectory=20).sample(600, seed=0)
    model = fit(build_model("hamiltonian", ds), ds, TrainConfig(epochs=60, progress=False, seed=0)).model
    count = next(f for f in conservation.run(model, ds) if f.kind == "quality")
    learned = count.value["learned_hamiltonian"]
    q, p = sp.symbols("q p", real=True)
    from physlens.expressions import parse_expression
    from physlens.scoring.conserved import dependence_residual

    assert learned["r2"] > 0.99
    assert dependence_residual(parse_expression(learned["expression"]), [p**2 + q**2])[0] < 0.05


def test_no_conserved_quantity_on_lorenz():
    ds = get_system("lorenz", steps=20).sample(1000, seed=0)
    res = _trained(ds, 120)
    found = conservation.run(res.model, ds, heldout=res.val_index)
    assert [f.statement for f in found if f.kind == "conserved"] == []


def test_angular_momentum_pairs_with_the_rotation_found_by_the_symmetry_probe():
    ds = get_system("kepler", dim=2, points_per_trajectory=10).sample(400, seed=0)
    pts = ds.X[:100]
    x, y, vx, vy = pts.T
    grad_L = np.stack([vy, -vx, -y, x], axis=1)  # L = x vy - y vx
    rotation = np.zeros((4, 5))
    rotation[0, 1], rotation[1, 0], rotation[2, 3], rotation[3, 2] = -1, 1, -1, 1
    sym = Finding("symmetry", "rotations", {"group": "so(2)", "generators": [rotation]}, probe="symmetry")
    pair = conservation.noether_pairs([None], [grad_L], pts, ds.y[:100], ds, [0, 1, 2, 3], [sym])[0]
    assert pair["symmetry"] == "so(2)" and pair["residual"] < 1e-9


def test_conserved_scorer_reads_text_and_rejects_a_non_invariant():
    q, p = sp.symbols("q p", real=True)
    truth = GroundTruth(conserved=[p**2 / 2 + q**2 / 2])
    good = Finding("conserved", "E", {"expression": "3*p**2 + 3*q**2 + 1"})
    bad = Finding("conserved", "qp", {"expression": "q*p"})
    score([good, bad], truth)
    assert good.match is True and bad.match is False


def test_conserved_scorer_never_uses_lambdify():
    import physlens.scoring.conserved as scorer

    assert "lambdify(" not in Path(scorer.__file__).read_text()


# --------------------------------------------------------------------------- command line
def _trajectory_csv(path: Path, runs: int = 12, points: int = 25, edit=None) -> Path:
    ds = get_system("harmonic_oscillator", points_per_trajectory=points).sample(runs * points, seed=3)
    lines = ["run,t,q,p"] + [f"r{g},{t:.6f},{q:.8f},{p:.8f}" for g, t, (q, p)
                             in zip(ds.aux["trajectory"], ds.aux["t"], ds.X)]
    if edit is not None:
        lines = edit(lines)
    path.write_text("\n".join(lines) + "\n")
    return path


def _swap(lines):
    return [lines[0], lines[2], lines[1], *lines[3:]]


def _nan(lines):
    parts = lines[4].split(",")
    parts[2] = "nan"
    return lines[:4] + [",".join(parts)] + lines[5:]


def _repeat(lines):
    a, b = lines[3].split(","), lines[4].split(",")
    b[1] = a[1]
    return lines[:4] + [",".join(b)] + lines[5:]


def _single_point(lines):
    return lines + ["lonely,0.0,0.5,0.5"]


BAD_FILES = {
    "one_run": (lambda lines: lines[:26], "only one run ('r0') in column 'run'"),
    "unsorted": (_swap, "run 'r0' has unsorted times"),
    "repeated": (_repeat, "run 'r0' has a repeated time"),
    "one_point": (_single_point, "runs of one point in column 'run': 'lonely'"),
    "nan": (_nan, "column 'q' has NaN in row 4"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_conserved_command_rejects_bad_trajectory_files_in_one_line(case, tmp_path, monkeypatch, capsys):
    from physlens.cli import main

    edit, message = BAD_FILES[case]
    path = _trajectory_csv(tmp_path / f"{case}.csv", edit=edit)
    monkeypatch.setattr(sys, "argv", ["physlens", "conserved", str(path), "--groups", "run", "--time", "t", "--json"])
    with pytest.raises(SystemExit) as exc:
        main()
    err = capsys.readouterr()
    assert exc.value.code == 2 and err.out == ""
    assert err.err.count("\n") == 1 and message in err.err, err.err


@pytest.mark.slow
def test_conserved_command_prints_one_json_object_with_the_energy(tmp_path):
    from tests.conftest import run_cli

    path = _trajectory_csv(tmp_path / "osc.csv")
    proc = run_cli("conserved", str(path), "--groups", "run", "--time", "t", "--json", "--budget", "quick",
                   "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert set(out) == {"findings", "run_dir"}
    exprs = [f["value"]["expression"] for f in out["findings"] if f["kind"] == "conserved"]
    assert len(exprs) == 1
    q, p = sp.symbols("q p", real=True)
    from physlens.expressions import parse_expression
    from physlens.scoring.conserved import dependence_residual

    assert dependence_residual(parse_expression(exprs[0], ["q", "p"]), [p**2 + q**2])[0] < 1e-2


@pytest.mark.parametrize("seed", [0, 2])
def test_noisy_n_body_probe_reads_all_four_quantities_from_its_whole_trajectory_sample(seed):
    # 200 trajectories, 106 library terms: a 150-trajectory row subsample counted 3 (seed 0) and 0 (seed 2)
    ds = _noisy(get_system("nbody_springs", points_per_trajectory=20).sample(4000, seed=seed), 0.01, seed=seed)
    found = conservation.run(_NoEmulator(ds.d_out), ds, heldout=_held_out(ds), seed=seed)
    quality = next(f for f in found if f.kind == "quality")
    assert quality.evidence["rows"] == 4000  # every trajectory, every point
    assert quality.value["count_from_trajectories"] == 4, quality.evidence["notes"]
    conserved = [f for f in found if f.kind == "conserved"]
    score(found, ds.truth)
    assert len(conserved) == 4 and all(f.match for f in conserved), [f.value["expression"] for f in conserved]


def test_probe_sample_keeps_whole_trajectories_and_thins_long_ones_evenly():
    groups = np.repeat(np.arange(50), 40)
    rows = conservation.trajectory_sample(groups, 20, np.random.default_rng(0))
    assert len(np.unique(groups[rows])) == 20 and len(rows) == 20 * 40
    thin = conservation.thin_trajectories(rows, groups, 200)
    assert len(thin) == 200 and all(np.sum(groups[thin] == g) == 10 for g in np.unique(groups[rows]))
    first = thin[groups[thin] == groups[thin[0]]]
    assert np.all(np.diff(first) >= 4) and first[-1] - first[0] == 39  # evenly spaced, first to last point


def test_held_out_floor_is_widened_by_the_fit_optimism_of_terms_per_trajectory():
    from physlens.probes.conservation.count import heldout_inflation

    assert heldout_inflation(106, 75) == pytest.approx(1 + 106 / 75)
    assert heldout_inflation(5, 1000) < 1.01  # few terms, many trajectories: the plain floor


def test_a_conserved_finding_on_a_system_that_conserves_nothing_is_spurious():
    from physlens.scoring.coverage import coverage

    claim = {"expression": "x**2 + y**2 + z**2"}
    lorenz = get_system("lorenz").truth
    assert lorenz.conserved == [] and lorenz.extra["conserved_complete"]
    f = Finding("conserved", "a sphere", claim)
    score([f], lorenz)
    assert f.match is False and "conserves nothing" in f.score_detail["reason"]
    assert coverage([f], lorenz)["conserved"]["spurious"] == 1
    # damped pendulum: complete only while every trajectory is damped and no parameter is an input
    assert get_system("damped_pendulum").truth.extra["conserved_complete"]
    observed = get_system("damped_pendulum", observe_params=True).truth  # k and b are constant inputs
    g = Finding("conserved", "the stiffness", {"expression": "k"})
    score([g], observed)
    assert g.match is None
    undamped = get_system("damped_pendulum", b_range=(0.0, 0.5)).truth
    assert not undamped.extra["conserved_complete"]


def test_built_in_hamiltonian_systems_declare_their_conserved_list_complete():
    for name, params in [("harmonic_oscillator", {}), ("kepler", {"dim": 2}), ("kepler", {"dim": 3}),
                         ("double_pendulum", {})]:
        truth = get_system(name, **params).truth
        assert truth.conserved and truth.extra["conserved_complete"], name
    # the Kepler radial velocity is not conserved: spurious there, as before
    f = Finding("conserved", "radial velocity", {"expression": "x*vx + y*vy"})
    score([f], get_system("kepler", dim=2).truth)
    assert f.match is False


class _LotkaVolterraField(torch.nn.Module):
    """The exact Lotka-Volterra flow (dx/dt, dy/dt) = (a x - b x y, d x y - c y) as an emulator."""

    def __init__(self, a, b, c, d):
        super().__init__()
        self.a, self.b, self.c, self.d = a, b, c, d

    def forward(self, X):
        x, y = X[:, :1], X[:, 1:]
        return torch.cat([self.a * x - self.b * x * y, self.d * x * y - self.c * y], dim=1)


def test_lotka_volterra_quantity_is_read_with_the_logarithms_of_the_populations():
    a, b, c, d = 1.5, 0.8, 0.6, 0.3  # not the system's defaults
    ds = get_system("lotka_volterra", alpha=a, beta=b, gamma=c, delta=d, points_per_trajectory=25).sample(1500, seed=3)
    found = conservation.run(_LotkaVolterraField(a, b, c, d).double(), ds, heldout=np.flatnonzero(ds.groups() >= 50))
    conserved = [f for f in found if f.kind == "conserved"]
    assert len(conserved) == 1, [f.statement for f in found]
    x, y = sp.symbols("x y", positive=True)
    got = sp.sympify(conserved[0].value["expression"], locals={"x": x, "y": y})
    truth = d * x - c * sp.log(x) + b * y - a * sp.log(y)
    ratio = sp.nsimplify(sp.simplify(got / truth), tolerance=1e-6, rational=True)
    assert ratio.is_number, (got, ratio)  # the same quantity up to a constant factor
    score(found, ds.truth)
    assert conserved[0].match is True


def _sir_dataset(beta=0.5, gamma=0.2, n_traj=30, T=40, seed=0):
    """SIR epidemics with populations that differ between runs: S + I + R and R + (gamma/beta) ln S conserved."""
    from scipy.integrate import solve_ivp

    from physlens.data.dataset import Dataset

    rng = np.random.default_rng(seed)
    times = np.linspace(0.0, 30.0, T)
    trajs = []
    for _ in range(n_traj):
        z0 = [rng.uniform(0.4, 1.0), rng.uniform(0.01, 0.3), rng.uniform(0.0, 0.2)]
        sol = solve_ivp(lambda t, z: [-beta * z[0] * z[1], beta * z[0] * z[1] - gamma * z[1], gamma * z[1]],
                        (0.0, times[-1]), z0, t_eval=times, rtol=1e-11, atol=1e-12)
        trajs.append(sol.y.T)
    traj = np.stack(trajs)
    X = traj.reshape(-1, 3)
    S, I = X[:, 0], X[:, 1]
    Y = np.stack([-beta * S * I, beta * S * I - gamma * I, gamma * I], axis=1)
    aux = {"trajectory": np.repeat(np.arange(n_traj), T), "t": np.tile(times, n_traj)}
    return Dataset(X, Y, ["S", "I", "R"], ["dS_dt", "dI_dt", "dR_dt"], trajectories=traj, times=times,
                   state_names=["S", "I", "R"], aux=aux)


class _SIRField(torch.nn.Module):
    def forward(self, X):
        S, I = X[:, :1], X[:, 1:2]
        return torch.cat([-0.5 * S * I, 0.5 * S * I - 0.2 * I, 0.2 * I], dim=1)


def test_sir_reads_the_total_population_plainly_beside_its_powers():
    """S + I + R, (S + I + R)^2 and (S + I + R)^3 all lie in the null space: the sparsest form is read."""
    ds = _sir_dataset()
    found = conservation.run(_SIRField().double(), ds, heldout=np.flatnonzero(ds.groups() >= 24))
    exprs = [f.value["expression"] for f in found if f.kind == "conserved"]
    assert len(exprs) == 2, exprs
    S, I, R = sp.symbols("S I R", positive=True)
    forms = [sp.sympify(e, locals={"S": S, "I": I, "R": R}) for e in exprs]
    assert any(sp.simplify(f - (S + I + R)) == 0 for f in forms), exprs
    epidemic = R + sp.Rational(2, 5) * sp.log(S)
    assert any(sp.nsimplify(sp.simplify(f / epidemic), tolerance=1e-6, rational=True).is_number for f in forms), exprs


def test_a_form_thinned_to_a_stand_in_term_is_exchanged_for_the_right_one_on_noisy_data():
    """Lotka-Volterra at 1 % noise: greedy thinning can keep y^2 where V has y; one exchange puts it right."""
    from physlens.probes.conservation.closed_forms import sparse_form

    ds = get_system("lotka_volterra", points_per_trajectory=20).sample(2000, seed=0)
    ds.X = ds.X + 0.01 * ds.X.std(axis=0) * np.random.default_rng(1000).standard_normal(ds.X.shape)
    lib = build_library(ds, state_map(ds))
    V, _ = lib.values_and_gradients(ds.X)
    sc = TrajectoryScatter(V, ds.groups())
    names = [str(t) for t in lib.terms]
    start = np.zeros(len(names))
    for term, c in {"x": 1.0, "y**2": 5 / 12, "log(x)": -3.0, "log(y)": -17 / 6}.items():  # varies 3.2 %
        start[names.index(term)] = c
    got = sparse_form(start, sc)
    got = {t: v / got[names.index("x")] for t, v in zip(names, got) if v != 0}
    assert set(got) == {"x", "y", "log(x)", "log(y)"}, got
    assert np.allclose([got["y"], got["log(x)"], got["log(y)"]], [2.0, -3.0, -4.0], rtol=0.02), got
