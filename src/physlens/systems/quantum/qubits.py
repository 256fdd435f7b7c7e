"""Tomography of random pure one- and two-qubit states, SciNet style.

Follows the quantum-tomography example of SciNet (Iten, Metger, Wilming,
del Rio & Renner 2020, "Discovering physical concepts with neural networks",
Phys. Rev. Lett. 124, 010508): a fixed, random, tomographically complete set
of M projective measurements |alpha_i> is chosen once (M = 10 for one qubit,
30 for two). For a Haar-random pure state psi the *observation* is the list of
probabilities o_i = |<alpha_i|psi>|^2; the *question* is another random pure
state omega, described the same way, q_i = |<alpha_i|omega>|^2; the *answer* is
the probability y = |<omega|psi>|^2 of projecting psi onto omega.

Inputs are ``o0..o{M-1}, q0..q{M-1}``, the target is ``p``. The state psi has
2 real parameters for one qubit (the Bloch sphere) and 6 for two (2 * 4 - 2),
the minimal latent dimension SciNet finds. Because the measurement set is
informationally complete, the answer is a fixed bilinear form of the inputs:
with Tr(rho P_i) = o_i linear in the Pauli coefficients c of rho,
y = Tr(rho_psi rho_omega) = (1 + c_psi . c_omega) / 2^n and c = A^+ (o - o_0);
this exact form is the ground-truth equation (for two qubits, with ~900 terms,
it is given as matrices in ``truth.extra["bilinear_form"]``: y = c + sum_ij
B_ij (o_i - o0_i)(q_j - o0_j) with c = 1/2^n). The answer is also symmetric
under swapping the observation and question blocks.
"""

from __future__ import annotations

from functools import reduce
from itertools import product
from typing import Literal

import numpy as np
import sympy as sp
from pydantic import Field, model_validator

from physlens.data.dataset import Dataset
from physlens.errors import ParameterError
from physlens.findings import GroundTruth
from physlens.systems.base import System, SystemParams, register_system

PAULIS = [
    np.eye(2, dtype=complex),
    np.array([[0, 1], [1, 0]], dtype=complex),
    np.array([[0, -1j], [1j, 0]], dtype=complex),
    np.array([[1, 0], [0, -1]], dtype=complex),
]


