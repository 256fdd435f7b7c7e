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
    missing = [c for c in inputs if c not in units]
    if missing:
        raise DataError(f"units are needed for every input for dimensional analysis; missing: {', '.join(missing)}")
    D = np.column_stack([dimension_vector(units[c], column=c) for c in inputs])  # (7, d)
    yv = dimension_vector(target_unit, column=target)
    used = np.any(D != 0, axis=1) | (yv != 0)
    D, yv, base = D[used], yv[used], [b for b, u in zip(SI_BASE, used) if u]
    d = len(inputs)
    rank = int(np.linalg.matrix_rank(D)) if D.size else 0
    if D.size:
        sol, *_ = np.linalg.lstsq(D, yv, rcond=None)
        resid = D @ sol - yv
    else:
        sol, resid = np.zeros(d), yv
    if np.any(np.abs(resid) > 1e-9):
        bad = [f"{b}^{r:+g}" for b, r in zip(base, -resid) if abs(r) > 1e-9]
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
