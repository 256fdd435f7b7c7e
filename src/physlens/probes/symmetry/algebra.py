"""Which Lie algebra did the network learn? Structure constants and a name.

Given a basis ``G_a = [L_a | b_a]`` of affine generators, the augmented matrices
``[[L, b], [0, 0]]`` are closed under the commutator, ``[G_a, G_b] = c_ab^k G_k``.
The structure constants are fitted by least squares (the residual says how well
the found space closes into an algebra). The name follows the standard
classification steps (Fulton & Harris, *Representation Theory*, ch. 9-10):

* translations (``L = 0``) form an ideal ``T``; the quotient is the linear part;
* the linear part is split into its centre and its derived algebra; the Killing
  form ``K_ab = tr(ad_a ad_b)`` of the derived algebra tells compact
  (negative definite) from non-compact, and dimension + signature name the
  common cases: so(3) (dim 3, compact), so(1,2) (dim 3, signature (2, 1)),
  so(3) + so(3) = so(4) (dim 6, compact), so(1,3) (dim 6, signature (3, 3)),
  so(n) (dim n(n-1)/2, compact);
* one-dimensional pieces are so(2) when the generator has imaginary
  eigenvalues (a rotation in some basis), scaling when it is a multiple of the
  identity on its support, and a boost / one-parameter group otherwise.

Hand-written because no maintained Python library classifies real Lie algebras
from structure constants; only the linear algebra (NumPy/SciPy) is borrowed.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla

from physlens.linalg import row_echelon


def augmented(A: np.ndarray) -> np.ndarray:
    """``[[L, b], [0, 0]]`` for a generator ``A = [L | b]``.

    Example:
        >>> augmented(np.array([[0.0, 1.0]])).tolist()
        [[0.0, 1.0], [0.0, 0.0]]
    """
    n = A.shape[0]
    out = np.zeros((n + 1, n + 1))
    out[:n] = A
    return out


def structure_constants(mats: list[np.ndarray]) -> tuple[np.ndarray, float]:
    """Least-squares ``c[a, b, k]`` with ``[M_a, M_b] = sum_k c[a, b, k] M_k``, and the relative closure residual.

    Example:
        >>> Lx = np.array([[0, 0, 0], [0, 0, -1], [0, 1, 0.0]]); Ly = np.array([[0, 0, 1], [0, 0, 0], [-1, 0, 0.0]])
        >>> Lz = np.array([[0, -1, 0], [1, 0, 0], [0, 0, 0.0]])
        >>> c, res = structure_constants([Lx, Ly, Lz])
        >>> round(float(c[0, 1, 2]), 6), res < 1e-12
        (1.0, True)
    """
    d = len(mats)
    if d == 0:
        return np.zeros((0, 0, 0)), 0.0
    basis = np.stack([m.ravel() for m in mats], axis=1)
    stack = np.stack(mats)
    prod = np.einsum("aij,bjk->abik", stack, stack)
    comms = (prod - prod.transpose(1, 0, 2, 3)).reshape(d * d, -1).T  # columns: [M_a, M_b]
    coef, *_ = np.linalg.lstsq(basis, comms, rcond=None)
    c = coef.T.reshape(d, d, d)
    iu = np.triu_indices(d, 1)
    fitted = (basis @ coef).T.reshape(d, d, -1)[iu]
    raw = comms.T.reshape(d, d, -1)[iu]
    num = float(np.sum((fitted - raw) ** 2))
    den = float(np.sum(raw**2))
    scale = np.mean([np.sum(m**2) for m in mats])
    residual = float(np.sqrt(num / max(den, 1e-12 * scale * scale, 1e-300))) if den > 0 else 0.0
    return c, residual


def killing_form(c: np.ndarray) -> np.ndarray:
    """``K_ab = tr(ad_a ad_b)`` with ``(ad_a)_{kb} = c[a, b, k]``.

    Example:
        >>> c = np.zeros((3, 3, 3)); c[0, 1, 2] = c[1, 2, 0] = c[2, 0, 1] = 1
        >>> c[1, 0, 2] = c[2, 1, 0] = c[0, 2, 1] = -1
        >>> np.diag(killing_form(c)).tolist()
        [-2.0, -2.0, -2.0]
    """
    ad = np.transpose(c, (0, 2, 1))  # ad[a][k, b] = c[a, b, k]
    return np.einsum("aij,bji->ab", ad, ad)


def _subalgebra_basis(mats: list[np.ndarray], coeffs: np.ndarray) -> list[np.ndarray]:
    return [sum(w * m for w, m in zip(row, mats)) for row in coeffs]


def _one_dim_name(L: np.ndarray, tol: float) -> str:
    ev = np.linalg.eigvals(L)
    scale = max(np.abs(ev).max(), 1e-300)
    if np.all(np.abs(ev.real) <= tol * scale):
        return "so(2)" if np.any(np.abs(ev.imag) > tol * scale) else "nilpotent"
    nz = ev[np.abs(ev) > tol * scale]
    if np.all(np.abs(nz.imag) <= tol * scale) and (np.all(nz.real > 0) or np.all(nz.real < 0)):
        return "scaling"
    if np.all(np.abs(ev.imag) <= tol * scale):
        # a boost (or squeeze) keeps an indefinite quadratic form: its nonzero rates pair as +l, -l.
        # Unpaired real rates of both signs (t, x -> l t, l x with z -> z / l^2) are a weighted scaling.
        rates = np.sort(nz.real)
        return "so(1,1)" if np.allclose(rates, -rates[::-1], atol=tol * scale) else "scaling"
    return "one-parameter"


def _semisimple_name(dim: int, K: np.ndarray, tol: float) -> str | None:
    w = np.linalg.eigvalsh((K + K.T) / 2)
    scale = max(np.abs(w).max(), 1e-300)
    neg = int(np.sum(w < -tol * scale))
    pos = int(np.sum(w > tol * scale))
    if neg + pos < dim:
        return None
    if pos == 0:
        if dim == 3:
            return "so(3)"
        if dim == 6:
            return "so(3) ⊕ so(3)"
        m = (1 + np.sqrt(1 + 8 * dim)) / 2
        if abs(m - round(m)) < 1e-9:
            return f"so({int(round(m))})"
        return None
    if dim == 3 and (neg, pos) == (1, 2):
        return "so(1,2)"
    if dim == 6 and (neg, pos) == (3, 3):
        return "so(1,3)"
    if dim == 8 and (neg, pos) == (3, 5):
        return "sl(3)"
    m = (1 + np.sqrt(1 + 8 * dim)) / 2
    if abs(m - round(m)) < 1e-9 and (neg, pos) == ((int(round(m)) - 1) * (int(round(m)) - 2) // 2, int(round(m)) - 1):
        return f"so(1,{int(round(m)) - 1})"
    return None


def ignored_inputs(generators: list[np.ndarray], tol: float = 0.05) -> tuple[list[int], list[np.ndarray]]:
    """Inputs every affine move of which lies in the algebra, and the algebra's part on the other inputs.

    An input the function does not depend on may move any way at all (``dw = a x + ... + c``): its
    n + 1 moves fill the algebra with generators that only say "w does not matter" and hide the rest
    (a rotation of (x, y) beside an ignored w reads as a 6-dimensional unnamed algebra). Input ``j``
    is ignored when each elementary move (row j of [L | b] a unit vector) lies in the span of
    ``generators`` to ``tol`` (relative least-squares residual). The part on the other inputs is a
    basis of the generators with the ignored rows and columns cleared.

    Example:
        >>> rot = np.array([[0.0, -1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
        >>> moves = [np.zeros((3, 4)) for _ in range(4)]
        >>> for k, m in enumerate(moves): m[2, k] = 1.0
        >>> idx, rest = ignored_inputs([rot + moves[0]] + moves[1:] + [moves[0]])
        >>> idx, len(rest), identify_algebra(rest)["name"]
        ([2], 1, 'so(2)')
    """
    if not generators:
        return [], []
    n = generators[0].shape[0]
    G = np.stack([g.ravel() for g in generators], axis=1)  # (n (n+1), d)
    # the distance of the unit move e_(j,k) from the span is sqrt(1 - |row (j, k) of an orthonormal basis|^2)
    U, sv, _ = np.linalg.svd(G, full_matrices=False)
    Q = U[:, sv > 1e-12 * max(sv.max(), 1e-300)]
    dist = np.sqrt(np.clip(1.0 - (Q**2).sum(axis=1), 0.0, None)).reshape(n, n + 1)
    ignored = [j for j in range(n) if dist[j].max() <= tol]
    if not ignored:
        return [], list(generators)
    keep = [j for j in range(n) if j not in ignored]
    cleared = []
    for g in generators:
        h = g.copy()
        h[ignored, :] = 0.0
        h[:, ignored] = 0.0
        cleared.append(h.ravel())
    # the cleared generators themselves, in order, each kept when it adds a dimension (they read as the
    # probe wrote them, unlike an SVD basis)
    basis: list[np.ndarray] = []
    for h in cleared:
        if np.abs(h).max() <= tol * max(np.abs(C).max() for C in cleared):
            continue
        trial = np.stack([b.ravel() for b in basis] + [h])
        sv = np.linalg.svd(trial, compute_uv=False)
        if sv[-1] > tol * sv[0]:
            basis.append((h / h[np.argmax(np.abs(h))]).reshape(n, n + 1))
    return ignored, basis


def ignored_directions(generators: list[np.ndarray], tol: float = 0.05) -> tuple[np.ndarray, list[np.ndarray]]:
    """Directions of input space along which every affine move lies in the algebra, and the algebra on the rest.

    The generalisation of :func:`ignored_inputs` from input axes to any direction ``d``: when the
    function depends on the inputs only through combinations orthogonal to ``d`` (``exp(-(x - y)^2) + z``
    through ``x - y`` and ``z``), every move ``d l(x)`` with ``l`` affine leaves it, and these n + 1 moves
    hide the rest of the algebra. For each column ``k`` of ``[L | b]``, the move ``d e_k^T`` is in the span
    when ``d^T A_k d = |d|^2`` with ``A_k`` the span's projector restricted to that column; the directions
    that hold for every column are the eigenvectors of ``sum_k (I - A_k)`` with eigenvalue at most
    ``(n + 1) tol^2``. Returns an orthonormal basis ``D`` (n, m) and a basis of the generators with
    ``D`` projected out (``P L P``, ``P b`` with ``P = I - D D^T``).

    Example:
        >>> moves = [np.zeros((3, 4)) for _ in range(4)]  # every affine move along (1, 1, 0)
        >>> for k, m in enumerate(moves): m[0, k] = m[1, k] = 1.0
        >>> D, rest = ignored_directions(moves)
        >>> (np.abs(D[:, 0]) * np.sqrt(2)).round(6).tolist(), rest
        ([1.0, 1.0, 0.0], [])
    """
    if not generators:
        return np.zeros((0, 0)), []
    n = generators[0].shape[0]
    G = np.stack([g.ravel() for g in generators], axis=1)  # (n (n+1), r)
    U, sv, _ = np.linalg.svd(G, full_matrices=False)
    Q = U[:, sv > 1e-12 * max(sv.max(), 1e-300)].reshape(n, n + 1, -1)
    S = np.zeros((n, n))
    for k in range(n + 1):
        S += np.eye(n) - Q[:, k, :] @ Q[:, k, :].T
    w, V = np.linalg.eigh(S)
    D = V[:, w <= (n + 1) * tol**2]
    if D.shape[1] == 0 or D.shape[1] >= n:
        return np.zeros((n, 0)), list(generators)
    P = np.eye(n) - D @ D.T
    cleared = []
    for g in generators:
        h = np.zeros_like(g)
        h[:, :n] = P @ g[:, :n] @ P
        h[:, n] = P @ g[:, n]
        cleared.append(h)
    basis: list[np.ndarray] = []
    top = max(np.abs(g).max() for g in generators)  # the scale of the moves before clearing
    for h in cleared:
        if np.abs(h).max() <= tol * max(top, 1e-300):
            continue
        trial = np.stack([b.ravel() for b in basis] + [h.ravel()])
        sv2 = np.linalg.svd(trial, compute_uv=False)
        if sv2[-1] > tol * sv2[0]:
            basis.append(h / h.flat[np.argmax(np.abs(h))])
    return D, basis


def _echelon_rows(B: np.ndarray) -> np.ndarray:
    """The span of the columns of ``B`` (n, m) as the rows of its reduced row-echelon form, snapped.

    A learned span is exact to a few %: an entry under 5 % of the largest is no pivot, entries within 2 %
    of a whole number are that number, and tiny ones are 0.
    """
    A, _ = row_echelon(B, list(range(B.shape[0])), tol=0.05)
    whole = np.round(A)
    A = np.where(np.abs(A - whole) <= 0.02 * np.maximum(1.0, np.abs(A)), whole, A)
    return np.where(np.abs(A) < 0.02, 0.0, A)


def readable_combinations(B: np.ndarray, names: list[str]) -> list[str]:
    """The span of the columns of ``B`` (n, m) as simple linear combinations of ``names`` (echelon rows).

    Example:
        >>> readable_combinations(np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 2.0]]) / np.sqrt(2), ["x", "y", "z"])
        ['x - y', 'z']
    """
    out = []
    for row in _echelon_rows(B):
        parts = []
        for v, nm in zip(row, names):
            if v == 0:
                continue
            c = f"{abs(v):.3g}*" if abs(v) != 1 else ""
            parts.append(("- " if v < 0 else "+ ") + c + nm)
        text = " ".join(parts)
        out.append(text[2:] if text.startswith("+ ") else "-" + text[2:])
    return out


def readable_directions(B: np.ndarray, names: list[str]) -> list[str]:
    """The span of the columns of ``B`` (n, m) as simple direction vectors over ``names``.

    Example:
        >>> readable_directions(np.array([[1.0], [1.0], [0.0]]) / np.sqrt(2), ["x", "y", "z"])
        ['(x, y, z) = (1, 1, 0)']
    """
    return [f"({', '.join(names)}) = ({', '.join(f'{v:.3g}' for v in row + 0.0)})"
            for row in _echelon_rows(B)]


def identify_algebra(generators: list[np.ndarray], tol: float = 1e-2, max_dimension: int | None = None) -> dict:
    """Structure constants, closure residual, dimensions and a name for a basis of affine generators.

    With ``max_dimension``, an algebra of more generators gets only its dimension and translation
    count (``structure_constants`` None, ``name`` None).

    Returns ``{"name", "dimension", "abelian", "structure_constants", "closure_residual",
    "translations", "linear_dimension", "killing_signature"}``; ``name`` is None when the
    algebra is not one of the known cases.

    Example:
        >>> rot = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0]])
        >>> identify_algebra([rot])["name"]
        'so(2)'
        >>> t = [np.array([[0.0, 0.0, 1.0], [0.0, 0.0, 0.0]]), np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 1.0]])]
        >>> identify_algebra(t)["name"]
        'translations(2)'
        >>> identify_algebra([rot] + t)["name"]
        'so(2) ⋉ translations(2)'
    """
    d = len(generators)
    info: dict = {"dimension": d, "name": None}
    if d == 0:
        info.update(structure_constants=np.zeros((0, 0, 0)), closure_residual=0.0, abelian=True,
                    translations=0, linear_dimension=0, killing_signature=[0, 0, 0])
        return info
    n = generators[0].shape[0]
    if max_dimension is not None and d > max_dimension:
        # structure constants are d^3 numbers and cost d^2 commutators (a 220-dimensional algebra: 15 s and
        # 250 MB); so large an algebra is not one of the named cases: count its translations and stop
        Lflat = np.stack([g[:, :n].ravel() for g in generators])
        lin_rank = int(np.linalg.matrix_rank(Lflat, tol=tol * max(np.abs(Lflat).max(), 1e-300)))
        info.update(structure_constants=None, closure_residual=float("nan"), abelian=None,
                    translations=d - lin_rank, linear_dimension=lin_rank, killing_signature=None)
        return info
    mats = [augmented(g) for g in generators]
    c, residual = structure_constants(mats)
    scale = max(np.abs(np.stack(mats)).max(), 1e-300)
    info["structure_constants"] = c
    info["closure_residual"] = residual
    info["abelian"] = bool(np.abs(c).max() <= tol * max(1.0, scale))

    # translation ideal: combinations with vanishing linear part
    Lflat = np.stack([g[:, :n].ravel() for g in generators])  # d x n^2
    # coefficient combinations with vanishing linear part: eigenvectors of the small Gram matrix
    gl, gv = np.linalg.eigh(Lflat @ Lflat.T)
    gl = np.clip(gl, 0.0, None)
    gmax = gl.max()
    lin_rank = int(np.sum(gl > (tol**2) * gmax)) if gmax > (1e-6 * scale) ** 2 else 0
    Vt = gv[:, ::-1].T  # rows: coefficient vectors, largest linear part first
    info["translations"] = d - lin_rank
    info["linear_dimension"] = lin_rank
    trans_name = f"translations({d - lin_rank})" if d - lin_rank else ""
    if lin_rank == 0:
        info["name"] = trans_name
        info["killing_signature"] = [0, 0, 0]
        return info

    # linear part: an independent basis of the L's
    Ls = [g[:, :n] for g in generators]
    U, sl, Vlt = np.linalg.svd(Lflat, full_matrices=False)
    lin_basis = [Vlt[i].reshape(n, n) for i in range(lin_rank)]
    cl, _ = structure_constants(lin_basis)
    K = killing_form(cl)
    w = np.linalg.eigvalsh((K + K.T) / 2)
    ks = max(np.abs(w).max(), 1e-300) if np.abs(w).max() > 1e-9 else 1.0
    sig = [int(np.sum(w < -tol * ks)), int(np.sum(np.abs(w) <= tol * ks)), int(np.sum(w > tol * ks))]
    info["killing_signature"] = sig

    # centre of the linear part and its derived algebra
    # x in centre iff sum_a x_a c[a, b, :] = 0 for all b
    Cmat = np.concatenate([cl[:, b, :] for b in range(lin_rank)], axis=1)  # (d_l, d_l * d_l)
    cscale = max(np.abs(cl).max(), 1e-300)
    cw, cv = np.linalg.eigh(Cmat @ Cmat.T)
    centre = cv[:, cw <= (tol * cscale) ** 2].T if cscale > tol else np.eye(lin_rank)
    parts: list[str] = []
    centre_mats = _subalgebra_basis(lin_basis, centre) if len(centre) else []
    derived_dim = lin_rank - len(centre)
    if derived_dim > 0:
        # derived algebra spanned by the commutators
        comms = np.stack([cl[a, b] for a in range(lin_rank) for b in range(a + 1, lin_rank)])
        _, sd_, Vd = np.linalg.svd(comms, full_matrices=False)
        rank_d = int(np.sum(sd_ > tol * max(sd_.max(), 1e-300)))
        if rank_d != derived_dim:
            parts.append(None)  # not reductive: centre + derived do not span
        else:
            sub = _subalgebra_basis(lin_basis, Vd[:rank_d])
            csub, _ = structure_constants(sub)
            parts.append(_semisimple_name(rank_d, killing_form(csub), tol))
    # generators are estimates: classify their spectra with a looser tolerance than the closure
    names_1d = [_one_dim_name(m, max(tol, 0.05)) for m in centre_mats]
    for nm in sorted(set(names_1d), key=names_1d.index):
        count = names_1d.count(nm)
        parts.append(nm if count == 1 else " ⊕ ".join([nm] * count))
    if any(p is None for p in parts):
        info["name"] = None
        return info
    linear_name = " ⊕ ".join(parts)
    if trans_name:
        acts = any(np.abs(g[:, :n] @ t[:, n]).max() > tol * scale for g in generators for t in _translation_part(generators, Vt, lin_rank))
        linear_name = f"{linear_name} {'⋉' if acts else '⊕'} {trans_name}"
    info["name"] = linear_name
    return info


def _translation_part(generators, Vt, lin_rank):
    coeffs = Vt[lin_rank:]
    return [sum(w * g for w, g in zip(row, generators)) for row in coeffs]
