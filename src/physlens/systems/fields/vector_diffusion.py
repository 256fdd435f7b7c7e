"""Isotropic vector diffusion on a periodic square grid (the Navier-Lamé operator), optionally forced along x.

The 2-D vector field u = (u, v) obeys

    du/dt = nu Laplacian(u) + lam grad(div u) + F e_x,

i.e. ``du/dt = (nu+lam) u_xx + nu u_yy + lam v_xy + F`` and
``dv/dt = lam u_xy + nu v_xx + (nu+lam) v_yy``: the linear elastic wave
operator's dissipative twin (Landau & Lifshitz, Theory of Elasticity, §22), or
viscous compressible flow linearised about rest. The grad-div term couples the
components the way a vector must: the law is equivariant under the dihedral
group D4 of the grid *with* the components turned (rho(R) = R), but a rotation
of positions alone is not a symmetry (it swaps the roles of u_xx and u_yy).
A constant force ``F`` along x keeps only the elements that fix e_x (identity
and the reflection y -> -y). Translations hold always; time reversal never
(the law is dissipative).

Samples are random smooth fields (Fourier modes with a Gaussian spectrum,
``k_scale`` wave numbers wide) on an N x N grid of side 2 pi; the target is the
exact time derivative (``task="derivative"``, by spectral differentiation) or
the state a time ``dt`` later (``task="next"``, by the exact exponential of the
linear operator in Fourier space). The ground truth lists the PDE with the
spatial derivatives as symbols ``u_xx``, ``v_xy`` ..., and which of the 16 grid
actions (8 elements of D4, each with and without turning the components)
commute with the law (``extra["grid_symmetries"]``), evaluated on the law
itself.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from physlens.data.fields import (FieldDataset, d4_elements, d4_subgroup_name, spectral_derivative,
                                  transform_fields, wavenumbers)
from physlens.errors import ParameterError
from physlens.findings import GroundTruth

VECTOR = [{"kind": "vector", "channels": [0, 1]}]


class VectorDiffusion:
    """Navier-Lamé vector diffusion on a periodic N x N grid; ``sample(n, seed) -> FieldDataset``.

    Example:
        >>> sys_ = VectorDiffusion(grid=8)
        >>> ds = sys_.sample(4, seed=0); ds.X.shape, ds.kinds[0]["kind"]
        ((4, 2, 8, 8), 'vector')
        >>> [s["element"] for s in sys_.truth.extra["grid_symmetries"] if s["holds"] and s["action"] == "vector"][:3]
        ['identity', 'rot90', 'rot180']
    """

    name = "vector_diffusion"
    description = "2-D vector diffusion with grad-div coupling on a periodic grid (optional force along x)"
    category = "fields"
    default_n = 64
    #: what ``physlens discover vector_diffusion`` samples: 48 smooth fields (k_scale 1.5, the band the
    #: plain CNN's 3 x 3 and 5 x 5 stencils resolve to well under 5 % error) on a 16 x 16 grid
    discover_params: dict = {"k_scale": 1.5}
    discover_n = 48

    def __init__(self, grid: int = 16, nu: float = 0.5, lam: float = 0.3, force: float = 0.0,
                 task: str = "derivative", dt: float = 0.05, k_scale: float = 2.5) -> None:
        if not (isinstance(grid, (int, np.integer)) and 4 <= grid <= 256):
            raise ParameterError(f"grid must be an integer in [4, 256], got {grid!r}")
        if nu <= 0 or lam < -nu:
            raise ParameterError(f"need nu > 0 and lam >= -nu (a stable law), got nu={nu}, lam={lam}")
        if task not in ("derivative", "next"):
            raise ParameterError(f"task must be 'derivative' or 'next', got {task!r}")
        if dt <= 0 or k_scale <= 0:
            raise ParameterError(f"dt and k_scale must be > 0, got dt={dt}, k_scale={k_scale}")
        self.params = {"grid": int(grid), "nu": float(nu), "lam": float(lam), "force": float(force), "task": task,
                       "dt": float(dt), "k_scale": float(k_scale)}
        self.N, self.nu, self.lam, self.force = int(grid), float(nu), float(lam), float(force)
        self.task, self.dt, self.k_scale = task, float(dt), float(k_scale)
        self.spacing = 2 * np.pi / self.N

    # ------------------------------------------------------------------ the law
    def derivative(self, U: np.ndarray) -> np.ndarray:
        """du/dt of fields (n, 2, N, N).

        Example:
            >>> s = VectorDiffusion(grid=8, force=1.0)
            >>> float(s.derivative(np.zeros((1, 2, 8, 8)))[0, 0].mean())
            1.0
        """
        h = self.spacing
        u, v = U[:, 0], U[:, 1]
        d = lambda a, nx, ny: spectral_derivative(a, h, nx, ny)  # noqa: E731
        du = (self.nu + self.lam) * d(u, 2, 0) + self.nu * d(u, 0, 2) + self.lam * d(v, 1, 1) + self.force
        dv = self.lam * d(u, 1, 1) + self.nu * d(v, 2, 0) + (self.nu + self.lam) * d(v, 0, 2)
        return np.stack([du, dv], axis=1)

    def step(self, U: np.ndarray) -> np.ndarray:
        """The state a time ``dt`` later, exactly (the linear operator's exponential per Fourier mode).

        Example:
            >>> s = VectorDiffusion(grid=8, dt=1e-6); U = s.sample(2, seed=1).X
            >>> bool(np.allclose((s.step(U) - U) / 1e-6, s.derivative(U), atol=1e-3))
            True
        """
        kx, ky = wavenumbers(self.N, self.spacing)
        k2 = kx**2 + ky**2
        Uh = np.fft.fft2(U)
        with np.errstate(invalid="ignore", divide="ignore"):
            ex, ey = np.where(k2 > 0, kx / np.sqrt(k2), 0.0), np.where(k2 > 0, ky / np.sqrt(k2), 0.0)
        along = ex * Uh[:, 0] + ey * Uh[:, 1]  # longitudinal amplitude
        decay_l = np.exp(-(self.nu + self.lam) * k2 * self.dt)
        decay_t = np.exp(-self.nu * k2 * self.dt)
        ul = along * decay_l
        ut_x = (Uh[:, 0] - ex * along) * decay_t
        ut_y = (Uh[:, 1] - ey * along) * decay_t
        out = np.real(np.fft.ifft2(np.stack([ex * ul + ut_x, ey * ul + ut_y], axis=1)))
        out[:, 0] += self.force * self.dt
        return out

    def random_fields(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """n smooth random band-limited vector fields (n, 2, N, N) with unit RMS per component on average.

        Example:
            >>> a = VectorDiffusion(grid=16).random_fields(3, np.random.default_rng(0)); a.shape
            (3, 2, 16, 16)
        """
        kx, ky = wavenumbers(self.N, self.spacing)
        amp = np.exp(-(kx**2 + ky**2) / (2 * self.k_scale**2))
        nyquist = np.pi / self.spacing - 1e-9  # band-limited: no Nyquist mode, where odd derivatives are undefined
        amp = amp * (np.abs(kx) < nyquist) * (np.abs(ky) < nyquist)
        noise = rng.standard_normal((n, 2, self.N, self.N))
        U = np.real(np.fft.ifft2(np.fft.fft2(noise) * amp))
        return U / np.sqrt(np.mean(U**2))

    # ------------------------------------------------------------------ data and truth
    def sample(self, n: int | None = None, seed: int = 0, noise: float = 0.0) -> FieldDataset:
        """n random fields and their time derivative (or next state), with the ground truth.

        ``noise`` is relative Gaussian noise on the targets (sigma = noise x RMS of the targets), as for
        every physlens system: a measured field.

        Example:
            >>> VectorDiffusion(grid=8, task="next").sample(3).target_names
            ['u_next', 'v_next']
        """
        n = self.default_n if n is None else n
        if not isinstance(n, (int, np.integer)) or n < 2:
            raise ParameterError(f"number of field samples must be an integer >= 2, got {n!r}")
        rng = np.random.default_rng(seed)
        U = self.random_fields(int(n), rng)
        Y = self.derivative(U) if self.task == "derivative" else self.step(U)
        if noise < 0:
            raise ParameterError(f"noise must be >= 0, got {noise}")
        if noise > 0:
            Y = Y + noise * np.sqrt(np.mean(Y**2)) * rng.standard_normal(Y.shape)
        tnames = ["du_dt", "dv_dt"] if self.task == "derivative" else ["u_next", "v_next"]
        return FieldDataset(U, Y, ["u", "v"], VECTOR, tnames, VECTOR, self.spacing, truth=self.truth,
                            name=self.name, meta={"system": self.name, "params": dict(self.params), "seed": int(seed),
                                                        "noise": float(noise)})

    def grid_symmetries(self) -> list[dict]:
        """Which of the 16 grid actions (8 D4 elements x components turned or not) commute with the law.

        Decided on the law itself (the exact operator applied to random fields, to 1e-9 relative).

        Example:
            >>> held = VectorDiffusion(grid=8, force=1.0).grid_symmetries()
            >>> sorted(s["element"] for s in held if s["holds"] and s["action"] == "vector")
            ['flip_y', 'identity']
        """
        law = self.derivative if self.task == "derivative" else self.step
        U = self.random_fields(2, np.random.default_rng(12345))
        out = []
        for vector in (True, False):
            for name, R in d4_elements().items():
                a = law(transform_fields(U, VECTOR, R, vector))
                b = transform_fields(law(U), VECTOR, R, vector)
                err = float(np.sqrt(np.mean((a - b) ** 2) / np.mean(b**2)))
                out.append({"element": name, "action": "vector" if vector else "scalar", "holds": err < 1e-9})
        return out

    @property
    def truth(self) -> GroundTruth:
        """The PDE (spatial derivatives as symbols u_xx, v_xy, ...) and the grid symmetries."""
        s = {k: sp.Symbol(k, real=True) for k in ("u_xx", "u_yy", "u_xy", "v_xx", "v_yy", "v_xy")}
        nu, lam, F = (sp.Float(x) for x in (self.nu, self.lam, self.force))
        eqs = {"du_dt": (nu + lam) * s["u_xx"] + nu * s["u_yy"] + lam * s["v_xy"] + F,
               "dv_dt": lam * s["u_xy"] + nu * s["v_xx"] + (nu + lam) * s["v_yy"]}
        held = self.grid_symmetries()
        group = d4_subgroup_name([h["element"] for h in held if h["holds"] and h["action"] == "vector"]) + " x translations"
        syms = [{"name": "translations", "kind": "grid", "grid": {"translation": True}}]
        syms += [{"name": f"{h['element']} ({h['action']} action)", "kind": "grid",
                  "grid": {"element": h["element"], "vector_components": h["action"] == "vector"}}
                 for h in held if h["holds"]]
        return GroundTruth(symmetries=syms, equations=eqs if self.task == "derivative" else {},
                           extra={"grid_symmetries": held, "translations": True, "time_reversal": False,
                                  "group": group, "pde_coefficients": {
                                      "du_dt": {"u_xx": self.nu + self.lam, "u_yy": self.nu, "v_xy": self.lam,
                                                "1": self.force},
                                      "dv_dt": {"u_xy": self.lam, "v_xx": self.nu, "v_yy": self.nu + self.lam}}})
