"""Scaling stage: the units a law keeps without being told them, read from the data, then Buckingham pi.

A physical law is homogeneous in its units: scaling every input by a power of a factor
``lambda`` scales the target by a power too, ``f(lambda^a_1 x_1, ..., lambda^a_d x_d) =
lambda^b f(x)``. With units given, the dimensional stage knows these exponents; without them
they can still be read from the data. Differentiating at lambda = 1 gives Euler's relation

    sum_i a_i x_i df/dx_i = b f        (or, for a one-signed f, sum_i a_i x_i dlog|f|/dx_i = b),

linear in (a, b): the scalings are the null space of the matrix whose rows are
``(x_i df/dx_i ..., -f)`` at the data points. The gradient comes from the same least-squares
polynomial surrogate as the pair symmetries (:func:`~physlens.probes.equations.separability.surrogate_gradient`;
no network). The null space is brought to reduced row-echelon form and its entries rounded to
halves and thirds; a rounded scaling is kept when Euler's relation holds for it to ``tol`` of
its terms' size, the test AI Feynman applies to one pair of inputs (``x_i * x_j``, a scaling
of two inputs that keeps ``f``), here to all inputs at once. Each kept scaling becomes one
pseudo-dimension (``m``, ``s``, ``kg``, ...) of the inputs and the target, and the problem is
searched again with these units by a sub-search (same class and default stages, without the
oracle): the dimensional stage then turns ``I = nu^3 / (exp(nu/T) - 1)`` (one scaling, nu and
T alike, I as their cube) into ``I = nu^3 g(T/nu)``, a law of one variable.

Written by hand: pint and SymPy's dimensional tools need the units given, and AI Feynman's
released code tests scaling only for pairs of inputs; reading all the exponents at once is a
small null-space problem on top of the engine's own surrogate.

When the polynomial reads no scaling (none of the allowed degrees fits an oscillating law such as
``exp(-g t) cos(w t)`` over a few periods; or it fits within 5 % but its gradients are too rough, as for
``n0 (1 + p E cos(theta) / (k T))``), the oracle's network is fitted here (and kept for the oracle
stage) and its autodiff gradients give the rows instead (:func:`_network_euler_rows`); unless the
search was told ``oracle=False``. Measured: without units, 18 of 20 stratified Feynman problems at
30 s against 17 when the network is asked only where no polynomial fits.

The stage runs only when the user gave no units (with units the dimensional stage already
does this, with the true exponents). Its formulas compete with every other stage's on the
Pareto front: a scaling the data only nearly have costs time, never the answer.

Example:
    >>> from physlens.probes.equations import EquationSearch, stages
    >>> rng = np.random.default_rng(0); X = rng.uniform(0.5, 3, (600, 2))
    >>> y = X[:, 0] ** 3 / (np.exp(X[:, 0] / X[:, 1]) - 1)
    >>> [e.tolist() for e in scaling_symmetries(X, y)]
    [[1.0, 1.0, 3.0]]
"""

from __future__ import annotations

from fractions import Fraction
from math import comb, lcm

import numpy as np
import sympy as sp

from physlens.linalg import row_echelon
from physlens.probes.equations import budget as B
from physlens.probes.equations.stages.base import SearchState, StageBudget

#: pseudo-dimensions, one per scaling found (pint's base units, so the dimensional stage reads them as units)
PSEUDO_UNITS = ("m", "s", "kg", "K", "A", "mol", "cd")


def _euler_rows(X: np.ndarray, y: np.ndarray, n: int, seed: int) -> tuple[np.ndarray, float]:
    """Rows (x_i g_i ..., -h) of Euler's relation at ``n`` data points, and the surrogate's error.

    The polynomial's degree (up to 14, as the rows allow) is the one with the smallest held-out
    error: a smooth law wants a high degree for accurate gradients (Planck's law: a gradient
    error of 3 % at degree 5, 0.06 % at 10; Lennard-Jones ``4 eps ((s/r)^12 - (s/r)^6)``
    reads its scaling of eps to 6 % of Euler's terms at degree 10, 0.4 % at 14), a noisy one a lower degree.
    """
    from physlens.probes.equations.separability import surrogate_gradient

    rows = np.sort(np.random.default_rng(seed).choice(len(X), size=min(n, len(X)), replace=False))
    one_signed = bool(np.all(y > 0) or np.all(y < 0))
    d = X.shape[1]
    # the degrees the rows allow (as surrogate_gradient counts terms), each tried once, until the error rises
    allowed = [k for k in (4, 6, 8, 10, 12, 14) if comb(d + k, k) <= 0.4 * len(X)] or [4]
    G, err = surrogate_gradient(X, y, rows, log=one_signed, max_degree=allowed[0])
    for k in allowed[1:]:
        G2, err2 = surrogate_gradient(X, y, rows, log=one_signed, max_degree=k)
        if not err2 < err:
            break
        G, err = G2, err2
    h = np.ones(len(rows)) if one_signed else y[rows]
    return np.column_stack([X[rows] * G, -h]), err


