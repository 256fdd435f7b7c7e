"""Field systems: simulators of fields on periodic grids, with ground truth (the PDE and the grid symmetries).

These return a :class:`physlens.data.fields.FieldDataset` (samples x channels x H x W), not the tabular
:class:`~physlens.data.dataset.Dataset`, so they are kept out of the tabular system registry (``physlens
systems``, ``discover SYSTEM``) and listed here: ``get_field_system(name, **params)``.
"""

from __future__ import annotations

from physlens.errors import ParameterError
from physlens.systems.fields.vector_diffusion import VectorDiffusion

FIELD_SYSTEMS = {VectorDiffusion.name: VectorDiffusion}


def get_field_system(name: str, **params):
    """Build the field system called ``name``.

    Example:
        >>> get_field_system("vector_diffusion", grid=8).N
        8
    """
    if name not in FIELD_SYSTEMS:
        raise ParameterError(f"unknown field system {name!r}; available: {', '.join(sorted(FIELD_SYSTEMS))}")
    return FIELD_SYSTEMS[name](**params)


__all__ = ["FIELD_SYSTEMS", "VectorDiffusion", "get_field_system"]
