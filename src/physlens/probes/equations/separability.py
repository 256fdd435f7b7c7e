"""Separability read from the data with an additive (ANOVA) model, no network.

AI Feynman (Udrescu & Tegmark 2020, Sci. Adv. 6, eaay2631) splits a law
``f = g(x_A) * h(x_B)`` (or ``g + h``) into smaller problems; it tests this on a
fitted network (:mod:`.oracle`). Most separable laws can also be recognised
directly from the rows: fit the response (``log|y|`` for products, ``y`` for sums)
with a second-order ANOVA expansion

    r(x) ~ c + sum_j s_j(u_j) + sum_{i<j} s_ij(u_i, u_j)

(Chebyshev polynomials in ``u_j = log|x_j|`` for one-signed inputs, so that
power laws are linear, else in ``x_j``), by linear least squares. An input ``j`` is
*separable* when dropping all its interaction terms does not raise the
held-out error; the separable inputs form one-variable factors (or terms)
``s_j`` and the others one block. Each one-variable piece is solved by a small
search on ``exp(s_j)`` (``s_j``), the block on the real data with the pieces
divided out (subtracted), every piece is then searched again on the real data
with the others divided out (so no piece keeps the polynomial's approximation
error), and the combination's constants are refitted on the data. A one-signed law measured
with additive noise crosses zero at its smallest values: those rows are left out of
the ``log|y|`` fit and the others weighted by ``y**2`` (:func:`~.candidates.one_signed_rows`), so the
product test still applies at 1 % noise (``g exp(-r/a)/r``).

Written by hand: the test is a few least-squares fits (NumPy); no library does it.
"""

from __future__ import annotations

import itertools
from math import comb

import numpy as np
import sympy as sp

from physlens.probes.equations import simplify as S
from physlens.probes.equations import budget as B
from physlens.probes.equations.candidates import one_signed_rows


def _coordinates(X: np.ndarray) -> np.ndarray:
    """Each column mapped to [-1, 1]: ``log|x|`` for one-signed columns that span a factor > 1.5, else ``x``."""
    U = np.empty_like(X, dtype=np.float64)
    for j in range(X.shape[1]):
        x = X[:, j]
        u = x
        if np.all(x > 0) or np.all(x < 0):
            ax = np.abs(x)
            if ax.max() / ax.min() > 1.5:
                u = np.log(ax)
        lo, hi = float(u.min()), float(u.max())
        U[:, j] = 2 * (u - lo) / (hi - lo) - 1 if hi > lo else 0.0
    return U


def _cheb(u: np.ndarray, degree: int) -> np.ndarray:
    """Chebyshev polynomials T_1 .. T_degree of ``u`` as columns."""
    T = [np.ones_like(u), u]
    for _ in range(2, degree + 1):
        T.append(2 * u * T[-1] - T[-2])
    return np.column_stack(T[1 : degree + 1])


def _design(U: np.ndarray, coupled: set[int], degree: int, pair_degree: int):
    """ANOVA design matrix: intercept, one-variable terms of every input, pair terms among ``coupled``."""
    d = U.shape[1]
    single = [_cheb(U[:, j], degree) for j in range(d)]
    low = [_cheb(U[:, j], pair_degree) for j in range(d)]
    blocks = [np.ones((len(U), 1))] + single
    owner = [-1] + list(range(d))
    for i, j in itertools.combinations(sorted(coupled), 2):
        P = (low[i][:, :, None] * low[j][:, None, :]).reshape(len(U), -1)
        blocks.append(P)
        owner.append(-2)
    return blocks, owner


def _fit_error(blocks, r, train, test):
    A = np.concatenate(blocks, axis=1)
    coef, *_ = np.linalg.lstsq(A[train], r[train], rcond=None)
    e = r[test] - A[test] @ coef
    return float(np.sqrt(np.mean(e**2))), coef


