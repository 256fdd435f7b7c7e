"""Transverse-field Ising chain by exact diagonalisation: snapshots across the quantum phase transition.

H = -J sum_i sz_i sz_{i+1} - h sum_i sx_i on a ring of N <= 12 spins
(periodic boundary). The ground state is found with SciPy's Lanczos solver
(``scipy.sparse.linalg.eigsh``) in the spin-flip-even sector (P = prod_i sx_i
= +1), which holds the ground state of the finite ring for every h > 0, so the
Z2-symmetric cat state below h = J is obtained without the near-degenerate
odd state mixing in. The exact energy is known from the Jordan-Wigner
free-fermion solution (Pfeuty 1970, Ann. Phys. 57, 79): in the even sector the
fermions take antiperiodic momenta k = pi (2m + 1) / N and
E_0 = -sum_k sqrt(J^2 + h^2 - 2 J h cos k), which the tests check.

Setup (following Carrasquilla & Melko 2017, Nature Physics 13, 431, for
quantum snapshots): the field g = h/J of each sample is drawn across the
critical point g_c = 1; one z-basis spin configuration s in {-1, +1}^N is
drawn from the Born distribution |<s|psi_0(g)>|^2. Inputs are ``s0..s{N-1}``;
the target is ``g`` (``target="field"``, regression) or the phase label
``paramagnetic`` = 1 for g > 1 (``target="phase"``). Because the Born
distribution is invariant under global spin flip (Z2), translations and
reflections of the ring, so is the best predictor of g from a snapshot —
these are the symmetries in the ground truth. ``aux`` holds g, the exact
ground-state energy per site, <sx> and the snapshot magnetisation.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

import numpy as np
import scipy.sparse as sps
from pydantic import Field
from scipy.sparse.linalg import eigsh

from physlens.data.dataset import Dataset
from physlens.errors import ParameterError
from physlens.findings import GroundTruth
from physlens.systems.base import Interval, System, SystemParams, register_system

MAX_SPINS = 12


def spin_table(n_spins: int) -> np.ndarray:
    """z-basis spins (+1/-1) of every basis state, shape (2^N, N); bit i of the index is spin i (1 -> -1).

    Example:
        >>> spin_table(2).tolist()
        [[1, 1], [-1, 1], [1, -1], [-1, -1]]
    """
    idx = np.arange(2**n_spins)
    bits = (idx[:, None] >> np.arange(n_spins)[None, :]) & 1
    return 1 - 2 * bits


@lru_cache(maxsize=16)
def _operators(n_spins: int):
    """(zz diagonal, sum_i sx_i as sparse matrix, even-sector isometry U) for a ring of n_spins."""
    N, D = n_spins, 2**n_spins
    s = spin_table(N)
    zz = np.sum(s * np.roll(s, -1, axis=1), axis=1).astype(float)  # bonds (i, i+1 mod N)
    idx = np.arange(D)
    rows = np.concatenate([idx ^ (1 << i) for i in range(N)])
    cols = np.tile(idx, N)
    sx = sps.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(D, D))
    # even sector of P = prod sx: basis (|i> + |~i>)/sqrt 2 for i < ~i
    rep = idx[idx < (idx ^ (D - 1))]
    U = sps.csr_matrix(
        (np.full(2 * rep.size, 1 / np.sqrt(2)), (np.r_[rep, rep ^ (D - 1)], np.r_[np.arange(rep.size), np.arange(rep.size)])),
        shape=(D, rep.size),
    )
    return zz, sx, U


def tfim_hamiltonian(n_spins: int, h: float, J: float = 1.0) -> sps.csr_matrix:
    """Sparse H = -J sum sz_i sz_{i+1} - h sum sx_i on a periodic ring (full 2^N space).

    Example:
        >>> H = tfim_hamiltonian(3, h=0.0)
        >>> float(H.diagonal().min())
        -3.0
    """
    zz, sx, _ = _operators(n_spins)
    return (sps.diags(-J * zz) - h * sx).tocsr()


def tfim_ground_state(n_spins: int, h: float, J: float = 1.0) -> tuple[float, np.ndarray]:
    """Ground-state energy and state (in the full 2^N basis) of the periodic TFIM, by Lanczos in the even sector.

    Example:
        >>> E, psi = tfim_ground_state(8, h=1.0)
        >>> bool(abs(E - tfim_exact_energy(8, 1.0)) < 1e-9)
        True
    """
    if not 2 <= n_spins <= MAX_SPINS:
        raise ParameterError(f"tfim: n_spins must be in 2..{MAX_SPINS} for exact diagonalisation, got {n_spins}")
    _, _, U = _operators(n_spins)
    H = (U.T @ tfim_hamiltonian(n_spins, h, J) @ U).tocsr()
    if H.shape[0] <= 64:
        w, v = np.linalg.eigh(H.toarray())
        E, phi = w[0], v[:, 0]
    else:
        v0 = np.ones(H.shape[0])
        w, v = eigsh(H, k=1, which="SA", v0=v0, tol=1e-13)
        E, phi = w[0], v[:, 0]
    psi = U @ phi
    return float(E), psi / np.linalg.norm(psi)


def tfim_exact_energy(n_spins: int, h: float, J: float = 1.0) -> float:
    """Exact ground-state energy of the periodic ring from the free-fermion solution (even sector).

    Example:
        >>> round(tfim_exact_energy(4, h=0.0), 12)
        -4.0
    """
    k = np.pi * (2 * np.arange(n_spins) + 1) / n_spins
    return float(-np.sum(np.sqrt(J**2 + h**2 - 2 * J * h * np.cos(k))))


@register_system
class TFIMChain(System):
    """Born-rule spin snapshots of the transverse-field Ising ring's ground state across g = h/J = 1.

    Parameters:
        n_spins: chain length N (2..12; exact diagonalisation in the 2^N space).
        g_range: range of the field g = h/J (> 0), default (0.2, 2.0).
        n_fields: number of distinct fields (one ground state each), default 40.
        target: ``"field"`` (y = g) or ``"phase"`` (y = 1 if g > 1, else 0).

    Example:
        >>> ds = TFIMChain(n_spins=6, n_fields=4).sample(8, seed=0)
        >>> ds.input_names[:2], ds.target_names
        (['s0', 's1'], ['g'])
    """

    name = "tfim_chain"
    description = "transverse-field Ising ring (exact diagonalisation): ground-state spin snapshots across h/J = 1"
    default_n = 4000

    class Params(SystemParams):
        n_spins: int = Field(10, ge=2, le=MAX_SPINS, description="chain length N (exact diagonalisation of 2^N states)")
        g_range: Interval(gt=0, strict=True) = Field((0.2, 2.0), description="transverse fields g in [min, max] (J = 1)")
        n_fields: int = Field(40, ge=1, le=1000, description="number of fields g, evenly spaced")
        target: Literal["field", "phase"] = Field("field", description="target: the field g, or the phase (g > 1)")

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self.N = self.n_spins

    def _generate(self, n: int, rng: np.random.Generator) -> Dataset:
        N = self.N
        n_fields = min(self.n_fields, n)
        gs = np.sort(rng.uniform(*self.g_range, size=n_fields))
        counts = np.full(n_fields, n // n_fields)
        counts[: n % n_fields] += 1
        table = spin_table(N)
        sx_op = _operators(N)[1]
        X, g_col, e_col, mx_col = [], [], [], []
        for g, m in zip(gs, counts):
            E, psi = tfim_ground_state(N, g)
            prob = np.abs(psi) ** 2
            draws = rng.choice(prob.size, size=int(m), p=prob / prob.sum())
            X.append(table[draws])
            g_col.append(np.full(m, g))
            e_col.append(np.full(m, E / N))
            mx_col.append(np.full(m, float(psi @ (sx_op @ psi)) / N))
        X = np.vstack(X).astype(float)
        g_all = np.concatenate(g_col)
        y = g_all if self.target == "field" else (g_all > 1.0).astype(float)
        return Dataset(
            X,
            y,
            [f"s{i}" for i in range(N)],
            ["g" if self.target == "field" else "paramagnetic"],
            units={f"s{i}": "dimensionless" for i in range(N)},
            aux={
                "g": g_all,
                "energy_per_site": np.concatenate(e_col),
                "sx": np.concatenate(mx_col),
                "magnetisation": X.mean(axis=1),
            },
            meta={"boundary": "periodic", "J": 1.0, "basis": "sz", "phase_labels": {"0": "ferromagnetic", "1": "paramagnetic"}},
        )

    @property
    def truth(self) -> GroundTruth:
        N = self.N
        eye = np.eye(N)
        return GroundTruth(
            symmetries=[
                {"name": "Z2", "kind": "discrete", "transform": -eye},
                {"name": "translations", "kind": "discrete", "transform": np.roll(eye, 1, axis=0)},
                {"name": "parity", "kind": "discrete", "transform": eye[::-1].copy()},
            ],
            latent_dim=1,
            relevant_inputs=[f"s{i}" for i in range(N)],
            critical_points={"g_c": 1.0},
            extra={
                "hamiltonian": "H = -J sum sz_i sz_(i+1) - h sum sx_i, periodic, g = h/J",
                "order_parameter": "|mean(s)| (z magnetisation), nonzero for g < 1 in the thermodynamic limit",
                "phases": {"ferromagnetic": "g < 1", "paramagnetic": "g > 1"},
                "snapshots": "one Born-rule z-basis configuration per sample",
            },
        )
