"""Invariant and equivariant point-cloud emulator built on inner products ("scalars").

Follows Villar, Hogg, Storey-Fisher, Yao & Blum-Smith, "Scalars are universal:
equivariant machine learning, structured like classical physics" (NeurIPS
2021): any O(d)- (or Lorentz-) invariant function of vectors v_1..v_N is a
function of their inner products <v_a, v_b> (with the metric), and any
equivariant vector function is ``sum_a f_a(<., .>) v_a`` with invariant
coefficient functions f_a. The model computes exactly that, so its symmetry is
exact by construction (up to floating point), not learned.

Two forms:

* ``permutation=False`` — the literal theorem: an MLP of the full Gram matrix
  of all particle vectors (plus all scalars) gives the invariant outputs, or
  the coefficients of every input vector for the vector outputs.
* ``permutation=True`` (default) — identical particles: a node network reads
  each particle's own inner products and scalars, a pair network reads the
  inner products between particles i and j (plus the invariant distance of
  their first vectors, r and 1/r), and sums over particles make invariant
  outputs permutation-invariant and per-particle vector outputs
  permutation-equivariant: ``out_i = sum_a c_ia v_ia + sum_{j != i} sum_a
  c_ija (v_ja - v_ia)`` (the same span as Villar's form, written with relative
  vectors so that translation-equivariant forces are easy to express).

``translation=True`` measures the first vector (positions) about the
particles' centroid, making the model translation invariant too. ``exact=False``
replaces all of this by a plain MLP on the raw coordinates, as a baseline
that has to learn the symmetry from data.

Standardisation keeps the symmetry: one common scale per vector feature, no
offsets on vectors (see :func:`physlens.models.particles.symmetric_standardisation`).
The layout comes from ``dataset.meta["particles"]`` (see
:mod:`physlens.models.particles`).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from physlens.errors import ConfigError
from physlens.models.base import Emulator, activation, hidden_layers, register_model
from physlens.models.particles import ParticleLayout, set_buffers, symmetric_standardisation


def mlp_block(d_in: int, d_out: int, width: int, depth: int, act: str) -> nn.Sequential:
    """A plain MLP ``d_in -> width x depth -> d_out`` (helper shared by the structured models).

    Example:
        >>> mlp_block(3, 2, 8, 2, "silu")(torch.zeros(4, 3)).shape
        torch.Size([4, 2])
    """
    return nn.Sequential(*hidden_layers(d_in, width, depth, act), nn.Linear(width, d_out))


@register_model
class ScalarsModel(Emulator):
    """O(d)/Lorentz- and permutation-invariant (or equivariant) emulator for point clouds.

    Args:
        d_in, d_out: numbers of input and target columns.
        layout: the :class:`~physlens.models.particles.ParticleLayout` of the data.
        width, depth: hidden width and depth of each internal MLP.
        permutation: treat particles as identical (pooled pair/node networks).
        translation: measure the first vector about the centroid (translation invariance).
        exact: False gives a plain MLP on raw coordinates for comparison.
        activation_name: smooth activation (probes differentiate the model).

    Example:
        >>> from physlens.data import Dataset
        >>> X = np.random.randn(64, 6); meta = {"particles": {"n": 2, "dim": 3, "vectors": ["pos"]}}
        >>> ds = Dataset(X, np.random.randn(64, 1), [f"{c}{i}" for i in range(2) for c in "xyz"], ["E"], meta=meta)
        >>> m = ScalarsModel.from_dataset(ds, width=16)
        >>> m(torch.randn(5, 6)).shape
        torch.Size([5, 1])
    """

    name = "scalars"

    def __init__(
        self,
        d_in: int,
        d_out: int,
        layout: ParticleLayout,
        width: int = 64,
        depth: int = 3,
        permutation: bool = True,
        translation: bool = False,
        exact: bool = True,
        activation_name: str = "silu",
    ) -> None:
        super().__init__(d_in, d_out)
        self.layout = layout
        self.permutation, self.translation, self.exact = bool(permutation), bool(translation), bool(exact)
        L = layout
        nv, ns, ng, n = L.n_vectors, L.n_scalars, L.n_global, L.n
        self.register_buffer("vec_idx", torch.as_tensor(L.vec_idx, dtype=torch.long), persistent=False)
        self.register_buffer("sca_idx", torch.as_tensor(L.sca_idx, dtype=torch.long), persistent=False)
        self.register_buffer("glob_idx", torch.as_tensor(L.glob_idx, dtype=torch.long), persistent=False)
        self.register_buffer("eta", L.metric_diag(), persistent=False)
        self.n_tv = len(L.target_vectors)
        tri = torch.triu_indices(nv, nv)
        self.register_buffer("tri_self", tri, persistent=False)
        if not exact:
            self.plain = mlp_block(d_in, d_out, width, depth, activation_name)
            return
        if not permutation:
            N = n * nv
            self.register_buffer("tri_all", torch.triu_indices(N, N), persistent=False)
            d_feat = N * (N + 1) // 2 + n * ns + ng
            if L.out_mode == "invariant":
                self.net = mlp_block(d_feat, d_out, width, depth, activation_name)
            else:
                n_out_vec = L.out_idx.shape[0] * self.n_tv
                self.net = mlp_block(d_feat, n_out_vec * N, width, depth, activation_name)
            return
        n_self = nv * (nv + 1) // 2
        d_node = n_self + ns + ng
        d_pair = nv * nv + 2 * n_self + 2 * ns + ng + 2
        self.node_net = mlp_block(d_node, width, width, depth - 1 if depth > 1 else 1, activation_name)
        self.pair_net = mlp_block(d_pair, width, width, depth - 1 if depth > 1 else 1, activation_name)
        self.act = activation(activation_name)
        if L.out_mode == "invariant":
            self.readout = mlp_block(2 * width + ng, d_out, width, 1, activation_name)
        elif L.out_mode == "global_vectors":
            self.readout = mlp_block(2 * width + ng, self.n_tv * nv, width, 1, activation_name)
            self.pair_coef = nn.Linear(width, self.n_tv * nv)
        else:
            self.self_coef = mlp_block(3 * width + ng, self.n_tv * nv, width, 1, activation_name)
            self.pair_coef = nn.Linear(width, self.n_tv * nv)

    @classmethod
    def from_dataset(cls, dataset, **params) -> ScalarsModel:
        """Build from a dataset whose ``meta["particles"]`` describes the point cloud."""
        layout = ParticleLayout.from_meta(dataset.meta, dataset.d_in, dataset.d_out, model=cls.name)
        return cls(dataset.d_in, dataset.d_out, layout, **params)

    def adapt(self, X: np.ndarray, y: np.ndarray) -> None:
        """Symmetry-preserving standardisation (plain per-column for ``exact=False``)."""
        if not self.exact:
            return super().adapt(X, y)
        set_buffers(self, *symmetric_standardisation(self.layout, X, y, centre_first=self.translation))

    # ------------------------------------------------------------------ pieces
    def _split(self, x: torch.Tensor):
        z = (x - self.x_mean) / self.x_std
        V = z[:, self.vec_idx]  # (B, n, nv, dim)
        if self.translation and self.layout.n > 1:
            pos = V[:, :, :1, :]
            V = torch.cat([pos - pos.mean(dim=1, keepdim=True), V[:, :, 1:, :]], dim=2)
        S = z[:, self.sca_idx]  # (B, n, ns)
        G = z[:, self.glob_idx]  # (B, ng)
        return V, S, G

    def _pair_embeddings(self, V, S, G):
        B, n, nv, _ = V.shape
        Veta = V * self.eta
        Gself = torch.einsum("bnad,bncd->bnac", Veta, V)[:, :, self.tri_self[0], self.tri_self[1]]  # (B,n,ns)
        Gpair = torch.einsum("biad,bjcd->bijac", Veta, V).reshape(B, n, n, nv * nv)
        d = V[:, None, :, 0, :] - V[:, :, None, 0, :]  # x_j - x_i, (B, i, j, dim)
        d2 = (d * self.eta * d).sum(-1, keepdim=True).abs()
        r = torch.sqrt(d2 + 1e-8)
        inv_r = torch.rsqrt(d2 + 1e-2)
        Gg = G[:, None, :].expand(B, n, G.shape[-1])
        node_in = torch.cat([Gself, S, Gg], dim=-1)
        e = self.act(self.node_net(node_in))  # (B, n, w)
        pair_in = torch.cat(
            [
                Gpair,
                Gself[:, :, None, :].expand(B, n, n, Gself.shape[-1]),
                Gself[:, None, :, :].expand(B, n, n, Gself.shape[-1]),
                S[:, :, None, :].expand(B, n, n, S.shape[-1]),
                S[:, None, :, :].expand(B, n, n, S.shape[-1]),
                G[:, None, None, :].expand(B, n, n, G.shape[-1]),
                r,
                inv_r,
            ],
            dim=-1,
        )
        m = self.act(self.pair_net(pair_in))  # (B, i, j, w)
        off = 1.0 - torch.eye(n, device=V.device, dtype=V.dtype)
        m = m * off[None, :, :, None]
        return e, m, off

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Invariant embedding of a configuration: pooled node and pair features (exact, permutation form).

        Example:
            >>> meta = {"particles": {"n": 3, "dim": 2, "vectors": ["pos"]}}
            >>> from physlens.data import Dataset
            >>> ds = Dataset(np.random.randn(8, 6), np.random.randn(8, 1), [f"c{i}" for i in range(6)], ["E"], meta=meta)
            >>> ScalarsModel.from_dataset(ds, width=8).embed(torch.randn(2, 6)).shape
            torch.Size([2, 16])
        """
        if not (self.exact and self.permutation):
            raise ConfigError("embed() is defined for the exact permutation form of the scalars model")
        V, S, G = self._split(x)
        e, m, _ = self._pair_embeddings(V, S, G)
        n = V.shape[1]
        return torch.cat([e.mean(1), m.sum((1, 2)) / max(n * (n - 1), 1)], dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.exact:
            return self.plain((x - self.x_mean) / self.x_std) * self.y_std + self.y_mean
        L = self.layout
        V, S, G = self._split(x)
        B, n, nv, dim = V.shape
        if not self.permutation:
            flat = V.reshape(B, n * nv, dim)
            gram = torch.einsum("bad,bcd->bac", flat * self.eta, flat)[:, self.tri_all[0], self.tri_all[1]]
            h = self.net(torch.cat([gram, S.reshape(B, -1), G], dim=-1))
            if L.out_mode == "invariant":
                return h * self.y_std + self.y_mean
            coef = h.reshape(B, -1, n * nv)
            out = torch.einsum("bkm,bmd->bkd", coef, flat)
            return self._vector_output(out.reshape(B, -1, self.n_tv, dim))
        e, m, off = self._pair_embeddings(V, S, G)
        pooled_e = e.mean(1)
        pooled_m = m.sum((1, 2)) / max(n * (n - 1), 1)
        if L.out_mode == "invariant":
            h = self.readout(torch.cat([pooled_e, pooled_m, G], dim=-1))
            return h * self.y_std + self.y_mean
        rel = V[:, None, :, :, :] - V[:, :, None, :, :]  # v_ja - v_ia, (B, i, j, nv, dim)
        pc = self.pair_coef(m).reshape(B, n, n, self.n_tv, nv) * off[None, :, :, None, None]
        if L.out_mode == "global_vectors":
            c0 = self.readout(torch.cat([pooled_e, pooled_m, G], dim=-1)).reshape(B, self.n_tv, nv)
            out = torch.einsum("bka,bnad->bkd", c0, V) / n + torch.einsum("bijka,bijad->bkd", pc, rel) / max(
                n * (n - 1), 1
            )
            return self._vector_output(out[:, None])
        agg = m.sum(2) / max(n - 1, 1)
        ctx = torch.cat([e, agg, pooled_e[:, None, :].expand_as(e), G[:, None, :].expand(B, n, G.shape[-1])], dim=-1)
        cs = self.self_coef(ctx).reshape(B, n, self.n_tv, nv)
        out = torch.einsum("bika,biad->bikd", cs, V) + torch.einsum("bijka,bijad->bikd", pc, rel)
        return self._vector_output(out)

    def _vector_output(self, out: torch.Tensor) -> torch.Tensor:
        """(B, n_out, n_tv, dim) standardised vectors -> target columns in original units."""
        B = out.shape[0]
        y = torch.zeros(B, self.d_out, device=out.device, dtype=out.dtype)
        idx = torch.as_tensor(self.layout.out_idx, device=out.device).reshape(-1)
        y = y.index_copy(1, idx, out.reshape(B, -1))
        return y * self.y_std + self.y_mean
