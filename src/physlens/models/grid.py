"""Grid emulators for fields: a plain CNN and a D4-equivariant CNN with the correct action on vector channels.

Both take the flattened fields of a tabular view (:meth:`physlens.data.fields.FieldDataset.tabular`, one
row per sample) so they train with the one loop, :func:`physlens.train.fit.fit`, and reshape to
``(n, c, H, W)`` inside. Convolutions pad circularly (the grid is periodic), so both are exactly
equivariant to grid translations. Standardisation respects the channel kinds: a vector pair is scaled
by one common RMS and never shifted (shifting by a mean vector would single out a direction), a
scalar channel by its own mean and spread.

**The plain CNN** (``"cnn"``) has no rotation or reflection symmetry built in: whether it *learns* them
is what :mod:`physlens.probes.fields` measures.

**The D4-equivariant CNN** (``"d4cnn"``) ties its weights so that every layer commutes with the 8
elements ``R`` of the dihedral group of the square grid, acting on positions and on channels
through a representation ``rho``: ``R`` on a vector pair (x, y components), 1 on a scalar, and the
regular representation (the 8 copies of a hidden feature permuted as the group permutes itself, as
in group-equivariant CNNs, Cohen & Welling 2016, "Group equivariant convolutional networks") on
hidden channels, where a pointwise nonlinearity commutes with the permutation. A correlation kernel
``K(d)`` (offset ``d``) is equivariant when ``K(R d) rho_in(R) = rho_out(R) K(d)`` for every ``R``;
each forward pass projects free weights onto that space by the group average
``K_sym(d) = 1/8 sum_R rho_out(R)^-1 K(R d) rho_in(R)`` (the Reynolds operator; the method of
steerable-filter libraries such as escnn, Weiler & Cesa 2019, restricted to the finite group D4), and
biases by ``b_sym = 1/8 sum_R rho_out(R) b`` (so a vector output has no bias: a constant vector
would break the symmetry). It is written here because escnn is not installed in the project's
environment (and pulls in lie_learn/py3nj builds for its continuous groups), while D4 needs only the
8 signed permutation matrices of :func:`physlens.data.fields.d4_elements`: about sixty lines.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from physlens.data.fields import channel_rep, d4_elements
from physlens.errors import ConfigError
from physlens.models.base import Emulator, activation, register_model


def _layout(dataset) -> dict:
    if hasattr(dataset, "layout"):
        return dataset.layout()
    lay = (getattr(dataset, "meta", None) or {}).get("field")
    if not lay:
        raise ConfigError("grid models need field data (a FieldDataset or its tabular view with meta['field'])")
    return lay


class _GridEmulator(Emulator):
    """Flattened fields in, flattened fields out; kind-aware standardisation."""

    def __init__(self, layout: dict) -> None:
        c, co = len(layout["channels"]), len(layout["target_channels"])
        H, W = layout["grid"]
        super().__init__(c * H * W, co * H * W)
        self.layout = layout
        self.c, self.co, self.H, self.W = c, co, int(H), int(W)

    @classmethod
    def from_dataset(cls, dataset, **params) -> Emulator:
        return cls(_layout(dataset), **params)

    @staticmethod
    def _stats(a: np.ndarray, kinds: list[dict]) -> tuple[np.ndarray, np.ndarray]:
        mean, std = np.zeros(a.shape[1]), np.ones(a.shape[1])
        for k in kinds:
            ch = k["channels"]
            if k["kind"] == "vector":
                s = float(np.sqrt(np.mean(a[:, ch] ** 2)))
            else:
                mean[ch] = float(a[:, ch].mean())
                s = float(a[:, ch].std())
            std[ch] = s if s > 0 else 1.0
        return mean, std

    def adapt(self, X: np.ndarray, y: np.ndarray) -> None:
        """Per-channel standardisation (vector pairs: one RMS, no shift), broadcast over the grid."""
        X4 = X.reshape(len(X), self.c, self.H, self.W)
        y4 = y.reshape(len(y), self.co, self.H, self.W)
        px = self.H * self.W
        for (m, s), (bm, bs) in ((self._stats(X4, self.layout["kinds"]), (self.x_mean, self.x_std)),
                                 (self._stats(y4, self.layout["target_kinds"]), (self.y_mean, self.y_std))):
            bm.copy_(torch.as_tensor(np.repeat(m, px), dtype=bm.dtype))
            bs.copy_(torch.as_tensor(np.repeat(s, px), dtype=bs.dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = ((x - self.x_mean) / self.x_std).reshape(-1, self.c, self.H, self.W)
        out = self.net(z).reshape(len(x), -1)
        return out * self.y_std + self.y_mean

    def fields(self, X4: torch.Tensor) -> torch.Tensor:
        """Apply to fields (n, c, H, W) -> (n, c', H, W).

        Example:
            >>> from physlens.systems.fields import VectorDiffusion
            >>> m = PlainCNN(VectorDiffusion(grid=8).sample(4).layout())
            >>> tuple(m.fields(torch.zeros(2, 2, 8, 8)).shape)
            (2, 2, 8, 8)
        """
        return self(X4.reshape(len(X4), -1)).reshape(len(X4), self.co, self.H, self.W)


def _conv(c_in: int, c_out: int, k: int, bias: bool = True) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, k, padding=k // 2, padding_mode="circular", bias=bias)


class _Sum(nn.Module):
    def __init__(self, *parts: nn.Module) -> None:
        super().__init__()
        self.parts = nn.ModuleList(parts)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return sum(p(x) for p in self.parts)


@register_model
class PlainCNN(_GridEmulator):
    """Periodic CNN: ``depth`` 3x3 convolutions of ``width`` channels with a nonlinearity, plus a linear
    ``skip_kernel`` x ``skip_kernel`` convolution from input to output (a local linear stencil).

    Example:
        >>> from physlens.systems.fields import VectorDiffusion
        >>> ds = VectorDiffusion(grid=8).sample(4).tabular()
        >>> PlainCNN.from_dataset(ds, width=8)(torch.as_tensor(ds.X, dtype=torch.float32)).shape
        torch.Size([4, 128])
    """

    name = "cnn"

    def __init__(self, layout: dict, width: int = 16, depth: int = 2, kernel: int = 3, skip_kernel: int = 5,
                 act: str = "gelu") -> None:
        super().__init__(layout)
        layers: list[nn.Module] = []
        c = self.c
        for _ in range(depth):
            layers += [_conv(c, width, kernel), activation(act)]
            c = width
        layers.append(_conv(c, self.co, kernel))
        self.net = _Sum(nn.Sequential(*layers), _conv(self.c, self.co, skip_kernel, bias=False))


# --------------------------------------------------------------------------- D4-equivariant layers
def _group() -> tuple[list[np.ndarray], np.ndarray]:
    G = list(d4_elements().values())
    table = np.zeros((8, 8), dtype=int)
    for a, A in enumerate(G):
        for b, B in enumerate(G):
            table[a, b] = next(i for i, C in enumerate(G) if np.array_equal(C, A @ B))
    return G, table


def regular_rep(multiplicity: int) -> list[np.ndarray]:
    """The regular representation of D4 on ``multiplicity`` hidden features (8 channels each): 8 permutation matrices.

    Example:
        >>> reps = regular_rep(1); G = list(d4_elements().values())
        >>> bool(np.allclose(reps[1] @ reps[1], reps[2]))   # rot90 twice is rot180
        True
    """
    _, table = _group()
    out = []
    for g in range(8):
        P = np.zeros((8, 8))
        P[table[g], np.arange(8)] = 1.0  # e_h -> e_{g h}
        out.append(np.kron(np.eye(multiplicity), P))
    return out


class D4Conv(nn.Module):
    """A periodic convolution whose kernel and bias are projected on the D4-equivariant subspace at every call.

    ``rho_in`` and ``rho_out`` are the 8 channel matrices of the input and output representations, in
    the order of :func:`physlens.data.fields.d4_elements`.

    Example:
        >>> from physlens.data.fields import transform_fields
        >>> vec = [{"kind": "vector", "channels": [0, 1]}]
        >>> rv = [channel_rep(vec, 2, R) for R in d4_elements().values()]
        >>> conv = D4Conv(rv, rv, 3); x = torch.randn(1, 2, 6, 6, dtype=torch.float64); conv.double()
        D4Conv()
        >>> R = d4_elements()["flip_diag"]
        >>> bool(torch.allclose(conv(transform_fields(x, vec, R)), transform_fields(conv(x), vec, R), atol=1e-12))
        True
    """

    def __init__(self, rho_in: list[np.ndarray], rho_out: list[np.ndarray], kernel: int, bias: bool = True) -> None:
        super().__init__()
        c_in, c_out = rho_in[0].shape[0], rho_out[0].shape[0]
        self.k = kernel
        self.weight = nn.Parameter(torch.randn(c_out, c_in, kernel * kernel) / np.sqrt(c_in * kernel * kernel))
        self.bias = nn.Parameter(torch.zeros(c_out)) if bias else None
        G = list(d4_elements().values())
        c = kernel // 2
        ky, kx = np.meshgrid(np.arange(kernel) - c, np.arange(kernel) - c, indexing="ij")
        perms = []
        for R in G:  # flat index of R d for every offset d = (kx, ky)
            rx, ry = R[0, 0] * kx + R[0, 1] * ky, R[1, 0] * kx + R[1, 1] * ky
            perms.append(((ry + c) * kernel + (rx + c)).reshape(-1))
        self.register_buffer("perm", torch.as_tensor(np.stack(perms), dtype=torch.long))
        self.register_buffer("a_out", torch.as_tensor(np.stack([np.linalg.inv(r) for r in rho_out]), dtype=torch.float32))
        self.register_buffer("b_in", torch.as_tensor(np.stack(rho_in), dtype=torch.float32))
        self.register_buffer("r_out", torch.as_tensor(np.stack(rho_out), dtype=torch.float32))

    def kernel(self) -> torch.Tensor:
        """The symmetrised kernel (c_out, c_in, k, k)."""
        Wg = self.weight[:, :, self.perm]  # (c_out, c_in, 8, k*k): K(R d)
        K = torch.einsum("gpo,oigk,gij->pjk", self.a_out, Wg, self.b_in) / 8.0
        return K.reshape(K.shape[0], K.shape[1], self.k, self.k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.k // 2
        xp = torch.nn.functional.pad(x, (p, p, p, p), mode="circular")
        b = torch.einsum("gpo,o->p", self.r_out, self.bias) / 8.0 if self.bias is not None else None
        return torch.nn.functional.conv2d(xp, self.kernel(), b)


@register_model
class D4CNN(_GridEmulator):
    """D4 x translation-equivariant CNN: the plain CNN's layout with every layer a :class:`D4Conv`
    (hidden channels = ``width`` regular fields of 8).

    Example:
        >>> from physlens.systems.fields import VectorDiffusion
        >>> from physlens.data.fields import transform_fields
        >>> ds = VectorDiffusion(grid=8).sample(2)
        >>> m = D4CNN(ds.layout(), width=2).double(); x = torch.as_tensor(ds.X)
        >>> R = d4_elements()["rot90"]
        >>> bool(torch.allclose(m.fields(transform_fields(x, ds.kinds, R)), transform_fields(m.fields(x), ds.kinds, R)))
        True
    """

    name = "d4cnn"

    def __init__(self, layout: dict, width: int = 2, depth: int = 2, kernel: int = 3, skip_kernel: int = 5,
                 act: str = "gelu") -> None:
        super().__init__(layout)
        G = list(d4_elements().values())
        r_in = [channel_rep(layout["kinds"], self.c, R) for R in G]
        r_out = [channel_rep(layout["target_kinds"], self.co, R) for R in G]
        r_hid = regular_rep(width)
        layers: list[nn.Module] = []
        rep = r_in
        for _ in range(depth):
            layers += [D4Conv(rep, r_hid, kernel), activation(act)]
            rep = r_hid
        layers.append(D4Conv(rep, r_out, kernel))
        self.net = _Sum(nn.Sequential(*layers), D4Conv(r_in, r_out, skip_kernel, bias=False))
