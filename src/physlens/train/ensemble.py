"""Training an ensemble: one member per seed, each with the project's one training loop.

Models never train themselves (:mod:`physlens.models` sits below :mod:`physlens.train`);
:class:`physlens.models.ensemble.Ensemble` holds the members, this module fits them.
"""

from __future__ import annotations

from physlens.errors import ConfigError
from physlens.models.base import Emulator, build_model
from physlens.models.ensemble import Ensemble
from physlens.train.fit import TrainConfig, fit


def fit_ensemble(name: str, dataset, seeds=(0, 1, 2, 3, 4), config=None, **model_params):
    """Train one model ``name`` per seed with :func:`physlens.train.fit` and return ``(Ensemble, [TrainResult])``.

    Each member gets ``build_model(name, dataset, seed=s)`` and a training config
    with ``seed=s`` (its own validation split and shuffling).

    Example:
        >>> from physlens.systems import get_system
        >>> from physlens.train import TrainConfig
        >>> ds = get_system("toy_distractor").sample(128)
        >>> ens, results = fit_ensemble("mlp", ds, seeds=[0, 1], config=TrainConfig(epochs=2, progress=False), width=8)
        >>> len(ens.members), len(results)
        (2, 2)
    """
    seeds = list(seeds)
    if not seeds:
        raise ConfigError("fit_ensemble needs at least one seed")
    cfg = config or TrainConfig()
    members, results = [], []
    for s in seeds:
        model = build_model(name, dataset, seed=int(s), **model_params)
        res = fit(model, dataset, cfg.model_copy(update={"seed": int(s)}))
        members.append(res.model)
        results.append(res)
    ens = Ensemble(members)
    ens.config = {"name": "ensemble", "seed": seeds[0], "params": {"member": name, "seeds": seeds, **model_params}}
    device = next(members[0].parameters()).device
    ens.to(device)
    # the ensemble's own buffers only (members keep the standardisation of their own split)
    Emulator.adapt(ens, dataset.X[results[0].train_index], dataset.y[results[0].train_index])
    return ens, results
