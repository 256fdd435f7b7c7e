"""The influence probe: which training rows shaped the network, and which look mislabelled."""

from __future__ import annotations

import numpy as np
import pytest

from physlens.data.dataset import Dataset
from physlens.findings import Finding, GroundTruth, score
from physlens.models import build_model
from physlens.probes.influence import proponents_opponents, run, suspect_rows
from physlens.train import TrainConfig, fit

N, CORRUPT = 2000, 40  # 2 % of the targets moved by 3 standard deviations


def _law(seed: int = 0, corrupt: bool = True, file_row_offset: int | None = None):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, (N, 3))
    y = X[:, 0] * X[:, 1] ** 2 + 0.01 * rng.normal(size=N)
    bad = np.sort(rng.choice(N, CORRUPT, replace=False))
    if corrupt:
        y[bad] += rng.choice([-1.0, 1.0], CORRUPT) * 3 * y.std()
    aux = {} if file_row_offset is None else {"file_row": np.arange(N) + file_row_offset}
    return Dataset(X, y, ["x1", "x2", "x3"], ["y"], aux=aux), bad


@pytest.fixture(scope="module")
def corrupted():
    ds, bad = _law(seed=0, file_row_offset=100)
    res = fit(build_model("mlp", ds), ds, TrainConfig(epochs=100, progress=False))
    return ds, bad, res


def test_two_percent_corrupted_targets_are_flagged_with_recall_and_precision(corrupted):
    ds, bad, res = corrupted
    [f] = run(res.model, ds, training=res, heldout=res.val_index)
    flagged = np.array(f.value["suspect_rows"])
    hits = np.isin(flagged, bad + 100).sum()
    assert hits / CORRUPT >= 0.8
    assert hits / len(flagged) >= 0.5
    assert len(f.value["scores"]) == len(flagged) and all(s > f.evidence["threshold"] for s in f.value["scores"])


def test_suspect_rows_are_numbered_as_in_the_users_file_and_scored_against_the_corrupted_rows(corrupted):
    ds, bad, res = corrupted
    [f] = run(res.model, ds, training=res, heldout=res.val_index)
    assert min(f.value["suspect_rows"]) >= 100  # file rows, not data-set rows
    card = score([f], GroundTruth(extra={"corrupted_rows": (bad + 100).tolist()}))
    assert f.match is True and card["kinds"]["influence"] == {"scored": 1, "matched": 1}
    assert f.score_detail["recall"] >= 0.8


def test_clean_data_flags_almost_no_row():
    ds, _ = _law(seed=1, corrupt=False)
    res = fit(build_model("mlp", ds), ds, TrainConfig(epochs=100, seed=1, progress=False))
    [f] = run(res.model, ds, training=res)
    assert len(f.value["suspect_rows"]) <= 0.005 * N  # family-wise level 0.05: at most a handful of 2000


def test_corrupted_rows_dominate_the_proponents_and_opponents_of_a_prediction(corrupted):
    # TracIn's known trait (Barshan et al. 2020): rows with large losses have large gradients, so the
    # 2 % corrupted rows make up most of the strongest proponents and opponents of an ordinary prediction
    ds, bad, res = corrupted
    query = int(res.val_index[1])
    got = proponents_opponents(res.model, ds, res.snapshots, res.history, query, res.train_index, top=10)
    rows = np.array([p["row"] for p in got["proponents"] + got["opponents"]]) - 100
    assert np.isin(rows, bad).mean() >= 0.5
    assert all(p["influence"] > 0 for p in got["proponents"]) and all(p["influence"] < 0 for p in got["opponents"])
    assert got["query_row"] == query + 100


def test_a_model_without_snapshots_gives_no_finding_and_bad_options_are_one_line_errors():
    from physlens.errors import ConfigError

    ds, _ = _law(corrupt=False)
    model = build_model("mlp", ds, width=8)
    assert run(model, ds, training=None) == []
    with pytest.raises(ConfigError, match="alpha"):
        suspect_rows(np.ones(10), alpha=2.0)


def test_influence_scorer_without_declared_corruption_says_nothing():
    f = Finding("influence", "rows 1, 2", {"suspect_rows": [1, 2], "scores": [3.0, 2.0]}, probe="influence")
    score([f], GroundTruth())
    assert f.match is None
