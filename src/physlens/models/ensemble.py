"""Deep ensembles: M copies of any registered model from different random initialisations.

Follows Lakshminarayanan, Pritzel & Blundell, "Simple and Scalable Predictive
Uncertainty Estimation using Deep Ensembles" (NeurIPS 2017): the spread of
independently initialised members is an estimate of the model's epistemic
uncertainty. Two ways to train one:

* ``build_model("ensemble", dataset, member="mlp", n_members=5, **member_params)``
  then :func:`physlens.train.fit`: the :class:`Ensemble`'s ``training_loss`` is
  the sum of the members' losses, so the members train side by side in one
  loop (same mini-batches, different initialisations; they do not interact);
* :func:`physlens.train.ensemble.fit_ensemble` (name, dataset, seeds, config): one ``fit`` per member,
  each with its own split and shuffle seed (members also see different data
  orders and validation folds), gathered into an :class:`Ensemble`.

The member seeds are ``seed * 1000 + i`` for ``build_model(..., seed)``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from physlens.errors import ConfigError
from physlens.models.base import Emulator, build_model, register_model


@register_model
class Ensemble(Emulator):
    """Mean of M member models; :meth:`predict_with_std` adds their spread.

    Args:
        members: the member emulators (same inputs and outputs).

    Example:
        >>> from physlens.systems import get_system
        >>> ds = get_system("toy_distractor").sample(64)
        >>> ens = build_model("ensemble", ds, member="mlp", n_members=3, width=8)
        >>> mean, std = ens.predict_with_std(ds.X[:4])
        >>> mean.shape, std.shape, len(ens.members)
        ((4, 1), (4, 1), 3)
    """

    name = "ensemble"

    def __init__(self, members: list[Emulator]) -> None:
        if not members:
            raise ConfigError("an ensemble needs at least one member")
        d_in, d_out = members[0].d_in, members[0].d_out
        if any(m.d_in != d_in or m.d_out != d_out for m in members):
            raise ConfigError("ensemble members must share input and output sizes")
        super().__init__(d_in, d_out)
        self.members = nn.ModuleList(members)

    @classmethod
    def from_dataset(cls, dataset, member: str = "mlp", n_members: int = 5, seeds=None, **member_params) -> Ensemble:
        """Build ``n_members`` models ``member`` with seeds ``seeds`` (default derived from the current torch seed)."""
        if member == cls.name:
            raise ConfigError("an ensemble cannot contain ensembles")
        if seeds is None:
            if n_members < 1:
                raise ConfigError(f"n_members must be >= 1, got {n_members}")
            base = int(torch.initial_seed()) % 1_000_000
            seeds = [base * 1000 + i for i in range(n_members)]
        return cls([build_model(member, dataset, seed=int(s), **member_params) for s in seeds])

    def adapt(self, X: np.ndarray, y: np.ndarray) -> None:
        """Adapt every member (and the ensemble's own buffers, used by the default loss)."""
        super().adapt(X, y)
        for m in self.members:
            if hasattr(m, "adapt"):
                m.adapt(X, y)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([m(x) for m in self.members]).mean(0)

    def training_loss(self, x: torch.Tensor, y: torch.Tensor):
        """Sum of the members' own training losses (each keeps its penalties); logs the mean."""
        total, logs = 0.0, {}
        for m in self.members:
            loss, _ = m.training_loss(x, y)
            total = total + loss
        logs["member_loss"] = float(total.detach()) / len(self.members)
        return total, logs

    def predict_with_std(self, X: np.ndarray, batch_size: int = 8192) -> tuple[np.ndarray, np.ndarray]:
        """Predictive mean and standard deviation across members (original units), each (n, d_out).

        Example:
            >>> from physlens.systems import get_system
            >>> ds = get_system("toy_distractor").sample(32)
            >>> ens = build_model("ensemble", ds, n_members=2, width=4)
            >>> bool((ens.predict_with_std(ds.X)[1] >= 0).all())
            True
        """
        preds = np.stack([m.predict(X, batch_size=batch_size) for m in self.members])
        return preds.mean(0), preds.std(0, ddof=1) if len(preds) > 1 else np.zeros_like(preds[0])
