"""SciNet-style bottleneck: encoder -> a few stochastic latent neurons -> decoder that answers a question.

Follows Iten, Metger, Wilming, del Rio & Renner, "Discovering physical
concepts with neural networks" (Phys. Rev. Lett. 124, 010508, 2020): the
encoder reads the *observations* (e.g. measurement outcomes on a quantum
state) into K latent neurons, each a Gaussian with a learned mean and
log-variance; the decoder reads the latents together with a *question* (e.g.
which new measurement to predict) and outputs the answer. The loss is the
standardised squared error plus ``beta`` times the KL divergence of the
latents to N(0, 1) (a beta-VAE penalty, Higgins et al. 2017).

How many latents the physics needs. SciNet reads the number of independent
parameters (2 for a pure qubit, 6 for two qubits) off the validation error
as a function of the number of latent neurons (their Fig. 3): the error
drops until the latents can hold the state and stays flat after. The KL
usage of one over-sized beta-VAE does *not* give that number reliably: a
pure qubit's Bloch vector lies on the sphere S^2, and the easy, smooth code
is the 3 Bloch coordinates (the data are linear in them), which uses 3
latents (about 1 nat each at beta = 0.05, 3 nats at 1e-3); a 2-latent code
exists (an azimuthal map of the sphere, singular at one point) and is learnt
from scratch with 2 latents, but gradient descent does not reach it from the
3-latent code, neither by beta annealing (up or down), concave per-latent KL
penalties (sqrt, log), nested dropout nor by gradually switching the third
latent off (each tried on ``qubit_tomography`` with 6-8 latents: all end
with 3 or more active latents). So :func:`physlens.train.bottleneck.fit_bottleneck` follows SciNet's
criterion inside one model: the latents have *gates* (a buffer of
0/1 multipliers in front of the decoder); stage k retrains from the initial
weights with latents 1..k open, and the search stops when a stage leaves one
of its latents unused (KL collapse) or when opening one more latent lowers
the validation MSE by less than ``min_gain`` of the target variance (1 % by
default: a latent that explains less of the answer is not a physical
parameter), or when the k latents' means lie on a manifold of lower
dimension (one latent is a function of the others). Closed latents get no
decoder input and sit on the prior, so the returned model's KL usage shows
exactly the latents it needs:
:meth:`Bottleneck.latent_usage` (mean KL per latent, nats),
:meth:`Bottleneck.active_latents` (latents above ``threshold`` nats and above
``fraction`` of the total KL: a latent with a few hundredths of a nat carries
almost no information) and :meth:`Bottleneck.intrinsic_dimension` (TwoNN
estimate of the dimension of the manifold of latent means, Facco, d'Errico,
Rodriguez & Laio, Sci. Rep. 7, 12140, 2017: 2 for the 3 latents of the
Bloch-sphere code, so it gives the parameter count of a plain over-sized fit
too; written by hand because it is 5 lines on scikit-learn's neighbours).

Which input columns are the question: ``question_columns=[names or indices]``,
else ``dataset.meta["question_columns"]``; every other input is an
observation. The reparametrisation noise is drawn from torch's CPU generator (on every device),
which :func:`physlens.train.fit` seeds per epoch (resume stays bit-exact).
"""

from __future__ import annotations

import numpy as np
import torch

