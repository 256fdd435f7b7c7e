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
``lambda_i lambda_j / N`` (``N`` unknowns): :func:`expected_resolution`, the
first-order guess, which overstated the angles found 2-30 times on trained
emulators; the worst case (all couplings at the bound) is reported beside it.
The probe reports as *expected* the tilt with the couplings measured instead,
from their spread over regions of the input space (:func:`sampled_resolution`).
Both scale with the rate of the found generator (the network's error along it)
over the rates of the rejected ones (how sharply the network sees the
non-symmetries), so a user can tell a rough algebra (expected angle large) from
a wrong one (found angle far beyond the expected one).

Hand-written: this is a few lines of linear algebra on the probe's own spectrum.
"""

from __future__ import annotations

import numpy as np


def expected_resolution(rates: np.ndarray, found: int, sort: bool = True) -> dict:
    """Expected and worst-case angle (degrees) of each of the ``found`` smallest-rate eigenvectors.

    ``rates`` are the square roots of the Gram eigenvalues in ascending order (``LieResult.rates``);
    with ``sort=False`` the first ``found`` are the accepted ones and the rest the rejected ones,
    in any order (a scan that skipped a candidate counts it as rejected).

    Returns ``{"expected_deg": [...], "worst_deg": [...], "max_expected_deg", "max_worst_deg",
    "unknowns", "method"}``.

    Example:
        >>> r = expected_resolution(np.array([1e-3, 1e-3, 1.0, 1.0, 2.0, 3.0]), 2)
        >>> r["max_expected_deg"] < r["max_worst_deg"] < 0.2
        True
    """
    rates = np.asarray(rates, dtype=float)
    rates = np.sort(rates) if sort else rates
    N = len(rates)
    if found <= 0 or found >= N:
        return {"expected_deg": [], "worst_deg": [], "max_expected_deg": None, "max_worst_deg": None,
                "unknowns": N, "method": "first-order eigenvector perturbation"}
    lam = rates**2
    rej = lam[found:]
    exp_deg, worst_deg = [], []
    for i in range(found):
        # a skipped direction below a found one (sort=False) is as close as its distance either way
        gaps = np.maximum(np.abs(rej - lam[i]), 1e-12 * max(float(lam.max()), 1e-300))
        worst = float(np.sum(lam[i] * rej / gaps**2))
        exp_deg.append(float(np.degrees(np.arctan(np.sqrt(worst / N)))))
        worst_deg.append(float(np.degrees(np.arctan(np.sqrt(worst)))))
    return {"expected_deg": exp_deg, "worst_deg": worst_deg, "max_expected_deg": max(exp_deg),
            "max_worst_deg": max(worst_deg), "unknowns": N,
            "method": "first-order eigenvector perturbation (expected: random orientation of the error; "
                      "worst: every coupling at its Cauchy-Schwarz bound)"}


def sampled_resolution(G: np.ndarray, G_blocks: np.ndarray | None, accepted: list[int],
                       weights: np.ndarray | None = None, boundary_factor: float = 2.0) -> dict | None:
    """Expected angle (degrees) of each accepted generator from the measured spread of its couplings.

    The first-order tilt of generator ``i`` towards rejected direction ``j`` is
    ``u_j^T E v_i / (lambda_j - lambda_i)``; :func:`expected_resolution` guesses the coupling
    ``u_j^T E v_i`` from a random orientation of the error in the ``N`` unknowns, which overstated the
    angles found 2-30 times on trained emulators (8x on a 2-D Kepler energy MLP: 4.3 degrees expected,
    0.53 found). Here the couplings are measured: ``G_blocks`` are the constraint's Gram matrices on
    ``g`` disjoint blocks of the rows (regions of the input space, :func:`.continuous.spatial_blocks`;
    ``weights`` their shares of the rows), so ``u_j^T G_b v_i`` is the coupling that the network's
    residual along ``v_i`` (its error in region ``b``) makes with the rejected direction. Over the whole
    sample it sums to zero by construction; its spread over the regions, as the variance of their
    weighted mean (the delete-a-block jackknife, Efron & Tibshirani 1993 ch. 11; blocks of space as in the
    block bootstrap of Kuensch 1989, so an error correlated within a region counts once), estimates how
    large the coupling that tilted the generator is:

        tan(theta_i)^2 = sum_j var(mean_b u_j^T G_b v_i) / (lambda_j - lambda_i)^2.

    Measured: a radial law with a smooth breaking of size 0.01-0.06 gave 0.15-0.91 degrees expected,
    0.22-1.28 found (random blocks of rows saw 10x too little: they miss the error's correlation in space);
    Kepler energy MLP 1.3 expected, 0.53 found. An error aligned with one non-symmetry over the whole
    space is still underestimated; the first-order guess stays in the result as the bound.

    The sum is split: rejected directions clearly broken (rate above ``boundary_factor`` x the largest
    accepted one) tilt a generator in proportion to the network's error (``error_limited_deg``: what a
    better emulator improves); the others are near-symmetries the test rejected narrowly, and a tilt
    towards them (a continuum of rates, e.g. a 33-dimensional algebra on a Lorentz-invariant emulator)
    stays when the error shrinks, since the rates and their gaps shrink together.

    ``accepted`` are candidate indices in the ascending order of ``G``'s eigenvalues.
    Returns ``{"expected_deg", "max_expected_deg", "error_limited_deg", "max_error_limited_deg", "blocks",
    "method"}`` or None without blocks.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> C = rng.normal(size=(800, 3)) * [1e-3, 1.0, 2.0]  # direction 0: a symmetry up to a small error
        >>> Gb = np.stack([c.T @ c / len(c) for c in np.array_split(C, 16)])
        >>> r = sampled_resolution(C.T @ C / len(C), Gb, [0])
        >>> 0.0 < r["max_expected_deg"] < 0.1
        True
    """
    if G_blocks is None or not accepted:
        return None
    g = len(G_blocks)
    lam, V = np.linalg.eigh(G)
    acc = list(accepted)
    rej = [c for c in range(len(lam)) if c not in set(acc)]
    if not rej:
        return None
    Va, Vr = V[:, acc], V[:, rej]
    C = np.stack([Va.T @ Gb @ Vr for Gb in G_blocks])  # (blocks, accepted, rejected) couplings
    w = np.full(g, 1.0 / g) if weights is None else np.asarray(weights, dtype=float) / np.sum(weights)
    mean = np.tensordot(w, C, axes=1)
    var = np.tensordot(w**2, (C - mean) ** 2, axes=1) * g / (g - 1)  # variance of the weighted mean
    floor = 1e-12 * max(float(np.abs(lam).max()), 1e-300)
    gaps = np.maximum(np.abs(lam[rej][None, :] - lam[acc][:, None]), floor)
    terms = var / gaps**2
    # rejected directions clearly broken (rate beyond boundary_factor x the largest accepted one) tilt the
    # generators in proportion to the error; the rest are near-symmetries the test rejected narrowly, and
    # the tilt towards them (a continuum of rates) does not shrink with a better emulator
    broken = np.clip(lam[rej], 0.0, None) >= boundary_factor**2 * max(float(np.max(np.clip(lam[acc], 0.0, None))), 0.0)
    to_deg = lambda t: [float(np.degrees(np.arctan(np.sqrt(x)))) for x in t]  # noqa: E731
    deg = to_deg(terms.sum(axis=1))
    err_deg = to_deg(terms[:, broken].sum(axis=1))
    return {"expected_deg": deg, "max_expected_deg": max(deg), "error_limited_deg": err_deg,
            "max_error_limited_deg": max(err_deg), "blocks": int(g),
            "method": "first-order eigenvector perturbation with the couplings' spread over regions of the "
                      "input space (delete-a-block jackknife)"}


def sample_plan(model, X: np.ndarray, k: int, budget_seconds: float | None = None, max_samples: int = 10_000,
                test_samples: int = 2000, sampling_share: float = 0.25, seed: int = 0) -> dict:
    """Rows for the Lie constraint and for the tests: as many as the resolution needs, capped by measured cost.

    The constraint Gram matrix is a mean over rows, so a finite sample adds its own random couplings
    between the symmetry directions and the rejected ones, of the same form as the network's error
    (see the module docstring) with ``N`` replaced by ``m k / kappa^2``: ``m`` rows of ``k`` outputs,
    ``kappa^2`` the spread of the rows' weights in the constraint (fourth over squared second moment of
    ``|J|^2 (|z|^2 + 1)``, measured on a pilot of rows; heavy-tailed data such as ``1/r^3`` near the
    centre need more rows). The sampling tilt stays below ``sampling_share`` of the error's own when
    ``m >= kappa^2 N / (k sampling_share^2)`` (``needed_rows``). Every row the data and the budget
    afford is used; the budget caps the rows through the measured seconds per row (Jacobian and
    constraint build, forward passes of the tests), and ``budget_limited`` says when that cap fell
    below the rows the resolution needs.

    Returns ``{"fit_rows", "test_rows", "needed_rows", "kappa2", "seconds_per_row", "budget_limited"}``.

    Example:
        >>> import torch
        >>> X = np.random.default_rng(0).normal(size=(3000, 3))
        >>> plan = sample_plan(torch.nn.Linear(3, 1), X, 1)
        >>> plan["fit_rows"], plan["budget_limited"]
        (3000, False)
    """
    import torch

    from physlens.autodiff import batch_jacobian
    from physlens.clock import work_seconds

    X = np.asarray(X, dtype=float)
    m_all, n = X.shape
    N = n * (n + 1)
    rng = np.random.default_rng(seed)
    pilot = X[rng.choice(m_all, size=min(256, m_all), replace=False)]
    batch_jacobian(model, pilot[:8])  # the first call pays one-off set-up costs
    t0 = work_seconds()
    J = batch_jacobian(model, pilot)
    t_jac = (work_seconds() - t0) / len(pilot)
    with torch.no_grad():
        model(torch.as_tensor(pilot[:8], dtype=torch.float32))
        t0 = work_seconds()
        model(torch.as_tensor(pilot, dtype=torch.float32))
    t_fwd = (work_seconds() - t0) / len(pilot)
    sd = X.std(0) + 1e-300
    z = (pilot - X.mean(0)) / sd
    w = (np.square(J * sd[None, None, :]).sum(axis=(1, 2))) * (np.square(z).sum(1) + 1.0)
    kappa2 = float(np.mean(w**2) / max(np.mean(w) ** 2, 1e-300))
    needed = int(np.ceil(kappa2 * N / (max(k, 1) * sampling_share**2)))
    fit_rows = int(min(m_all, max_samples))
    test_rows = int(min(m_all, test_samples))
    # the constraint build runs at ~1e9 multiply-adds a second (k N^2 per row)
    per_row = t_jac + k * N * N / 1e9
    if budget_seconds is not None:
        # the continuous scan's share is 45 % of the budget, about a third of it for the constraint
        fit_rows = int(min(fit_rows, max(0.15 * budget_seconds / max(per_row, 1e-9), min(200, m_all))))
        # tests: measured on 2 shared cores, ~60 test rows per second of budget keep every stage (Lie, named,
        # discrete, group) inside it; the test's power needs far fewer rows than the constraint's resolution
        tcap = int(60 * budget_seconds)
        test_rows = int(min(test_rows, max(tcap, min(200, m_all))))
    limited = bool(fit_rows < min(needed, m_all, max_samples))
    return {"fit_rows": fit_rows, "test_rows": test_rows, "needed_rows": needed, "kappa2": kappa2,
            "seconds_per_row": per_row, "forward_seconds_per_row": t_fwd, "budget_limited": limited}
