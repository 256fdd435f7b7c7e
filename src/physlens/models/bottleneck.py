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
with 3 or more active latents). So :func:`fit_bottleneck` follows SciNet's
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

import copy

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

    Every latent is open after construction, so plain :func:`physlens.train.fit` trains a
    beta-VAE whose KL usage is an upper bound on the latents needed; :func:`fit_bottleneck`
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
        h = self.encoder(z[:, self.obs_idx])
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


def _search_rows(n: int, cfg, rows: int) -> np.ndarray:
    """Rows of a ``rows``-row subset whose own train/validation split (by :func:`physlens.train.fit`)
    takes training rows only from the whole data's training rows and validation rows only from its
    validation rows, so a model searched on the subset and polished on the whole data never trained
    on a row it is validated on."""
    perm = np.random.default_rng(cfg.seed).permutation(n)  # fit()'s split of the whole data
    n_val = max(1, int(round(n * cfg.val_fraction)))
    val, train = perm[:n_val], perm[n_val:]
    m_val = max(1, int(round(rows * cfg.val_fraction)))
    sub = np.random.default_rng(cfg.seed).permutation(rows)  # fit()'s split of the subset
    out = np.empty(rows, dtype=np.int64)
    out[sub[:m_val]] = val[:m_val]
    out[sub[m_val:]] = train[: rows - m_val]
    return out