from physlens.errors import ConfigError, DataError
from physlens.models.base import Emulator, register_model, standard_normal_like
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
        beta: weight of the KL penalty (per latent, summed) against the standardised MSE. The
            default 1e-3 lets an open latent carry a few nats (a precise code); larger values
            (0.05) blur the code and make a curved 2-latent code lose to a flat 3-latent one.

        decoder: ``"mlp"`` (SciNet: an MLP of latents and question) or ``"linear_in_question"``
            (the MLP reads the latents only and gives the coefficients of an answer affine in
            the question, ``a = c_0(z) + sum_j c_j(z) q_j``: the form of every Born-rule
            probability whose question is a measurement's own outcome probabilities, as in
            qubit tomography, where it trains much faster; use it only when the answer is
            known to be linear in the question).

        set_size: 0 (default) reads the observation columns as one vector; ``s > 0`` reads them as
            ``s`` equal blocks, the rows of an unordered *set* (e.g. other rows of the same trajectory,
            each with the same columns), with a permutation-invariant encoder: each block through one
            MLP, the mean over blocks, then an MLP to the latents (deep sets, Zaheer et al. 2017; the
            encoder of a neural process). Means over rows of learnt features are what a least-squares
            estimate of a hidden parameter needs (sums of products of the row's columns), so the set
            encoder learns a trajectory's parameters from a few rows far faster than a plain MLP of the
            concatenated rows.

    Every latent is open after construction, so plain :func:`physlens.train.fit` trains a
    beta-VAE whose KL usage is an upper bound on the latents needed; :func:`~physlens.train.bottleneck.fit_bottleneck`
    finds the number itself.

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
        beta: float = 1e-3,
        activation_name: str = "silu",
        decoder: str = "mlp",
        set_size: int = 0,
    ) -> None:
        super().__init__(d_in, d_out)
        if decoder not in ("mlp", "linear_in_question"):
            raise ConfigError(f"decoder must be 'mlp' or 'linear_in_question', got {decoder!r}")
        q = sorted(set(int(i) for i in question_idx))
        obs = [i for i in range(d_in) if i not in q]
        if not obs:
            raise ConfigError("the bottleneck needs at least one observation column (not a question)")
        if latent_dim < 1 or beta < 0:
            raise ConfigError(f"bottleneck needs latent_dim >= 1 and beta >= 0, got {latent_dim}, {beta}")
        self.latent_dim, self.beta = int(latent_dim), float(beta)
        # 1 = latent open (fed to the decoder), 0 = closed; fit_bottleneck opens them one by one
        self.register_buffer("gate", torch.ones(self.latent_dim))
        self.register_buffer("obs_idx", torch.as_tensor(obs, dtype=torch.long), persistent=False)
        self.register_buffer("q_idx", torch.as_tensor(q, dtype=torch.long), persistent=False)
        if set_size < 0 or (set_size and len(obs) % set_size):
            raise ConfigError(f"set_size must divide the {len(obs)} observation columns into equal blocks, got {set_size}")
        self.set_size = int(set_size)
        if self.set_size:
            self.row_encoder = mlp_block(len(obs) // self.set_size, width, width, depth, activation_name)
            self.encoder = mlp_block(width, 2 * self.latent_dim, width, 1, activation_name)
        else:
            self.encoder = mlp_block(len(obs), 2 * self.latent_dim, width, depth, activation_name)
        self.decoder_kind = decoder
        if decoder == "mlp":
            self.decoder = mlp_block(self.latent_dim + len(q), d_out, width, depth, activation_name)
        else:  # coefficients of an answer affine in the question, read from the latents
            self.decoder = mlp_block(self.latent_dim, d_out * (len(q) + 1), width, depth, activation_name)

    @classmethod
    def from_dataset(cls, dataset, question_columns=None, **params) -> Bottleneck:
        """Build from a dataset; the question columns come from the argument or ``meta["question_columns"]``."""
        spec = question_columns if question_columns is not None else dataset.meta.get("question_columns")
        if spec is None:
            spec = []
        return cls(dataset.d_in, dataset.d_out, _columns(list(spec), dataset.input_names), **params)

    def _encode(self, x: torch.Tensor):
        z = (x - self.x_mean) / self.x_std
        o = z[:, self.obs_idx]
        if self.set_size:  # the mean over the set's rows of one MLP's features: order does not matter
            o = self.row_encoder(o.reshape(len(o), self.set_size, -1)).mean(dim=1)
        h = self.encoder(o)
        # a closed latent is the prior N(0, 1) itself: no decoder input, no KL, no drift of its mean
        mu = h[:, : self.latent_dim] * self.gate
        logvar = h[:, self.latent_dim :].clamp(-12.0, 6.0) * self.gate
        return z, mu, logvar

    def _decode(self, z: torch.Tensor, latent: torch.Tensor) -> torch.Tensor:
        latent = latent * self.gate
        if self.decoder_kind == "mlp":
            out = self.decoder(torch.cat([latent, z[:, self.q_idx]], dim=-1))
        else:
            coef = self.decoder(latent).reshape(len(z), self.d_out, len(self.q_idx) + 1)
            out = coef[..., 0] + torch.einsum("boq,bq->bo", coef[..., 1:], z[:, self.q_idx])
        return out * self.y_std + self.y_mean

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z, mu, _ = self._encode(x)
        return self._decode(z, mu)

    def training_loss(self, x: torch.Tensor, y: torch.Tensor):
        """Standardised MSE of the answer plus ``beta`` x KL(latents || N(0, 1)) (summed over latents)."""
        z, mu, logvar = self._encode(x)
        latent = mu + standard_normal_like(mu) * torch.exp(0.5 * logvar) if self.training else mu
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

    def active_latents(self, X, threshold: float = 0.1, fraction: float = 0.02) -> int:
        """Number of latents carrying information: mean KL above ``threshold`` nats AND above ``fraction`` of the total.

        The absolute floor (0.1 nat, about a seventh of a bit) discards latents that
        sit on the prior; the relative one discards crumbs next to latents holding
        several nats. Closed latents (gate 0) are never counted.

        Example:
            >>> Bottleneck(3, 1, question_idx=[2], latent_dim=2, width=8).active_latents(np.zeros((4, 3))) >= 0
            True
        """
        u = self.latent_usage(X) * (self.gate.detach().cpu().numpy() > 0)
        return int(np.sum((u > threshold) & (u > fraction * u.sum())))

    def intrinsic_dimension(self, X, threshold: float = 0.1, fraction: float = 0.02, max_points: int = 4000) -> float:
        """TwoNN estimate (Facco et al. 2017) of the dimension of the manifold of latent means (active latents only).

        For each point the ratio mu = r2 / r1 of its distances to its second and
        first nearest neighbours follows P(mu) = d mu^-(d+1) on a d-dimensional
        manifold; the maximum-likelihood d is N / sum(log mu). It counts the
        independent parameters of the code even when the code is curved (the 3
        Bloch coordinates of a pure qubit give 2). Returns 0 with no active latent.

        Example:
            >>> m = Bottleneck(3, 1, question_idx=[2], latent_dim=2, width=8)
            >>> float(m.intrinsic_dimension(np.random.default_rng(0).normal(size=(200, 3)))) >= 0
            True
        """
        from sklearn.neighbors import NearestNeighbors

        u = self.latent_usage(X) * (self.gate.detach().cpu().numpy() > 0)
        active = (u > threshold) & (u > fraction * u.sum())
        if not active.any():
            return 0.0
        mu = self.encode(np.asarray(X)[:max_points])[0][:, active]
        mu = np.unique(mu / mu.std(axis=0).clip(1e-12), axis=0)
        if len(mu) < 3:
            return 0.0
        dist, _ = NearestNeighbors(n_neighbors=3).fit(mu).kneighbors(mu)
        ratio = dist[:, 2] / np.maximum(dist[:, 1], 1e-300)
        log_mu = np.log(ratio[np.isfinite(ratio) & (ratio > 1.0)])
        return float(len(log_mu) / log_mu.sum()) if log_mu.size else 0.0

    def latent_summary(self, X) -> dict:
        """KL usage, gates, active-latent count and intrinsic dimension of the code, in one dict.

        Example:
            >>> s = Bottleneck(3, 1, question_idx=[2], latent_dim=2, width=8).latent_summary(np.zeros((4, 3)))
            >>> sorted(s)
            ['active_latents', 'gate', 'intrinsic_dimension', 'latent_kl']
        """
        return {
            "latent_kl": self.latent_usage(X),
            "gate": self.gate.detach().cpu().numpy().copy(),
            "active_latents": self.active_latents(X),
            "intrinsic_dimension": self.intrinsic_dimension(X),
        }
