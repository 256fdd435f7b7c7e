"""One registry for systems, models, probes, scorers and commands; pydantic system parameters;
third-party plug-ins through entry points (the example plug-in in examples/plugin, installed
offline by writing its ``*.dist-info`` with the entry points its pyproject.toml declares)."""

from __future__ import annotations

import json
import os
import sys
import tomllib
import warnings
from pathlib import Path

import numpy as np
import pytest

from physlens.errors import ConfigError, ParameterError
from physlens.plugins import PluginWarning, Registry
from physlens.systems import get_system, registry, system_parameters
from physlens.systems.base import SYSTEMS, SystemParams
from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = ROOT / "examples" / "plugin"
CATEGORIES = ("classical", "laws", "quantum", "real", "statistical")


# --------------------------------------------------------------------------- the registry itself
def test_a_registry_finds_by_name_and_names_the_close_ones_in_one_line():
    shapes = Registry("shape")
    shapes.register("square")(lambda a: a * a)
    shapes.add("circle", lambda r: np.pi * r * r)
    assert shapes.names() == ["circle", "square"] and "square" in shapes and len(shapes) == 2
    assert shapes.get("square")(3) == 9
    with pytest.raises(ConfigError) as exc:
        shapes.get("sqaure")
    assert str(exc.value) == "unknown shape 'sqaure' (did you mean 'square'?); available: circle, square"
    shapes.remove("circle")
    assert shapes.names() == ["square"]


def test_systems_models_probes_scorers_and_commands_share_the_one_registry():
    from physlens.cli import COMMANDS
    from physlens.models import MODELS
    from physlens.probes import PROBES
    from physlens.scoring import SCORERS

    for reg in (SYSTEMS, MODELS, PROBES, SCORERS, COMMANDS):
        assert isinstance(reg, Registry)
    assert {"kepler", "toy_distractor", "ising_2d"} <= set(SYSTEMS.names())
    assert {"mlp", "graph"} <= set(MODELS.names())
    assert {"attribution", "symmetry", "equations"} <= set(PROBES.names())
    assert {"equation", "symmetry", "relevant-variable"} <= set(SCORERS.names())
    assert {"discover", "catalogue"} <= set(COMMANDS.names())
    with pytest.raises(ParameterError, match=r"unknown system 'keplr' \(did you mean 'kepler'\?\)"):
        get_system("keplr")
    with pytest.raises(ConfigError, match=r"unknown model 'mpl' \(did you mean 'mlp'\?\)"):
        MODELS.get("mpl")


# --------------------------------------------------------------------------- pydantic parameters
def _builtin_systems():
    return sorted(n for n, c in registry().items() if c.__module__.split(".")[2] in CATEGORIES)


def test_every_builtin_system_declares_typed_described_parameters_whose_defaults_are_valid():
    names = _builtin_systems()
    assert len(names) >= 20
    for name in names:
        cls = registry()[name]
        assert cls.Params is not SystemParams and issubclass(cls.Params, SystemParams), name
        for field_name, field in cls.Params.model_fields.items():
            assert field.description, f"{name}.{field_name} has no description"
        assert cls.Params().model_dump() == cls.validate_params({}).model_dump()
        rows = system_parameters(name)
        assert [r["name"] for r in rows] == list(cls.Params.model_fields)
        assert all(r["allowed"] and r["type"] for r in rows)


