"""Multilayer perceptron: the baseline emulator."""

from __future__ import annotations

import torch
from torch import nn

from physlens.models.base import Emulator, hidden_layers, register_model


@register_model
class MLP(Emulator):
    """Fully connected network with configurable width, depth and activation.

    Smooth activations (``silu``, ``tanh``) are the default because probes take
    first and second derivatives of the model.

    Example:
        >>> m = MLP(3, 1, width=32, depth=2)
        >>> m(torch.randn(4, 3)).shape, m.embed(torch.randn(4, 3)).shape
        (torch.Size([4, 1]), torch.Size([4, 32]))
    """

    name = "mlp"

    def __init__(self, d_in: int, d_out: int, width: int = 64, depth: int = 3, activation_name: str = "silu") -> None:
        super().__init__(d_in, d_out)
        self.body = nn.Sequential(*hidden_layers(d_in, width, depth, activation_name))
        self.head = nn.Linear(width, d_out)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Last hidden layer's activations (the model's embedding of ``x``)."""
        return self.body((x - self.x_mean) / self.x_std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x)) * self.y_std + self.y_mean
