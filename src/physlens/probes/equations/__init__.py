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
:func:`physlens.expressions.parse_expression` reads back with
``variables=input_names``, in the input names, whatever they are: ``y``, ``lambda``,
``E``, ``I``, ``pi``...), "latex", "complexity", "rmse", "r2", "pareto" (list of
{expression, latex, complexity, rmse}, simplest first)}``.

When the target's units cannot be formed from the inputs' units, the law carries one
fitted dimensional constant and the value also has ``"constant": {"value", "units"
(pint text), "name" (a CODATA constant with matching units within 1 %, else None),
"expression" (e.g. ``"2*pi/sqrt(G)"``), "relative_error", "implied"}``. A named constant
is written into ``expression`` with its CODATA value (so the law reads as the textbook
one, ``2*pi*a**(3/2)/sqrt(G*M)`` with G's value, and scores against a truth that uses
it), ``latex`` shows its symbol, and ``fitted_expression`` keeps the data-fitted form.

``applies(dataset)`` says why the probe cannot run (None when it can); ``REQUIRES``
is empty (the static search reads the data, not the model) and ``COST`` is its share
of a study's probe time. ``run(..., budget_seconds=B)`` keeps the whole probe within
``B`` seconds. Inside ``with physlens.probes.equations.budget.counted():`` (or with
``PHYSLENS_COUNTED_BUDGET=1`` in the environment) every budget in seconds counts work instead
(virtual seconds, :mod:`.budget`): the findings are then the same on any machine.

The search itself is a list of stages (:mod:`.stages`: generators, polishing, cleaning,
selection) that ``EquationSearch(stages=[...])`` lets a user change.

Public API for other modules: :class:`EquationSearch` (scikit-learn estimator,
stable), :func:`static_law_findings`.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import warnings
from typing import Any

import numpy as np

from physlens.data.dataset import Dataset
from physlens.expressions import expression_to_latex, expression_to_text
from physlens.findings import Finding
from physlens.probes import too_few_rows
from physlens.probes.equations.search import MIN_ROWS, Candidate, EquationSearch, pareto_front
from physlens.probes.equations import budget as B

__all__ = ["EquationSearch", "Candidate", "pareto_front", "run", "static_law_findings", "law_finding", "applies",
           "REQUIRES", "COST", "MAX_INPUTS"]

REQUIRES: dict = {}  # the static search reads the data, not the model: no fit quality needed
COST = 3.0  # relative share of a study's probe time budget


def NEEDS_MODEL(options: dict) -> bool:  # noqa: N802  (the probe contract's name)
    """The static search, vector laws and ODEs read the data; only ``noise_aware`` fits a trained emulator.

    Example:
        >>> NEEDS_MODEL({}), NEEDS_MODEL({"noise_aware": True})
        (False, True)
    """
    return bool(options.get("noise_aware"))
MAX_INPUTS = 20  # the static search's limit (pair tests, Buckingham bases and the enumeration grow fast)


def applies(dataset: Dataset) -> str | None:
    """None when the equation probe can run on ``dataset``; otherwise a one-line reason.

    Trajectory datasets (dynamics) and graph models (messages) are read by their own parts;
    the static law search needs a numeric target that varies, at least 10 rows and at most
    :data:`MAX_INPUTS` inputs.

    Example:
        >>> from physlens.systems import get_system
        >>> applies(get_system("toy_distractor").sample(50)) is None
        True
        >>> applies(Dataset(np.random.rand(30, 32), np.random.rand(30), [f"x{j}" for j in range(32)], ["y"]))
        '32 inputs: the static law search handles at most 20 (select inputs with --inputs)'
    """
    dyn = _optional("dynamics")
    if dyn is not None and hasattr(dyn, "applies") and dyn.applies(dataset) is None:
        return None  # the dynamics part reads trajectories (or rows with times)
    if dataset.d_out == 0:
        return "no numeric target"
    if dataset.d_in == 0:
        return "no inputs: a law needs at least one input column"
    if (short := too_few_rows(dataset, MIN_ROWS, "search for an equation")) is not None:
        return short
    if dataset.d_in > MAX_INPUTS:
        return (f"{dataset.d_in} inputs: the static law search handles at most {MAX_INPUTS} "
                "(select inputs with --inputs)")
    y = np.asarray(dataset.y, dtype=float)
    if np.all(np.ptp(y, axis=0) == 0):
        return "every target is constant: there is no law to find"
    return None


