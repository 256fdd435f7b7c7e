"""Calibrated intervals and OOD warnings: physlens against a plain deep ensemble and MC dropout, same run.

For each case (system, noise, seed) the same data, split and training recipe feed four methods:

* ``physlens`` — one MLP (64 x 3, the default emulator) + the uncertainty probe's calibration
  (last-layer Laplace spread, split conformal on the validation rows, OOD score from the
  penultimate-layer kNN distance and disagreement);
* ``ensemble`` — a plain deep ensemble of 5 such MLPs (Lakshminarayanan et al. 2017): Gaussian
  interval mean ± z sqrt(member variance + training residual variance), OOD score = member spread;
* ``mc-dropout`` — one MLP with dropout 0.1 after every hidden layer, 30 stochastic passes
  (Gal & Ghahramani 2016): the same Gaussian interval, OOD score = spread of the passes;
* ``conformal ensemble`` — the ensemble with physlens's conformal calibration on top (to separate
  what the calibration adds from what the spread estimate adds).

Coverage of 90 % intervals is measured on fresh rows (noise included) drawn in the same call as
the training rows and split off (whole trajectories), so that they are exchangeable with the
calibration rows: the systems scale their noise by the RMS of the sample drawn, and rows drawn in
a separate call carry a slightly different noise level. OOD AUROC separates those fresh rows from
copies with one random input moved outside the training box by 10 % to 50 % of its range.

Every case (system, noise) runs over several seeds (data, split, initialisation), and the table
gives the mean ± standard deviation over the seeds: a split-conformal guarantee is about the
average over calibration draws, and one draw of ``n_cal`` rows scatters by about
sqrt(0.09 / n_cal) (0.013 for 500 rows) around it. As a check on the calibration rows themselves
(they also chose the early-stopping epoch), ``fresh_calibration`` is the coverage the same model
reaches when calibrated on random draws of as many fresh rows.
Results go to ``benchmarks/results/uncertainty.json`` with the commit.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/uncertainty.py            # 5 systems x 4 seeds, ~25 min on 2 busy cores
    .venv/bin/python benchmarks/uncertainty.py --epochs 40 --n 800 --seeds 0  # a quick look
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from provenance import commit as _commit  # noqa: E402  (benchmarks/ is on sys.path)

ROOT = Path(__file__).resolve().parents[1]
Z90 = 1.6448536269514722
CASES = [
    ("toy_distractor", {}, 0.1),
    ("kepler", {"target": "energy", "points_per_trajectory": 10}, 0.02),
    ("rabi", {}, 0.05),
    ("harmonic_oscillator", {}, 0.05),
    ("lorentz_invariant", {}, 0.05),
]


def _dropout_mlp_class():
    from physlens.models.base import Emulator

    class DropoutMLP(Emulator):
        """The default MLP with dropout after every hidden activation (the MC-dropout peer)."""

        name = "bench_dropout_mlp"

        def __init__(self, d_in: int, d_out: int, width: int = 64, depth: int = 3, p: float = 0.1) -> None:
            super().__init__(d_in, d_out)
            layers: list[nn.Module] = []
            d = d_in
            for _ in range(depth):
                layers += [nn.Linear(d, width), nn.SiLU(), nn.Dropout(p)]
                d = width
            self.body = nn.Sequential(*layers)
            self.head = nn.Linear(d, d_out)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.body((x - self.x_mean) / self.x_std)) * self.y_std + self.y_mean

    return DropoutMLP


def _mc_passes(model, X: np.ndarray, passes: int, seed: int) -> np.ndarray:
    model.train()  # dropout on
    xt = torch.as_tensor(X, dtype=torch.float32)
    out = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        with torch.no_grad():
            for _ in range(passes):
                out.append(model(xt).numpy().astype(np.float64))
    model.eval()
    return np.stack(out)


def _push_outside(X: np.ndarray, lo: np.ndarray, hi: np.ndarray, rng) -> np.ndarray:
    """Move one random input of each row outside the training box by 10-50 % of its range."""
    out = X.copy()
    w = hi - lo
    for i in range(len(out)):
        j = rng.integers(out.shape[1])
        u = rng.uniform(0.1, 0.5)
        out[i, j] = hi[j] + u * w[j] if rng.random() < 0.5 else lo[j] - u * w[j]
    return out


def _gaussian(mean, var, noise_var, y):
    half = Z90 * np.sqrt(var + noise_var[None, :])
    cov = float(np.mean((y >= mean - half) & (y <= mean + half)))
    half_epi = Z90 * np.sqrt(var)
    cov_epi = float(np.mean((y >= mean - half_epi) & (y <= mean + half_epi)))
    return cov, cov_epi, np.mean(2 * half, axis=0)


def _split_off(data, n: int):
    """The first ``n`` rows (rounded up to whole trajectories) and the rest, as two datasets."""
    groups = data.groups()
    cut = n
    if groups is not None and n < data.n:
        later = np.flatnonzero(groups != groups[n - 1])
        later = later[later >= n]
        cut = int(later[0]) if len(later) else data.n
    return data.subset(np.arange(cut)), data.subset(np.arange(cut, data.n))


def _fresh_calibration(scores: np.ndarray, n_cal: int, draws: int, seed: int) -> float:
    """Mean coverage at 0.9 when calibrating on ``n_cal`` random fresh rows and testing on the others."""
    from physlens.probes.uncertainty import conformal_quantile

    rng = np.random.default_rng(seed)
    S = scores.reshape(len(scores), -1)
    out = []
    for _ in range(draws):
        pick = np.zeros(len(S), dtype=bool)
        pick[rng.choice(len(S), n_cal, replace=False)] = True
        out.append(np.mean([np.mean(S[~pick, k] <= conformal_quantile(S[pick, k], 0.9)) for k in range(S.shape[1])]))
    return float(np.mean(out))


def run_case(system: str, params: dict, noise: float, seed: int, n: int, n_test: int, epochs: int) -> dict:
    """All four methods on one (system, noise, seed); returns coverage, width and AUROC per method."""
    from sklearn.metrics import roc_auc_score

    from physlens.models import build_model
    from physlens.probes.uncertainty import Calibration
    from physlens.systems import get_system
    from physlens.train import TrainConfig, fit

    sysm = get_system(system, **params)
    ds, test = _split_off(sysm.sample(n + n_test, seed=seed, noise=noise), n)
    rng = np.random.default_rng(seed + 7)
    lo, hi = ds.X.min(axis=0), ds.X.max(axis=0)
    far = _push_outside(test.X, lo, hi, rng)
    labels = np.r_[np.zeros(len(test.X)), np.ones(len(far))]
    sd = np.where(ds.y.std(axis=0) > 0, ds.y.std(axis=0), 1.0)
    cfg = TrainConfig(epochs=epochs, batch_size=128, patience=max(40, epochs // 4), seed=seed, progress=False)
    row: dict = {"system": system, "params": params, "noise": noise, "seed": seed, "n": ds.n, "n_test": test.n}
    y = test.y

    t0 = time.perf_counter()
    res = fit(build_model("mlp", ds, seed=seed, width=64, depth=3), ds, cfg)
    cal = Calibration.fit(res.model, ds, res.val_index, res.train_index, seed=seed)
    out = cal.predict(test.X, 0.9)
    row["physlens"] = {
        "coverage": float(np.mean((y >= out["lower"]) & (y <= out["upper"]))),
        "width_over_sd": float(np.mean(np.mean(out["upper"] - out["lower"], axis=0) / sd)),
        "auroc": float(roc_auc_score(labels, np.r_[out["ood_score"], cal.ood_score(far)])),
        "ood_flagged_inside": float(np.mean(out["ood"])), "ood_flagged_outside": float(np.mean(cal.flags(far))),
        "relative_error": res.summary()["relative_error"], "calibration_rows": len(res.val_index),
        "fresh_calibration": _fresh_calibration(np.abs(y - out["y"]) / cal.scale(test.X), len(res.val_index), 200, seed),
        "seconds": time.perf_counter() - t0,
    }

    t0 = time.perf_counter()
    ens_res = fit(build_model("ensemble", ds, seed=seed, member="mlp", n_members=5, width=64, depth=3), ds, cfg)
    ens = ens_res.model
    tr = ens_res.train_index
    noise_var = np.mean((ens.predict(ds.X[tr]) - ds.y[tr]) ** 2, axis=0)
    mean, std = ens.predict_with_std(test.X)
    cov, cov_epi, width = _gaussian(mean, std**2, noise_var, y)
    spread = lambda X: np.mean(ens.predict_with_std(X)[1] / sd, axis=1)  # noqa: E731
    row["ensemble"] = {"coverage": cov, "coverage_spread_only": cov_epi, "width_over_sd": float(np.mean(width / sd)),
                       "auroc": float(roc_auc_score(labels, np.r_[spread(test.X), spread(far)])),
                       "seconds": time.perf_counter() - t0}
    t1 = time.perf_counter()
    ecal = Calibration.fit(ens, ds, ens_res.val_index, tr, seed=seed)
    eout = ecal.predict(test.X, 0.9)
    row["conformal ensemble"] = {
        "coverage": float(np.mean((y >= eout["lower"]) & (y <= eout["upper"]))),
        "width_over_sd": float(np.mean(np.mean(eout["upper"] - eout["lower"], axis=0) / sd)),
        "auroc": float(roc_auc_score(labels, np.r_[eout["ood_score"], ecal.ood_score(far)])),
        "representation": ecal.layer or "inputs", "seconds": time.perf_counter() - t1 + row["ensemble"]["seconds"],
    }

    t0 = time.perf_counter()
    Drop = _dropout_mlp_class()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        drop = Drop(ds.d_in, ds.d_out)
    dres = fit(drop, ds, cfg)
    tr = dres.train_index
    noise_var = np.mean((dres.model.predict(ds.X[tr]) - ds.y[tr]) ** 2, axis=0)
    P = _mc_passes(dres.model, test.X, 30, seed)
    cov, cov_epi, width = _gaussian(P.mean(0), P.var(0, ddof=1), noise_var, y)
    Pf = _mc_passes(dres.model, far, 30, seed + 1)
    s_in, s_out = np.mean(P.std(0, ddof=1) / sd, axis=1), np.mean(Pf.std(0, ddof=1) / sd, axis=1)
    row["mc-dropout"] = {"coverage": cov, "coverage_spread_only": cov_epi, "width_over_sd": float(np.mean(width / sd)),
                         "auroc": float(roc_auc_score(labels, np.r_[s_in, s_out])), "seconds": time.perf_counter() - t0}
    return row


METHODS = ["physlens", "ensemble", "mc-dropout", "conformal ensemble"]


def _stats(v) -> dict:
    v = np.asarray(v, dtype=float)
    return {"mean": float(v.mean()), "sd": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
            "min": float(v.min()), "max": float(v.max())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2500, help="rows per case for training and calibration (80/20)")
    ap.add_argument("--n-test", type=int, default=5000, help="fresh rows per case for coverage and AUROC")
    ap.add_argument("--epochs", type=int, default=90)
    ap.add_argument("--seeds", default="0,1,2,3", help="comma-separated seeds run for every case")
    ap.add_argument("--cases", type=int, default=len(CASES), help="use the first N cases")
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "uncertainty.json"))
    args = ap.parse_args()

    from rich.console import Console
    from rich.table import Table

    from physlens.io import write_json

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    console = Console(width=170)
    seeds = [int(s) for s in args.seeds.split(",")]
    rows = []
    t_all = time.perf_counter()
    for system, params, noise in CASES[: args.cases]:
        for seed in seeds:
            t0 = time.perf_counter()
            rows.append(run_case(system, params, noise, seed, args.n, args.n_test, args.epochs))
            r = rows[-1]
            console.print(f"{system} {params or ''} noise {noise} seed {seed}: {time.perf_counter() - t0:.0f} s; coverage "
                          + ", ".join(f"{m} {r[m]['coverage']:.3f}" for m in METHODS), highlight=False)

    cases = []
    for system, params, noise in CASES[: args.cases]:
        mine = [r for r in rows if r["system"] == system and r["params"] == params and r["noise"] == noise]
        case = {"system": system, "params": params, "noise": noise, "seeds": [r["seed"] for r in mine]}
        for m in METHODS:
            case[m] = {"coverage": _stats([r[m]["coverage"] for r in mine]),
                       "width_over_sd": _stats([r[m]["width_over_sd"] for r in mine]),
                       "auroc": _stats([r[m]["auroc"] for r in mine])}
        case["physlens"]["fresh_calibration"] = _stats([r["physlens"]["fresh_calibration"] for r in mine])
        case["physlens"]["calibration_rows"] = int(np.mean([r["physlens"]["calibration_rows"] for r in mine]))
        cases.append(case)

    table = Table(title=f"90 % intervals and OOD detection: {len(cases)} systems x {len(seeds)} seeds, mean ± sd over seeds "
                        "(coverage target 0.88-0.92, AUROC >= 0.95)")
    table.add_column("case")
    for m in METHODS:
        table.add_column(f"{m}\ncoverage / width / AUROC", justify="right")
    for c in cases:
        label = f"{c['system']} (noise {c['noise']})"
        table.add_row(label, *[f"{c[m]['coverage']['mean']:.3f}±{c[m]['coverage']['sd']:.3f} / "
                               f"{c[m]['width_over_sd']['mean']:.2f} / {c[m]['auroc']['mean']:.3f}" for m in METHODS])
    summary = {}
    for m in METHODS:
        means = np.array([c[m]["coverage"]["mean"] for c in cases])
        cov = np.array([r[m]["coverage"] for r in rows])
        auc = np.array([r[m]["auroc"] for r in rows])
        wid = np.array([r[m]["width_over_sd"] for r in rows])
        summary[m] = {"coverage_mean": float(cov.mean()), "coverage_sd_over_runs": float(cov.std(ddof=1)),
                      "case_coverage_min": float(means.min()), "case_coverage_max": float(means.max()),
                      "cases_within_0.88_0.92": int(np.sum((means >= 0.88) & (means <= 0.92))),
                      "run_coverage_min": float(cov.min()), "run_coverage_max": float(cov.max()),
                      "width_over_sd_mean": float(wid.mean()), "auroc_mean": float(auc.mean()), "auroc_min": float(auc.min())}
    table.add_row("[bold]all runs[/]", *[f"{summary[m]['coverage_mean']:.3f}±{summary[m]['coverage_sd_over_runs']:.3f} / "
                                         f"{summary[m]['width_over_sd_mean']:.2f} / {summary[m]['auroc_mean']:.3f}"
                                         for m in METHODS])
    console.print(table)
    console.print("width: mean interval width over the target's standard deviation; "
                  "ensemble and mc-dropout intervals are Gaussian with the spread plus the training residual variance")
    fresh = [c["physlens"]["fresh_calibration"]["mean"] for c in cases]
    console.print("physlens calibrated on random fresh rows instead of its validation rows (same count): "
                  + ", ".join(f"{c['system']} {v:.3f}" for c, v in zip(cases, fresh)), highlight=False)
    s = summary["physlens"]
    console.print(f"physlens: {s['cases_within_0.88_0.92']}/{len(cases)} case means within 0.88-0.92 "
                  f"(range {s['case_coverage_min']:.3f}-{s['case_coverage_max']:.3f}); single runs "
                  f"{s['run_coverage_min']:.3f}-{s['run_coverage_max']:.3f}; AUROC min {s['auroc_min']:.3f} "
                  f"({'meets' if s['auroc_min'] >= 0.95 else 'misses'} >= 0.95); {time.perf_counter() - t_all:.0f} s",
                  highlight=False)
    write_json(args.json, {"benchmark": "uncertainty", "commit": _commit(), "level": 0.9,
                           "settings": {"n": args.n, "n_test": args.n_test, "epochs": args.epochs, "seeds": seeds},
                           "ood_inputs": "one random input per fresh row moved outside the training box by 10-50 % of its range",
                           "test_rows": "drawn in the same call as the training rows and split off (exchangeable noise level)",
                           "summary": summary, "cases": cases, "runs": rows,
                           "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                       "platform": platform.platform()}})
    console.print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