def separable_split(X: np.ndarray, y: np.ndarray, kind: str = "mul", seed: int = 0, ratio: float = 1.03,
                    max_inputs: int = 12) -> tuple[list[int], list[int], list[np.ndarray]] | None:
    """Inputs that enter ``y`` as separate factors (``kind="mul"``) or terms (``"add"``), read from the data.

    Returns ``(singles, block, pieces)``: the separable inputs, the remaining (coupled)
    inputs, and for each single input its piece on the rows (``exp(s_j)``, a factor up
    to a constant, or ``s_j``, a term up to a constant); None when the law does not
    split (fewer than one separable input next to at least one other input, or the
    product form does not apply because ``y`` changes sign).

    Example:
        >>> X = np.random.default_rng(0).uniform(1, 3, (600, 3))
        >>> singles, block, pieces = separable_split(X, X[:, 0] ** 2 * np.exp(-X[:, 1] * X[:, 2]))
        >>> singles, block
        ([0], [1, 2])
    """
    n, d = X.shape
    if d < 2 or d > max_inputs or n < 60:
        return None
    U_all = _coordinates(X)
    U, w = U_all, None
    if kind == "mul":
        rows, w = one_signed_rows(y)
        if rows is None:
            return None
        U, r = U_all[rows], np.log(np.abs(y[rows]))
    else:
        r = np.asarray(y, dtype=np.float64)
    sd = float(np.std(r)) if w is None else float(np.sqrt(w @ (r - w @ r / w.sum()) ** 2 / w.sum()))
    if not np.isfinite(sd) or sd == 0:
        return None
    if w is not None:  # weighted least squares: each row scaled by sqrt(w), the test errors weighted alike
        sw = np.sqrt(w / w.mean())
        r = r * sw
    n = len(r)
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)
    cut = int(0.7 * n)
    train, test = np.sort(perm[:cut]), np.sort(perm[cut:])
    # richer one-variable terms when there are few inputs (the pair terms take the room otherwise)
    degree = 10 if d <= 6 else 8
    pair_degree = 3 if d <= 6 else 2

    def design(coupled):  # the ANOVA design, its rows weighted alike
        blocks, _ = _design(U, coupled, degree, pair_degree)
        return blocks if w is None else [b * sw[:, None] for b in blocks]

    floor = 1e-9 * sd
    coupled = set(range(d))
    blocks = design(coupled)
    e_cur, _ = _fit_error(blocks, r, train, test)
    if e_cur > 0.03 * sd:  # the second-order model itself does not describe y well: no verdict
        return None
    singles = []
    for j in range(d):
        trial = coupled - {j}
        blocks = design(trial)
        e_j, _ = _fit_error(blocks, r, train, test)
        # compared with the current model (dropping terms that only fit noise lowers the held-out error)
        if e_j <= ratio * e_cur + floor:
            singles.append(j)
            coupled = trial
            e_cur = min(e_cur, e_j)
    block = sorted(coupled)
    if not singles or (len(singles) == 1 and not block) or d - len(singles) == d:
        return None
    if len(block) == 1:  # one input left over is a piece of its own
        singles, block = sorted(singles + block), []
    blocks = design(set(block))
    A = np.concatenate(blocks, axis=1)
    coef, *_ = np.linalg.lstsq(A, r, rcond=None)
    pieces = []
    for j in singles:  # (on every row, also those a one-signed law's noise took across zero)
        s = _cheb(U_all[:, j], degree) @ coef[1 + j * degree : 1 + (j + 1) * degree]
        pieces.append(np.exp(s - s.mean()) if kind == "mul" else s)
    return singles, block, pieces


