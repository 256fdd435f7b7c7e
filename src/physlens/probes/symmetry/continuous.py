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
  while their finite flow ``exp(A)`` (moving the data by one standard deviation
  RMS) passes the error-calibrated test of
  :mod:`physlens.probes.symmetry.transform_test` — the threshold comes from the
  network's own residuals, not from a hand-picked singular-value cut. That test
  bounds the algebra from above (a candidate whose breaking is below the
  model's error passes it); the dimension is then the position of the largest
  gap in the spectrum of rates up to and including the first rejected
  candidate (a clean symmetry sits orders of magnitude below the rest),
  unless the gap at the test's boundary is within a factor 2 of it (then the
  test's decision stands);
* a candidate read from the gradients is tilted by their errors: its simple
  neighbour in the user's coordinates (entries rounded to quarters, the shift
  refitted; :func:`snapped_generators`, within 10 degrees) takes its place when
  it passes the same test where the estimate fails (a scaling of ``sin(a/b)``
  read as ``diag(1, 0.94)`` failed at 1.8x the model's error; ``diag(1, 1)``
  passes at 0.5x);
* accepted generators are mapped back exactly to the user's original
  coordinates (``x = D z + mu``: ``L = D Lz D^-1``, ``b = D bz - L mu``) and put
  into reduced row-echelon form for reading.
