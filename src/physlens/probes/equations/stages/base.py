"""What every stage of the equation search shares: the :class:`Stage` protocol, the state, the budget.

A stage reads and extends one :class:`SearchState`: candidate generators append raw formulas
to ``state.raw``, the polishing stage turns them into scored :class:`Candidate` objects,
the selection stage sets ``state.best``. Each stage is given a :class:`StageBudget`: its
share of the time left when it starts, measured on the search's clock (wall-clock seconds,
or virtual seconds of counted work under a deterministic budget, :mod:`..budget`).

Example:
    >>> class Constant:
    ...     name = "constant"
    ...     def run(self, state, budget):
    ...         state.add([sp.Float(float(np.mean(state.target)))], "constant")
    >>> isinstance(Constant(), Stage)
    True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, runtime_checkable

import numpy as np
import sympy as sp

from physlens.expressions import expression_to_latex, expression_to_text
from physlens.probes.equations import budget as B
from physlens.probes.equations import simplify as S


@dataclass
class Candidate:
    """One formula on the Pareto front: expression, complexity, RMSE on the data, where it came from.

    Example:
        >>> c = Candidate(sp.Symbol("x") ** 2, complexity=3, rmse=0.0, origin="enumeration")
        >>> c.as_dict()["expression"]
        'x**2'
    """

    expression: sp.Expr
    complexity: int
    rmse: float
    origin: str = ""

    def as_dict(self) -> dict:
        """JSON-ready dict with the expression as text and LaTeX."""
        return {
            "expression": expression_to_text(self.expression),
            "latex": expression_to_latex(self.expression),
            "complexity": int(self.complexity),
            "rmse": float(self.rmse),
            "origin": self.origin,
        }


@dataclass
class StageBudget:
    """A stage's budget: ``share`` of the time left when it starts (on the search's clock).

    ``seconds`` is that share, computed at the start; ``left()`` is the search's whole time
    left for candidate generation (stages that pace several sub-searches read it as they go).

    Example:
        >>> StageBudget(share=0.5, seconds=2.0).seconds
        2.0
    """

    share: float
    seconds: float
    deadline: float = float("inf")

    def left(self) -> float:
        """Seconds left before the generators' deadline."""
        return self.deadline - B.now()


@runtime_checkable
class Stage(Protocol):
    """One step of the search: ``run(state, budget)`` reads and extends ``state``.

    ``name`` identifies it (``EquationSearch(stages=[...])`` composes them; shares are looked up
    by name in :class:`~physlens.probes.equations.budget.Shares`).
    """

    name: str

    def run(self, state: SearchState, budget: StageBudget) -> None:
        """Do the stage's work on ``state`` within ``budget``."""


@dataclass
class SearchState:
    """Everything the stages share while one search runs.

    ``X``, ``target``: the data searched (``target`` is the emulator's prediction when denoising);
    ``names``: the engine's internal input names (``x0, x1, ...``; the target is ``tname``);
    ``units``: internal name -> unit, or None; ``raw``: generated ``(expression, origin)`` pairs;
    ``candidates``: polished :class:`Candidate` objects; ``front``: their Pareto front; ``best``: the selected one;
    ``dim_check``: with units, a function returning a dimensionally consistent (cleaned) formula or None;
    ``flags``: notes stages leave for later ones (``"oracle"``: whether the oracle follows the enumeration).

    Example:
        >>> X = np.linspace(1, 2, 20)[:, None]
        >>> st = SearchState(search=None, X=X, target=2 * X[:, 0], names=["x0"])
        >>> st.add([2 * sp.Symbol("x0", real=True)], "guess"); st.exact_found()
        True
    """

    search: Any
    X: np.ndarray
    target: np.ndarray
    names: list[str]
    tname: str = "y"
    units: dict[str, str] | None = None
    user_units: dict[str, str] | None = None
    seed: int = 0
    deadline: float = float("inf")
    final_deadline: float = float("inf")
    reductions: list = field(default_factory=list)
    const_dims: tuple | None = None
    dim_check: Callable | None = None
    raw: list[tuple[sp.Expr, str]] = field(default_factory=list)
    candidates: list[Candidate] = field(default_factory=list)
    front: list[Candidate] = field(default_factory=list)
    best: Candidate | None = None
    flags: dict = field(default_factory=dict)
    _checked: list = field(default_factory=lambda: [0, False])

    def __post_init__(self) -> None:
        self.symbols = [sp.Symbol(n, real=True) for n in self.names]
        self.cols = {n: self.X[:, j] for j, n in enumerate(self.names)}
        self.scale = float(np.sqrt(np.mean(self.target**2)))

    def remaining(self) -> float:
        """Seconds left for candidate generation (the rest of the budget is for polishing)."""
        return self.deadline - B.now()

    def add(self, exprs, origin: str) -> None:
        """Append generated formulas with their origin."""
        self.raw.extend((e, origin) for e in exprs)

    def exact_found(self) -> bool:
        """Whether a generated formula already fits the target exactly (and is dimensionally consistent)."""
        # only the candidates added since the last call are tested (a stage can add a hundred)
        if not self._checked[1]:
            self._checked[1] = any(S.rmse(e, self.cols, self.target) <= 1e-9 * self.scale
                                   and (self.dim_check is None or self.dim_check(e) is not None)
                                   for e, _ in self.raw[self._checked[0]:])
            self._checked[0] = len(self.raw)
        return self._checked[1]

    def log(self, msg: str) -> None:
        """A progress line (when the search was asked for progress)."""
        if self.search is not None:
            self.search._log(msg)

    def user(self, expr: sp.Expr) -> sp.Expr:
        """``expr`` in the user's column names."""
        return self.search._user(expr) if self.search is not None else expr
