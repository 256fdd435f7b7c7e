"""Dimensional analysis for equation search: Buckingham pi groups from a nullspace computation.

Given SI dimension vectors of the inputs and of the target (units parsed with
pint by :mod:`physlens.data.units`), any physical law ``y = f(x)`` can be
written ``y = prod(x_r ** p_r) * g(pi_1, ..., pi_k)`` where the ``pi_i`` are
dimensionless products of powers of the inputs (Buckingham 1914; used as the
first step of AI Feynman, Udrescu & Tegmark 2020). ``k = d - rank(D)`` where
``D`` is the dimension matrix. The pi groups span the nullspace of ``D``; among
all choices of "repeating" variables we pick the one that makes the groups
and the prefactor simplest (smallest total absolute exponent, integer
exponents preferred), so the reduced problem is as easy as possible.
Exponents are exact rationals (SymPy ``Rational``).

Example:
    >>> red = buckingham_pi({"m": "kg", "v": "m/s", "r": "m"}, ["m", "v", "r"], "N")
    >>> red.prefactor_expr(), red.groups
    (m*v**2/r, [])
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import sympy as sp

from physlens.data.units import SI_BASE, dimension_vector
from physlens.errors import DataError


@dataclass
class DimensionalReduction:
    """The result of :func:`buckingham_pi`.

    Attributes:
        names: input names, in column order.
        prefactor: exponents (one per input) of the monomial carrying the target's units.
        groups: exponent vectors (one per dimensionless group); each is a list of Fractions.
        rank: rank of the dimension matrix.

    Example:
        >>> r = DimensionalReduction(names=["a", "b"], prefactor=[Fraction(1), Fraction(0)], groups=[], rank=1)
        >>> r.names
        ['a', 'b']
    """

    names: list[str]
    prefactor: list[Fraction]
    groups: list[list[Fraction]]
    rank: int

    def _monomial(self, exps: list[Fraction]) -> sp.Expr:
        out = sp.Integer(1)
        for name, e in zip(self.names, exps):
            if e != 0:
                out *= sp.Symbol(name, real=True) ** sp.Rational(e.numerator, e.denominator)
        return out

    def prefactor_expr(self) -> sp.Expr:
        """The prefactor monomial as a SymPy expression in the input symbols."""
        return self._monomial(self.prefactor)

    def group_exprs(self) -> list[sp.Expr]:
        """Each dimensionless group as a SymPy expression in the input symbols."""
        return [self._monomial(g) for g in self.groups]

    def transform(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Values of (prefactor, groups) on the rows of ``X``: arrays (n,) and (n, k)."""
        with np.errstate(all="ignore"):
            def mono(exps):
                out = np.ones(len(X))
                for j, e in enumerate(exps):
                    if e != 0:
                        f = float(e)
                        out = out * (X[:, j] ** int(f) if f == int(f) else np.abs(X[:, j]) ** f)
                return out

            pre = mono(self.prefactor)
            G = np.column_stack([mono(g) for g in self.groups]) if self.groups else np.zeros((len(X), 0))
        return pre, G


def _frac(v: float) -> Fraction:
    return Fraction(v).limit_denominator(12)


def _dimension_matrix(units: dict[str, str], inputs: list[str], target_unit: str, target: str):
    """(D restricted to the base dimensions in use, target vector, those bases' names, rank of D)."""
    missing = [c for c in inputs if c not in units]
    if missing:
        raise DataError(f"units are needed for every input for dimensional analysis; missing: {', '.join(missing)}")
    D = np.column_stack([dimension_vector(units[c], column=c) for c in inputs]) if inputs else np.zeros((7, 0))
    yv = dimension_vector(target_unit, column=target)
    used = np.any(D != 0, axis=1) | (yv != 0)
    D, yv, base = D[used], yv[used], [b for b, u in zip(SI_BASE, used) if u]
    rank = int(np.linalg.matrix_rank(D)) if D.size else 0
    return D, yv, base, rank


def _unexplained(D: np.ndarray, yv: np.ndarray) -> np.ndarray:
    """The part of ``yv`` that no combination of the columns of ``D`` gives (zero when the units close)."""
    if not D.size:
        return yv.copy()
    sol, *_ = np.linalg.lstsq(D, yv, rcond=None)
    return yv - D @ sol


