"""Lowest energy levels of a particle in random 1-D potentials.

Follows the "deep learning and the Schrodinger equation" setup (Mills,
Spanner & Tamblyn 2017, Phys. Rev. A 96, 042113) in one dimension: a random
smooth potential V(x) on the box [-L, L] (hard walls) is the input, the lowest
K eigenvalues of H = -1/2 d^2/dx^2 + V(x) (hbar = m = 1) are the targets.

The network sees V at G equally spaced grid points (columns ``V0..V{G-1}``,
x_0 = -L ... x_{G-1} = +L). The solver interpolates those values to a fine
grid with a not-a-knot cubic spline (linear in V, exact for polynomials up to
cubic, and mirror-symmetric on a symmetric grid) and diagonalises the
second-order finite-difference Hamiltonian with SciPy's tridiagonal
eigensolver (``eigh_tridiagonal``). So the inputs determine the targets
exactly, and the two symmetries of the continuum problem hold exactly:

* parity: V(x) -> V(-x) (reversal of the input columns) leaves every energy
  unchanged (and mirrors the ground-state density);
* shift equivariance: V -> V + c moves every energy by c (density unchanged).

Families (parameter ``family``): ``random`` (offset plus three Gaussian wells
and bumps), ``harmonic`` (1/2 omega^2 (x - x0)^2 + c, where E_n = omega (n + 1/2) + c),
``double_well`` (a ((x/b)^2 - 1)^2 + c) and ``mixed`` (a random family per sample);
each potential is capped at 40 (before the offset c) so the inputs stay on one
scale. The hidden family parameters are in ``aux`` (``omega``, ``offset``,
``center``, ``family``). With the default solver grid the harmonic levels match
omega (n + 1/2) + c to about 1e-2 (finite-difference error, grows with omega).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, model_validator
from scipy.interpolate import CubicSpline
from scipy.linalg import eigh_tridiagonal

from physlens.data.dataset import Dataset
from physlens.errors import ParameterError
from physlens.expressions import parse_expression
from physlens.findings import GroundTruth
from physlens.systems.base import System, SystemParams, register_system

FAMILIES = ("random", "harmonic", "double_well", "mixed")


def lowest_levels(V: np.ndarray, dx: float, k: int, vectors: bool = False):
    """Lowest ``k`` eigenvalues of -1/2 d^2/dx^2 + V on a grid with Dirichlet walls (hbar = m = 1).

    ``V`` holds the potential at the interior grid points (spacing ``dx``);
    with ``vectors=True`` also returns the normalised eigenvectors (columns),
    with sum(|psi|^2) dx = 1.

    Example:
        >>> x = np.linspace(-8, 8, 2001)[1:-1]
        >>> np.round(lowest_levels(0.5 * x**2, x[1] - x[0], 3), 4).tolist()
        [0.5, 1.5, 2.5]
    """
    V = np.asarray(V, dtype=float)
    if k < 1 or k > V.size:
        raise ParameterError(f"number of levels must be in 1..{V.size}, got {k}")
    diag = 1.0 / dx**2 + V
    off = np.full(V.size - 1, -0.5 / dx**2)
    if not vectors:
        return eigh_tridiagonal(diag, off, eigvals_only=True, select="i", select_range=(0, k - 1))
    w, v = eigh_tridiagonal(diag, off, select="i", select_range=(0, k - 1))
    return w, v / np.sqrt(dx)


@register_system
class Schrodinger1D(System):
    """Potential on a grid -> lowest energies (and optionally ground-state density).

    Parameters:
        family: ``random`` (default), ``harmonic``, ``double_well`` or ``mixed``.
        n_grid: number G of input grid points (8..256, default 32).
        n_levels: number K of energy levels in the targets (1..10, default 3).
        box: half-width L of the box [-L, L] (> 0, default 5).
        n_fine: points of the solver grid (>= 4 G, default 256).
        density: also return |psi_0|^2 at the G grid points (targets ``rho0..``).

    Example:
        >>> ds = Schrodinger1D(family="harmonic", n_grid=16).sample(3, seed=0)
        >>> ds.target_names
        ['E0', 'E1', 'E2']
    """

    name = "schrodinger_1d"
    description = "random 1-D potentials on a grid -> lowest energy levels (tridiagonal eigensolver)"

    class Params(SystemParams):
        family: Literal[FAMILIES] = Field("random", description="family of random potentials V(x)")
        n_grid: int = Field(32, ge=8, le=256, description="grid points of V(x) in the inputs")
        n_levels: int = Field(3, ge=1, le=10, description="number of lowest energy levels in the targets")
        box: float = Field(5.0, gt=0, description="half-width L of the box [-L, L]")
        n_fine: int = Field(256, le=20000, description="points of the fine grid of the solver, 4 n_grid ... 20000")
        density: bool = Field(False, description="add the ground-state density to the targets")

        @model_validator(mode="after")
        def _fine_enough(self):
            if self.n_fine < 4 * self.n_grid:
                raise ValueError(f"parameter n_fine must be an integer in {4 * self.n_grid}..20000, got {self.n_fine!r}")
            return self

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self.G, self.K, self.L = self.n_grid, self.n_levels, self.box
        self.v_max = 40.0
        self.x = np.linspace(-self.L, self.L, self.G)
        # fine grid: n_fine interior points of [-L, L], symmetric about 0
        self.x_fine = np.linspace(-self.L, self.L, self.n_fine + 2)[1:-1]
        self.dx = self.x_fine[1] - self.x_fine[0]

    # ----------------------------------------------------------------- names
    @property
    def input_names(self) -> list[str]:
        """Input columns ``V0..V{G-1}`` (potential at the grid points ``self.x``).

        Example:
            >>> Schrodinger1D(n_grid=8).input_names[-1]
            'V7'
        """
        return [f"V{i}" for i in range(self.G)]

    @property
    def target_names(self) -> list[str]:
        """Targets ``E0..E{K-1}`` (then ``rho0..`` with ``density=True``).

        Example:
            >>> Schrodinger1D(n_levels=2).target_names
            ['E0', 'E1']
        """
        names = [f"E{k}" for k in range(self.K)]
        return names + ([f"rho{i}" for i in range(self.G)] if self.density else [])

    # ----------------------------------------------------------------- solver
    def solve(self, V_grid: np.ndarray) -> np.ndarray:
        """Targets (energies, then density if asked) for potentials given on the G input points.

        Example:
            >>> s = Schrodinger1D(n_grid=16)
            >>> E = s.solve(np.zeros((1, 16)))  # particle in a box of width 10
            >>> bool(abs(E[0, 0] - np.pi**2 / (2 * 10**2)) < 1e-3)
            True
        """
        V_grid = np.atleast_2d(np.asarray(V_grid, dtype=float))
        V_fine = CubicSpline(self.x, V_grid, axis=1, bc_type="not-a-knot")(self.x_fine)
        out = np.empty((V_grid.shape[0], len(self.target_names)))
        for i, v in enumerate(V_fine):
            if self.density:
                w, psi = lowest_levels(v, self.dx, self.K, vectors=True)
                rho = np.interp(self.x, np.r_[-self.L, self.x_fine, self.L], np.r_[0.0, psi[:, 0] ** 2, 0.0])
                out[i] = np.r_[w, rho]
            else:
                out[i] = lowest_levels(v, self.dx, self.K)
        return out

    # ----------------------------------------------------------------- potentials
    def _potentials(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        x = self.x[None, :]
        fam = np.array([self.family] * n) if self.family != "mixed" else rng.choice(FAMILIES[:3], size=n)
        V = np.zeros((n, self.G))
        aux: dict[str, np.ndarray] = {"family": np.array([FAMILIES.index(f) for f in fam]),
                                      "offset": rng.uniform(-1.0, 1.0, n)}
        omega = np.full(n, np.nan)
        center = rng.uniform(-0.5, 0.5, n)
        for f in ("random", "harmonic", "double_well"):
            m = fam == f
            k = int(m.sum())
            if not k:
                continue
            if f == "harmonic":
                omega[m] = rng.uniform(1.0, 3.0, k)
                V[m] = 0.5 * omega[m, None] ** 2 * (x - center[m, None]) ** 2
            elif f == "double_well":
                a = rng.uniform(1.0, 6.0, (k, 1))
                b = rng.uniform(0.8, 2.0, (k, 1))
                V[m] = a * ((x - center[m, None]) ** 2 / b**2 - 1.0) ** 2
            else:
                amp = rng.uniform(-8.0, 4.0, (k, 3))
                mu = rng.uniform(-0.5 * self.L, 0.5 * self.L, (k, 3))
                sig = rng.uniform(0.06, 0.25, (k, 3)) * self.L
                V[m] = np.sum(amp[:, :, None] * np.exp(-0.5 * ((x[:, None, :] - mu[:, :, None]) / sig[:, :, None]) ** 2), axis=1)
        # cap the walls of the confining families so the inputs stay on one scale
        np.minimum(V, self.v_max, out=V)
        V += aux["offset"][:, None]
        aux["omega"] = omega
        aux["center"] = center
        return V, aux

    def _generate(self, n: int, rng: np.random.Generator) -> Dataset:
        V, aux = self._potentials(n, rng)
        Y = self.solve(V)
        return Dataset(
            V,
            Y,
            self.input_names,
            self.target_names,
            aux=aux,
            meta={"x": self.x.copy(), "units": "hbar = m = 1", "families": list(FAMILIES[:3])},
        )

    # ----------------------------------------------------------------- truth
    @property
    def truth(self) -> GroundTruth:
        G, K = self.G, self.K
        d_out = len(self.target_names)
        reverse = np.eye(G)[::-1].copy()
        out_parity = np.eye(d_out)
        if self.density:
            out_parity[K:, K:] = reverse
        shift_in = np.zeros((G, G + 1))
        shift_in[:, G] = 1.0
        shift_out = np.zeros((d_out, d_out + 1))
        shift_out[:K, d_out] = 1.0
        latent = {"harmonic": 2 + int(self.density), "double_well": 3 + int(self.density), "random": 10}
        return GroundTruth(
            symmetries=[
                {"name": "parity", "kind": "discrete", "transform": reverse, "output_transform": out_parity},
                {"name": "shift-equivariance", "kind": "continuous", "generators": [shift_in],
                 "output_generator": shift_out},
            ],
            latent_dim=latent.get(self.family),
            relevant_inputs=self.input_names,
            extra={
                "harmonic_levels": {"E_n": parse_expression("hbar*omega*(n + 1/2) + c")},
                "harmonic_levels_note": "family 'harmonic' (hbar = 1): E_n = omega (n + 1/2) + offset, omega in aux",
                "grid": self.x.copy(),
                "hamiltonian": "H = -1/2 d^2/dx^2 + V(x), hard walls at +-box, hbar = m = 1",
            },
        )


__all__ = ["Schrodinger1D", "lowest_levels"]