def _power_piece(x: np.ndarray, piece: np.ndarray, symbol: sp.Symbol, kind: str) -> sp.Expr | None:
    """``x**p`` (mul; ``log|x|`` for add) when the piece is a power law with a simple exponent, else None."""
    from fractions import Fraction

    if not (np.all(x > 0) or np.all(x < 0)) or np.ptp(np.log(np.abs(x))) == 0:
        return None
    lx = np.log(np.abs(x))
    s = np.log(piece) if kind == "mul" else piece
    if not np.all(np.isfinite(s)):
        return None
    A = np.column_stack([lx, np.ones_like(lx)])
    coef, *_ = np.linalg.lstsq(A, s, rcond=None)
    resid = s - A @ coef
    if np.std(s) == 0 or np.std(resid) > 2e-2 * np.std(s):
        return None
    if kind == "add":
        return sp.log(symbol)
    p = Fraction(float(coef[0])).limit_denominator(4)
    if p == 0 or abs(float(p) - coef[0]) > 0.01 * max(1.0, abs(float(p))):
        return None
    base = symbol if np.all(x > 0) or p.denominator == 1 else -symbol
    return base ** sp.Rational(p.numerator, p.denominator)


def _search(X, y, names, budget, seed, parent, symmetry=False, k=3):
    """The ``k`` best formulas for one piece: monomial fit and enumeration (with sums), by error on ``y``.

    (No rational fits: a piece is read off an additive polynomial model, and a ratio of six terms would
    follow that model's wiggles, ``v/2`` becoming ``(v^10/pi - 1e14 v)/(5 v^8 - 4e14)``.)

    No polishing here: the recombined law is polished once, on the real data, by the caller.
    """
    from physlens.probes.equations.candidates import enumeration_candidates, monomial_candidates

    syms = [sp.Symbol(nm, real=True) for nm in names]
    cols = {nm: X[:, j] for j, nm in enumerate(names)}
    cands = list(monomial_candidates(X, y, syms))
    scale = float(np.sqrt(np.mean(y**2)))
    if not any(S.rmse(e, cols, y) <= 1e-9 * scale for e in cands):
        cands += enumeration_candidates(X, y, syms, max(0.2, budget), seed,
                                        parent.max_complexity if parent is not None else 12)
    scored = []
    for e in dict.fromkeys(cands):
        err = S.rmse(e, cols, y)
        if np.isfinite(err):
            scored.append((err, S.complexity(e), e))
    scored.sort(key=lambda t: (t[0], t[1]))
    if not scored:
        raise ValueError("no piece formula could be evaluated")
    return [e for _, _, e in scored[:k]]


def _combine(kind, exprs, cols, y):
    """Constant (mul) or linear coefficients (add) of the pieces fitted on the data; None if undefined."""
    if kind == "mul":
        prod = sp.Mul(*exprs)
        v = S.evaluate(prod, cols)
        if not np.all(np.isfinite(v)) or not np.any(v):
            return None
        return sp.Float(float(v @ y / (v @ v))) * prod
    F = [S.evaluate(e, cols) for e in exprs]
    A = np.column_stack(F + [np.ones(len(y))])
    if not np.all(np.isfinite(A)):
        return None
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    return sum((sp.Float(float(a)) * e for a, e in zip(coef[:-1], exprs)), sp.Float(float(coef[-1])))


def _divide_out(kind, y, others, cols):
    """The real target with the other pieces divided out (mul) or subtracted (add, least squares)."""
    if not others:
        return y
    if kind == "mul":
        v = S.evaluate(sp.Mul(*others), cols)
        with np.errstate(all="ignore"):
            t = y / v
    else:
        F = np.column_stack([S.evaluate(e, cols) for e in others] + [np.ones(len(y))])
        if not np.all(np.isfinite(F)):
            return None
        coef, *_ = np.linalg.lstsq(F, y, rcond=None)
        t = y - F[:, :-1] @ coef[:-1]
    if not np.all(np.isfinite(t)) or np.ptp(t) <= 1e-12 * (np.abs(t).max() + 1e-300):
        return None
    return t


