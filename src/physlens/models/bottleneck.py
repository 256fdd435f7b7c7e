"""SciNet-style bottleneck: encoder -> a few stochastic latent neurons -> decoder that answers a question.

Follows Iten, Metger, Wilming, del Rio & Renner, "Discovering physical
concepts with neural networks" (Phys. Rev. Lett. 124, 010508, 2020): the
encoder reads the *observations* (e.g. measurement outcomes on a quantum
state) into K latent neurons, each a Gaussian with a learned mean and
log-variance; the decoder reads the latents together with a *question* (e.g.
which new measurement to predict) and outputs the answer. The loss is the
standardised squared error plus ``beta`` times the KL divergence of the
latents to N(0, 1) (a beta-VAE penalty, Higgins et al. 2017). Latents the
decoder does not need are pushed onto the prior (KL ~ 0), so with K larger
than needed the number of *active* latents reveals the number of independent
parameters in the observations: :meth:`Bottleneck.latent_usage` returns the
KL of each latent averaged over data, :meth:`Bottleneck.active_latents`
counts those above a threshold.

Which input columns are the question: ``question_columns=[names or indices]``,
else ``dataset.meta["question_columns"]``; every other input is an
observation. The reparametrisation noise is drawn from torch's generator,
which :func:`physlens.train.fit` seeds per epoch (resume stays bit-exact).
"""

from __future__ import annotations

import numpy as np
import torch

from physlens.errors import ConfigError, DataError
from physlens.models.base import Emulator, register_model
from physlens.models.scalars import mlp_block


def _columns(spec, names: list[str]) -> list[int]:
    out = []
    for c in spec:
        if isinstance(c, (int, np.integer)):
            if not 0 <= int(c) < len(names):
                raise ConfigError(f"question column index {c} is out of range (0..{len(names) - 1})")
            out.append(int(c))
        elif str(c) in names:
            out.append(names.index(str(c)))
        else:
            raise ConfigError(f"question column {c!r} not found; inputs are: {', '.join(names)}")
    return out


@register_model
class Bottleneck(Emulator):
    """Encoder (observations) -> K Gaussian latents -> decoder (latents + question) -> answer.

    Args:
        d_in, d_out: numbers of input and target columns.
        question_idx: input columns fed to the decoder; the rest are observations.
        latent_dim: K, the number of latent neurons (take more than you expect to need).
        width, depth: hidden width/depth of encoder and decoder.
        beta: weight of the KL penalty (per latent, summed) against the standardised MSE.

    Example:
        >>> from physlens.data import Dataset
        >>> ds = Dataset(np.random.randn(64, 5), np.random.randn(64, 1), ["o0", "o1", "o2", "q0", "q1"], ["a"])
        >>> m = Bottleneck.from_dataset(ds, question_columns=["q0", "q1"], latent_dim=4, width=16)
        >>> m(torch.randn(3, 5)).shape, m.latent_usage(ds.X).shape
        (torch.Size([3, 1]), (4,))
    """

    name = "bottleneck"

    def __init__(
        self,
        d_in: int,
        d_out: int,
        question_idx: list[int],
        latent_dim: int = 8,
        width: int = 64,
        depth: int = 2,
        beta: float = 5e-2,
        activation_name: str = "silu",
    ) -> None:
        super().__init__(d_in, d_out)
        q = sorted(set(int(i) for i in question_idx))
        obs = [i for i in range(d_in) if i not in q]
        if not obs:
            raise ConfigError("the bottleneck needs at least one observation column (not a question)")
        if latent_dim < 1 or beta < 0:
            raise ConfigError(f"bottleneck needs latent_dim >= 1 and beta >= 0, got {latent_dim}, {beta}")
        self.latent_dim, self.beta = int(latent_dim), float(beta)
        self.register_buffer("obs_idx", torch.as_tensor(obs, dtype=torch.long), persistent=False)
        self.register_buffer("q_idx", torch.as_tensor(q, dtype=torch.long), persistent=False)
        self.encoder = mlp_block(len(obs), 2 * self.latent_dim, width, depth, activation_name)
        self.decoder = mlp_block(self.latent_dim + len(q), d_out, width, depth, activation_name)

    @classmethod
    def from_dataset(cls, dataset, question_columns=None, **params) -> Bottleneck:
        """Build from a dataset; the question columns come from the argument or ``meta["question_columns"]``."""
        spec = question_columns if question_columns is not None else dataset.meta.get("question_columns")
        if spec is None:
            spec = []
        return cls(dataset.d_in, dataset.d_out, _columns(list(spec), dataset.input_names), **params)

    def _encode(self, x: torch.Tensor):
        z = (x - self.x_mean) / self.x_std
        h = self.encoder(z[:, self.obs_idx])
        mu, logvar = h[:, : self.latent_dim], h[:, self.latent_dim :].clamp(-12.0, 6.0)
        return z, mu, logvar

    def _decode(self, z: torch.Tensor, latent: torch.Tensor) -> torch.Tensor:
        return self.decoder(torch.cat([latent, z[:, self.q_idx]], dim=-1)) * self.y_std + self.y_mean

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z, mu, _ = self._encode(x)
        return self._decode(z, mu)

    def training_loss(self, x: torch.Tensor, y: torch.Tensor):
        """Standardised MSE of the answer plus ``beta`` x KL(latents || N(0, 1)) (summed over latents)."""
        z, mu, logvar = self._encode(x)
        latent = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if self.training else mu
        mse = (((self._decode(z, latent) - y) / self.y_std) ** 2).mean()
        kl = (0.5 * (mu**2 + logvar.exp() - logvar - 1)).sum(-1).mean()
        return mse + self.beta * kl, {"mse": float(mse.detach()), "kl": float(kl.detach())}

    def encode(self, X, batch_size: int = 8192) -> tuple[np.ndarray, np.ndarray]:
        """Latent means and log-variances for the rows of ``X``: two arrays (n, K).

        Example:
            >>> m = Bottleneck(3, 1, question_idx=[2], latent_dim=2, width=8)
            >>> [a.shape for a in m.encode(np.zeros((4, 3)))]
            [(4, 2), (4, 2)]
        """
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.d_in:
            raise DataError(f"bottleneck expects inputs with {self.d_in} columns, got shape {X.shape}")
        p = next(self.parameters())
        mus, lvs = [], []
        with torch.no_grad():
            for i in range(0, len(X), batch_size):
                _, mu, lv = self._encode(torch.as_tensor(X[i : i + batch_size], dtype=p.dtype, device=p.device))
                mus.append(mu.cpu().numpy())
                lvs.append(lv.cpu().numpy())
        return np.concatenate(mus).astype(np.float64), np.concatenate(lvs).astype(np.float64)

    def latent_usage(self, X) -> np.ndarray:
        """KL divergence of each latent to the prior, averaged over the rows of ``X`` (nats), shape (K,).

        A used latent carries information (KL of order 1 or more); a collapsed one sits on the prior (KL ~ 0).

        Example:
            >>> Bottleneck(3, 1, question_idx=[2], latent_dim=2, width=8).latent_usage(np.zeros((4, 3))).shape
            (2,)
        """
        mu, lv = self.encode(X)
        return (0.5 * (mu**2 + np.exp(lv) - lv - 1)).mean(axis=0)

    def active_latents(self, X, threshold: float = 0.1) -> int:
        """Number of latents whose mean KL exceeds ``threshold`` nats (0.1 by default).

        Example:
            >>> Bottleneck(3, 1, question_idx=[2], latent_dim=2, width=8).active_latents(np.zeros((4, 3))) >= 0
            True
        """
        return int(np.sum(self.latent_usage(X) > threshold))
