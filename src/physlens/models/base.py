"""The emulator contract and the model registry.

An :class:`Emulator` is a ``torch.nn.Module`` that maps inputs in the user's
original units to targets in original units. It standardises internally
(buffers set by :meth:`Emulator.adapt` from the training data), so probes take
gradients and read generators directly in the original coordinates.
``training_loss`` is what :func:`physlens.train.fit` minimises; models with
extra penalties (sparsity of messages, KL of a bottleneck) override it.
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar

import numpy as np
import torch
from torch import nn

from physlens.errors import ConfigError
from physlens.plugins import Registry, adopt_subclasses

#: every emulator: built-in modules of physlens.models, plug-ins through the ``physlens.models`` entry points
MODELS: Registry[type[Emulator]] = Registry(
    "model", package="physlens.models", entry_point_group="physlens.models",
    adopt=lambda name, obj: adopt_subclasses(Emulator, register_model)(name, obj),
)


class Emulator(nn.Module):
    """Base class: standardisation buffers, default MSE loss, and the config to rebuild it.

    Example:
        >>> from physlens.models import build_model
        >>> from physlens.systems import get_system
        >>> ds = get_system("toy_distractor").sample(64)
        >>> model = build_model("mlp", ds, width=16, depth=2)
        >>> model(torch.zeros(5, 3)).shape
        torch.Size([5, 1])
    """

    name: ClassVar[str] = ""

    def __init__(self, d_in: int, d_out: int) -> None:
        super().__init__()
        self.d_in, self.d_out = int(d_in), int(d_out)
        self.register_buffer("x_mean", torch.zeros(d_in))
        self.register_buffer("x_std", torch.ones(d_in))
        self.register_buffer("y_mean", torch.zeros(d_out))
        self.register_buffer("y_std", torch.ones(d_out))
        self.config: dict[str, Any] = {}

    @classmethod
    def from_dataset(cls, dataset, **params) -> Emulator:
        """Build a model sized for ``dataset`` (override when a model needs more than d_in/d_out)."""
        return cls(d_in=dataset.d_in, d_out=dataset.d_out, **params)

    def adapt(self, X: np.ndarray, y: np.ndarray) -> None:
        """Set the standardisation buffers from training data."""
        xs = np.std(X, axis=0)
        ys = np.std(y, axis=0)
        self.x_mean.copy_(torch.as_tensor(np.mean(X, axis=0), dtype=self.x_mean.dtype))
        self.x_std.copy_(torch.as_tensor(np.where(xs > 0, xs, 1.0), dtype=self.x_std.dtype))
        self.y_mean.copy_(torch.as_tensor(np.mean(y, axis=0), dtype=self.y_mean.dtype))
        self.y_std.copy_(torch.as_tensor(np.where(ys > 0, ys, 1.0), dtype=self.y_std.dtype))

    def training_loss(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """Mean squared error in standardised target units; returns (loss, logs)."""
        err = (self(x) - y) / self.y_std
        loss = (err**2).mean()
        return loss, {}

    def predict(self, X: np.ndarray, batch_size: int = 8192) -> np.ndarray:
        """Predict for a NumPy array in original units, without gradients.

        Example:
            >>> from physlens.models import build_model
            >>> from physlens.systems import get_system
            >>> ds = get_system("toy_distractor").sample(64)
            >>> build_model("mlp", ds).predict(ds.X).shape
            (64, 1)
        """
        return predict_in_batches(self, X, batch_size)


def predict_in_batches(module: nn.Module, X: np.ndarray, batch_size: int = 8192) -> np.ndarray:
    """``module``'s outputs (float64) for the rows of ``X``, in batches, in eval mode and without gradients.

    Inputs take the dtype and device of the module's parameters; the module's train/eval mode is
    restored afterwards. :meth:`Emulator.predict` and the field probe's predictions both use it.

    Example:
        >>> lin = nn.Linear(2, 1); _ = lin.weight.data.fill_(1.0); _ = lin.bias.data.zero_()
        >>> predict_in_batches(lin, np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]), batch_size=2).ravel().tolist()
        [3.0, 7.0, 11.0]
    """
    p = next(module.parameters())
    out = []
    was_training = module.training
    module.eval()
    with torch.no_grad():
        for i in range(0, len(X), batch_size):
            xb = torch.as_tensor(X[i : i + batch_size], dtype=p.dtype, device=p.device)
            out.append(module(xb).cpu().numpy())
    module.train(was_training)
    return np.concatenate(out).astype(np.float64)


def standard_normal_like(t: torch.Tensor) -> torch.Tensor:
    """Standard normal noise shaped like ``t``, drawn from the CPU generator and moved to ``t``'s device.

    A CUDA generator seeded alike gives other numbers than the CPU one, so noise
    drawn with ``torch.randn_like`` on a GPU would make a stochastic model (a
    beta-VAE bottleneck, KL messages) train differently there. Drawing on the CPU
    keeps training the same on every device up to float rounding (the noise
    tensors are latent-sized, so the copy is cheap).

    Example:
        >>> _ = torch.manual_seed(0); a = standard_normal_like(torch.zeros(2, 3))
        >>> _ = torch.manual_seed(0); bool(torch.equal(a, torch.randn(2, 3)))
        True
    """
    return torch.randn(t.shape, dtype=t.dtype).to(t.device)


def register_model(cls: type[Emulator]) -> type[Emulator]:
    """Class decorator adding a model to the registry under ``cls.name``.

    Example:
        >>> @register_model
        ... class Linear(Emulator):
        ...     name = "doc_linear"
        ...     def __init__(self, d_in, d_out):
        ...         super().__init__(d_in, d_out); self.lin = nn.Linear(d_in, d_out)
        ...     def forward(self, x): return self.lin(x)
    """
    return MODELS.register()(cls)  # the registry refuses a class without a name


def model_registry() -> dict[str, type[Emulator]]:
    """All registered models by name (built-in modules and ``physlens.models`` plug-ins).

    Example:
        >>> "mlp" in model_registry()
        True
    """
    return MODELS.as_dict()


def build_model(name: str, dataset, seed: int = 0, **params) -> Emulator:
    """Build model ``name`` for ``dataset`` with deterministic initialisation from ``seed``.

    The returned model remembers ``{"name", "seed", "params"}`` in ``.config``
    so a checkpoint can be reloaded into the same architecture.

    Example:
        >>> from physlens.systems import get_system
        >>> ds = get_system("toy_distractor").sample(32)
        >>> build_model("mlp", ds, seed=1, width=8).config["params"]
        {'width': 8}
    """
    cls = MODELS.get(name)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        try:
            model = cls.from_dataset(dataset, **params)
        except TypeError as exc:
            raise ConfigError(f"bad parameters for model {name!r}: {exc}") from None
    model.config = {"name": name, "seed": seed, "params": dict(params)}
    return model


ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "tanh": nn.Tanh,
    "silu": nn.SiLU,
    "gelu": nn.GELU,
    "relu": nn.ReLU,
    "softplus": nn.Softplus,
}


def activation(name: str) -> nn.Module:
    """An activation module by name (tanh, silu, gelu, relu, softplus).

    Example:
        >>> activation("tanh")
        Tanh()
    """
    if name not in ACTIVATIONS:
        raise ConfigError(f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


def hidden_layers(d_in: int, width: int, depth: int, act: str) -> list[nn.Module]:
    """The hidden part of a plain MLP: ``depth`` times (Linear, activation), ``d_in -> width``.

    Example:
        >>> nn.Sequential(*hidden_layers(3, 8, 2, "silu"))(torch.zeros(4, 3)).shape
        torch.Size([4, 8])
    """
    if width < 1 or depth < 1:
        raise ConfigError(f"need width >= 1 and depth >= 1, got width={width}, depth={depth}")
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [nn.Linear(d_in if i == 0 else width, width), activation(act)]
    return layers
