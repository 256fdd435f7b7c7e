"""Small linear-algebra helpers the probes share (NumPy only).

``row_echelon`` reads the span of a few vectors as simple rows: conserved quantities as sparse
combinations of library terms, the scalings a law keeps, the input combinations a network depends on.
"""

from __future__ import annotations

import numpy as np


def row_echelon(vectors: np.ndarray, order: list[int], tol: float = 0.1) -> tuple[np.ndarray, list[int]]:
    """Reduced row-echelon form of the span of the columns of ``vectors`` (K, m), pivots on the first suitable
    entries of ``order``: an entry is suitable when it is at least ``tol`` of the largest left (a span read
    from data is exact only to a few %, so a near-zero entry is no pivot).

    Returns rows (m, K), each with a pivot coefficient 1 that every other row has 0, and the pivots.

    Example:
        >>> V = np.array([[1.0, 1.0], [1.0, -1.0], [0.0, 2.0]])  # columns: a + b, a - b + 2c
        >>> A, piv = row_echelon(V, [0, 1, 2]); piv, (np.round(A, 3) + 0.0).tolist()
        ([0, 1], [[1.0, 0.0, 1.0], [0.0, 1.0, -1.0]])
    """
    A = vectors.T.copy()
    m = A.shape[0]
    pivots: list[int] = []
    for r in range(m):
        rest = A[r:]
        big = np.abs(rest).max()
        if big == 0:
            break
        for j in order:
            if j in pivots:
                continue
            i = int(np.argmax(np.abs(rest[:, j])))
            if abs(rest[i, j]) >= tol * big:
                break
        else:
            break
        A[[r, r + i]] = A[[r + i, r]]
        A[r] /= A[r, j]
        for k in range(m):
            if k != r:
                A[k] -= A[k, j] * A[r]
        pivots.append(j)
    return A[: len(pivots)], pivots