def separable_candidates(X: np.ndarray, y: np.ndarray, names: list[str], time_limit: float, seed: int = 0,
                         parent=None) -> list[sp.Expr]:
    """Candidate laws from a product (or sum) split found by :func:`separable_split`, each piece searched alone.

    ``parent`` is the calling :class:`~physlens.probes.equations.search.EquationSearch`
    (its ``max_complexity`` is inherited). Returns [] when the data do not split or time is short.

    Example:
        >>> X = np.random.default_rng(0).uniform(1, 3, (500, 3))
        >>> y = X[:, 0] ** 2 / np.sin(X[:, 1] / 2) ** 4 * X[:, 2]
        >>> cands = separable_candidates(X, y, ["a", "b", "c"], 6)
        >>> cols = {"a": X[:, 0], "b": X[:, 1], "c": X[:, 2]}
        >>> bool(min(S.rmse(c, cols, y) for c in cands) < 1e-8 * np.abs(y).max())
        True
    """
    t_end = B.now() + time_limit
    cols = {nm: X[:, j] for j, nm in enumerate(names)}
    scale = float(np.sqrt(np.mean(y**2)))
    out: list[sp.Expr] = []
    for kind in ("mul", "add"):
        if B.now() > t_end - 0.5:
            break
        split = separable_split(X, y, kind=kind, seed=seed)
        if split is None:
            continue
        singles, block, pieces = split
        n_parts = len(singles) + (1 if block else 0)
        # 1. one-variable pieces from the additive model; a pure power is read off directly
        powers = [_power_piece(X[:, j], piece, sp.Symbol(names[j], real=True), kind)
                  for j, piece in zip(singles, pieces)]
        hard = sum(p is None for p in powers) + (1 if block else 0)
        found: list[list[sp.Expr]] = []
        for j, piece, pw in zip(singles, pieces, powers):
            if pw is not None:
                found.append([pw])
                continue
            left = t_end - B.now()
            if left < 0.5:
                return out
            try:  # a first guess from the additive model; searched again on the real data below
                found.append(_search(X[:, [j]], piece, [names[j]], 0.25 * left / hard, seed, parent,
                                     symmetry=False))
            except Exception:  # a piece the search cannot handle: the split is dropped
                found = []
                break
            hard -= 1
        if len(found) < len(singles):
            continue
        best = [f[0] for f in found]
        # 2. the coupled block on the real data, the pieces divided out (exact when the pieces are)
        block_exprs: list[sp.Expr] = []
        if block:
            t = _divide_out(kind, y, best, cols)
            if t is None:
                continue
            try:
                block_exprs = _search(X[:, block], t, [names[j] for j in block],
                                      0.6 * (t_end - B.now()), seed, parent, symmetry=True)
            except Exception:
                continue
        # 3. each one-variable piece again on the real data, the others divided out
        parts = best + block_exprs[:1]
        redo_left = sum(p is None for p in powers)
        for q, j in enumerate(singles):
            whole = _combine(kind, parts, cols, y)
            if whole is not None:
                out.append(whole)
                if S.rmse(whole, cols, y) <= 1e-9 * scale:
                    break
            if powers[q] is not None:
                continue
            left = t_end - B.now()
            if left < 0.5:
                break
            t = _divide_out(kind, y, [p for i, p in enumerate(parts) if i != q], cols)
            if t is None:
                continue
            try:
                redo = _search(X[:, [j]], t, [names[j]], 0.8 * left / redo_left, seed, parent,
                               symmetry=False)
            except Exception:
                continue
            redo_left -= 1
            parts[q] = redo[0]
            found[q] = list(dict.fromkeys(redo + found[q]))
        whole = _combine(kind, parts, cols, y)
        if whole is not None:
            out.append(whole)
        # alternatives: the block's other candidates, then each piece's second choice
        for alt in block_exprs[1:]:
            e = _combine(kind, parts[: len(singles)] + [alt], cols, y)
            if e is not None:
                out.append(e)
        for q in range(len(singles)):
            for alt in found[q][1:2]:
                e = _combine(kind, parts[:q] + [alt] + parts[q + 1 :], cols, y)
                if e is not None:
                    out.append(e)
        if out and min(S.rmse(e, cols, y) for e in out) <= 1e-9 * scale:
            break
    return out


