"""Interactions probe: which inputs a trained network combines non-additively, its scorer and its heat map."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
import torch

from physlens.data.dataset import Dataset
from physlens.findings import Finding, GroundTruth, score
from physlens.probes.interactions import applies, interaction_rows, pair_interactions, run
from physlens.scoring.interaction import mixed_partial_vanishes


class Analytic(torch.nn.Module):
    """A known law as a model: the probe reads it as it reads a network (its error on the data is zero)."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn
        self.dummy = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))

    def forward(self, x):
        return self.fn(x)[:, None]


def _data(fn, d: int, n: int = 1500, low: float = 0.5, high: float = 2.0, seed: int = 0) -> Dataset:
    X = np.random.default_rng(seed).uniform(low, high, (n, d))
    y = fn(torch.as_tensor(X)).numpy()
    return Dataset(X, y, [f"x{i + 1}" for i in range(d)], ["y"])


def _interacting(findings, order: int = 2) -> set[tuple[str, ...]]:
    return {tuple(f.value["variables"]) for f in findings
            if f.kind == "interaction" and f.value["interacting"] and len(f.value["variables"]) == order}


def test_superset_importance_of_a_product_is_the_product_of_the_variances():
    X = np.random.default_rng(0).uniform(-1, 1, (6000, 3))
    t = pair_interactions(lambda Z: Z[:, 0] * Z[:, 1] + np.sin(Z[:, 2]), X, n_rows=6000)
    imp = t.importance[:, 0]
    assert imp[0] == pytest.approx(1 / 9, rel=0.05)  # Var(U(-1,1))^2
    assert np.all(np.abs(imp[1:]) < 1e-20)  # (x0, x2) and (x1, x2) separate exactly
    M = t.matrix()
    assert M[1, 0] == M[0, 1] and np.isnan(M[0, 0])


def test_exactly_the_product_pairs_of_the_headline_law_are_found_on_a_trained_network():
    from physlens.models import build_model
    from physlens.train import TrainConfig, fit

    rng = np.random.default_rng(1)
    X = rng.uniform(0.5, 2.0, (2000, 6))
    y = X[:, 0] * np.cos(X[:, 1]) + X[:, 2] ** 2 + np.log(X[:, 3]) * X[:, 4]
    ds = Dataset(X, y, [f"x{i + 1}" for i in range(6)], ["y"])
    s = sp.symbols("x1:7", positive=True)
    ds.truth = GroundTruth(equations={"y": s[0] * sp.cos(s[1]) + s[2] ** 2 + sp.log(s[3]) * s[4]})
    res = fit(build_model("mlp", ds), ds, TrainConfig(epochs=120, progress=False, snapshots="none"))
    fs = run(res.model, ds, heldout=res.val_index, max_rows=600)
    pairs = [f for f in fs if f.kind == "interaction"]
    assert len(pairs) == 15  # every pair of six inputs is judged
    assert _interacting(fs) == {("x1", "x2"), ("x4", "x5")}
    card = score(fs, ds.truth)
    assert card["kinds"]["interaction"] == {"scored": 15, "matched": 15}
    strong = {f.subject: f.value["strength"] for f in pairs}
    assert strong["x1×x2"] > 20 * strong["x1×x3"]


def test_an_additive_law_has_no_interacting_pair():
    law = lambda x: torch.sin(x[:, 0]) + x[:, 1] ** 2 + torch.log(x[:, 2]) + torch.exp(-x[:, 3])
    fs = run(Analytic(law), _data(law, 4), max_rows=500)
    assert len(fs) == 6 and not _interacting(fs)


def test_a_product_separates_multiplicatively_a_sum_of_products_does_not():
    prod = lambda x: x[:, 0] ** 2 * torch.exp(-x[:, 1]) * x[:, 2]
    fs = run(Analytic(prod), _data(prod, 3), max_rows=500, higher_order=False)
    assert _interacting(fs) == {("x1", "x2"), ("x1", "x3"), ("x2", "x3")}
    assert all(f.value["multiplicative"] for f in fs)
    mixed = lambda x: x[:, 0] * x[:, 1] + x[:, 2]
    fs = run(Analytic(mixed), _data(mixed, 3), max_rows=500)
    by = {f.subject: f.value for f in fs}
    assert by["x1×x2"]["interacting"] and not by["x1×x2"]["multiplicative"]


def test_a_three_way_product_is_a_group_three_pair_products_are_not():
    triple = lambda x: x[:, 0] * x[:, 1] * x[:, 2] + x[:, 3]
    fs = run(Analytic(triple), _data(triple, 4, low=-1, high=1), max_rows=800)
    assert _interacting(fs) == {("x1", "x2"), ("x1", "x3"), ("x2", "x3")}
    assert _interacting(fs, order=3) == {("x1", "x2", "x3")}
    pairs = lambda x: x[:, 0] * x[:, 1] + x[:, 1] * x[:, 2] + x[:, 0] * x[:, 2] + x[:, 3]
    fs = run(Analytic(pairs), _data(pairs, 4, low=-1, high=1), max_rows=800)
    assert _interacting(fs) == {("x1", "x2"), ("x1", "x3"), ("x2", "x3")}
    assert not _interacting(fs, order=3)
    x1, x2, x3, x4 = sp.symbols("x1:5")
    score(fs, GroundTruth(equations={"y": x1 * x2 + x2 * x3 + x1 * x3 + x4}))
    assert all(f.match for f in fs if f.kind == "interaction")


