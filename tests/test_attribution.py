"""The attribution probe calls an input relevant only when the data need it, not when a network reads it
in a few rows where no data lie."""

from __future__ import annotations

import numpy as np
import torch

from physlens.data.dataset import Dataset
from physlens.probes.attribution import run


class _ReadsOffTheData(torch.nn.Module):
    """y = x0, plus a dependence on x1 that is active only where x0 > 2.1, where the data hold x1 near 0."""

    def __init__(self) -> None:
        super().__init__()
        self.gain = torch.nn.Parameter(torch.tensor(2.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x[:, 0] + self.gain * x[:, 1] * torch.sigmoid(20.0 * (x[:, 0] - 2.1)))[:, None]


def _pericentre_like_data(n: int = 3000, d: int = 6, seed: int = 0) -> Dataset:
    # six inputs, as the 3-D Kepler state: neighbours are far apart, and at large x0 (2 % of the rows, like
    # states near pericentre) x1 is pinned near zero, like the speed that the energy pins there
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    tail = X[:, 0] > 1.8
    X[tail, 1] = 0.02 * rng.normal(size=tail.sum())
    return Dataset(X, X[:, 0].copy(), [f"x{i}" for i in range(d)], ["y"])


def test_an_input_read_only_in_a_few_rows_off_the_data_is_not_called_relevant():
    ds = _pericentre_like_data()
    model = _ReadsOffTheData().double()
    heldout = np.arange(2400, 3000)
    out = run(model, ds, heldout=heldout, repeats=3)
    fs = {f.subject: f for f in out if f.kind == "relevant-variable"}
    assert fs["x0"].value["relevant"]
    assert not any(fs[f"x{i}"].value["relevant"] for i in range(2, 6))
    # x1 gets no verdict: its mean effect clears the threshold, its typical row does not
    assert "x1" not in fs
    (unsure,) = [f for f in out if f.kind == "uncertainty"]
    assert unsure.value["variables"] == ["x1"] and unsure.value["reason"] == "carried by a few rows"


def test_without_the_typical_row_rule_the_few_rows_decide():
    # the 100 % quantile is the most-changed row: the rule is then void, and x1 comes out relevant
    ds = _pericentre_like_data()
    fs = {f.subject: f for f in run(_ReadsOffTheData().double(), ds, heldout=np.arange(2400, 3000), repeats=3,
                                    typical_quantile=1.0) if f.kind == "relevant-variable"}
    assert fs["x1"].value["relevant"]


def test_a_true_dependence_on_most_rows_keeps_its_power():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(2000, 3))
    y = X[:, 0] + 0.1 * X[:, 1]  # x1 carries 1 % of the variance, on every row

    class Law(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ripple = torch.nn.Parameter(torch.tensor(1e-3))

        def forward(self, x):
            return (x[:, 0] + 0.1 * x[:, 1])[:, None] + self.ripple * torch.sin(3 * x[:, 2:3])

    fs = {f.subject: f for f in run(Law().double(), Dataset(X, y, ["a", "b", "c"], ["y"]), heldout=np.arange(1500, 2000),
                                    repeats=3) if f.kind == "relevant-variable"}
    assert fs["a"].value["relevant"] and fs["b"].value["relevant"] and not fs["c"].value["relevant"]


def test_an_unused_one_of_redundant_observations_is_not_scored_as_a_miss():
    """SciNet's series: 50 samples of one curve fix (k, b); a network that skips some is not wrong."""
    from physlens.findings import Finding
    from physlens.scoring.relevance import score_relevance
    from physlens.systems import get_system

    truth = get_system("damped_oscillator_series").truth
    skipped = Finding("relevant-variable", "x7 does not affect x_q", {"variable": "x7", "relevant": False}, target="x_q")
    used = Finding("relevant-variable", "x3 affects x_q", {"variable": "x3", "relevant": True}, target="x_q")
    question = Finding("relevant-variable", "t_q does not affect x_q", {"variable": "t_q", "relevant": False},
                       target="x_q")
    score_relevance([skipped, used, question], truth)
    assert skipped.match is None and "redundant" in skipped.score_detail["reason"]
    assert used.match is True and question.match is False  # the question time is no redundant observation
