"""Work seconds: the clock a probe reads its share of a study's budget on.

A probe's share of the budget is written in seconds. Read on the wall clock, the share buys less
work on a busy machine, so what a probe finds would depend on the load: measured on 2 cores at a
load of 6-8, the flagship's symmetry probe spent its stages' deadlines on the continuous scan and
tested no discrete candidate, where an idle machine finds parity and time reversal.

:func:`work_seconds` is the CPU time of the calling thread (``time.thread_time``). It advances only
while the thread runs, so a share buys about the same work on a busy machine as on an idle one
(later, in wall time). It is not a counted budget, which only the equation engine has (see
:mod:`physlens.probes.equations.budget`): cache contention, and time that torch's or BLAS's worker
threads spend while the caller waits, move it by tens of per cent, not by the load factor (on an
idle machine with as many threads as cores the caller works alongside them, so a share takes at
most that many times longer in wall time). Durations shown to the user (a probe's ``seconds``)
stay wall-clock.

Written here rather than taken from a library: the standard library's ``time.thread_time`` is the
whole mechanism; this module only names the choice once for every probe.

Example:
    >>> t0 = work_seconds(); _ = sum(range(100_000)); work_seconds() >= t0
    True
"""

from __future__ import annotations

import time


def work_seconds() -> float:
    """CPU seconds of the calling thread: compare two readings against a budget share.

    Example:
        >>> isinstance(work_seconds(), float)
        True
    """
    return time.thread_time()


def past(deadline: float | None) -> bool:
    """Whether a deadline on the :func:`work_seconds` clock has passed (None never does).

    Example:
        >>> past(None), past(work_seconds() - 1.0)
        (False, True)
    """
    return deadline is not None and work_seconds() > deadline


__all__ = ["past", "work_seconds"]
