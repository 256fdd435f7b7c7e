"""Specifications of the concepts probe: the latent count, what each latent means, layer probes, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from physlens.data import Dataset
from physlens.errors import ConfigError, DataError
from physlens.findings import GroundTruth, score
from physlens.probes import concepts as C


def hidden_parameter_task(n_hidden: int, n: int = 1200, seed: int = 0) -> Dataset:
    """Observation = 6 nonlinear measurements of n_hidden parameters p; question q (3 columns); answer sum_i p_i q_i."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(-1, 1, (n, max(n_hidden, 1)))[:, :n_hidden]
    W = rng.normal(size=(6, max(n_hidden, 1)))[:, :n_hidden]
    obs = np.tanh(p @ W.T) if n_hidden else rng.normal(size=(n, 6))
    q = rng.uniform(-1, 1, (n, 3))
    y = (p * q[:, :n_hidden]).sum(1) if n_hidden else np.sin(2 * q[:, 0]) + q[:, 1] ** 2
    names = [f"o{i}" for i in range(6)] + ["q0", "q1", "q2"]
    aux = {f"p{i}": p[:, i] for i in range(n_hidden)}
    return Dataset(np.c_[obs, q], y, names, ["y"], aux=aux, meta={"question_columns": ["q0", "q1", "q2"]})


@pytest.mark.slow
def test_three_hidden_parameters_need_three_latents_each_encoding_one_parameter():
    ds = hidden_parameter_task(3)
    fs = C.run(None, ds, layer_probes=False, max_latents=4, epochs=60, restarts=2, width=32)
    latents = [f for f in fs if f.kind == "concept"]
    assert fs[0].value["count"] == 3 == len(latents)
    set_r2 = latents[0].evidence["set_r2"]
    assert min(set_r2.values()) > 0.9, set_r2  # the three latents together hold p0, p1, p2
    assert fs[0].value["set_r2"] == set_r2 and "together the latents hold p0 (R² " in fs[0].statement
    curve = {c["latents"]: c["envelope"] for c in fs[0].value["curve"]}
    assert curve[2] - curve[3] > 0.05 and curve[3] - curve[4] < 0.03


def test_an_observation_that_carries_nothing_needs_no_latent():
    fs = C.run(None, hidden_parameter_task(0, n=800), layer_probes=False, max_latents=3, epochs=80, width=32)
    assert fs[0].value["count"] == 0
    assert not [f for f in fs if f.kind == "concept"]


def test_a_network_too_narrow_for_the_code_is_widened_on_validation():
    # 4 hidden units cannot decode three parameters (validation 0.73 of the variance at 8 units' 0.10)
    r = C.latent_count(hidden_parameter_task(3, n=800), max_latents=4, epochs=60, restarts=1, width=4, widen=1)
    assert r["width"] == 8
    assert r["curve"][-1]["best_from"] == "over-complete, width 8"
    with pytest.raises(ConfigError, match="widen"):
        C.latent_count(hidden_parameter_task(3, n=800), max_latents=2, widen=-1)


def test_a_search_whose_fits_the_budget_stops_says_its_count_is_unreliable():
    ds = hidden_parameter_task(1, n=600)
    # 20000 epochs cannot finish in the 0.5 s a fit gets from a 1 ms budget, on any machine
    cut = C.latent_count(ds, max_latents=2, epochs=20000, restarts=1, width=8, widen=0, budget_seconds=1e-3)
    assert cut["cut_fits"] and not cut["complete"] and all(r < 20000 for r, _ in cut["cut_fits"])
    whole = C.latent_count(ds, max_latents=2, epochs=5, restarts=1, width=8, widen=0)
    assert whole["cut_fits"] == [] and whole["complete"]