# --------------------------------------------------------------------------- pair symmetries from a polynomial surrogate
def _monomial_exponents(d: int, degree: int) -> np.ndarray:
    out = [e for e in itertools.product(range(degree + 1), repeat=d) if 0 < sum(e) <= degree] if d <= 4 else None
    if out is None:  # combinations with replacement: faster for many inputs
        out = []
        for k in range(1, degree + 1):
            for combo in itertools.combinations_with_replacement(range(d), k):
                e = [0] * d
                for c in combo:
                    e[c] += 1
                out.append(tuple(e))
    return np.array(sorted(set(out)), dtype=np.int64).reshape(-1, d)


def surrogate_gradient(X: np.ndarray, y: np.ndarray, rows: np.ndarray, max_terms: int | None = None,
                       log: bool | None = None, max_degree: int = 5) -> tuple[np.ndarray, float]:
    """Gradient of a least-squares polynomial fit of ``y`` or of ``log|y|`` at ``X[rows]``.

    The total degree is the largest (at most ``max_degree``) whose number of terms stays below
    ``max_terms`` (default: 40 % of the rows). Returns the gradients (len(rows), d) and the
    fit's relative held-out error (a gradient test is only as good as the fit). ``log|y|`` (for a
    one-signed ``y``; its gradient is parallel, so the symmetry tests are unchanged) is used when
    it fits better: power laws and ratios are smoother in logarithms. ``log=True`` / ``False`` takes
    that choice (True needs a one-signed ``y``): a caller that needs the gradient itself, not its
    direction, knows then which one it got.

    Example:
        >>> X = np.random.default_rng(0).uniform(1, 2, (400, 2))
        >>> g, err = surrogate_gradient(X, X[:, 0] * X[:, 1], np.arange(3))
        >>> bool(np.allclose(g, X[:3, ::-1], rtol=1e-6)), err < 1e-6  # grad(x0*x1) = (x1, x0)
        (True, True)
    """
    n, d = X.shape
    max_terms = int(0.4 * n) if max_terms is None else max_terms
    lo, hi = X.min(axis=0), X.max(axis=0)
    half = np.where(hi > lo, (hi - lo) / 2, 1.0)
    U = (X - (lo + hi) / 2) / half
    degree = 1
    while degree < max_degree and len(_monomial_exponents(d, degree + 1)) + 1 <= max_terms:
        degree += 1
    E = _monomial_exponents(d, degree)

    def design(V):
        # Chebyshev tensor products are better conditioned than plain monomials
        T = np.empty((degree + 1,) + V.shape)
        T[0], T[1] = 1.0, V
        for k in range(2, degree + 1):
            T[k] = 2 * V * T[k - 1] - T[k - 2]
        cols = np.ones((len(V), len(E)))
        for j in range(d):
            cols *= T[E[:, j], :, j].T
        return np.column_stack([np.ones(len(V)), cols]), T

    A, _ = design(U)
    perm = np.random.default_rng(0).permutation(n)
    cut = int(0.8 * n)
    responses = [np.asarray(y, dtype=np.float64)] if not log else []
    if log is not False and (np.all(y > 0) or np.all(y < 0)):
        responses.append(np.log(np.abs(y)))
    if not responses:
        raise ValueError("log=True needs a target of one sign")
    fits = []
    for r in responses:
        coef, *_ = np.linalg.lstsq(A[perm[:cut]], r[perm[:cut]], rcond=None)
        fits.append((float(np.sqrt(np.mean((A[perm[cut:]] @ coef - r[perm[cut:]]) ** 2)) / (np.std(r) + 1e-300)),
                     len(fits), r))
    err, _, r = min(fits)
    coef, *_ = np.linalg.lstsq(A, r, rcond=None)
    V = U[rows]
    _, T = design(V)
    # derivatives of Chebyshev polynomials: T_k' = k U_{k-1}
    Ucheb = np.zeros_like(T)
    Ucheb[0] = 1.0
    if degree >= 1:
        Ucheb[1] = 2 * V
    for k in range(2, degree):
        Ucheb[k] = 2 * V * Ucheb[k - 1] - Ucheb[k - 2]
    dT = np.zeros_like(T)
    for k in range(1, degree + 1):
        dT[k] = k * Ucheb[k - 1]
    G = np.zeros((len(rows), d))
    for i in range(d):
        cols = np.ones((len(rows), len(E)))
        for j in range(d):
            cols *= (dT if j == i else T)[E[:, j], :, j].T
        G[:, i] = cols @ coef[1:] / half[i]
    return G, err


