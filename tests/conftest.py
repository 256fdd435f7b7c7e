"""Shared fixtures: small data files and a subprocess runner for the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]

# Every equation search in the suite, in this process and in the CLI subprocesses, counts work instead of
# seconds (physlens.probes.equations.budget): what it finds does not depend on how busy the machine is.
os.environ.setdefault("PHYSLENS_COUNTED_BUDGET", "1")

if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs one worker per core (pytest-xdist): each worker, and the CLI subprocesses it
    # starts, computes on one thread, so two workers on two cores do not fight over four threads
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)


@pytest.fixture
def distractor_csv(tmp_path: Path) -> Path:
    """y = x1*x2^2 with an unused x3, written as a CSV file."""
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, size=(1000, 3))
    y = X[:, 0] * X[:, 1] ** 2
    path = tmp_path / "law.csv"
    rows = "\n".join(",".join(f"{v:.10g}" for v in (*x, t)) for x, t in zip(X, y))
    path.write_text("x1,x2,x3,y\n" + rows + "\n")
    return path


def run_cli(*args: str, timeout: float = 600, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``physlens ARGS`` in a subprocess and capture stdout/stderr (it inherits the counted budgets)."""
    env = dict(os.environ)
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-m", "physlens.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