@pytest.mark.parametrize(
    "name, params, words",
    [
        ("kepler", {"GM": -1}, ["kepler", "GM", "greater than 0", "-1"]),
        ("kepler", {"eccentricity_range": (0.2, 0.95)}, ["eccentricity_range", "0.9"]),
        ("kepler", {"semi_major_range": (0.1, 5.0)}, ["semi_major_range", "10 * min"]),
        ("kepler", {"dim": 4}, ["dim", "2 or 3"]),
        ("lorenz", {"dt": 0.5}, ["dt", "0.1"]),
        ("nbody_springs", {"n_particles": 3}, ["n_particles", "integer in [4, 8]"]),
        ("nbody_gravity", {"n_particles": True}, ["n_particles", "true/false"]),
        ("ising_2d", {"T_range": (3.0, 2.0)}, ["T_range", "min < max"]),
        ("tfim_chain", {"n_spins": 40}, ["n_spins", "12"]),
        ("qubit_tomography", {"n_measurements": 5, "n_qubits": 2}, ["n_measurements", "15..200"]),
        ("schrodinger_1d", {"family": "square"}, ["family", "random"]),
        ("planets", {"bodies": "comets"}, ["bodies", "moons"]),
        ("rabi", {"omega": 1.0}, ["rabi has no parameter 'omega'", "omega_range"]),
    ],
)
def test_a_bad_parameter_is_one_line_naming_it_and_what_is_allowed(name, params, words):
    with pytest.raises(ParameterError) as exc:
        get_system(name, **params)
    text = str(exc.value)
    assert "\n" not in text
    for word in words:
        assert word in text, (word, text)


def test_parameters_are_validated_alike_through_get_system_and_the_constructor():
    cls = registry()["harmonic_oscillator"]
    with pytest.raises(ParameterError, match="energy_range"):
        cls(energy_range=(2.0, 1.0))
    osc = get_system("harmonic_oscillator", k=4, energy_range=[0.5, 1])  # YAML gives lists; ints are numbers
    assert osc.k == 4.0 and osc.energy_range == (0.5, 1.0)
    assert osc.sample(10, seed=0).meta["params"]["energy_range"] == (0.5, 1.0)


def test_physlens_systems_lists_parameters_defaults_and_descriptions(monkeypatch, capsys):
    from physlens.cli import main

    monkeypatch.setattr(sys, "argv", ["physlens", "systems", "--json"])
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == 0
    listed = {s["name"]: s for s in json.loads(capsys.readouterr().out)["systems"]}
    kepler = {p["name"]: p for p in listed["kepler"]["parameters"]}
    assert kepler["GM"]["default"] == 1.0 and kepler["GM"]["allowed"] == "number > 0"
    assert kepler["eccentricity_range"]["default"] == [0.0, 0.6]
    assert kepler["eccentricity_range"]["allowed"] == "pair (min, max), 0 <= min <= max <= 0.9"
    assert "gravitational" in kepler["GM"]["description"]
    monkeypatch.setenv("COLUMNS", "200")  # one table row per parameter
    monkeypatch.setattr(sys, "argv", ["physlens", "systems", "tfim_chain"])
    with pytest.raises(SystemExit):
        main()
    table = capsys.readouterr().out
    assert "n_spins" in table and "integer in [2, 12]" in table


