"""The System contract: a simulator with ground truth.

Every system is a class registered with :func:`register_system` (built-in modules, or third-party
packages through the ``physlens.systems`` entry-point group). Its parameters are a pydantic model,
``class Params(SystemParams)``: types, allowed ranges and descriptions in one place, from which
both the validation (a bad value is a one-line :class:`~physlens.errors.ParameterError` naming the
parameter and its range) and the ``physlens systems`` listing come. A system offers

* ``sample(n=None, seed=0, noise=0.0) -> Dataset`` — data generated here, never downloaded;
* ``truth -> GroundTruth`` — the known physics, as data.

``noise`` is relative Gaussian noise on the targets: sigma = noise x RMS(y).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Annotated, Any, ClassVar, Literal, get_args, get_origin

import numpy as np
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from physlens.data.dataset import Dataset
from physlens.errors import ParameterError
from physlens.findings import GroundTruth
from physlens.plugins import Registry, adopt_subclasses


class SystemParams(BaseModel):
    """Base of every system's ``Params``: unknown names, infinities, NaN and true/false for numbers are refused.

    A system declares ``class Params(SystemParams)`` with one field per parameter: its type, its
    allowed range (``Field(gt=..., le=...)``, ``Literal`` choices, :func:`Interval`) and a
    ``description``; cross-parameter rules are pydantic ``model_validator`` methods that raise
    ``ValueError`` with a message naming the parameter.

    Example:
        >>> class Params(SystemParams):
        ...     k: float = Field(1.0, gt=0, description="spring constant")
        >>> Params(k=2).k
        2.0
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_numbers(cls, value: Any, info) -> Any:
        if isinstance(value, bool) and cls.model_fields[info.field_name].annotation is not bool:
            raise ValueError(f"parameter {info.field_name} must not be true/false")
        return value


class IntervalBounds:
    """The bounds of an :func:`Interval` parameter, kept for the ``physlens systems`` listing."""

    def __init__(self, gt: float | None = None, ge: float | None = None, lt: float | None = None,
                 le: float | None = None, strict: bool = False) -> None:
        self.gt, self.ge, self.lt, self.le, self.strict = gt, ge, lt, le, strict

    def describe(self) -> str:
        """The rule in words, e.g. ``0 <= min <= max <= 0.9``.

        Example:
            >>> IntervalBounds(ge=0, le=0.9).describe()
            'pair (min, max), 0 <= min <= max <= 0.9'
        """
        low = f"{_num(self.gt)} < " if self.gt is not None else f"{_num(self.ge)} <= " if self.ge is not None else ""
        high = f" < {_num(self.lt)}" if self.lt is not None else f" <= {_num(self.le)}" if self.le is not None else ""
        return f"pair (min, max), {low}min {'<' if self.strict else '<='} max{high}"


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else repr(float(x))


def Interval(*, gt: float | None = None, ge: float | None = None, lt: float | None = None, le: float | None = None,
             strict: bool = False) -> Any:
    """The type of a ``(min, max)`` parameter: two finite floats within the bounds, min <= max (min < max if ``strict``).

    Example:
        >>> class Params(SystemParams):
        ...     energy_range: Interval(gt=0) = Field((0.1, 2.0), description="energies drawn uniformly")
        >>> Params(energy_range=[0.5, 1]).energy_range
        (0.5, 1.0)
    """
    bound = Annotated[float, Field(gt=gt, ge=ge, lt=lt, le=le)]

    def ordered(pair: tuple[float, float]) -> tuple[float, float]:
        if pair[0] > pair[1] or (strict and pair[0] == pair[1]):
            raise ValueError(f"needs min {'<' if strict else '<='} max")
        return pair

    return Annotated[tuple[bound, bound], AfterValidator(ordered), IntervalBounds(gt, ge, lt, le, strict)]


def allowed_values(field) -> str:
    """The values a ``Params`` field allows, in words (for messages and ``physlens systems``).

    Example:
        >>> class Params(SystemParams):
        ...     n: int = Field(10, ge=2, le=100, description="points")
        ...     mode: Literal["a", "b"] = Field("a", description="mode")
        >>> allowed_values(Params.model_fields["n"]), allowed_values(Params.model_fields["mode"])
        ('integer in [2, 100]', 'one of: a, b')
    """
    ann = field.annotation
    for meta in field.metadata:
        if isinstance(meta, IntervalBounds):
            return meta.describe()
    if get_origin(ann) is Annotated:
        for meta in get_args(ann)[1:]:
            if isinstance(meta, IntervalBounds):
                return meta.describe()
    if get_origin(ann) is Literal:
        return "one of: " + ", ".join(str(a) for a in get_args(ann))
    if ann is bool:
        return "true or false"
    bounds = {}
    for meta in field.metadata:
        for key in ("gt", "ge", "lt", "le"):
            if getattr(meta, key, None) is not None:
                bounds[key] = getattr(meta, key)
    base = _label(ann)
    if ann is int and "ge" in bounds and "le" in bounds:
        return f"integer in [{_num(bounds['ge'])}, {_num(bounds['le'])}]"
    parts = [f"{'>' if k == 'gt' else '>=' if k == 'ge' else '<' if k == 'lt' else '<='} {_num(v)}" for k, v in bounds.items()]
    return base + (" " + ", ".join(parts) if parts else "")