def _network_euler_rows(model, X: np.ndarray, y: np.ndarray, n: int, seed: int) -> tuple[np.ndarray, float]:
    """Rows of Euler's relation from a fitted network's own values and gradients (torch autodiff), and its error.

    The fallback when no polynomial of the degrees the rows allow fits: an oscillating law
    (``exp(-g t) cos(w t)`` over a few periods) is beyond a degree-10 polynomial in three
    inputs, not beyond a small MLP.
    """
    import torch

    from physlens.autodiff import batch_gradient

    rows = np.sort(np.random.default_rng(seed).choice(len(X), size=min(n, len(X)), replace=False))
    p = next(model.parameters())
    with torch.no_grad():
        f = model(torch.as_tensor(X, dtype=p.dtype, device=p.device)).cpu().numpy().astype(np.float64)[:, 0]
    err = float(np.sqrt(np.mean((f - y) ** 2)) / max(np.std(y), 1e-300))
    G = batch_gradient(model, X[rows])
    fr = f[rows]
    if np.all(fr > 0) or np.all(fr < 0):  # one-signed: Euler's relation of log|f|
        return np.column_stack([X[rows] * G / fr[:, None], -np.ones(len(rows))]), err
    return np.column_stack([X[rows] * G, -fr]), err


def _residual(M: np.ndarray, e: np.ndarray) -> float:
    """Euler's relation for exponents ``e``: mean |M e| over the mean size of its terms.

    The size is at least the target's own term with the largest exponent: scaling an input the law
    does not depend on (its column is ~0) is a symmetry, not a relation of size 0.
    """
    size = float(np.mean(np.maximum(np.abs(M * e).sum(axis=1), np.abs(M[:, -1]) * np.abs(e).max())))
    return float(np.mean(np.abs(M @ e)) / size) if size > 0 else np.inf


def _rounded(v: np.ndarray, denominators: tuple[int, ...] = (1, 2, 3)) -> np.ndarray:
    """Entries rounded to the nearest multiple of 1/q for q in ``denominators`` (whichever is closer), made whole."""
    out = []
    for x in v:
        best = min((Fraction(round(x * q), q) for q in denominators), key=lambda f: (abs(float(f) - x), f.denominator))
        out.append(best)
    m = lcm(*(f.denominator for f in out))
    return np.array([float(f * m) for f in out])


def scaling_symmetries(X: np.ndarray, y: np.ndarray, tol: float = 0.02, n: int = 400, max_error: float = 0.05,
                       seed: int = 0, model=None) -> list[np.ndarray]:
    """Integer exponents ``(a_1, ..., a_d, b)`` of the independent scalings ``f(lambda^a x) = lambda^b f(x)``.

    See the module docstring. ``[]`` when the surrogate misses the data by more than
    ``max_error`` (relative), when fewer than 30 rows or no scaling holds to ``tol``. The
    surrogate is the polynomial, or with ``model`` that fitted network (:func:`_network_euler_rows`).

    Example:
        >>> X = np.random.default_rng(1).uniform(1, 3, (500, 3))  # A exp(-E/T): A alone, and E with T
        >>> [e.tolist() for e in scaling_symmetries(X, X[:, 0] * np.exp(-X[:, 1] / X[:, 2]))]
        [[1.0, 0.0, 0.0, 1.0], [0.0, 1.0, 1.0, 0.0]]
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    d = X.shape[1]
    if len(X) < 30 or d < 1:
        return []
    M, err = _euler_rows(X, y, n, seed) if model is None else _network_euler_rows(model, X, y, n, seed)
    if not np.isfinite(err) or err > max_error or not np.isfinite(M).all():
        return []
    # columns on one common scale: an input the law ignores keeps its ~0 column (a clean null direction)
    _, sv, Vt = np.linalg.svd(M / np.sqrt(np.mean(M**2)), full_matrices=True)
    sv = np.concatenate([sv, np.zeros(Vt.shape[0] - len(sv))])
    # the null space's dimension: the largest k whose k smallest directions all read as scalings that hold
    for k in range(int(np.sum(sv <= 10 * tol * sv[0])), 0, -1):
        kept = _read_scalings(Vt[-k:], M, d, tol)
        if len(kept) == k:
            return kept[: len(PSEUDO_UNITS)]
    return []


def _read_scalings(null: np.ndarray, M: np.ndarray, d: int, tol: float) -> list[np.ndarray]:
    """Rounded scalings from a basis of the null space: reduced row-echelon form (pivots on the inputs in
    order), entries to halves and thirds, each kept when Euler's relation holds for it and it is independent."""
    A, _ = row_echelon(null.T, list(range(d + 1)), tol=0.2)
    kept: list[np.ndarray] = []
    for v in A:
        # whole numbers first, then halves, then thirds: the first rounding that holds is kept (a direction
        # read as (0, 1, 1, 0.3) from an inexact gradient is (0, 1, 1, 0) when that holds, not (0, 3, 3, 1):
        # terms that cancel, s dV/ds + r dV/dr = 0 for Lennard-Jones, make a small error look relatively small)
        e = next((r for r in (_rounded(v, q) for q in ((1,), (1, 2), (1, 2, 3)))
                  if np.any(r[:d]) and _residual(M, r) <= tol), None)
        if e is None:
            continue
        if kept and np.linalg.matrix_rank(np.vstack(kept + [e])) <= len(kept):
            continue
        kept.append(e)
    return kept