def random_pure_states(n: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` Haar-random pure states in C^dim (rows, unit norm).

    Example:
        >>> s = random_pure_states(3, 4, np.random.default_rng(0))
        >>> np.allclose(np.linalg.norm(s, axis=1), 1)
        True
    """
    z = rng.standard_normal((n, dim)) + 1j * rng.standard_normal((n, dim))
    return z / np.linalg.norm(z, axis=1, keepdims=True)


def pauli_basis(n_qubits: int) -> np.ndarray:
    """The 4^n tensor products of Pauli matrices (identity first), shape (4^n, 2^n, 2^n).

    Example:
        >>> pauli_basis(2).shape
        (16, 4, 4)
    """
    return np.array([reduce(np.kron, ops) for ops in product(PAULIS, repeat=n_qubits)])


@register_system
class QubitTomography(System):
    """Observation o = |<alpha_i|psi>|^2 and question q = |<alpha_i|omega>|^2 -> answer |<omega|psi>|^2.

    Parameters:
        n_qubits: 1 or 2.
        n_measurements: size M of the fixed measurement set (default 10 for one qubit,
            30 for two; at least 4^n - 1 so that it is tomographically complete).
        measurement_seed: seed of the fixed random measurement set (part of the system).

    Example:
        >>> ds = QubitTomography(n_qubits=1).sample(5, seed=0)
        >>> ds.d_in, ds.target_names
        (20, ['p'])
    """

    name = "qubit_tomography"
    description = "SciNet tomography: measurement probabilities of random 1- or 2-qubit pure states -> answer"
    default_n = 5000

    class Params(SystemParams):
        n_qubits: Literal[1, 2] = Field(1, description="number of qubits of the unknown state")
        n_measurements: int | None = Field(
            None, description="number of projective measurements, 4^n - 1 ... 200 (default 10 for 1 qubit, 30 for 2)")
        measurement_seed: int = Field(0, description="seed of the random measurement directions")

        @model_validator(mode="after")
        def _enough(self):
            low = 4**self.n_qubits - 1
            if self.n_measurements is not None and not low <= self.n_measurements <= 200:
                raise ValueError(f"parameter n_measurements must be an integer in {low}..200 for {self.n_qubits} "
                                 f"qubit(s), got {self.n_measurements!r}")
            return self

    def __init__(self, **params) -> None:
        super().__init__(**params)
        dim = 2**self.n_qubits
        M = (10 if self.n_qubits == 1 else 30) if self.n_measurements is None else self.n_measurements
        self.params["n_measurements"] = self.n_measurements = int(M)
        self.dim, self.M = dim, int(M)
        self.alphas = random_pure_states(self.M, dim, np.random.default_rng(1_000_003 + int(self.measurement_seed)))
        # o_i = Tr(rho P_i), rho = (I + sum_a c_a sigma_a) / dim  =>  o = o0 + A c
        paulis = pauli_basis(self.n_qubits)[1:]
        proj = np.einsum("mi,mj->mij", self.alphas, self.alphas.conj())
        self.A = np.real(np.einsum("mij,aji->ma", proj, paulis)) / dim
        self.o0 = np.full(self.M, 1.0 / dim)
        if np.linalg.matrix_rank(self.A) < dim**2 - 1:
            raise ParameterError("qubit_tomography: the measurement set is not tomographically complete; change measurement_seed")
        self.A_pinv = np.linalg.pinv(self.A)

    @property
    def input_names(self) -> list[str]:
        """Observation columns ``o0..`` then question columns ``q0..``.

        Example:
            >>> QubitTomography(n_qubits=1).input_names[9:11]
            ['o9', 'q0']
        """
        return [f"o{i}" for i in range(self.M)] + [f"q{i}" for i in range(self.M)]

    def _generate(self, n: int, rng: np.random.Generator) -> Dataset:
        psi = random_pure_states(n, self.dim, rng)
        omega = random_pure_states(n, self.dim, rng)
        o = np.abs(psi @ self.alphas.conj().T) ** 2
        q = np.abs(omega @ self.alphas.conj().T) ** 2
        p = np.abs(np.sum(omega.conj() * psi, axis=1)) ** 2
        # the state's phase-free parameters: <psi|P|psi> for each non-identity Pauli string (1 qubit: the
        # Bloch vector); psi itself carries an arbitrary global phase, so it cannot name a latent
        labels = ["".join(t) for t in product("IXYZ", repeat=self.n_qubits)][1:]
        expect = np.real(np.einsum("ni,aij,nj->na", psi.conj(), pauli_basis(self.n_qubits)[1:], psi))
        return Dataset(
            np.hstack([o, q]),
            p,
            self.input_names,
            ["p"],
            aux={"psi_re": psi.real, "psi_im": psi.imag, "omega_re": omega.real, "omega_im": omega.imag,
                 **{f"pauli_{lab}": expect[:, a] for a, lab in enumerate(labels)}},
            meta={"measurements_re": self.alphas.real.copy(), "measurements_im": self.alphas.imag.copy(),
                  "question_columns": [f"q{i}" for i in range(self.M)]},
        )

    def answer_from_inputs(self, X: np.ndarray) -> np.ndarray:
        """The answer computed from the measurement probabilities alone (tomography).

        Example:
            >>> s = QubitTomography(n_qubits=2)
            >>> ds = s.sample(20, seed=1)
            >>> bool(np.allclose(s.answer_from_inputs(ds.X), ds.y[:, 0]))
            True
        """
        X = np.asarray(X, dtype=float)
        c_psi = (X[:, : self.M] - self.o0) @ self.A_pinv.T
        c_om = (X[:, self.M :] - self.o0) @ self.A_pinv.T
        return (1.0 + np.sum(c_psi * c_om, axis=1)) / self.dim

    @property
    def truth(self) -> GroundTruth:
        M = self.M
        o = sp.Matrix(sp.symbols(f"o0:{M}", real=True))
        q = sp.Matrix(sp.symbols(f"q0:{M}", real=True))
        B = self.A_pinv.T @ self.A_pinv  # y = (1 + (o - o0)^T B (q - o0)) / dim
        u = B @ self.o0
        const = (1.0 + float(self.o0 @ B @ self.o0)) / self.dim
        expr = sp.Integer(0)
        if self.n_qubits == 1:
            Bs = sp.Matrix(np.round(B / self.dim, 14))
            expr = (o.T * Bs * q)[0, 0] - sum(float(round(u[i] / self.dim, 14)) * (o[i] + q[i]) for i in range(M))
        swap = np.zeros((2 * M, 2 * M))
        swap[:M, M:] = np.eye(M)
        swap[M:, :M] = np.eye(M)
        # For two qubits the bilinear form has ~900 terms, beyond what the restricted
        # parser reads back from JSON: it is given as matrices in ``extra`` only.
        equations = {"p": expr + sp.Float(const)} if self.n_qubits == 1 else {}
        return GroundTruth(
            symmetries=[{"name": "permutation", "kind": "discrete", "transform": swap,
                         "note": "swap observation and question"}],
            equations=equations,
            latent_dim=2 * self.dim - 2,
            relevant_inputs=self.input_names,
            extra={
                "answer": "|<omega|psi>|^2",
                "latent_dim_question": 2 * self.dim - 2,
                "bilinear_form": {"B": B / self.dim, "o0": self.o0.copy(), "dim": self.dim},
                "reference": "Iten et al. 2020, PRL 124, 010508 (SciNet)",
            },
        )