def missing_dimensions(units: dict[str, str], inputs: list[str], target_unit: str, target: str = "y") -> np.ndarray | None:
    """None when a product of powers of the inputs has the target's units; else the unexplained SI vector.

    The vector (exponents of :data:`~physlens.data.units.SI_BASE`) is the least-squares
    residual: what a dimensional constant must at least supply.

    Example:
        >>> missing_dimensions({"a": "m", "M": "kg"}, ["a", "M"], "s").tolist()
        [0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0]
        >>> missing_dimensions({"m": "kg", "v": "m/s"}, ["m", "v"], "J") is None
        True
    """
    D, yv, base, _ = _dimension_matrix(units, inputs, target_unit, target)
    resid = _unexplained(D, yv)
    if not np.any(np.abs(resid) > 1e-9):
        return None
    out = np.zeros(len(SI_BASE))
    for b, r in zip(base, resid):
        out[SI_BASE.index(b)] = 0.0 if abs(r) < 1e-12 else float(r)
    return out


def buckingham_pi(units: dict[str, str], inputs: list[str], target_unit: str, target: str = "y") -> DimensionalReduction:
    """Reduce ``target = f(inputs)`` to dimensionless groups (the simplest basis; see :func:`pi_bases`).

    Example:
        >>> red = buckingham_pi({"x": "m", "t": "s", "L": "m"}, ["x", "t", "L"], "m/s")
        >>> red.prefactor_expr(), red.group_exprs()
        (x/t, [L/x])
    """
    return pi_bases(units, inputs, target_unit, target, k=1)[0]


def pi_bases(units: dict[str, str], inputs: list[str], target_unit: str, target: str = "y",
             k: int = 3) -> list[DimensionalReduction]:
    """The ``k`` simplest Buckingham-pi reductions of ``target = f(inputs)``.

    Args:
        units: unit (pint string) per input name; every input needs one.
        inputs: input names in column order.
        target_unit: unit of the target.
        target: the target's name (for error messages).

    Returns the ``k`` simplest distinct choices of repeating variables (prefactor and groups
    differ), simplest first: the search tries several because the best prefactor for a
    law (``m*c**2`` rather than ``m*v**2``) is not known in advance.

    Raises:
        DataError: a unit is missing or unknown, or no product of powers of the inputs has
            the target's dimensions (the message names the missing dimension).

    Example:
        >>> red = buckingham_pi({"x": "m", "t": "s", "L": "m"}, ["x", "t", "L"], "m/s")
        >>> red.prefactor_expr(), red.group_exprs()
        (x/t, [L/x])
    """
    D, yv, base, rank = _dimension_matrix(units, inputs, target_unit, target)
    d = len(inputs)
    resid = _unexplained(D, yv)
    if np.any(np.abs(resid) > 1e-9):
        bad = [f"{b}^{r:+g}" for b, r in zip(base, resid) if abs(r) > 1e-9]
        raise DataError(
            f"units do not match: the target {target!r} has units {target_unit!r}, but no product of powers of the "
            f"inputs ({', '.join(f'{c}={units[c]}' for c in inputs)}) has those dimensions (missing {' '.join(bad)})"
        )
    found: list[tuple] = []
    if rank == 0:
        return [DimensionalReduction(list(inputs), [Fraction(0)] * d,
                                     [[Fraction(int(i == j)) for i in range(d)] for j in range(d)], 0)]
    for S in itertools.combinations(range(d), rank):
        DS = D[:, S]
        if np.linalg.matrix_rank(DS) < rank:
            continue
        pinv = np.linalg.pinv(DS)
        pre_s = pinv @ yv
        if np.any(np.abs(DS @ pre_s - yv) > 1e-9):
            continue
        groups = []
        for j in range(d):
            if j in S:
                continue
            coef = pinv @ D[:, j]
            g = [Fraction(0)] * d
            g[j] = Fraction(1)
            for s, cval in zip(S, coef):
                g[s] = -_frac(cval)
            groups.append(g)
        pre = [Fraction(0)] * d
        for s, cval in zip(S, pre_s):
            pre[s] = _frac(cval)
        exps = [e for g in groups for e in g] + pre
        cost = sum(abs(float(e)) for e in exps) + 2 * sum(e.denominator != 1 for e in exps)
        found.append((cost, len(found), pre, groups))
    if not found:  # pragma: no cover - rank guarantees a basis exists
        raise DataError("dimensional analysis failed: no independent set of inputs spans the units")
    found.sort(key=lambda t: (t[0], t[1]))
    out: list[DimensionalReduction] = []
    keys: set = set()
    for _, _, pre, groups in found:
        key = (tuple(pre), tuple(sorted(tuple(g) for g in groups)))
        if key in keys:
            continue
        keys.add(key)
        out.append(DimensionalReduction(list(inputs), pre, groups, rank))
        if len(out) >= k:
            break
    return out