def test_a_coarse_model_does_not_declare_pairs_additive():
    law = lambda x: x[:, 0] * x[:, 1] + x[:, 2]
    ds = _data(law, 3, low=-1, high=1)
    ds.y = ds.y + np.random.default_rng(0).normal(0, 0.5 * ds.y.std(), ds.y.shape)  # the model misses 20 %
    fs = run(Analytic(law), ds, max_rows=500)
    assert _interacting(fs) == {("x1", "x2")}
    assert not [f for f in fs if f.kind == "interaction" and not f.value["interacting"]]
    unsure = [f for f in fs if f.kind == "uncertainty"]
    assert len(unsure) == 1 and len(unsure[0].value["pairs"]) == 2


def test_many_inputs_test_pairs_among_the_most_influential_and_say_so():
    law = lambda x: x[:, 0] * x[:, 1] + 0.5 * x[:, 2:].sum(dim=1)
    ds = _data(law, 12, n=800)
    fs = run(Analytic(law), ds, max_rows=300, max_inputs=5)
    pairs = [f for f in fs if f.kind == "interaction"]
    assert len(pairs) == 10 and _interacting(fs) == {("x1", "x2")}
    assert len(pairs[0].evidence["inputs_not_tested"]) == 7


def test_the_scorer_reads_the_mixed_partial_of_the_true_law():
    a, b, c = sp.symbols("a b c", positive=True)
    assert mixed_partial_vanishes(sp.log(a * b) + c, ["a", "b"])  # log(ab) = log a + log b
    assert not mixed_partial_vanishes(sp.sqrt(a**2 + b**2), ["a", "b"])
    assert mixed_partial_vanishes(a * b, ["a", "c"])
    assert not mixed_partial_vanishes(a * b * c, ["a", "b", "c"])
    assert mixed_partial_vanishes(a * b + b * c, ["a", "b", "c"])
    f = Finding("interaction", "a, b", {"variables": ["a", "b"], "interacting": False, "strength": 0.0})
    g = Finding("interaction", "a, b", {"variables": ["a", "b"], "interacting": True, "strength": 0.1}, target="z")
    score([f, g], GroundTruth(equations={"y": sp.sqrt(a**2 + b**2)}))
    assert f.match is False and g.match is None  # no target: the only law; no law for z: unscored


def test_the_probe_applies_to_two_or_more_inputs():
    law = lambda x: x[:, 0]
    assert "two inputs" in applies(_data(law, 1, n=20))
    assert applies(_data(law, 2, n=20)) is None


def test_the_heat_map_and_the_rows_view():
    from physlens.report.figures import section_figures

    law = lambda x: x[:, 0] * x[:, 1] + x[:, 2]
    fs = run(Analytic(law), _data(law, 3), max_rows=300)
    figs, note = section_figures("interaction", fs)
    assert note is None and len(figs) == 1 and "1 interacting pair" in figs[0][0]
    rows = interaction_rows(fs)
    assert [(r["a"], r["b"]) for r in rows if r["interacting"]] == [("x1", "x2")]


def test_discover_chooses_the_probe_and_runs_it_within_its_budget(tmp_path, distractor_csv):
    from physlens.study import Study, build_study, run_study, select_probes

    ds = _data(lambda x: x[:, 0] * x[:, 1], 3, n=50)
    assert "interactions" in {p.name for p in select_probes(Study(), ds)[0]}
    study = build_study(str(distractor_csv), target="y", probes="interactions", budget="quick", epochs=80,
                        progress=False)
    result = run_study(study, out=tmp_path, progress=False)
    notes = {n["probe"]: n for n in result.probes}
    assert notes["interactions"]["status"] == "ran"
    assert _interacting(result.findings) == {("x1", "x2")}  # y = x1 * x2**2, x3 unused


@pytest.mark.slow
def test_kepler_accelerations_couple_x_and_y_and_correlated_states_raise_no_false_pair():
    from physlens.models import build_model
    from physlens.systems import get_system
    from physlens.train import TrainConfig, fit

    ds = get_system("kepler", points_per_trajectory=10).sample(4000)  # the discover sample: short orbits
    res = fit(build_model("mlp", ds), ds, TrainConfig(epochs=150, progress=False, snapshots="none"))
    fs = run(res.model, ds, heldout=res.val_index)
    card = score(fs, ds.truth)
    found = {(f.target, f.subject) for f in fs if f.kind == "interaction" and f.value["interacting"]}
    assert found == {("dvx_dt", "x×y"), ("dvy_dt", "x×y")}  # -x/r^3, -y/r^3; dx/dt = vx is additive
    assert card["kinds"]["interaction"]["matched"] == card["kinds"]["interaction"]["scored"] >= 20