def test_an_unfinished_search_does_not_count_the_over_complete_stages_head_start():
    """The demo's Kepler concepts at 18 of 150 epochs: stages 3-7 at 0.084, the 8-latent stage (trained first and
    longest) at 0.053, its code a little richer. The step rule counts 8; an unfinished search reads the others."""
    rng = np.random.default_rng(3)

    def stage(err, dim):
        sq = err * rng.exponential(size=(1500, 1))
        return {"sq": sq, "each": sq.mean(0), "intrinsic_dimension": dim}

    env = {0: stage(0.338, 0), 3: stage(0.0843, 1.6), 4: stage(0.0843, 1.6), 5: stage(0.0843, 1.6), 8: stage(0.0533, 2.4)}
    count, thr, steps = C.count_steps(env)
    assert count == 8
    count2, _, _, ceiling = C.unfinished_count(env, count, thr, steps, max_latents=8)
    assert (count2, ceiling) == (3, 8)
    # a count below the over-complete stage, or no smaller stage tried, stands
    assert C.unfinished_count(env, 3, thr, steps, max_latents=8)[::3] == (3, None)
    assert C.unfinished_count({0: env[0], 8: env[8]}, 8, thr, steps, max_latents=8)[::3] == (8, None)


def test_the_monotone_envelope_never_keeps_a_stage_worse_than_a_smaller_one():
    ds = hidden_parameter_task(1, n=600)
    r = C.latent_count(ds, max_latents=3, epochs=15, restarts=1, width=16)
    env = [c["envelope"] for c in r["curve"]]
    assert all(b <= a + 1e-12 for a, b in zip(env, env[1:]))
    assert all(c["envelope"] <= c["val_mse"] + 1e-12 for c in r["curve"])


def test_latents_are_matched_to_candidates_monotone_angles_and_unexplained():
    rng = np.random.default_rng(1)
    k, b, phi = rng.uniform(0.5, 2, 1500), rng.uniform(0, 1, 1500), rng.uniform(0, 2 * np.pi, 1500)
    mu = np.c_[np.log(k), -(b**3), np.mod(phi + 1.0, 2 * np.pi), rng.normal(size=1500)]  # phi cut elsewhere
    r = C.explain_latents(mu, {"k": k, "b": b, "phi": phi})
    assert r["per_latent"][0]["k"] > 0.99 and r["per_latent"][1]["b"] > 0.99
    assert r["set_r2"]["k"] > 0.95 and r["set_r2"]["b"] > 0.95
    assert r["per_latent"][2]["phi"] > 0.95  # an angle is compared through its cosine and sine, not its cut
    assert r["unexplained"] == [3]  # pure noise is no concept
    assert r["max_abs_spearman"] < 0.1  # independent latents


@pytest.mark.parametrize("set_fit", ["kernel", "network"])
def test_a_candidate_coded_jointly_by_two_latents_is_explained_by_the_set(set_fit):
    rng = np.random.default_rng(2)
    k, b = rng.uniform(0.5, 2, 1600), rng.uniform(0.1, 1.5, 1600)
    mu = np.c_[np.log(k) + np.log(b), np.log(k) - np.log(b)]  # rotated code: no latent is k or b alone
    r = C.explain_latents(mu, {"k": k, "b": b}, set_fit=set_fit)
    assert min(r["set_r2"].values()) >= 0.95, r["set_r2"]
    assert max(max(d.values()) for d in r["per_latent"]) < 0.9  # neither latent alone holds k or b


def test_the_set_fit_is_named_and_checked():
    mu = np.random.default_rng(0).normal(size=(200, 2))
    with pytest.raises(ConfigError, match="set_fit"):
        C.explain_latents(mu, {"a": mu[:, 0] + mu[:, 1]}, set_fit="forest")


def test_kernel_ridge_reads_a_smooth_map_of_six_latents_from_few_rows():
    # 15 smooth functions of 6 coordinates from 1500 rows: the regime of a two-qubit code (a network of 128
    # units overfits there); the kernel width is chosen inside the training rows, the held-out rows judge
    rng = np.random.default_rng(4)
    Z = rng.uniform(-1, 1, (1500, 6))
    W = rng.normal(size=(6, 15))
    Y = np.cos(Z @ W / 2) + 0.3 * (Z @ W / 2) ** 2
    r2 = C.kernel_r2(Z, Y, seed=0)
    assert r2.shape == (15,) and r2.min() > 0.95, r2
    assert C.kernel_r2(Z, rng.normal(size=1500)) < 0.05  # noise is not read
    # two groups only: a fold's training rows are one group, too few to choose the kernel on, and it still fits
    assert np.isfinite(C.kernel_r2(Z[:40], Y[:40, 0], groups=np.repeat([0, 1], 20), folds=2))


