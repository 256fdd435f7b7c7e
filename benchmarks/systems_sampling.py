"""Time to sample each quantum / statistical / laws / real system at its default size.

Usage: ``OMP_NUM_THREADS=1 python benchmarks/systems_sampling.py [--repeats 3]``.
Prints a table (system, parameters, n, best wall time over the repeats) and
writes ``benchmarks/results/systems_sampling.json``. The budget of the project
is < 10 s per default-size sample on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

from physlens.systems import get_system

CASES = [
    ("feynman", {}),
    ("feynman", {"equation": "I.9.18"}),
    ("planets", {}),
    ("rabi", {}),
    ("schrodinger_1d", {}),
    ("schrodinger_1d", {"family": "mixed", "density": True}),
    ("qubit_tomography", {"n_qubits": 1}),
    ("qubit_tomography", {"n_qubits": 2}),
    ("tfim_chain", {}),
    ("tfim_chain", {"n_spins": 12}),
    ("ising_2d", {}),
    ("ising_2d", {"L": 32}),
    ("ising_2d", {"algorithm": "metropolis"}),
]


def main() -> None:
    """Run the timings and write the JSON result."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rows = []
    for name, params in CASES:
        system = get_system(name, **params)
        times = []
        for r in range(args.repeats):
            t0 = time.perf_counter()
            ds = system.sample(seed=r)
            times.append(time.perf_counter() - t0)
        rows.append({"system": name, "params": params, "n": ds.n, "d_in": ds.d_in, "best_s": min(times),
                     "mean_s": sum(times) / len(times)})
        p = ",".join(f"{k}={v}" for k, v in params.items()) or "-"
        print(f"{name:18s} {p:28s} n={ds.n:6d} d_in={ds.d_in:5d}  best {min(times):7.3f} s", flush=True)
    out = Path(__file__).parent / "results" / "systems_sampling.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": platform.platform(), "repeats": args.repeats, "rows": rows}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