# --------------------------------------------------------------------------- the example plug-in
def _entry_points_txt(pyproject: Path) -> str:
    groups = tomllib.loads(pyproject.read_text())["project"]["entry-points"]
    return "".join(f"[{g}]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items()) + "\n" for g, eps in groups.items())


def _install_dist_info(site: Path, name: str, entry_points: str) -> None:
    """What ``pip install`` leaves for importlib.metadata: a dist-info folder with METADATA and entry_points.txt."""
    info = site / f"{name.replace('-', '_')}-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text(entry_points)


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """Put dist-infos on sys.path (a fresh discovery of systems and probes), and take them out after."""
    from physlens.probes import PROBES

    site = tmp_path / "site"
    site.mkdir()
    before = {reg: set(reg.names()) for reg in (SYSTEMS, PROBES)}
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.syspath_prepend(str(PLUGIN / "src"))
    for reg in before:
        reg.reset()
    yield site
    for reg, names in before.items():
        for extra in set(reg.names()) - names:
            reg.remove(extra)
        reg.reset()
    for mod in [m for m in sys.modules if m.startswith(("physlens_example_plugin", "broken_plugin"))]:
        del sys.modules[mod]


def test_the_example_plugin_adds_a_validated_system_and_a_probe(installed):
    from physlens.probes import probe_spec

    _install_dist_info(installed, "physlens-example-plugin", _entry_points_txt(PLUGIN / "pyproject.toml"))
    # an entry point may also name the System class itself
    _install_dist_info(installed, "physlens-class-plugin",
                       "[physlens.systems]\nspring_class = physlens_example_plugin.spring:ExampleSpring\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error", PluginWarning)
        assert {"example_spring", "kepler"} <= set(registry())
    spring = get_system("example_spring", k=4.0, m=2.0)
    ds = spring.sample(200, seed=1)
    q, p = ds.X[:, 0], ds.X[:, 1]
    np.testing.assert_allclose(ds.y[:, 0], p**2 / 4.0 + 2.0 * q**2, rtol=1e-12)
    with pytest.raises(ParameterError, match=r"example_spring: parameter k must be greater than 0"):
        get_system("example_spring", k=-1)
    assert [p["name"] for p in system_parameters("example_spring")] == ["k", "m", "q_range", "p_range"]
    spec = probe_spec("example_linearity")
    assert spec.cost == 0.2 and spec.declares("seed") and spec.why_not(ds) is None


def test_discover_runs_the_plugins_probe_on_the_plugins_system(tmp_path):
    site = tmp_path / "site"
    _install_dist_info(site, "physlens-example-plugin", _entry_points_txt(PLUGIN / "pyproject.toml"))
    path = os.pathsep.join([str(site), str(PLUGIN / "src"), os.environ.get("PYTHONPATH", "")])
    proc = run_cli("discover", "example_spring", "--probes", "example_linearity", "--n", "300", "--epochs", "30",
                   "--out", str(tmp_path / "runs"), "--json", "--quiet", env_extra={"PYTHONPATH": path})
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert [p["status"] for p in out["probes"]] == ["ran"]
    (finding,) = out["findings"]
    assert finding["probe"] == "example_linearity" and finding["kind"] == "quality"
    # E = p^2/2 + q^2/2 on a symmetric square: no straight line explains a bowl (R^2 near 0, far below 1)
    assert finding["value"]["r2"] < 0.2


def test_a_broken_plugin_is_one_warning_naming_it_and_physlens_goes_on(installed):
    from physlens.probes import list_probes

    (installed / "broken_plugin.py").write_text("raise RuntimeError('half-installed')\n")
    _install_dist_info(installed, "broken-plugin", "[physlens.probes]\nbroken_probe = broken_plugin\n\n"
                                                   "[physlens.systems]\nmissing_system = no_such_module_h18\n"
                                                   "empty_system = json\n")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        assert "kepler" in registry() and "attribution" in dict(list_probes())
    lines = sorted(str(w.message) for w in seen if issubclass(w.category, PluginWarning))
    assert len(lines) == 3 and all("\n" not in line for line in lines)
    assert lines[0].startswith("plug-in 'broken_probe' (physlens.probes = broken_plugin) left out: RuntimeError: half")
    assert lines[1] == "plug-in 'empty_system' (physlens.systems = json) left out: it holds no system"
    assert lines[2].startswith("plug-in 'missing_system' (physlens.systems = no_such_module_h18) left out: "
                               "ModuleNotFoundError")


def test_the_command_line_prints_a_broken_plugin_as_one_warning_line(tmp_path):
    site = tmp_path / "site"
    _install_dist_info(site, "broken-plugin", "[physlens.systems]\nmissing_system = no_such_module_h18\n")
    proc = run_cli("systems", "--json", env_extra={"PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])})
    assert proc.returncode == 0
    assert proc.stderr.strip().splitlines() == [
        "warning: plug-in 'missing_system' (physlens.systems = no_such_module_h18) left out: "
        "ModuleNotFoundError: No module named 'no_such_module_h18'"]
    assert "kepler" in {s["name"] for s in json.loads(proc.stdout)["systems"]}
