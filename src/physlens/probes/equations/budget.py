"""Budgets of the equation search: seconds shares per stage, or a deterministic count of work.

Every stage of :class:`~physlens.probes.equations.EquationSearch` asks one clock how much of
its share is left. By default the clock is the wall clock (``time.monotonic``): a search
given 60 s stops after about 60 s, and what it finds depends on how fast the machine is.
With a **deterministic budget** (:class:`SearchBudget` with ``evaluations`` set, inside
``with counted():``, or in a process with the environment variable ``PHYSLENS_COUNTED_BUDGET=1``) the clock is a *work counter*: it advances only when the engine does
counted work, so the same data, seed and budget give the same formula on any machine, loaded
or idle. The units of work (:data:`COSTS`):

- ``evaluations``: one candidate formula evaluated on the enumeration's subsample (the
  enumeration's blocks, the re-ranking on more rows, each least-squares fit of the pair/beam
  search) - the unit everything else is priced in;
- ``polish``: one candidate's constants refitted and rounded (SymPy), priced as ``COSTS["polish"]``
  evaluations; ``simplify``: one SymPy simplification of a front formula;
- ``epochs``: one epoch of the neural-network oracle, priced per training row (``epoch_rows``).

The counter is converted to *virtual seconds* at :data:`RATE` evaluations per second (what one
core of the project's shared 2-core machine did under load: 70,000 to 150,000 enumerated
candidates a second, one polished candidate 0.1 to 0.4 s, one oracle epoch on 1,000 rows about
0.05 s), so every share and threshold written in seconds keeps
its meaning, and a deterministic search of ``s`` virtual seconds does about as much work as a
wall-clock search of ``s`` seconds on such a core. SymPy calls keep a real-time safety limit
(:data:`SAFETY_SECONDS` under a counted budget) that only a stalled call reaches.

Example:
    >>> with counted():
    ...     t0 = now(); tick(RATE, "evaluations"); round(now() - t0, 6)
    1.0
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import os
import time
from dataclasses import dataclass, field

#: evaluations per virtual second
RATE = 100_000.0
#: evaluations one unit of each kind of work costs
COSTS = {"evaluations": 1.0, "polish": 30_000.0, "simplify": 30_000.0, "epochs": 0.0, "epoch_rows": 5.0}
#: real-time limit of one SymPy call under a counted budget (reached only by a stalled call)
SAFETY_SECONDS = 20.0
#: environment variable that makes every search of a process counted (a CLI run, a worker): ``1``
ENV = "PHYSLENS_COUNTED_BUDGET"


class Clock:
    """Seconds for the search's deadlines: real (``counted=False``) or virtual, from counted work.

    ``spent`` holds the counted work per kind (also on a real clock, for reports).

    Example:
        >>> c = Clock(counted=True); c.tick(3, "polish"); c.spent["polish"], c.now()
        (3.0, 0.9)
    """

    def __init__(self, counted: bool = False) -> None:
        self.counted = counted
        self.spent: dict[str, float] = {}
        self._units = 0.0

    def now(self) -> float:
        """Seconds: ``time.monotonic()``, or the counted work in virtual seconds."""
        return self._units / RATE if self.counted else time.monotonic()

    def tick(self, amount: float, kind: str = "evaluations") -> None:
        """Count ``amount`` units of ``kind`` work (priced by :data:`COSTS`)."""
        self.spent[kind] = self.spent.get(kind, 0.0) + float(amount)
        self._units += float(amount) * COSTS.get(kind, 1.0)

    def sympy_limit(self, seconds: float) -> float:
        """The real-time limit of one SymPy call: ``seconds`` on a real clock, the safety limit on a counted one."""
        return max(seconds, SAFETY_SECONDS) if self.counted else seconds


_REAL = Clock()
_current: contextvars.ContextVar[Clock] = contextvars.ContextVar("physlens_equations_clock", default=_REAL)


def clock() -> Clock:
    """The clock of the search running in this context (the real clock outside a counted budget).

    Example:
        >>> clock().counted
        False
    """
    return _current.get()


def counted_by_environment() -> bool:
    """Whether :data:`ENV` asks for counted budgets in this process (``time_limit`` then counts virtual seconds).

    Example:
        >>> counted_by_environment() in (True, False)
        True
    """
    return os.environ.get(ENV, "").strip().lower() in ("1", "true", "yes")


def now() -> float:
    """Seconds on the current clock (see :func:`clock`).

    Example:
        >>> now() > 0
        True
    """
    return _current.get().now()


def tick(amount: float, kind: str = "evaluations") -> None:
    """Count work on the current clock (it moves a counted clock; a real one only records it).

    Example:
        >>> tick(10)
    """
    _current.get().tick(amount, kind)


@contextlib.contextmanager
def using(c: Clock):
    """Run the block with ``c`` as the current clock (nested searches share it).

    Example:
        >>> with using(Clock(counted=True)):
        ...     clock().counted
        True
    """
    token = _current.set(c)
    try:
        yield c
    finally:
        _current.reset(token)


@contextlib.contextmanager
def counted():
    """Make every equation search in the block deterministic: its ``time_limit`` counts virtual seconds.

    For tests and reproducible runs of the probe's functions, which take budgets in seconds
    (``run(None, ds, time_limit=5)`` inside this block does the work of 5 virtual seconds).
    A block inside a counted search keeps that search's clock.

    Example:
        >>> import numpy as np
        >>> from physlens.probes.equations import EquationSearch
        >>> X = np.random.default_rng(0).uniform(1, 2, (100, 2))
        >>> with counted():
        ...     str(EquationSearch(time_limit=3, variable_names=["a", "b"]).fit(X, X[:, 0] * X[:, 1]).expression_)
        'a*b'
    """
    if _current.get().counted:
        yield _current.get()
        return
    with using(Clock(counted=True)) as c:
        yield c


@dataclass(frozen=True)
class Shares:
    """The fractions of the remaining time each stage may use (the defaults are the engine's tuned ones).

    ``generators``: the share of the whole budget for candidate generation (the rest polishes and
    selects); ``symmetry``, ``separability``, ``scaling``: of the time left when the stage starts;
    ``enumeration`` / ``enumeration_with_oracle``: of the time left, without / with the oracle after it;
    ``oracle_reserve``: the share of the time left the oracle leaves for polishing;
    ``polish_call``: the real-time limit of one SymPy call, as a share of the budget (0.5 to 2 s).

    Example:
        >>> Shares().generators
        0.75
    """

    generators: float = 0.75
    symmetry: float = 0.5
    separability: float = 0.6
    scaling: float = 0.5
    enumeration: float = 0.85
    enumeration_with_oracle: float = 0.5
    oracle_reserve: float = 0.15
    polish_call: float = 0.1


@dataclass(frozen=True)
class SearchBudget:
    """How much a search may do: ``seconds`` on the wall clock, or a deterministic count of work.

    Args:
        seconds: the time limit (wall clock); ignored when ``evaluations`` is set.
        evaluations: a deterministic budget: the counted work (in candidate evaluations,
            :data:`COSTS`) the search may do; the result then depends only on the data, the
            seed and this number. ``None``: the wall clock.
        shares: the per-stage shares (:class:`Shares`).

    Example:
        >>> b = SearchBudget(evaluations=1_000_000)
        >>> b.deterministic, b.limit
        (True, 10.0)
        >>> SearchBudget(seconds=30).limit
        30.0
    """

    seconds: float = 60.0
    evaluations: int | None = None
    shares: Shares = field(default_factory=Shares)

    def __post_init__(self) -> None:
        from physlens.errors import ConfigError

        if not (self.seconds > 0 and math.isfinite(self.seconds)):
            raise ConfigError(f"budget seconds must be a positive number, got {self.seconds!r}")
        if self.evaluations is not None and not self.evaluations > 0:
            raise ConfigError(f"budget evaluations must be a positive count, got {self.evaluations!r}")

    @property
    def deterministic(self) -> bool:
        """Whether the search counts work instead of seconds."""
        return self.evaluations is not None

    @property
    def limit(self) -> float:
        """The budget in (real or virtual) seconds."""
        return float(self.evaluations) / RATE if self.deterministic else float(self.seconds)

    @classmethod
    def counts(cls, evaluations: int, **kw) -> SearchBudget:
        """A deterministic budget of ``evaluations`` units of work.

        Example:
            >>> SearchBudget.counts(400_000).limit
            4.0
        """
        return cls(evaluations=int(evaluations), **kw)
