"""Candidate generators of the equation search: monomial fits, enumeration with target transforms, pair beams.

Each generator proposes closed forms for ``y = f(X)`` and leaves polishing and selection
to the search (:mod:`physlens.probes.equations.search`):

* :func:`monomial_candidates` — power laws ``c * prod x_i^a_i`` from a least-squares fit
  in log space, exponents rounded to small rationals;
* :func:`enumeration_candidates` — expressions enumerated by size
  (:mod:`physlens.probes.equations.enumeration`), each matched to a transform of the
  target (identity, log, powers) by a weighted affine fit, plus two-term sums found
  by a beam over pairs of enumerated terms (``_pair_candidates``).

They live apart from the search so that other stages (the separability and oracle
splitting) can call them without importing the search itself.
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import sympy as sp

from physlens.probes.equations.enumeration import DEFAULT_UNARY, WEIGHTED, enumerate_expressions
from physlens.probes.equations import budget as B


def _rational(v: float, max_den: int = 3) -> Fraction:
    return Fraction(v).limit_denominator(max_den)


def monomial_candidates(X: np.ndarray, y: np.ndarray, symbols: list[sp.Symbol]) -> list[sp.Expr]:
    """Power laws ``C * prod x_j**e_j`` from a log-linear fit, exponents rounded to simple rationals.

    Example:
        >>> X = np.random.default_rng(0).uniform(1, 2, (50, 2)); a, b = sp.symbols("a b", real=True)
        >>> e = monomial_candidates(X, 3 * X[:, 0] ** 2 / X[:, 1], [a, b])[0]
        >>> sp.nsimplify(e, rational=True)
        3*a**2/b
    """
    if np.any(y == 0) or np.any(X == 0) or (np.any(y > 0) and np.any(y < 0)):
        return []
    A = np.column_stack([np.ones(len(X)), np.log(np.abs(X))])
    coef, *_ = np.linalg.lstsq(A, np.log(np.abs(y)), rcond=None)
    out = []
    for max_den in (1, 2, 3):
        exps = [_rational(c, max_den) for c in coef[1:]]
        expr = sp.Integer(1)
        feats = np.ones(len(X))
        for j, e in enumerate(exps):
            if e != 0:
                expr *= symbols[j] ** sp.Rational(e.numerator, e.denominator)
                with np.errstate(all="ignore"):
                    feats = feats * np.abs(X[:, j]) ** float(e) * (np.sign(X[:, j]) ** e.numerator if e.denominator == 1 else 1)
        if not np.all(np.isfinite(feats)) or np.all(feats == 0):
            continue
        C = float(feats @ y / (feats @ feats))
        out.append(sp.Float(C) * expr)
    return out


def one_signed_rows(y: np.ndarray, minority: float = 0.05, level: float = 0.05,
                    margin: float = 3.0) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The rows on which ``log|y|`` of a one-signed law can be fitted, and their weights (None: all rows, equal).

    A law of one sign measured with additive noise crosses zero where it is smallest
    (``g exp(-r/a)/r`` at 1 % noise): when at most ``minority`` of the rows have the other
    sign and all of them lie within ``level`` of the largest ``|y|``, the law is taken as
    one-signed. Rows within ``margin`` times the largest crossing of zero are then left out,
    and the others weighted by ``y**2`` (the noise of ``log|y|`` is ``sigma/|y|``). Returns
    ``(None, None)`` when ``y`` really changes sign.

    Example:
        >>> y = np.array([5.0, 3.0, 2.0, 1.0, 0.5, 0.02, -0.01] + [4.0] * 20)
        >>> rows, w = one_signed_rows(y)
        >>> int(rows.sum()), float(w[0]) == 25.0
        (25, True)
        >>> one_signed_rows(np.array([1.0, -1.0, 2.0]))[0] is None
        True
    """
    if np.all(y > 0) or np.all(y < 0):
        return np.ones(len(y), dtype=bool), None
    sign = 1.0 if np.sum(y > 0) >= np.sum(y < 0) else -1.0
    other = sign * y <= 0
    ay = np.abs(y)
    if other.mean() > minority or ay[other].max() > level * ay.max():
        return None, None
    rows = sign * y > margin * ay[other].max()
    return rows, y[rows] ** 2


