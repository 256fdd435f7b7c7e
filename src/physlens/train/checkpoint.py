"""Checkpoints in safetensors: model, optimiser and scheduler state in one file, written atomically.

Tensors go in the safetensors body under prefixed keys (``model.``, ``best.``,
``optim.<param>.<key>``); everything else (epoch, history, scheduler state,
optimiser hyper-parameters, model config) is JSON in the safetensors metadata.
safetensors cannot run code on load, unlike pickle.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, safe_open, save_file

from physlens.errors import CheckpointError
from physlens.codec import from_jsonable, to_jsonable
from physlens.io import atomic_path


def _split_state(state: Any, prefix: str, tensors: dict[str, torch.Tensor]) -> Any:
    """Move tensors out of a nested state into ``tensors``; return the rest as JSON-able data."""
    if isinstance(state, torch.Tensor):
        key = prefix.rstrip(".")
        tensors[key] = state.detach().cpu().contiguous().clone()
        return {"__tensor__": key}
    if isinstance(state, dict):
        return {"__dict__": [[k, _split_state(v, f"{prefix}{k}.", tensors)] for k, v in state.items()]}
    if isinstance(state, (list, tuple)):
        return [_split_state(v, f"{prefix}{i}.", tensors) for i, v in enumerate(state)]
    return to_jsonable(state)


def _join_state(data: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(data, dict) and "__tensor__" in data:
        return tensors[data["__tensor__"]]
    if isinstance(data, dict) and "__dict__" in data:
        return {k: _join_state(v, tensors) for k, v in data["__dict__"]}
    if isinstance(data, list):
        return [_join_state(v, tensors) for v in data]
    return from_jsonable(data)


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Save a nested state (dicts, lists, tensors, numbers) to one safetensors file, atomically.

    Example:
        >>> import tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "c.safetensors")
        >>> save_checkpoint(p, {"model": {"w": torch.ones(2)}, "epoch": 3})
        >>> load_checkpoint(p)["epoch"]
        3
    """
    tensors: dict[str, torch.Tensor] = {}
    skeleton = _split_state(state, "", tensors)
    with atomic_path(path) as tmp:
        save_file(tensors, tmp, metadata={"physlens": json.dumps(skeleton)})


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint`.

    Example:
        >>> import tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "c.safetensors")
        >>> save_checkpoint(p, {"w": torch.zeros(1)})
        >>> load_checkpoint(p)["w"].tolist()
        [0.0]
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        tensors = load_file(str(path))
        skeleton = json.loads(meta["physlens"])
    except Exception as exc:
        raise CheckpointError(f"checkpoint {path} is unreadable: {exc}") from None
    return _join_state(skeleton, tensors)


def save_weights(path: str | Path, model: torch.nn.Module) -> None:
    """Save only a model's weights and its config (for snapshots and final models).

    Example:
        >>> import tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "w.safetensors")
        >>> save_weights(p, torch.nn.Linear(2, 1))
    """
    save_checkpoint(path, {"config": getattr(model, "config", {}), "model": model.state_dict()})


def load_model(path: str | Path, dataset) -> torch.nn.Module:
    """Rebuild a registered model from a weights file written by :func:`save_weights`.

    Example:
        >>> import tempfile, os
        >>> from physlens.systems import get_system
        >>> from physlens.models import build_model
        >>> ds = get_system("toy_distractor").sample(32)
        >>> m = build_model("mlp", ds, width=8); p = os.path.join(tempfile.mkdtemp(), "w.safetensors")
        >>> save_weights(p, m); type(load_model(p, ds)).__name__
        'MLP'
    """
    from physlens.models import build_model

    state = load_checkpoint(path)
    cfg = state.get("config") or {}
    if "name" not in cfg:
        raise CheckpointError(f"{path} does not say which model it holds")
    model = build_model(cfg["name"], dataset, seed=cfg.get("seed", 0), **cfg.get("params", {}))
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as exc:
        raise CheckpointError(f"weights in {path} do not fit model {cfg['name']!r}: {exc}") from None
    return model