def fit_bottleneck(
    model: Bottleneck,
    dataset,
    config=None,
    min_gain: float = 0.01,
    polish_epochs: int | None = None,
    callback=None,
    search_rows: int | None = None,
    polish_config=None,
    polish_beta: float | None = None,
    stall_ratio: float = 0.5,
    start: str | int = "auto",
):
    """Find how many latents the answer needs (SciNet's criterion) and return the model trained with them.

    SciNet (Iten et al. 2020, Fig. 3) trains one network per number of latent
    neurons and reads the parameter count where the validation error stops
    falling. Here the K latents of ``model`` have gates: stage k reloads the
    initial weights, opens latents 1..k and trains with
    :func:`physlens.train.fit` and ``config`` (stage 0: the question alone).
    The search stops at the first stage that

    * leaves one of its k latents unused (fewer than k active by KL usage,
      see :meth:`Bottleneck.active_latents`): that stage is kept, with its
      unused latents closed;
    * uses all k latents but their means lie on a manifold of dimension
      below k - 1/2 and less than 1/2 above the previous stage's
      (:meth:`Bottleneck.intrinsic_dimension`, on up to 4000 rows): one latent
      is a function of the others (the 3 Bloch coordinates of a qubit code 2
      parameters), so the previous stage is kept. Unless that stage *stalled*:
      when the redundant k latents' validation MSE is below ``stall_ratio``
      (default 0.5) times the previous stage's, and lower by at least
      ``min_gain``, the k - 1 latents can hold what the k latents hold but
      their training got stuck short of it (a fresh start does not always
      find the code). Then the k-latent model, with its least-used latent
      (smallest KL) closed, is trained once more with ``config``, warm, and
      kept as the (k - 1)-latent result if it validates better than the
      stalled stage (recorded as a stage with ``rescue: True``); or
    * lowers the validation MSE (standardised: the fraction of the target
      variance left unexplained) by less than ``min_gain`` (default 0.01,
      1 % of the variance) against the previous stage: the previous stage
      is kept.

    The kept stage's weights are then *polished*: trained once more, warm,
    on the whole dataset, with its closed latents kept closed, by
    ``polish_config`` (default ``config``) for ``polish_epochs`` (default:
    that config's epochs; 0 skips the polish). During the polish the KL
    weight falls geometrically from ``model.beta`` to ``polish_beta``
    (default ``model.beta / 100``; ``model.beta`` is put back afterwards):
    the search needs the stronger penalty to make a superfluous latent
    collapse, but its latent noise also limits how precise the code is, and
    with the number of latents settled the open latents can carry more nats.

    ``start`` chooses the search. An integer k0 runs the stages above from
    stage k0 (0: from the question alone). ``"probe"`` searches from the top
    instead: one stage with all K latents open (fresh) is trained and the
    intrinsic dimension d of its code read (an over-sized code still lies on
    a d-dimensional manifold: 2.0 for one qubit, 5.7-6.1 for two). Its K - d
    least-used latents are closed and it is trained on, warm (stage d); then
    one more is closed at a time (warm from the previous stage) while that
    costs less than ``min_gain``; the last stage that did not is kept. If
    stage d lost at least half as much against the probe as closing one
    more latent costs, d was too low (the estimate is biased low for large
    d) and stage d + 1 is tried (warm from the probe) as in the stages above.
    This costs 3 fits where the stages from 0 cost d + 2, and warm codes
    shrunk from a converged larger one stall less often than fresh ones.
    ``"auto"`` (default) probes when the model has 6 or more latents.

    ``search_rows`` (default: all rows) trains the stages on that many rows
    only: the search needs each stage's error roughly, the polish needs the
    data. The subset's validation rows are drawn from the whole data's
    validation split and its training rows from the training split, so the
    polished model is never validated on a row it was trained on.

    Closed latents are the prior itself (no decoder input, zero KL), so
    ``model.latent_usage`` shows the needed latents only.
    Retraining from the initial weights (rather than warm-starting) matters:
    a model grown from a 1-latent code gets stuck in codes that a fresh
    2-latent model avoids.

    Returns ``(result, stages)``: the :class:`~physlens.train.TrainResult` of
    the returned model (its ``model`` is ``model``; ``train_index`` and
    ``val_index`` are rows of ``dataset``) and one dict per stage tried with
    ``open`` (latents open), ``val_mse``, ``active``, ``intrinsic_dimension``
    and ``epochs`` (``rescue: True`` for the re-trained stalled stage,
    ``probe: True`` for the all-latents probe, ``warm: True`` for a stage
    shrunk from a larger one).

    Example:
        >>> from physlens.data import Dataset
        >>> from physlens.train import TrainConfig
        >>> rng = np.random.default_rng(0); o = rng.normal(size=(256, 3)); q = rng.normal(size=(256, 1))
        >>> ds = Dataset(np.c_[o, q], o[:, :1] * q, ["o0", "o1", "o2", "q"], ["a"], meta={"question_columns": ["q"]})
        >>> m = Bottleneck.from_dataset(ds, latent_dim=3, width=16)
        >>> res, stages = fit_bottleneck(m, ds, TrainConfig(epochs=2, progress=False), search_rows=128)
        >>> stages[0]["open"], res.model is m, len(res.val_index) + len(res.train_index)
        (0, True, 256)
    """
    from dataclasses import replace

    from physlens.train.fit import TrainConfig, fit

    if not isinstance(model, Bottleneck):
        raise ConfigError(f"fit_bottleneck trains a bottleneck model, got {type(model).__name__}")
    if not 0 <= min_gain < 1:
        raise ConfigError(f"min_gain must be in [0, 1), got {min_gain}")
    if not 0 <= stall_ratio <= 1:
        raise ConfigError(f"stall_ratio must be in [0, 1], got {stall_ratio}")
    if polish_beta is not None and polish_beta < 0:
        raise ConfigError(f"polish_beta must be >= 0, got {polish_beta}")
    if not (start in ("auto", "probe") or (isinstance(start, int) and 0 <= start <= model.latent_dim)):
        raise ConfigError(f"start must be 'auto', 'probe' or a stage in 0..{model.latent_dim}, got {start!r}")
    cfg = config or TrainConfig()
    pcfg = polish_config or cfg
    if search_rows is not None and search_rows < 4:
        raise ConfigError(f"search_rows must be at least 4, got {search_rows}")
    if search_rows is not None and search_rows < dataset.n:
        if (pcfg.seed, pcfg.val_fraction, pcfg.split) != (cfg.seed, cfg.val_fraction, cfg.split):
            raise ConfigError("with search_rows, polish_config needs the seed, val_fraction and split of config (the same split)")
        whole = dataset.split_index(cfg.val_fraction, cfg.seed, cfg.split)[1]
        if not np.array_equal(whole, dataset.split_index(cfg.val_fraction, cfg.seed, "rows")[1]):
            raise ConfigError("search_rows needs a split by rows, and these data are split by trajectories: "
                              "pass a config with split='rows', or leave search_rows out")
        rows = _search_rows(dataset.n, cfg, int(search_rows))
        search = dataset.subset(rows)
    else:
        rows, search = None, dataset
    initial = copy.deepcopy(model.state_dict())
    stages: list[dict] = []
    kept = kept_state = None

    def polish(res, state):
        model.load_state_dict(state)
        with torch.no_grad():  # a latent the kept stage left unused stays closed
            u = model.latent_usage(search.X[res.val_index]) * (model.gate.cpu().numpy() > 0)
            used = (u > 0.1) & (u > 0.02 * u.sum())
            model.gate.copy_(torch.as_tensor(used, dtype=model.gate.dtype))
        model.eval()
        epochs = pcfg.epochs if polish_epochs is None else polish_epochs
        if epochs == 0:
            if rows is None:
                return res
            return replace(res, train_index=np.sort(rows[res.train_index]), val_index=np.sort(rows[res.val_index]))
        beta0 = model.beta
        beta1 = beta0 / 100 if polish_beta is None else float(polish_beta)

        def anneal(epoch, record):
            if beta0 > 0 and beta1 > 0:
                model.beta = beta0 * (beta1 / beta0) ** min(1.0, epoch / max(1, epochs - 1))
            else:
                model.beta = beta1
            if callback is not None:
                callback(epoch, record)

        try:
            return fit(model, dataset, pcfg.model_copy(update={"epochs": epochs}), callback=anneal)
        finally:
            model.beta = beta0

    def measure(res, k, **extra):
        Xv = search.X[res.val_index]
        with torch.no_grad():
            x = torch.as_tensor(Xv, dtype=model.gate.dtype, device=model.gate.device)
            y = torch.as_tensor(search.y[res.val_index], dtype=x.dtype, device=x.device)
            mse = float((((model(x) - y) / model.y_std) ** 2).mean())
        active = model.active_latents(Xv) if k else 0
        idim = model.intrinsic_dimension(search.X) if k else 0.0  # all rows: TwoNN is biased low on few points
        return {"open": k, "val_mse": mse, "active": active, "intrinsic_dimension": idim,
                "epochs": res.epochs_run, **extra}

    def train_stage(k):
        model.load_state_dict(initial)
        with torch.no_grad():
            model.gate.copy_((torch.arange(model.latent_dim) < k).to(model.gate))
        return fit(model, search, cfg, callback=callback)

    def close_to(k, res):
        """Warm: close the least-used open latents (by KL on the validation rows) until k are open."""
        with torch.no_grad():
            u = np.asarray(model.latent_usage(search.X[res.val_index]), dtype=np.float64)
            u[model.gate.cpu().numpy() == 0] = np.inf
            while int((model.gate > 0).sum()) > k:
                j = int(np.argmin(u))
                model.gate[j] = 0.0
                u[j] = np.inf

    if start == "probe" or (start == "auto" and model.latent_dim >= 6):
        res = train_stage(model.latent_dim)
        stages.append(measure(res, model.latent_dim, probe=True))
        probe_res, probe_state, probe_mse = res, copy.deepcopy(model.state_dict()), stages[-1]["val_mse"]
        d = int(min(max(round(stages[-1]["intrinsic_dimension"]), 1), model.latent_dim))
        close_to(d, res)
        res = fit(model, search, cfg, callback=callback)
        stages.append(measure(res, d, warm=True))
        if stages[-1]["active"] < d:  # fewer than d carry information: close the idle ones, go on from there
            d = max(1, stages[-1]["active"])
            close_to(d, res)
        kept, kept_state, k, kept_mse = res, copy.deepcopy(model.state_dict()), d, stages[-1]["val_mse"]
        down_cost = None
        while k > 1:  # close one more latent while that costs less than min_gain
            close_to(k - 1, kept)
            res = fit(model, search, cfg, callback=callback)
            stages.append(measure(res, k - 1, warm=True))
            if stages[-1]["val_mse"] - kept_mse >= min_gain:
                down_cost = stages[-1]["val_mse"] - kept_mse
                break
            kept, kept_state, k, kept_mse = res, copy.deepcopy(model.state_dict()), k - 1, stages[-1]["val_mse"]
        lost = kept_mse - probe_mse
        if k == d and d < model.latent_dim and lost >= min_gain and (down_cost is None or lost >= 0.5 * down_cost):
            model.load_state_dict(probe_state)  # d was too few: the next latent, warm from the probe
            close_to(d + 1, probe_res)
            res = fit(model, search, cfg, callback=callback)
            stages.append(measure(res, d + 1, warm=True))
            st = stages[-1]
            if st["active"] == d + 1 and st["intrinsic_dimension"] >= d + 0.5 and kept_mse - st["val_mse"] >= min_gain:
                kept, kept_state = res, copy.deepcopy(model.state_dict())
        return polish(kept, kept_state), stages

    k0 = start if isinstance(start, int) else 0
    k = k0
    while k <= model.latent_dim:
        res = train_stage(k)
        stages.append(measure(res, k))
        mse, active, idim = stages[-1]["val_mse"], stages[-1]["active"], stages[-1]["intrinsic_dimension"]
        first = k == k0  # (no previous stage to compare with)
        if first and k0 > 1 and active == k and idim < k - 0.5:
            k0 = k = 0  # the first stage is already redundant: start over from the question alone
            continue
        if k and active < k:
            return polish(res, copy.deepcopy(model.state_dict())), stages
        # the k latents code k - 1 parameters, and no more than the k - 1 latents did: one is redundant
        if k > 1 and not first and idim < min(k - 0.5, stages[-2]["intrinsic_dimension"] + 0.5):
            prev = stages[-2]["val_mse"]
            if mse < stall_ratio * prev and prev - mse >= min_gain:
                # k latents holding k - 1 parameters predict far better than the k - 1 latents did: that
                # stage stalled short of its optimum. Re-train it from this stage with its least-used latent
                # closed (warm), and keep whichever (k - 1)-latent model validates better.
                close_to(k - 1, res)
                res = fit(model, search, cfg, callback=callback)
                stages.append(measure(res, k - 1, rescue=True))
                if stages[-1]["val_mse"] < prev:
                    kept, kept_state = res, copy.deepcopy(model.state_dict())
            return polish(kept, kept_state), stages
        if k and not first and stages[-2]["val_mse"] - mse < min_gain:
            return polish(kept, kept_state), stages
        kept, kept_state = res, copy.deepcopy(model.state_dict())
        k += 1
    return polish(kept, kept_state), stages
