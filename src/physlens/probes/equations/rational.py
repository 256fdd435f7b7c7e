"""Sparse ratios of polynomials ``P(x) / Q(x)`` by implicit sparse regression.

A law that is a ratio of polynomials in its inputs, ``y = P(x) / Q(x)``, is linear in its
coefficients once multiplied out: ``Q(x) y - P(x) = 0``. With a library of monomials
``theta_k(x)`` (all exponents up to a total degree), the columns ``theta_k(x)`` and
``theta_k(x) y`` hold a sparse linear relation: the implicit form of SINDy-PI (Kaheman, Kutz &
Brunton 2020). One monomial of ``Q`` (the *pivot*, tried in order of degree) is given the
coefficient 1; the others are found by a beam of orthogonal matching pursuit over supports of
up to ``max_terms`` columns (each step adds the column that best lowers the residual of the
orthogonalised least-squares fit; the ``beam`` best supports go on). Each support read out
explicitly, ``y = sum b_k theta_k / (theta_p + sum a_k theta_k)``, is scored on every row; the
sparsest accurate ones go to the polishing stage, which rounds their constants.

This catches what expression enumeration reaches only with many nodes: high powers
(Lennard-Jones ``4(u^12 - u^6)``, in one variable after the dimensional reduction), ratios of
sums (``2u / (1 - u^2/4)^2``, Michaelis-Menten, Rydberg's ``1/n1^2 - 1/n2^2``).

Written by hand: PySINDy's ``SINDyPI`` optimiser fits one model per library term with cvxpy (not
a dependency) and is built for derivatives of trajectories; here the library is small (at most
70 columns) and the beam needs only NumPy.

Example:
    >>> rng = np.random.default_rng(0); u = rng.uniform(0.5, 1.3, (400, 1))
    >>> fits = rational_candidates(u, 4 * u[:, 0] ** 12 - 4 * u[:, 0] ** 6, [sp.Symbol("u")])
    >>> sp.nsimplify(fits[0], tolerance=1e-9, rational=True)
    4*u**12 - 4*u**6
"""

from __future__ import annotations

from itertools import product

import numpy as np
import sympy as sp

from physlens.probes.equations import budget as B

#: the highest total degree of the monomial library, by number of inputs (about 13 to 35 monomials)
DEGREE = {1: 12, 2: 6, 3: 4, 4: 3}


def monomial_exponents(d: int, degree: int) -> list[tuple[int, ...]]:
    """Exponent tuples of the ``d``-variable monomials of total degree at most ``degree``, lowest first.

    Example:
        >>> monomial_exponents(2, 1)
        [(0, 0), (0, 1), (1, 0)]
    """
    return sorted((e for e in product(range(degree + 1), repeat=d) if sum(e) <= degree), key=lambda e: (sum(e), e))


