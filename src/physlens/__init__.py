"""physlens: train neural networks on physical systems, then read the trained network.

Example:
    >>> import physlens
    >>> ds = physlens.get_system("toy_distractor").sample(500, seed=0)
    >>> ds.input_names
    ['x1', 'x2', 'x3']
"""

from physlens.errors import ConfigError, DataError, ParameterError, PhyslensError

#: the facade's names, imported on first use (``import physlens.cli`` need not import SymPy, SciPy, the systems)
_LAZY = {"Dataset": "physlens.data", "load": "physlens.data", "Finding": "physlens.findings",
         "GroundTruth": "physlens.findings", "score": "physlens.findings", "get_system": "physlens.systems",
         "list_systems": "physlens.systems"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'physlens' has no attribute {name!r}")


__version__ = "0.1.0"

__all__ = [
    "Dataset",
    "load",
    "Finding",
    "GroundTruth",
    "score",
    "get_system",
    "list_systems",
    "PhyslensError",
    "DataError",
    "ConfigError",
    "ParameterError",
    "__version__",
]
