"""Shared pieces of the classical systems: exact parameter values, trajectory flattening,
and the matrices of the ground-truth symmetry generators (rotations of several
vectors at once, translations, permutations of particles).

Generators follow the physlens convention: an n x (n+1) affine matrix ``[L | b]``
in the dataset's input columns acts as x -> x + eps (L x + b).
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import sympy as sp


def exact(value: float) -> sp.Expr:
    """A parameter value as an exact SymPy number (the shortest decimal of the float).

    Keeps ground-truth expressions readable (``p**2/2`` rather than ``0.5*p**2``) and
    exact through the JSON round trip.

    Example:
        >>> exact(0.1), exact(2.0)
        (1/10, 2)
    """
    return sp.Rational(repr(float(value)))


# --------------------------------------------------------------------------- trajectories
def n_trajectories(n: int, points_per_trajectory: int) -> int:
    """Number of trajectories needed for ``n`` samples.

    Example:
        >>> n_trajectories(250, 100)
        3
    """
    return max(1, -(-n // points_per_trajectory))


def flatten_trajectories(traj: np.ndarray, times: np.ndarray, n: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """First ``n`` rows of the trajectories ``(n_traj, T, d)`` stacked trajectory by trajectory.

    Returns the rows and the aux arrays ``trajectory`` (index of the trajectory of each
    row) and ``t`` (its time), so that probes can regroup samples along trajectories.

    Example:
        >>> rows, aux = flatten_trajectories(np.zeros((2, 3, 1)), np.arange(3.0), 4)
        >>> rows.shape, aux["trajectory"].tolist()
        ((4, 1), [0, 0, 0, 1])
    """
    n_traj, T, d = traj.shape
    rows = traj.reshape(n_traj * T, d)[:n]
    aux = {
        "trajectory": np.repeat(np.arange(n_traj), T)[:n],
        "t": np.tile(np.asarray(times, dtype=float), n_traj)[:n],
    }
    return rows, aux


# --------------------------------------------------------------------------- symmetry generators
def so_basis(dim: int) -> list[np.ndarray]:
    """Basis of so(dim) as antisymmetric matrices (dim = 2: one; dim = 3: L_x, L_y, L_z).

    For dim = 3 the order is rotations about x, y, z: (J_k)_{ij} = -epsilon_{kij}.

    Example:
        >>> so_basis(2)[0].tolist()
        [[0.0, -1.0], [1.0, 0.0]]
    """
    if dim == 2:
        return [np.array([[0.0, -1.0], [1.0, 0.0]])]
    if dim == 3:
        mats = []
        for k in range(3):
            J = np.zeros((3, 3))
            i, j = [a for a in range(3) if a != k]
            # rotation about axis k: x_i -> -x_j, x_j -> x_i with (i, j, k) cyclic
            if (i, j, k) in ((1, 2, 0), (2, 0, 1), (0, 1, 2)):
                J[i, j], J[j, i] = -1.0, 1.0
            else:
                J[j, i], J[i, j] = -1.0, 1.0
            mats.append(J)
        return mats
    basis = []
    for i, j in combinations(range(dim), 2):
        J = np.zeros((dim, dim))
        J[i, j], J[j, i] = -1.0, 1.0
        basis.append(J)
    return basis


def block_action(n_cols: int, block: np.ndarray, starts: list[int]) -> np.ndarray:
    """n_cols x n_cols matrix applying ``block`` to the column groups beginning at each of ``starts``.

    Example:
        >>> block_action(4, np.array([[0.0, -1.0], [1.0, 0.0]]), [0, 2]).astype(int).tolist()[1]
        [1, 0, 0, 0]
    """
    M = np.zeros((n_cols, n_cols))
    k = block.shape[0]
    for s in starts:
        M[s : s + k, s : s + k] = block
    return M


def affine(L: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """The n x (n+1) generator ``[L | b]``.

    Example:
        >>> affine(np.zeros((2, 2)), np.array([1.0, 0.0])).shape
        (2, 3)
    """
    b = np.zeros(L.shape[0]) if b is None else np.asarray(b, dtype=float)
    return np.hstack([L, b[:, None]])


def permutation_matrix(perm: list[int]) -> np.ndarray:
    """Matrix P with (P x)[i] = x[perm[i]].

    Example:
        >>> (permutation_matrix([1, 0]) @ np.array([5.0, 7.0])).tolist()
        [7.0, 5.0]
    """
    P = np.zeros((len(perm), len(perm)))
    P[np.arange(len(perm)), perm] = 1.0
    return P


def particle_permutation(block_size: int, particle_perm: list[int]) -> np.ndarray:
    """Permutation of whole particle blocks: particle i of the result is particle ``particle_perm[i]``.

    Example:
        >>> particle_permutation(2, [1, 0]).astype(int).tolist()[0]
        [0, 0, 1, 0]
    """
    cols = [particle_perm[i] * block_size + c for i in range(len(particle_perm)) for c in range(block_size)]
    return permutation_matrix(cols)
