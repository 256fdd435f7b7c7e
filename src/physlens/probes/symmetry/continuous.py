"""Lie generators of the symmetries a trained network respects (LieGG-style).

Follows Moskalev, Sepliarskaia, Sosnovik & Smeulders (2022), "LieGG: Studying
learned Lie group generators": for a network ``f`` and an affine vector field
``V(x) = L x + b``, infinitesimal invariance ``grad f(x) . V(x) = 0`` is *linear*
in the unknown matrix ``[L | b]``. Stacking the condition over the data gives a
constraint matrix whose (near) null space is the Lie algebra of affine
symmetries of the network. Here:

* rows are ``kron(grad f(x), [x, 1])`` (torch.func Jacobians through
  :func:`physlens.autodiff.batch_jacobian`), in standardised coordinates for
  conditioning and **whitened** so that the Frobenius norm of a candidate equals
  the RMS displacement it causes on the data: the singular values are then the
  RMS rate of change of the standardised output per standard deviation moved;
* vector outputs may transform too (equivariance): ``J(x) V(x) = M f(x)``;
  the unknown output generator ``M`` is eliminated by projecting the rows
  onto the complement of the span of the outputs (variable projection), and
  recovered afterwards by least squares;
* candidates (eigenvectors of the Gram matrix, smallest first) are accepted
  while their finite flow ``exp(A)`` passes the error-calibrated test of
  :mod:`physlens.probes.symmetry.transform_test` — the threshold comes from the
  network's own residuals, not from a hand-picked singular-value cut;
* accepted generators are mapped back exactly to the user's original
  coordinates (``x = D z + mu``: ``L = D Lz D^-1``, ``b = D bz - L mu``) and put
  into reduced row-echelon form for reading.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla

from physlens.autodiff import batch_jacobian
from physlens.probes.symmetry.transform_test import SymmetryContext, TestResult, transform_test


@dataclass
class LieResult:
    """Accepted generators and the evidence behind them (original coordinates)."""

    generators: list[np.ndarray]  # n x (n+1) [L | b]
    output_generators: list[np.ndarray] | None  # k x k, when equivariance was allowed
    rates: np.ndarray  # linear rate of every candidate (ascending), target std per input std
    tests: list[dict]  # finite-flow test of every candidate examined
    flows: list[tuple[np.ndarray, np.ndarray | None, float]]  # (A_z, M_s, t) of accepted candidates


def standardised_to_original(A_z: np.ndarray, mu: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """Map a generator ``[Lz | bz]`` acting on ``z = (x - mu) / sd`` to ``[L | b]`` acting on ``x``.

    Example:
        >>> A = np.array([[0.0, -1.0, 0.5], [1.0, 0.0, 0.0]])
        >>> mu, sd = np.array([1.0, 2.0]), np.array([2.0, 3.0])
        >>> bool(np.allclose(original_to_standardised(standardised_to_original(A, mu, sd), mu, sd), A))
        True
    """
    Lz, bz = A_z[:, :-1], A_z[:, -1]
    L = (sd[:, None] * Lz) / sd[None, :]
    b = sd * bz - L @ mu
    return np.hstack([L, b[:, None]])


def original_to_standardised(A: np.ndarray, mu: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """Inverse of :func:`standardised_to_original`.

    Example:
        >>> A = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
        >>> original_to_standardised(A, np.zeros(2), np.ones(2)).tolist()
        [[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    """
    L, b = A[:, :-1], A[:, -1]
    Lz = L * sd[None, :] / sd[:, None]
    bz = (b + L @ mu) / sd
    return np.hstack([Lz, bz[:, None]])


def affine_flow(A: np.ndarray, X: np.ndarray, t: float = 1.0) -> np.ndarray:
    """Points ``X`` moved by the finite flow ``exp(t [[L, b], [0, 0]])`` of the generator ``A = [L | b]``.

    Example:
        >>> rot = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0]])
        >>> np.round(affine_flow(rot, np.array([[1.0, 0.0]]), np.pi / 2), 6).tolist()
        [[0.0, 1.0]]
    """
    n = A.shape[0]
    aug = np.zeros((n + 1, n + 1))
    aug[:n] = A
    E = sla.expm(t * aug)
    return X @ E[:n, :n].T + E[:n, n]


def readable_basis(V: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reduced row-echelon form of the row space of ``V`` (pivots by pivoted QR).

    Returns ``(B, T)`` with ``B = T @ V``: each row of ``B`` has a 1 at its pivot entry
    and 0 at the other rows' pivots, so a rotation reads as ``+1/-1`` entries.

    Example:
        >>> B, T = readable_basis(np.array([[1.0, 1.0], [1.0, -1.0]]))
        >>> np.round(B, 6).tolist()
        [[1.0, 0.0], [0.0, 1.0]]
    """
    k = V.shape[0]
    if k == 0:
        return V.copy(), np.zeros((0, 0))
    _, _, piv = sla.qr(V, pivoting=True, mode="economic")
    P = np.sort(piv[:k])
    T = np.linalg.inv(V[:, P])
    B = T @ V
    B[np.abs(B) < 1e-12] = 0.0
    return B, T


