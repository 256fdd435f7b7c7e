"""Emergence over training: when each finding of the other probes starts to hold, and whether it stays."""

from __future__ import annotations

import numpy as np
import pytest

from physlens.data.dataset import Dataset
from physlens.findings import Finding
from physlens.models import build_model
from physlens.probes.attribution import run as attribution
from physlens.probes.emergence import emergence_summary, run, training_points
from physlens.probes.symmetry import run as symmetry
from physlens.report.figures import section_figures
from physlens.train import TrainConfig, fit


@pytest.fixture(scope="module")
def distractor():
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, (1500, 3))
    ds = Dataset(X, X[:, 0] * X[:, 1] ** 2, ["x1", "x2", "x3"], ["y"])
    res = fit(build_model("mlp", ds), ds, TrainConfig(epochs=60, progress=False))
    return ds, res


def test_relevance_of_the_inputs_appears_and_the_distractor_ends_below_threshold(distractor):
    ds, res = distractor
    fs = attribution(res.model, ds, heldout=res.val_index)
    [summary] = run(res.model, ds, findings=fs, training=res)
    em = {f.subject: f.evidence["emergence"] for f in fs if f.kind == "relevant-variable"}
    assert set(em) == {"x1", "x2", "x3"}
    last = training_points(res.model, res)[-1][0]
    for name in ("x1", "x2"):
        assert em[name]["holds"][-1] and em[name]["stays"] and em[name]["first_holds"] is not None
        assert em[name]["statistic"][0] < em[name]["statistic"][-1]  # the network learns to use it
    assert em["x3"]["holds"][-1] and em["x3"]["holds_from"] <= last
    # the final epoch's statistic agrees with the attribution probe's own reading (same model, other shuffles)
    final = {f.subject: f.value["permutation"] for f in fs if f.kind == "relevant-variable"}
    for name in ("x1", "x2"):
        assert em[name]["statistic"][-1] == pytest.approx(final[name], rel=0.3)
    assert summary.kind == "quality" and summary.subject == "emergence"
    assert summary.value["final_agrees"] == summary.value["final_checked"] == 3


def test_rotation_invariance_is_not_there_at_the_first_epoch_and_holds_once_learnt():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (2000, 2))
    ds = Dataset(X, (X**2).sum(1), ["x", "y"], ["r2"])
    res = fit(build_model("mlp", ds), ds, TrainConfig(epochs=60, progress=False))
    fs = [f for f in symmetry(res.model, ds, discrete=False, latent=False, weights=False)
          if f.kind == "symmetry" and "generators" in f.value]
    assert fs and fs[0].value["group"] == "so(2)"
    [summary] = run(res.model, ds, findings=fs, training=res)
    em = fs[0].evidence["emergence"]
    assert em["holds"][0] is False and em["holds"][-1] is True
    assert em["first_holds"] > em["epochs"][0] and em["holds_from"] is not None
    assert em["threshold"] == 1.0 and em["statistic"][-1] < 1.0 < em["contrast_margin"][-1]
    # the final epoch reads what the symmetry probe read: its violation over the model's error
    assert em["statistic"][-1] == pytest.approx(fs[0].value["residual"], rel=0.3)
    figs, note = section_figures("quality", [summary], ds)
    assert note is None and len(figs) == 1 and figs[0][1]


def test_no_snapshots_or_no_findings_give_no_summary(distractor):
    ds, res = distractor
    assert run(res.model, ds, findings=[], training=res) == []
    assert run(res.model, ds, findings=[Finding("quality", "ok", {})], training=None) == []


def test_first_holds_holds_from_and_stays():
    assert emergence_summary([1, 3, 9, 27], [False, True, True, True]) == {
        "first_holds": 3, "holds_from": 3, "stays": True}
    assert emergence_summary([1, 3, 9, 27], [True, False, True, True])["holds_from"] == 9
    assert emergence_summary([1, 3, 9, 27], [True, True, True, False]) == {
        "first_holds": 1, "holds_from": None, "stays": False}


def test_the_replay_leaves_the_trained_weights_alone(distractor):
    ds, res = distractor
    before = {k: v.clone() for k, v in res.model.state_dict().items()}
    fs = attribution(res.model, ds, repeats=2)
    run(res.model, ds, findings=fs, training=res)
    assert all((before[k] == v).all() for k, v in res.model.state_dict().items())


def test_interaction_strengths_and_layer_spectra_are_followed_over_training():
    from physlens.probes import get_probe

    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, (800, 3))
    ds = Dataset(X, X[:, 0] * X[:, 1] + X[:, 2] ** 2, ["a", "b", "c"], ["y"])
    res = fit(build_model("mlp", ds), ds, TrainConfig(epochs=40, progress=False))
    fs = get_probe("interactions")(res.model, ds) + get_probe("spectra")(res.model, ds, bootstrap=0)
    [summary] = run(res.model, ds, findings=fs, training=res)
    pairs = {f.subject: f for f in fs if f.kind == "interaction" and len(f.value["variables"]) == 2}
    ab = [f for f in pairs.values() if set(f.value["variables"]) == {"a", "b"}][0]
    em = ab.evidence["emergence"]
    assert ab.value["interacting"] and em["holds"][-1] and em["stays"]
    assert em["statistic"][-1] == pytest.approx(ab.value["strength"], rel=0.05)  # same probe, same final model
    layers = [f for f in fs if f.kind == "quality" and f.probe == "spectra" and "emergence" in f.evidence]
    assert layers and all(f.evidence["emergence"]["statistic"][-1] == pytest.approx(f.value["alpha"], rel=0.05)
                          for f in layers)
    assert summary.evidence["followed"]["interaction"] >= 3
