"""The Ray backend: each task is a Ray task with its CPU/GPU resources.

With ``address`` (``ray://host:10001`` for a remote cluster through Ray Client,
``auto`` for the cluster this machine belongs to) the tasks go there; without,
a local Ray cluster with ``jobs`` CPUs is started for the call and stopped after.
At most ``jobs`` tasks are in flight at once. Workers must be able to import
physlens (the same environment on every node).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import asdict

from physlens.errors import ConfigError
from physlens.execution import Task, call_task, threads_for


def run_ray(tasks: list[Task], jobs: int | None, address: str | None, finished: Callable[[dict], None]) -> None:
    """Run ``tasks`` as Ray tasks; call ``finished(result_dict)`` as each ends.

    Example:
        >>> out = []
        >>> run_ray([Task("a", "json:dumps", {"obj": [3, 4]}, cpus=1)], 1, None, out.append)  # doctest: +SKIP
        >>> out[0]["value"]  # doctest: +SKIP
        '[3, 4]'
    """
    try:
        import ray
    except ImportError as exc:
        raise ConfigError("the ray executor needs Ray: pip install 'physlens[ray]'") from exc
    started = False
    if not ray.is_initialized():
        options = dict(include_dashboard=False, log_to_driver=False, configure_logging=False)
        if address:
            ray.init(address=address, **options)
        else:
            # a cluster started here: its workers see this process's import path (benchmark scripts' modules)
            env = {"env_vars": {"PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}}
            ray.init(num_cpus=jobs or (os.cpu_count() or 1), runtime_env=env, **options)
        started = True
    try:
        cluster_cpus = int(ray.cluster_resources().get("CPU", 1))
        jobs = max(1, min(jobs or cluster_cpus, len(tasks)))
        remote = ray.remote(call_task)
        waiting = list(tasks)
        running: dict = {}
        while waiting or running:
            while waiting and len(running) < jobs:
                t = waiting.pop(0)
                ref = remote.options(num_cpus=threads_for(t, jobs), num_gpus=t.gpus, max_retries=0).remote(
                    asdict(t), threads_for(t, jobs))
                running[ref] = t
            ready, _ = ray.wait(list(running), num_returns=1)
            t = running.pop(ready[0])
            try:
                finished(ray.get(ready[0]))
            except Exception as exc:  # the worker died (out of memory, node lost)
                finished({"key": t.key, "ok": False, "value": None, "seconds": 0.0, "traceback": None,
                          "error": f"ray worker failed: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}"})
    finally:
        if started:
            ray.shutdown()
