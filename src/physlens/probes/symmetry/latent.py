"""Latent equivariance: does an input symmetry act as a linear map on the network's embedding?

For a model with ``embed(x)`` (the MLP's last hidden layer), a transformation
``g`` of the inputs is represented in the latent space when
``h(g x) ~ rho(g) h(x) + c`` for a matrix ``rho`` (Lenc & Vedaldi 2015,
"Understanding image representations by measuring their equivariance and
equivalence"). ``rho`` is fitted by ridge regression (scikit-learn) on half of
the points and the equivariance error — the unexplained fraction of the variance
of ``h(g x)`` — is measured on the other half. 0 means an exact linear
representation; values near the error of an arbitrary (non-symmetry)
transform mean none.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import Ridge


def embedding(model: torch.nn.Module, X: np.ndarray) -> np.ndarray | None:
    """``model.embed(X)`` as a NumPy array, or None when the model has no ``embed``.

    Example:
        >>> embedding(torch.nn.Linear(2, 1), np.zeros((3, 2))) is None
        True
    """
    if not callable(getattr(model, "embed", None)):
        return None
    p = next(model.parameters())
    with torch.no_grad():
        H = model.embed(torch.as_tensor(X, dtype=p.dtype, device=p.device))
    return H.detach().cpu().numpy().astype(np.float64).reshape(len(X), -1)


def latent_equivariance(model: torch.nn.Module, X: np.ndarray, X_img: np.ndarray, alpha: float = 1e-3) -> dict | None:
    """Fit ``h(g x) ~ rho h(x) + c``; return ``{"error", "rho_norm", "samples"}`` or None without ``embed``.

    Example:
        >>> class Lin(torch.nn.Module):
        ...     def __init__(self): super().__init__(); self.l = torch.nn.Linear(2, 4)
        ...     def embed(self, x): return self.l(x)
        >>> _ = torch.manual_seed(0)
        >>> X = np.random.default_rng(0).normal(size=(200, 2))
        >>> latent_equivariance(Lin(), X, X[:, ::-1].copy())["error"] < 1e-3
        True
    """
    H = embedding(model, X)
    if H is None:
        return None
    H2 = embedding(model, X_img)
    half = len(X) // 2
    scale = H.std(axis=0).mean() or 1.0
    reg = Ridge(alpha=alpha * len(X), fit_intercept=True).fit(H[:half] / scale, H2[:half] / scale)
    pred = reg.predict(H[half:] / scale) * scale
    resid = np.sum((H2[half:] - pred) ** 2)
    total = np.sum((H2[half:] - H2[half:].mean(axis=0)) ** 2)
    return {
        "error": float(resid / max(total, 1e-300)),
        "rho_norm": float(np.linalg.norm(reg.coef_, 2)),
        "samples": int(len(X) - half),
    }