def noisy_floor(y: np.ndarray) -> np.ndarray:
    """``y`` of a one-signed law whose noise took a few small rows across zero, lifted to a floor of its sign.

    The floor is three times the largest crossing (:func:`one_signed_rows`), so
    ``log``, ``1/y`` and ``sqrt`` of the law stay defined; the lifted rows are the noisiest
    ones and weigh little in those transforms' fits (:func:`_transform_weights`). ``y``
    itself when it is one-signed or really changes sign.

    Example:
        >>> noisy_floor(np.array([5.0, 3.0, 0.02, -0.01] + [4.0] * 20))[:4].tolist()
        [5.0, 3.0, 0.03, 0.03]
    """
    rows, w = one_signed_rows(y)
    if rows is None or w is None:
        return y
    sign = float(np.sign(y[rows][0]))  # the law's sign (the kept rows all have it)
    floor = 3.0 * float(np.max(np.abs(y[sign * y <= 0])))  # one_signed_rows' margin
    return sign * np.maximum(sign * y, floor)


# target transforms T and the inverse that maps a*f + b back to y
def _transforms(y: np.ndarray, lifted: np.ndarray | None = None) -> dict[str, tuple[np.ndarray, callable]]:
    out: dict[str, tuple[np.ndarray, callable]] = {"id": (y, lambda e: e)}
    # the other transforms of a one-signed law are taken of its lifted values (:func:`noisy_floor`)
    y = noisy_floor(y) if lifted is None else lifted
    with np.errstate(all="ignore"):
        if np.all(y != 0):
            out["inv"] = (1.0 / y, lambda e: 1 / e)
        out["sq"] = (y**2, lambda e: sp.sqrt(e) if np.all(y > 0) else -sp.sqrt(e))
        if np.all(y > 0) or np.all(y < 0):
            s = 1.0 if y[0] > 0 else -1.0
            out["sqrt"] = (np.sqrt(s * y), lambda e, s=s: s * e**2)
            # exp(a*f + b) is written exp(b)*exp(a*f) so that the constant factor is visible
            out["log"] = (np.log(s * y), lambda e, s=s: s * sp.Mul(*[sp.exp(t) for t in sp.Add.make_args(e)]))
            # 1/y**2 affine in f: y = (a*f + b)**(-1/2), the Lorentz-factor shape m/sqrt(1 - v**2/c**2);
            # on noisy data it is found as a complexity-3 term where the other routes need a rational fit
            out["isq"] = (1.0 / y**2, lambda e, s=s: s / sp.sqrt(e))
    if "sq" in out and not (np.all(y > 0) or np.all(y < 0)):
        del out["sq"]
    return out


