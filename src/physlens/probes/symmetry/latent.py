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


def latent_features(model: torch.nn.Module, X: np.ndarray) -> tuple[np.ndarray, str] | None:
    """The model's embedding of ``X`` and where it comes from, or None.

    ``model.embed`` where it exists (the MLP's last hidden layer, the scalars model's pooled invariant
    features); for a message-passing network (a ``messages`` method, :class:`physlens.models.graph.GraphNetwork`)
    the messages of every edge, concatenated.

    Example:
        >>> latent_features(torch.nn.Linear(2, 1), np.zeros((3, 2))) is None
        True
    """
    try:
        H = embedding(model, X)
    except Exception:  # an embed() that does not apply to this configuration of the model
        H = None
    if H is not None:
        return H, "embed"
    if callable(getattr(model, "messages", None)) and hasattr(model, "message_dim"):
        out = model.messages(np.asarray(X, dtype=np.float64))
        return out["messages"].reshape(len(X), -1), "messages"
    return None


def _flow(A: np.ndarray, X: np.ndarray, t: float) -> np.ndarray:
    n = A.shape[0]
    aug = np.zeros((n + 1, n + 1))
    aug[:n] = A
    import scipy.linalg as sla

    E = sla.expm(t * aug)
    return X @ E[:n, :n].T + E[:n, n]


def latent_representation(model: torch.nn.Module, X: np.ndarray, generators: list[np.ndarray],
                          tol: float = 0.25, max_dim: int = 64, seed: int = 0) -> dict | None:
    """Fit the linear action ``drho`` that each input generator induces on the embedding; split it into blocks.

    For an input generator ``A = [L | b]`` (original coordinates) the embedding moves as
    ``dh/dt = K h + c`` along the flow when the symmetry is represented linearly (``rho(exp tA) = exp tK``).
    ``dh/dt`` is a central difference along the flow; ``K`` is fitted by least squares in the
    whitened principal components of ``h`` (where a compact group acts orthogonally, so ``K`` is
    antisymmetric and its eigenvalues are ``0`` and ``+-i omega``). Eigenvalues are then sorted into
    irreducible blocks by their frequency relative to the input generator's own (``omega_in``):
    ``invariant`` (``|lambda| < tol omega_in``), ``vector`` (``omega ~ omega_in``: one 2-D block per
    pair), ``spin-2`` (``omega ~ 2 omega_in``) and ``other``. ``error`` is the residual of the linear
    map over the embedding's motion under a random affine move of the inputs of the same size (0: an exact
    representation; near 1: the symmetry moves the embedding as arbitrarily as a random move does).

    Returns ``{"source", "latent_dim", "per_generator": [{"blocks", "frequencies", "error", "rho"}],
    "blocks", "error"}`` (the last two for the first generator, ``error`` the largest over generators),
    or None without an embedding.

    Example:
        >>> class Vec(torch.nn.Module):
        ...     def __init__(self): super().__init__(); self.w = torch.nn.Parameter(torch.ones(1))
        ...     def embed(self, x): return torch.cat([x * self.w, (x ** 2).sum(1, keepdim=True)], 1)
        >>> X = np.random.default_rng(0).normal(size=(400, 2))
        >>> rot = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0]])
        >>> latent_representation(Vec(), X, [rot])["blocks"]
        {'invariant': 1, 'vector': 1, 'spin-2': 0, 'other': 0}
    """
    got = latent_features(model, X)
    if got is None or not generators:
        return None
    H, source = got
    mean = H.mean(axis=0)
    U, s, Vt = np.linalg.svd(H - mean, full_matrices=False)
    keep = int(min(max_dim, np.sum(s**2 > 1e-6 * max(s[0] ** 2, 1e-300))))
    if keep == 0:
        return None
    proj = Vt[:keep].T / (s[:keep] / np.sqrt(len(H)))  # whitened principal coordinates
    C = (H - mean) @ proj
    sd = X.std(axis=0)
    rng = np.random.default_rng(seed)
    per = []
    for A in generators:
        A = np.asarray(A, dtype=float)
        field = np.hstack([X, np.ones((len(X), 1))]) @ A.T
        rms = float(np.sqrt(np.mean(field**2)))
        if rms <= 0:
            continue
        t = 1e-2 * float(np.mean(sd)) / rms
        Hp = latent_features(model, _flow(A, X, t))[0]
        Hm = latent_features(model, _flow(A, X, -t))[0]
        dC = ((Hp - Hm) / (2 * t)) @ proj
        design = np.hstack([C, np.ones((len(C), 1))])
        coef, *_ = np.linalg.lstsq(design, dC, rcond=None)
        K = coef[:keep].T
        resid = dC - design @ coef
        # the scale of the embedding's motion: a random affine move of the inputs of the same size (an
        # invariant embedding hardly moves under the symmetry, so its own motion is no yardstick)
        R = rng.normal(size=A.shape)
        R *= rms / max(float(np.sqrt(np.mean((np.hstack([X, np.ones((len(X), 1))]) @ R.T) ** 2))), 1e-300)
        dR = ((latent_features(model, _flow(R, X, t))[0] - latent_features(model, _flow(R, X, -t))[0]) / (2 * t)) @ proj
        total = float(np.sum((dR - dR.mean(axis=0)) ** 2))
        err = float(np.sum(resid**2) / total) if total > 1e-300 * len(C) else 0.0
        L = A[:, : A.shape[0]]
        w_in = float(np.max(np.abs(np.linalg.eigvals(L).imag))) or float(np.max(np.abs(np.linalg.eigvals(L))))
        ev = np.linalg.eigvals(K)
        scale = max(w_in, 1e-300)
        blocks = {"invariant": 0, "vector": 0, "spin-2": 0, "other": 0}
        freqs = []
        for lam in ev:
            if abs(lam) < tol * scale:
                blocks["invariant"] += 1
            elif lam.imag > 0:
                r = abs(lam) / scale
                freqs.append(float(r))
                if abs(lam.real) > tol * abs(lam):
                    blocks["other"] += 2
                elif abs(r - 1) < tol:
                    blocks["vector"] += 1
                elif abs(r - 2) < 2 * tol:
                    blocks["spin-2"] += 1
                else:
                    blocks["other"] += 2
            elif lam.imag == 0:
                blocks["other"] += 1
        per.append({"blocks": blocks, "frequencies": sorted(freqs), "error": err, "rho": K,
                    "input_frequency": w_in})
    if not per:
        return None
    return {"source": source, "latent_dim": int(H.shape[1]), "components": keep, "per_generator": per,
            "blocks": per[0]["blocks"], "error": max(p["error"] for p in per)}
