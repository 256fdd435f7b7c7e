"""Closed-form laws through scalar invariants: vector targets (the Kepler force law) and invariant scalars.

A vector target such as an acceleration is hard for a static symbolic search taken
one component at a time: ``dvx_dt = -x/(x**2 + y**2)**(3/2)`` is a deep tree in the
raw columns (the static engine returns a complexity-30 approximation after a minute).
A physicist uses the rotation symmetry instead. Every O(d)-equivariant vector function
of vectors ``e_1 ... e_K`` is a sum of the input vectors with coefficients that are
scalar functions of their dot products, and every invariant scalar is a function of
the dot products ("scalars are universal", Villar, Hogg, Storey-Fisher, Yao &
Blum-Smith 2021, NeurIPS, arXiv:2106.06610; the same holds for the Lorentz group with
Minkowski products)::

    t(e_1, ..., e_K) = sum_k g_k(e_i . e_j, scalars) e_k        s(e_1, ..., e_K) = f(e_i . e_j, scalars)

so the Kepler acceleration is ``g_pos(pos.pos, pos.vel, vel.vel) pos + g_vel(...) vel`` with
``g_pos = -pos_pos**(-3/2)`` and ``g_vel = 0``: two laws in three invariants that the
static engine finds at once; the pair mass of two four-momenta, a depth-9 tree in eight
columns, is ``p0_p0 + 2*p0_p1 + p1_p1``. The method (:func:`vector_law_findings`):

1. the particle layout (``dataset.meta["particles"]``, read by
   :class:`physlens.models.particles.ParticleLayout`) names the input vectors and the
   target vectors; the invariants are the pairwise products ``e_i . e_j`` with the
   layout's metric (Euclidean or Minkowski) plus the particles' and the global scalars;
2. **vector targets**: at every row the coefficients solve ``t = E g`` with ``E`` the
   ``dim x K`` matrix of the input vectors (least squares; each vector rescaled by its
   RMS first, so units do not matter). Rows where the vectors are nearly parallel
   (condition number above ``max_condition``) are dropped; with fewer vectors than
   dimensions a target outside their span is rejected by its residual (it is no
   equivariant law of these vectors). For one particle the vectors are its own
   (``pos``, ``vel``); for two particles each particle's target is read as a pair
   interaction in the other's relative vectors (``dpos = pos_j - pos_i``, ``dvel``) with
   both particles' scalars, so ``a_0 = g(|r_1 - r_0|^2, m_0, m_1) (r_1 - r_0)`` is found
   as ``g_dpos``; a law that is not translation invariant then fails the held-out check;
3. a coefficient whose contribution is below ``zero_tolerance`` of the target's scale is
   zero; one that is constant is a number (snapped to a simple closed form); one that
   nearest neighbours in the invariants cannot predict (rank R² below
   ``min_neighbour_r2``) is noise-like: it is taken as its median, or 0 when that is
   within three standard errors of zero (a zero or constant coefficient of noisy data
   looks so; for a field that is not equivariant the held-out check then fails, with
   no search spent on it); every other one is searched by
   :class:`~physlens.probes.equations.search.EquationSearch` in the invariants;
4. **scalar targets** (no ``target_vectors``): the invariants are the products of all
   the particles' vectors (``pos_pos`` for one particle, ``p0_p1`` across particles).
   First a cheap test that the target *is* invariant: a nearest-neighbour regression of
   the target's ranks on the invariants must predict it about as well as one on the raw
   inputs (``invariance_tolerance``); ``x*vy + 3*x`` on Kepler states fails it (rank R²
   0.81 on the invariants against 0.997 on the inputs), ``E = v.v/2 - 1/|r|`` passes. Then
   the invariants that matter are chosen by the same regression (forward selection to
   at most ``max_invariants`` when there are more, then backward elimination of those
   whose removal does not hurt) and the law is searched in them, and, when that law
   fails, in all of them (the regression drops invariants of small variance, as
   ``p0_p0 = m0**2`` in the pair mass);
5. the invariants are written back in the dataset's own columns (``pos_pos`` ->
   ``x**2 + y**2``), each target column is assembled (``sum_k g_k e_k[c]`` or ``f``) and
   simplified, and the law is validated on held-out rows: it is reported only when
   every component reaches ``R² >= min_r2`` there, or, on noisy data, when what it leaves
   is noise (nearest neighbours in the inputs cannot predict the held-out residuals).
   Otherwise nothing is reported, and the static search that runs elsewhere stands.

Scope and negative results: vector targets of one particle with no more vectors than
dimensions (``kepler`` in 2-D and 3-D), and of two particles through their relative
vectors; three or more particles (``nbody_*``, 4 to 8 particles) are declined by
:func:`applies`: a sum of pair forces ``a_i = sum_j g_ij (r_j - r_i)`` has ``N - 1``
unknown coefficients per particle and only ``dim`` equations per row, so it is not
determined row by row (graph networks' messages read it,
:mod:`physlens.probes.equations.messages`). Scalar targets of any number of particles
up to ``MAX_CANDIDATE_INVARIANTS`` invariants.

Written here because no symbolic-regression package takes equivariance as an input;
the per-row solve is NumPy, the neighbour regressions scikit-learn, the searches the
project's own engine.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import sympy as sp

from physlens.data.dataset import Dataset
from physlens.errors import ConfigError
from physlens.expressions import expression_to_latex, expression_to_text
from physlens.findings import Finding
from physlens.probes import too_few_rows
from physlens.probes.equations import simplify as S
from physlens.probes.equations.search import MIN_ROWS, EquationSearch
from physlens.probes.equations import budget as B

__all__ = ["applies", "vector_law_findings", "invariant_columns", "row_coefficients", "METHOD",
           "MAX_CANDIDATE_INVARIANTS"]

METHOD = "vector invariants"
MAX_CANDIDATE_INVARIANTS = 48  # scalar targets: more products than this are not ranked (nbody with 4 particles has 40)


def _layout(dataset: Dataset):
    from physlens.models.particles import ParticleLayout

    return ParticleLayout.from_meta(dataset.meta, dataset.d_in, dataset.d_out, model="vector laws")


def _n_scalar_invariants(lay) -> int:
    k = lay.n * lay.n_vectors
    return k * (k + 1) // 2 + lay.n * lay.n_scalars + lay.n_global


def applies(dataset: Dataset) -> str | None:
    """None when laws through invariants can be searched on ``dataset``; otherwise a one-line reason.

    The data must describe vectors (``meta["particles"]``). Vector targets
    (``target_vectors``) need one particle with no more input vectors than dimensions, or
    two particles with no more vectors per particle than dimensions (read as a pair
    interaction); scalar targets need at most :data:`MAX_CANDIDATE_INVARIANTS` invariants.

    Example:
        >>> from physlens.systems import get_system
        >>> applies(get_system("kepler", dim=2).sample(200, seed=0)) is None
        True
        >>> applies(get_system("kepler", target="energy").sample(200, seed=0)) is None
        True
        >>> applies(get_system("nbody_springs").sample(200, seed=0))[:60]
        '4 particles: a sum of pair forces is not determined row by r'
    """
    if not isinstance(dataset.meta.get("particles"), dict):
        return "no particle layout (meta['particles']): the columns are not known to be vectors"
    try:
        lay = _layout(dataset)
    except ConfigError as err:
        return str(err)
    if (short := too_few_rows(dataset, 2 * MIN_ROWS, "fit laws through invariants and hold rows out")) is not None:
        return short
    if not lay.target_vectors:
        m = _n_scalar_invariants(lay)
        if m > MAX_CANDIDATE_INVARIANTS:
            return (f"{m} invariants of {lay.n} particles: scalar laws through invariants are searched "
                    f"with at most {MAX_CANDIDATE_INVARIANTS}")
        return None
    if lay.n > 2:
        return (f"{lay.n} particles: a sum of pair forces is not determined row by row (vector laws through "
                "invariants are searched for one or two particles; graph networks' messages read pair forces)")
    if lay.n == 2 and lay.out_mode != "particle_vectors":
        return "2 particles with global target vectors: only per-particle target vectors are read as pair laws"
    if lay.n_vectors > lay.dim:
        return (f"{lay.n_vectors} vectors in {lay.dim} dimensions: the coefficients of the vectors "
                "are not determined row by row")
    return None


def _metric(lay) -> np.ndarray:
    eta = np.ones(lay.dim)
    if lay.metric == "minkowski":
        eta[1:] = -1.0
    return eta


def _products(labels: list[str], values: list[np.ndarray], exprs: list[list[sp.Expr]], eta: np.ndarray,
              taken: set[str]) -> tuple[list[str], list[np.ndarray], dict[str, sp.Expr]]:
    """The products ``e_i . e_j`` (i <= j) of vectors given by label, values (rows, dim) and component expressions."""
    names, cols, out = [], [], {}
    for i in range(len(labels)):
        for j in range(i, len(labels)):
            nm = f"{labels[i]}_{labels[j]}"
            while nm in taken or nm in out:
                nm += "_"
            names.append(nm)
            cols.append(np.sum(eta * values[i] * values[j], axis=1))
            out[nm] = sp.Add(*[int(eta[c]) * exprs[i][c] * exprs[j][c] for c in range(len(eta))])
    return names, cols, out


def _scalars(dataset: Dataset, idx) -> tuple[list[str], list[np.ndarray], dict[str, sp.Expr]]:
    names = [dataset.input_names[int(k)] for k in idx]
    return names, [dataset.X[:, int(k)] for k in idx], {nm: sp.Symbol(nm, real=True) for nm in names}


def invariant_columns(dataset: Dataset) -> tuple[list[str], np.ndarray, dict[str, sp.Expr]]:
    """The scalar invariants of a vector dataset: names, values and expressions in the columns.

    The invariants are the products ``e_i . e_j`` (i <= j) of all the particles' vectors with
    the layout's metric, named ``<vector>_<vector>`` (``pos_vel`` for one particle,
    ``p0_p1`` with the particle's index for several), then the particles' scalar columns
    and the global columns under their own names.

    Returns ``(names, values (n, m), {name: SymPy expression in the dataset's columns})``.

    Example:
        >>> from physlens.systems import get_system
        >>> names, values, exprs = invariant_columns(get_system("kepler", dim=2).sample(50, seed=0))
        >>> names, exprs["pos_pos"]
        (['pos_pos', 'pos_vel', 'vel_vel'], x**2 + y**2)
        >>> invariant_columns(get_system("lorentz_invariant").sample(50, seed=0))[0]
        ['p0_p0', 'p0_p1', 'p1_p1']
    """
    lay = _layout(dataset)
    col = [sp.Symbol(c, real=True) for c in dataset.input_names]
    labels, values, exprs = [], [], []
    for i in range(lay.n):
        for a, vec in enumerate(lay.vectors):
            idx = lay.vec_idx[i, a]
            labels.append(vec if lay.n == 1 else f"{vec}{i}")
            values.append(dataset.X[:, idx])
            exprs.append([col[int(c)] for c in idx])
    names, cols, out = _products(labels, values, exprs, _metric(lay), set(dataset.input_names))
    s_names, s_cols, s_out = _scalars(dataset, list(lay.sca_idx.ravel()) + list(lay.glob_idx))
    out.update(s_out)
    return names + s_names, np.column_stack(cols + s_cols), out


def _vector_problems(dataset: Dataset, lay) -> list[dict]:
    """One row-solve problem per target vector: its columns, the input vectors (own or relative), their invariants."""
    col = [sp.Symbol(c, real=True) for c in dataset.input_names]
    eta = _metric(lay)
    taken = set(dataset.input_names)
    problems = []
    for i in range(lay.out_idx.shape[0]):
        if lay.n == 1:
            labels = list(lay.vectors)
            values = [dataset.X[:, lay.vec_idx[0, a]] for a in range(lay.n_vectors)]
            exprs = [[col[int(c)] for c in lay.vec_idx[0, a]] for a in range(lay.n_vectors)]
            scal = list(lay.sca_idx[0]) + list(lay.glob_idx)
        else:  # two particles: the other's vectors relative to this one's (a pair interaction)
            j = 1 - i
            labels = [f"d{vec}" for vec in lay.vectors]
            values = [dataset.X[:, lay.vec_idx[j, a]] - dataset.X[:, lay.vec_idx[i, a]] for a in range(lay.n_vectors)]
            exprs = [[col[int(cj)] - col[int(ci)] for ci, cj in zip(lay.vec_idx[i, a], lay.vec_idx[j, a])]
                     for a in range(lay.n_vectors)]
            scal = list(lay.sca_idx[i]) + list(lay.sca_idx[j]) + list(lay.glob_idx)
        names, cols, inv_exprs = _products(labels, values, exprs, eta, taken)
        s_names, s_cols, s_exprs = _scalars(dataset, scal)
        inv_exprs.update(s_exprs)
        for t, tv in enumerate(lay.target_vectors):
            problems.append({
                "vector": tv if lay.n == 1 else f"{tv}{i}",
                "columns": lay.out_idx[i, t],
                "vectors": labels,
                "vector_exprs": exprs,
                "E": np.stack(values, axis=1),  # (rows, K, dim)
                "inv_names": names + s_names,
                "inv_values": np.column_stack(cols + s_cols),
                "inv_exprs": inv_exprs,
            })
    return problems


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
    invariance_tolerance: float = 0.05,
    max_invariants: int = 12,
) -> list[Finding]:
    """One ``equation`` finding per target column whose law through the invariants holds.

    Vector targets are read as ``t = sum_k g_k(invariants) e_k``, scalar targets as
    ``s = f(invariants)``; see the module docstring for the method. The value has the keys
    of :func:`physlens.probes.equations.law_finding` (``target``, ``expression`` in the
    dataset's column names, ``latex``, ``complexity``, ``rmse``, ``r2`` on held-out rows,
    ``pareto`` with this one law) plus ``method`` (``"vector invariants"``) and
    ``invariants`` (``{invariant name: its expression in the columns}``); a vector law
    also has ``coefficients`` (``{input vector: g_k in the invariants' names}``), a scalar
    law ``law_in_invariants`` (``f`` in the invariants' names).

    Args:
        dataset: data whose ``meta["particles"]`` names the vectors (see :func:`applies`).
        model: unused (the law is read from the data); accepted so that every part of the
            equation probe is called alike.
        time_limit: seconds per search (one coefficient or one scalar target).
        seed: row sampling and search seed.
        max_samples: rows used to fit (and at most as many held out to validate).
        budget_seconds: seconds for all searches together (each still at most ``time_limit``).
        min_r2: a law is reported when every component reaches this R² on held-out rows ...
        min_noisy_r2, max_residual_structure: ... or, on noisy data, when every component reaches
            ``min_noisy_r2`` and what the law leaves is noise: nearest neighbours in the inputs
            predict no component's held-out residuals (R² below ``max_residual_structure``).
        max_condition: rows whose rescaled vectors have a larger condition number are not used to fit.
        zero_tolerance: a coefficient contributing less than this fraction of the target's RMS is zero.
        min_neighbour_r2: a coefficient that nearest neighbours in the invariants predict worse
            than this (rank R²) is noise-like: taken as a constant (or 0) without a search.
        invariance_tolerance: a scalar target is searched in the invariants only when nearest
            neighbours predict its ranks from them (R²) at most this much worse than from the inputs.
        max_invariants: a scalar law is searched in at most this many invariants (chosen by relevance).

    Returns [] when :func:`applies` gives a reason, or when no law passes the checks.

    Example:
        >>> from physlens.systems import get_system
        >>> ds = get_system("kepler", dim=2, target="acceleration", points_per_trajectory=10).sample(400, seed=0)
        >>> [f.value["expression"] for f in vector_law_findings(ds, time_limit=5)]
        ['-x/(x**2 + y**2)**(3/2)', '-y/(x**2 + y**2)**(3/2)']
        >>> X = np.random.default_rng(0).uniform(-1, 1, (300, 2))  # a scalar of one 2-D vector
        >>> ds = Dataset(X, 2 * np.hypot(X[:, :1], X[:, 1:]), ["x", "y"], ["d"],
        ...              meta={"particles": {"n": 1, "dim": 2, "vectors": ["pos"]}})
        >>> f = vector_law_findings(ds, time_limit=1)[0]
        >>> f.value["law_in_invariants"], f.value["expression"]
        ('2*sqrt(pos_pos)', '2*sqrt(x**2 + y**2)')
    """
    if not float(time_limit) > 0:
        raise ConfigError(f"time_limit must be positive, got {time_limit!r}")
    if int(max_samples) < MIN_ROWS:
        raise ConfigError(f"max_samples must be at least {MIN_ROWS}, got {max_samples!r}")
    if budget_seconds is not None and not float(budget_seconds) >= 0:
        raise ConfigError(f"budget_seconds must be >= 0, got {budget_seconds!r}")
    if int(max_invariants) < 1:
        raise ConfigError(f"max_invariants must be at least 1, got {max_invariants!r}")
    if applies(dataset) is not None:
        return []
    opts = dict(time_limit=float(time_limit), seed=int(seed), max_samples=int(max_samples),
                budget_seconds=budget_seconds, min_r2=float(min_r2), min_noisy_r2=float(min_noisy_r2),
                max_residual_structure=float(max_residual_structure))
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if not _layout(dataset).target_vectors:
            return _scalar_laws(dataset, invariance_tolerance=float(invariance_tolerance),
                                max_invariants=int(max_invariants), **opts)
        return _vector_laws(dataset, max_condition=float(max_condition), zero_tolerance=float(zero_tolerance),
                            min_neighbour_r2=float(min_neighbour_r2), **opts)


def _split(n: int, seed: int, max_samples: int) -> tuple[np.random.Generator, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)
    n_val = max(MIN_ROWS, min(max_samples, n // 4))
    return rng, np.sort(perm[:n_val]), np.sort(perm[n_val:n_val + max_samples])


def _held_out(expr: sp.Expr, dataset: Dataset, val: np.ndarray, tcol: int) -> tuple[float, float, np.ndarray]:
    """RMSE, R² and residuals of a law in the columns on the held-out rows of target column ``tcol``."""
    columns = {c: dataset.X[val, k] for k, c in enumerate(dataset.input_names)}
    y = dataset.y[val, int(tcol)]
    pred = S.evaluate(expr, columns)
    rmse = float(np.sqrt(np.mean((pred - y) ** 2))) if np.all(np.isfinite(pred)) else float("inf")
    var = float(np.var(y))
    r2 = 1.0 - rmse**2 / var if var > 0 else (1.0 if rmse <= 1e-9 * max(1.0, float(np.abs(y).max())) else 0.0)
    return rmse, r2, pred - y


def _accepted(laws: list, features: np.ndarray, evidence: dict, min_r2: float, min_noisy_r2: float,
              max_residual_structure: float) -> bool:
    """Every component reaches ``min_r2`` on held-out rows, or ``min_noisy_r2`` with residuals that are noise.

    Noise: nearest neighbours in ``features`` (the held-out rows' inputs or invariants) cannot predict them.
    """
    worst = min(law[3] for law in laws)
    if worst >= min_r2:
        return True
    if not worst >= min_noisy_r2:
        return False
    # noisy data: the law is as good as the data allow when what it leaves is noise, i.e.
    # nearest neighbours in the inputs cannot predict the held-out residuals
    structure = max(_neighbour_r2(features, law[4], ranks=False, k=10) for law in laws)
    evidence["residual_structure_r2"] = structure
    return structure < max_residual_structure


def _search_limit(time_limit: float, t_end: float | None, left: int) -> float:
    if t_end is None:
        return time_limit
    # (a search may overrun its limit by its last polishing step: 20 % kept in reserve)
    return max(0.5, min(time_limit, 0.8 * (t_end - B.now()) / max(left, 1)))


def _vector_laws(dataset, time_limit, seed, max_samples, budget_seconds, min_r2, max_condition, zero_tolerance,
                 min_neighbour_r2, min_noisy_r2, max_residual_structure) -> list[Finding]:
    t_end = None if budget_seconds is None else B.now() + float(budget_seconds)
    lay = _layout(dataset)
    _, val, fit = _split(dataset.n, seed, max_samples)
    problems = _vector_problems(dataset, lay)

    # ---- per target vector: row-by-row coefficients, then what each coefficient needs
    for plan in problems:
        cols, E, inv_values = plan["columns"], plan["E"], plan["inv_values"]
        T = dataset.y[:, cols]
        g, cond, rel = row_coefficients(E[fit], T[fit])
        keep = np.isfinite(cond) & (cond <= max_condition)
        plan.update(coefficients={}, evidence={
            "fit_rows": int(keep.sum()), "rows_dropped_condition": int((~keep).sum()),
            "max_condition": float(max_condition)})
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
        for k, vec in enumerate(plan["vectors"]):
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
    todo = [(p, vec) for p in problems if "failed" not in p
            for vec, c in p["coefficients"].items() if c["status"] == "search"]
    for q, (plan, vec) in enumerate(todo):
        info = plan["coefficients"][vec]
        limit = _search_limit(time_limit, t_end, len(todo) - q)
        est = EquationSearch(time_limit=limit, variable_names=plan["inv_names"], target_name=f"g_{vec}", seed=seed,
                             units=None)
        est.fit(info.pop("rows"), info.pop("values"))
        info.update(status="searched", expression=est.expression_, origin=est.origin_,
                    search_seconds=float(est.fit_time_), time_limit=float(limit), fit_rmse=float(est.rmse_),
                    complexity=int(est.complexity_))

    # ---- the constants refitted on the target vectors themselves, then rounded
    for plan in problems:
        if "failed" not in plan:
            _polish(plan, plan["inv_values"][fit], plan["E"][fit], dataset.y[fit][:, plan["columns"]])

    # ---- assemble in the columns, validate on held-out rows
    findings: list[Finding] = []
    for plan in problems:
        if "failed" in plan:
            continue
        to_columns = {sp.Symbol(nm, real=True): plan["inv_exprs"][nm] for nm in plan["inv_names"]}
        coeffs = {vec: plan["coefficients"][vec]["expression"] for vec in plan["vectors"]}
        laws = []
        for c, tcol in enumerate(plan["columns"]):
            expr = sp.Add(*[coeffs[vec].xreplace(to_columns) * plan["vector_exprs"][k][c]
                            for k, vec in enumerate(plan["vectors"])])
            expr = S.tidy(expr)
            laws.append((int(tcol), expr, *_held_out(expr, dataset, val, tcol)))
        if _accepted(laws, dataset.X[val], plan["evidence"], min_r2, min_noisy_r2, max_residual_structure):
            findings.extend(_finding(dataset, plan, coeffs, law, len(val)) for law in laws)
    return findings


def _relevant_invariants(Z: np.ndarray, y: np.ndarray, max_keep: int, tol: float = 0.005) -> list[int]:
    """Columns of ``Z`` that nearest neighbours need to predict the ranks of ``y``.

    Forward selection (while there are more than ``max_keep``: add the column that raises
    the leave-one-out rank R² most, until none adds ``tol``), then backward elimination
    (drop a column whose removal lowers it by less than ``tol``).
    """
    m = Z.shape[1]
    chosen = list(range(m))
    if m > max_keep:
        chosen, best = [], -np.inf
        while len(chosen) < max_keep:
            scores = [(_neighbour_r2(Z[:, chosen + [c]], y), c) for c in range(m) if c not in chosen]
            r2, c = max(scores)
            if chosen and r2 < best + tol:
                break
            chosen.append(c)
            best = r2
    while len(chosen) > 1:
        current = _neighbour_r2(Z[:, chosen], y)
        r2, c = max((_neighbour_r2(Z[:, [d for d in chosen if d != c]], y), c) for c in chosen)
        if r2 < current - tol:
            break
        chosen.remove(c)
    return sorted(chosen)


def _scalar_laws(dataset, time_limit, seed, max_samples, budget_seconds, min_r2, min_noisy_r2,
                 max_residual_structure, invariance_tolerance, max_invariants) -> list[Finding]:
    t_end = None if budget_seconds is None else B.now() + float(budget_seconds)
    rng, val, fit = _split(dataset.n, seed, max_samples)
    inv_names, inv_values, inv_exprs = invariant_columns(dataset)
    to_columns = {sp.Symbol(nm, real=True): inv_exprs[nm] for nm in inv_names}
    probe_rows = np.sort(rng.choice(fit, size=min(len(fit), 600), replace=False))  # the neighbour regressions
    Z, Xr = inv_values[probe_rows], dataset.X[probe_rows]
    # ---- which targets are invariant, and in which invariants
    plans = []
    for t, tname in enumerate(dataset.target_names):
        y = dataset.y[:, t]
        if np.ptp(y[fit]) == 0:
            continue
        yr = y[probe_rows]
        chosen = _relevant_invariants(Z, yr, max_invariants)
        ev = {"neighbour_r2_inputs": _neighbour_r2(Xr, yr),
              "neighbour_r2_invariants": _neighbour_r2(Z[:, chosen], yr),
              "invariance_tolerance": float(invariance_tolerance),
              "relevant_invariants": [inv_names[c] for c in chosen]}
        if ev["neighbour_r2_invariants"] < ev["neighbour_r2_inputs"] - invariance_tolerance:
            continue  # not a function of the invariants: the static search stands
        sets = [chosen]
        if len(chosen) < len(inv_names) <= max_invariants:
            sets.append(list(range(len(inv_names))))
        plans.append({"column": t, "target": tname, "sets": sets, "evidence": ev})
    # ---- the searches, sharing the budget: the relevant invariants first, then all of them
    findings = []
    for q, plan in enumerate(plans):
        t, ev = plan["column"], plan["evidence"]
        ev["searches"] = []
        best = None
        for s, cols in enumerate(plan["sets"]):
            if s > 0 and t_end is not None and B.now() > t_end - 0.5:
                break  # the budget is spent: no wider search
            share = 0.4 if s == 0 and len(plan["sets"]) > 1 else 1.0  # most of the time kept for the wider search
            limit = _search_limit(time_limit, t_end, len(plans) - q) * share
            names = [inv_names[c] for c in cols]
            est = EquationSearch(time_limit=max(0.5, limit), variable_names=names, target_name=plan["target"],
                                 seed=seed, units=None)
            est.fit(inv_values[fit][:, cols], dataset.y[fit, t])
            expr = S.tidy(est.expression_.xreplace(to_columns))
            law = (t, expr, *_held_out(expr, dataset, val, t))
            record = {"invariants": names, "law": expression_to_text(est.expression_), "r2": float(law[3]),
                      "search_seconds": float(est.fit_time_), "time_limit": float(limit), "origin": est.origin_}
            ev["searches"].append(record)
            # residuals judged in all the invariants (a dropped invariant leaves structure there; in
            # many raw inputs neighbours are too far apart to see it)
            ok = _accepted([law], inv_values[val], record, min_r2, min_noisy_r2, max_residual_structure)
            if ok and (best is None or law[3] > best[2][3]):
                best = (est.expression_, names, law)
            if ok and law[3] >= min_r2:
                break  # exact: no wider search needed
        if best is not None:
            findings.append(_scalar_finding(dataset, best[0], best[1], inv_exprs, best[2], ev, len(val)))
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


def _polish(plan: dict, inv: np.ndarray, E: np.ndarray, T: np.ndarray) -> None:
    """Refit the coefficients' constants jointly on the target vectors (all components) and round them.

    The searches fit each coefficient to row-by-row solutions, whose noise is uneven (a
    coefficient like r**-3 is large at the pericentre); the law is judged on the targets, so its
    constants are fitted there: the law ``sum_k g_k e_k`` is one scalar formula on the rows
    stacked component by component. Kept when it fits the targets at least as well (3 sigma).
    """
    dim, vectors = E.shape[2], plan["vectors"]
    esym = [sp.Symbol(f"_e{k}", real=True) for k in range(len(vectors))]
    cols = {nm: np.tile(inv[:, m], dim) for m, nm in enumerate(plan["inv_names"])}
    cols.update({e.name: E[:, k, :].T.ravel() for k, e in enumerate(esym)})
    y = T.T.ravel()
    law = sp.Add(*[plan["coefficients"][v]["expression"] * e for v, e in zip(vectors, esym)])
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
    for v, e in zip(vectors, esym):
        new = sp.diff(trial, e)
        if new != plan["coefficients"][v]["expression"]:
            plan["coefficients"][v]["expression"] = new
            plan["coefficients"][v]["polished"] = True


def _finding(dataset, plan, coeffs, law, n_val) -> Finding:
    tcol, expr, rmse, r2, _ = law
    inv_names, inv_exprs, vectors = plan["inv_names"], plan["inv_exprs"], plan["vectors"]
    target = dataset.target_names[tcol]
    text = expression_to_text(expr)
    cx = S.complexity(expr)
    y = dataset.y[:, tcol]
    exact = rmse <= 1e-6 * float(np.sqrt(np.mean(y**2)))
    vec_law = " + ".join(f"g_{v}*{v}" for v in vectors)
    parts = ", ".join(f"g_{v} = {expression_to_text(coeffs[v])}" for v in vectors)
    statement = (f"{target} = {text}  (vector law {plan['vector']} = {vec_law} with {parts} "
                 f"in the invariants {', '.join(inv_names)}; R² {r2:.6f} on held-out rows)")
    coefficient_evidence = {}
    for v in vectors:
        info = {k: val for k, val in plan["coefficients"][v].items() if k != "expression"}
        info["expression"] = expression_to_text(coeffs[v])
        coefficient_evidence[v] = info
    value = {
        **_law_value(target, text, expr, cx, rmse, r2),
        "coefficients": {v: expression_to_text(coeffs[v]) for v in vectors},
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


def _law_value(target: str, text: str, expr, cx: int, rmse: float, r2: float) -> dict:
    """The value keys every equation finding shares (as :func:`physlens.probes.equations.law_finding` writes them)."""
    latex = expression_to_latex(expr)
    return {"target": target, "expression": text, "latex": latex, "complexity": int(cx), "rmse": float(rmse),
            "r2": float(r2), "method": METHOD,
            "pareto": [{"expression": text, "latex": latex, "complexity": int(cx), "rmse": float(rmse),
                        "origin": METHOD}]}


def _scalar_finding(dataset, law_inv, names, inv_exprs, law, evidence, n_val) -> Finding:
    tcol, expr, rmse, r2, _ = law
    target = dataset.target_names[tcol]
    text, inv_text = expression_to_text(expr), expression_to_text(law_inv)
    cx = S.complexity(expr)
    y = dataset.y[:, tcol]
    exact = rmse <= 1e-6 * float(np.sqrt(np.mean(y**2)))
    statement = (f"{target} = {text}  ({target} = {inv_text} in the invariants {', '.join(names)}; "
                 f"R² {r2:.6f} on held-out rows)")
    value = {
        **_law_value(target, text, expr, cx, rmse, r2),
        "law_in_invariants": inv_text,
        "invariants": {nm: expression_to_text(inv_exprs[nm]) for nm in names},
    }
    return Finding(
        kind="equation",
        statement=statement,
        value=value,
        evidence={"fitted_to": "data", "method": METHOD, "validated_rows": int(n_val), **evidence},
        confidence=max(0.0, min(1.0, r2)) * (1.0 if exact else 0.9),
        probe="equations",
        target=target,
        subject=target,
    )