def expression_dimension(expr: sp.Expr, dims: dict[str, np.ndarray]) -> np.ndarray | None:
    """SI dimension vector of ``expr`` given one per symbol name; None when the formula is inconsistent.

    Sums need equal dimensions; functions (exp, sin, ...) need dimensionless arguments.

    Example:
        >>> m, v = sp.symbols("m v", real=True)
        >>> expression_dimension(m * v**2 / 2, {"m": dimension_vector("kg"), "v": dimension_vector("m/s")}).tolist()
        [2.0, -2.0, 1.0, 0.0, 0.0, 0.0, 0.0]
        >>> expression_dimension(m + v, {"m": dimension_vector("kg"), "v": dimension_vector("m/s")}) is None
        True
    """
    zero = np.zeros(len(SI_BASE))

    def walk(e: sp.Expr):
        if e.is_Symbol:
            return dims.get(e.name, zero)
        if e.is_Number or e.is_NumberSymbol:
            return zero
        if e.is_Add:
            ds = [walk(a) for a in e.args]
            if any(d is None for d in ds):
                return None
            return ds[0] if all(np.allclose(d, ds[0], atol=1e-9) for d in ds) else None
        if e.is_Mul:
            out = zero
            for a in e.args:
                d = walk(a)
                if d is None:
                    return None
                out = out + d
            return out
        if e.is_Pow:
            b, x = e.args
            db, dx = walk(b), walk(x)
            if db is None or dx is None or np.any(np.abs(dx) > 1e-9):
                return None
            if x.is_Number:
                return db * float(x)
            return zero if np.all(np.abs(db) < 1e-9) else None
        ds = [walk(a) for a in e.args]
        if any(d is None or np.any(np.abs(d) > 1e-9) for d in ds):
            return None
        return zero

    return walk(expr)


def _log_design(L: np.ndarray, degree: int) -> np.ndarray:
    """Columns 1, L and every product of up to ``degree`` columns of ``L`` (a polynomial basis)."""
    cols = [np.ones(len(L))]
    m = L.shape[1]
    for deg in range(1, degree + 1):
        for combo in itertools.combinations_with_replacement(range(m), deg):
            cols.append(np.prod(L[:, list(combo)], axis=1))
    return np.column_stack(cols)


