"""Scaling of the Feynman benchmark through Ray: 1, 2, ... and all cores of this machine, side by side.

The same problems (physlens's equation search, same seed and time limit) run as
Ray tasks of :mod:`physlens.execution` with 1, 2, 4, ... up to all cores, and once on the
local process pool with all cores as the reference; the table shows wall time,
speed-up over one core and the solved count (which must not depend on the
number of cores beyond what the per-problem time limit allows).

Usage:
    python benchmarks/scaling.py --subset 8 --time-limit 5
    python benchmarks/scaling.py --subset 120 --time-limit 60 --address auto   # on a Ray cluster

Writes ``benchmarks/results/scaling.json`` (with the commit).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import feynman  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subset", default="8", help="equation ids, or N for the first N")
    ap.add_argument("--time-limit", type=float, default=5.0)
    ap.add_argument("--noise", type=float, default=0.0)
    ap.add_argument("--address", default=None, help="Ray cluster address (default: a local cluster per row)")
    ap.add_argument("--cores", type=int, nargs="*", default=None, help="core counts (default 1, 2, 4, ... all)")
    ap.add_argument("--output", default=str(Path(__file__).parent / "results" / "scaling.json"))
    args = ap.parse_args(argv)
    total = os.cpu_count() or 1
    cores = args.cores or sorted({*(2**k for k in range(8) if 2**k < total), total})
    rows = []
    runs = [("ray", c) for c in cores] + [("local", total)]
    for executor, c in runs:
        out = Path(tempfile.mkdtemp()) / "f.json"
        t0 = time.monotonic()
        res = feynman.main(["--time-limit", str(args.time_limit), "--subset", args.subset, "--no-gplearn",
                            "--noise", str(args.noise), "--jobs", str(c), "--executor", executor,
                            "--output", str(out)] + (["--address", args.address] if args.address else []))
        wall = time.monotonic() - t0
        s = res["summary"][0]
        rows.append({"executor": executor, "cores": c, "wall_seconds": wall, "solved": s["solved"],
                     "problems": s["problems"], "solved_ids": sorted(r["id"] for r in res["records"] if r["solved"])})
    base = next(r["wall_seconds"] for r in rows if r["executor"] == "ray" and r["cores"] == cores[0])
    print(f"\nScaling: {rows[0]['problems']} Feynman problems, {args.time_limit:g} s each, this machine has "
          f"{total} cores (wall time includes starting the Ray cluster)")
    print(f"{'executor':9s} {'cores':>5s} {'wall s':>8s} {'speed-up':>9s} {'solved':>8s}")
    for r in rows:
        r["speedup"] = base / r["wall_seconds"]
        print(f"{r['executor']:9s} {r['cores']:5d} {r['wall_seconds']:8.1f} {r['speedup']:9.2f} "
              f"{r['solved']:4d}/{r['problems']:<3d}")
    out = {"config": vars(args), "rows": rows, "commit": feynman._commit()}
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
