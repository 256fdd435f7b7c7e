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
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    # NumPy (imported above) started OpenBLAS with one thread per core before the variable was set: two
    # workers then run four spinning BLAS threads on two cores, and least-squares-heavy tests run 10-40x
    # slower (the Lorenz noise test: 112 s against 2.4 s). Limit the pools already loaded to one thread.
    threadpool_limits(1)


@pytest.fixture(autouse=True)
def _worker_stays_on_one_thread():
    """A test that runs a task inline (``physlens.execution.call_task`` sets torch's threads to the task's share
    of the cores) must not leave its worker on two threads: every later file on it would fight the other worker."""
    yield
    if os.environ.get("PYTEST_XDIST_WORKER"):
        import torch

        if torch.get_num_threads() != 1:
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
