"""Discrete symmetries of a trained network: reflections, sign flips (Z2), permutations, lattice shifts.

Candidates are built from the shape of the data alone (never from the truth):
sign flips of single inputs and of all inputs, swaps of two columns (all pairs up
to 120 of them; beyond that — a grid or a lattice — neighbouring and mirror
pairs only), reversal of
the input vector (parity of a lattice / grid), cyclic shifts by one site (a
lattice translation), and — when ``meta["particles"]`` describes particle-major
columns — swaps of whole particles, reflections of one spatial axis of every
vector, and sign flips of one kind of vector (e.g. ``v -> -v``). For vector
outputs the output action is found, not assumed: the signed permutation
``P`` of the outputs closest to ``f(T x) ~ P f(x)`` (Hungarian assignment,
``scipy.optimize.linear_sum_assignment``); for a scalar output ``P = +-1``.
Each candidate then faces the error-calibrated significance test of
:mod:`physlens.probes.symmetry.transform_test`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from physlens.probes.symmetry.transform_test import SymmetryContext, TestResult, predict, transform_test


@dataclass
class Candidate:
    """A discrete input transform ``x -> T x`` with a name."""

    name: str
    T: np.ndarray


def _perm_matrix(perm: list[int]) -> np.ndarray:
    n = len(perm)
    P = np.zeros((n, n))
    P[np.arange(n), perm] = 1.0  # (P x)_i = x_perm[i]
    return P


def particle_columns(meta: dict, n: int) -> list[dict] | None:
    """Column layout of particle-major data (see the data conventions), or None.

    Each entry: ``{"columns": [...], "vectors": {name: [cols per axis]}, "scalars": {name: col}}``.

    Example:
        >>> meta = {"particles": {"n": 2, "dim": 2, "vectors": ["pos"], "scalars": ["m"]}}
        >>> particle_columns(meta, 6)[1]["vectors"]["pos"]
        [3, 4]
    """
    p = (meta or {}).get("particles")
    if not isinstance(p, dict):
        return None
    try:
        N, dim = int(p["n"]), int(p["dim"])
        vecs, scal = list(p.get("vectors", [])), list(p.get("scalars", []))
    except (KeyError, TypeError, ValueError):
        return None
    per = len(vecs) * dim + len(scal)
    if per * N != n or per == 0:
        return None
    out = []
    for i in range(N):
        base = i * per
        vmap = {v: list(range(base + a * dim, base + (a + 1) * dim)) for a, v in enumerate(vecs)}
        smap = {s: base + len(vecs) * dim + a for a, s in enumerate(scal)}
        out.append({"columns": list(range(base, base + per)), "vectors": vmap, "scalars": smap})
    return out


def candidate_transforms(names: list[str], meta: dict | None = None, max_swaps: int = 120) -> list[Candidate]:
    """Discrete transforms worth testing for inputs ``names`` (and particle layout in ``meta``).

    Example:
        >>> [c.name for c in candidate_transforms(["a", "b"])]
        ['flip a', 'flip b', 'flip all inputs', 'swap a <-> b']
    """
    n = len(names)
    cands: list[Candidate] = []
    eye = np.eye(n)
    for j in range(n):
        T = eye.copy()
        T[j, j] = -1.0
        cands.append(Candidate(f"flip {names[j]}", T))
    if n > 1:
        cands.append(Candidate("flip all inputs", -eye))
    swaps = [(i, j) for i in range(n) for j in range(i + 1, n)]
    if len(swaps) > max_swaps:
        # many columns (a grid, a lattice): neighbours and mirror pairs only
        swaps = sorted({(i, i + 1) for i in range(n - 1)} | {(i, n - 1 - i) for i in range(n // 2)})
    for i, j in swaps:
        perm = list(range(n))
        perm[i], perm[j] = j, i
        cands.append(Candidate(f"swap {names[i]} <-> {names[j]}", _perm_matrix(perm)))
    if n > 2:
        cands.append(Candidate("reverse input order", _perm_matrix(list(range(n))[::-1])))
        cands.append(Candidate("cyclic shift by one", _perm_matrix([(i + 1) % n for i in range(n)])))
    parts = particle_columns(meta or {}, n)
    if parts and len(parts) > 1:
        for a in range(len(parts)):
            for b in range(a + 1, len(parts)):
                perm = list(range(n))
                for ca, cb in zip(parts[a]["columns"], parts[b]["columns"]):
                    perm[ca], perm[cb] = cb, ca
                cands.append(Candidate(f"swap particles {a} <-> {b}", _perm_matrix(perm)))
    if parts:
        dim = len(next(iter(parts[0]["vectors"].values()), []))
        for axis in range(dim):
            T = eye.copy()
            for p in parts:
                for cols in p["vectors"].values():
                    T[cols[axis], cols[axis]] = -1.0
            cands.append(Candidate(f"reflect axis {axis} of every vector", T))
        for v in parts[0]["vectors"]:
            T = eye.copy()
            for p in parts:
                for c in p["vectors"][v]:
                    T[c, c] = -1.0
            cands.append(Candidate(f"flip sign of every {v} vector", T))
    # drop duplicates (e.g. a particle swap equal to a column swap when each particle has one column)
    seen, unique = set(), []
    for c in cands:
        key = c.T.tobytes()
        if key not in seen:
            seen.add(key)
            unique.append(c)
    return unique


def output_action(F_img: np.ndarray, F_src: np.ndarray) -> np.ndarray:
    """Signed permutation ``P`` (k x k) minimising ``|F_img - F_src P^T|^2`` (scaled outputs).

    Example:
        >>> F = np.random.default_rng(0).normal(size=(50, 2))
        >>> output_action(F[:, ::-1] * [1, -1], F).tolist()
        [[0.0, 1.0], [-1.0, 0.0]]
    """
    k = F_src.shape[1]
    plus = ((F_img[:, :, None] - F_src[:, None, :]) ** 2).mean(axis=0)
    minus = ((F_img[:, :, None] + F_src[:, None, :]) ** 2).mean(axis=0)
    cost = np.minimum(plus, minus)
    rows, cols = linear_sum_assignment(cost)
    P = np.zeros((k, k))
    for r, c in zip(rows, cols):
        P[r, c] = 1.0 if plus[r, c] <= minus[r, c] else -1.0
    return P


def discrete_symmetries(
    ctx: SymmetryContext, candidates: list[Candidate], test_samples: int = 2000, seed: int = 0
) -> list[tuple[Candidate, np.ndarray, TestResult]]:
    """Test every candidate; return ``(candidate, output_transform, result)`` for each testable one.

    Example:
        >>> import torch
        >>> class Even(torch.nn.Module):
        ...     def __init__(self): super().__init__(); self.w = torch.nn.Parameter(torch.ones(1))
        ...     def forward(self, x): return self.w * x[:, :1] ** 2 + x[:, 1:]
        >>> X = np.random.default_rng(0).uniform(-1, 1, (500, 2)); Y = X[:, :1] ** 2 + X[:, 1:] + 0.01
        >>> ctx = SymmetryContext.build(Even(), X, Y)
        >>> [(c.name, r.symmetric) for c, P, r in discrete_symmetries(ctx, candidate_transforms(["x", "y"]))]
        [('flip x', True), ('flip y', False), ('flip all inputs', False), ('swap x <-> y', False)]
    """
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(ctx.X), size=min(test_samples, len(ctx.X)), replace=False)
    Xs = ctx.X[idx]
    F_src = ctx.F[idx] / ctx.ysd
    out = []
    for cand in candidates:
        X_img = Xs @ cand.T.T
        # the output action is chosen on a half of the points and tested on the other half
        F_img = predict(ctx.model, X_img) / ctx.ysd
        half = len(idx) // 2
        P = output_action(F_img[:half], F_src[:half])
        res = transform_test(ctx, idx[half:], X_img[half:], P)
        if res is not None:
            out.append((cand, P, res))
    return out
