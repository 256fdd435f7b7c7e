"""Does the weight spectrum predict an emulator's quality? A family of emulators, ranked by data-free metrics.

Martin, Peng & Mahoney (2021, Nat. Commun. 12, 4122) report that, across families of
pretrained vision and language models, the layer-averaged α̂ = α log10 λ_max and the log
norms rank models by test accuracy without any data. Here the question is asked of
physics emulators: one system (the damped pendulum's vector field with its parameters
observed, inputs θ, ω, k = g/l and the damping b, targets dθ/dt and dω/dt; trajectories
of 10 points, so a data size is also a number of (k, b) pendulums), a family of ≥ 20 MLPs that differ in width, training-set
size, learning rate and label noise (a seeded sample of the grid), each trained for a
fixed short budget with physlens's one training loop. Each model's data-free metrics
come from the ``spectra`` probe (``physlens.probes.spectra.analyze``); its quality is
the relative RMS error on 2000 clean held-out rows from another seed. For every metric:
Kendall's τ against the held-out error over the whole family, and the mean τ within
groups of equal width (α is meant to compare layers of one architecture). A positive τ
means "larger metric, larger error". The training loss (which uses data) is the
reference a data-free metric has to approach. The models train as tasks of
:mod:`physlens.execution` (the local process pool by default, or Ray with
``--executor ray``), one core each, in the family's order.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/model_family.py            # 30 models, 300 epochs (about 5 min)
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/model_family.py --models 20 --epochs 40
"""

from __future__ import annotations

import argparse
import itertools
import platform
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from provenance import commit as _commit  # noqa: E402  (benchmarks/ is on sys.path)

ROOT = Path(__file__).resolve().parents[1]
WIDTHS = (24, 48, 96, 192)
SIZES = (250, 1000, 3000)
LRS = (1e-3, 3e-3, 1e-2)
NOISES = (0.0, 0.1, 0.3)
#: data-free metrics, averaged over the weight matrices that have them
METRICS = ("alpha", "alpha_weighted", "log_norm", "log_spectral_norm", "stable_rank", "soft_rank", "rand_distance")


def family(n_models: int, seed: int) -> list[dict]:
    """A seeded sample of the grid (width x data size x lr x noise) in which every level of every factor appears."""
    grid = list(itertools.product(WIDTHS, SIZES, LRS, NOISES))
    rng = np.random.default_rng(seed)
    for _ in range(1000):
        pick = [grid[i] for i in rng.choice(len(grid), size=n_models, replace=False)]
        if all(len({p[k] for p in pick}) == len(levels) for k, levels in enumerate((WIDTHS, SIZES, LRS, NOISES))):
            break
    return [{"width": w, "n_train": n, "lr": lr, "noise": z} for w, n, lr, z in pick]


def pendulum():
    """The system of the family: a damped pendulum whose k and b are inputs (the target is a function of the inputs)."""
    from physlens.systems import get_system

    return get_system("damped_pendulum", observe_params=True, points_per_trajectory=10)


def train_one(cfg: dict, epochs: int, seed: int, test_seed: int) -> dict:
    """Train one emulator of the family; return its config, held-out error, training loss and spectral metrics.

    A :class:`physlens.execution.Task` (JSON-able arguments): the 2000 held-out rows are drawn here
    from ``test_seed``, the same rows for every member of the family.
    """
    import torch

    from physlens.models import build_model
    from physlens.probes.spectra import analyze
    from physlens.train import TrainConfig, fit

    torch.set_num_threads(1)
    test = pendulum().sample(2000, seed=test_seed)

    ds = pendulum().sample(cfg["n_train"], seed=seed)
    if cfg["noise"] > 0:
        rng = np.random.default_rng(seed + 1)
        ds = replace(ds, y=ds.y + cfg["noise"] * ds.y.std(axis=0) * rng.normal(size=ds.y.shape))
    t0 = time.perf_counter()
    res = fit(build_model("mlp", ds, width=cfg["width"], seed=seed), ds,
              TrainConfig(epochs=epochs, lr=cfg["lr"], patience=epochs, snapshots="none", progress=False, seed=seed))
    seconds = time.perf_counter() - t0
    pred = res.model.predict(test.X)
    rel = float(np.mean(np.sqrt(np.mean((pred - test.y) ** 2, axis=0) / np.var(test.y, axis=0))))
    rows = analyze(res.model, n_boot=0, randomize=True, seed=seed)
    metrics = {}
    for m in METRICS:
        vals = [r[m] for r in rows if r.get(m) is not None and np.isfinite(r[m])]
        if m in ("alpha", "alpha_weighted", "rand_distance"):  # defined on the fitted (hidden) matrices only
            vals = [r[m] for r in rows if r["alpha"] is not None and r.get(m) is not None]
        metrics[m] = float(np.mean(vals)) if vals else None
    return {**cfg, "heldout_rel_error": rel, "train_loss": float(res.final_train_loss),
            "val_loss": float(res.best_val_loss), "train_seconds": seconds,
            "n_fitted_matrices": sum(r["alpha"] is not None for r in rows), "metrics": metrics}