def test_copies_of_a_trajectory_cannot_carry_its_value_into_the_held_out_rows():
    # 120 trajectories of 8 rows share k; a latent that is a random label of the trajectory (no function of k)
    # lets a fit split by rows look up k from the trajectory's other rows, never one split by trajectories
    rng = np.random.default_rng(3)
    groups = np.repeat(np.arange(120), 8)
    k = rng.uniform(0.5, 2, 120)[groups]
    label = rng.normal(size=(120, 2))[groups]
    code = np.c_[np.log(k), rng.normal(size=120)[groups]] + 0.01 * rng.normal(size=(960, 2))
    by_rows = C.explain_latents(label, {"k": k})
    by_trajectory = C.explain_latents(label, {"k": k}, groups=groups)
    assert by_rows["set_r2"]["k"] > 0.9  # what the row split believed
    assert by_trajectory["set_r2"]["k"] < 0.2 and by_trajectory["unexplained"] == [0, 1]
    assert C.explain_latents(code, {"k": k}, groups=groups)["per_latent"][0]["k"] > 0.99  # a real code still shows
    nothing = C.explain_latents(code, {}, groups=groups)  # no candidate: every latent unexplained, no error
    assert nothing["set_r2"] == {} and nothing["unexplained"] == [0, 1]


def test_set_encoder_reads_the_context_rows_as_an_unordered_set():
    from physlens.models.bottleneck import Bottleneck

    torch.manual_seed(0)
    m = Bottleneck(3 * 2 + 1, 1, question_idx=[6], latent_dim=2, width=8, set_size=3)
    x = torch.randn(5, 7)
    swapped = x[:, [2, 3, 0, 1, 4, 5, 6]]  # rows 0 and 1 of the set exchanged
    assert torch.allclose(m(x), m(swapped), atol=1e-6)
    with pytest.raises(ConfigError, match="set_size"):
        Bottleneck(7, 1, question_idx=[6], latent_dim=2, set_size=4)


def test_context_task_of_the_damped_pendulum_offers_k_and_b_as_candidates():
    from physlens.systems import get_system

    ds = get_system("damped_pendulum", points_per_trajectory=20).sample(600, seed=0)
    t = C.concept_task(ds, context_rows=3)
    assert t.mode == "context" and sorted(t.candidates) == ["b", "k"]
    assert t.data.d_in == 3 * 4 + 2 and t.data.meta["question_columns"] == ["theta", "omega"]
    # every context row comes from the question row's trajectory: it obeys the law with that row's k and b
    k, b = t.candidates["k"], t.candidates["b"]
    for c in range(3):
        theta, omega, _, domega = t.data.X[:, 4 * c : 4 * c + 4].T
        assert np.allclose(domega, -k * np.sin(theta) - b * omega)
    assert C.applies(get_system("toy_distractor").sample(50)) is not None


def test_far_context_rows_come_from_the_other_half_of_the_trajectory():
    # trajectories of 8 rows whose first input is the time itself: the context columns show where they come from
    rng = np.random.default_rng(0)
    traj = np.repeat(np.arange(40), 8)
    t = np.tile(np.arange(8.0), 40)
    a = rng.uniform(1, 2, 40)[traj]
    ds = Dataset(np.c_[t, rng.normal(size=len(t))], (a * t)[:, None], ["t_in", "x"], ["y"],
                 aux={"trajectory": traj, "t": t, "a": a})
    far = C.concept_task(ds, context_rows=3, context="far")
    anywhere = C.concept_task(ds, context_rows=3, context="any")
    assert far.mode == "context" and sorted(far.candidates) == ["a"]
    q_late = far.data.X[:, -2] >= 3.5  # question row in the second half (times 4..7)
    for c in range(3):
        ctx_late = far.data.X[:, 3 * c] >= 3.5
        assert np.all(ctx_late != q_late)  # every context row from the other half
    same_half = np.mean([(anywhere.data.X[:, 3 * c] >= 3.5) == (anywhere.data.X[:, -2] >= 3.5) for c in range(3)])
    assert 0.25 < same_half < 0.6  # "any" draws from the whole trajectory
    with pytest.raises(ConfigError, match="context must be"):
        C.concept_task(ds, context="near")


