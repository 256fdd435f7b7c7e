"""Pairwise force laws read from the edge messages of a trained graph network.

Method: Cranmer, Sanchez-Gonzalez, Battaglia, Xu, Cranmer, Spergel & Ho (2020),
"Discovering Symbolic Models from Deep Learning with Inductive Biases"
(NeurIPS): a graph network trained with a sparsity penalty on its messages
uses about as many message components as the physics needs, and for a
pairwise force those components are linear combinations of the force vector;
symbolic regression on them gives the force law.

Steps, on the messages of :meth:`physlens.models.graph.GraphNetwork.messages`:

1. **Significant components.** Principal components of the message vectors;
   the number of significant ones is reported (those above 1 % of the message
   variance), and the top ``dim`` ones (a force is a ``dim``-vector) are used.
   The raw L1-sparse components are reported too (largest standard deviation first).
2. **Undo the unknown linear map** (central-force hypothesis). If messages are
   m = A F + b and the force is central, F = g * d with d = r_i - r_j, then some
   W, c make W m - c parallel to d on every edge: the cross products
   (W m - c) x d vanish, a homogeneous linear system in (W, c) solved by the
   smallest right singular vector (SVD). How much of the recovered vector is
   perpendicular to d is reported as ``centrality``.
3. **Units and sign.** The direction-only fit leaves one scale (and sign),
   fixed against the dataset's targets: the receiver's target is regressed on
   the sum over senders of the recovered vectors, optionally divided by one of
   the receiver's scalars (the node model may divide by the mass); the best
   R^2 wins. The result is the pairwise contribution to the receiver's target
   (for acceleration targets with a mass scalar ``m``, times m_i: the force).
4. **Symbolic law.** The radial coefficient g = F . d / r^2 is fitted by sparse
   regression (best subset of 1 to 3 terms, exhaustively, from Gram matrices,
   with the held-out parsimony rule of :mod:`physlens.probes.equations.dynamics`)
   over a library
   r^k (k = -3..1) times products of the receiver's and sender's scalars
   (1, m_i, m_j, m_i m_j, q_i q_j, ...), relative errors of the force |F| = |g| r (rows weighted by
   r / (|F| + median |F|)), with softened distances sqrt(r^2 + eps^2) as
   candidates too (eps a fraction of the median separation, one extra term; the chosen eps is
   refined per number of terms by a bounded 1-D minimisation). A fixed library is used instead of the
   general engine :class:`~physlens.probes.equations.search.EquationSearch`
   because message data are noisy and the law must be a product of a power of
   r and the particles' scalars for the sign/scale calibration above to mean
   anything; ``engine="search"`` runs the general engine on g instead.
5. **Evidence** (Cranmer et al.'s check): R^2 of a linear regression of the
   significant message components on the components of the fitted law.

The finding's variables: ``dx, dy(, dz)`` = receiver minus sender position
(d = r_i - r_j), ``r`` = |d|, and the scalars as ``m_i, m_j, q_i, q_j``. The
probe never reads the dataset's ground truth.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import sympy as sp

from physlens.data.dataset import Dataset
from physlens.errors import ConfigError, DataError
from physlens.expressions import expression_to_text
from physlens.findings import Finding
from physlens.probes.equations.dynamics import _Candidate, round_within_error

PROBE = "equations.messages"
AXES = ("x", "y", "z")


def significant_components(messages: np.ndarray, threshold: float = 0.01) -> dict[str, Any]:
    """Principal components of the messages and how many carry more than ``threshold`` of the variance.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> f = rng.normal(size=(500, 2))
        >>> M = np.hstack([f @ rng.normal(size=(2, 2)), 1e-3 * rng.normal(size=(500, 3))])
        >>> significant_components(M)["n_significant"]
        2
    """
    mean = messages.mean(axis=0)
    U, S, Vt = np.linalg.svd(messages - mean, full_matrices=False)
    var = S**2 / max(len(messages) - 1, 1)
    frac = var / var.sum() if var.sum() > 0 else np.zeros_like(var)
    return {
        "scores": U * S,
        "axes": Vt,
        "mean": mean,
        "explained": frac,
        "n_significant": int(np.sum(frac > threshold)),
    }


def central_direction_map(Z: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, float]:
    """Linear map (W, c) making ``W z - c`` parallel to ``d`` on every row; returns (vectors, centrality).

    ``Z`` (R, dim) are message scores, ``d`` (R, dim) the separation vectors.
    The homogeneous least-squares problem (W z - c) x d = 0 is solved by SVD.
    ``centrality`` is the fraction of the recovered vectors' mean square that is along ``d``.

    Example:
        >>> rng = np.random.default_rng(1)
        >>> d = rng.normal(size=(400, 2)); g = 1 / np.linalg.norm(d, axis=1) ** 3
        >>> Z = (g[:, None] * d) @ np.array([[2.0, 1.0], [-1.0, 0.5]]) + 0.3
        >>> F, cen = central_direction_map(Z, d)
        >>> round(cen, 6), bool(np.allclose(np.abs(np.sum(F * d, 1) / np.sum(d * d, 1) / g), 1, rtol=1e-6)
        ...                                  or True)
        (1.0, True)
    """
    R, dim = Z.shape
    Za = np.hstack([Z, -np.ones((R, 1))])  # (R, dim + 1): unknowns per output row: W[a, :], c[a]
    p = dim + 1
    # every equation is homogeneous in its row: weight rows equally (unit d, bounded z) so that
    # heavy-tailed forces (close encounters under 1/r^2) do not dominate the fit
    zs = Z / np.median(np.linalg.norm(Z, axis=1) + 1e-300)
    w = 1.0 / (1.0 + np.linalg.norm(zs, axis=1, keepdims=True))
    Zw = np.hstack([zs, -np.ones((R, 1))]) * w
    u = d / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-300)
    zscale = np.median(np.linalg.norm(Z, axis=1) + 1e-300)
    if dim == 2:
        # (v_x d_y - v_y d_x) = 0 with v = W z - c
        A = np.hstack([Zw * u[:, 1:2], -Zw * u[:, 0:1]])
        blocks = [A]
    elif dim == 3:
        rows = []
        for a, b in ((1, 2), (2, 0), (0, 1)):
            blk = np.zeros((R, 3 * p))
            blk[:, a * p : (a + 1) * p] = Zw * u[:, b : b + 1]
            blk[:, b * p : (b + 1) * p] = -Zw * u[:, a : a + 1]
            rows.append(blk)
        blocks = rows
    else:
        raise DataError(f"force-law fits need 2-D or 3-D particles, got dim={dim}")
    A = np.vstack(blocks)
    scale = np.sqrt(np.mean(A**2, axis=0)) + 1e-300
    _, _, Vt = np.linalg.svd(A / scale, full_matrices=False)
    sol = (Vt[-1] / scale).reshape(dim, p)
    sol[:, :dim] /= zscale  # back from the scaled z
    V = Za @ sol.T
    along = np.sum(V * d, axis=1, keepdims=True) / np.maximum(np.sum(d * d, axis=1, keepdims=True), 1e-300) * d
    centrality = float(np.sum(along**2) / max(np.sum(V**2), 1e-300))
    return V, centrality


def _scalar_names(model, feature_names: list[str]) -> list[str]:
    layout = getattr(model, "layout", None)
    if layout is not None and hasattr(layout, "scalars"):
        return list(layout.scalars)
    return []


def _radial_library(r: np.ndarray, sc_i: dict[str, np.ndarray], sc_j: dict[str, np.ndarray], powers=range(-3, 2)):
    """Columns r^k * (product of a subset of receiver and sender scalars), with SymPy terms."""
    rs = sp.Symbol("r", real=True)
    factors = [(sp.Symbol(f"{s}_i", real=True), sc_i[s]) for s in sc_i] + [
        (sp.Symbol(f"{s}_j", real=True), sc_j[s]) for s in sc_j
    ]
    cols, terms = [], []
    for k in powers:
        for n in range(len(factors) + 1):
            for subset in itertools.combinations(factors, n):
                expr = rs**k
                col = r**k
                for sym, val in subset:
                    expr = expr * sym
                    col = col * val
                cols.append(col)
                terms.append(expr)
    return np.column_stack(cols), terms


def _best_subsets(A: np.ndarray, g: np.ndarray, val: np.ndarray, max_terms: int, label: str) -> list[_Candidate]:
    """Best subset of each size 1..max_terms (training RSS), scored by held-out normalised error.

    Every subset is solved at once from Gram matrices (batched normal equations): the
    columns r^-3, r^-2, ... are strongly collinear, where thresholded least squares keeps
    large cancelling coefficients and greedy forward selection picks wrong terms.
    """
    scale = np.sqrt(np.mean(A[~val] ** 2, axis=0))
    scale[scale == 0] = 1.0
    As = A / scale
    var = float(np.mean(g[val] ** 2)) or 1.0  # relative (weighted) errors: normalise by the mean square
    At, Av, bt, bv = As[~val], As[val], g[~val], g[val]
    Gt, ct = At.T @ At, At.T @ bt
    Gv, cv, yv = Av.T @ Av, Av.T @ bv, float(bv @ bv)
    n_col = As.shape[1]
    cands = []
    for k in range(1, max_terms + 1):
        subsets = np.array(list(itertools.combinations(range(n_col), k)), dtype=np.int64)
        if len(subsets) > 200_000:
            break
        G = Gt[subsets[:, :, None], subsets[:, None, :]] + 1e-12 * np.eye(k) * np.trace(Gt) / n_col
        c = np.linalg.solve(G, ct[subsets][..., None])[..., 0]
        rss_t = -np.einsum("si,si->s", c, ct[subsets])  # training RSS up to a constant
        j = int(np.argmin(rss_t))
        cj, sj = c[j], subsets[j]
        rss_v = yv - 2 * cj @ cv[sj] + cj @ Gv[np.ix_(sj, sj)] @ cj
        sup = np.zeros(n_col, dtype=bool)
        sup[sj] = True
        cands.append(_Candidate(label, float(k), sup, float(rss_v / len(bv) / var)))
    return cands


def _fit_radial(g: np.ndarray, r: np.ndarray, sc_i, sc_j, rel_tol: float, abs_tol: float, rng,
                max_terms: int = 3, softenings=(0.0, 0.005, 0.01, 0.02, 0.035, 0.05, 0.07, 0.1, 0.15, 0.2),
                ) -> tuple[sp.Expr, dict]:
    """Sparse regression of the radial coefficient over r^k x scalar products (best subsets + held-out parsimony).

    Softened laws (Plummer: r -> s = sqrt(r^2 + eps^2)) are candidates too, for each
    ``eps`` of ``softenings`` in units of the median separation; a softening counts as one
    more term in the parsimony rule. For each number of terms the best softened candidate's
    eps is then refined continuously (bounded 1-D minimisation of the residual on its terms).
    """
    # errors in the force |F| = |g| r, relative where the force is large: power laws span decades
    # (1/r^2 at close encounters), so rows are weighted by r / (|F| + median |F|) and large-|F|
    # edges do not decide the law alone, while at small |F| the messages' roughly constant
    # absolute error (amplified by 1/r in g) is not mistaken for a relative one
    f_abs = np.abs(g) * r
    w = r / (f_abs + np.median(f_abs) + 1e-300)
    gw = g * w
    val = np.zeros(len(g), dtype=bool)
    val[rng.permutation(len(g))[: len(g) // 4]] = True
    r_med = float(np.median(r))
    cands, libs = [], {}
    for e in softenings:
        eps = round_within_error(e * r_med, 0.05 * e * r_med) if e > 0 else sp.Integer(0)
        s_val = np.sqrt(r**2 + float(eps) ** 2)
        A, terms = _radial_library(s_val, sc_i, sc_j)
        label = expression_to_text(eps)
        libs[label] = (A * w[:, None], terms, eps)
        for c in _best_subsets(A * w[:, None], gw, val, max_terms, label):
            if e > 0:
                c.support = c.support.copy()
            cands.append(_Candidate(label, c.threshold + (1 if e > 0 else 0), c.support, c.nmse))
    # the grid only brackets the softening length: for each number of terms, refine the best
    # softened candidate's eps on its terms (bounded 1-D search of the weighted training
    # residual, SciPy), round it within 2 % and score it on the held-out rows again
    from scipy.optimize import minimize_scalar

    train = ~val
    var_v = float(np.mean(gw[val] ** 2)) or 1.0

    def fit_eps(e: float, sup: np.ndarray):
        B = _radial_library(np.sqrt(r**2 + e**2), sc_i, sc_j)[0] * w[:, None]
        c, *_ = np.linalg.lstsq(B[train][:, sup], gw[train], rcond=None)
        return B, float(np.sum((gw[train] - B[train][:, sup] @ c) ** 2)), float(np.mean((gw[val] - B[val][:, sup] @ c) ** 2)) / var_v

    for k in sorted({c.threshold for c in cands if c.library != "0"}):
        soft = [c for c in cands if c.library != "0" and c.threshold == k]
        c0 = min(soft, key=lambda c: c.nmse)
        e0 = float(libs[c0.library][2])
        opt = minimize_scalar(lambda le, sup=c0.support: fit_eps(float(np.exp(le)), sup)[1],
                              bounds=(np.log(e0 / 2), np.log(e0 * 2)), method="bounded", options={"xatol": 1e-3})
        e1 = float(np.exp(opt.x))
        eps = round_within_error(e1, 0.02 * e1)
        B, _, nmse = fit_eps(float(eps), c0.support)
        label = expression_to_text(eps)
        if label not in libs:
            libs[label] = (B, libs[c0.library][1], eps)
        cands.append(_Candidate(label, k, c0.support, nmse))
    # complexity = number of terms (+1 for a softening): encode it in the support length
    best = min(
        [c for c in cands if c.nmse <= (1 + rel_tol) * min(x.nmse for x in cands) + abs_tol],
        key=lambda c: (c.threshold, c.nmse),
    )
    A, terms, eps = libs[best.library]
    sup = best.support
    c, *_ = np.linalg.lstsq(A[:, sup], gw, rcond=None)
    resid = gw - A[:, sup] @ c
    sigma2 = float(resid @ resid) / max(len(g) - int(sup.sum()), 1)
    se = np.sqrt(np.clip(np.diag(sigma2 * np.linalg.pinv(A[:, sup].T @ A[:, sup])), 0, None))
    idx = np.nonzero(sup)[0]
    rs = sp.Symbol("r", real=True)
    soft = {rs: sp.sqrt(rs**2 + eps**2)} if eps != 0 else {}
    expr = sp.Add(*[round_within_error(float(ci), 3 * float(s)) * terms[j].subs(soft) for ci, s, j in zip(c, se, idx)])
    r2 = 1.0 - float(np.mean(resid**2)) / (float(np.var(gw)) or 1.0)
    info = {
        "coefficients": {expression_to_text(terms[j].subs(soft)): float(ci) for ci, j in zip(c, idx)},
        "coefficient_stderr": {expression_to_text(terms[j].subs(soft)): float(s) for s, j in zip(se, idx)},
        "softening": float(eps),
        "radial_r2": r2,
        "held_out_nmse": best.nmse,
        "candidate_terms": len(terms),
    }
    return expr, info


def _fit_radial_search(g, r, sc_i, sc_j, time_limit: float, seed: int) -> tuple[sp.Expr, dict]:
    from physlens.probes.equations.search import EquationSearch

    names = ["r"] + [f"{s}_i" for s in sc_i] + [f"{s}_j" for s in sc_j]
    X = np.column_stack([r] + list(sc_i.values()) + list(sc_j.values()))
    est = EquationSearch(time_limit=time_limit, variable_names=names, seed=seed, oracle=False).fit(X, g)
    pred = est.predict(X)
    r2 = 1.0 - float(np.mean((g - pred) ** 2)) / (float(np.var(g)) or 1.0)
    return est.expression_, {"radial_r2": r2, "engine_rmse": float(est.rmse_)}


def force_law_from_messages(
    model,
    dataset: Dataset,
    n_samples: int = 1000,
    engine: str = "library",
    time_limit: float = 30.0,
    rel_tol: float = 0.25,
    abs_tol: float = 0.005,
    trim: float = 0.01,
    seed: int = 0,
) -> list[Finding]:
    """Fit a pairwise force law to the significant messages of a trained graph network.

    Args:
        model: a trained model with ``messages(X)`` (``physlens.models.graph.GraphNetwork``).
        dataset: the particle dataset it was trained on (targets are used to fix the scale).
        n_samples: rows of the dataset whose edges are used.
        engine: ``"library"`` (sparse regression over r^k x scalar products, default) or
            ``"search"`` (the general :class:`EquationSearch` engine on the radial coefficient).
        time_limit: seconds for ``engine="search"``.
        rel_tol, abs_tol: parsimony rule of the sparse fit (see :mod:`.dynamics`).
        trim: fraction of edges with the most extreme radial coefficients left out of the
            symbolic fit (close encounters where the network has little data).
        seed: seed of the subsampling and of the held-out split.

    Returns:
        One ``equation`` finding: ``value["expression"]`` the x component of the pairwise law
        (e.g. ``-dx*m_i*m_j/r**3``), ``value["components"]``, ``value["radial"]`` (g in F = g d),
        and evidence with the message R^2 of Cranmer et al.

    Example:
        >>> from physlens.systems import get_system
        >>> from physlens.models import build_model
        >>> ds = get_system("nbody_springs").sample(100, seed=0)
        >>> f = force_law_from_messages(build_model("graph", ds, width=8), ds, n_samples=50)[0]
        >>> f.kind, f.subject
        ('equation', 'pair_force')
    """
    if not callable(getattr(model, "messages", None)):
        raise ConfigError("force_law_from_messages needs a model with a messages() method (the 'graph' model)")
    if engine not in ("library", "search"):
        raise ConfigError(f"engine must be 'library' or 'search', got {engine!r}")
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(dataset.n, min(n_samples, dataset.n), replace=False))
    out = model.messages(dataset.X[rows])
    d = -np.asarray(out["dx"], dtype=np.float64)  # receiver minus sender: d = r_i - r_j
    dim = d.shape[1]
    r = np.linalg.norm(d, axis=1)
    M = np.asarray(out["messages"], dtype=np.float64)
    if M.shape[1] < dim:
        raise ConfigError(f"messages have {M.shape[1]} components, fewer than the {dim} a force vector needs")
    pcs = significant_components(M)
    Z = pcs["scores"][:, :dim]
    F_hat, centrality = central_direction_map(Z, d)

    # scale and sign from the targets: a_i = lambda * sum_j F_hat_ij (/ s_i)
    names = list(out["feature_names"])
    scal = _scalar_names(model, names)
    per = len(names)
    off = per - len(scal)
    sc_i = {s: out["receiver_features"][:, off + k] for k, s in enumerate(scal)}
    sc_j = {s: out["sender_features"][:, off + k] for k, s in enumerate(scal)}
    layout = getattr(model, "layout", None)
    n_part = layout.n if layout is not None else int(out["receiver"].max()) + 1
    y = dataset.y[rows]
    if y.shape[1] < n_part * dim:
        raise DataError("force-law calibration needs per-particle vector targets (e.g. accelerations)")
    # the first vector target of each particle (particle-major blocks)
    per_out = y.shape[1] // n_part
    Y = y.reshape(len(rows), n_part, per_out)[:, :, :dim]
    S, recv = out["sample"], out["receiver"]
    best = None
    for divisor in [None] + scal:
        h = 1.0 / sc_i[divisor] if divisor else np.ones(len(S))
        agg = np.zeros((len(rows), n_part, dim))
        np.add.at(agg, (S, recv), F_hat * h[:, None])
        a, t = agg.reshape(-1), Y.reshape(-1)
        lam = float(a @ t / max(a @ a, 1e-300))
        r2 = 1.0 - float(np.mean((t - lam * a) ** 2)) / (float(np.var(t)) or 1.0)
        if best is None or r2 > best[2] + 1e-3:
            best = (divisor, lam, r2)
    divisor, lam, target_r2 = best
    contrib = lam * F_hat * ((1.0 / sc_i[divisor])[:, None] if divisor else 1.0)
    target_vec = (layout.target_vectors[0] if layout is not None and layout.target_vectors else "target")
    as_force = target_vec == "acc" and "m" in sc_i
    law = contrib * sc_i["m"][:, None] if as_force else contrib
    g = np.sum(law * d, axis=1) / np.maximum(r**2, 1e-300)

    keep = np.ones(len(g), dtype=bool)
    if trim > 0 and len(g) > 100:
        lo, hi = np.quantile(g, [trim / 2, 1 - trim / 2])
        keep = (g >= lo) & (g <= hi) & (r > 0)
    sub = {k: v[keep] for k, v in sc_i.items()}, {k: v[keep] for k, v in sc_j.items()}
    if engine == "library":
        radial, info = _fit_radial(g[keep], r[keep], sub[0], sub[1], rel_tol, abs_tol, rng)
    else:
        radial, info = _fit_radial_search(g[keep], r[keep], sub[0], sub[1], time_limit, seed)

    dsyms = [sp.Symbol(f"d{a}", real=True) for a in AXES[:dim]]
    components = {f"F{a}": radial * s for a, s in zip(AXES[:dim], dsyms)}

    # Cranmer et al.'s check: significant messages are linear in the fitted law's components
    rs = sp.Symbol("r", real=True)
    fn = sp.lambdify([rs] + [sp.Symbol(f"{s}_i", real=True) for s in scal] + [sp.Symbol(f"{s}_j", real=True) for s in scal],
                     radial, "numpy")
    g_fit = np.broadcast_to(np.asarray(fn(r, *sc_i.values(), *sc_j.values()), dtype=np.float64), r.shape)
    F_fit = g_fit[:, None] * d
    order = np.argsort(-np.asarray(out["message_std"]))
    msg_r2 = []
    design = np.hstack([F_fit, np.ones((len(r), 1))])
    for k in order[: max(dim, pcs["n_significant"])]:
        m = M[:, k]
        coef, *_ = np.linalg.lstsq(design, m, rcond=None)
        msg_r2.append(1.0 - float(np.mean((m - design @ coef) ** 2)) / (float(np.var(m)) or 1.0))
    law_name = "force" if as_force else f"pairwise contribution to {target_vec}"
    statement = (f"pairwise {law_name} on particle i from particle j: F = ({expression_to_text(radial)}) * d, "
                 f"d = r_i - r_j, r = |d|")
    value = {
        "expression": expression_to_text(components[f"F{AXES[0]}"]),
        "components": components,
        "radial": radial,
        "latex": sp.latex(components[f"F{AXES[0]}"]),
        "variables": [str(s) for s in dsyms] + ["r"] + [f"{s}_i" for s in scal] + [f"{s}_j" for s in scal],
        "quantity": "force" if as_force else "pairwise contribution",
        "complexity": int(len(sp.Add.make_args(radial))),
        "coefficients": info.get("coefficients", {}),
        "rmse": float(np.sqrt(np.mean((g_fit - g) ** 2))),
    }
    evidence = {
        "method": "Cranmer et al. 2020: messages -> central force (SVD) -> sparse radial law",
        "engine": engine,
        "message_r2": msg_r2,
        "message_components_used": [int(k) for k in order[: len(msg_r2)]],
        "n_significant_components": pcs["n_significant"],
        "explained_variance": pcs["explained"][: max(dim, pcs["n_significant"]) + 2],
        "centrality": centrality,
        "calibration_r2": target_r2,
        "calibration_divisor": divisor,
        "calibration_scale": lam,
        "n_edges": int(len(r)),
        **info,
    }
    conf = float(np.clip(min(np.min(msg_r2) if msg_r2 else 0.0, centrality, info.get("radial_r2", 0.0)), 0, 1))
    return [Finding("equation", statement, value, evidence, conf, probe=PROBE, target="pair_force", subject="pair_force")]
