"""Weight spectra: power-law exponents, Marchenko–Pastur soft rank and randomisation distance of weight matrices."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from physlens.findings import Finding, findings_from_json, findings_to_json
from physlens.probes.spectra import (
    analyze,
    bootstrap_alpha,
    fit_power_law,
    marchenko_pastur,
    randomisation_distance,
    run,
    to_frame,
)
from physlens.report.kinds.spectra import spectra_figures
from tests.conftest import run_cli


def _pareto(alpha: float, n: int, seed: int = 0) -> np.ndarray:
    """Samples with density ∝ x^-alpha for x >= 1."""
    return (1 - np.random.default_rng(seed).random(n)) ** (-1.0 / (alpha - 1.0))


@pytest.mark.parametrize("alpha", [2.0, 3.5, 5.0])
def test_power_law_exponent_of_a_pareto_tail_is_recovered_with_an_honest_error_bar(alpha):
    lam = np.concatenate([_pareto(alpha, 1500, seed=1), np.random.default_rng(2).uniform(0.1, 0.9, 500)])
    fit = fit_power_law(lam)
    assert abs(fit["alpha"] - alpha) < 0.15 * alpha
    boots = bootstrap_alpha(lam, n_boot=30, seed=0)
    assert abs(fit["alpha"] - alpha) < 3 * np.std(boots, ddof=1) + 0.05
    assert 0.5 < fit["xmin"] < 1.6  # the uniform bulk below 1 is not taken for tail


def test_random_gaussian_matrix_has_its_top_eigenvalue_at_the_marchenko_pastur_edge_and_no_soft_rank():
    N, M, sigma = 600, 200, 0.3
    W = np.random.default_rng(0).normal(0, sigma, (N, M))
    lam = np.linalg.eigvalsh(W.T @ W)
    mp = marchenko_pastur(lam, N, M)
    edge = sigma**2 * (np.sqrt(N) + np.sqrt(M)) ** 2
    assert abs(mp["bulk_edge"] / edge - 1) < 0.03
    assert abs(lam.max() / edge - 1) < 0.05
    assert mp["soft_rank"] <= 1


def test_planted_directions_are_counted_by_the_soft_rank_and_separate_the_matrix_from_its_shuffle():
    rng = np.random.default_rng(1)
    N, M = 400, 100
    W = rng.normal(0, 1, (N, M))
    for k in range(3):  # three learned directions well above the BBP threshold
        u, v = rng.normal(size=N), rng.normal(size=M)
        W += (6 + 2 * k) * np.outer(u / np.linalg.norm(u), v / np.linalg.norm(v)) * np.sqrt(N)
    rows = analyze({"w": torch.tensor(W)}, n_boot=0)
    assert rows[0]["soft_rank"] == 3
    assert rows[0]["stable_rank"] < 10
    noise = analyze({"w": torch.tensor(rng.normal(0, 1, (N, M)))}, n_boot=0)
    assert noise[0]["soft_rank"] <= 1
    assert rows[0]["rand_distance"] > noise[0]["rand_distance"] + 0.05
    a = np.linspace(1, 2, 300)
    assert randomisation_distance(a, a) == 0.0


def test_small_physics_network_matrices_get_an_explicit_too_few_eigenvalues_instead_of_a_silent_skip():
    net = torch.nn.Sequential(torch.nn.Linear(3, 64), torch.nn.SiLU(), torch.nn.Linear(64, 64), torch.nn.SiLU(),
                              torch.nn.Linear(64, 1))
    fs = run(net, None, bootstrap=10)
    by = {f.subject: f for f in fs}
    assert set(by) == {"0.weight", "2.weight", "4.weight", "summary"}
    assert by["0.weight"].value["alpha"] is None and "too few eigenvalues" in by["0.weight"].value["reason"]
    assert by["0.weight"].value["n_eigenvalues"] == 3 and by["4.weight"].value["n_eigenvalues"] == 1
    mid = by["2.weight"].value
    assert mid["alpha"] > 1 and mid["alpha_error"] > 0 and mid["n_eigenvalues"] == 64
    assert mid["alpha_weighted"] == pytest.approx(mid["alpha"] * np.log10(mid["lambda_max"]))
    assert by["summary"].value["n_fitted"] == 1 and by["summary"].value["n_too_few"] == 2
    assert all(f.kind == "quality" and f.probe == "spectra" for f in fs)
    back = findings_from_json(json.loads(json.dumps(findings_to_json(fs))))
    assert back[1].value["alpha"] == pytest.approx(mid["alpha"])
    assert list(to_frame(fs)["layer"]) == ["0.weight", "2.weight", "4.weight"]


def test_convolution_kernels_pool_one_matrix_per_kernel_position():
    conv = torch.nn.Conv2d(16, 24, 3)
    row = analyze(conv, n_boot=0)[0]
    assert row["shape"] == [9, 24, 16] and row["n_eigenvalues"] == 9 * 16
    W = conv.weight.detach().double()
    frob2 = float((W**2).sum())
    assert row["log_norm"] == pytest.approx(np.log10(frob2), rel=1e-9)


def test_alpha_equals_weightwatchers_on_every_layer_it_fits():
    ww = pytest.importorskip("weightwatcher")
    import logging

    logging.getLogger("weightwatcher").setLevel(logging.ERROR)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(30, 80), torch.nn.Linear(80, 120), torch.nn.Conv2d(24, 32, 3))
    with torch.no_grad():
        net[1].weight += 0.4 * torch.randn(120, 1) @ torch.randn(1, 80)
    df = ww.WeightWatcher(model=net).analyze()
    ours = analyze(net, n_boot=0, randomize=False)
    assert len(df) == len(ours) == 3
    for theirs, mine in zip(df["alpha"], ours):
        assert mine["alpha"] == pytest.approx(theirs, abs=1e-6)


def test_figures_draw_spectra_findings_and_leave_other_quality_findings_alone():
    fs = run(torch.nn.Linear(60, 40), None, bootstrap=0)
    figs = spectra_figures(fs, None)
    assert len(figs) == 2 and all(len(png) > 1000 for _, png in figs)
    assert spectra_figures([Finding("quality", "calibrated", {"coverage": 0.9}, probe="uncertainty")], None) == []


def test_spectra_command_reads_a_safetensors_file_and_says_what_is_wrong_with_a_bad_one(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "w.safetensors"
    save_file({"enc.weight": torch.randn(50, 40), "enc.bias": torch.randn(50), "out.weight": torch.randn(1, 50)}, path)
    res = run_cli("spectra", str(path), "--json", "--bootstrap", "5")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["run_dir"] is None
    layers = {f["subject"]: f["value"] for f in out["findings"]}
    assert set(layers) == {"enc.weight", "out.weight", "summary"}
    assert layers["enc.weight"]["n_eigenvalues"] == 40 and layers["out.weight"]["alpha"] is None
    bad = tmp_path / "bad.safetensors"
    bad.write_text("not a tensor file")
    res = run_cli("spectra", str(bad))
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "safetensors" in res.stderr
    from physlens.cli.spectra import load_state
    from physlens.errors import PhyslensError

    with pytest.raises(PhyslensError, match="model.safetensors"):
        load_state(tmp_path)


def test_spectra_probe_runs_in_a_study_and_its_figures_reach_the_report(tmp_path):
    from physlens.study import Study, run_study

    s = Study.parse({"source": {"system": "toy_distractor", "n": 300}, "train": {"epochs": 3, "progress": False},
                     "probes": [{"name": "spectra", "options": {"bootstrap": 5}}]})
    r = run_study(s, out=tmp_path, progress=False)
    assert any(f.subject == "summary" for f in r.findings)
    assert "Eigenvalue spectra of the weight matrices" in (r.run_dir / "report.html").read_text()
    res = run_cli("spectra", str(r.run_dir), "--json", "--bootstrap", "0")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["run_dir"] == str(r.run_dir)


def test_two_stage_lapack_eigenvalues_equal_the_standard_driver():
    from physlens.probes.spectra import _eigvalsh

    W = np.random.default_rng(3).standard_t(3, size=(2, 300, 120))
    G = np.matmul(W.transpose(0, 2, 1), W)
    ref = np.linalg.eigvalsh(G)
    for backend in ("lapack", "torch"):
        assert np.max(np.abs(_eigvalsh(G, backend) - ref)) < 1e-12 * ref.max()


def test_safetensors_file_is_analysed_without_torch_and_gives_the_torch_path_alpha(tmp_path):
    import subprocess
    import sys

    from physlens.cli import BUDGET_NAMES
    from physlens.study import BUDGETS

    assert tuple(BUDGETS) == BUDGET_NAMES
    rng = np.random.default_rng(4)
    state = {"dense.weight": torch.tensor(rng.standard_t(3, size=(300, 200)), dtype=torch.float32),
             "conv.weight": torch.tensor(rng.standard_t(4, size=(40, 30, 3, 3)), dtype=torch.float32),
             "dense.bias": torch.zeros(300)}
    path = tmp_path / "w.safetensors"
    save_file(state, path)
    script = ("import runpy, sys\n"
              f"sys.argv = ['physlens', 'spectra', {str(path)!r}, '--json', '--bootstrap', '0', '--no-randomize']\n"
              "try:\n    runpy.run_module('physlens.cli', run_name='__main__')\n"
              "except SystemExit as e:\n    assert not e.code, e.code\n"
              "print('torch imported' if 'torch' in sys.modules else 'no torch', file=sys.stderr)\n")
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert res.stderr.strip().endswith("no torch")
    fast = {f["subject"]: f["value"] for f in json.loads(res.stdout)["findings"]}
    full = {r["layer"]: r for r in analyze(state, n_boot=0, randomize=False)}  # torch loaded here: torch's eigvalsh
    assert set(fast) - {"summary"} == set(full) == {"dense.weight", "conv.weight"}
    for key, row in full.items():
        assert fast[key]["alpha"] == pytest.approx(row["alpha"], abs=1e-9)
        assert fast[key]["n_tail"] == row["n_tail"] and fast[key]["n_eigenvalues"] == row["n_eigenvalues"]
        assert fast[key]["log_norm"] == pytest.approx(row["log_norm"], rel=1e-12)
