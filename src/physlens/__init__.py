"""physlens: train neural networks on physical systems, then read the trained network.

Example:
    >>> import physlens
    >>> ds = physlens.get_system("toy_distractor").sample(500, seed=0)
    >>> ds.input_names
    ['x1', 'x2', 'x3']
"""

from physlens.data import Dataset, load
from physlens.errors import ConfigError, DataError, ParameterError, PhyslensError
from physlens.findings import Finding, GroundTruth, score
from physlens.systems import get_system, list_systems

import physlens.scoring  # noqa: E402,F401  (the facade registers every scorer: score() finds them)

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