def pseudo_units(exponents: list[np.ndarray], names: list[str], target: str) -> dict[str, str]:
    """Units (pint text) of the inputs and the target with one pseudo-dimension per scaling.

    Example:
        >>> pseudo_units([np.array([1.0, 1.0, 3.0])], ["nu", "T"], "I")
        {'nu': 'm**1', 'T': 'm**1', 'I': 'm**3'}
    """
    out = {}
    for j, nm in enumerate(list(names) + [target]):
        parts = [f"{PSEUDO_UNITS[k]}**{int(e[j])}" for k, e in enumerate(exponents) if e[j] != 0]
        out[nm] = "*".join(parts) if parts else "1"
    return out


class Scaling:
    """Search the problem again with the units its scaling symmetries imply (no units given, 2 to 10 inputs)."""

    name = "scaling"

    def run(self, state: SearchState, budget: StageBudget) -> None:
        """Append the unit-aware sub-search's formulas as origin ``scaling+<its origin>``."""
        est = state.search
        d = state.X.shape[1]
        if (not getattr(est, "scaling", True) or state.units is not None or not 2 <= d <= 10
                or state.exact_found() or state.remaining() < 2):
            return
        exps = scaling_symmetries(state.X, state.target, seed=state.seed)
        if not exps and est.oracle is not False and state.remaining() > 10:
            # no polynomial fits (or none shows a scaling): the oracle's network, fitted here and kept for the
            # oracle stage, reads the gradients instead
            from physlens.probes.equations.oracle import fit_oracle

            model = state.flags.get("oracle_model")
            if model is None:
                model = fit_oracle(state.X, state.target, state.names, seed=state.seed,
                                   time_budget=min(0.35 * state.remaining(), 25.0))
                state.flags["oracle_model"] = model
            exps = scaling_symmetries(state.X, state.target, seed=state.seed, model=model)
        # a scaling of single inputs only (y = x0 g(x1)) is the separability stage's; a law of two
        # or more variables scaled together is what units would reduce
        if not any(np.count_nonzero(e[:d]) >= 2 for e in exps):
            return
        units = pseudo_units(exps, state.names, state.tname)
        user = [str(state.user(sp.Symbol(n, real=True))) for n in state.names] + [est.target_name]
        state.flags["scalings"] = [{nm: int(v) for nm, v in zip(user, e) if v != 0} for e in exps]
        state.log("scaling: the data keep " + "; ".join(
            " ".join(f"{nm}^{v}" for nm, v in sc.items()) for sc in state.flags["scalings"]))
        t_end = B.now() + budget.seconds
        try:
            sub = type(est)(time_limit=max(1.0, t_end - B.now()), units=units, variable_names=state.names,
                            target_name=state.tname, seed=state.seed, max_complexity=est.max_complexity,
                            selection_tolerance=est.selection_tolerance, constant_tolerance=est.constant_tolerance,
                            oracle=False, symmetry=est.symmetry, separability=est.separability,
                            dimensional_constant=False)
            sub.fit(state.X, state.target)
        except Exception:  # a degenerate reduced problem: no candidates
            return
        best = [sub.expression_] + [c.expression for c in sorted(sub.candidates_, key=lambda c: c.rmse)[:5]]
        state.add(list(dict.fromkeys(best)), f"scaling+{sub.origin_}")
