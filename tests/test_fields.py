"""Fields on grids: the D4 action, the vector diffusion law, the equivariant CNN, the fields probe and `physlens fields`."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from physlens.scoring.fields import score_grid_findings
from physlens.data.fields import FieldDataset, d4_elements, load_fields, parse_channels, transform_fields
from physlens.errors import DataError
from physlens.models import build_model
from physlens.models.grid import D4CNN, PlainCNN
from physlens.probes import fields as probe
from physlens.systems.fields import VectorDiffusion
from physlens.train.fit import TrainConfig, fit
from tests.conftest import run_cli

VEC = [{"kind": "vector", "channels": [0, 1]}]


def test_d4_action_is_a_group_action_with_vectors_turned():
    G = d4_elements()
    a = np.random.default_rng(0).normal(size=(2, 2, 6, 6))
    twice = transform_fields(transform_fields(a, VEC, G["rot90"]), VEC, G["rot90"])
    assert np.allclose(twice, transform_fields(a, VEC, G["rot180"]))
    assert np.allclose(transform_fields(a, VEC, G["rot180"])[:, :, 0, 0], -a[:, :, 0, 0])  # origin fixed, vector flipped
    for R in G.values():  # every element composes with its inverse to the identity
        back = transform_fields(transform_fields(a, VEC, R), VEC, np.round(np.linalg.inv(R)).astype(int))
        assert np.allclose(back, a)


def test_vector_diffusion_truth_is_d4_with_vector_action_and_force_keeps_only_flip_y():
    free = VectorDiffusion(grid=8).truth.extra["grid_symmetries"]
    forced = VectorDiffusion(grid=8, force=1.0).truth.extra["grid_symmetries"]
    held = lambda rows, action: sorted(r["element"] for r in rows if r["holds"] and r["action"] == action)  # noqa: E731
    assert held(free, "vector") == sorted(d4_elements())
    assert held(free, "scalar") == ["identity", "rot180"]  # a scalar rotation by 90 degrees is not a symmetry
    assert held(forced, "vector") == ["flip_y", "identity"]


def test_equivariant_cnn_commutes_with_every_grid_transformation():
    ds = VectorDiffusion(grid=8).sample(3)
    model = D4CNN(ds.layout(), width=2).double()
    x = torch.as_tensor(ds.X)
    for R in d4_elements().values():
        for shift in ((0, 0), (3, 1)):
            lhs = model.fields(transform_fields(x, VEC, R, shift=shift))
            rhs = transform_fields(model.fields(x), VEC, R, shift=shift)
            assert torch.allclose(lhs, rhs, atol=1e-10)
    plain = PlainCNN(ds.layout()).double()
    R = d4_elements()["rot90"]
    assert not torch.allclose(plain.fields(transform_fields(x, VEC, R)), transform_fields(plain.fields(x), VEC, R),
                              atol=1e-3)


def test_pde_is_recovered_from_data_with_exact_coefficients_and_the_force():
    s = VectorDiffusion(grid=16, nu=0.4, lam=0.25, force=1.5)
    found = probe.run(None, s.sample(6, seed=2), symmetries=False, source="data")
    got = {f.target: f.value["coefficients"] for f in found}
    assert set(got["du_dt"]) == {"1", "u_xx", "u_yy", "v_xy"}
    assert got["du_dt"]["u_xx"] == pytest.approx(0.65, rel=1e-6)
    assert got["du_dt"]["1"] == pytest.approx(1.5, rel=1e-6)
    assert got["dv_dt"] == pytest.approx({"u_xy": 0.25, "v_xx": 0.4, "v_yy": 0.65}, rel=1e-6)
    assert score_grid_findings(found, s.truth)["equation"] == {"scored": 2, "matched": 2}


def _trained_plain_cnn(force: float):
    s = VectorDiffusion(grid=16, k_scale=1.5, force=force)
    ds = s.sample(24, seed=1)
    tab = ds.tabular()
    model = build_model("cnn", tab, seed=0)
    res = fit(model, tab, TrainConfig(epochs=120, batch_size=4, lr=1e-2, patience=120, progress=False))
    return s, ds, res


@pytest.mark.parametrize("force", [0.0, 2.0])
def test_plain_cnn_learns_d4_with_vector_action_and_forced_variant_loses_exactly_the_broken_elements(force):
    s, ds, res = _trained_plain_cnn(force)
    found = probe.run(res.model, ds, heldout=res.val_index, equations=False)
    (group,) = found
    assert group.kind == "symmetry", group.statement
    card = score_grid_findings(found, s.truth)
    assert card["symmetry"] == {"scored": 1, "matched": 1}, (group.statement, group.score_detail)
    assert group.value["group"] == ("D4 x translations" if force == 0 else "Z2 (flip_y) x translations")


def test_rectangular_grid_is_tested_for_translations_only_and_its_pde_is_signed():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(6, 1, 6, 8))
    ds = FieldDataset(X, np.roll(X, 1, axis=3) - X, ["p"], [{"kind": "scalar", "channels": [0]}])
    res = fit(build_model("cnn", ds.tabular()), ds.tabular(), TrainConfig(epochs=150, batch_size=2, lr=1e-2,
                                                                             progress=False))
    sym, eq = probe.run(res.model, ds)
    assert "D4 not tested" in sym.statement and all(t["action"] == "translation" for t in sym.evidence["tests"])
    assert "+ -" not in eq.statement


def test_untrained_model_is_not_read_for_symmetries():
    ds = VectorDiffusion(grid=8).sample(4)
    (f,) = probe.run(PlainCNN(ds.layout()), ds, equations=False)
    assert f.kind == "uncertainty" and "not judged" in f.statement


def test_probe_does_not_apply_to_tabular_data():
    from physlens.systems import get_system

    assert "tabular" in probe.applies(get_system("toy_distractor").sample(30))
    assert probe.applies(VectorDiffusion(grid=8).sample(2)) is None


def test_fields_load_from_npz_per_channel_and_stacked_and_hdf5(tmp_path):
    ds = VectorDiffusion(grid=8).sample(4)
    p1 = tmp_path / "per.npz"
    np.savez(p1, u=ds.X[:, 0], v=ds.X[:, 1], du_dt=ds.y[:, 0], dv_dt=ds.y[:, 1], spacing=ds.spacing)
    p2 = tmp_path / "stacked.npz"
    np.savez(p2, inputs=ds.X, targets=ds.y)
    import h5py

    p3 = tmp_path / "f.h5"
    with h5py.File(p3, "w") as f:
        f["inputs"], f["targets"] = ds.X, ds.y
    for p in (p1, p2, p3):
        got = load_fields(p, "u,v:vector")
        assert np.allclose(got.X, ds.X) and got.kinds == VEC
    assert load_fields(p1, "u,v:vector").spacing == pytest.approx(ds.spacing)


def test_an_undeclared_file_is_read_as_scalars_with_its_grid_step_named_dx(tmp_path):
    """No --channels: every channel a scalar; a channel kept as samples x 1 x H x W; ``dx`` is the grid step."""
    from physlens.data.fields import scalar_channels

    rng = np.random.default_rng(0)
    u, p = rng.normal(size=(3, 1, 6, 6)), rng.normal(size=(3, 6, 6))
    path = tmp_path / "f.npz"
    np.savez(path, u=u, du_dt=2 * u, p=p, dp_dt=-p, dx=0.25)
    spec = scalar_channels(path)
    assert spec == "u; p"
    got = load_fields(path, spec)
    assert got.kinds == [{"kind": "scalar", "channels": [0]}, {"kind": "scalar", "channels": [1]}]
    assert got.spacing == 0.25 and np.allclose(got.X[:, 0], u[:, 0]) and np.allclose(got.y[:, 1], -p)
    empty = tmp_path / "none.npz"
    np.savez(empty, a=u)
    with pytest.raises(DataError, match="neither 'inputs' nor an array with a d<name>_dt target; arrays: a"):
        scalar_channels(empty)


@pytest.mark.parametrize("spec,needle", [("u,v,w:vector", "pair"), ("u:tensor", "tensor"), ("", "no channels")])
def test_bad_channel_declarations_are_one_line_errors(spec, needle):
    with pytest.raises(DataError, match=needle):
        parse_channels(spec)


def test_bad_field_files_are_one_line_errors(tmp_path):
    p = tmp_path / "f.npz"
    np.savez(p, u=np.zeros((3, 4, 4)))
    with pytest.raises(DataError, match="'v'"):
        load_fields(p, "u,v:vector")
    X = np.zeros((3, 2, 4, 4))
    X[1, 0, 2, 2] = np.nan
    with pytest.raises(DataError, match="sample 2"):
        FieldDataset(X, np.zeros_like(X), ["u", "v"], VEC)


def test_fields_command_builds_a_run_directory_and_prints_json(tmp_path):
    ds = VectorDiffusion(grid=8).sample(8)
    path = tmp_path / "flow.npz"
    np.savez(path, u=ds.X[:, 0], v=ds.X[:, 1], du_dt=ds.y[:, 0], dv_dt=ds.y[:, 1])
    proc = run_cli("fields", str(path), "--channels", "u,v:vector", "--epochs", "3", "--json", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    run_dir = tmp_path / out["run_dir"].split("/")[-1]
    for name in ("study.yaml", "dataset.npz", "findings.json", "scorecard.json", "report.html", "training.json"):
        assert (run_dir / name).exists(), name
    assert {f["kind"] for f in out["findings"]} >= {"equation"}
    unreadable = tmp_path / "states.npz"  # no d<name>_dt target and no declaration: nothing to read as a channel
    np.savez(unreadable, u=ds.X[:, 0])
    bad = run_cli("fields", str(unreadable), "--out", str(tmp_path))
    assert bad.returncode == 2 and "d<name>_dt" in bad.stderr and "Traceback" not in bad.stderr