def type_label(field) -> str:
    """A ``Params`` field's type in words: integer, number, text, true/false, choice, pair of numbers, ...

    Example:
        >>> class Params(SystemParams):
        ...     n: int | None = Field(None, description="points")
        >>> type_label(Params.model_fields["n"])
        'integer or none'
    """
    if any(isinstance(m, IntervalBounds) for m in field.metadata):
        return "pair of numbers"
    return _label(field.annotation)


def _label(ann: Any) -> str:
    names = {int: "integer", float: "number", str: "text", bool: "true/false", type(None): "none"}
    if ann in names:
        return names[ann]
    origin = get_origin(ann)
    if origin is Literal:
        return "choice"
    if origin is Annotated:
        if any(isinstance(m, IntervalBounds) for m in get_args(ann)[1:]):
            return "pair of numbers"
        return _label(get_args(ann)[0])
    if origin in (list, tuple):
        inner = {_label(a) for a in get_args(ann) if a is not Ellipsis}
        return f"list of {'s, '.join(sorted(inner))}s" if inner else "list"
    args = get_args(ann)
    if args:  # a union
        return " or ".join(_label(a) for a in args)
    return getattr(ann, "__name__", str(ann))


def parameter_message(system: str, params_cls: type[BaseModel], exc: ValidationError) -> str:
    """One line for a :class:`pydantic.ValidationError`: the system, the parameter, the value and what is allowed.

    Example:
        >>> class Params(SystemParams):
        ...     k: float = Field(1.0, gt=0, description="spring constant")
        >>> try:
        ...     Params(k=-1)
        ... except ValidationError as e:
        ...     print(parameter_message("spring", Params, e))
        spring: parameter k must be greater than 0, got -1 (allowed: number > 0)
    """
    err = exc.errors()[0]
    loc = [str(x) for x in err.get("loc", ())]
    fields = params_cls.model_fields
    takes = ", ".join(fields) or "none"
    if err["type"] == "extra_forbidden":
        return f"{system} has no parameter {loc[0]!r}; it takes: {takes}"
    msg = str(err.get("msg", "is invalid"))
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix):]
    msg = msg.replace("Input should be", "must be")
    if not loc:  # a rule across parameters: its message names them
        return f"{system}: {msg}"
    name = loc[0] + "".join(f"[{x}]" for x in loc[1:])
    if err["type"] == "value_error" and (msg.startswith(f"{system}:") or f"parameter {loc[0]}" in msg):
        return msg if msg.startswith(f"{system}:") else f"{system}: {msg}"
    got = f", got {err['input']!r}" if "input" in err and not isinstance(err["input"], dict) else ""
    allowed = f" (allowed: {allowed_values(fields[loc[0]])})" if loc[0] in fields else ""
    return " ".join(f"{system}: parameter {name} {msg}{got}{allowed}".split())