def constraint_gram(J: np.ndarray, W: np.ndarray, outputs: np.ndarray | None) -> np.ndarray:
    """Gram matrix ``C^T C / m`` of the whitened invariance/equivariance constraints.

    ``J`` (m, k, n) Jacobians in standardised units, ``W`` (m, n+1) whitened augmented
    inputs, ``outputs`` (m, k) scaled outputs whose span is projected out (equivariance) or None.

    Example:
        >>> J = np.random.rand(10, 1, 2); W = np.random.rand(10, 3)
        >>> constraint_gram(J, W, None).shape
        (6, 6)
    """
    m, k, n = J.shape
    N = n * W.shape[1]
    G = np.zeros((N, N))
    Q = None
    if outputs is not None:
        Q, _ = np.linalg.qr(outputs)
    for j in range(k):
        rows = (J[:, j, :, None] * W[:, None, :]).reshape(m, N)
        if Q is not None:
            rows = rows - Q @ (Q.T @ rows)
        G += rows.T @ rows
    return G / m


def lie_generators(
    ctx: SymmetryContext,
    equivariant: bool,
    max_samples: int = 10_000,
    test_samples: int = 2000,
    seed: int = 0,
) -> LieResult:
    """Find the algebra of affine (equi)invariances of ``ctx.model``.

    Example:
        >>> import torch
        >>> class Radial(torch.nn.Module):
        ...     def __init__(self): super().__init__(); self.w = torch.nn.Parameter(torch.ones(1))
        ...     def forward(self, x): return self.w * (x ** 2).sum(-1, keepdim=True)
        >>> X = np.random.default_rng(0).normal(size=(500, 2)); Y = (X ** 2).sum(1, keepdims=True)
        >>> ctx = SymmetryContext.build(Radial(), X, Y + np.random.default_rng(1).normal(0, 0.01, (500, 1)))
        >>> res = lie_generators(ctx, equivariant=False)
        >>> len(res.generators), np.round(res.generators[0][:, :2], 3).tolist()
        (1, [[0.0, -1.0], [1.0, 0.0]])
    """
    rng = np.random.default_rng(seed)
    m_all, n = ctx.X.shape
    fit_idx = rng.choice(m_all, size=min(max_samples, m_all), replace=False)
    test_idx = rng.choice(m_all, size=min(test_samples, m_all), replace=False)
    X = ctx.X[fit_idx]
    Z = ctx.Z[fit_idx]
    Jx = batch_jacobian(ctx.model, X)  # (m, k, n) original units
    J = Jx * ctx.sd[None, None, :] / ctx.ysd[None, :, None]
    k = J.shape[1]
    Zt = np.hstack([Z, np.ones((len(Z), 1))])
    S = Zt.T @ Zt / len(Zt)
    Lc = np.linalg.cholesky(S + 1e-12 * np.eye(n + 1))
    Wh = sla.solve_triangular(Lc, Zt.T, lower=True).T  # whitened augmented inputs
    outputs = ctx.F[fit_idx] / ctx.ysd if equivariant else None
    G = constraint_gram(J, Wh, outputs)
    evals, evecs = np.linalg.eigh(G)
    rates = np.sqrt(np.clip(evals, 0.0, None))

    Lc_inv = sla.solve_triangular(Lc, np.eye(n + 1), lower=True)
    if outputs is not None:
        Qo, Ro = np.linalg.qr(outputs)
    accepted: list[int] = []
    tests: list[dict] = []
    flows = []
    A_list, M_list = [], []
    for c in range(len(evals)):
        Wc = evecs[:, c].reshape(n, n + 1)
        A_z = Wc @ Lc_inv  # back from whitened to standardised coordinates
        M_s = None
        if outputs is not None:
            rows = np.stack([(J[:, j, :, None] * Wh[:, None, :]).reshape(len(Z), -1) @ evecs[:, c] for j in range(k)], 1)
            M_s = sla.solve_triangular(Ro, Qo.T @ rows, lower=False).T  # rows ~ outputs @ M^T
        result: TestResult | None = None
        t = 1.0
        for _ in range(5):
            X_img = affine_flow(A_z, ctx.Z[test_idx], t) * ctx.sd + ctx.mu
            rho = sla.expm(t * M_s) if M_s is not None else None
            result = transform_test(ctx, test_idx, X_img, rho)
            if result is not None:
                break
            t /= 2
        entry = {"candidate": c, "rate": float(rates[c]), "t": t}
        entry.update(result.as_dict() if result is not None else {"untestable": True})
        tests.append(entry)
        if result is None or not result.symmetric:
            break
        accepted.append(c)
        flows.append((A_z, M_s, t))
        A_list.append(standardised_to_original(A_z, ctx.mu, ctx.sd))
        if M_s is not None:
            M_list.append(ctx.ysd[:, None] * M_s / ctx.ysd[None, :])

    if not accepted:
        return LieResult([], [] if equivariant else None, rates, tests, [])
    V = np.stack([a.ravel() for a in A_list])
    # orthonormal basis of the span in original coordinates, then readable echelon form
    U, s, Vt = np.linalg.svd(V, full_matrices=False)
    B, T = readable_basis(Vt)
    coef = T @ (np.diag(1.0 / s) @ U.T)  # B = coef @ V
    generators = [b.reshape(n, n + 1) for b in B]
    out_gens = None
    if equivariant:
        Ms = np.stack(M_list)
        out_gens = [np.tensordot(row, Ms, axes=1) for row in coef]
    return LieResult(generators, out_gens, rates, tests, flows)