def test_linear_probes_read_a_quantity_the_hidden_layer_computes():
    torch.manual_seed(0)
    X = np.random.default_rng(0).uniform(-1, 1, (600, 2))
    net = torch.nn.Sequential(torch.nn.Linear(2, 32), torch.nn.Tanh(), torch.nn.Linear(32, 1)).double()
    with torch.no_grad():  # hidden unit 0 computes tanh(x0 + x1)
        net[0].weight[0] = torch.tensor([1.0, 1.0])
        net[0].bias[0] = 0.0
    r = C.layer_probes(net, X, {"s": np.tanh(X[:, 0] + X[:, 1]), "r2": (X**2).sum(1)})
    assert r["s"]["1"] > 0.999  # read off the activation
    assert r["s"]["inputs"] < r["s"]["1"]
    assert r["r2"]["inputs"] < 0.2  # a radius is not linear in the inputs


def test_concept_scorer_checks_count_and_latent_variables():
    from physlens.findings import Finding

    fs = [Finding("concept", "l", {"latent": i, "explained_by": {}}, evidence={"set_r2": {"k": 0.99, "b": 0.6}})
          for i in range(2)]
    card = score(fs, GroundTruth(latent_dim=2, extra={"latent_variables": ["k", "b"]}))
    assert card["kinds"]["concept"] == {"scored": 2, "matched": 0}  # b is not explained
    card = score(fs[:1], GroundTruth(latent_dim=1))
    assert card["kinds"]["concept"]["matched"] == 1


@pytest.fixture
def concept_file(tmp_path):
    ds = hidden_parameter_task(1, n=500)
    df = pd.DataFrame(np.c_[ds.X, ds.y, ds.aux["p0"]], columns=ds.input_names + ["y", "p0"])
    df["flat"] = 2.0
    path = tmp_path / "c.csv"
    df.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("args, message", [
    (["--question", "q0", "--inputs", "o0,o1,q0"], "question column 'q0' is also an input"),
    (["--question", "nope"], "question column 'nope' not found"),
    (["--question", "q0,q1,q2", "--candidates", "p0,flat"], "candidate column 'flat' is constant"),
    (["--question", "q0,q1,q2", "--candidates", "p0", "--max-latents", "20"], "too few"),
])
def test_concepts_cli_names_bad_input_in_one_line(concept_file, args, message):
    from typer.testing import CliRunner

    from physlens.cli import app

    from physlens.errors import PhyslensError

    res = CliRunner().invoke(app, ["concepts", str(concept_file), "--target", "y", *args, "--json"])
    # physlens.cli.main prints a PhyslensError as one line on stderr with exit code 2
    assert isinstance(res.exception, PhyslensError), res.output
    assert message in str(res.exception) and len(str(res.exception).splitlines()) == 1


def test_concepts_cli_prints_one_concept_finding_per_latent(concept_file, tmp_path):
    from typer.testing import CliRunner

    from physlens.cli import app

    pd.read_csv(concept_file).drop(columns="flat").to_csv(concept_file, index=False)
    res = CliRunner().invoke(app, ["concepts", str(concept_file), "--target", "y", "--question", "q0,q1,q2",
                                   "--candidates", "p0", "--max-latents", "2", "--epochs", "40", "--width", "32",
                                   "--widen", "0", "--json", "--out", str(tmp_path / "runs")])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout.strip().splitlines()[-1])
    latents = [f for f in out["findings"] if f["kind"] == "concept"]
    count = [f for f in out["findings"] if f["kind"] == "quality"][0]["value"]["count"]
    assert len(latents) == count == 1
    assert latents[0]["value"]["explained_by"]["p0"] > 0.9
    quality = [f for f in out["findings"] if f["kind"] == "quality"][0]
    assert quality["evidence"]["width"] == 32  # --width reached the search (--widen 0: no doubling tried)


def test_run_offers_the_count_search_with_latent_counts_own_defaults():
    import inspect

    run_params = inspect.signature(C.run).parameters
    for name in ("epochs", "restarts", "min_gain", "rel_gain", "width", "beta", "decoder", "distill", "widen"):
        assert run_params[name].default == C.COUNT_DEFAULTS[name], name


