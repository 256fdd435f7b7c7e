"""How linear the trained emulator is: the share of its output variance a straight-line fit explains.

A plug-in probe is a module with ``run(model, dataset, **options) -> list[Finding]`` and, optionally,
``applies(dataset)`` and ``COST``, exactly like the built-in ones (see :mod:`physlens.probes`).

The method: fit the emulator's predictions on the data rows by least squares with an affine function
of the inputs, and report R^2 = 1 - Var(residual) / Var(prediction) per target as a ``quality``
finding (R^2 near 1: the network is nearly linear there; a quadratic law on a symmetric range gives
R^2 near 0).
"""

from __future__ import annotations

import numpy as np

from physlens.findings import Finding

COST = 0.2


def applies(dataset) -> str | None:
    """The probe needs at least as many rows as inputs + 2 (an affine fit with a residual).

    Example:
        >>> from physlens.systems import get_system
        >>> applies(get_system("toy_distractor").sample(50)) is None
        True
    """
    if dataset.n < dataset.d_in + 2:
        return f"needs at least {dataset.d_in + 2} rows for an affine fit, got {dataset.n}"
    return None


def run(model, dataset, max_rows: int = 2000, seed: int = 0) -> list[Finding]:
    """One ``quality`` finding per target: R^2 of an affine fit to the emulator's predictions.

    Example:
        >>> from physlens.models import build_model
        >>> from physlens.systems import get_system
        >>> ds = get_system("toy_distractor").sample(100)
        >>> [f.kind for f in run(build_model("mlp", ds, width=8), ds)]
        ['quality']
    """
    rng = np.random.default_rng(seed)
    rows = rng.choice(dataset.n, size=min(int(max_rows), dataset.n), replace=False)
    X = dataset.X[rows]
    pred = model.predict(X)
    A = np.column_stack([X, np.ones(len(X))])
    coef, *_ = np.linalg.lstsq(A, pred, rcond=None)
    resid = pred - A @ coef
    findings = []
    for j, name in enumerate(dataset.target_names):
        var = float(np.var(pred[:, j]))
        r2 = 1.0 - float(np.var(resid[:, j])) / var if var > 0 else 1.0
        findings.append(Finding(
            kind="quality",
            statement=f"an affine function of the inputs explains {100 * r2:.1f} % of the emulator's {name}",
            value={"r2": r2},
            evidence={"rows": int(len(X)), "coefficients": coef[:, j].tolist()},
            confidence=1.0,
            probe="example_linearity",
            target=name,
            subject=name,
        ))
    return findings