def _common_factor(num: np.ndarray, den: np.ndarray, exps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Numerator and denominator with the monomial they share divided out (``S^2/(K S + S^2)`` is ``S/(K + S)``)."""
    used = exps[(num != 0) | (den != 0)]
    common = used.min(axis=0) if len(used) else np.zeros(exps.shape[1], dtype=int)
    if not common.any():
        return num, den
    index = {tuple(e): k for k, e in enumerate(exps)}
    n2, d2 = np.zeros_like(num), np.zeros_like(den)
    for k in np.flatnonzero((num != 0) | (den != 0)):
        j = index[tuple(exps[k] - common)]
        n2[j], d2[j] = num[k], den[k]
    return n2, d2


def _normaliser(num: np.ndarray, den: np.ndarray) -> float:
    """The denominator coefficient to divide by: the one that leaves every coefficient nearest a multiple of 1/2.

    ``P/Q`` is the same law for any common factor; polishing rounds each constant on its own, so the
    factor must make them simple: ``32u / (u^4 - 8u^2 + 16)`` rather than ``2u / (u^4/16 - u^2/2 + 1)``.
    """
    cs = np.concatenate([num[num != 0], den[den != 0]])

    def off(c: float) -> float:
        v = cs / c
        return float(np.sum(np.abs(v - np.round(2 * v) / 2) / np.maximum(1.0, np.abs(v))))

    options = [float(c) for c in den[den != 0]]
    return min(options, key=lambda c: (round(off(c), 3), -abs(c)))


def _prune(coefficients: np.ndarray, theta: np.ndarray, rel: float = 1e-6) -> np.ndarray:
    """Coefficients whose term never reaches ``rel`` of the polynomial's largest term set to 0.

    A fit to a piece that is nearly ``v/2`` can come out as ``(5 v^9 - 2.6e14 v) / (8 v^8 - 5.3e14)``:
    the high powers ride along at 1e-12 of the rest; dropped, the law is plain.
    """
    size = np.abs(theta * coefficients[None, :]).max(axis=0)
    out = coefficients.copy()
    out[size < rel * max(size.max(), 1e-300)] = 0.0
    return out


def _explicit(theta: np.ndarray, ty: np.ndarray, y: np.ndarray, p: int, others: list[int], S: tuple[int, ...],
              scale: float) -> tuple[float, np.ndarray, np.ndarray]:
    """Fit support ``S`` (columns: the monomials, then ``theta_k y`` for ``k`` in ``others``) implicitly; read it
    out as ``y = P/Q`` and return its relative RMSE with the coefficients of ``P`` and ``Q``."""
    K = theta.shape[1]
    A = np.column_stack([theta[:, j] if j < K else ty[:, others[j - K]] for j in S])
    coef, *_ = np.linalg.lstsq(A, ty[:, p], rcond=None)
    num, den = np.zeros(K), np.zeros(K)
    den[p] = 1.0
    for j, c in zip(S, coef):
        if j < K:
            num[j] += c
        else:
            den[others[j - K]] -= c
    return _ratio_error(theta, num, den, y, scale), num, den


def _ratio_error(theta: np.ndarray, num: np.ndarray, den: np.ndarray, y: np.ndarray, scale: float) -> float:
    """Relative RMSE of ``P/Q`` (coefficients on the monomials ``theta``) against ``y``; inf where it is not finite."""
    with np.errstate(all="ignore"):
        err = float(np.sqrt(np.mean(((theta @ num) / (theta @ den) - y) ** 2))) / scale
    return err if np.isfinite(err) else np.inf


def _pivot_fits(theta: np.ndarray, ty: np.ndarray, y: np.ndarray, p: int, scale: float, max_terms: int,
                beam: int) -> list[tuple[tuple[int, ...], float]]:
    """The best support of each size for pivot ``p``: a beam whose extensions are proposed by the implicit
    residual (orthogonalised gains) and ranked by the explicit error of ``P/Q`` (an implicit fit alone would
    let ``Q`` vanish on the data: ``y (1 - a u - b u^2 ...) ~ 0``)."""
    K = theta.shape[1]
    others = [k for k in range(K) if k != p]
    C = np.column_stack([theta, ty[:, others]])
    norms = np.linalg.norm(C, axis=0)
    ok = norms > 1e-12 * max(norms.max(), 1e-300)
    Cn = np.where(ok, C / np.where(ok, norms, 1.0), 0.0)
    t = ty[:, p]
    level: list[tuple[tuple[int, ...], float]] = [((), np.inf)]
    found: list[tuple[tuple[int, ...], float]] = []
    for _ in range(max_terms):
        scored: dict[tuple[int, ...], float] = {}
        for S, _e in level:
            idx = list(S)
            if idx:
                Qb, _r = np.linalg.qr(Cn[:, idx])
                P = Cn - Qb @ (Qb.T @ Cn)
                r = t - Qb @ (Qb.T @ t)
            else:
                P, r = Cn, t
            pn = np.linalg.norm(P, axis=0)
            usable = ok & (pn > 1e-8)
            usable[idx] = False
            if not any(j < K for j in S):
                usable[K:] = False  # no denominator term before a numerator term: P = 0 says nothing
            gain = np.where(usable, (P.T @ r) ** 2 / np.where(usable, pn, 1.0) ** 2, -1.0)
            for j in np.argsort(-gain)[: beam + 2]:
                key = tuple(sorted(S + (int(j),)))
                if gain[j] > 0 and key not in scored:
                    scored[key] = _explicit(theta, ty, y, p, others, key, scale)[0]
        # priced at the time it takes (one search of 3 inputs: about 1 s on a loaded core, 100,000 evaluations)
        B.tick(len(t) * (C.shape[1] + (beam + 2) * max_terms) * len(level) / 384.0)
        if not scored:
            break
        level = sorted(scored.items(), key=lambda kv: kv[1])[:beam]
        found.append(level[0])
        if level[0][1] <= 1e-12 or (len(found) >= 3 and level[0][1] > 0.5):
            break  # exact, or nowhere near after three terms
    return found


def rational_candidates(X: np.ndarray, y: np.ndarray, symbols: list[sp.Symbol], max_terms: int = 6, beam: int = 6,
                        keep: int = 4, rows: int = 400, seed: int = 0, max_seconds: float | None = None) -> list[sp.Expr]:
    """Sparse ``P(x) / Q(x)`` fits of ``y`` (1 to 4 inputs): the sparsest accurate ones, at most ``keep``.

    See the module docstring. The supports are searched on ``rows`` rows; a fit is kept when it explains
    the target to 5 % (relative RMSE on every row), is exact or not halved in error by one more term
    (a law, not an approximant), and is a fifth more accurate than every sparser kept fit; its constants
    are floats for the polishing stage. ``max_seconds`` (on the search's clock): no new pivot is tried after it.

    Example:
        >>> X = np.random.default_rng(1).uniform(0.1, 5, (300, 2)); S, K = sp.symbols("S K")
        >>> rational_candidates(X, 3 * X[:, 0] / (X[:, 1] + X[:, 0]), [S, K])[0]
        3.0*S/(K + S)
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n, d = X.shape
    if d not in DEGREE or n < 20 or not np.all(np.isfinite(X)) or not np.all(np.isfinite(y)):
        return []
    scale = float(np.sqrt(np.mean(y**2)))
    if scale == 0:
        return []
    exps = np.array(monomial_exponents(d, DEGREE[d]))
    with np.errstate(all="ignore"):
        theta = np.stack([np.prod(X ** e.astype(float), axis=1) for e in exps], axis=1)
    if not np.all(np.isfinite(theta)):
        return []
    sub = np.sort(np.random.default_rng(seed).choice(n, size=min(rows, n), replace=False))
    K = len(exps)
    ty = theta * y[:, None]
    fits: list[tuple[int, float, int, tuple]] = []
    # the pivot, the denominator's term fixed to 1: every monomial in one variable (``(1 - u^6)/u^12``), else
    # those of degree at most 2 (a pure high power of one input stands for the others' zero)
    t0 = B.now()
    for p in [k for k, e in enumerate(exps) if d == 1 or e.sum() <= 2]:
        if max_seconds is not None and B.now() - t0 > max_seconds:
            break
        others = [k for k in range(K) if k != p]
        found = _pivot_fits(theta[sub], ty[sub], y[sub], p, scale, max_terms, beam)
        for i, (S, e_sub) in enumerate(found):
            # a law, not an approximant: exact, or one more term no longer halves the error (a smooth law that
            # is no ratio of polynomials, a Gaussian, is approached term after term at a steady rate)
            if not (e_sub <= 1e-9 or (i + 1 < len(found) and found[i + 1][1] > 0.5 * e_sub)):
                continue
            err, num, den = _explicit(theta, ty, y, p, others, S, scale)
            pruned = _prune(num, theta), _prune(den, theta)
            if not np.array_equal(pruned[0], num) or not np.array_equal(pruned[1], den):
                num, den = pruned
                err = _ratio_error(theta, num, den, y, scale)
            if err <= 0.05:
                num, den = _common_factor(num, den, exps)
                degree = int(exps[(num != 0) | (den != 0)].sum())
                fits.append((len(S), err, degree, (tuple(num), tuple(den))))
    fits.sort(key=lambda f: (f[0], f[1] if f[1] > 1e-9 else 0.0, f[2]))
    monos = [sp.Mul(*[s ** int(k) for s, k in zip(symbols, e)]) for e in exps]
    out: list[sp.Expr] = []
    best = np.inf
    for _size, err, _deg, (num, den) in fits:  # the Pareto front of (terms, error): each beats every sparser one
        if err < 0.8 * best and len(out) < keep:
            lead = _normaliser(np.array(num), np.array(den))
            out.append(_polynomial(num, monos, lead) / _polynomial(den, monos, lead))
            best = err
    return out


def _polynomial(coefficients: tuple, monos: list[sp.Expr], lead: float) -> sp.Expr:
    """``sum c_k / lead * theta_k`` with a coefficient of 1 written as the integer (not a float to polish)."""
    return sp.Add(*[(1 if abs(c / lead - 1) < 1e-12 else sp.Float(c / lead)) * m
                    for c, m in zip(coefficients, monos) if c != 0])
