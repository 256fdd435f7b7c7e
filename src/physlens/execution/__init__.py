"""Run many independent tasks — studies, probes, benchmark problems — on one machine or a Ray cluster.

One interface, two backends:

* ``local`` (default, no extra dependency): the tasks run in this process
  (``jobs=1``) or in a pool of ``jobs`` worker processes;
* ``ray`` (the ``ray`` extra): each task is a Ray task with its CPU/GPU
  resources, on the cluster at ``address`` (``ray://host:10001``, ``auto``) or
  on a local cluster started for the call.

A task names its function by import path (``"physlens.cli.scorecard:score_system"``)
and carries plain keyword arguments, so it travels to any worker the same
way. Whichever backend runs it, a task returns the same
:class:`TaskResult`: its value, or its error in one line (a failing task never
stops the others). With a ``store`` directory each finished task's result is
written there atomically (``<key>.json``), and a later call with the same
store returns those results without running the tasks again — an interrupted
sweep resumes where it stopped.

Why by hand: ``concurrent.futures`` and Ray each do the fan-out; what they do
not give is the same result record, failure handling, per-task thread budget
and on-disk resume across both, which is this module's only job.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import re
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from physlens.errors import ConfigError

EXECUTORS = ("local", "ray")


@dataclass
class Task:
    """One unit of work: ``fn(**kwargs)`` where ``fn`` is ``"package.module:function"``.

    Attributes:
        key: unique name of the task in its batch (also its file name in a store).
        fn: import path of a module-level function.
        kwargs: JSON-able keyword arguments.
        cpus: CPU cores the task uses (its torch threads; Ray's ``num_cpus``); None: the machine's
            cores shared evenly among the tasks that run side by side.
        gpus: GPUs the task needs (Ray's ``num_gpus``; ignored by the local pool).

    Example:
        >>> Task("a", "json:dumps", {"obj": [3, 4]}).key
        'a'
    """

    key: str
    fn: str
    kwargs: dict = field(default_factory=dict)
    cpus: int | None = None
    gpus: float = 0.0

    def __post_init__(self) -> None:
        if ":" not in self.fn:
            raise ConfigError(f"task {self.key!r}: fn must be 'module:function', got {self.fn!r}")


@dataclass
class TaskResult:
    """What running a :class:`Task` gave: ``ok`` and ``value``, or ``error`` (one line) and ``traceback``.

    Example:
        >>> TaskResult("a", ok=True, value='[3, 4]', seconds=0.0).ok
        True
    """

    key: str
    ok: bool
    value: Any = None
    error: str | None = None
    traceback: str | None = None
    seconds: float = 0.0
    resumed: bool = False

    def to_dict(self) -> dict:
        """A JSON-ready dict (the value through the project's codec)."""
        from physlens.findings import to_jsonable

        d = asdict(self)
        d["value"] = to_jsonable(self.value)
        return d


def resolve(path: str) -> Callable:
    """The function named ``"module:function"``.

    Example:
        >>> resolve("math:hypot")(3, 4)
        5.0
    """
    module, _, name = path.partition(":")
    try:
        fn = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"cannot find task function {path!r}: {exc}") from exc
    if not callable(fn):
        raise ConfigError(f"task function {path!r} is not callable")
    return fn


def call_task(task: dict, threads: int = 1) -> dict:
    """Run one task (given as a dict) here and return its :class:`TaskResult` as a dict; never raises.

    Each backend's workers call this, so a result does not depend on where it ran.

    Example:
        >>> call_task({"key": "a", "fn": "json:dumps", "kwargs": {"obj": [3, 4]}})["value"]
        '[3, 4]'
        >>> call_task({"key": "b", "fn": "json:loads", "kwargs": {"s": "{"}})["error"][:15]
        'JSONDecodeError'
    """
    t0 = time.perf_counter()
    before = None
    try:
        import torch

        before = torch.get_num_threads()
        torch.set_num_threads(max(1, int(threads)))
    except Exception:  # torch missing or already initialised: the task still runs
        pass
    try:
        value = resolve(task["fn"])(**task.get("kwargs", {}))
        out = TaskResult(task["key"], ok=True, value=value)
    except BaseException as exc:  # a task's failure is its result, never the batch's end
        if isinstance(exc, KeyboardInterrupt):
            raise
        text = " ".join(str(exc).split()) or type(exc).__name__
        out = TaskResult(task["key"], ok=False, error=f"{type(exc).__name__}: {text[:400]}",
                         traceback=traceback.format_exc(limit=8))
    finally:  # a task run inline leaves its caller on the caller's own thread count
        if before is not None:
            torch.set_num_threads(before)
    out.seconds = time.perf_counter() - t0
    return out.to_dict()


def _result(d: dict, resumed: bool = False) -> TaskResult:
    from physlens.findings import from_jsonable

    r = TaskResult(**{k: d.get(k) for k in ("key", "ok", "value", "error", "traceback", "seconds")})
    r.value = from_jsonable(r.value)
    r.resumed = resumed
    return r


def _store_name(key: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_.=,-]+", "_", key)[:80]
    return f"{slug}-{hashlib.sha1(key.encode()).hexdigest()[:8]}.json"


def stored(store: str | Path | None, key: str) -> TaskResult | None:
    """The finished result of task ``key`` in ``store``, or None.

    Example:
        >>> stored(None, "a") is None
        True
    """
    if store is None:
        return None
    path = Path(store) / _store_name(key)
    if not path.is_file():
        return None
    try:
        d = json.loads(path.read_text())
    except (OSError, ValueError):  # a damaged record is redone, not trusted
        return None
    return _result(d, resumed=True) if d.get("key") == key and d.get("ok") else None


def _save(store: str | Path | None, d: dict) -> None:
    if store is None:
        return
    from physlens.io import write_json

    write_json(Path(store) / _store_name(d["key"]), d)


def available_cores() -> int:
    """The cores this process may compute on: its CPU affinity, capped by ``OMP_NUM_THREADS`` when set.

    A test worker or a scheduler's share sets the variable; torch threads beyond the cores a process really
    has spin against each other on a loaded machine (toy_distractor, 150 epochs on 2 busy cores: 37 s with
    2 threads, 2.8 s with 1).

    Example:
        >>> available_cores() >= 1
        True
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if os.environ.get("OMP_NUM_THREADS", "").isdigit():
        cores = min(cores, max(1, int(os.environ["OMP_NUM_THREADS"])))
    return max(1, cores)


def threads_for(task: Task, jobs: int) -> int:
    """Torch threads of ``task`` when ``jobs`` tasks run side by side (the same on every backend).

    Example:
        >>> threads_for(Task("a", "json:dumps", cpus=3), jobs=8)
        3
    """
    if task.cpus is not None:
        return max(1, int(task.cpus))
    return max(1, available_cores() // max(1, jobs))


def run_tasks(tasks: Iterable[Task], executor: str = "local", jobs: int | None = None, address: str | None = None,
              store: str | Path | None = None, progress: bool = False,
              on_result: Callable[[TaskResult], None] | None = None) -> list[TaskResult]:
    """Run ``tasks``; return their results in the order given.

    Args:
        tasks: the work, keys unique.
        executor: ``"local"`` or ``"ray"``.
        jobs: tasks side by side (default: the machine's cores, for Ray the cluster's).
        address: Ray cluster address (``ray://host:port`` or ``auto``); None starts a local cluster.
        store: directory for one JSON record per finished task; finished tasks found there are not rerun.
        progress: print one line per finished task on stderr.
        on_result: called with each result as it arrives (in completion order).

    Example:
        >>> rs = run_tasks([Task("a", "json:dumps", {"obj": [3, 4]}), Task("b", "json:loads", {"s": "{"})], jobs=1)
        >>> [(r.key, r.ok, r.value) for r in rs]
        [('a', True, '[3, 4]'), ('b', False, None)]
    """
    tasks = list(tasks)
    if executor not in EXECUTORS:
        raise ConfigError(f"executor must be one of {', '.join(EXECUTORS)}, got {executor!r}")
    keys = [t.key for t in tasks]
    if len(set(keys)) != len(keys):
        dup = sorted({k for k in keys if keys.count(k) > 1})
        raise ConfigError(f"task keys must be unique; repeated: {', '.join(dup)}")
    if jobs is not None and jobs < 1:
        raise ConfigError(f"jobs must be at least 1, got {jobs}")
    done: dict[str, TaskResult] = {}
    todo = []
    for t in tasks:
        r = stored(store, t.key)
        if r is not None:
            done[t.key] = r
        else:
            todo.append(t)
    console = None
    if progress:
        from rich.console import Console

        console = Console(stderr=True)
        if done:
            console.print(f"[bold]resume[/]: {len(done)} of {len(tasks)} task(s) already finished", highlight=False)

    def finished(d: dict) -> None:
        _save(store, d)
        r = _result(d)
        done[r.key] = r
        if console is not None:
            mark = "[green]done[/]" if r.ok else f"[red]failed[/] {r.error}"
            console.print(f"  {len(done)}/{len(tasks)} {r.key}: {mark} ({r.seconds:.1f} s)", highlight=False)
        if on_result is not None:
            on_result(r)

    if todo:
        if executor == "local":
            from physlens.execution.local import run_local

            run_local(todo, jobs or (os.cpu_count() or 1), finished)
        else:
            from physlens.execution.ray_backend import run_ray

            run_ray(todo, jobs, address, finished)
    return [done[k] for k in keys]


__all__ = ["EXECUTORS", "Task", "TaskResult", "call_task", "resolve", "run_tasks", "stored", "threads_for"]
