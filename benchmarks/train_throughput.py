"""Training throughput of every physlens model (samples/second) and batch_jacobian vs a per-sample loop.

Run: ``OMP_NUM_THREADS=2 .venv/bin/python benchmarks/train_throughput.py`` (GPU rows are added when CUDA is present).
Prints a table and writes ``benchmarks/results/train_throughput.json``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

from physlens.autodiff import batch_jacobian
from physlens.models import build_model
from physlens.systems import get_system
from physlens.train import TrainConfig, fit

CASES = [
    ("mlp", "harmonic_oscillator", {}, {}),
    ("hamiltonian", "harmonic_oscillator", {}, {"width": 64, "depth": 2}),
    ("scalars", "nbody_springs", {}, {"translation": True}),
    ("graph", "nbody_springs", {}, {}),
    ("bottleneck", "qubit_tomography", {}, {"question_columns": [f"q{i}" for i in range(10)]}),
    ("ensemble", "harmonic_oscillator", {}, {"member": "mlp", "n_members": 3}),
]


def throughput(name, system, sys_params, params, device, epochs=3, n=2000):
    ds = get_system(system, **sys_params).sample(n)
    model = build_model(name, ds, seed=0, **params)
    cfg = TrainConfig(epochs=epochs, batch_size=256, device=device, progress=False, snapshots="none")
    t = time.perf_counter()
    res = fit(model, ds, cfg)
    dt = time.perf_counter() - t
    return len(res.train_index) * epochs / dt, model, ds


def jacobian_vs_loop(model, ds, n=256):
    X = ds.X[:n]
    t = time.perf_counter()
    J = batch_jacobian(model, X)
    t_batch = time.perf_counter() - t
    p = next(model.parameters())
    t = time.perf_counter()
    rows = []
    for x in X:
        xt = torch.as_tensor(x, dtype=p.dtype, device=p.device)
        rows.append(torch.autograd.functional.jacobian(lambda v: model(v[None])[0], xt).detach().cpu().numpy())
    t_loop = time.perf_counter() - t
    assert np.allclose(J, np.stack(rows), atol=1e-4)
    return n / t_batch, n / t_loop


def main() -> None:
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    rows = []
    print(f"{'model':12s} {'system':20s} {'device':6s} {'train samples/s':>16s} {'jac batch /s':>13s} {'jac loop /s':>12s}")
    for device in devices:
        throughput("mlp", "harmonic_oscillator", {}, {}, device, epochs=1)  # warm-up (allocator, kernels)
        for name, system, sp, params in CASES:
            sps, model, ds = throughput(name, system, sp, params, device)
            jb, jl = jacobian_vs_loop(model, ds)
            rows.append({"model": name, "system": system, "device": device, "train_samples_per_s": sps,
                         "jacobian_batch_per_s": jb, "jacobian_loop_per_s": jl})
            print(f"{name:12s} {system:20s} {device:6s} {sps:16.0f} {jb:13.0f} {jl:12.0f}")
    out = Path(__file__).parent / "results" / "train_throughput.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"torch_threads": torch.get_num_threads(), "rows": rows}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
