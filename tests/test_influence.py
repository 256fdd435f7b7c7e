"""The influence probe: which training rows shaped the network, and which look mislabelled."""

from __future__ import annotations

import numpy as np
import pytest

from physlens.data.dataset import Dataset
from physlens.findings import Finding, GroundTruth, score
from physlens.models import build_model
from physlens.probes.influence import (local_ratio, neighbours, proponents_opponents, row_statistics, run,
                                       suspect_rows, trace_rows, tracin)
from physlens.train import TrainConfig, fit

N, CORRUPT = 2000, 40  # 2 % of the targets moved by 3 standard deviations


def _law(seed: int = 0, corrupt: bool = True, file_row_offset: int | None = None, n: int = N, n_bad: int = CORRUPT):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, (n, 3))
    y = X[:, 0] * X[:, 1] ** 2 + 0.01 * rng.normal(size=n)
    bad = np.sort(rng.choice(n, n_bad, replace=False))
    if corrupt:
        y[bad] += rng.choice([-1.0, 1.0], n_bad) * 3 * y.std()
    aux = {} if file_row_offset is None else {"file_row": np.arange(n) + file_row_offset}
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
    [f] = run(res.model, ds, training=res, heldout=res.val_index, top=0)
    assert min(f.value["suspect_rows"]) >= 100  # file rows, not data-set rows
    card = score([f], GroundTruth(extra={"corrupted_rows": (bad + 100).tolist()}))
    assert f.match is True and card["kinds"]["influence"] == {"scored": 1, "matched": 1}
    assert f.score_detail["recall"] >= 0.8


def test_clean_data_flags_almost_no_row():
    ds, _ = _law(seed=1, corrupt=False)
    res = fit(build_model("mlp", ds), ds, TrainConfig(epochs=100, seed=1, progress=False))
    [f] = run(res.model, ds, training=res, top=0)
    assert len(f.value["suspect_rows"]) <= 2  # family-wise level 0.05 (measured: 0 of 2000)


def test_memorised_wrong_targets_are_found_over_training_where_the_final_residual_misses_them():
    # a wide network trained full-batch without early stopping fits the 5 wrong targets of its training rows
    # (final loss ~0): the largest-residual baseline finds only the held-out ones, the loss area over the
    # snapshots still sees that they stood out while they were being learnt
    ds, bad = _law(seed=0, n=150, n_bad=5)
    res = fit(build_model("mlp", ds, width=128), ds,
              TrainConfig(epochs=700, batch_size=256, lr=1e-2, patience=10**9, restore_best=False, progress=False))
    stats = row_statistics(trace_rows(res.model, ds, res.snapshots, res.history), res.model, ds)
    memorised = bad[np.isin(bad, res.train_index)]
    assert len(memorised) >= 3 and np.all(stats["residual"][memorised] < 0.01)
    nbrs = neighbours(ds)
    by_area = suspect_rows(local_ratio(stats["loss_area"], nbrs))[0]
    by_resid = suspect_rows(local_ratio(stats["residual"], nbrs))[0]
    assert np.isin(bad, by_area).mean() >= 0.8 and np.isin(by_area, bad).mean() >= 0.5
    assert np.isin(memorised, by_resid).mean() <= 0.5


def test_one_pass_equals_captums_tracincp_self_influence_and_influence_on_a_prediction():
    from physlens.systems import get_system

    ds = get_system("kepler", dim=2, points_per_trajectory=10).sample(300)  # four targets
    res = fit(build_model("mlp", ds, width=16), ds, TrainConfig(epochs=5, n_snapshots=3, progress=False))
    tr = trace_rows(res.model, ds, res.snapshots, res.history, query_row=7)
    cap = tracin(res.model, ds, res.snapshots, res.history)
    import torch

    X, y = torch.as_tensor(ds.X, dtype=torch.float32), torch.as_tensor(ds.y, dtype=torch.float32)
    np.testing.assert_allclose(tr.self_influence, cap.self_influence((X, y)).detach().numpy(), rtol=1e-4)
    got = cap.influence((X[7:8], y[7:8]), k=None)[0].detach().numpy()
    np.testing.assert_allclose(tr.query_influence, got, rtol=1e-4, atol=1e-5 * np.abs(got).max())


def test_neighbours_of_a_trajectory_row_come_from_other_trajectories():
    X = np.column_stack([np.repeat(np.arange(5.0), 6), np.tile(np.arange(6.0), 5) * 0.01])
    ds = Dataset(X, X[:, 0], ["a", "b"], ["y"], aux={"trajectory": np.repeat(np.arange(5), 6)})
    nb = neighbours(ds, k=3)
    assert np.all(ds.groups()[nb] != ds.groups()[:, None])


def test_file_rows_survive_the_loaders_sort_by_time(tmp_path):
    from physlens.data.loaders import load

    rng = np.random.default_rng(0)
    t = rng.permutation(40) * 0.1
    lines = [f"{ti:.1f},{np.sin(ti):.6f},{np.cos(ti):.6f}" for ti in t]
    p = tmp_path / "runs.csv"
    p.write_text("t,x,v\n" + "\n".join(lines))
    ds = load(p, target="v", time="t")
    fr = ds.aux["file_row"]
    np.testing.assert_allclose(ds.aux["time"], t[fr])  # each data row points at its own line of the file
    assert np.all(np.diff(ds.aux["time"]) > 0) and sorted(fr.tolist()) == list(range(40))


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
    with pytest.raises(ConfigError, match="statistic"):
        run(model, ds, training=None, statistic="loudness")


def test_influence_scorer_without_declared_corruption_says_nothing():
    f = Finding("influence", "rows 1, 2", {"suspect_rows": [1, 2], "scores": [3.0, 2.0]}, probe="influence")
    score([f], GroundTruth())
    assert f.match is None
