"""Time to sample each classical system at its default size, and the energy drift of the integrators.

Usage: ``OMP_NUM_THREADS=1 python benchmarks/classical_sampling.py [--repeats 3] [--periods 1000]``.
Prints a table (system, parameters, n, best wall time over the repeats) and the
largest relative energy error of the symplectic integrators over ``--periods``
periods of a harmonic oscillator and of a Kepler orbit (e = 0.5), and writes
``benchmarks/results/classical_sampling.json``. The project's budget is < 10 s per
default-size sample on 2 CPU cores and < 1e-4 relative energy drift over 1,000 periods.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

from physlens.systems import get_system
from physlens.systems.classical.integrators import integrate_separable
from physlens.systems.classical.kepler import kepler_acceleration, orbit_state

CASES = [
    ("harmonic_oscillator", {}),
    ("damped_pendulum", {}),
    ("kepler", {}),
    ("kepler", {"dim": 3}),
    ("nbody_springs", {}),
    ("nbody_charges", {}),
    ("nbody_gravity", {}),
    ("nbody_gravity", {"n_particles": 8, "dim": 3}),
    ("double_pendulum", {}),
    ("copernicus", {}),
    ("lorentz_invariant", {}),
]


def energy_drift(periods: int) -> list[dict]:
    """Largest relative energy error of each integrator over ``periods`` periods."""
    rows = []
    for method, spp in (("yoshida4", 50), ("verlet", 400)):
        t0 = time.perf_counter()
        qs, ps = integrate_separable(np.array([1.0]), np.array([0.0]), lambda p: p, lambda q: -q,
                                     2 * np.pi / spp, periods * spp, 10, method=method)
        E = 0.5 * (qs**2 + ps**2)
        rows.append({"case": "harmonic_oscillator", "method": method, "steps_per_period": spp,
                     "max_rel_energy_error": float(np.max(np.abs(E / 0.5 - 1))), "seconds": time.perf_counter() - t0})
    for spp in (100, 150, 200):
        t0 = time.perf_counter()
        r0, v0 = orbit_state(np.array([1.0]), np.array([0.5]), np.array([0.0]), 1.0)
        rs, vs = integrate_separable(r0, v0, lambda v: v, lambda r: kepler_acceleration(r, 1.0),
                                     2 * np.pi / spp, periods * spp, 25)
        E = 0.5 * np.sum(vs**2, -1) - 1 / np.linalg.norm(rs, axis=-1)
        rows.append({"case": "kepler e=0.5", "method": "yoshida4", "steps_per_period": spp,
                     "max_rel_energy_error": float(np.max(np.abs(E / E[0] - 1))), "seconds": time.perf_counter() - t0})
    return rows


def main() -> None:
    """Run the timings and write the JSON result."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--periods", type=int, default=1000)
    args = parser.parse_args()
    rows = []
    for name, params in CASES:
        system = get_system(name, **params)
        times = []
        for r in range(args.repeats):
            t0 = time.perf_counter()
            ds = system.sample(seed=r)
            times.append(time.perf_counter() - t0)
        rows.append({"system": name, "params": params, "n": ds.n, "d_in": ds.d_in, "d_out": ds.d_out,
                     "best_s": min(times), "mean_s": sum(times) / len(times)})
        p = ",".join(f"{k}={v}" for k, v in params.items()) or "-"
        print(f"{name:20s} {p:24s} n={ds.n:6d} d_in={ds.d_in:3d} d_out={ds.d_out:3d}  best {min(times):7.3f} s", flush=True)
    drift = energy_drift(args.periods)
    for d in drift:
        print(f"{d['case']:20s} {d['method']:9s} {d['steps_per_period']:4d} steps/period over {args.periods} periods: "
              f"max |dE/E| = {d['max_rel_energy_error']:.2e} ({d['seconds']:.1f} s)", flush=True)
    out = Path(__file__).parent / "results" / "classical_sampling.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": platform.platform(), "repeats": args.repeats, "periods": args.periods,
                               "sampling": rows, "energy_drift": drift}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
