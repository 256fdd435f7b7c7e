"""Symmetry written into the learned weights: does the first layer commute with an input transform?

A network whose first layer satisfies ``W T = Pi W`` (and ``b' = Pi b``) for a
permutation ``Pi`` of its hidden units computes exactly the same hidden
representation up to relabelling after ``x -> T x``; the rest of the network
then only has to be invariant to ``Pi``. This is the weight-space signature of
a symmetry (permutation-equivariant layers, Zaheer et al. 2017 "Deep Sets";
circulant weights from lattice translations, Cohen & Welling 2016 "Group
equivariant CNNs"). We measure how far trained weights are from it: the
Hungarian assignment (``scipy.optimize.linear_sum_assignment``) pairs the rows
of ``[W T | W c + b]`` with those of ``[W | b]`` (``c`` the shift that the
standardisation introduces) and the relative mismatch is compared with the same
number for random permutations/sign flips of the inputs (the null level a
network without that structure shows).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment


def first_layer(model: torch.nn.Module, d_in: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Weights and bias of the first ``nn.Linear`` that reads the ``d_in`` inputs, or None.

    Example:
        >>> W, b = first_layer(torch.nn.Sequential(torch.nn.Linear(3, 4)), 3)
        >>> W.shape, b.shape
        ((4, 3), (4,))
    """
    for mod in model.modules():
        if isinstance(mod, torch.nn.Linear) and mod.in_features == d_in:
            W = mod.weight.detach().cpu().numpy().astype(np.float64)
            b = mod.bias.detach().cpu().numpy().astype(np.float64) if mod.bias is not None else np.zeros(len(W))
            return W, b
    return None


def _model_standardisation(model: torch.nn.Module, d_in: int) -> tuple[np.ndarray, np.ndarray]:
    mean = getattr(model, "x_mean", None)
    std = getattr(model, "x_std", None)
    if mean is None or std is None:
        return np.zeros(d_in), np.ones(d_in)
    return mean.detach().cpu().numpy().astype(np.float64), std.detach().cpu().numpy().astype(np.float64)


def commutation_error(model: torch.nn.Module, T: np.ndarray, centre: np.ndarray | None = None) -> float | None:
    """Relative mismatch ``min_Pi |[W T' | W c + b] - Pi [W | b]| / |[W | b]|`` of the first layer.

    ``T`` acts on original inputs (about the point ``centre``, default the origin); ``T'`` and
    ``c`` are its form in the model's standardised inputs.

    Example:
        >>> lin = torch.nn.Linear(2, 2)
        >>> with torch.no_grad():
        ...     _ = lin.weight.copy_(torch.tensor([[1.0, 2.0], [2.0, 1.0]])); _ = lin.bias.zero_()
        >>> commutation_error(torch.nn.Sequential(lin), np.array([[0.0, 1.0], [1.0, 0.0]]))
        0.0
    """
    n = T.shape[0]
    layer = first_layer(model, n)
    if layer is None:
        return None
    W, b = layer
    m, s = _model_standardisation(model, n)
    Tz = (T * s[None, :]) / s[:, None]
    x0 = np.zeros(n) if centre is None else centre
    c = (T @ (m - x0) + x0 - m) / s
    A = np.hstack([W @ Tz, (W @ c + b)[:, None]])
    B = np.hstack([W, b[:, None]])
    cost = ((A[:, None, :] - B[None, :, :]) ** 2).sum(-1)
    r, cidx = linear_sum_assignment(cost)
    return float(np.sqrt(cost[r, cidx].sum() / max((B**2).sum(), 1e-300)))


def null_commutation_error(model: torch.nn.Module, n: int, repeats: int = 20, seed: int = 0) -> np.ndarray | None:
    """:func:`commutation_error` for ``repeats`` random orthogonal maps of the (model-standardised) inputs.

    Random rotations (Haar measure, ``scipy.stats.ortho_group``) are almost surely not
    symmetries, so they give the level a first layer without that structure shows.

    A transform whose error is below all of them is encoded in the weights at rank
    significance ``1 / (repeats + 1)``.

    Example:
        >>> bool(np.all(null_commutation_error(torch.nn.Sequential(torch.nn.Linear(3, 8)), 3) > 0))
        True
    """
    if first_layer(model, n) is None or n < 2:
        return None
    from scipy.stats import ortho_group

    m, s = _model_standardisation(model, n)
    vals = []
    for Q in ortho_group.rvs(n, size=repeats, random_state=seed).reshape(repeats, n, n):
        vals.append(commutation_error(model, (s[:, None] * Q) / s[None, :], centre=m))
    return np.asarray(vals, dtype=float)
