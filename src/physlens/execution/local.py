"""The local backend: tasks in this process (one job) or in a pool of worker processes.

Workers are started with ``spawn`` (a fresh interpreter each): forking a process
whose PyTorch/OpenMP threads are already running can deadlock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict

from physlens.execution import Task, call_task, threads_for


def run_local(tasks: list[Task], jobs: int, finished: Callable[[dict], None]) -> None:
    """Run ``tasks`` with ``jobs`` side by side; call ``finished(result_dict)`` as each ends.

    Example:
        >>> out = []
        >>> run_local([Task("a", "json:dumps", {"obj": [3, 4]})], 1, out.append)
        >>> out[0]["value"]
        '[3, 4]'
    """
    jobs = max(1, min(jobs, len(tasks)))
    if jobs == 1:
        for t in tasks:
            finished(call_task(asdict(t), threads_for(t, 1)))
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futs = {pool.submit(call_task, asdict(t), threads_for(t, jobs)): t for t in tasks}
        for fut in as_completed(futs):
            try:
                finished(fut.result())
            except Exception as exc:  # the worker process itself died (out of memory, killed)
                t = futs[fut]
                finished({"key": t.key, "ok": False, "value": None, "seconds": 0.0, "traceback": None,
                          "error": f"worker process failed: {type(exc).__name__}: {exc}"})