"""

from __future__ import annotations


from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import scipy.linalg as sla

from physlens.autodiff import batch_jacobian
from physlens.clock import past
from physlens.probes.symmetry.transform_test import SymmetryContext, TestResult, contrast_test, resolved, transform_test


#: disjoint blocks of the constraint rows whose spread calibrates the expected resolution
RESOLUTION_BLOCKS = 16


def spatial_blocks(Z: np.ndarray, blocks: int, seed: int = 0) -> np.ndarray | None:
    """Label each row with one of ``blocks`` regions of the input space (k-means on the standardised inputs).

    Example:
        >>> Z = np.r_[np.zeros((20, 2)), np.ones((20, 2))]
        >>> len(set(spatial_blocks(Z, 2).tolist()))
        2
    """
    from scipy.cluster.vq import kmeans2

    if len(Z) < 4 * blocks:
        return None
    _, labels = kmeans2(np.asarray(Z, dtype=float), blocks, minit="++", seed=seed, iter=20)
    return labels


@dataclass
class LieResult:
    """Accepted generators and the evidence behind them (original coordinates).

    Example:
        >>> r = LieResult(generators=[], output_generators=None, rates=np.zeros(0), tests=[], flows=[])
        >>> len(r.generators)
        0
    """

    generators: list[np.ndarray]  # n x (n+1) [L | b]
    output_generators: list[np.ndarray] | None  # k x (k+1) [M | c], when equivariance was allowed
    rates: np.ndarray  # linear rate of every candidate (ascending), target std per input std
    tests: list[dict]  # finite-flow test of every candidate examined
    flows: list[tuple[np.ndarray, np.ndarray | None, float]]  # (A_z, [M|c] scaled, t) of accepted candidates
    system: object = None  # the ConstraintSystem, for reuse with another ``structure``
    accepted: list = field(default_factory=list)  # candidate indices (into ``rates``) of the generators


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
    with np.errstate(over="ignore", invalid="ignore"):
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


@dataclass
class ConstraintSystem:
    """The whitened LieGG constraint of one model on one subsample.

    ``G`` is ``C^T C / m`` over unknowns ``vec(W)`` (W = whitened generator, n x (n+1));
    ``QtC[j]`` the projection of output ``j``'s rows on the output regressors (equivariance),
    from which the output action ``[M | c]`` of a candidate is recovered.

    Example:
        >>> from physlens.probes.symmetry import continuous
        >>> continuous.ConstraintSystem.__dataclass_fields__["G"].type
        'np.ndarray'
    """

    G: np.ndarray
    Lc: np.ndarray  # Cholesky factor of the second moment of [z, 1]
    QtC: np.ndarray | None  # (k, q, N)
    Ro: np.ndarray | None  # R of the QR of the output regressors
    n: int
    k: int
    # the same constraint built on disjoint blocks of the rows, each on its own (its own whitening kept
    # global, its own output projection): their spread measures the random couplings that tilt the
    # generators (see physlens.probes.symmetry.resolution.sampled_resolution)
    G_blocks: np.ndarray | None = None
    block_weights: np.ndarray | None = None  # each block's share of the rows


def constraint_system(J: np.ndarray, Z: np.ndarray, outputs: np.ndarray | None, chunk: int = 2048,
                      blocks: int = 0, labels: np.ndarray | None = None) -> ConstraintSystem:
    """Build the whitened constraint Gram matrix, accumulated over chunks of samples.

    ``J`` (m, k, n) Jacobians in standardised units, ``Z`` (m, n) standardised inputs,
    ``outputs`` (m, q) output regressors whose span is projected out (equivariance) or None.
    For equivariance the projected Gram is ``C^T C - (Q^T C)^T (Q^T C)`` (Q orthonormal).
    With ``blocks >= 2`` the Gram of each of that many disjoint blocks of rows is kept as well
    (``G_blocks``; the rows are a random subsample, so the blocks are independent draws).

    Example:
        >>> cs = constraint_system(np.random.rand(10, 1, 2), np.random.rand(10, 2), None)
        >>> cs.G.shape
        (6, 6)
    """
    m, k, n = J.shape
    Zt = np.hstack([Z, np.ones((m, 1))])
    S = Zt.T @ Zt / m
    Lc = np.linalg.cholesky(S + 1e-12 * np.trace(S) * np.eye(n + 1))
    Wh = sla.solve_triangular(Lc, Zt.T, lower=True).T
    N = n * (n + 1)
    G = np.zeros((N, N))
    Q = Ro = QtC = None
    if outputs is not None:
        Q, Ro = np.linalg.qr(outputs)
        QtC = np.zeros((k, Q.shape[1], N))
    q = outputs.shape[1] if outputs is not None else 0
    if labels is not None:
        parts = [np.flatnonzero(labels == b) for b in np.unique(labels)]
        parts = [p for p in parts if len(p) > 2 * (1 + q)]
    if labels is not None and len(parts) >= 2:
        Gb = np.zeros((len(parts), N, N))
    elif blocks >= 2 and m >= 2 * blocks * (1 + q):
        parts = np.array_split(np.arange(m), blocks)
        Gb = np.zeros((blocks, N, N))
    else:
        parts = [np.arange(i, min(i + chunk, m)) for i in range(0, m, chunk)]
        Gb = None
    for b, sl in enumerate(parts):
        Qb = np.linalg.qr(outputs[sl])[0] if (Gb is not None and outputs is not None) else None
        for j in range(k):
            rows = (J[sl, j, :, None] * Wh[sl, None, :]).reshape(-1, N)
            GG = rows.T @ rows
            G += GG
            if Q is not None:
                QtC[j] += Q[sl].T @ rows
            if Gb is not None:
                Gb[b] += GG
                if Qb is not None:
                    P = Qb.T @ rows  # the block's own output projection: each block is a constraint on its own
                    Gb[b] -= P.T @ P
        if Gb is not None:
            Gb[b] /= len(sl)
    if Q is not None:
        for j in range(k):
            G -= QtC[j].T @ QtC[j]
    wb = np.array([len(p) for p in parts], dtype=float) / m if Gb is not None else None
    return ConstraintSystem(G / m, Lc, QtC, Ro, n, k, Gb, wb)


def particle_structured_basis(parts: list[dict], n: int) -> np.ndarray:
    """Basis (columns, vec of n x (n+1) matrices) of transformations acting alike on every vector.

    The same d x d matrix acts on every vector of every particle (positions, velocities,
    four-momenta...), and each kind of vector may be shifted by the same amount for all
    particles (translations of positions, boosts of velocities); scalars stay fixed.
    ``parts`` is :func:`physlens.probes.symmetry.discrete.particle_columns`.

    Example:
        >>> parts = [{"vectors": {"pos": [0, 1], "vel": [2, 3]}, "scalars": {}, "columns": [0, 1, 2, 3]}]
        >>> particle_structured_basis(parts, 4).shape
        (20, 8)
    """
    kinds = list(parts[0]["vectors"])
    d = len(parts[0]["vectors"][kinds[0]])
    cols = []
    for a in range(d):
        for b in range(d):
            A = np.zeros((n, n + 1))
            for p in parts:
                for v in kinds:
                    A[p["vectors"][v][a], p["vectors"][v][b]] = 1.0
            cols.append(A.ravel())
    for v in kinds:
        for a in range(d):
            A = np.zeros((n, n + 1))
            for p in parts:
                A[p["vectors"][v][a], n] = 1.0
            cols.append(A.ravel())
    return np.stack(cols, axis=1)


def ignored_vector_kinds(ctx: SymmetryContext, parts: list[dict], test_samples: int = 2000,
                         seed: int = 0) -> dict[str, dict]:
    """Kinds of particle vectors (e.g. velocities) the network does not depend on at all.

    Every column of one kind, for every particle at once, is replaced by the values of a random
    other row (a draw from the data's own marginal, so the images stay inside the data) and the
    change of the prediction goes through the error-calibrated :func:`transform_test`. A kind
    that passes is ignored by the network, so a common shift of it (a Galilean boost when the
    kind is velocity and the outputs are accelerations) is a symmetry, trivially: it is tested
    this way because the power contrast of the null-space scan cannot resolve a move of inputs
    the network ignores. Returns ``{kind: test evidence}`` for the ignored kinds only.

    Example:
        >>> import torch
        >>> class PosOnly(torch.nn.Module):
        ...     def __init__(self): super().__init__(); self.w = torch.nn.Parameter(torch.ones(1))
        ...     def forward(self, x): return self.w * (x[:, :2] ** 2).sum(-1, keepdim=True)
        >>> X = np.random.default_rng(0).normal(size=(600, 4))
        >>> Y = (X[:, :2] ** 2).sum(1, keepdims=True) + np.random.default_rng(1).normal(0, 0.01, (600, 1))
        >>> parts = [{"vectors": {"pos": [0, 1], "vel": [2, 3]}, "scalars": {}, "columns": [0, 1, 2, 3]}]
        >>> sorted(ignored_vector_kinds(SymmetryContext.build(PosOnly(), X, Y), parts))
        ['vel']
    """
    rng = np.random.default_rng(seed)
    m_all = len(ctx.X)
    idx = rng.choice(m_all, size=min(test_samples, m_all), replace=False)
    out: dict[str, dict] = {}
    for kind in parts[0]["vectors"]:
        cols = [c for p in parts for c in p["vectors"][kind]]
        X_img = ctx.X[idx].copy()
        X_img[:, cols] = ctx.X[rng.choice(m_all, size=len(idx), replace=True)][:, cols]
        res = transform_test(ctx, idx, X_img)
        if res is not None and res.symmetric:
            out[kind] = res.as_dict()
    return out


def vector_shift_generators(parts: list[dict], n: int, kind: str) -> list[np.ndarray]:
    """The common shifts of one kind of particle vector, one ``n x (n+1)`` generator per axis.

    Example:
        >>> parts = [{"vectors": {"pos": [0, 1], "vel": [2, 3]}, "scalars": {}, "columns": [0, 1, 2, 3]}]
        >>> vector_shift_generators(parts, 4, "vel")[0][:, 4].tolist()
        [0.0, 0.0, 1.0, 0.0]
    """
    d = len(parts[0]["vectors"][kind])
    gens = []
    for a in range(d):
        A = np.zeros((n, n + 1))
        for p in parts:
            A[p["vectors"][kind][a], n] = 1.0
        gens.append(A)
    return gens


def merge_generators(gens: list[np.ndarray], outs: list[np.ndarray] | None, extra: list[np.ndarray],
                     extra_outs: list[np.ndarray] | None = None, tol_deg: float = 0.0,
                     mu: np.ndarray | None = None, sd: np.ndarray | None = None,
                     ) -> tuple[list[np.ndarray], list[np.ndarray] | None]:
    """Readable basis of the span of ``gens`` and ``extra`` (with their output generators carried along).

    Directions of ``extra`` already in the span of ``gens`` add nothing. With ``tol_deg``, an
    ``extra`` direction within that angle of the span counts as already in it (it is the same
    generator, known more precisely): the span keeps its dimension and is turned to contain it
    exactly (the direction of the span nearest to it is replaced by it). Pass the angle the scan
    that found ``gens`` resolves (its expected resolution): on a 2-D Kepler emulator the
    structured rotation of position and velocity together lay 0.22 degrees from the 2-dim scanned
    algebra (expected resolution 4.3 degrees), and merging it exactly made a spurious third
    generator. Angles are measured in standardised coordinates when ``mu`` and ``sd`` are given.

    Example:
        >>> a = np.array([[0.0, 0.0, 1.0], [0.0, 0.0, 0.0]]); b = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
        >>> len(merge_generators([a], None, [a, b])[0])
        2
        >>> tilted = np.array([[0.0, 0.0, 1.0], [0.0, 0.0, 0.01]])  # 0.6 degrees from a
        >>> len(merge_generators([a], None, [tilted])[0]), len(merge_generators([a], None, [tilted], tol_deg=2.0)[0])
        (2, 1)
        >>> np.round(merge_generators([a], None, [tilted], tol_deg=2.0)[0][0], 3).tolist()
        [[0.0, 0.0, 1.0], [0.0, 0.0, 0.01]]
    """
    allg = list(gens) + list(extra)
    if not allg:
        return [], ([] if outs is not None else None)
    shape = allg[0].shape
    Vo = np.stack([g.ravel() for g in allg])
    if mu is not None and sd is not None:
        Vs = np.stack([original_to_standardised(g, mu, sd).ravel() for g in allg])
    else:
        Vs = Vo
    ng, total = len(gens), len(allg)
    tiny = 1e-8
    sin_tol = max(np.sin(np.radians(min(max(tol_deg, 0.0), 89.0))), tiny)
    # C: coefficients over ``allg`` of an orthonormal basis (standardised metric) of the merged span
    C = np.zeros((0, total))
    if ng:
        U, sv, _ = np.linalg.svd(Vs[:ng], full_matrices=False)
        r = int(np.sum(sv > tiny * sv[0])) if sv[0] > 0 else 0
        C = np.zeros((r, total))
        C[:, :ng] = np.diag(1.0 / sv[:r]) @ U[:, :r].T
    for j in range(ng, total):
        norm = float(np.linalg.norm(Vs[j]))
        if norm == 0:
            continue
        e = Vs[j] / norm
        e_coef = np.zeros(total)
        e_coef[j] = 1.0 / norm
        Q = C @ Vs
        c = Q @ e
        resid = e - c @ Q
        s = float(np.linalg.norm(resid))
        if s > sin_tol or len(C) == 0:
            C = np.vstack([C, (e_coef - c @ C) / s])
        elif s > tiny:
            # the same direction, within the resolution: turn the span to contain it exactly
            u = c / np.linalg.norm(c)
            _, _, Wt = np.linalg.svd(u[None, :])
            C = np.vstack([Wt[1:] @ C, e_coef])
    if len(C) == 0:
        return [], ([] if outs is not None else None)
    B, T = readable_basis(C @ Vo)
    coef = T @ C  # B = coef @ Vo
    merged = [b.reshape(shape) for b in (coef @ Vo)]
    if outs is None:
        return merged, None
    if extra_outs is None or len(extra_outs) != len(extra):
        raise ValueError("merge_generators needs one output generator per extra generator when outs are given")
    Ms = np.stack(list(outs) + list(extra_outs))
    return merged, [np.tensordot(row, Ms, axes=1) for row in coef]


def resolved_count(rates: np.ndarray, accepted: list[int], max_expected_deg: float) -> int:
    """How many of the ``accepted`` candidates (ascending rate) the spectrum resolves within ``max_expected_deg``.

    The weakest accepted candidate is dropped while the largest expected angle of those kept
    (first-order perturbation, :func:`.resolution.expected_resolution`, the dropped ones counted
    among the rejected directions) exceeds ``max_expected_deg``.

    Example:
        >>> rates = np.array([1e-3, 0.02, 0.5, 0.55, 1.2, 1.5])
        >>> resolved_count(rates, [0, 1, 2], 5.0)  # the third sits next to a rejected direction
        2
    """
    from physlens.probes.symmetry.resolution import expected_resolution

    accepted = sorted(accepted)
    keep = len(accepted)
    while keep > 0:
        order = accepted[:keep] + [c for c in range(len(rates)) if c not in accepted[:keep]]
        res = expected_resolution(np.asarray(rates)[order], keep, sort=False)
        if res["max_expected_deg"] is None or res["max_expected_deg"] <= max_expected_deg:
            break
        keep -= 1
    return keep


def lie_generators(
    ctx: SymmetryContext,
    equivariant: bool,
    max_samples: int = 10_000,
    test_samples: int = 2000,
    seed: int = 0,
    structure: np.ndarray | None = None,
    system: ConstraintSystem | None = None,
    max_flops: float = 4e9,
    patience: int = 3,
    max_undetermined: int | None = None,
    deadline: float | None = None,
    max_expected_deg: float | None = None,
    vouch_p: float = 0.1,
) -> LieResult:
    """Find the algebra of affine (equi)invariances of ``ctx.model``.

    ``structure`` (columns: vec of n x (n+1) matrices in original coordinates) restricts
    the search to a subspace of generators (e.g. :func:`particle_structured_basis`);
    ``system`` reuses a :class:`ConstraintSystem` already built for the same context.
    The subsample is capped so that building the constraint costs at most ``max_flops``.
    Candidates are scanned by increasing rate until ``patience`` consecutive ones fail the
    test; failures followed by a pass are kept (the pass bounds the algebra from above) when that
    pass is clear (p-value at least ``vouch_p``; a marginal pass after failures counts as a failure:
    on a 2-D Kepler emulator a pass at p = 0.013 once vouched for a candidate failing at p < 1e-10).
    A candidate that passes the error test but whose sign-randomised control move is not
    resolved either (:func:`physlens.probes.symmetry.transform_test.resolved`) is *undetermined*:
    marked in ``tests`` and skipped (at most ``max_undetermined``, default ``4 n``, are skipped).
    With ``max_expected_deg``, accepted candidates that the network's error cannot resolve are
    left out: while the largest expected angle (:func:`.resolution.expected_resolution`) of the
    accepted ones exceeds it, the weakest is dropped and marked ``unresolved`` in ``tests`` (it
    passed the test, but its direction is uncertain by more than that angle: a rough generator,
    which mixed into the others would tilt every one of them).

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
    k = ctx.F.shape[1]
    N = n * (n + 1)
    m_fit = int(min(max_samples, m_all, max(200, max_flops / (k * N * N))))
    fit_idx = rng.choice(m_all, size=m_fit, replace=False)
    test_idx = rng.choice(m_all, size=min(test_samples, m_all), replace=False)
    if system is None:
        Jx = batch_jacobian(ctx.model, ctx.X[fit_idx])  # (m, k, n) original units
        J = Jx * ctx.sd[None, None, :] / ctx.ysd[None, :, None]
        outputs = None
        if equivariant:
            outputs = np.hstack([ctx.F[fit_idx] / ctx.ysd, np.ones((m_fit, 1))])
        # regions of the input space, not random rows: a smooth error is correlated within a region, and
        # random blocks saw 10x less tilt than found on a radial law with a smooth breaking (regions: 1.4x)
        labels = spatial_blocks(ctx.Z[fit_idx], RESOLUTION_BLOCKS, seed)
        system = constraint_system(J, ctx.Z[fit_idx], outputs, blocks=RESOLUTION_BLOCKS, labels=labels)
    Lc = system.Lc
    Lc_inv = sla.solve_triangular(Lc, np.eye(n + 1), lower=True)
    if structure is None:
        evals, evecs = np.linalg.eigh(system.G)
    else:
        # structured generators in whitened coordinates: W = A_z Lc
        Bw = np.stack([(original_to_standardised(c.reshape(n, n + 1), ctx.mu, ctx.sd) @ Lc).ravel()
                       for c in structure.T], axis=1)
        Bq, Br = np.linalg.qr(Bw)
        keep = np.abs(np.diag(Br)) > 1e-10 * np.abs(np.diag(Br)).max()
        Bq = Bq[:, keep]
        evals, ev_small = np.linalg.eigh(Bq.T @ system.G @ Bq)
        evecs = Bq @ ev_small
    rates = np.sqrt(np.clip(evals, 0.0, None))

    accepted: list[int] = []
    pending: list = []
    failures = undetermined = 0
    max_undetermined = 4 * n if max_undetermined is None else max_undetermined
    tests: list[dict] = []
    flows = []
    A_list, M_list = [], []
    test_jac: list[np.ndarray] = []
    for c in range(len(evals)):
        if past(deadline) and (accepted or c >= 1):
            # out of time: the scan stops here (the candidates examined so far stand)
            tests.append({"candidate": c, "rate": float(rates[c]), "stopped_by_budget": True, "untestable": True})
            break
        w = evecs[:, c]
        A_z = w.reshape(n, n + 1) @ Lc_inv  # back from whitened to standardised coordinates
        Mc = None
        if system.QtC is not None:
            coef = np.stack([sla.solve_triangular(system.Ro, system.QtC[j] @ w) for j in range(k)])  # (k, q)
            Mc = coef  # acts on [f / ysd, 1]
        result, X_img, rho, t = first_testable_flow(ctx, test_idx, A_z, Mc)
        if result is not None and result.symmetric:
            judge_power(ctx, test_idx, result, X_img, rho, rng)
        snapped = False
        if result is not None and not result.symmetric and not result.undetermined and Mc is None:
            # the estimate is tilted by the network's gradient errors: its simple neighbour is tested too, and
            # kept when it passes where the estimate fails (only then: inside a large algebra, a snapped
            # generator that merely broke the law less once tilted the Lorentz part by 14 degrees)
            if not test_jac:  # the network's Jacobian at the test rows, computed once for every candidate
                test_jac.append(batch_jacobian(ctx.model, ctx.X[test_idx]))
            for A_s in snapped_generators(ctx, standardised_to_original(A_z, ctx.mu, ctx.sd), test_idx, test_jac[0]):
                A_sz = normalised_generator(ctx, A_s, test_idx, False)[0]
                if displacement_angle(ctx, A_z, A_sz, test_idx) > MAX_SNAP_DEG:
                    continue  # another direction, not the estimate without its tilt
                res_s, img_s, rho_s, t_s = first_testable_flow(ctx, test_idx, A_sz, None)
                if res_s is None or not res_s.symmetric:
                    continue
                judge_power(ctx, test_idx, res_s, img_s, rho_s, rng)
                if res_s.symmetric:
                    A_z, result, X_img, rho, t, snapped = A_sz, res_s, img_s, rho_s, t_s, True
                    break
        entry = {"candidate": c, "rate": float(rates[c]), "t": t}
        if snapped:
            entry["snapped"] = True
        entry.update(result.as_dict() if result is not None else {"untestable": True})
        tests.append(entry)
        if result is not None and result.undetermined:
            undetermined += 1
            if undetermined > max_undetermined:
                break
            continue
        if result is not None and result.symmetric and pending and result.p_value < vouch_p:
            # a marginal pass after failures is what many tests yield by chance: it vouches for nothing
            entry["marginal_after_failures"] = True
            result.symmetric = False
        if result is None or not result.symmetric:
            failures += 1
            if failures >= patience:
                break
            pending.append((c, A_z, Mc, t))
            continue
        # a passing candidate vouches for the weaker ones before it that failed (finite flows of
        # estimated generators can fail by extrapolation; the ordering by rate is the reliable part)
        for cp, Ap, Mp, tp in pending:
            tests[cp]["accepted_by_later_pass"] = True
            accepted.append(cp)
            flows.append((Ap, Mp, tp))
            A_list.append(standardised_to_original(Ap, ctx.mu, ctx.sd))
            if Mp is not None:
                M_list.append(np.hstack([ctx.ysd[:, None] * Mp[:, :k] / ctx.ysd[None, :], (ctx.ysd * Mp[:, k])[:, None]]))
        pending, failures = [], 0
        accepted.append(c)
        flows.append((A_z, Mc, t))
        A_list.append(standardised_to_original(A_z, ctx.mu, ctx.sd))
        if Mc is not None:
            M = ctx.ysd[:, None] * Mc[:, :k] / ctx.ysd[None, :]
            cc = ctx.ysd * Mc[:, k]
            M_list.append(np.hstack([M, cc[:, None]]))

    if not accepted:
        return LieResult([], [] if equivariant else None, rates, tests, [], system)
    # The test bounds the algebra from above; its dimension is set by the largest gap in the
    # spectrum of rates inside that bound (the boundary to the first rejected candidate included).
    order = np.argsort(accepted)
    accepted = [accepted[i] for i in order]
    flows = [flows[i] for i in order]
    A_list = [A_list[i] for i in order]
    M_list = [M_list[i] for i in order] if M_list else M_list
    K = len(accepted)
    rejected_after = [t["candidate"] for t in tests if t["candidate"] > accepted[-1] and not t.get("undetermined")]
    upper = rates[accepted + rejected_after[:1]]
    # rates at the arithmetic's floor are exact symmetries (built into the architecture): always kept, and
    # left out of the gap search (a gap from 0 to the first learnt symmetry once cut four true generators)
    exact = int(np.sum(upper[:K] <= 1e-6 * max(float(rates.max()), 1e-300)))
    logs = np.log(np.maximum(upper[exact:], 1e-12 * max(rates.max(), 1e-300)))
    if len(logs) > 1 and exact < K:
        gaps = np.diff(logs)
        keep = exact + int(np.argmax(gaps)) + 1
        if rejected_after and keep < K and gaps[:K - exact - 1].max() <= gaps[K - exact - 1] + np.log(2.0):
            # the gap at the test's own boundary is as large (within a factor 2) as any inside it:
            # the test's decision stands (a weaker but resolved symmetry, e.g. a rotation that a
            # network learnt less exactly than its translations, is kept)
            keep = K
        by_candidate = {t["candidate"]: t for t in tests}
        for c in accepted[keep:K]:
            by_candidate[c]["cut_by_gap"] = True
        accepted, flows, A_list, M_list = accepted[:keep], flows[:keep], A_list[:keep], M_list[:keep]
    if max_expected_deg is not None:
        keep = resolved_count(rates, accepted, max_expected_deg)
        by_candidate = {t["candidate"]: t for t in tests}
        for c in accepted[keep:]:
            by_candidate[c]["unresolved"] = True
        accepted, flows, A_list, M_list = accepted[:keep], flows[:keep], A_list[:keep], M_list[:keep]
        if not accepted:
            return LieResult([], [] if equivariant else None, rates, tests, [], system)
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
    return LieResult(generators, out_gens, rates, tests, flows, system, accepted=list(accepted))


def named_generators(n: int) -> list[tuple[str, np.ndarray]]:
    """Affine generators tested by name besides the null-space search (original coordinates).

    The common shift of every input (``x -> x + eps``, e.g. a constant added to a potential
    sampled on a grid, a common offset of readings in one unit) is one direction among
    ``n (n + 1)``: with many inputs the network is nearly flat along many others and the
    null-space spectrum cannot single it out, so it is tested directly.

    Example:
        >>> [name for name, A in named_generators(3)]
        ['common shift of every input']
    """
    A = np.zeros((n, n + 1))
    A[:, n] = 1.0
    return [("common shift of every input", A)]


def flow_images(ctx: SymmetryContext, idx: np.ndarray, A_z: np.ndarray, Mc: np.ndarray | None,
                t: float) -> tuple[np.ndarray, np.ndarray | None]:
    """The rows ``idx`` moved by the flow of the standardised generator ``A_z`` for time ``t`` (original units),
    and the output action ``rho = exp(t [[Mc], [0 .. 0]])`` on ``[f / ysd, 1]`` when ``Mc`` is given.

    Example:
        >>> import torch
        >>> X = np.random.default_rng(0).normal(size=(50, 2)); Y = X[:, :1] + X[:, 1:]
        >>> ctx = SymmetryContext.build(torch.nn.Linear(2, 1), X, Y)
        >>> rot = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0]])
        >>> X_img, rho = flow_images(ctx, np.arange(3), rot, None, 0.1)
        >>> X_img.shape, rho is None
        ((3, 2), True)
    """
    X_img = affine_flow(A_z, ctx.Z[idx], t) * ctx.sd + ctx.mu
    if Mc is None:
        return X_img, None
    k = Mc.shape[0]
    aug = np.zeros((k + 1, k + 1))
    aug[:k] = Mc
    with np.errstate(over="ignore", invalid="ignore"):
        return X_img, sla.expm(t * aug)


def first_testable_flow(ctx: SymmetryContext, idx: np.ndarray, A_z: np.ndarray, Mc: np.ndarray | None,
                        t: float = 1.0, tries: int = 5) -> tuple[TestResult | None, np.ndarray, np.ndarray | None, float]:
    """The error-calibrated test of the flow for time ``t``, halving ``t`` (up to ``tries`` times) until enough
    images stay inside the data for :func:`transform_test` to judge it.

    Returns ``(result or None, images, output action, t)``, ``t`` as it stood when the loop ended.

    Example:
        >>> import torch
        >>> lin = torch.nn.Linear(2, 1); _ = lin.weight.data.fill_(1.0); _ = lin.bias.data.zero_()
        >>> X = np.random.default_rng(0).normal(size=(400, 2)); ctx = SymmetryContext.build(lin, X, X.sum(1, keepdims=True))
        >>> shifts = {"x0 - x1": [1.0, -1.0], "x0 + x1": [1.0, 1.0]}  # y = x0 + x1 is invariant under the first only
        >>> for name, b in shifts.items():
        ...     A_z, Mc, _ = normalised_generator(ctx, np.c_[np.zeros((2, 2)), b], np.arange(200), False)
        ...     result, X_img, rho, t = first_testable_flow(ctx, np.arange(200), A_z, Mc)
        ...     print(name, result.symmetric, t)
        x0 - x1 True 1.0
        x0 + x1 False 1.0
    """
    result, X_img, rho = None, None, None
    for _ in range(tries):
        X_img, rho = flow_images(ctx, idx, A_z, Mc, t)
        result = transform_test(ctx, idx, X_img, rho)
        if result is not None:
            break
        t /= 2
    return result, X_img, rho, t


#: the farthest (degrees, between the displacement fields) a snapped generator may lie from the estimate
MAX_SNAP_DEG = 10.0


def displacement_angle(ctx: SymmetryContext, A_z: np.ndarray, B_z: np.ndarray, idx: np.ndarray) -> float:
    """Angle (degrees, sign ignored) between the moves two generators (standardised coordinates) give the rows ``idx``.

    Example:
        >>> import torch
        >>> ctx = SymmetryContext.build(torch.nn.Linear(2, 1), np.eye(2).repeat(20, 0), np.ones((40, 1)))
        >>> rot, shear = np.array([[0.0, -1, 0], [1, 0, 0]]), np.array([[0.0, 1, 0], [0, 0, 0]])
        >>> round(displacement_angle(ctx, rot, -rot, np.arange(40)), 3), round(displacement_angle(ctx, rot, shear, np.arange(40)))
        (0.0, 45)
    """
    Zt = np.hstack([ctx.Z[idx], np.ones((len(idx), 1))])
    d1, d2 = (Zt @ A_z.T).ravel(), (Zt @ B_z.T).ravel()
    norm = np.linalg.norm(d1) * np.linalg.norm(d2)
    return float(np.degrees(np.arccos(min(1.0, abs(d1 @ d2) / norm)))) if norm > 0 else 90.0


def _simple(v: np.ndarray, unit: float | None = None, denominator: int = 4) -> np.ndarray:
    """Entries of ``v`` over ``unit`` (default: its largest one), each rounded to the nearest fraction with a denominator up to ``denominator``."""
    top = float(np.abs(v).max()) if unit is None else unit
    return np.array([float(Fraction(float(x) / top).limit_denominator(denominator)) for x in v.ravel()]).reshape(v.shape)


def snapped_generators(ctx: SymmetryContext, A: np.ndarray, idx: np.ndarray,
                       jacobian: np.ndarray | None = None) -> list[np.ndarray]:
    """Simple generators near the estimate ``A = [L | b]`` (original coordinates): candidates to test in its place.

    The generator read from the network's gradients is tilted by their errors (a scaling of
    ``sin(a/b)`` read as ``diag(1, 0.94)`` plus small off-diagonal terms): its finite flow then
    breaks the law by more than the model's error, while the symmetry itself holds. Physical
    symmetries have simple entries in the user's coordinates, so the estimate's linear part is
    rounded (entries over the largest, to fractions with denominators up to 4) and the shift
    ``b`` refitted by least squares to ``grad f . (L x + b) = 0`` at the rows ``idx`` (offered
    rounded to quarters first, then as fitted: the same errors tilt it); when
    the linear part moves the data little, the estimate is read as a translation, ``b`` rounded
    the same way. The caller keeps a snapped generator only when it passes the same test; it may
    pass the network's ``jacobian`` at the rows ``idx`` (computed once for many candidates).

    Example:
        >>> import torch
        >>> X = np.random.default_rng(0).uniform(0.5, 3, (400, 2))
        >>> class Ratio(torch.nn.Module):
        ...     def __init__(self): super().__init__(); self.w = torch.nn.Parameter(torch.ones(1))
        ...     def forward(self, x): return self.w * torch.sin(x[:, :1] / x[:, 1:])
        >>> ctx = SymmetryContext.build(Ratio(), X, np.sin(X[:, :1] / X[:, 1:]))
        >>> A = np.array([[1.0, -0.03, 0.01], [0.02, 0.94, 0.003]])
        >>> np.round(snapped_generators(ctx, A, np.arange(400))[0], 6).tolist()
        [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    """
    n = A.shape[0]
    L, b = A[:, :n], A[:, n]
    Z = np.hstack([ctx.Z[idx], np.ones((len(idx), 1))])
    A_z = original_to_standardised(A, ctx.mu, ctx.sd)
    linear = np.sqrt(np.mean(np.sum((Z[:, :n] @ A_z[:, :n].T) ** 2, axis=1)))
    total = np.sqrt(np.mean(np.sum((Z @ A_z.T) ** 2, axis=1)))
    out = []
    if linear > 0.3 * total and np.abs(L).max() > 0:
        L_s = _simple(L)
        J = batch_jacobian(ctx.model, ctx.X[idx]) if jacobian is None else jacobian  # (m, k, n), at the rows idx
        rows = J.reshape(-1, n)
        rhs = -np.einsum("mkn,mn->mk", J, ctx.X[idx] @ L_s.T).ravel()
        b_s = np.linalg.lstsq(rows, rhs, rcond=None)[0] if np.any(rows) else np.zeros(n)
        # the shift's own simple values first (a centre at the origin or at (1, -1/2)), then as fitted
        b_r = _simple(b_s, unit=1.0)
        out += [np.hstack([L_s, b_r[:, None]]), np.hstack([L_s, b_s[:, None]])]
    elif np.abs(b).max() > 0:
        out.append(np.hstack([np.zeros((n, n)), _simple(b)[:, None]]))
    # an estimate already simple is not tested twice, nor one snapped form twice
    kept: list[np.ndarray] = []
    for S in out:
        if not any(np.allclose(S / np.abs(S).max(), K / np.abs(K).max(), atol=1e-6) for K in kept + [A]):
            kept.append(S)
    return kept


def judge_power(ctx: SymmetryContext, idx: np.ndarray, result: TestResult, X_img: np.ndarray,
                rho: np.ndarray | None, rng: np.random.Generator) -> None:
    """Attach the power contrast to ``result`` (in place); a pass the contrast cannot resolve becomes undetermined.

    Moving each point's coordinates by the same amounts as the flow, with random signs, must change the
    prediction by more than the candidate does plus the error budget; otherwise the model may simply
    ignore the coordinates the flow moves.

    Example:
        >>> import torch
        >>> X = np.random.default_rng(0).normal(size=(400, 2))
        >>> class Radius(torch.nn.Module):
        ...     def __init__(self): super().__init__(); self.w = torch.nn.Parameter(torch.ones(1))
        ...     def forward(self, x): return self.w * (x ** 2).sum(-1, keepdim=True)
        >>> ctx = SymmetryContext.build(Radius(), X, (X ** 2).sum(1, keepdims=True))
        >>> idx = np.arange(200)
        >>> A_z, _, _ = normalised_generator(ctx, np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0]]), idx, False)
        >>> result, X_img, rho, _ = first_testable_flow(ctx, idx, A_z, None)
        >>> judge_power(ctx, idx, result, X_img, rho, np.random.default_rng(0))
        >>> result.symmetric, result.contrast.p_value < 0.01  # the rotation passes and moves the prediction enough
        (True, True)
    """
    signs = rng.choice([-1.0, 1.0], size=X_img.shape)
    X_src = ctx.X[idx]
    result.contrast = contrast_test(ctx, idx, X_img, X_src + signs * (X_img - X_src), rho)
    if result.symmetric and not resolved(result.contrast, ctx.alpha):
        result.symmetric, result.undetermined = False, True


def normalised_generator(ctx: SymmetryContext, A: np.ndarray, idx: np.ndarray, equivariant: bool):
    """``A = [L | b]`` (original units) in standardised coordinates, scaled to move the rows ``idx`` by one
    standard deviation RMS, and, when ``equivariant``, the output action ``Mc`` (k, k + 1) on ``[f / ysd, 1]``
    fitted by least squares to the model's Jacobian along the flow (first half of ``idx``).

    Returns ``(A_z, Mc, rms)``, or None when ``A`` does not move the rows.

    Example:
        >>> import torch
        >>> ctx = SymmetryContext.build(torch.nn.Linear(2, 1), np.eye(2).repeat(20, 0), np.ones((40, 1)))
        >>> A_z, Mc, rms = normalised_generator(ctx, np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0]]), np.arange(40), False)
        >>> Mc is None, rms > 0
        (True, True)
    """
    A_z = original_to_standardised(np.asarray(A, dtype=np.float64), ctx.mu, ctx.sd)
    Zt = np.hstack([ctx.Z[idx], np.ones((len(idx), 1))])
    rms = float(np.sqrt(np.mean(np.sum((Zt @ A_z.T) ** 2, axis=1))))
    if not rms > 0:
        return None
    A_z = A_z / rms
    Mc = None
    if equivariant:
        half = idx[: len(idx) // 2]
        J = batch_jacobian(ctx.model, ctx.X[half]) * ctx.sd[None, None, :] / ctx.ysd[None, :, None]
        dU = np.einsum("mkn,mn->mk", J, Zt[: len(half)] @ A_z.T)  # rate of change of the scaled outputs
        reg = np.hstack([ctx.F[half] / ctx.ysd, np.ones((len(half), 1))])
        Mc = np.linalg.lstsq(reg, dU, rcond=None)[0].T  # (k, k + 1) on [u, 1]
    return A_z, Mc, rms


def check_generator(
    ctx: SymmetryContext,
    A: np.ndarray,
    equivariant: bool,
    test_samples: int = 2000,
    seed: int = 0,
) -> tuple[TestResult | None, np.ndarray | None, float]:
    """Error-calibrated finite-flow test, with its power contrast, of one generator ``A`` (original coordinates).

    With ``equivariant`` the output action ``[M | c]`` (on the scaled outputs) is fitted by least
    squares to ``J(x) A x = M f(x) + c`` on half of the points and returned in original output units.
    Returns ``(result, output_generator or None, t)`` with ``t`` the flow time tested (the flow moves
    the data by ``t`` standard deviations RMS; the longest flow, up to 8, that keeps half of the
    images and a quarter of the sign-randomised control images inside the data).

    Example:
        >>> import torch
        >>> class Sum(torch.nn.Module):
        ...     def __init__(self): super().__init__(); self.w = torch.nn.Parameter(torch.ones(1))
        ...     def forward(self, x): return self.w * torch.sin(x).sum(-1, keepdim=True) + x.sum(-1, keepdim=True)
        >>> X = np.random.default_rng(0).normal(size=(800, 3))
        >>> Y = np.sin(X).sum(1, keepdims=True) + X.sum(1, keepdims=True) + np.random.default_rng(1).normal(0, 0.01, (800, 1))
        >>> res, M, t = check_generator(SymmetryContext.build(Sum(), X, Y), named_generators(3)[0][1], False)
        >>> res.symmetric
        False
    """
    rng = np.random.default_rng(seed)
    m_all, n = ctx.X.shape
    k = ctx.F.shape[1]
    idx = rng.choice(m_all, size=min(test_samples, m_all), replace=False)
    normalised = normalised_generator(ctx, A, idx, equivariant)
    if normalised is None:
        return None, None, 0.0
    A_z, Mc, rms = normalised
    # the longest flow (from 8 standard deviations RMS down) that keeps half of the images, and a
    # quarter of the control images, inside the data: a long move gives the test power both ways
    result = None
    t = 8.0
    X_src = ctx.X[idx]
    signs = rng.choice([-1.0, 1.0], size=X_src.shape)
    for _ in range(10):
        X_img, rho = flow_images(ctx, idx, A_z, Mc, t)
        res_try = transform_test(ctx, idx, X_img, rho)
        if res_try is not None:
            res_try.contrast = contrast_test(ctx, idx, X_img, X_src + signs * (X_img - X_src), rho)
            result = res_try
            if res_try.inside >= 0.5 and res_try.contrast is not None and res_try.contrast.n >= len(idx) // 4:
                break
        t /= 2
    if result is None:
        return None, None, t
    if result.symmetric and not resolved(result.contrast, ctx.alpha):
        result.symmetric, result.undetermined = False, True
    M_orig = None
    if Mc is not None:
        M_orig = np.hstack([ctx.ysd[:, None] * Mc[:, :k] / ctx.ysd[None, :], (ctx.ysd * Mc[:, k])[:, None]]) * rms
    return result, M_orig, t
