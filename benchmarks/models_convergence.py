"""Validation error of each model on the systems it fits, trained on 2 CPU cores with a 2-minute cap.

Run: ``OMP_NUM_THREADS=2 .venv/bin/python benchmarks/models_convergence.py [system ...]``;
prints relative RMSE (validation) per system/model and writes ``benchmarks/results/models_convergence.json``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from physlens.models import build_model
from physlens.systems import get_system
from physlens.train import TrainConfig, fit

Q1 = {"question_columns": [f"q{i}" for i in range(10)]}
Q2 = {"question_columns": [f"q{i}" for i in range(30)]}
CASES = {
    "harmonic_oscillator": ({}, [("mlp", {}), ("hamiltonian", {"width": 64, "depth": 2}), ("ensemble", {"n_members": 3})]),
    "kepler": ({}, [("mlp", {}), ("hamiltonian", {}), ("scalars", {})]),
    "nbody_springs": ({}, [("mlp", {}), ("scalars", {"translation": True}), ("graph", {})]),
    "damped_pendulum": ({"observe_params": True}, [("mlp", {}), ("ensemble", {"n_members": 3})]),
    "qubit_tomography": ({}, [("mlp", {}), ("bottleneck", dict(Q1, latent_dim=8))]),
    "qubit_tomography_2": ({"n_qubits": 2}, [("bottleneck", dict(Q2, latent_dim=10))]),
}
TIME_CAP_S = 120.0


class Deadline(Exception):
    pass


def main() -> None:
    torch.manual_seed(0)
    wanted = sys.argv[1:] or list(CASES)
    rows = []
    for key in wanted:
        sys_params, models = CASES[key]
        ds = get_system(key.removesuffix("_2"), **sys_params).sample(4000, seed=0)
        for name, params in models:
            model = build_model(name, ds, seed=0, **params)
            start = time.perf_counter()

            def stop(epoch, logs):
                if time.perf_counter() - start > TIME_CAP_S:
                    raise Deadline

            cfg = TrainConfig(epochs=200, batch_size=128, patience=30, progress=False, snapshots="none")
            try:
                res = fit(model, ds, cfg, callback=stop)
                val_idx = res.val_index
            except Deadline:
                val_idx = np.sort(np.random.default_rng(0).permutation(ds.n)[: int(round(ds.n * 0.2))])
            secs = time.perf_counter() - start
            yt = ds.y[val_idx]
            rel = float(np.sqrt(np.mean((model.predict(ds.X[val_idx]) - yt) ** 2) / np.mean(yt**2)))
            row = {"system": key, "model": name, "val_rel_rmse": rel, "train_s": secs}
            if name == "bottleneck":
                row["latent_kl"] = model.latent_usage(ds.X).round(3).tolist()
                row["active_latents"] = model.active_latents(ds.X)
            rows.append(row)
            extra = f"  active latents {row['active_latents']} KL {row['latent_kl']}" if "latent_kl" in row else ""
            print(f"{key:20s} {name:12s} rel RMSE {rel:8.4f}  {secs:6.1f} s{extra}", flush=True)
    out = Path(__file__).parent / "results" / "models_convergence.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