def kendall(models: list[dict], key) -> dict:
    """Kendall τ (and its p-value) of ``key(model)`` against the held-out error, overall and within equal widths."""
    from scipy.stats import kendalltau

    x = np.array([np.nan if key(m) is None else key(m) for m in models], dtype=float)
    y = np.array([m["heldout_rel_error"] for m in models])
    ok = np.isfinite(x)
    tau, p = kendalltau(x[ok], y[ok]) if ok.sum() >= 3 else (np.nan, np.nan)
    within = []
    for w in WIDTHS:
        g = ok & np.array([m["width"] == w for m in models])
        if g.sum() >= 3:
            t, _ = kendalltau(x[g], y[g])
            if np.isfinite(t):
                within.append(t)
    return {"tau": float(tau), "p_value": float(p), "n": int(ok.sum()),
            "tau_within_width": float(np.mean(within)) if within else None}


def plot(models: list[dict], taus: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(METRICS) + ["train_loss"]
    cols = 4
    rows = (len(names) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.6 * rows), squeeze=False)
    fig.subplots_adjust(hspace=0.5, wspace=0.4)
    y = np.array([m["heldout_rel_error"] for m in models])
    noise = np.array([m["noise"] for m in models])
    size = np.array([m["width"] for m in models]) / 2.5
    for ax, name in zip(axes.flat, names):
        x = np.array([m["train_loss"] if name == "train_loss" else (m["metrics"][name] if m["metrics"][name]
                      is not None else np.nan) for m in models], dtype=float)
        sc = ax.scatter(x, y, c=noise, s=size, cmap="viridis", edgecolors="k", linewidths=0.4)
        t = taus[name]
        ax.set_title(f"{name}: τ = {t['tau']:+.2f} (p = {t['p_value']:.2g})", fontsize=9)
        ax.set_yscale("log")
        ax.set_xlabel(name + (" (uses data)" if name == "train_loss" else " (data-free)"), fontsize=8)
        ax.set_ylabel("held-out relative RMSE", fontsize=8)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.colorbar(sc, ax=axes, shrink=0.6, label="label noise (marker size: width)")
    fig.suptitle(f"{len(models)} damped-pendulum emulators: weight-spectrum metrics vs held-out error")
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=int, default=30)
    ap.add_argument("--epochs", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=None, help="models trained side by side (default: the machine's cores)")
    ap.add_argument("--executor", choices=["local", "ray"], default="local", help="physlens.execution backend")
    ap.add_argument("--address", default=None, help="Ray cluster address (with --executor ray)")
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "model_family.json"))
    ap.add_argument("--png", default=str(ROOT / "benchmarks" / "results" / "model_family.png"))
    args = ap.parse_args()
    if args.models < 3:
        raise SystemExit("error: --models must be at least 3")

    import torch
    from rich.console import Console
    from rich.table import Table

    from physlens.io import write_json

    from physlens.execution import Task, run_tasks

    console = Console()
    configs = family(args.models, args.seed)
    tasks = [Task(f"model/{i}", "model_family:train_one",
                  {"cfg": cfg, "epochs": args.epochs, "seed": args.seed + i, "test_seed": args.seed + 1000}, cpus=1)
             for i, cfg in enumerate(configs)]
    t0 = time.perf_counter()
    results = run_tasks(tasks, executor=args.executor, jobs=args.jobs, address=args.address)
    failed = [r for r in results if not r.ok]
    if failed:
        raise SystemExit(f"error: {len(failed)} model(s) failed, first: {failed[0].key}: {failed[0].error}")
    models = [r.value for r in results]
    for i, (cfg, m) in enumerate(zip(configs, models)):
        console.print(f"{i + 1:2d}/{args.models} width {cfg['width']:3d} n {cfg['n_train']:4d} lr {cfg['lr']:.0e} "
                      f"noise {cfg['noise']:.1f}: held-out rel. error {m['heldout_rel_error']:.3f}, "
                      f"α {m['metrics']['alpha'] or float('nan'):.2f} ({m['train_seconds']:.1f} s)", highlight=False)
    total = time.perf_counter() - t0
    taus = {name: kendall(models, lambda m, n=name: m["metrics"][n]) for name in METRICS}
    taus["train_loss"] = kendall(models, lambda m: m["train_loss"])

    table = Table(title=f"Kendall τ of each metric vs held-out error ({len(models)} damped-pendulum emulators)")
    for col in ("metric", "needs data", "τ (all)", "p-value", "mean τ within width", "n"):
        table.add_column(col, justify="left" if col == "metric" else "right")
    for name, t in taus.items():
        table.add_row(name, "yes" if name == "train_loss" else "no", f"{t['tau']:+.2f}", f"{t['p_value']:.2g}",
                      "-" if t["tau_within_width"] is None else f"{t['tau_within_width']:+.2f}", str(t["n"]))
    console.print(table)
    plot(models, taus, Path(args.png))
    write_json(args.json, {"benchmark": "model_family", "commit": _commit(), "system": "damped_pendulum",
                           "epochs": args.epochs, "seed": args.seed, "seconds": total,
                           "machine": {"platform": platform.platform(), "python": platform.python_version(),
                                       "threads": torch.get_num_threads()},
                           "command": f"OMP_NUM_THREADS=1 .venv/bin/python benchmarks/model_family.py --models "
                                      f"{args.models} --epochs {args.epochs} --seed {args.seed}",
                           "kendall_tau": taus, "models": models, "plot": str(Path(args.png).relative_to(ROOT))
                           if Path(args.png).is_relative_to(ROOT) else args.png})
    console.print(f"wrote {args.json} and {args.png} in {total:.0f} s")


if __name__ == "__main__":
    main()
