"""Energy drift of rollouts on harmonic_oscillator: Hamiltonian network vs MLP, over 100 periods.

Both models are trained on the same data; both rollouts use the same
symplectic integrator (implicit midpoint, 20 steps per period) and the MLP is
also integrated with RK4. Energy is the true E = p^2/(2m) + k q^2/2 of the
system. Run: ``OMP_NUM_THREADS=2 .venv/bin/python benchmarks/hamiltonian_rollout.py``;
writes ``benchmarks/results/hamiltonian_rollout.json``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from physlens.models import build_model
from physlens.models.hamiltonian import rollout_field
from physlens.systems import get_system
from physlens.train import TrainConfig, fit

PERIODS, STEPS_PER_PERIOD = 100, 20


def main() -> None:
    system = get_system("harmonic_oscillator")
    ds = system.sample(2000, seed=0)
    params = ds.meta["params"]
    m, k = float(params.get("m", params.get("mass", 1.0))), float(params.get("k", 1.0))
    energy = lambda s: s[..., 1] ** 2 / (2 * m) + k * s[..., 0] ** 2 / 2  # noqa: E731
    period = 2 * np.pi * np.sqrt(m / k)
    dt, steps = period / STEPS_PER_PERIOD, PERIODS * STEPS_PER_PERIOD
    x0 = ds.X[:4]
    cfg = TrainConfig(epochs=150, batch_size=128, progress=False)
    rows = []
    for name, params_ in [("hamiltonian", {"width": 64, "depth": 2}), ("mlp", {"width": 64, "depth": 2})]:
        model = build_model(name, ds, seed=0, **params_)
        t = time.perf_counter()
        res = fit(model, ds, cfg)
        t_train = time.perf_counter() - t
        yt = ds.y[res.val_index]
        rel = float(np.sqrt(np.mean((model.predict(ds.X[res.val_index]) - yt) ** 2) / np.mean(yt**2)))
        methods = ["implicit_midpoint"] + (["rk4"] if name == "mlp" else [])
        for method in methods:
            t = time.perf_counter()
            if name == "hamiltonian":
                traj = model.rollout(x0, dt, steps, method=method)
            else:
                traj = rollout_field(model, x0, dt, steps, method=method)
            E = energy(traj)
            drift = np.abs(E / E[0] - 1)
            rows.append({"model": name, "integrator": method, "val_rel_rmse": rel, "train_s": t_train,
                         "rollout_s": time.perf_counter() - t, "max_rel_energy_error": float(drift.max()),
                         "final_rel_energy_error": float(drift[-1].max())})
    print(f"harmonic_oscillator (m={m}, k={k}), {PERIODS} periods, dt = T/{STEPS_PER_PERIOD}, {len(x0)} initial states")
    print(f"{'model':12s} {'integrator':18s} {'val rel RMSE':>12s} {'max |dE/E|':>11s} {'final |dE/E|':>12s} {'train s':>8s}")
    for r in rows:
        print(f"{r['model']:12s} {r['integrator']:18s} {r['val_rel_rmse']:12.4f} {r['max_rel_energy_error']:11.4f} "
              f"{r['final_rel_energy_error']:12.4f} {r['train_s']:8.1f}")
    out = Path(__file__).parent / "results" / "hamiltonian_rollout.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