def surrogate_pair_symmetries(X: np.ndarray, y: np.ndarray, same_kind: np.ndarray | None = None, tol: float = 0.02,
                              n: int = 300, max_error: float = 0.05) -> list[tuple[str, int, int, float]]:
    """Pairs ``(kind, i, j, residual)`` (kinds ``minus, plus, times, divide``) read from a polynomial's gradient.

    AI Feynman's gradient tests (as :func:`.oracle.pair_symmetries`: ``g_i + g_j = 0`` for a law
    of ``x_i - x_j``, ``x_i g_i - x_j g_j = 0`` for ``x_i * x_j``, ...) on a least-squares
    polynomial of the data (:func:`surrogate_gradient`) instead of a trained network: it costs
    milliseconds and works for many inputs (9 and more), where nearest neighbours are too
    sparse. No verdict (``[]``) when the polynomial does not fit the data to ``max_error``.
    ``same_kind[i, j]`` (optional) allows sums and differences only between like inputs.
    Each pair appears once, with its clearest kind, best first.

    Example:
        >>> X = np.random.default_rng(0).uniform(1, 3, (600, 4))
        >>> y = X[:, 2] * np.exp(-(X[:, 0] - X[:, 1]) / 3) + X[:, 3]
        >>> [s[:3] for s in surrogate_pair_symmetries(X, y)][:1]
        [('minus', 0, 1)]
    """
    d = X.shape[1]
    if d < 2 or len(X) < 60:
        return []
    rows = np.sort(np.random.default_rng(1).choice(len(X), size=min(n, len(X)), replace=False))
    G, err = surrogate_gradient(X, y, rows)
    for k in (8, 10, 12):  # a higher degree, as the rows allow, while it cuts the held-out error by a fifth
        if comb(d + k, k) + 1 > 0.4 * len(X):
            break
        G2, err2 = surrogate_gradient(X, y, rows, max_degree=k)
        if not err2 < 0.8 * err:
            break
        G, err = G2, err2
    if not np.isfinite(err) or err > max_error:
        return []
    # a gradient is only as good as the fit: with noise (1 % on snell's law: a held-out error of 1.8 %, the
    # true ratio n1/n2 at 0.027) the test allows twice the fit's error, up to 0.05
    tol = min(max(tol, 2.0 * err), 0.05)
    Xs = X[rows]
    best: dict[tuple[int, int], tuple] = {}
    for i, j in itertools.combinations(range(d), 2):
        gi, gj, xi, xj = G[:, i], G[:, j], Xs[:, i], Xs[:, j]
        tests = [("times", xi * gi - xj * gj, np.abs(xi * gi) + np.abs(xj * gj)),
                 ("divide", xi * gi + xj * gj, np.abs(xi * gi) + np.abs(xj * gj))]
        if same_kind is None or same_kind[i, j]:
            tests = [("minus", gi + gj, np.abs(gi) + np.abs(gj)), ("plus", gi - gj, np.abs(gi) + np.abs(gj))] + tests
        for kind, num, den in tests:
            scale = float(np.mean(den))
            if scale <= 0 or not np.isfinite(scale):
                continue
            res = float(np.mean(np.abs(num)) / scale)
            if res < tol and res < best.get((i, j), (None, None, None, np.inf))[3]:
                best[(i, j)] = (kind, i, j, res)
    return sorted(best.values(), key=lambda t: t[3])
