"""Message-passing graph network for interacting particles, with readable messages.

Follows Cranmer, Sanchez-Gonzalez, Battaglia, Xu, Cranmer, Spergel & Ho,
"Discovering Symbolic Models from Deep Learning with Inductive Biases"
(NeurIPS 2020): an edge model ``phi_e`` turns each ordered pair (receiver i,
sender j) into a message vector ``m_ij`` of small dimension; the messages
arriving at a particle are summed; a node model ``phi_v`` maps the particle's
own features and the summed message to its output (its acceleration). A
sparsity penalty on the messages (L1, or a KL "bottleneck" on variational
messages) pushes the network to use as few message components as the
physics needs (``dim`` for a pairwise force), and those components are then
linear combinations of the true force: :meth:`GraphNetwork.messages` exposes
them for symbolic regression of the force law.

By default (``edge_inputs="relative"``) the edge model sees translation-
invariant inputs: the sender-minus-receiver difference of every vector feature
(positions, velocities...), the distance r, both particles' scalars (masses,
charges) and the global columns; the node model sees the summed message,
the particle's non-position vectors, scalars and globals. ``edge_inputs="full"``
feeds both particles' full feature rows instead, as in the paper.

Options for Newtonian force laws (Cranmer et al.'s decomposition "message =
force, acceleration = sum of messages / mass"):

* ``divide_by="m"`` divides the summed messages of particle i by its scalar
  feature ``m`` (original units) before the node model, so the messages are
  forces rather than force / m_i (any positive per-particle scalar can be named);
* ``node_model="additive"`` makes the node model superpose the messages:
  ``out_i = W (sum_j m_ij) [/ s_i] + phi_v(own features of i)`` with a linear
  ``W``. The messages must then carry the pairwise contribution itself, and
  heavy-tailed laws (1/r^2 at close encounters) pass through without the node
  MLP having to learn to amplify them (with the MLP node model and L1 messages
  the nbody_charges fit failed, standardised validation loss 0.19, message R^2
  0.19; see ``benchmarks/force_laws.py``);
* ``log_distance=True`` adds log r to the edge inputs (``edge_inputs="relative"``),
  so that power laws spanning decades of r are easy for the edge MLP;
* ``penalty_warmup`` ramps the message penalty up over the first training steps
  (KL annealing, Bowman et al. 2016), so a bottleneck does not close a component
  before the heavy-tailed force is learnt.

Together (``node_model="additive", divide_by="m", regularizer="kl",
log_distance=True, penalty_warmup=1000``) the top-2 messages explain >= 0.96 of
the variance of the true pair force on nbody_springs/charges/gravity (2000
samples, 150 epochs; ``benchmarks/force_laws.py``).

Example:
    >>> from physlens.systems import get_system
    >>> ds = get_system("nbody_gravity").sample(60, seed=0)
    >>> g = GraphNetwork.from_dataset(ds, node_model="additive", divide_by="m", log_distance=True, width=8)
    >>> g.messages(ds.X[:2])["messages"].shape  # 2 samples x 12 edges; messages are forces
    (24, 16)

The layout comes from ``dataset.meta["particles"]`` (see
:mod:`physlens.models.particles`); edges from ``meta["edges"]``: ``"complete"``
(default, every ordered pair i != j) or a list of ``[sender, receiver]`` pairs.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from physlens.errors import ConfigError, DataError
from physlens.models.base import Emulator, register_model, standard_normal_like
from physlens.models.particles import ParticleLayout, particle_feature_names, set_buffers, symmetric_standardisation
from physlens.models.scalars import mlp_block


def edge_list(edges, n: int) -> np.ndarray:
    """Edges as an int array (E, 2) of (sender, receiver) from ``"complete"`` or a list of pairs.

    Example:
        >>> edge_list("complete", 3).tolist()
        [[1, 0], [2, 0], [0, 1], [2, 1], [0, 2], [1, 2]]
    """
    if edges is None or (isinstance(edges, str) and edges == "complete"):
        return np.array([[j, i] for i in range(n) for j in range(n) if i != j], dtype=np.int64).reshape(-1, 2)
    if isinstance(edges, str):
        raise ConfigError(f"unknown edge specification {edges!r}; use 'complete' or a list of [sender, receiver] pairs")
    arr = np.asarray(edges, dtype=np.int64)
    if arr.ndim != 2 or arr.shape[1] != 2 or arr.size == 0:
        raise ConfigError("edges must be a non-empty list of [sender, receiver] pairs")
    if arr.min() < 0 or arr.max() >= n:
        raise ConfigError(f"edge indices must lie in [0, {n - 1}]")
    return arr


@register_model
class GraphNetwork(Emulator):
    """Graph network ``phi_v(x_i, sum_j phi_e(x_i, x_j))`` with sparse, readable messages.

    Args:
        d_in, d_out: numbers of input and target columns.
        layout: the :class:`~physlens.models.particles.ParticleLayout` of the data.
        edges: (E, 2) array of (sender, receiver) particle indices.
        feature_names: per-particle feature names (for :meth:`messages`).
        message_dim: size of each message vector (keep it small; 16 by default).
        width, depth: hidden width/depth of the edge and node MLPs.
        regularizer: ``"l1"`` (mean |m|), ``"kl"`` (variational messages, KL to N(0, 1)) or ``"none"``.
        penalty: weight of the message penalty in the standardised loss.
        edge_inputs: ``"relative"`` (differences, translation invariant) or ``"full"`` (both feature rows).
        readout: ``"node"`` (one output block per particle) or ``"sum"`` (sum of node outputs: global targets).
        divide_by: name of a particle scalar (e.g. ``"m"``) dividing the summed messages (None: no division).
        log_distance: add log r to the edge inputs (relative edge inputs only).
        node_model: ``"mlp"`` (phi_v of the summed message and own features) or ``"additive"``
            (linear in the summed message plus phi_v of the own features).
        penalty_warmup: training steps over which the message penalty ramps up linearly from 0
            (0: full penalty from the start; the count restarts with a new model object).

    Example:
        >>> from physlens.data import Dataset
        >>> meta = {"particles": {"n": 3, "dim": 2, "vectors": ["pos"], "scalars": [], "target_vectors": ["acc"]}}
        >>> ds = Dataset(np.random.randn(32, 6), np.random.randn(32, 6), [f"{c}{i}" for i in range(3) for c in "xy"],
        ...              [f"a{c}{i}" for i in range(3) for c in "xy"], meta=meta)
        >>> g = GraphNetwork.from_dataset(ds, message_dim=4, width=16)
        >>> g(torch.randn(5, 6)).shape, g.messages(ds.X[:2])["messages"].shape
        (torch.Size([5, 6]), (12, 4))
    """

    name = "graph"

    def __init__(
        self,
        d_in: int,
        d_out: int,
        layout: ParticleLayout,
        edges: np.ndarray,
        feature_names: list[str] | None = None,
        message_dim: int = 16,
        width: int = 64,
        depth: int = 3,
        regularizer: str = "l1",
        penalty: float = 1e-2,
        edge_inputs: str = "relative",
        readout: str | None = None,
        activation_name: str = "silu",
        divide_by: str | None = None,
        log_distance: bool = False,
        node_model: str = "mlp",
        penalty_warmup: int = 0,
    ) -> None:
        super().__init__(d_in, d_out)
        if regularizer not in ("l1", "kl", "none"):
            raise ConfigError(f"regularizer must be 'l1', 'kl' or 'none', got {regularizer!r}")
        if edge_inputs not in ("relative", "full"):
            raise ConfigError(f"edge_inputs must be 'relative' or 'full', got {edge_inputs!r}")
        if message_dim < 1:
            raise ConfigError(f"message_dim must be >= 1, got {message_dim}")
        L = self.layout = layout
        n, nv, ns, ng, dim = L.n, L.n_vectors, L.n_scalars, L.n_global, L.dim
        if readout is None:
            readout = "node" if d_out % n == 0 and L.out_mode != "global_vectors" else "sum"
        if readout not in ("node", "sum"):
            raise ConfigError(f"readout must be 'node' or 'sum', got {readout!r}")
        if readout == "node" and d_out % n:
            raise ConfigError(f"graph readout 'node' needs targets per particle: {d_out} targets for {n} particles")
        self.readout, self.regularizer, self.penalty = readout, regularizer, float(penalty)
        self.edge_inputs, self.message_dim = edge_inputs, int(message_dim)
        if divide_by is not None and divide_by not in L.scalars:
            raise ConfigError(f"divide_by must name a particle scalar ({', '.join(L.scalars) or 'none'}), got {divide_by!r}")
        if divide_by is not None and readout != "node":
            raise ConfigError("divide_by needs per-particle outputs (readout='node')")
        if node_model not in ("mlp", "additive"):
            raise ConfigError(f"node_model must be 'mlp' or 'additive', got {node_model!r}")
        if log_distance and edge_inputs != "relative":
            raise ConfigError("log_distance needs edge_inputs='relative'")
        self.penalty_warmup, self._steps = max(int(penalty_warmup), 0), 0
        self.divide_by, self.log_distance, self.node_model = divide_by, bool(log_distance), node_model
        div = L.sca_idx[:, L.scalars.index(divide_by)] if divide_by is not None else np.zeros(0, dtype=np.int64)
        self.register_buffer("div_idx", torch.as_tensor(div, dtype=torch.long), persistent=False)
        self.per_out = d_out // n if readout == "node" else d_out
        self.feature_names = list(feature_names or [f"f{k}" for k in range(nv * dim + ns)])
        self.register_buffer("edges", torch.as_tensor(edges, dtype=torch.long), persistent=False)
        self.register_buffer("vec_idx", torch.as_tensor(L.vec_idx, dtype=torch.long), persistent=False)
        self.register_buffer("sca_idx", torch.as_tensor(L.sca_idx, dtype=torch.long), persistent=False)
        self.register_buffer("glob_idx", torch.as_tensor(L.glob_idx, dtype=torch.long), persistent=False)
        self.register_buffer("eta", L.metric_diag(), persistent=False)
        per = nv * dim + ns
        if edge_inputs == "relative":
            d_edge = nv * dim + 1 + int(self.log_distance) + 2 * ns + ng
            d_node = message_dim + (nv - 1) * dim + ns + ng
        else:
            d_edge = 2 * per + ng
            d_node = message_dim + per + ng
        n_msg = 2 * message_dim if regularizer == "kl" else message_dim
        self.edge_net = mlp_block(d_edge, n_msg, width, depth, activation_name)
        if node_model == "additive":
            # superposition: output = W (sum_j m_ij) [/ s_i] + phi_v(own features)
            self.node_net = mlp_block(max(d_node - message_dim, 1), self.per_out, width, depth, activation_name)
            self.node_linear = nn.Linear(message_dim, self.per_out, bias=False)
        else:
            self.node_net = mlp_block(d_node, self.per_out, width, depth, activation_name)

    @classmethod
    def from_dataset(cls, dataset, **params) -> GraphNetwork:
        """Build from a dataset with ``meta["particles"]`` (and optionally ``meta["edges"]``)."""
        layout = ParticleLayout.from_meta(dataset.meta, dataset.d_in, dataset.d_out, model=cls.name)
        edges = edge_list(dataset.meta.get("edges", "complete"), layout.n)
        names = particle_feature_names(dataset.input_names, layout)
        return cls(dataset.d_in, dataset.d_out, layout, edges, feature_names=names, **params)

    def adapt(self, X: np.ndarray, y: np.ndarray) -> None:
        """One scale per vector feature (no offset), pooled scalars; see ``symmetric_standardisation``."""
        xm, xs, ym, ys = symmetric_standardisation(self.layout, X, y)
        if self.readout == "node" and self.layout.out_mode == "invariant":
            # per-particle scalar targets: pool their statistics over particles
            yb = y.reshape(len(y), self.layout.n, self.per_out)
            ym = np.tile(yb.mean(axis=(0, 1)), self.layout.n)
            s = yb.std(axis=(0, 1))
            ys = np.tile(np.where(s > 0, s, 1.0), self.layout.n)
        set_buffers(self, xm, xs, ym, ys)

    # ------------------------------------------------------------------ pieces
    def _edge_inputs(self, x: torch.Tensor):
        z = (x - self.x_mean) / self.x_std
        B = z.shape[0]
        V = z[:, self.vec_idx]  # (B, n, nv, dim)
        S = z[:, self.sca_idx]
        G = z[:, self.glob_idx]
        snd, rcv = self.edges[:, 0], self.edges[:, 1]
        E = len(snd)
        Ge = G[:, None, :].expand(B, E, G.shape[-1])
        if self.edge_inputs == "relative":
            rel = V[:, snd] - V[:, rcv]  # (B, E, nv, dim)
            r = torch.sqrt((rel[:, :, 0] * self.eta * rel[:, :, 0]).sum(-1, keepdim=True).abs() + 1e-8)
            extra = [torch.log(r)] if self.log_distance else []
            e_in = torch.cat([rel.reshape(B, E, -1), r, *extra, S[:, rcv], S[:, snd], Ge], dim=-1)
            n_in = torch.cat([V[:, :, 1:].reshape(B, V.shape[1], -1), S, G[:, None, :].expand(B, V.shape[1], G.shape[-1])], -1)
        else:
            feat = torch.cat([V.reshape(B, V.shape[1], -1), S], dim=-1)
            e_in = torch.cat([feat[:, rcv], feat[:, snd], Ge], dim=-1)
            n_in = torch.cat([feat, G[:, None, :].expand(B, V.shape[1], G.shape[-1])], -1)
        return e_in, n_in

    def _run(self, x: torch.Tensor, sample: bool):
        e_in, n_in = self._edge_inputs(x)
        h = self.edge_net(e_in)
        logvar = None
        if self.regularizer == "kl":
            mu, logvar = h[..., : self.message_dim], h[..., self.message_dim :].clamp(-10, 10)
            msg = mu + standard_normal_like(mu) * torch.exp(0.5 * logvar) if sample else mu
        else:
            mu = msg = h
        B, n = x.shape[0], self.layout.n
        agg = torch.zeros(B, n, self.message_dim, device=x.device, dtype=msg.dtype).index_add(1, self.edges[:, 1], msg)
        if self.divide_by is not None:
            # Newton: a_i = (sum_j F_ij) / m_i, the divisor in original units
            agg = agg / x[:, self.div_idx][..., None]
        if self.node_model == "additive":
            own = n_in if n_in.shape[-1] else torch.zeros(B, n, 1, device=x.device, dtype=msg.dtype)
            out = self.node_linear(agg) + self.node_net(own)
        else:
            out = self.node_net(torch.cat([agg, n_in], dim=-1))  # (B, n, per_out)
        y = out.reshape(B, -1) if self.readout == "node" else out.sum(1)
        return y * self.y_std + self.y_mean, mu, logvar

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._run(x, sample=False)[0]

    def training_loss(self, x: torch.Tensor, y: torch.Tensor):
        """Standardised MSE plus the message penalty (L1 of messages or their KL to N(0, 1))."""
        pred, mu, logvar = self._run(x, sample=self.training)
        mse = (((pred - y) / self.y_std) ** 2).mean()
        if self.regularizer == "l1":
            reg = mu.abs().sum(-1).mean()
        elif self.regularizer == "kl":
            reg = (0.5 * (mu**2 + logvar.exp() - logvar - 1)).sum(-1).mean()
        else:
            reg = torch.zeros((), device=x.device, dtype=mse.dtype)
        weight = self.penalty
        if self.penalty_warmup and self.training:
            # KL annealing (Bowman et al. 2016): let the messages carry the force before the
            # bottleneck squeezes them, otherwise heavy-tailed laws can lose a component early;
            # validation (eval mode) always uses the full penalty so that losses stay comparable
            weight *= min(1.0, self._steps / self.penalty_warmup)
            self._steps += 1
        return mse + weight * reg, {"mse": float(mse.detach()), "message_penalty": float(reg.detach())}

    def messages(self, data, batch_size: int = 4096) -> dict:
        """The message on every edge of every sample, with what a force-law fit needs.

        Args:
            data: a :class:`~physlens.data.Dataset` or an input array (n_samples, d_in) in original units.

        Returns a dict of NumPy arrays with one row per (sample, edge), sample-major
        (R = n_samples x n_edges rows; edge order as in ``model.edges``):

        * ``sample`` (R,): row of the input; ``sender`` (R,) particle j; ``receiver`` (R,) particle i
          (the message m_ij flows from j to i and is summed at i);
        * ``dx`` (R, dim): position of the sender minus position of the receiver (first vector
          feature, original units); ``r`` (R,): its length (with the metric);
        * ``relative``: dict vector name -> (R, dim) sender-minus-receiver difference of every vector feature;
        * ``sender_features`` / ``receiver_features`` (R, F): the particles' full feature rows in original
          units, columns named by ``feature_names`` (F names, e.g. ``["x", "y", "vx", "vy", "m"]``);
        * ``messages`` (R, message_dim): the message vectors (the means, for KL messages);
        * ``message_std`` (message_dim,): standard deviation of each component over all rows;
        * ``order`` (message_dim,): component indices sorted by decreasing ``message_std`` — the
          most significant components first (Cranmer et al. fit the force law to these);
        * ``kl`` (message_dim,) for ``regularizer="kl"``: mean KL of each component (sort by it instead).

        Example:
            >>> from physlens.data import Dataset
            >>> meta = {"particles": {"n": 2, "dim": 2, "vectors": ["pos"], "target_vectors": ["acc"]}}
            >>> ds = Dataset(np.random.randn(8, 4), np.random.randn(8, 4), ["x0", "y0", "x1", "y1"],
            ...              ["ax0", "ay0", "ax1", "ay1"], meta=meta)
            >>> out = GraphNetwork.from_dataset(ds, message_dim=3, width=8).messages(ds)
            >>> out["dx"].shape, out["feature_names"], out["order"].shape
            ((16, 2), ['x', 'y'], (3,))
        """
        X = data.X if hasattr(data, "X") else np.asarray(data, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.d_in:
            raise DataError(f"messages() needs inputs with {self.d_in} columns, got shape {X.shape}")
        p = next(self.parameters())
        mus, logvars = [], []
        was = self.training
        self.eval()
        with torch.no_grad():
            for i in range(0, len(X), batch_size):
                xb = torch.as_tensor(X[i : i + batch_size], dtype=p.dtype, device=p.device)
                _, mu, lv = self._run(xb, sample=False)
                mus.append(mu.cpu().numpy())
                if lv is not None:
                    logvars.append(lv.cpu().numpy())
        self.train(was)
        L = self.layout
        edges = self.edges.cpu().numpy()
        E, S = len(edges), len(X)
        msg = np.concatenate(mus).reshape(S * E, self.message_dim).astype(np.float64)
        per = L.n_vectors * L.dim + L.n_scalars
        feats = X[:, : L.n * per].reshape(S, L.n, per)
        snd, rcv = edges[:, 0], edges[:, 1]
        rel = {}
        for a, vname in enumerate(L.vectors):
            rel[vname] = (X[:, L.vec_idx[snd, a]] - X[:, L.vec_idx[rcv, a]]).reshape(S * E, L.dim)
        dx = rel[L.vectors[0]]
        eta = L.metric_diag(dtype=torch.float64).numpy()
        std = msg.std(axis=0)
        out = {
            "sample": np.repeat(np.arange(S), E),
            "sender": np.tile(snd, S),
            "receiver": np.tile(rcv, S),
            "dx": dx,
            "r": np.sqrt(np.abs((dx * eta * dx).sum(-1))),
            "relative": rel,
            "sender_features": feats[:, snd].reshape(S * E, per),
            "receiver_features": feats[:, rcv].reshape(S * E, per),
            "feature_names": list(self.feature_names),
            "messages": msg,
            "message_std": std,
            "order": np.argsort(-std),
        }
        if logvars:
            lv = np.concatenate(logvars).reshape(S * E, self.message_dim)
            out["kl"] = (0.5 * (msg**2 + np.exp(lv) - lv - 1)).mean(axis=0)
        return out