def constant_reductions(units: dict[str, str], inputs: list[str], target_unit: str, X: np.ndarray, y: np.ndarray,
                        target: str = "y", k: int = 3) -> list[tuple[DimensionalReduction, np.ndarray]]:
    """Reductions ``y = c * prod(x_s ** q_s) * g(pi groups)`` when the units do not close (one fitted constant ``c``).

    When no product of powers of the inputs has the target's units, the law needs a
    dimensional constant (Kepler's third law needs G). With one constant ``c`` the pi groups
    are still those of the inputs alone (``c`` is the only factor with the missing dimension,
    so it can enter no dimensionless group); what the units no longer fix is the prefactor
    ``prod(x_s ** q_s)`` over a set ``S`` of repeating inputs (as many as the rank of the
    dimension matrix). Its exponents are read from the data: ``log|y|`` is exactly linear in
    ``log|x_s|`` once the groups are held fixed, so a least-squares fit of ``log|y|`` on
    ``log|x_s|`` and a polynomial (degree <= 3) in the ``log`` of the groups gives ``q``, which
    is rounded to the simplest rationals within 0.06 (integers, halves, thirds, quarters). The constant's units are
    then ``units(y) - sum(q_s units(x_s))``.

    Returns up to ``k`` pairs (reduction, SI vector of the constant's units), simplest basis
    first; [] when the rows cannot be read on a log scale (fewer than 10 nonzero rows).

    Example:
        >>> rng = np.random.default_rng(0); X = rng.uniform(1, 10, (60, 2))
        >>> T = 2 * np.pi * np.sqrt(X[:, 0] ** 3 / (6.67e-11 * X[:, 1]))
        >>> red, c_units = constant_reductions({"a": "m", "M": "kg"}, ["a", "M"], "s", X, T)[0]
        >>> red.prefactor_expr(), c_units.tolist()[:3]
        (a**(3/2)/sqrt(M), [-1.5, 1.0, 0.5])
    """
    D, yv, base, rank = _dimension_matrix(units, inputs, target_unit, target)
    d = len(inputs)
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    # candidate bases: every set of `rank` inputs that spans the inputs' dimensions, simplest groups first
    bases = []
    for S in itertools.combinations(range(d), rank):
        if rank and np.linalg.matrix_rank(D[:, S]) < rank:
            continue
        pinv = np.linalg.pinv(D[:, S]) if rank else np.zeros((0, D.shape[0]))
        groups = []
        for j in range(d):
            if j in S:
                continue
            g = [Fraction(0)] * d
            g[j] = Fraction(1)
            for s, cval in zip(S, pinv @ D[:, j]):
                g[s] = -_frac(cval)
            groups.append(g)
        exps = [e for g in groups for e in g]
        cost = sum(abs(float(e)) for e in exps) + 2 * sum(e.denominator != 1 for e in exps)
        bases.append((cost, len(bases), S, groups))
    bases.sort(key=lambda t: (t[0], t[1]))
    scale = np.max(np.abs(y)) if len(y) else 0.0
    out: list[tuple[DimensionalReduction, np.ndarray]] = []
    seen: set = set()
    for _, _, S, groups in bases:
        red0 = DimensionalReduction(list(inputs), [Fraction(0)] * d, groups, rank)
        _, G = red0.transform(X)
        with np.errstate(all="ignore"):
            XS = X[:, list(S)]
            ok = (np.abs(y) > 1e-12 * scale) & np.all(XS != 0, axis=1) & np.all(np.isfinite(G), axis=1) & np.all(G != 0, axis=1)
            if ok.sum() < 10:
                continue
            Lg = np.log(np.abs(G[ok]))
            LS = np.log(np.abs(XS[ok]))
        m = Lg.shape[1]
        degree = 3 if m <= 2 else 2 if m <= 4 else 1
        while degree > 0 and 1 + rank + sum(math.comb(m + q - 1, q) for q in range(1, degree + 1)) > ok.sum() // 2:
            degree -= 1
        A = np.column_stack([LS, _log_design(Lg, degree)]) if m else np.column_stack([LS, np.ones(ok.sum())])
        coef, *_ = np.linalg.lstsq(A, np.log(np.abs(y[ok])), rcond=None)
        q_fit = coef[:rank]
        if not np.all(np.isfinite(q_fit)):
            continue
        # the simplest rationals that the fit supports: integers, halves, thirds, quarters
        for max_den in (1, 2, 3, 4):
            q = [Fraction(float(v)).limit_denominator(max_den) for v in q_fit]
            if any(abs(float(a) - b) > 0.06 for a, b in zip(q, q_fit)):
                continue
            pre = [Fraction(0)] * d
            for s, e in zip(S, q):
                pre[s] = e
            key = (tuple(pre), tuple(sorted(tuple(g) for g in groups)))
            if key in seen:
                continue
            seen.add(key)
            c_vec = np.zeros(len(SI_BASE))
            closed = yv - (D[:, list(S)] @ np.array([float(e) for e in q]) if rank else 0.0)
            for b, v in zip(base, closed):
                c_vec[SI_BASE.index(b)] = 0.0 if abs(v) < 1e-12 else float(v)
            out.append((DimensionalReduction(list(inputs), pre, groups, rank), c_vec))
            break  # one rounding per basis: the closest simple one
        if len(out) >= k:
            break
    return out
