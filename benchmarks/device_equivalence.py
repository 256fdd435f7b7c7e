"""Does a model trained on the GPU match the same model trained on the CPU?

Run: ``.venv/bin/python benchmarks/device_equivalence.py [--epochs E]`` on a machine with CUDA.
Every model is trained twice from the same seed, once with ``device="cpu"`` and
once with ``device="cuda"`` (same split, same shuffles, same latent noise: the
noise is drawn on the CPU, :func:`physlens.models.base.standard_normal_like`),
and the table gives both validation losses, the largest difference of the two
models' predictions relative to the largest prediction, and both wall times.
float32 rounding differs between the devices and grows with the epochs, so
the differences are a function of ``--epochs``. Without CUDA it says so and
exits 0. Writes ``benchmarks/results/device_equivalence.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from physlens.models import build_model
from physlens.systems import get_system
from physlens.train import TrainConfig, fit

CASES = [
    ("mlp", "harmonic_oscillator", {}, {}),
    ("hamiltonian", "harmonic_oscillator", {}, {"width": 64, "depth": 2}),
    ("scalars", "nbody_springs", {}, {"translation": True}),
    ("graph", "nbody_springs", {}, {}),
    ("graph_kl", "nbody_springs", {}, {"regularizer": "kl"}),
    ("bottleneck", "qubit_tomography", {}, {"latent_dim": 4}),
    ("ensemble", "harmonic_oscillator", {}, {"n_members": 3}),
]


def train(name: str, system: str, sys_params: dict, params: dict, device: str, epochs: int, n: int):
    """Train one model on ``device``; returns (validation loss, predictions on 500 rows, wall seconds)."""
    ds = get_system(system, **sys_params).sample(n, seed=0)
    model = build_model(name.split("_")[0], ds, seed=0, **params)
    cfg = TrainConfig(epochs=epochs, batch_size=256, device=device, progress=False, snapshots="none", patience=10**6)
    t = time.perf_counter()
    res = fit(model, ds, cfg)
    if device == "cuda":
        torch.cuda.synchronize()
    return res.final_val_loss, model.predict(ds.X[:500]), time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description="cpu vs cuda training of every model, same seed")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--samples", type=int, default=2000)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device here: nothing to compare (run this on a machine with a GPU)")
        return
    print(f"{'model':12s} {'system':20s} {'val cpu':>10s} {'val cuda':>10s} {'max |dpred|/max|pred|':>22s} "
          f"{'cpu s':>7s} {'cuda s':>7s}")
    rows = []
    for name, system, sys_params, params in CASES:
        vc, pc, tc = train(name, system, sys_params, params, "cpu", args.epochs, args.samples)
        vg, pg, tg = train(name, system, sys_params, params, "cuda", args.epochs, args.samples)
        diff = float(np.abs(pc - pg).max() / max(np.abs(pc).max(), 1e-300))
        rows.append({"model": name, "system": system, "epochs": args.epochs, "val_cpu": vc, "val_cuda": vg,
                     "max_rel_pred_diff": diff, "cpu_s": tc, "cuda_s": tg, "gpu": torch.cuda.get_device_name()})
        print(f"{name:12s} {system:20s} {vc:10.3g} {vg:10.3g} {diff:22.2e} {tc:7.1f} {tg:7.1f}", flush=True)
    out = Path(__file__).parent / "results" / "device_equivalence.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
