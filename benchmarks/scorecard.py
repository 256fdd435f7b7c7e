"""The rediscovery scorecard: the default study on every built-in system, scored against its ground truth.

The project's headline benchmark. It runs exactly what ``physlens scorecard`` runs (the
study ``physlens discover SYSTEM`` builds: every probe that applies, the training recipe
physlens chooses, one budget), prints the systems x finding-kinds table (matched / missed /
spurious) and writes ``benchmarks/results/scorecard.json`` with the commit it measured.

    .venv/bin/python benchmarks/scorecard.py                      # every system, budget quick, 2 jobs
    .venv/bin/python benchmarks/scorecard.py --systems kepler,planets --budget standard --jobs 1
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
from pathlib import Path

from provenance import commit as _commit  # noqa: E402  (benchmarks/ is on sys.path)

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--systems", default=None, help="comma-separated systems (default: every built-in system)")
    ap.add_argument("--budget", default="quick", choices=["quick", "standard", "thorough"])
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="where the run directories go (default: a temporary directory)")
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "scorecard.json"))
    args = ap.parse_args()

    from rich.console import Console

    from physlens.cli.scorecard import run_scorecard, scorecard_table
    from physlens.findings import to_jsonable
    from physlens.io import write_json
    from physlens.systems import registry

    names = args.systems.split(",") if args.systems else list(registry())
    out = args.out or tempfile.mkdtemp(prefix="physlens-scorecard-")
    card = run_scorecard(names, budget=args.budget, out=out, jobs=args.jobs, seed=args.seed)
    Console().print(scorecard_table(card))
    card.update(commit=_commit(), machine={"cpus": os.cpu_count(), "python": platform.python_version(),
                                           "platform": platform.platform()}, jobs=args.jobs)
    for row in card["systems"]:
        row.pop("run_dir", None)
    write_json(args.json, to_jsonable(card))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