def _transform_weights(y: np.ndarray, weights: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Row weights for fitting each transform ``T(y)``: ``w / T'(y)**2`` (the delta method).

    Noise of size ``sigma/sqrt(w)`` on ``y`` is ``|T'(y)| sigma/sqrt(w)`` on ``T(y)``: fitted
    unweighted, ``1/y**2`` of a target near its small values is ruled by those rows' noise.
    ``weights``: the rows' weights for ``y`` itself (default 1; a target divided by a
    prefactor ``p`` has weights ``p**2``).

    Example:
        >>> w = _transform_weights(np.array([1.0, 2.0]))
        >>> w["id"].tolist(), w["log"].tolist()
        ([1.0, 1.0], [1.0, 4.0])
    """
    w = np.ones_like(y) if weights is None else np.asarray(weights, dtype=float)
    a = np.abs(y)
    with np.errstate(all="ignore"):
        out = {"id": w, "inv": w * a**4, "sq": w / (4 * a**2), "sqrt": 4 * w * a, "log": w * a**2, "isq": w * a**6 / 4}
    return {k: np.where(np.isfinite(v), v, 0.0) for k, v in out.items()}


def ranking_weights(w: np.ndarray, spread: float = 100.0) -> np.ndarray:
    """A transform's row weights for ranking on a small subsample: at most ``spread`` apart.

    The delta-method weights of ``1/y`` span ``(max|y|/min|y|)**4``; on 96 rows a few would
    then decide the ranking alone, and look-alikes fitted to those few rows crowd out the law.
    Flooring them at ``1/spread`` of the largest keeps a few rows from ruling the correlation
    (a weight of 0, a row with no information, stays 0).

    Example:
        >>> ranking_weights(np.array([1.0, 1e-4, 0.5])).tolist()
        [1.0, 0.01, 0.5]
    """
    w = np.asarray(w, dtype=np.float64)
    top = float(np.max(w)) if len(w) else 0.0
    return np.where(w > 0, np.maximum(w, top / spread), 0.0) if top > 0 else w


def _affine(f: np.ndarray, t: np.ndarray, w: np.ndarray | None = None) -> tuple[float, float] | None:
    ok = np.isfinite(f)
    if not ok.all():
        return None
    A = np.column_stack([f, np.ones_like(f)])
    if w is not None:
        r = np.sqrt(w)
        coef, *_ = np.linalg.lstsq(A * r[:, None], t * r, rcond=None)
    else:
        coef, *_ = np.linalg.lstsq(A, t, rcond=None)
    return float(coef[0]), float(coef[1])


def enumeration_candidates(
    X: np.ndarray, y: np.ndarray, symbols: list[sp.Symbol], time_limit: float, seed: int,
    max_complexity: int = 12, per_target: int = 6, unary=DEFAULT_UNARY, pairs: bool = True,
    near_tie: float = 0.05, near_per_level: int = 5, weights: np.ndarray | None = None,
) -> list[sp.Expr]:
    """Formulas ``T^-1(a*f + b)`` from the enumeration (and sums of two terms), constants fitted on all rows.

    The remembered candidates are re-ranked and their constants fitted with the rows weighted
    by :func:`_transform_weights` (``weights``: the rows' weights for ``y``), so that each
    transform is judged by the noise it really carries. Each transform other than ``y`` itself
    is also ranked by the weighted correlation during the enumeration (its weighted twin, weights
    at most 100 apart, :func:`ranking_weights`), beside the plain ranking; a one-signed target
    whose noise crosses zero keeps its transforms (:func:`noisy_floor`, the lifted rows weigh 0).

    Example:
        >>> X = np.random.default_rng(0).uniform(1, 2, (80, 2)); a, b = sp.symbols("a b", real=True)
        >>> cands = enumeration_candidates(X, np.sin(X[:, 0]) + X[:, 1], [a, b], 5, 0, max_complexity=4)
        >>> from physlens.probes.equations.simplify import rmse
        >>> any(rmse(c, {"a": X[:, 0], "b": X[:, 1]}, np.sin(X[:, 0]) + X[:, 1]) < 1e-9 for c in cands)
        True
    """
    lifted = noisy_floor(y)
    tr = _transforms(y, lifted)
    t0 = B.now()
    tw = _transform_weights(lifted, weights)
    for k in tw:  # rows a one-signed law's noise took across zero carry no information on its transforms
        if k != "id":
            tw[k] = np.where(lifted != y, 0.0, tw[k])
    res = enumerate_expressions(
        X, {k: v[0] for k, v in tr.items()}, max_complexity=max_complexity, time_limit=time_limit * (0.7 if pairs else 1),
        unary=unary, seed=seed, weights={k: ranking_weights(tw[k]) for k in tr if k != "id"},
    )
    out: list[sp.Expr] = []
    # re-score the remembered candidates on (up to 2000 of) all rows: the enumeration ranks on a
    # small subsample, which on noisy data cannot tell the true law from its near look-alikes
    # (bounded: at most 400 rows and 150 candidates per transform, within 5 % of the budget)
    rows = np.sort(np.random.default_rng(seed + 1).choice(len(X), size=min(400, len(X)), replace=False))
    Xr = X[rows]
    t_rescore = B.now() + 0.05 * time_limit
    for key in list(res.top):  # each transform, and its weighted twin
        k = key.removesuffix(WEIGHTED)
        t, inv = tr[k]
        tr_r = t[rows]
        wr = tw[k][rows]
        sw = np.sqrt(wr / (wr.sum() + 1e-300))
        tc = (tr_r - sw**2 @ tr_r) * sw  # weighted centring and scaling: one correlation per candidate
        tn = float(np.linalg.norm(tc))
        rescored = []
        for q, s in enumerate(res.top[key]):
            if tn == 0 or q >= 150 or B.now() > t_rescore:
                rescored.append(s)
                continue
            f = res.evaluate(s.recipe, Xr)
            B.tick(len(Xr) / 96.0)
            if not np.all(np.isfinite(f)):
                continue
            fc = (f - sw**2 @ f) * sw
            fn = float(np.linalg.norm(fc))
            if fn <= 1e-12 * (np.abs(f).max() + 1e-300):
                continue
            loss = 1.0 - min(1.0, float(fc @ tc / (fn * tn)) ** 2)
            rescored.append(type(s)(s.recipe, s.complexity, loss, s.target))
        res.top[key] = sorted(rescored, key=lambda s: (s.loss, s.complexity))
        picked: list = []
        seen_c: set[int] = set()
        for s in res.top[key]:
            if len(picked) >= per_target:
                break
            if s.complexity in seen_c and len(picked) >= 2:
                continue
            seen_c.add(s.complexity)
            picked.append(s)
        # and the (complexity, loss) Pareto front: with noise the simple true law is rarely among the
        # lowest losses (larger formulas fit the noise a little better), but it is on this front
        # (and the near-ties of simpler ones, a few per complexity: at the noise floor the data cannot
        # rank them, the polishing on all rows and the complexity-aware selection can)
        best_loss, per_c = math.inf, {}
        have = {p.recipe for p in picked}
        for s in sorted(res.top[key], key=lambda s: (s.complexity, s.loss)):
            better = s.loss < best_loss * (1 - 1e-9)
            near = s.loss <= best_loss * (1 + near_tie) and per_c.get(s.complexity, 0) < near_per_level
            if (better or near) and s.recipe not in have:
                picked.append(s)
                have.add(s.recipe)
                per_c[s.complexity] = per_c.get(s.complexity, 0) + 1
            best_loss = min(best_loss, s.loss)
        for s in picked:
            f = res.evaluate(s.recipe, X)
            ab = _affine(f, t, tw[k])
            if ab is None:
                continue
            a, b = ab
            fe = res.to_sympy(s.recipe, symbols)
            out.append(inv(sp.Float(a) * fe + sp.Float(b)))
    # (even after an exact single term: its enumerated constants may not round to a closed form,
    # I.32.17's (1 + 1/tanh(log(w/w0)))**2 does not, the two-term form does)
    if pairs and res.pool_ids is not None:
        out.extend(_pair_candidates(res, X, tr, symbols, deadline=t0 + time_limit + 0.5))
    return out


def _smooth_target(res, key: str, Xs: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """The best enumerated single term for target ``key``, affinely fitted to ``ts`` (else ``ts``)."""
    if not res.top.get(key):
        return ts
    f = res.evaluate(res.best(key).recipe, Xs)
    ab = _affine(f, ts)
    return ts if ab is None else ab[0] * f + ab[1]


def _two_term_explained(rf: np.ndarray, rg: np.ndarray, G: np.ndarray) -> np.ndarray:
    """Share of a centred target explained by each pair of unit-norm terms, by least squares, all pairs at once.

    ``rf``, ``rg``: the terms' correlations with the target; ``G[i, j]``: the correlation of term
    ``i`` of the first set with term ``j`` of the second. Near-collinear pairs get ``-inf``.

    Example:
        >>> G = np.array([[0.0]]); bool(np.isclose(_two_term_explained(np.array([0.6]), np.array([0.8]), G)[0, 0], 1.0))
        True
    """
    with np.errstate(all="ignore"):
        ex = (rf[:, None] ** 2 + rg[None, :] ** 2 - 2 * G * rf[:, None] * rg[None, :]) / (1 - G**2)
    ex[~np.isfinite(ex) | (np.abs(G) > 0.999)] = -np.inf
    return ex


def _best_triples(Pn: np.ndarray, cand: np.ndarray, tc: np.ndarray, keep: int = 4, cap: int = 70) -> list[tuple[int, ...]]:
    """The ``keep`` triples of rows of ``Pn`` (centred, unit-norm terms) that best explain ``tc`` by least squares.

    Only the ``cap`` first candidate rows are used (the simplest terms come first in the pool).

    Example:
        >>> rng = np.random.default_rng(0); F = rng.normal(size=(6, 50)); F -= F.mean(1, keepdims=True)
        >>> F /= np.linalg.norm(F, axis=1, keepdims=True); t = F[1] + 2 * F[3] - F[4]
        >>> _best_triples(F, np.arange(6), t)[0]
        (1, 3, 4)
    """
    cand = np.asarray(cand)[:cap]
    if len(cand) < 3:
        return []
    tri = np.array(list(itertools.combinations(range(len(cand)), 3)))
    M = Pn[cand]
    G = M @ M.T
    r = M @ tc
    Gs = G[tri[:, :, None], tri[:, None, :]] + 1e-9 * np.eye(3)
    rs = r[tri]
    with np.errstate(all="ignore"):
        try:
            coef = np.linalg.solve(Gs, rs[:, :, None])[:, :, 0]
        except np.linalg.LinAlgError:
            return []
    expl = np.einsum("ij,ij->i", coef, rs)
    # near-collinear triples explain anything: drop them
    cond = np.abs(np.linalg.det(Gs))
    expl[~np.isfinite(expl) | (cond < 1e-6)] = -np.inf
    order = np.argsort(-expl, kind="stable")[:keep]
    return [tuple(int(cand[q]) for q in tri[o]) for o in order if np.isfinite(expl[o])]


def _pair_candidates(res, X, tr, symbols, depth: int = 3, beam: int = 10, width: int = 8,
                     deadline: float = math.inf) -> list[sp.Expr]:
    """Sums ``T(y) ~ c0 + sum c_i f_i`` (up to ``depth`` terms) and rationals, by beam orthogonal matching pursuit.

    The dictionary is the enumerated pool (values on the enumeration subsample). A beam of
    term sets is grown one term at a time: each set's least-squares residual is correlated
    with every pooled expression at once (one matrix-vector product), the best ``width``
    extensions are refitted, and the ``beam`` best sets survive. For the untransformed
    target the dictionary also holds ``-y * g`` for every pooled ``g``: a fit
    ``y = c0 + sum c_i f_i - sum d_j y g_j`` is the linearised rational function
    ``y = (c0 + sum c_i f_i) / (1 + sum d_j g_j)`` (as in rational SINDy). Coefficients are
    refitted on all rows.
    """
    idx = res.sample_index
    P = res.pool_values
    pid = res.pool_ids
    comps = res.complexities
    Xs = X[idx]
    out: list[sp.Expr] = []

    def normalise(M):
        Mc = M - M.mean(axis=1, keepdims=True)
        nrm = np.linalg.norm(Mc, axis=1)
        ok = np.isfinite(nrm) & (nrm > 1e-10 * (np.abs(M).max(axis=1) + 1e-300))
        Mn = Mc / np.where(ok, nrm, 1.0)[:, None]
        Mn[~ok] = 0.0
        return Mn

    Pn = normalise(P)
    pc = comps[pid]
    levels = [np.nonzero(pc == c)[0] for c in np.unique(pc)]
    pen_base = 1e-6 * comps[pid]
    for k, (t, inv) in tr.items():
        ts = t[idx]
        if not np.all(np.isfinite(ts)) or np.std(ts) == 0:
            continue
        rational = k == "id"
        m = len(Pn)
        if rational:
            # y * g is only a denominator term when g really varies (else it is just y again)
            with np.errstate(all="ignore"):
                cv = np.std(P, axis=1) / (np.abs(np.mean(P, axis=1)) + 1e-300)
            R = normalise(-ts[None, :] * P)
            R[~(cv > 0.05) | (comps[pid] > 5)] = 0.0
            D = np.concatenate([Pn, R])
            pen = np.concatenate([pen_base, pen_base + 1e-6])
        else:
            D, pen = Pn, pen_base

        def feat(j, rows=None, tt=None):
            # on the enumeration subsample the pooled values are at hand (no tree walk)
            base = P[j % m] if rows is None else res.evaluate(int(pid[j % m]), rows)
            if j < m:
                return base
            return -(ts if tt is None else tt) * base

        def lsq(cols, tt, key=()):
            B.tick(len(tt) * (len(cols) + 1) / 96.0)
            A = np.column_stack(cols + [np.ones(len(tt))])
            if not np.all(np.isfinite(A)):
                return None, np.inf, None
            coef, *_ = np.linalg.lstsq(A, tt, rcond=None)
            r = tt - A @ coef
            rat = [q for q, i in enumerate(key) if i >= m]
            if rat:
                with np.errstate(all="ignore"):
                    gs = [cols[q] / -tt for q in rat]  # the denominator terms g themselves
                    # Sanathanan-Koerner reweighting: the linearised fit minimises the error times the
                    # denominator, which noise in y (inside every y*g column) biases badly; dividing each
                    # row by the previous denominator turns it, in a few passes, into the real fit
                    for _ in range(4):
                        den = 1.0 + sum(coef[q] * g for q, g in zip(rat, gs))
                        if not np.all(np.isfinite(den)) or np.min(np.abs(den)) <= 0:
                            break
                        w = 1.0 / np.abs(den)
                        Aw, tw = A * w[:, None], tt * w
                        if not (np.all(np.isfinite(Aw)) and np.all(np.isfinite(tw))):
                            break  # LAPACK prints to stderr on a non-finite matrix: never hand it one
                        nxt, *_ = np.linalg.lstsq(Aw, tw, rcond=None)
                        if not np.all(np.isfinite(nxt)):
                            break
                        coef = nxt
                    r = tt - A @ coef
                # judge a rational fit by its real error, not the linearised one
                num = coef[-1] + sum(coef[q] * cols[q] for q in range(len(key)) if key[q] < m)
                den = 1.0 + sum(coef[q] * g for q, g in zip(rat, gs))
                with np.errstate(all="ignore"):
                    yhat = num / den
                # a pole inside the data (the denominator changes sign or nearly vanishes) is no law;
                # a denominator that merely varies a lot (1 + a*b over a wide range) is fine
                ad = np.abs(den)
                if (not np.all(np.isfinite(yhat)) or (np.min(den) < 0 < np.max(den))
                        or np.min(ad) < 0.01 * np.median(ad)):
                    return coef, np.inf, r
                e = tt - yhat
                return coef, float(e @ e), r
            return coef, float(r @ r), r

        states: list[tuple[float, tuple[int, ...], np.ndarray]] = [(float(((ts - ts.mean()) ** 2).sum()), (), ts - ts.mean())]
        finals: list[tuple[float, tuple[int, ...]]] = []
        # exhaustive pairs among the simplest terms (greedy pursuit can miss a*b + c*d)
        small = np.nonzero(pc <= 4)[0]
        seeded: list[tuple[int, int]] = []
        tc = ts - ts.mean()
        if len(small) > 1500:  # keep the terms most correlated with the target
            small = small[np.sort(np.argsort(-np.abs(Pn[small] @ tc), kind="stable")[:1500])]
        if len(small) >= 2:
            Sn = Pn[small]
            rr = Sn @ tc / (np.linalg.norm(tc) + 1e-300)
            G = Sn @ Sn.T
            expl = _two_term_explained(rr, rr, G)
            expl[np.tril_indices(len(small))] = -np.inf
            ev = -expl.ravel()
            top = np.argpartition(ev, 6)[:6] if ev.size > 6 else np.arange(ev.size)
            flat = top[np.lexsort((top, ev[top]))]  # the six best, best first (index breaks ties)
            seeded = [(int(small[a]), int(small[b])) for a, b in zip(*np.unravel_index(flat, expl.shape))]
            # and every very simple term (complexity <= 2) with every complexity-5 term: the pairs above
            # stop at 4, and greedy pursuit misses z + 2*sqrt(z)*cos(d) (I.37.4 in its groups) because
            # neither term alone explains much of the target; one matrix product over all pairs
            lead, part = np.nonzero(pc <= 2)[0][:60], np.nonzero(pc == 5)[0]
            if len(lead) and len(part):
                tn_ = np.linalg.norm(tc) + 1e-300
                ex = _two_term_explained(Pn[lead] @ tc / tn_, Pn[part] @ tc / tn_, Pn[lead] @ Pn[part].T)
                ev = -ex.ravel()
                top = np.argpartition(ev, 4)[:4] if ev.size > 4 else np.arange(ev.size)
                flat = top[np.lexsort((top, ev[top]))]
                seeded += [(int(lead[a]), int(part[b])) for a, b in zip(*np.unravel_index(flat, ex.shape))
                           if np.isfinite(ex[a, b])]
        # and exhaustive triples among the very simplest terms (x**2 + y**2 + z**2: greedy pursuit
        # follows the look-alike (x + y)**2 instead), all at once by batched normal equations
        seeded3 = _best_triples(Pn, np.nonzero(pc <= 2)[0], tc)
        if rational and len(small) >= 1:
            # and exhaustive (numerator term, denominator term) pairs: y = (c0 + c f) / (1 + d g) is
            # y = c0 + c f - d y g, two columns; greedy pursuit follows look-alikes of (a+b)/(1+a*b)
            num_c = np.unique(np.concatenate([small[np.argsort(-np.abs(Pn[small] @ tc), kind="stable")[:80]],
                                              small[np.argsort(pc[small], kind="stable")[:400]]]))
            den_c = np.nonzero((pc <= 5) & np.any(R != 0.0, axis=1))[0]
            if len(den_c) > 600:
                den_c = den_c[np.argsort(pc[den_c], kind="stable")[:600]]
            if len(num_c) and len(den_c):
                tn_ = np.linalg.norm(tc) + 1e-300
                rf = Pn[num_c] @ tc / tn_
                pairs: list[tuple[int, int]] = []
                # ranked twice: with y itself in y*g (exact data) and with y smoothed (the best
                # enumerated single term, affinely fitted: noisy y inside y*g lets junk pairs fit
                # the noise itself); the 30 best of each, then their real (num/den) error picks 6
                for yy in (ts, _smooth_target(res, "id", Xs, ts)):
                    with np.errstate(all="ignore"):
                        raw = -yy[None, :] * P[den_c]
                    Rs = normalise(raw)
                    rg = Rs @ tc / tn_
                    Gfg = Pn[num_c] @ Rs.T
                    ex = _two_term_explained(rf, rg, Gfg)
                    # a fitted denominator 1 + d*g that changes sign or nearly vanishes over the rows is
                    # a pole, not a law (with noise, a nearly constant g "explains" y through 1 + d*g ~ 0);
                    # d from the two-column normal equations, the range of g from its extremes
                    with np.errstate(all="ignore"):
                        rn = np.linalg.norm(raw - raw.mean(axis=1, keepdims=True), axis=1)
                        d = (rg[None, :] - Gfg * rf[:, None]) / (1 - Gfg**2) * tn_ / rn[None, :]
                        lo = 1.0 + d * P[den_c].min(axis=1)[None, :]
                        hi = 1.0 + d * P[den_c].max(axis=1)[None, :]
                        tiny = np.minimum(np.abs(lo), np.abs(hi)) < 0.01 * np.maximum(np.abs(lo), np.abs(hi))
                        ex[~np.isfinite(d) | (lo * hi <= 0) | tiny] = -np.inf
                    ev = -ex.ravel()
                    top = np.argpartition(ev, 30)[:30] if ev.size > 30 else np.arange(ev.size)
                    flat = top[np.lexsort((top, ev[top]))]
                    pairs += [(int(num_c[a]), m + int(den_c[b])) for a, b in zip(*np.unravel_index(flat, ex.shape))
                              if np.isfinite(ex[a, b])]
                pairs = list(dict.fromkeys(pairs))
                real = [(lsq([feat(i) for i in pq], ts, pq)[1], q) for q, pq in enumerate(pairs)]
                seeded += [pairs[q] for e, q in sorted(real)[:6] if np.isfinite(e)]
        for step in range(depth):
            ext: dict[tuple[int, ...], float] = {}
            for sse, ids, r in states:
                if B.now() > deadline and finals:
                    break
                # orthogonal least squares: the gain of a term is its correlation with the residual
                # after removing what the current terms already explain
                num = np.abs(D @ r)
                if ids:
                    C = np.column_stack([feat(i) for i in ids])
                    C = C - C.mean(axis=0)
                    Q, _ = np.linalg.qr(C)
                    left = 1.0 - np.sum((D @ Q) ** 2, axis=1)
                    num = np.where(left > 1e-8, num / np.sqrt(np.clip(left, 1e-8, None)), 0.0)
                score = num - pen * np.linalg.norm(r)
                # plain terms and denominator terms compete separately (y*g always looks like y)
                wide = width * (3 if not ids else 1)  # a wider first step: greedy pursuit misses otherwise
                picks = list(np.argpartition(-score[:m], min(wide, m - 1))[:wide])
                for lv in levels:  # and the best few of every complexity, so simple terms are not crowded out
                    sl = score[:m][lv]
                    per = 6 if not ids else 2
                    picks += [int(lv[q]) for q in np.argpartition(-sl, min(per, len(sl) - 1))[:per]]
                picks = list(dict.fromkeys(int(q) for q in picks))
                if len(score) > m:
                    sr = score[m:]
                    picks += [m + int(q) for q in np.argpartition(-sr, min(width // 2, len(sr) - 1))[: width // 2]]
                for j in picks:
                    key = tuple(sorted(ids + (int(j),)))
                    if len(set(key)) < len(key) or key in ext:
                        continue
                    coef, sse2, _ = lsq([feat(i) for i in key], ts, key)
                    if coef is not None:
                        ext[key] = sse2 + 1e-12 * sum(comps[pid[i % m]] for i in key)
            best = sorted(((kk, v) for kk, v in ext.items() if np.isfinite(v) or len(kk) < depth),
                          key=lambda kv: kv[1])[:beam]
            if step == 1:
                best += [(tuple(sorted(pq)), 0.0) for pq in seeded if tuple(sorted(pq)) not in ext]
            if step == 2:
                best += [(tuple(sorted(pq)), 0.0) for pq in seeded3 if tuple(sorted(pq)) not in ext]
            states = []
            for key, _ in best:
                _, sse2, r = lsq([feat(i) for i in key], ts, key)
                if r is not None:
                    states.append((sse2, key, r))
                    finals.append((sse2, key))
            if not states:
                break
        finals.sort(key=lambda f: f[0])
        # the subsample (about 100 rows) ranks thousands of sets: with noise, look-alikes fit its noise
        # better than the law does. The 30 best sets and every seeded one are refitted on all rows,
        # and the 8 best there are kept, with the best 2 of each size (a third term always lowers the
        # error a little, and the true two-term law would drop out)
        pool_keys = list(dict.fromkeys([kk for _, kk in finals[:30]] + [tuple(sorted(pq)) for pq in seeded + seeded3]))
        full = []
        for kk in pool_keys:
            if B.now() > deadline + 0.5 and len(full) >= 8:
                break
            coef_all, sse_all, _ = lsq([feat(i, X, t) for i in kk], t, kk)
            full.append((sse_all, kk, coef_all))
        full.sort(key=lambda f: f[0])
        chosen: list[tuple[tuple[int, ...], np.ndarray | None]] = []
        per_size: dict[int, int] = {}
        for sse_all, key, coef in full:
            if not np.isfinite(sse_all):
                continue
            if len(chosen) < 8 or per_size.get(len(key), 0) < 2:
                chosen.append((key, coef))
                per_size[len(key)] = per_size.get(len(key), 0) + 1
        for key, coef in chosen:  # (coefficients already fitted on all rows above)
            if coef is None:
                continue
            num = sp.Float(coef[-1])
            den = sp.Integer(1)
            for c, i in zip(coef[:-1], key):
                term = res.to_sympy(int(pid[i % m]), symbols)
                if i < m:
                    num = num + sp.Float(c) * term
                else:
                    den = den + sp.Float(c) * term
            out.append(inv(num / den))
    return out


# --------------------------------------------------------------------------- pipeline
