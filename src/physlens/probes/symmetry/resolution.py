"""How finely can a network's error resolve its Lie algebra? An expected angle for each found generator.

The generators are the eigenvectors of the constraint Gram matrix ``G`` (see
:mod:`.continuous`) with the smallest eigenvalues. For an exact function the
symmetry directions are exact null vectors; the emulator's error adds a
perturbation ``E`` and tilts each of them towards the directions ``u_j`` that
were rejected. First-order perturbation theory for eigenvectors (e.g. Stewart &
Sun, *Matrix Perturbation Theory*, 1990, ch. V; the Davis-Kahan sin-theta
bound is its worst case) gives the tilt of generator ``i``:

    tan(theta_i)^2 ~ sum_{j rejected} (u_j^T E v_i)^2 / (lambda_j - lambda_i)^2

and with ``E`` positive semi-definite, Cauchy-Schwarz bounds each coupling by
``|u_j^T E v_i| <= sqrt(lambda_i lambda_j)`` (``lambda_i`` measures the error
the network puts along the symmetry, ``lambda_j`` that along the rejected
direction). Averaged over random orientations of ``E`` the squared coupling is
``lambda_i lambda_j / N`` (``N`` unknowns), which is the *expected* resolution
reported here; the worst case (all couplings at the bound) is reported beside
it. Both scale with the rate of the found generator (the network's error along
it) over the rates of the rejected ones (how sharply the network sees the
non-symmetries), so a user can tell a rough algebra (expected angle large) from
a wrong one (found angle far beyond the expected one).

Hand-written: this is a few lines of linear algebra on the probe's own spectrum.
"""

from __future__ import annotations

import numpy as np


def expected_resolution(rates: np.ndarray, found: int) -> dict:
    """Expected and worst-case angle (degrees) of each of the ``found`` smallest-rate eigenvectors.

    ``rates`` are the square roots of the Gram eigenvalues in ascending order (``LieResult.rates``).

    Returns ``{"expected_deg": [...], "worst_deg": [...], "max_expected_deg", "max_worst_deg",
    "unknowns", "method"}``.

    Example:
        >>> r = expected_resolution(np.array([1e-3, 1e-3, 1.0, 1.0, 2.0, 3.0]), 2)
        >>> r["max_expected_deg"] < r["max_worst_deg"] < 0.2
        True
    """
    rates = np.sort(np.asarray(rates, dtype=float))
    N = len(rates)
    if found <= 0 or found >= N:
        return {"expected_deg": [], "worst_deg": [], "max_expected_deg": None, "max_worst_deg": None,
                "unknowns": N, "method": "first-order eigenvector perturbation"}
    lam = rates**2
    rej = lam[found:]
    exp_deg, worst_deg = [], []
    for i in range(found):
        gaps = np.maximum(rej - lam[i], 1e-300)
        worst = float(np.sum(lam[i] * rej / gaps**2))
        exp_deg.append(float(np.degrees(np.arctan(np.sqrt(worst / N)))))
        worst_deg.append(float(np.degrees(np.arctan(np.sqrt(worst)))))
    return {"expected_deg": exp_deg, "worst_deg": worst_deg, "max_expected_deg": max(exp_deg),
            "max_worst_deg": max(worst_deg), "unknowns": N,
            "method": "first-order eigenvector perturbation (expected: random orientation of the error; "
                      "worst: every coupling at its Cauchy-Schwarz bound)"}
