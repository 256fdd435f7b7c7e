"""Batched derivatives of a model through ``torch.func`` (vmap + jacrev / hessian).

One helper the probes share instead of Python loops over samples: the
Jacobian of every output with respect to every input at every sample, the
Hessian of a scalar output, and the input gradient. Inputs and outputs are in
the model's original units.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.func import hessian, jacrev, vmap


def _as_tensor(model: torch.nn.Module, X) -> torch.Tensor:
    p = next(model.parameters())
    return torch.as_tensor(np.asarray(X) if not isinstance(X, torch.Tensor) else X, dtype=p.dtype, device=p.device)


def batch_jacobian(model: torch.nn.Module, X, chunk: int = 4096) -> np.ndarray:
    """Jacobian d y_k / d x_j at every row of ``X``: array (n, d_out, d_in).

    Example:
        >>> lin = torch.nn.Linear(3, 2)
        >>> J = batch_jacobian(lin, np.zeros((5, 3)))
        >>> J.shape, bool(np.allclose(J[0], lin.weight.detach().numpy()))
        ((5, 2, 3), True)
    """
    Xt = _as_tensor(model, X)
    f = lambda x: model(x.unsqueeze(0)).squeeze(0)  # noqa: E731
    out = []
    for i in range(0, len(Xt), chunk):
        out.append(vmap(jacrev(f))(Xt[i : i + chunk]).detach().cpu().numpy())
    return np.concatenate(out).astype(np.float64)


def batch_gradient(model: torch.nn.Module, X, output: int = 0, chunk: int = 4096) -> np.ndarray:
    """Gradient of output ``output`` with respect to the inputs: array (n, d_in).

    Example:
        >>> lin = torch.nn.Linear(3, 1)
        >>> batch_gradient(lin, np.zeros((4, 3))).shape
        (4, 3)
    """
    return batch_jacobian(model, X, chunk)[:, output, :]


def batch_hessian(model: torch.nn.Module, X, output: int = 0, chunk: int = 2048) -> np.ndarray:
    """Hessian of output ``output`` with respect to the inputs: array (n, d_in, d_in).

    Example:
        >>> class Sq(torch.nn.Module):
        ...     def __init__(self): super().__init__(); self.w = torch.nn.Parameter(torch.ones(1))
        ...     def forward(self, x): return (self.w * x**2).sum(-1, keepdim=True)
        >>> H = batch_hessian(Sq(), np.ones((2, 2)))
        >>> H[0].tolist()
        [[2.0, 0.0], [0.0, 2.0]]
    """
    Xt = _as_tensor(model, X)
    f = lambda x: model(x.unsqueeze(0))[0, output]  # noqa: E731
    out = []
    for i in range(0, len(Xt), chunk):
        out.append(vmap(hessian(f))(Xt[i : i + chunk]).detach().cpu().numpy())
    return np.concatenate(out).astype(np.float64)
