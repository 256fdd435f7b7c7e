"""The execution layer: same results on every backend, failures reported, sweeps that resume."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from physlens.errors import ConfigError
from physlens.execution import Task, run_tasks
from physlens.sweep import grid_points, parse_grid, run_sweep

BASE = {"name": "sw", "source": {"system": "toy_distractor", "n": 200},
        "train": {"epochs": 4, "progress": False}, "probes": [{"name": "attribution", "options": {"repeats": 3}}]}


def _comparable(sweep: dict) -> list:
    """What must not depend on the backend: each point's scores and findings (not paths or times)."""
    out = []
    for row in sweep["points"]:
        run = Path(row["run_dir"])
        findings = json.loads((run / "findings.json").read_text())
        out.append((row["key"], row["matched"], row["scored"], row["findings"],
                    [(f["kind"], f["statement"], f["match"]) for f in findings]))
    return out


def test_a_failing_task_is_reported_and_the_others_finish():
    rs = run_tasks([Task("ok", "json:dumps", {"obj": [1]}), Task("bad", "json:loads", {"s": "{"}),
                    Task("missing", "physlens.no_such_module:f")], jobs=1)
    assert [r.ok for r in rs] == [True, False, False]
    assert rs[1].error.startswith("JSONDecodeError") and "\n" not in rs[1].error
    assert "no_such_module" in rs[2].error


def test_bad_task_batches_are_refused_with_one_line():
    with pytest.raises(ConfigError, match="repeated: a"):
        run_tasks([Task("a", "json:dumps"), Task("a", "json:dumps")])
    with pytest.raises(ConfigError, match="executor must be one of"):
        run_tasks([], executor="slurm")
    with pytest.raises(ConfigError, match="module:function"):
        Task("a", "json.dumps")


def test_grid_points_are_validated_before_anything_runs():
    with pytest.raises(ConfigError, match=r"sweep point budget=fast: budget"):
        grid_points(BASE, parse_grid(["budget=quick,fast"]))
    with pytest.raises(ConfigError, match="must look like KEY=V1,V2"):
        parse_grid(["seed"])
    assert [k for k, _, _ in grid_points(BASE, parse_grid(["train.lr=0.01,0.003", "seed=0,1"]))] == [
        "train.lr=0.01,seed=0", "train.lr=0.01,seed=1", "train.lr=0.003,seed=0", "train.lr=0.003,seed=1"]


def test_pool_and_inline_runs_give_the_same_sweep(tmp_path):
    grid = parse_grid(["train.lr=0.01,0.003"])
    inline = run_sweep(BASE, grid, tmp_path / "a", jobs=1, progress=False)
    pool = run_sweep(BASE, grid, tmp_path / "b", jobs=2, progress=False)
    assert not inline["failed"] and not pool["failed"]
    assert _comparable(inline) == _comparable(pool)


@pytest.fixture(scope="module")
def ray_cluster():
    """One local Ray cluster for the module's Ray tests (started here, stopped after)."""
    ray = __import__("ray") if os.environ.get("CI") == "true" else pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False,
             runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}})
    yield ray
    ray.shutdown()


@pytest.mark.slow
def test_ray_backend_on_a_local_cluster_equals_the_local_backend(tmp_path, ray_cluster):
    grid = parse_grid(["train.lr=0.01,0.003"])
    local = run_sweep(BASE, grid, tmp_path / "local", jobs=2, progress=False)
    on_ray = run_sweep(BASE, grid, tmp_path / "ray", executor="ray", jobs=2, progress=False)
    assert not on_ray["failed"], on_ray["failed"]
    assert _comparable(local) == _comparable(on_ray)
    assert ray_cluster.is_initialized()  # a cluster the caller started is left running


@pytest.mark.slow
def test_scorecard_on_ray_equals_the_local_scorecard(tmp_path, ray_cluster):
    from physlens.cli.scorecard import run_scorecard

    kw = dict(budget="quick", progress=False, epochs=30, probes="attribution", jobs=2)
    names = ["toy_distractor", "harmonic_oscillator"]
    local = run_scorecard(names, out=tmp_path / "local", **kw)
    on_ray = run_scorecard(names, out=tmp_path / "ray", executor="ray", **kw)
    assert [r.get("error") for r in on_ray["systems"]] == [None, None]
    assert local["totals"] == on_ray["totals"] and local["totals"]["relevant-variable"]["matched"] >= 2
    assert [r["coverage"] for r in local["systems"]] == [r["coverage"] for r in on_ray["systems"]]


def wait_for_file(path: str, seconds: float = 60.0) -> str:
    """A task that blocks until ``path`` exists (the kill-and-resume test holds a point open with it)."""
    deadline = time.monotonic() + seconds
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} never appeared")
        time.sleep(0.05)
    return path


def test_a_killed_batch_reruns_only_its_missing_tasks(tmp_path):
    store, gate = tmp_path / "store", tmp_path / "gate"
    script = textwrap.dedent(f"""
        import sys; sys.path.insert(0, {str(Path(__file__).parent.parent)!r})
        from physlens.execution import Task, run_tasks
        run_tasks([Task("first", "json:dumps", {{"obj": 1}}),
                   Task("second", "tests.test_execution:wait_for_file", {{"path": {str(gate)!r}, "seconds": 600}})],
                  jobs=1, store={str(store)!r})
    """)
    proc = subprocess.Popen([sys.executable, "-c", script])
    try:
        for _ in range(3000):  # poll until the first task's record is on disk (a hang guard, not a timing)
            if store.exists() and any(store.iterdir()):
                break
            assert proc.poll() is None, "the batch ended before it was killed"
            time.sleep(0.1)
        else:
            pytest.fail("the first task never finished")
    finally:
        proc.kill()
        proc.wait()
    assert len(list(store.iterdir())) == 1  # the second task was running when killed: no record
    gate.touch()
    seen = []
    rs = run_tasks([Task("first", "json:dumps", {"obj": 1}),
                    Task("second", "tests.test_execution:wait_for_file", {"path": str(gate)})],
                   jobs=1, store=store, on_result=seen.append)
    assert [r.resumed for r in rs] == [True, False] and [r.key for r in seen] == ["second"]
    assert rs[0].value == "1" and rs[1].value == str(gate)


def test_sympy_time_limits_hold_outside_the_main_thread():
    from physlens.probes.equations.simplify import SimplifyTimeout, time_limited

    caught = []

    def worker():
        try:
            time_limited(time.sleep, 0.2, 30)
        except SimplifyTimeout as exc:
            caught.append(exc)

    t = threading.Thread(target=worker)
    t.start()
    t.join(60)
    assert not t.is_alive() and len(caught) == 1


def test_tracking_logs_a_run_to_a_local_mlflow_store(tmp_path):
    mlflow = pytest.importorskip("mlflow") if os.environ.get("CI") != "true" else __import__("mlflow")
    sweep = run_sweep(BASE, parse_grid(["train.lr=0.01"]), tmp_path / "sw", jobs=1, progress=False,
                      track="mlflow", tracking_uri=(tmp_path / "mlruns").as_uri())
    runs = mlflow.search_runs(experiment_names=["sw"], output_format="list")
    assert len(runs) == 1
    run = runs[0]
    assert run.data.params["sweep.train.lr"] == "0.01" and run.data.params["source.system"] == "toy_distractor"
    assert run.data.metrics["scored"] == sweep["points"][0]["scored"]
    assert "train_loss" in run.data.metrics
