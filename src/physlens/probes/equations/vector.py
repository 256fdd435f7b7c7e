"""Closed-form laws for vector targets through scalar invariants (the Kepler force law in closed form).

A vector target such as an acceleration is hard for a static symbolic search taken
one component at a time: ``dvx_dt = -x/(x**2 + y**2)**(3/2)`` is a deep tree in the
raw columns (the static engine returns a complexity-30 approximation after a minute).
A physicist uses the rotation symmetry instead. Every O(d)-equivariant vector function
of vectors ``e_1 ... e_K`` is a sum of the input vectors with coefficients that are
scalar functions of their dot products ("scalars are universal", Villar, Hogg,
Storey-Fisher, Yao & Blum-Smith 2021, NeurIPS, arXiv:2106.06610)::

    t(e_1, ..., e_K) = sum_k g_k(e_i . e_j, scalars) e_k

so the Kepler acceleration is ``g_pos(pos.pos, pos.vel, vel.vel) pos + g_vel(...) vel`` with
``g_pos = -pos_pos**(-3/2)`` and ``g_vel = 0``: two laws in three invariants that the
static engine finds at once. The method (:func:`vector_law_findings`):

1. the particle layout (``dataset.meta["particles"]``, read by
   :class:`physlens.models.particles.ParticleLayout`) names the input vectors and the
   target vectors; the invariants are the pairwise products ``e_i . e_j`` with the
   layout's metric (Euclidean or Minkowski) plus the particle's and the global scalars;
2. at every row the coefficients solve ``t = E g`` with ``E`` the ``dim x K`` matrix of
   the input vectors (least squares; each vector rescaled by its RMS first, so units do
   not matter). Rows where the vectors are nearly parallel (condition number above
   ``max_condition``) are dropped; with fewer vectors than dimensions a target outside
   their span is rejected by its residual (it is no equivariant law of these vectors);
3. a coefficient whose contribution is below ``zero_tolerance`` of the target's scale is
   zero; one that is constant is a number (snapped to a simple closed form); one that
   nearest neighbours in the invariants cannot predict (rank R² below
   ``min_neighbour_r2``) is noise-like: it is taken as its median, or 0 when that is
   within three standard errors of zero (a zero or constant coefficient of noisy data
   looks so; for a field that is not equivariant the held-out check then fails, with
   no search spent on it); every other one is searched by
   :class:`~physlens.probes.equations.search.EquationSearch` in the invariants;
4. the invariants are written back in the dataset's own columns (``pos_pos`` ->
   ``x**2 + y**2``), each target column is assembled as ``sum_k g_k e_k[c]`` and
   simplified, and the law is validated on held-out rows: it is reported only when
   every component reaches ``R² >= min_r2`` there, or, on noisy data, when what it leaves
   is noise (nearest neighbours in the inputs cannot predict the held-out residuals).
   Otherwise nothing is reported, and the static search that runs elsewhere stands.

Scope: one particle (``meta["particles"]["n"] == 1``, e.g. ``kepler`` in 2-D and 3-D)
with no more vectors than dimensions (then the coefficients are determined row by row).
Several particles (``nbody_*``) are pair interactions, read from graph networks by
:mod:`physlens.probes.equations.messages`; here they are declined by :func:`applies`.

Written here because no symbolic-regression package takes equivariance as an input;
the per-row solve is NumPy, the searches are the project's own engine.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np
import sympy as sp

from physlens.data.dataset import Dataset
from physlens.errors import ConfigError
from physlens.expressions import expression_to_latex, expression_to_text
from physlens.findings import Finding
from physlens.probes.equations import simplify as S
from physlens.probes.equations.search import MIN_ROWS, EquationSearch

__all__ = ["applies", "vector_law_findings", "invariant_columns", "row_coefficients", "METHOD"]

METHOD = "vector invariants"


def _layout(dataset: Dataset):
    from physlens.models.particles import ParticleLayout

    return ParticleLayout.from_meta(dataset.meta, dataset.d_in, dataset.d_out, model="vector laws")


def applies(dataset: Dataset) -> str | None:
    """None when vector laws can be searched on ``dataset``; otherwise a one-line reason.

    The data must describe one particle's vectors (``meta["particles"]`` with ``n == 1``)
    and vector targets (``target_vectors``), with no more input vectors than dimensions.

    Example:
        >>> from physlens.systems import get_system
        >>> applies(get_system("kepler", dim=2).sample(200, seed=0)) is None
        True
        >>> applies(get_system("kepler", target="energy").sample(200, seed=0))
        'the targets are invariant scalars (meta particles has no target_vectors)'
    """
    if not isinstance(dataset.meta.get("particles"), dict):
        return "no particle layout (meta['particles']): the columns are not known to be vectors"
    try:
        lay = _layout(dataset)
    except ConfigError as err:
        return str(err)
    if not lay.target_vectors:
        return "the targets are invariant scalars (meta particles has no target_vectors)"
    if lay.n != 1:
        return (f"{lay.n} particles: vector laws through invariants are searched for one particle "
                "(pair forces of several particles are read from graph networks' messages)")
    if lay.n_vectors > lay.dim:
        return (f"{lay.n_vectors} vectors in {lay.dim} dimensions: the coefficients of the vectors "
                "are not determined row by row")
    if dataset.n < 2 * MIN_ROWS:
        return f"{dataset.n} rows: vector laws need at least {2 * MIN_ROWS} (fit and held-out rows)"
    return None


def _metric(lay) -> np.ndarray:
    eta = np.ones(lay.dim)
    if lay.metric == "minkowski":
        eta[1:] = -1.0
    return eta


def _invariant_names(lay, taken: set[str]) -> list[str]:
    names = []
    for i in range(lay.n_vectors):
        for j in range(i, lay.n_vectors):
            nm = f"{lay.vectors[i]}_{lay.vectors[j]}"
            while nm in taken or nm in names:
                nm += "_"
            names.append(nm)
    return names


def invariant_columns(dataset: Dataset) -> tuple[list[str], np.ndarray, dict[str, sp.Expr]]:
    """The scalar invariants of a one-particle vector dataset: names, values and expressions in the columns.

    The invariants are the products ``e_i . e_j`` (i <= j) of the particle's vectors with the
    layout's metric, named ``<vector>_<vector>`` (``pos_vel``), then the particle's scalar
    columns and the global columns under their own names.

    Returns ``(names, values (n, m), {name: SymPy expression in the dataset's columns})``.

    Example:
        >>> from physlens.systems import get_system
        >>> names, values, exprs = invariant_columns(get_system("kepler", dim=2).sample(50, seed=0))
        >>> names, exprs["pos_pos"]
        (['pos_pos', 'pos_vel', 'vel_vel'], x**2 + y**2)
    """
    lay = _layout(dataset)
    eta = _metric(lay)
    col = [sp.Symbol(c, real=True) for c in dataset.input_names]
    vec_names = _invariant_names(lay, set(dataset.input_names))
    names, values, exprs = [], [], {}
    q = 0
    for i in range(lay.n_vectors):
        for j in range(i, lay.n_vectors):
            a, b = lay.vec_idx[0, i], lay.vec_idx[0, j]
            nm = vec_names[q]
            q += 1
            names.append(nm)
            values.append(np.sum(eta * dataset.X[:, a] * dataset.X[:, b], axis=1))
            exprs[nm] = sp.Add(*[int(eta[c]) * col[a[c]] * col[b[c]] for c in range(lay.dim)])
    for k in list(lay.sca_idx[0]) + list(lay.glob_idx):
        nm = dataset.input_names[int(k)]
        names.append(nm)
        values.append(dataset.X[:, int(k)])
        exprs[nm] = col[int(k)]
    return names, np.column_stack(values), exprs


def row_coefficients(E: np.ndarray, T: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-row least-squares coefficients ``g`` of ``T[i] = sum_k g[i, k] E[i, k]``.

    Args:
        E: input vectors, shape (rows, K, dim) with K <= dim.
        T: target vectors, shape (rows, dim).

    Each vector is divided by its RMS over the rows before the solve, so the returned
    condition number (largest over smallest singular value of the rescaled ``dim x K``
    matrix) does not depend on units. Returns ``(g (rows, K), condition (rows,),
    relative residual (rows,))``; rows whose vectors are linearly dependent have an
    infinite condition number.

    Example:
        >>> E = np.array([[[1.0, 0.0], [0.0, 2.0]], [[1.0, 1.0], [1.0, 1.0]]])
        >>> g, cond, res = row_coefficients(E, np.array([[3.0, 4.0], [1.0, 1.0]]))
        >>> np.round(g[0], 12).tolist(), bool(np.isinf(cond[1]))
        ([3.0, 2.0], True)
    """
    scale = np.sqrt(np.mean(np.sum(E * E, axis=2), axis=0))  # (K,)
    scale = np.where(scale > 0, scale, 1.0)
    A = np.transpose(E / scale[None, :, None], (0, 2, 1))  # (rows, dim, K)
    U, sv, Vt = np.linalg.svd(A, full_matrices=False)
    tiny = sv[:, -1] <= 1e-12 * np.maximum(sv[:, 0], 1e-300)
    cond = np.where(tiny, np.inf, sv[:, 0] / np.where(tiny, 1.0, sv[:, -1]))
    inv = np.where(sv > 1e-12 * np.maximum(sv[:, :1], 1e-300), 1.0 / np.where(sv > 0, sv, 1.0), 0.0)
    proj = np.einsum("rdk,rd->rk", U, T) * inv
    g = np.einsum("rkj,rk->rj", Vt, proj) / scale[None, :]
    resid = T - np.einsum("rkd,rk->rd", E, g)
    norm = np.sqrt(np.sum(T * T, axis=1))
    rel = np.sqrt(np.sum(resid * resid, axis=1)) / np.where(norm > 0, norm, 1.0)
    return g, cond, rel


def _neighbour_r2(Z: np.ndarray, g: np.ndarray, k: int = 5, ranks: bool = True) -> float:
    """Leave-one-out R² of a k-nearest-neighbour regression of g (or its ranks) on the standardised columns Z."""
    from sklearn.neighbors import NearestNeighbors

    sd = np.std(Z, axis=0)
    Zs = (Z - Z.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    k = min(k, len(g) - 1)
    _, nb = NearestNeighbors(n_neighbors=k + 1).fit(Zs).kneighbors(Zs)
    # ranks: a coefficient like r**-3 is heavy-tailed and a few pericentre rows would dominate the variance
    rank = np.argsort(np.argsort(g)).astype(float) if ranks else np.asarray(g, dtype=float)
    pred = rank[nb[:, 1:]].mean(axis=1)
    var = np.var(rank)
    return float(1.0 - np.mean((pred - rank) ** 2) / var) if var > 0 else 1.0


def _snap(value: float, rel: float) -> sp.Expr:
    for c in S.nice_constants(value, window=max(rel, 1e-12)):
        return c
    return sp.Float(value, 12)


def _noisy_constant(g: np.ndarray, rel: float) -> sp.Expr:
    """A noisy coefficient's constant: 0 unless its median stands 3 standard errors clear of zero, then snapped."""
    med = float(np.median(g))
    q1, q3 = np.percentile(g, [25, 75])
    se = 1.25 * 0.7413 * float(q3 - q1) / np.sqrt(len(g))  # robust standard error of the median
    if abs(med) <= 3 * se:
        return sp.Integer(0)
    return _snap(med, max(rel, 3 * se / abs(med)))


def vector_law_findings(
    dataset: Dataset,
    model: Any = None,
    time_limit: float = 20.0,
    seed: int = 0,
    max_samples: int = 2000,
    budget_seconds: float | None = None,
    min_r2: float = 0.999,
    max_condition: float = 1e3,
    zero_tolerance: float = 1e-3,
    min_neighbour_r2: float = 0.3,
    min_noisy_r2: float = 0.9,
    max_residual_structure: float = 0.1,
) -> list[Finding]:
    """One ``equation`` finding per target column of every vector law ``t = sum_k g_k(invariants) e_k`` that holds.

    See the module docstring for the method. The value has the keys of
    :func:`physlens.probes.equations.law_finding` (``target``, ``expression`` in the
    dataset's column names, ``latex``, ``complexity``, ``rmse``, ``r2`` on held-out rows,
    ``pareto`` with this one law) plus ``method`` (``"vector invariants"``),
    ``coefficients`` (``{input vector: g_k in the invariants' names}``) and ``invariants``
    (``{invariant name: its expression in the columns}``).

    Args:
        dataset: data whose ``meta["particles"]`` names vectors and target vectors (see :func:`applies`).
        model: unused (the law is read from the data); accepted so that every part of the
            equation probe is called alike.
        time_limit: seconds per coefficient search.
        seed: row sampling and search seed.
        max_samples: rows used to fit (and at most as many held out to validate).
        budget_seconds: seconds for all coefficient searches together (each still at most ``time_limit``).
        min_r2: a law is reported when every component reaches this R² on held-out rows ...
        min_noisy_r2, max_residual_structure: ... or, on noisy data, when every component reaches
            ``min_noisy_r2`` and what the law leaves is noise: nearest neighbours in the inputs
            predict no component's held-out residuals (R² below ``max_residual_structure``).
        max_condition: rows whose rescaled vectors have a larger condition number are not used to fit.
        zero_tolerance: a coefficient contributing less than this fraction of the target's RMS is zero.
        min_neighbour_r2: a coefficient that nearest neighbours in the invariants predict worse
            than this (rank R²) is noise-like: taken as a constant (or 0) without a search.

    Returns [] when :func:`applies` gives a reason, or when no law passes the checks.

    Example:
        >>> from physlens.systems import get_system
        >>> ds = get_system("kepler", dim=2, target="acceleration", points_per_trajectory=10).sample(400, seed=0)
        >>> [f.value["expression"] for f in vector_law_findings(ds, time_limit=5)]
        ['-x/(x**2 + y**2)**(3/2)', '-y/(x**2 + y**2)**(3/2)']
    """
    if not float(time_limit) > 0:
        raise ConfigError(f"time_limit must be positive, got {time_limit!r}")
    if int(max_samples) < MIN_ROWS:
        raise ConfigError(f"max_samples must be at least {MIN_ROWS}, got {max_samples!r}")
    if budget_seconds is not None and not float(budget_seconds) >= 0:
        raise ConfigError(f"budget_seconds must be >= 0, got {budget_seconds!r}")
    if applies(dataset) is not None:
        return []
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return _vector_laws(dataset, float(time_limit), int(seed), int(max_samples), budget_seconds, float(min_r2),
                            float(max_condition), float(zero_tolerance), float(min_neighbour_r2), float(min_noisy_r2),
                            float(max_residual_structure))


def _vector_laws(dataset, time_limit, seed, max_samples, budget_seconds, min_r2, max_condition, zero_tolerance,
                 min_neighbour_r2, min_noisy_r2, max_residual_structure) -> list[Finding]:
    t_end = None if budget_seconds is None else time.monotonic() + float(budget_seconds)
    lay = _layout(dataset)
    rng = np.random.default_rng(seed)
    perm = rng.permutation(dataset.n)
    n_val = max(MIN_ROWS, min(max_samples, dataset.n // 4))
    val, fit = np.sort(perm[:n_val]), np.sort(perm[n_val:n_val + max_samples])
    inv_names, inv_values, inv_exprs = invariant_columns(dataset)
    E = dataset.X[:, lay.vec_idx[0]]  # (n, K, dim)
    col = [sp.Symbol(c, real=True) for c in dataset.input_names]
    isym = {nm: sp.Symbol(nm, real=True) for nm in inv_names}

    # ---- per target vector: row-by-row coefficients, then what each coefficient needs
    plans = []
    for j, tv in enumerate(lay.target_vectors):
        cols = lay.out_idx[0, j]
        T = dataset.y[:, cols]
        g, cond, rel = row_coefficients(E[fit], T[fit])
        keep = np.isfinite(cond) & (cond <= max_condition)
        plan = {"vector": tv, "columns": cols, "coefficients": {}, "evidence": {
            "fit_rows": int(keep.sum()), "rows_dropped_condition": int((~keep).sum()),
            "max_condition": float(max_condition)}}
        plans.append(plan)
        if keep.sum() < 2 * MIN_ROWS:
            plan["failed"] = f"only {int(keep.sum())} rows with well-conditioned vectors"
            continue
        g, rel, Tk, Ek = g[keep], rel[keep], T[fit][keep], E[fit][keep]
        res = float(np.sqrt(np.mean(rel**2)))
        plan["evidence"]["span_residual"] = res
        if res > 0.05:
            plan["failed"] = f"the target is not in the span of the input vectors (relative residual {res:.2g})"
            continue
        t_rms = float(np.sqrt(np.mean(np.sum(Tk * Tk, axis=1))))
        for k, vec in enumerate(lay.vectors):
            e_norm = np.sqrt(np.sum(Ek[:, k] * Ek[:, k], axis=1))
            contrib = float(np.sqrt(np.mean((g[:, k] * e_norm) ** 2))) / max(t_rms, 1e-300)
            spread = float(np.sqrt(np.mean(((g[:, k] - np.median(g[:, k])) * e_norm) ** 2))) / max(t_rms, 1e-300)
            info = {"relative_contribution": contrib}
            if contrib < zero_tolerance:
                info.update(status="zero", expression=sp.Integer(0))
            elif spread < zero_tolerance:
                info.update(status="constant", expression=_snap(float(np.median(g[:, k])), zero_tolerance))
            else:
                info["neighbour_r2"] = _neighbour_r2(inv_values[fit][keep], g[:, k])
                if info["neighbour_r2"] < min_neighbour_r2:
                    # noise-like: on noisy data a zero or constant coefficient looks so; the held-out
                    # check below rejects the law when the coefficient carried a signal (no equivariant law)
                    info.update(status="noise-like: taken as constant",
                                expression=_noisy_constant(g[:, k], zero_tolerance))
                else:
                    info.update(status="search", values=g[:, k], rows=inv_values[fit][keep])
            plan["coefficients"][vec] = info

    # ---- the coefficient searches, sharing the budget
    todo = [(p, vec) for p in plans if "failed" not in p
            for vec, c in p["coefficients"].items() if c["status"] == "search"]
    for q, (plan, vec) in enumerate(todo):
        info = plan["coefficients"][vec]
        limit = time_limit
        if t_end is not None:
            limit = max(0.5, min(limit, 0.8 * (t_end - time.monotonic()) / (len(todo) - q)))
        est = EquationSearch(time_limit=limit, variable_names=inv_names, target_name=f"g_{vec}", seed=seed, units=None)
        est.fit(info.pop("rows"), info.pop("values"))
        info.update(status="searched", expression=est.expression_, origin=est.origin_,
                    search_seconds=float(est.fit_time_), time_limit=float(limit), fit_rmse=float(est.rmse_),
                    complexity=int(est.complexity_))

    # ---- the constants refitted on the target vectors themselves, then rounded
    for plan in plans:
        if "failed" not in plan:
            _polish(plan, lay, inv_names, inv_values[fit], E[fit], dataset.y[fit][:, plan["columns"]])

    # ---- assemble in the columns, validate on held-out rows
    columns = {c: dataset.X[val, k] for k, c in enumerate(dataset.input_names)}
    to_columns = {isym[nm]: inv_exprs[nm] for nm in inv_names}
    findings: list[Finding] = []
    for plan in plans:
        if "failed" in plan:
            continue
        coeffs = {vec: plan["coefficients"][vec]["expression"] for vec in lay.vectors}
        laws = []
        for c, tcol in enumerate(plan["columns"]):
            expr = sp.Add(*[coeffs[vec].xreplace(to_columns) * col[int(lay.vec_idx[0, k, c])]
                            for k, vec in enumerate(lay.vectors)])
            expr = S.tidy(expr)
            y = dataset.y[val, int(tcol)]
            pred = S.evaluate(expr, columns)
            rmse = float(np.sqrt(np.mean((pred - y) ** 2))) if np.all(np.isfinite(pred)) else float("inf")
            var = float(np.var(y))
            r2 = 1.0 - rmse**2 / var if var > 0 else (1.0 if rmse <= 1e-9 * max(1.0, float(np.abs(y).max())) else 0.0)
            laws.append((int(tcol), expr, rmse, r2, pred - y))
        worst = min(law[3] for law in laws)
        if worst < min_r2:
            # noisy data: the law is as good as the data allow when what it leaves is noise, i.e.
            # nearest neighbours in the inputs cannot predict the held-out residuals
            structure = max(_neighbour_r2(dataset.X[val], law[4], ranks=False, k=10) for law in laws)
            plan["evidence"]["residual_structure_r2"] = structure
            if not (worst >= min_noisy_r2 and structure < max_residual_structure):
                continue
        findings.extend(_finding(dataset, lay, plan, coeffs, inv_names, inv_exprs, law, len(val)) for law in laws)
    return findings


def _float_constants(e: sp.Expr) -> sp.Expr:
    """Every constant of ``e`` but 0, 1, -1 and rational exponents as a Float (to be refitted and rounded)."""
    if e.is_number:
        return e if e in (0, 1, -1) or not e.is_real else sp.Float(float(e))
    if e.is_Pow:
        return sp.Pow(_float_constants(e.base), e.exp if e.exp.is_Rational else _float_constants(e.exp))
    if e.args:
        return e.func(*[_float_constants(a) for a in e.args])
    return e


def _polish(plan: dict, lay, inv_names: list[str], inv: np.ndarray, E: np.ndarray, T: np.ndarray) -> None:
    """Refit the coefficients' constants jointly on the target vectors (all components) and round them.

    The searches fit each coefficient to row-by-row solutions, whose noise is uneven (a
    coefficient like r**-3 is large at the pericentre); the law is judged on the targets, so its
    constants are fitted there: the law ``sum_k g_k e_k`` is one scalar formula on the rows
    stacked component by component. Kept when it fits the targets at least as well (3 sigma).
    """
    dim = lay.dim
    esym = [sp.Symbol(f"_e{k}", real=True) for k in range(lay.n_vectors)]
    cols = {nm: np.tile(inv[:, m], dim) for m, nm in enumerate(inv_names)}
    cols.update({e.name: E[:, k, :].T.ravel() for k, e in enumerate(esym)})
    y = T.T.ravel()
    law = sp.Add(*[plan["coefficients"][v]["expression"] * e for v, e in zip(lay.vectors, esym)])
    trial = _float_constants(law)
    if not trial.atoms(sp.Float):
        return
    floor = 1e-12 * float(np.sqrt(np.mean(y**2)))
    tol = 9.0 / len(y)
    try:
        trial = S.round_constants(S.refit_constants(trial, cols, y), cols, y, tolerance=tol, floor=floor)
    except Exception:  # a fit that cannot run keeps the searched constants
        return
    before, after = S.rmse(law, cols, y), S.rmse(trial, cols, y)
    if not after**2 <= (1 + tol) * before**2 + floor**2:
        return
    plan["evidence"]["polished_rmse"] = float(after)
    for v, e in zip(lay.vectors, esym):
        new = sp.diff(trial, e)
        if new != plan["coefficients"][v]["expression"]:
            plan["coefficients"][v]["expression"] = new
            plan["coefficients"][v]["polished"] = True


def _finding(dataset, lay, plan, coeffs, inv_names, inv_exprs, law, n_val) -> Finding:
    tcol, expr, rmse, r2, _ = law
    target = dataset.target_names[tcol]
    text = expression_to_text(expr)
    cx = S.complexity(expr)
    y = dataset.y[:, tcol]
    exact = rmse <= 1e-6 * float(np.sqrt(np.mean(y**2)))
    vec_law = " + ".join(f"g_{v}*{v}" for v in lay.vectors)
    parts = ", ".join(f"g_{v} = {expression_to_text(coeffs[v])}" for v in lay.vectors)
    statement = (f"{target} = {text}  (vector law {plan['vector']} = {vec_law} with {parts} "
                 f"in the invariants {', '.join(inv_names)}; R² {r2:.6f} on held-out rows)")
    coefficient_evidence = {}
    for v in lay.vectors:
        info = {k: val for k, val in plan["coefficients"][v].items() if k != "expression"}
        info["expression"] = expression_to_text(coeffs[v])
        coefficient_evidence[v] = info
    value = {
        "target": target,
        "expression": text,
        "latex": expression_to_latex(expr),
        "complexity": int(cx),
        "rmse": float(rmse),
        "r2": float(r2),
        "pareto": [{"expression": text, "latex": expression_to_latex(expr), "complexity": int(cx),
                    "rmse": float(rmse), "origin": METHOD}],
        "method": METHOD,
        "coefficients": {v: expression_to_text(coeffs[v]) for v in lay.vectors},
        "invariants": {nm: expression_to_text(inv_exprs[nm]) for nm in inv_names},
    }
    return Finding(
        kind="equation",
        statement=statement,
        value=value,
        evidence={
            "fitted_to": "data",
            "method": METHOD,
            "target_vector": plan["vector"],
            "validated_rows": int(n_val),
            **plan["evidence"],
            "coefficients": coefficient_evidence,
        },
        confidence=max(0.0, min(1.0, r2)) * (1.0 if exact else 0.9),
        probe="equations",
        target=target,
        subject=target,
    )
