"""Equation discovery: closed-form laws y = f(X) (symbolic regression), dynamics and force laws, as SymPy findings.

``run(model, dataset, **options)`` returns ``equation`` findings:

* always, for every target, the static law ``y = f(X)`` found by
  :class:`~physlens.probes.equations.search.EquationSearch` (dimensional
  analysis, monomial fast path, bottom-up enumeration, sums of terms, a
  neural-network separability oracle and constant polishing; after AI Feynman,
  Udrescu & Tegmark 2020, and PySR, Cranmer 2023). With ``noise_aware=True``
  the formula is fitted to the trained emulator's predictions instead of the
  noisy targets (denoising, as AI Feynman fits its network);
* when the dataset has trajectories, the ODEs from
  :mod:`physlens.probes.equations.dynamics` (SINDy), if that module is present;
* when the model exposes ``messages`` (a graph network), the force law from
  :mod:`physlens.probes.equations.messages`.

The value of a static-law finding is ``{"target", "expression" (text that
:func:`physlens.expressions.parse_expression` reads back, in the input
names), "latex", "complexity", "rmse", "r2", "pareto" (list of
{expression, latex, complexity, rmse}, simplest first)}``.

Public API for other modules: :class:`EquationSearch` (scikit-learn estimator,
stable), :func:`static_law_findings`.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

import numpy as np

from physlens.data.dataset import Dataset
from physlens.expressions import expression_to_text
from physlens.findings import Finding
from physlens.probes.equations.search import Candidate, EquationSearch, pareto_front

__all__ = ["EquationSearch", "Candidate", "pareto_front", "run", "static_law_findings", "law_finding"]


def law_finding(est: EquationSearch, target: str, y: np.ndarray, probe: str = "equations", fitted_to: str = "data") -> Finding:
    """Turn a fitted :class:`EquationSearch` into an ``equation`` finding.

    Example:
        >>> X = np.random.default_rng(0).uniform(1, 2, (50, 1))
        >>> est = EquationSearch(time_limit=5, variable_names=["x"]).fit(X, 3 * X[:, 0])
        >>> law_finding(est, "y", 3 * X[:, 0]).value["expression"]
        '3*x'
    """
    import sympy as sp

    var = float(np.var(y))
    r2 = 1.0 - est.rmse_**2 / var if var > 0 else 0.0
    text = expression_to_text(est.expression_)
    exact = est.rmse_ <= 1e-6 * float(np.sqrt(np.mean(y**2)))
    confidence = max(0.0, min(1.0, r2)) * (1.0 if exact else 0.9)
    return Finding(
        kind="equation",
        statement=f"{target} = {text}  (complexity {est.complexity_}, RMSE {est.rmse_:.3g}, R² {r2:.6f})",
        value={
            "target": target,
            "expression": text,
            "latex": sp.latex(est.expression_),
            "complexity": int(est.complexity_),
            "rmse": float(est.rmse_),
            "r2": float(r2),
            "pareto": est.pareto_,
        },
        evidence={
            "fitted_to": fitted_to,
            "rows": int(len(y)),
            "search_seconds": float(est.fit_time_),
            "origin": est.origin_,
            "time_limit": float(est.time_limit),
            "units": bool(est.units),
        },
        confidence=confidence,
        probe=probe,
        target=target,
        subject=target,
    )


def static_law_findings(
    dataset: Dataset,
    model: Any = None,
    noise_aware: bool = False,
    time_limit: float = 30.0,
    max_samples: int = 2000,
    use_units: bool = True,
    seed: int = 0,
    progress: bool = False,
    **search_options: Any,
) -> list[Finding]:
    """One ``equation`` finding per target: the law ``target = f(inputs)``.

    Args:
        dataset: the data (inputs, targets, optional units).
        model: trained emulator; needed when ``noise_aware``.
        noise_aware: fit the formula to the emulator's predictions (denoised) instead of the data.
        time_limit: seconds per target.
        max_samples: rows used (seeded subsample).
        use_units: dimensional analysis when every input and the target have units.
        seed: subsample and search seed.
        search_options: passed to :class:`EquationSearch` (e.g. ``max_complexity``).

    Example:
        >>> from physlens.systems import get_system
        >>> ds = get_system("toy_distractor").sample(300)
        >>> static_law_findings(ds, time_limit=10)[0].value["expression"]
        'x1*x2**2'
    """
    from physlens.errors import ConfigError

    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(dataset.n, size=min(max_samples, dataset.n), replace=False))
    X = dataset.X[idx]
    if noise_aware:
        if model is None:
            raise ConfigError("noise_aware needs a trained model: the formula is fitted to its predictions")
        model.eval()
        Y = np.asarray(model.predict(X), dtype=np.float64)
    else:
        Y = dataset.y[idx]
    findings = []
    for k, tname in enumerate(dataset.target_names):
        units = None
        if use_units and dataset.units:
            units = {c: u for c, u in dataset.units.items() if c in dataset.input_names or c == tname}
        opts = dict(search_options)
        if noise_aware:  # an emulator's error is systematic: constants are rounded more freely
            opts.setdefault("constant_tolerance", 0.05)
        est = EquationSearch(time_limit=time_limit, units=units or None, variable_names=list(dataset.input_names),
                             target_name=tname, seed=seed, progress=progress, **opts)
        est.fit(X, Y[:, k])
        if noise_aware:
            # searched on the emulator (denoised), judged on the measurements: an emulator's error is
            # smooth and systematic, and complex formulas would otherwise win by fitting its wiggles
            est.reselect(X, dataset.y[idx, k])
        findings.append(law_finding(est, tname, Y[:, k], fitted_to="emulator" if noise_aware else "data"))
    return findings


def _optional(module: str):
    name = f"{__name__}.{module}"
    if importlib.util.find_spec(name) is None:
        return None
    return importlib.import_module(name)


def run(
    model: Any,
    dataset: Dataset,
    time_limit: float = 30.0,
    noise_aware: bool = False,
    static: bool = True,
    dynamics: bool = True,
    messages: bool = True,
    dynamics_options: dict | None = None,
    messages_options: dict | None = None,
    seed: int = 0,
    progress: bool = False,
    **search_options: Any,
) -> list[Finding]:
    """Equation findings for ``dataset`` (and ``model``): static laws, plus dynamics and force laws when they apply.

    Args:
        model: the trained emulator (may be None for a data-only static search).
        dataset: the data.
        time_limit: seconds per target for the static search.
        noise_aware: fit the static law to the model's predictions instead of the data.
        static, dynamics, messages: switch each part off.
        dynamics_options: passed to ``dynamics.discover_dynamics`` (trajectory datasets).
        messages_options: passed to ``messages.force_law_from_messages`` (graph models).
        seed, progress: as usual.
        search_options: passed to :func:`static_law_findings`.

    Example:
        >>> from physlens.systems import get_system
        >>> ds = get_system("toy_distractor").sample(300)
        >>> [f.value["expression"] for f in run(None, ds, time_limit=10)]
        ['x1*x2**2']
    """
    findings: list[Finding] = []
    if dynamics and dataset.trajectories is not None:
        mod = _optional("dynamics")
        if mod is not None and hasattr(mod, "discover_dynamics"):
            findings.extend(mod.discover_dynamics(dataset, **(dynamics_options or {})))
    if messages and model is not None and callable(getattr(model, "messages", None)):
        mod = _optional("messages")
        if mod is not None and hasattr(mod, "force_law_from_messages"):
            findings.extend(mod.force_law_from_messages(model, dataset, **(messages_options or {})))
    if static:
        findings.extend(static_law_findings(dataset, model=model, noise_aware=noise_aware, time_limit=time_limit,
                                            seed=seed, progress=progress, **search_options))
    return findings
