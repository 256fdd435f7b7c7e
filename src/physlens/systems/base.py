"""The System contract: a simulator with ground truth.

Every system is a class registered with :func:`register_system`. It is built
with keyword parameters (validated in ``__init__``, raising
:class:`~physlens.errors.ParameterError`), and offers

* ``sample(n=None, seed=0, noise=0.0) -> Dataset`` — data generated here, never downloaded;
* ``truth -> GroundTruth`` — the known physics, as data.

``noise`` is relative Gaussian noise on the targets: sigma = noise x RMS(y).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np

from physlens.data.dataset import Dataset
from physlens.errors import ParameterError
from physlens.findings import GroundTruth

_REGISTRY: dict[str, type[System]] = {}


class System(ABC):
    """Base class of every simulator.

    Subclasses set ``name``, ``description`` and ``default_n`` and implement
    :meth:`_generate` (returning a noise-free dataset) and :meth:`truth`.

    Example:
        >>> from physlens.systems import get_system
        >>> ds = get_system("toy_distractor").sample(100, seed=0)
        >>> ds.input_names
        ['x1', 'x2', 'x3']
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    category: ClassVar[str] = "other"
    default_n: ClassVar[int] = 2000
    max_n: ClassVar[int] = 2_000_000
    #: the sample ``physlens discover SYSTEM`` draws when the user names none: parameters and rows that
    #: let an emulator be right everywhere the probes look (e.g. many short orbits rather than a few long)
    discover_params: ClassVar[dict[str, Any]] = {}
    discover_n: ClassVar[int | None] = None

    def __init__(self, **params: Any) -> None:
        self.params = params

    @property
    @abstractmethod
    def truth(self) -> GroundTruth:
        """The ground truth of this system."""

    @abstractmethod
    def _generate(self, n: int, rng: np.random.Generator) -> Dataset:
        """Noise-free dataset of ``n`` samples."""

    def sample(self, n: int | None = None, seed: int = 0, noise: float = 0.0) -> Dataset:
        """Generate ``n`` samples (default ``default_n``) with seed ``seed`` and relative target noise.

        Example:
            >>> from physlens.systems import get_system
            >>> get_system("toy_distractor").sample(10, seed=1).n
            10
        """
        n = self.default_n if n is None else n
        if not isinstance(n, (int, np.integer)) or n <= 0:
            raise ParameterError(f"number of samples must be a positive integer, got {n!r}")
        if n > self.max_n:
            raise ParameterError(f"{self.name}: at most {self.max_n} samples, got {n}")
        if noise < 0:
            raise ParameterError(f"noise must be >= 0, got {noise}")
        rng = np.random.default_rng(seed)
        ds = self._generate(int(n), rng)
        if noise > 0:
            rms = np.sqrt(np.mean(ds.y**2, axis=0, keepdims=True))
            ds.y = ds.y + noise * rms * rng.standard_normal(ds.y.shape)
        ds.truth = self.truth
        ds.name = self.name
        ds.meta.setdefault("system", self.name)
        ds.meta.setdefault("params", dict(self.params))
        ds.meta["seed"] = int(seed)
        ds.meta["noise"] = float(noise)
        return ds


def register_system(cls: type[System]) -> type[System]:
    """Class decorator adding a system to the registry under ``cls.name``.

    Example:
        >>> @register_system
        ... class Line(System):
        ...     name = "doc_line"; description = "y = 2x"
        ...     @property
        ...     def truth(self): return GroundTruth()
        ...     def _generate(self, n, rng):
        ...         x = rng.uniform(-1, 1, (n, 1)); return Dataset(x, 2 * x, ["x"], ["y"])
    """
    if not cls.name:
        raise TypeError(f"{cls.__name__} has no name")
    _REGISTRY[cls.name] = cls
    return cls


def registry() -> dict[str, type[System]]:
    """All registered systems by name (importing every system module first).

    Example:
        >>> "toy_distractor" in registry()
        True
    """
    from physlens.systems import _import_all

    _import_all()
    return dict(_REGISTRY)