def test_pairs_with_an_input_the_others_fix_get_no_verdict():
    # x3 = x1 + x2 exactly: y = x1 x2 equals x1 x2 + (x3 - x1 - x2) x1 on every row, so whether x1 and x3
    # interact is not a property of the data; x4 is free and its pairs keep their verdicts
    X = np.random.default_rng(0).uniform(0.5, 2.0, (1500, 3))
    X = np.c_[X[:, 0], X[:, 1], X[:, 0] + X[:, 1], X[:, 2]]
    law = lambda x: x[:, 0] * x[:, 1] + x[:, 3]
    ds = Dataset(X, law(torch.as_tensor(X)).numpy(), ["x1", "x2", "x3", "x4"], ["y"])
    fs = run(Analytic(law), ds, max_rows=400)
    judged = {tuple(f.value["variables"]) for f in fs if f.kind == "interaction"}
    assert judged == set()  # every pair holds x1, x2 or x3, each fixed by the other two
    (unsure,) = [f for f in fs if f.kind == "uncertainty"]
    assert unsure.value["determined_inputs"] == ["x1", "x2", "x3"] and len(unsure.value["pairs"]) == 6


def test_the_typical_row_and_heredity_keep_a_shared_smooth_error_additive():
    # a fine emulator of y = x1 x2 + x3 whose whole error is a small x3 x4 term on every row: the pair's joint
    # part is 1 MSE (above the 0.5 MSE threshold), but x4 alone moves the output by 1 MSE too (not above
    # 4 MSE), so x3 x4 is the error, not an interaction
    rng = np.random.default_rng(2)
    X = rng.uniform(-1, 1, (2000, 4))
    truth = lambda x: x[:, 0] * x[:, 1] + x[:, 2]
    net = lambda x: truth(x) + 0.01 * x[:, 2] * x[:, 3]
    ds = Dataset(X, truth(torch.as_tensor(X)).numpy(), ["x1", "x2", "x3", "x4"], ["y"])
    fs = run(Analytic(net), ds, max_rows=1000)
    assert _interacting(fs) == {("x1", "x2")}
    (f,) = [f for f in fs if f.kind == "interaction" and f.value["variables"] == ["x3", "x4"]]
    assert not f.value["interacting"] and f.evidence["importance"] > f.evidence["threshold"]
    assert "x4 on its own changes" in f.statement


def test_the_work_is_counted_so_a_slow_clock_changes_no_finding(monkeypatch):
    # the same data, seed and budget on an idle and on a very busy machine (a clock that races 0.3 s per
    # reading): the plan is fixed from counts, so the findings are the same, evidence included
    import physlens.probes.interactions as probe

    law = lambda x: x[:, 0] * x[:, 1] * x[:, 2] + x[:, 3] ** 2
    ds = _data(law, 5, n=1200, low=-1, high=1)
    idle = run(Analytic(law), ds, budget_seconds=3.0, seed=3)
    ticks = iter(range(10**6))
    monkeypatch.setattr(probe.time, "monotonic", lambda: 0.3 * next(ticks))
    busy = run(Analytic(law), ds, budget_seconds=3.0, seed=3)
    assert [f.to_dict() for f in idle] == [f.to_dict() for f in busy]
    assert _interacting(busy, order=3) == {("x1", "x2", "x3")}


def test_the_plan_grows_with_the_budget_and_the_three_way_cap_is_reported():
    from physlens.probes.interactions import plan_interactions

    small = plan_interactions(d=12, k=4, n=5000, row_s=5e-6, support_s=5e-6, budget_seconds=1.0)
    large = plan_interactions(d=12, k=4, n=5000, row_s=5e-6, support_s=5e-6, budget_seconds=10.0)
    assert small.rows < large.rows and small.max_triples <= large.max_triples
    assert sum(large.seconds) <= 10.0  # the plan stays within its share
    # two disjoint three-way products: two triangles admitted by heredity, a cap of one tests the stronger
    law = lambda x: 2 * x[:, 0] * x[:, 1] * x[:, 2] + x[:, 3] * x[:, 4] * x[:, 5]
    fs = run(Analytic(law), _data(law, 6, low=-1, high=1), max_rows=600, max_triples=1)
    assert _interacting(fs, order=3) == {("x1", "x2", "x3")}
    (cut,) = [f for f in fs if f.kind == "uncertainty"]
    assert cut.value["tested"] == 1 and cut.value["admitted"] == 2 and cut.value["triples"] == [["x4", "x5", "x6"]]


def test_the_oracle_separates_by_the_probes_own_rule():
    from physlens.probes.equations.oracle import separable_groups
    from physlens.probes.interactions import pair_verdicts

    law = lambda x: x[:, 0] * x[:, 1] + torch.exp(x[:, 2])
    X = np.random.default_rng(0).uniform(1, 2, (400, 3))
    assert separable_groups(Analytic(law), X) == [[0, 1], [2]]
    t = pair_interactions(lambda Z: law(torch.as_tensor(Z)).numpy(), X, n_rows=400)
    assert [v.verdict for v in pair_verdicts(t, 0.0, float(np.var(law(torch.as_tensor(X)).numpy())))] == \
        ["interacting", "additive", "additive"]
