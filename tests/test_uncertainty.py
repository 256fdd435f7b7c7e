"""Calibrated intervals and out-of-distribution warnings: the uncertainty probe and ``physlens predict``."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from physlens.data.dataset import Dataset
from physlens.models import build_model
from physlens.probes.uncertainty import Calibration, conformal_quantile, run
from physlens.study import Study, run_study, select_probes
from physlens.systems import get_system
from physlens.train import TrainConfig, fit
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def noisy_law():
    """y = x1 x2² with 10 % relative noise, a small MLP trained on 1200 rows, and 3000 fresh rows."""
    system = get_system("toy_distractor")
    ds = system.sample(1200, seed=0, noise=0.1)
    fresh = system.sample(3000, seed=1, noise=0.1)
    res = fit(build_model("mlp", ds, width=32, depth=2), ds, TrainConfig(epochs=80, batch_size=64, progress=False))
    return ds, fresh, res


def test_ninety_percent_intervals_cover_ninety_percent_of_fresh_noisy_rows(noisy_law):
    ds, fresh, res = noisy_law
    cal = Calibration.fit(res.model, ds, res.val_index, res.train_index)
    out = cal.predict(fresh.X, level=0.9)
    covered = np.mean((fresh.y >= out["lower"]) & (fresh.y <= out["upper"]))
    # 240 calibration rows: the coverage of one calibration draw has sd sqrt(.9 .1 / 240) = 0.019
    assert 0.85 <= covered <= 0.95
    # the noise alone sets a floor: the intervals cannot be narrower than ±1.645 sd of the noise on average
    half = np.mean(out["upper"] - out["lower"]) / 2
    noise_sd = 0.1 * np.sqrt(np.mean(fresh.y**2))
    assert half > 0.8 * 1.645 * noise_sd
    # and a higher level gives wider intervals on every row
    wide = cal.predict(fresh.X[:50], level=0.99)
    assert np.all(wide["upper"] - wide["lower"] >= out["upper"][:50] - out["lower"][:50])


def test_the_probe_reports_held_out_coverage_width_and_a_reliability_curve(noisy_law):
    ds, _, res = noisy_law
    (f,) = run(res.model, ds, heldout=res.val_index, training=res)
    assert f.kind == "uncertainty" and f.probe == "uncertainty"
    assert abs(f.value["coverage"] - 0.9) < 0.05
    nominal, observed = f.value["reliability"]["nominal"], f.value["reliability"]["observed"]
    assert np.all(np.abs(np.array(nominal) - np.array(observed)) < 0.07)
    assert f.value["width"]["y"] > 0 and "penultimate" in f.value["representation"]
    assert len(f.value["calibration"]["scores"][0]) == len(res.val_index)


def test_inputs_outside_the_training_box_are_flagged_and_inside_rarely(noisy_law):
    ds, fresh, res = noisy_law
    cal = Calibration.fit(res.model, ds, res.val_index, res.train_index)
    inside = cal.flags(fresh.X)
    assert inside.mean() < 0.04  # the threshold is the held-out 99 % quantile
    lo, hi = ds.X.min(axis=0), ds.X.max(axis=0)
    far = fresh.X[:300].copy()
    far[:, 0] = hi[0] + (hi[0] - lo[0]) * np.linspace(0.5, 1.0, 300)  # x1 half a box width or more beyond the data
    assert cal.flags(far).mean() > 0.9
    assert np.median(cal.ood_score(far)) > 2 * np.median(cal.ood_score(fresh.X))


def test_conformal_quantile_gives_at_least_the_level_on_exchangeable_scores():
    rng = np.random.default_rng(0)
    hits = []
    for _ in range(400):
        s = np.abs(rng.standard_normal(40))
        hits.append(abs(rng.standard_normal()) <= conformal_quantile(s, 0.8))
    # guarantee: between 0.8 and 0.8 + 1/41 = 0.824; 400 trials give sd 0.02
    assert 0.76 <= np.mean(hits) <= 0.87
    assert conformal_quantile(np.ones(5), 0.9) == float("inf")


def test_a_model_without_a_last_affine_layer_still_gets_conformal_intervals():
    class Exp(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(2, 1)

        def forward(self, x):
            return torch.exp(0.1 * self.lin(x))

    X = np.random.default_rng(0).normal(size=(400, 2))
    ds = Dataset(X, X[:, 0] + 0.1 * np.random.default_rng(1).normal(size=400), ["a", "b"], ["y"])
    cal = Calibration.fit(Exp(), ds, np.arange(300, 400))
    assert cal.layer is None
    out = cal.predict(X[:5])
    assert np.all(np.isfinite(out["upper"])) and np.all(out["upper"] > out["lower"])


def test_predict_command_gives_intervals_in_row_order_and_names_bad_columns(tmp_path):
    study = Study.parse({"source": {"system": "toy_distractor", "n": 400, "noise": 0.05},
                         "train": {"epochs": 40, "progress": False}, "probes": [{"name": "uncertainty"}]})
    chosen, _ = select_probes(Study(), study.source.load())
    assert "uncertainty" in {p.name for p in chosen}  # part of every discover
    result = run_study(study, out=tmp_path, progress=False)
    assert [p["status"] for p in result.probes] == ["ran"]
    assert "Reliability of the prediction intervals" in (result.run_dir / "report.html").read_text()
    rows = np.array([[0.5, 1.0, 0.0], [1.5, -1.0, 0.3], [1.0, 0.5, -0.5], [40.0, 40.0, 0.0]])
    path = tmp_path / "new.csv"
    path.write_text("x3,x2,x1\n" + "".join(f"{c},{b},{a}\n" for a, b, c in rows))  # columns in another order
    proc = run_cli("predict", str(result.run_dir), str(path), "--json")
    assert proc.returncode == 0, proc.stderr
    preds = json.loads(proc.stdout)["predictions"]
    assert len(preds) == 4
    expected = result.train.model.predict(rows)[:, 0]
    assert np.allclose([p["y"] for p in preds], expected, rtol=1e-5, atol=1e-6)
    assert all(p["lower"] <= p["y"] <= p["upper"] for p in preds)
    assert [p["ood"] for p in preds] == [False, False, False, True]
    assert [p["interval_guaranteed"] for p in preds] == [True, True, True, False]  # no guarantee off the data
    bad = tmp_path / "bad.csv"
    bad.write_text("x1,x2,zeta\n1,2,3\n")
    proc = run_cli("predict", str(result.run_dir), str(bad), "--json")
    assert proc.returncode == 2 and proc.stdout == ""
    err = proc.stderr.strip()
    assert "\n" not in err and "x3" in err and "zeta" in err and "Traceback" not in err


def test_an_ensemble_is_read_through_its_members_features_and_disagreement():
    ds = get_system("toy_distractor").sample(500, seed=3, noise=0.05)
    res = fit(build_model("ensemble", ds, member="mlp", n_members=3, width=16, depth=2), ds,
              TrainConfig(epochs=30, progress=False))
    (f,) = run(res.model, ds, heldout=res.val_index, training=res)
    assert f.value["calibration"]["layer"] == "members.0.head,members.1.head,members.2.head"
    assert abs(f.value["coverage"] - 0.9) < 0.06


def test_too_few_held_out_rows_give_an_honest_uncalibrated_finding():
    X = np.random.default_rng(0).normal(size=(60, 2))
    ds = Dataset(X, X[:, 0], ["a", "b"], ["y"])
    (f,) = run(build_model("mlp", ds, width=4), ds, heldout=np.arange(54, 60))
    assert f.value["calibrated"] is False and "only 6 held-out rows" in f.statement


def _symmetry_like_probe(model, dataset, rows):
    """A probe stub: compares the model on ``rows`` with the model on their sign-flipped copy (as a symmetry test does)."""
    from physlens.findings import Finding

    X = torch.as_tensor(rows, dtype=torch.float32)
    with torch.no_grad():
        gap = (model(X) - model(-X)).abs().mean().item()
    return [Finding("symmetry", "y is even under x -> -x", value={"gap": gap}, probe="stub")]


def test_findings_of_a_probe_querying_far_outside_the_training_box_are_marked_as_extrapolated(noisy_law):
    from physlens.probes.uncertainty import mark_extrapolation, watch_queries

    ds, _, res = noisy_law
    far = ds.X[:300] * 4.0 + 10.0  # every query beyond the [-2, 2]^3 training box
    with watch_queries(res.model, ds, heldout=res.val_index, training=res) as watcher:
        findings = _symmetry_like_probe(res.model, ds, far)
    (f,) = mark_extrapolation(findings, watcher)
    ex = f.evidence["extrapolation"]
    assert ex["n"] == 600 and ex["n_queries"] == 600  # the rows and their flipped copies
    assert ex["share"] > 0.95
    assert f.statement.endswith("% of the model's queries lie outside the training data)")
    assert "partly extrapolated: 10" in f.statement or "partly extrapolated: 9" in f.statement


def test_findings_of_a_probe_querying_training_rows_are_not_marked(noisy_law):
    from physlens.probes.uncertainty import mark_extrapolation, watch_queries

    ds, _, res = noisy_law
    inside = ds.X[res.train_index[:400]]
    inside = inside[np.all(np.abs(inside) < 1.9, axis=1)]  # the flipped copies stay inside the box too
    with watch_queries(res.model, ds, heldout=res.val_index, training=res) as first:
        findings = _symmetry_like_probe(res.model, ds, inside)
    (f,) = mark_extrapolation(findings, first)
    assert f.evidence["extrapolation"]["share"] < 0.05
    assert "extrapolated" not in f.statement
    # a second probe reuses the fitted calibration; a reservoir keeps a bounded uniform sample of many calls
    with watch_queries(res.model, ds, calibration=first.calibration, capacity=100, seed=1) as second:
        for rows in np.array_split(inside, 20):
            res.model(torch.as_tensor(rows, dtype=torch.float32))
        res.model(torch.as_tensor(far_rows := inside[:50] + 20.0, dtype=torch.float32))
    (g,) = mark_extrapolation([_symmetry_like_probe(res.model, ds, inside[:1])[0]], second)
    assert second.n_seen == len(inside) + len(far_rows) and len(second.rows) == 100
    share_far = len(far_rows) / second.n_seen
    assert abs(g.evidence["extrapolation"]["share"] - share_far) < 0.12


def test_queries_inside_torch_func_transforms_are_recorded_row_by_row(noisy_law):
    from physlens.probes.uncertainty import watch_queries

    ds, _, res = noisy_law
    X = torch.as_tensor(ds.X[:25], dtype=torch.float32)
    with watch_queries(res.model, ds) as watcher:
        torch.func.vmap(torch.func.jacrev(lambda x: res.model(x[None])[0]))(X)
    assert watcher.n_seen == 25 and watcher.skipped == 0
    assert np.allclose(np.sort(watcher.rows[:, 0]), np.sort(ds.X[:25, 0]), atol=1e-6)


def test_a_probe_that_never_queries_the_model_is_left_unmarked(noisy_law):
    from physlens.findings import Finding
    from physlens.probes.uncertainty import mark_extrapolation, watch_queries

    ds, _, res = noisy_law
    with watch_queries(res.model, ds, heldout=res.val_index, training=res) as watcher:
        pass
    (f,) = mark_extrapolation([Finding("quality", "alpha = 3")], watcher)
    assert "extrapolation" not in (f.evidence or {}) and f.statement == "alpha = 3"


def test_equation_findings_are_marked_from_the_rows_the_emulator_and_the_oracle_were_queried_with(noisy_law):
    from physlens.probes import equations
    from physlens.probes.uncertainty import _ACTIVE_WATCHERS, mark_extrapolation, watch_queries

    from physlens.probes.equations.budget import counted

    ds, _, res = noisy_law
    # noise-aware: the law is fitted to the emulator's predictions on the data rows (model.predict -> model(x));
    # the searches count work, not seconds, so a busy machine finds the same law
    with watch_queries(res.model, ds, heldout=res.val_index, training=res) as watcher, counted():
        found = equations.run(res.model, ds, time_limit=4, noise_aware=True, oracle=False, max_samples=400)
    (f,) = mark_extrapolation(found, watcher)
    ex = f.evidence["extrapolation"]
    assert ex["n_queries"] == 400 and ex["share"] < 0.05  # the data rows themselves: inside the training data
    # from the data, with the separability oracle: the oracle's queries (one input group held at its median)
    # stand for the model's; the study model itself is not queried. The stages that find x1 x2² before the
    # oracle is needed are left out, so that the oracle runs.
    from physlens.probes.equations.stages import default_stages

    early = {"symmetry", "monomial", "rational", "separability", "dimensional", "enumeration"}
    with watch_queries(res.model, ds, heldout=res.val_index, training=res, calibration=watcher.calibration) as second, \
            counted():
        found = equations.run(res.model, ds, time_limit=12, oracle=True, max_samples=400,
                              stages=[s for s in default_stages() if s.name not in early])
    (g,) = mark_extrapolation(found, second)
    ex = g.evidence["extrapolation"]
    assert ex["n_queries"] >= 400 and ex["share"] < 0.2  # toy_distractor's inputs are independent: medians stay inside
    assert not second._stand_in_hooks and not _ACTIVE_WATCHERS