def law_finding(est: EquationSearch, target: str, y: np.ndarray, probe: str = "equations", fitted_to: str = "data") -> Finding:
    """Turn a fitted :class:`EquationSearch` into an ``equation`` finding.

    Example:
        >>> X = np.random.default_rng(0).uniform(1, 2, (50, 1))
        >>> est = EquationSearch(time_limit=5, variable_names=["x"]).fit(X, 3 * X[:, 0])
        >>> law_finding(est, "y", 3 * X[:, 0]).value["expression"]
        '3*x'
    """
    var = float(np.var(y))
    const = getattr(est, "constant_", None)
    named = getattr(est, "named_expression_", None)
    expr, rmse = est.expression_, float(est.rmse_)
    if const is not None and named is not None:
        expr, rmse = named, float(const.get("rmse", est.rmse_))
    r2 = 1.0 - rmse**2 / var if var > 0 else 0.0
    text = expression_to_text(expr)
    exact = est.rmse_ <= 1e-6 * float(np.sqrt(np.mean(y**2)))
    confidence = max(0.0, min(1.0, r2)) * (1.0 if exact else 0.9)
    statement = f"{target} = {text}  (complexity {est.complexity_}, RMSE {rmse:.3g}, R² {r2:.6f})"
    value = {
        "target": target,
        "expression": text,
        "latex": expression_to_latex(expr),
        "complexity": int(est.complexity_),
        "rmse": rmse,
        "r2": float(r2),
        "pareto": est.pareto_,
    }
    if const is not None:
        value["constant"] = {k: const[k] for k in ("value", "units", "name", "expression", "relative_error", "implied")}
        value["fitted_expression"] = expression_to_text(est.expression_)
        if const["name"]:
            if getattr(est, "named_latex_", None):
                value["latex"] = est.named_latex_
            symbolic = getattr(est, "named_symbolic_", None)
            if symbolic is not None:  # the law as a physicist writes it, with the constant's symbol
                statement = statement.replace(f"{target} = {text}", f"{target} = {expression_to_text(symbolic)}", 1)
            statement += (f"; fitted constant {const['value']:.6g} {const['units']} = {const['expression']} "
                          f"with {const['name']} = {const['implied']:.5g}, within "
                          f"{100 * const['relative_error']:.2g} % of CODATA")
        else:
            statement += f"; fitted constant {const['value']:.6g} {const['units']} (no CODATA constant matches)"
    return Finding(
        kind="equation",
        statement=statement,
        value=value,
        evidence={
            "fitted_to": fitted_to,
            "rows": int(len(y)),
            "search_seconds": float(est.fit_time_),
            "origin": est.origin_,
            "time_limit": float(est.time_limit),
            "units": bool(est.units),
            "fitted_rmse": float(est.rmse_),
            **({"scalings": est.scalings_} if getattr(est, "scalings_", None) else {}),
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
    budget_seconds: float | None = None,
    **search_options: Any,
) -> list[Finding]:
    """One ``equation`` finding per target: the law ``target = f(inputs)``.

    Args:
        dataset: the data (inputs, targets, optional units). Column names may be any text.
        model: trained emulator; needed when ``noise_aware``.
        noise_aware: fit the formula to the emulator's predictions (denoised) instead of the data.
        time_limit: seconds per target.
        max_samples: rows used (seeded subsample).
        use_units: dimensional analysis when every input and the target have units (with a
            fitted dimensional constant when the units do not close).
        seed: subsample and search seed.
        budget_seconds: seconds for all targets together: each target gets at most
            ``time_limit`` and its share of what is left.
        search_options: passed to :class:`EquationSearch` (e.g. ``max_complexity``).

    A target that is constant (when there are several) has no law and gets no finding.

    Example:
        >>> from physlens.systems import get_system
        >>> ds = get_system("toy_distractor").sample(300)
        >>> static_law_findings(ds, time_limit=10)[0].value["expression"]
        'x1*x2**2'
    """
    from physlens.errors import ConfigError

    t_end = None if budget_seconds is None else B.now() + float(budget_seconds)
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
    todo = [k for k in range(dataset.d_out) if dataset.d_out == 1 or np.ptp(dataset.y[idx, k]) > 0]
    findings = []
    for q, k in enumerate(todo):
        tname = dataset.target_names[k]
        limit = float(time_limit)
        if t_end is not None:
            # (a search may overrun its limit by its last polishing step: 20 % kept in reserve)
            limit = max(0.5, min(limit, 0.8 * (t_end - B.now()) / (len(todo) - q)))
        units = None
        if use_units and dataset.units:
            units = {c: u for c, u in dataset.units.items() if c in dataset.input_names or c == tname}
        opts = dict(search_options)
        if noise_aware:  # an emulator's error is systematic: constants are rounded more freely
            opts.setdefault("constant_tolerance", 0.05)
        est = EquationSearch(time_limit=limit, units=units or None, variable_names=list(dataset.input_names),
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


def _accepts(fn, name: str) -> bool:
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def run(
    model: Any,
    dataset: Dataset,
    time_limit: float = 30.0,
    noise_aware: bool = False,
    static: bool = True,
    dynamics: bool = True,
    messages: bool = True,
    vectors: bool = True,
    dynamics_options: dict | None = None,
    messages_options: dict | None = None,
    seed: int = 0,
    progress: bool = False,
    budget_seconds: float | None = None,
    min_r2: float = 0.95,
    **search_options: Any,
) -> list[Finding]:
    """Equation findings for ``dataset`` (and ``model``): static laws, plus dynamics and force laws when they apply.

    Args:
        model: the trained emulator (may be None for a data-only static search).
        dataset: the data.
        time_limit: seconds per target for the static search.
        noise_aware: fit the static law to the model's predictions instead of the data.
        static, dynamics, messages, vectors: switch each part off (``vectors``: laws of vector targets
            through the scalar invariants of the input vectors, :mod:`.vector`, tried before the static
            search; the static search then runs only on the targets left).
        dynamics_options: passed to ``dynamics.discover_dynamics`` (trajectory datasets).
        messages_options: passed to ``messages.force_law_from_messages`` (graph models).
        seed, progress: as usual.
        budget_seconds: seconds for the whole probe: the dynamics and message parts get a
            share where they accept a ``time_limit``, the static targets share what is left
            (each still at most ``time_limit``).
        min_r2: a law explaining less of its target's variance is reported as an ``uncertainty``
            finding with the approximation, not as a law (:func:`withhold_poor_laws`).
        search_options: passed to :func:`static_law_findings`.

    No numeric warning of the search reaches the caller (candidate formulas overflow and
    divide by zero by design; they are judged by whether their values are finite).

    Example:
        >>> from physlens.systems import get_system
        >>> ds = get_system("toy_distractor").sample(300)
        >>> [f.value["expression"] for f in run(None, ds, time_limit=10)]
        ['x1*x2**2']
    """
    t_end = None if budget_seconds is None else B.now() + float(budget_seconds)

    def left() -> float:
        return float("inf") if t_end is None else max(0.0, t_end - B.now())

    findings: list[Finding] = []
    skipped: list[str] = []
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        run_messages = messages and model is not None and callable(getattr(model, "messages", None))
        dyn = _optional("dynamics")
        run_dynamics = bool(dynamics and dyn is not None and hasattr(dyn, "discover_dynamics")
                            and (dyn.applies(dataset) is None if hasattr(dyn, "applies") else dataset.trajectories is not None))
        vec = _optional("vector")
        run_vector = bool(static and vectors and vec is not None and vec.applies(dataset) is None)
        parts = int(static) + int(run_messages) + int(run_dynamics) + int(run_vector)
        if run_dynamics:
            opts = dict(dynamics_options or {})
            if t_end is not None and _accepts(dyn.discover_dynamics, "time_limit"):
                opts.setdefault("time_limit", left() / parts)
            findings.extend(_part(skipped, "dynamics", dyn.discover_dynamics, dataset, **opts))
            parts -= 1
        if run_messages:
            mod = _optional("messages")
            if mod is not None and hasattr(mod, "force_law_from_messages"):
                opts = dict(messages_options or {})
                if t_end is not None:
                    opts["time_limit"] = max(0.5, min(float(opts.get("time_limit", 30.0)), 0.8 * left() / parts))
                findings.extend(_part(skipped, "messages", mod.force_law_from_messages, model, dataset, **opts))
            parts -= 1
        covered: set[str] = set()
        if run_vector:
            share = None if t_end is None else left() / parts
            got = _part(skipped, "vector laws", vec.vector_law_findings, dataset, model, time_limit=time_limit, seed=seed,
                        budget_seconds=share)
            findings.extend(got)
            covered = {f.target for f in got}
            parts -= 1
        remaining = [t for t in dataset.target_names if t not in covered]
        if static and remaining and dataset.d_in <= MAX_INPUTS:
            data = dataset if len(remaining) == dataset.d_out else dataset.select(None, remaining)
            findings.extend(static_law_findings(data, model=model, noise_aware=noise_aware, time_limit=time_limit,
                                                seed=seed, progress=progress,
                                                budget_seconds=None if t_end is None else left(), **search_options))
    return withhold_poor_laws(best_per_target(findings), skipped, min_r2=min_r2)


def _part(skipped: list[str], name: str, fn, *args, **kwargs) -> list[Finding]:
    """Run one part of the probe; a part that cannot read these data is noted, and the others go on."""
    from physlens.errors import PhyslensError

    try:
        return list(fn(*args, **kwargs))
    except PhyslensError as exc:
        skipped.append(f"{name}: {' '.join(str(exc).split())}")
        return []


def withhold_poor_laws(findings: list[Finding], skipped: list[str] | None = None, min_r2: float = 0.95) -> list[Finding]:
    """Laws that explain less than ``min_r2`` of the target's variance are not claimed as laws.

    Each becomes an ``uncertainty`` finding ("no closed form found for T ...; best approximation
    ..., R² ...") that keeps the approximation in its value, so the user sees what was tried
    without a wrong law being stated. Parts of the probe that could not run (``skipped``) are
    listed in one more ``uncertainty`` finding.

    Example:
        >>> poor = Finding("equation", "P = cos(t)", {"expression": "cos(t)", "r2": 0.6}, target="P", probe="equations")
        >>> [(f.kind, f.subject) for f in withhold_poor_laws([poor])]
        [('uncertainty', 'P')]
    """
    out = []
    for f in findings:
        r2 = _quality(f)[0] if f.kind == "equation" else None
        if r2 is None or not np.isfinite(r2) or r2 >= min_r2:  # a law that reports no R² is kept as it is
            out.append(f)
            continue
        value = f.value if isinstance(f.value, dict) else {}
        out.append(Finding(
            kind="uncertainty",
            statement=(f"No closed-form law found for {f.target} within the budget: the best approximation, "
                       f"{value.get('expression', '?')}, explains R² = {r2:.3f} of it (below {min_r2}); "
                       "try a longer --budget, --units, or fewer inputs"),
            value={"name": "no closed form", "target": f.target, "approximation": value, "r2": r2, "min_r2": min_r2},
            evidence=dict(f.evidence),
            confidence=1.0 - r2 if r2 > 0 else 1.0,
            probe=f.probe or "equations",
            target=f.target,
            subject=f.target,
        ))
    if skipped:
        out.append(Finding(kind="uncertainty", statement="Parts of the equation probe could not read these data: "
                           + "; ".join(skipped), value={"name": "parts skipped", "parts": list(skipped)},
                           probe="equations"))
    return out


def _quality(f: Finding) -> tuple[float, float]:
    value = f.value if isinstance(f.value, dict) else {}
    r2 = value.get("r2", f.evidence.get("r2"))
    r2 = float(r2) if r2 is not None and np.isfinite(r2) else -np.inf
    return r2, -float(value.get("complexity", 0) or 0)


def best_per_target(findings: list[Finding]) -> list[Finding]:
    """One law per target: where several parts (vector law, ODE, static search) give one, the best stays.

    Best is the higher R² on the data, and the simpler law when the R² agree to 1e-6; the
    others are kept in the winner's ``evidence["alternatives"]`` (statement, method, R²), so
    nothing found is lost from the record. Findings of different targets are left alone.

    Example:
        >>> a = Finding("equation", "y = x", {"r2": 1.0, "complexity": 1}, target="y")
        >>> b = Finding("equation", "y = x + 0*x**2", {"r2": 0.9, "complexity": 5}, target="y")
        >>> [f.statement for f in best_per_target([b, a])], len(best_per_target([b, a])[0].evidence["alternatives"])
        (['y = x'], 1)
    """
    groups: dict[str | None, list[Finding]] = {}
    order: list[str | None] = []
    for f in findings:
        key = f.target if f.kind == "equation" and f.target is not None else id(f)
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(f)
    out = []
    for key in order:
        group = groups[key]
        if len(group) == 1:
            out.append(group[0])
            continue
        best = group[0]
        for f in group[1:]:
            (r_f, c_f), (r_b, c_b) = _quality(f), _quality(best)
            if r_f > r_b + 1e-6 or (abs(r_f - r_b) <= 1e-6 and c_f > c_b):
                best = f
        best.evidence = {**best.evidence, "alternatives": [
            {"statement": f.statement, "method": (f.value or {}).get("method") or f.evidence.get("origin") or "search",
             "r2": _quality(f)[0]} for f in group if f is not best]}
        out.append(best)
    return out
