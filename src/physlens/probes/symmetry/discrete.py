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

from physlens.clock import past
from physlens.probes.symmetry.transform_test import (
    SymmetryContext,
    TestResult,
    contrast_test,
    predict,
    resolved,
    transform_test,
)


@dataclass
class Candidate:
    """A discrete input transform ``x -> T x`` with a name.

    Example:
        >>> Candidate("flip x0", np.diag([-1.0, 1.0])).T[0, 0]
        np.float64(-1.0)
    """

    name: str
    T: np.ndarray



#: particle vector names that are odd under time reversal (velocities, momenta)
TIME_ODD_VECTORS = frozenset({"vel", "v", "velocity", "p", "mom", "momentum"})

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
            # velocities and momenta change sign when time runs backwards: name the move for what it is
            odd = (v.lower() in TIME_ODD_VECTORS
                   and ((meta or {}).get("particles") or {}).get("metric", "euclidean") == "euclidean")
            cands.append(Candidate(f"time reversal (flip sign of every {v} vector)" if odd
                                   else f"flip sign of every {v} vector", T))
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


def control_moves(X: np.ndarray, T: np.ndarray, sd: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    """Control moves for the candidate ``x -> T x``: the same columns moved by comparable random amounts.

    First choice: each point is moved, in the columns ``T`` changes, by a random direction
    with the same length (in standardised units) as its own displacement ``T x - x`` (one
    moved column: the opposite displacement). Second choice, for data whose values lie on a
    lattice (spins, counts) where such moves leave the data: the moved columns shuffled
    across rows (independently per column), which keeps every column's values.

    Example:
        >>> X = np.random.default_rng(0).normal(size=(5, 3))
        >>> moves = control_moves(X, np.diag([-1.0, 1.0, 1.0]), np.ones(3), np.random.default_rng(0))
        >>> np.allclose(moves[0][:, 0], 3 * X[:, 0]), np.allclose(moves[0][:, 1:], X[:, 1:])
        (True, True)
    """
    n = X.shape[1]
    moved = np.flatnonzero(np.any(np.abs(T[:, :n] - np.eye(n)) > 0, axis=1))
    if len(moved) == 0:
        return []
    shuffled = X.copy()
    for c in moved:
        shuffled[:, c] = X[rng.permutation(len(X)), c]
    if lattice_valued(X[:, moved]):
        return [shuffled]
    D = (X @ T[:, :n].T - X) / sd  # standardised displacement
    D = D[:, moved]
    if len(moved) == 1:
        U = -D
    else:
        U = rng.normal(size=D.shape)
        U *= np.linalg.norm(D, axis=1, keepdims=True) / np.linalg.norm(U, axis=1, keepdims=True)
    first = X.copy()
    first[:, moved] += U * sd[moved]
    return [first, shuffled]


def lattice_valued(X: np.ndarray) -> bool:
    """Whether every column takes few distinct values (at most ``sqrt(rows)``: spins, counts, labels).

    Moves by continuous random amounts leave such data, so controls shuffle values instead.

    Example:
        >>> lattice_valued(np.random.default_rng(0).choice([-1.0, 1.0], (400, 3)))
        True
    """
    limit = max(2, int(np.sqrt(len(X))))
    return all(len(np.unique(X[:, j])) <= limit for j in range(X.shape[1]))


def discrete_symmetries(
    ctx: SymmetryContext, candidates: list[Candidate], test_samples: int = 2000, seed: int = 0,
    deadline: float | None = None,
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
        if past(deadline):
            break
        X_img = Xs @ cand.T.T
        # the output action is chosen on a half of the points and tested on the other half
        F_img = predict(ctx.model, X_img) / ctx.ysd
        half = len(idx) // 2
        P = output_action(F_img[:half], F_src[:half])
        # points the transform leaves in place (equal spins swapped, a zero flipped) say nothing
        te = half + np.flatnonzero(np.any(np.abs(X_img[half:] - Xs[half:]) > 1e-9 * ctx.sd, axis=1))
        res = transform_test(ctx, idx[te], X_img[te], P)
        if res is None:
            continue
        if res.symmetric:
            # power: the network must resolve moves of that size in those columns (a contrast with a
            # control move); otherwise the candidate passed only because nothing there matters
            contrast = None
            for X_ctrl in control_moves(Xs[te], cand.T, ctx.sd, rng):
                contrast = contrast_test(ctx, idx[te], X_img[te], X_ctrl, P)
                if contrast is not None and contrast.control is not None:
                    break
            res.contrast = contrast
            if not resolved(contrast, ctx.alpha):
                res.symmetric, res.undetermined = False, True
        out.append((cand, P, res))
    return out