def test_distillation_validates_on_the_rows_and_needs_questions():
    from physlens.models.bottleneck import Bottleneck
    from physlens.train.bottleneck import Distillation

    ds = hidden_parameter_task(2, n=200)
    teacher = Bottleneck.from_dataset(ds, latent_dim=3, width=8)
    student = Bottleneck.from_dataset(ds, latent_dim=2, width=8)
    d = Distillation(student, teacher, copies=2)
    x, y = torch.as_tensor(ds.X, dtype=torch.float32), torch.as_tensor(ds.y, dtype=torch.float32)
    d.eval()
    with torch.no_grad():
        assert d.training_loss(x, y)[0].item() == pytest.approx(student.training_loss(x, y)[0].item())
    d.train()
    assert "distill" in d.training_loss(x, y)[1]
    assert not [n for n, _ in d.named_parameters() if not n.startswith("student.")]  # the teacher is not trained
    direct = Dataset(ds.X, ds.y, ds.input_names, ds.target_names)
    with pytest.raises(ConfigError, match="no question columns"):
        Distillation(Bottleneck.from_dataset(direct, latent_dim=2, width=8), teacher)


def test_distillation_from_an_over_complete_code_curbs_the_overfit_of_a_small_one():
    """120 observations of 2 hidden parameters, three draws: the 2-latent fit learns more from the teacher's
    answers to resampled questions than from its own rows alone (validation error on the same held-out rows),
    on every draw, and by a clear margin on average (measured ratios 0.65, 0.64, 0.93)."""
    from physlens.models.bottleneck import Bottleneck
    from physlens.train import TrainConfig, fit
    from physlens.train.bottleneck import Distillation

    ratios = []
    for draw in (3, 4, 5):
        ds = hidden_parameter_task(2, n=120, seed=draw)
        cfg = TrainConfig(epochs=150, batch_size=16, patience=40, seed=0, progress=False, snapshots="none")
        torch.manual_seed(0)
        teacher = Bottleneck.from_dataset(ds, latent_dim=4, width=32)
        fit(teacher, ds, cfg)
        val = {}
        for how in ("plain", "distilled"):
            torch.manual_seed(1)
            student = Bottleneck.from_dataset(ds, latent_dim=2, width=32)
            res = fit(Distillation(student, teacher, copies=2) if how == "distilled" else student, ds, cfg)
            pred = student.predict(ds.X[res.val_index])
            val[how] = float(np.mean((pred - ds.y[res.val_index]) ** 2) / ds.y.var())
        ratios.append(val["distilled"] / val["plain"])
    assert max(ratios) < 1.0 and float(np.exp(np.mean(np.log(ratios)))) < 0.85, ratios


def _stage(err: float, dim: float, rng, rows: int = 3000) -> dict:
    sq = err * rng.exponential(size=(rows, 1))  # squared standardised errors of one target, mean ``err``
    return {"sq": sq, "each": sq.mean(0), "intrinsic_dimension": dim}


def test_a_small_step_counts_when_it_removes_most_of_the_error_left_and_the_code_gains_a_dimension():
    rng = np.random.default_rng(0)
    # SciNet's pendulum: damping after stiffness, 0.0139 -> 0.0040 of the variance (under the 0.01 threshold)
    count, thr, steps = C.count_steps({0: _stage(0.15, 0.0, rng), 1: _stage(0.0139, 1.0, rng),
                                       2: _stage(0.0040, 2.0, rng), 3: _stage(0.0035, 2.1, rng)})
    assert count == 2 and thr == 0.01 and steps[1]["gain"] < thr and steps[1]["counts"]
    # the same step into a code that re-codes the same parameters (one qubit: 2 -> 3 latents remove 99 % of
    # the error the 2-D chart of the sphere leaves) is no parameter
    count, _, steps = C.count_steps({0: _stage(0.3, 0.0, rng), 2: _stage(0.004, 2.0, rng),
                                     3: _stage(0.00004, 2.05, rng)})
    assert count == 2 and not steps[1]["counts"]
    # a decisive step under a quarter of the threshold is noise-sized, whatever its share
    count, _, _ = C.count_steps({0: _stage(0.15, 0.0, rng), 1: _stage(0.003, 1.0, rng), 2: _stage(0.0008, 2.0, rng)})
    assert count == 1