class System(ABC):
    """Base class of every simulator.

    Subclasses set ``name`` and ``description`` (and ``default_n`` when 2000 rows is not the right
    default), declare their parameters as ``class Params(SystemParams)`` and implement :meth:`_generate` (returning a noise-free
    dataset) and :meth:`truth`. ``System(**params)`` validates the parameters through ``Params``
    (a bad one is a one-line :class:`~physlens.errors.ParameterError` naming it and its allowed
    range) and sets each as an attribute; a subclass that derives more state overrides
    ``__init__(self, **params)``, calls ``super().__init__(**params)`` first and then reads
    ``self.<parameter>``. A built-in system's ``category`` is its package (``physlens.systems.quantum.rabi``
    is ``"quantum"``); a plug-in sets its own (default ``"other"``).

    Example:
        >>> from physlens.systems import get_system
        >>> ds = get_system("toy_distractor").sample(100, seed=0)
        >>> ds.input_names, type(get_system("toy_distractor")).category
        (['x1', 'x2', 'x3'], 'laws')
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

    Params: ClassVar[type[SystemParams]] = SystemParams

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        package = cls.__module__.split(".")
        if "category" not in cls.__dict__ and package[:2] == ["physlens", "systems"] and len(package) > 3:
            cls.category = package[2]

    def __init__(self, **params: Any) -> None:
        self.settings = self.validate_params(params)
        for key in type(self.settings).model_fields:
            setattr(self, key, getattr(self.settings, key))
        #: the validated parameters, recorded in every dataset's ``meta["params"]``
        self.params: dict[str, Any] = self.settings.model_dump()

    @classmethod
    def validate_params(cls, params: dict[str, Any]) -> SystemParams:
        """``cls.Params(**params)``, a bad value raising a one-line :class:`ParameterError`.

        Example:
            >>> from physlens.systems import registry
            >>> registry()["kepler"].validate_params({"dim": 3}).dim
            3
        """
        try:
            return cls.Params(**params)
        except ValidationError as exc:
            raise ParameterError(parameter_message(cls.name or cls.__name__, cls.Params, exc)) from None

    @classmethod
    def describe_params(cls) -> list[dict[str, Any]]:
        """One record per parameter: ``name``, ``type``, ``default``, ``allowed`` and ``description``.

        Example:
            >>> from physlens.systems import registry
            >>> [p["name"] for p in registry()["toy_distractor"].describe_params()]
            ['low', 'high']
        """
        out = []
        for key, field in cls.Params.model_fields.items():
            default = field.get_default(call_default_factory=True)
            out.append({
                "name": key,
                "type": type_label(field),
                "default": list(default) if isinstance(default, tuple) else default,
                "allowed": allowed_values(field),
                "description": field.description or "",
            })
        return out

    @property
    @abstractmethod
    def truth(self) -> GroundTruth:
        """The ground truth of this system."""

    @abstractmethod
    def _generate(self, n: int, rng: np.random.Generator) -> Dataset:
        """Noise-free dataset of ``n`` samples."""

    def trajectory_dataset(self, X: np.ndarray, trajectories: np.ndarray, times: np.ndarray,
                           aux: dict | None = None, meta: dict | None = None) -> Dataset:
        """States ``X`` sampled along ``trajectories`` (n_traj, T, d_state) at ``times`` as a Dataset: the targets
        are ``self.target_function(X)`` and the state variables are the inputs.

        Example:
            >>> from physlens.systems import get_system
            >>> kepler = get_system("kepler")
            >>> orbit = np.array([[[1.0, 0.0, 0.0, 1.0], [0.0, 1.0, -1.0, 0.0]]])
            >>> ds = kepler.trajectory_dataset(orbit[0], orbit, np.array([0.0, np.pi / 2]))
            >>> ds.state_names == kepler.input_names, ds.y.shape
            (True, (2, 4))
        """
        return Dataset(X, self.target_function(X), self.input_names, self.target_names, trajectories=trajectories,
                       times=times, state_names=self.input_names, aux=dict(aux or {}), meta=dict(meta or {}))

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


#: every tabular system: built-in ones in the subpackages of physlens.systems, plug-ins in ``physlens.systems``
SYSTEMS: Registry[type[System]] = Registry(
    "system", package="physlens.systems", entry_point_group="physlens.systems", recursive=True,
    adopt=lambda name, obj: adopt_subclasses(System, register_system)(name, obj), error=ParameterError, hint="run `physlens systems` to list them",
)


def register_system(cls: type[System]) -> type[System]:
    """Class decorator adding a system to the registry under ``cls.name``.

    Example:
        >>> @register_system
        ... class Line(System):
        ...     name = "doc_line"; description = "y = a x"
        ...     class Params(SystemParams):
        ...         a: float = Field(2.0, gt=0, description="slope")
        ...     @property
        ...     def truth(self): return GroundTruth()
        ...     def _generate(self, n, rng):
        ...         x = rng.uniform(-1, 1, (n, 1)); return Dataset(x, self.a * x, ["x"], ["y"])
        >>> Line(a=3).sample(2, seed=0).y[0, 0] == 3 * Line(a=3).sample(2, seed=0).X[0, 0]
        np.True_
    """
    if not (isinstance(cls.Params, type) and issubclass(cls.Params, SystemParams)):
        raise TypeError(f"{cls.__name__}.Params must subclass physlens.systems.base.SystemParams")
    return SYSTEMS.register()(cls)  # the registry refuses a class without a name


def registry() -> dict[str, type[System]]:
    """All registered systems by name (built-in modules and ``physlens.systems`` plug-ins, found on first use).

    Example:
        >>> "toy_distractor" in registry()
        True
    """
    return SYSTEMS.as_dict()
