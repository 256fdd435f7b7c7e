"""A study: source + model + training + probes, validated, and run end to end.

``Study`` is a pydantic model (YAML or Python); ``run_study(study)`` runs the
flow of DESIGN.md — source -> Dataset -> fit -> probes -> findings -> score ->
report — and writes ``runs/<name>-<timestamp>/``:

* ``study.yaml`` — the validated study;
* ``dataset.npz`` — the data used (with units and ground truth);
* ``checkpoints/`` — ``last.safetensors`` (resumable), ``model.safetensors`` (final), ``snapshots/``;
* ``training.json`` — loss history and summary;
* ``findings.json``, ``scorecard.json``, ``report.html``.

Every file is written atomically; ``resume_study(run_dir)`` carries on from the
last checkpoint.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from physlens.data.dataset import Dataset
from physlens.errors import ConfigError
from physlens.findings import Finding, findings_to_json, score
from physlens.io import write_json, write_text
from physlens.train.fit import TrainConfig, TrainResult, fit

DEFAULT_SYSTEM = "toy_distractor"


class SourceConfig(BaseModel):
    """Where the data comes from: a built-in system or a file.

    Example:
        >>> SourceConfig(system="toy_distractor", n=500).system
        'toy_distractor'
    """

    model_config = ConfigDict(extra="forbid")

    system: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    file: str | None = None
    target: str | list[str] | None = None
    inputs: str | list[str] | None = None
    units: str | dict[str, str] | None = None
    groups: str | None = Field(None, description="data-file column naming each row's trajectory (run)")
    n: int | None = Field(None, gt=0)
    seed: int = 0
    noise: float = Field(0.0, ge=0)

    @model_validator(mode="after")
    def _one_source(self) -> SourceConfig:
        if (self.system is None) == (self.file is None):
            raise ValueError("give exactly one of 'system' or 'file'")
        return self

    def load(self) -> Dataset:
        """Build the dataset this source describes.

        Example:
            >>> SourceConfig(system="toy_distractor", n=50).load().n
            50
        """
        if self.system is not None:
            from physlens.systems import get_system

            if self.groups is not None:
                raise ConfigError("'groups' names a column of a data file; a built-in system's samples carry their trajectories")

            ds = get_system(self.system, **self.params).sample(self.n, seed=self.seed, noise=self.noise)
            if self.inputs or self.target:
                from physlens.data.loaders import _split_names

                ds = ds.select(_split_names(self.inputs), _split_names(self.target))
            if self.units:
                from physlens.data.units import parse_units_spec

                ds.units.update(parse_units_spec(self.units, columns=ds.input_names + ds.target_names))
            return ds
        from physlens.data.loaders import load

        return load(self.file, target=self.target, inputs=self.inputs, units=self.units, groups=self.groups)


class ModelConfig(BaseModel):
    """Which emulator to train, by registry name, with its parameters.

    Example:
        >>> ModelConfig().name
        'mlp'
    """

    model_config = ConfigDict(extra="forbid")

    name: str = "mlp"
    params: dict[str, Any] = Field(default_factory=lambda: {"width": 64, "depth": 3})


class ProbeConfig(BaseModel):
    """A probe by name with its options.

    Example:
        >>> ProbeConfig(name="attribution", options={"repeats": 3}).options
        {'repeats': 3}
    """

    model_config = ConfigDict(extra="forbid")

    name: str
    options: dict[str, Any] = Field(default_factory=dict)


class Study(BaseModel):
    """A whole study: name, source, model, training and probes.

    Example:
        >>> s = Study.model_validate({"name": "demo", "source": {"system": "toy_distractor"}})
        >>> [p.name for p in s.probes]
        ['attribution']
    """

    model_config = ConfigDict(extra="forbid")

    name: str = "study"
    source: SourceConfig = Field(default_factory=lambda: SourceConfig(system=DEFAULT_SYSTEM))
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=lambda: TrainConfig(epochs=200, batch_size=128, patience=40))
    probes: list[ProbeConfig] = Field(default_factory=lambda: [ProbeConfig(name="attribution")])

    @classmethod
    def from_yaml(cls, path: str | Path) -> Study:
        """Read and validate a study from a YAML file (errors name the bad field).

        Example:
            >>> import tempfile, os
            >>> p = os.path.join(tempfile.mkdtemp(), "s.yaml")
            >>> _ = open(p, "w").write("name: demo\\nsource: {system: toy_distractor, n: 100}\\n")
            >>> Study.from_yaml(p).source.n
            100
        """
        path = Path(path)
        if not path.exists():
            raise ConfigError(f"study file not found: {path}")
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path.name} is not valid YAML: {exc}") from None
        return cls.parse(data, where=path.name)

    @classmethod
    def parse(cls, data: dict, where: str = "study") -> Study:
        """Validate a dict into a Study, turning pydantic errors into one-line ConfigErrors.

        Example:
            >>> Study.parse({"train": {"epochs": 5}}).train.epochs
            5
        """
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first["loc"]) or "(root)"
            raise ConfigError(f"{where}: {loc}: {first['msg']}") from None

    def to_yaml(self) -> str:
        """The study as YAML text.

        Example:
            >>> "toy_distractor" in Study().to_yaml()
            True
        """
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


@dataclass
class RunResult:
    """What :func:`run_study` returns: the run directory, data, training result, findings and scorecard.

    Example:
        >>> import tempfile
        >>> r = run_study(Study.parse({"source": {"system": "toy_distractor", "n": 200},
        ...                            "train": {"epochs": 2, "progress": False}}), out=tempfile.mkdtemp())
        >>> sorted(r.scorecard)[:2]
        ['findings', 'kinds']
    """

    run_dir: Path
    dataset: Dataset
    train: TrainResult
    findings: list[Finding]
    scorecard: dict


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")[:60] or "study"


def new_run_dir(out: str | Path, name: str) -> Path:
    """A fresh ``out/<name>-<timestamp>`` directory (never reuses an existing one).

    Example:
        >>> import tempfile
        >>> new_run_dir(tempfile.mkdtemp(), "demo").name.startswith("demo-")
        True
    """
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = Path(out) / f"{_slug(name)}-{stamp}"
    path, k = base, 1
    while path.exists():
        k += 1
        path = Path(f"{base}-{k}")
    path.mkdir(parents=True)
    return path


def run_probes(model, dataset: Dataset, probes: list[ProbeConfig]) -> list[Finding]:
    """Run each probe on the model and dataset; collect their findings.

    Example:
        >>> import torch
        >>> from physlens.systems import get_system
        >>> from physlens.models import build_model
        >>> ds = get_system("toy_distractor").sample(100)
        >>> len(run_probes(build_model("mlp", ds), ds, [ProbeConfig(name="attribution", options={"repeats": 2})]))
        3
    """
    from physlens.probes import get_probe

    findings: list[Finding] = []
    for p in probes:
        run = get_probe(p.name)
        try:
            findings.extend(run(model, dataset, **p.options))
        except TypeError as exc:
            raise ConfigError(f"bad options for probe {p.name!r}: {exc}") from None
    return findings


def check_probes(study: Study) -> None:
    """Fail before any training when a study names a probe that does not exist.

    Example:
        >>> check_probes(Study())
    """
    from physlens.probes import get_probe

    for p in study.probes:
        get_probe(p.name)


def _execute(study: Study, run_dir: Path, dataset: Dataset, resume: bool) -> RunResult:
    from physlens.models import build_model

    model = build_model(study.model.name, dataset, seed=study.train.seed, **study.model.params)
    result = fit(model, dataset, study.train, checkpoint_dir=run_dir / "checkpoints", resume=resume)
    write_json(run_dir / "training.json", {"summary": result.summary(), "history": result.history})
    findings = run_probes(result.model, dataset, study.probes)
    card = score(findings, dataset.truth)
    write_json(run_dir / "findings.json", findings_to_json(findings))
    write_json(run_dir / "scorecard.json", card)
    from physlens.report import write_report

    write_report(run_dir)
    return RunResult(run_dir=run_dir, dataset=dataset, train=result, findings=findings, scorecard=card)


def run_study(study: Study, out: str | Path = "runs") -> RunResult:
    """Run a study end to end in a new run directory under ``out``.

    Example:
        >>> import tempfile
        >>> s = Study.parse({"source": {"system": "toy_distractor", "n": 300},
        ...                  "train": {"epochs": 3, "progress": False}})
        >>> r = run_study(s, out=tempfile.mkdtemp())
        >>> (r.run_dir / "report.html").exists()
        True
    """
    check_probes(study)
    dataset = study.source.load()
    run_dir = new_run_dir(out, study.name)
    write_text(run_dir / "study.yaml", study.to_yaml())
    dataset.to_npz(run_dir / "dataset.npz")
    return _execute(study, run_dir, dataset, resume=False)


def resume_study(run_dir: str | Path, progress: bool | None = None) -> RunResult:
    """Carry on an interrupted run from its last checkpoint (or start training if none was written).

    Example:
        >>> import tempfile
        >>> s = Study.parse({"source": {"system": "toy_distractor", "n": 300},
        ...                  "train": {"epochs": 3, "progress": False}})
        >>> r = run_study(s, out=tempfile.mkdtemp())
        >>> resume_study(r.run_dir).train.epochs_run
        3
    """
    run_dir = Path(run_dir)
    if not (run_dir / "study.yaml").exists():
        raise ConfigError(f"{run_dir} is not a physlens run directory (no study.yaml)")
    study = Study.from_yaml(run_dir / "study.yaml")
    if progress is not None:
        study.train.progress = progress
    if not (run_dir / "dataset.npz").exists():
        raise ConfigError(f"{run_dir} has no dataset.npz to resume from")
    dataset = Dataset.from_npz(run_dir / "dataset.npz")
    has_ckpt = (run_dir / "checkpoints" / "last.safetensors").exists()
    return _execute(study, run_dir, dataset, resume=has_ckpt)
