"""Experiment tracking: log a finished run directory to MLflow (the optional ``mlflow`` extra).

Nothing here runs unless asked (``--track mlflow``). A run directory already holds
everything worth tracking, so tracking reads it after the fact: the study's settings
become parameters (flattened, dotted keys), the training curve and the scores become
metrics, and ``findings.json``, ``scorecard.json``, ``probes.json``, ``study.yaml``
and ``report.html`` become artifacts. The store is ``./mlruns`` unless a tracking
URI is given (``http://host:5000``, ``file:/path``). Because it reads files, it
works the same whichever executor ran the study (the run directory must be on a
file system the tracking process can read).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml

from physlens.errors import ConfigError

ARTIFACTS = ("study.yaml", "findings.json", "scorecard.json", "probes.json", "training.json", "report.html")


def flatten(d: Any, prefix: str = "") -> dict[str, str]:
    """Nested settings as ``{"model.params.width": "64", ...}`` (MLflow parameters are text).

    Example:
        >>> flatten({"model": {"kind": "mlp", "params": {"width": 64}}, "probes": None})
        {'model.kind': 'mlp', 'model.params.width': '64', 'probes': 'None'}
    """
    out: dict[str, str] = {}
    if isinstance(d, dict):
        for k, v in d.items():
            out.update(flatten(v, f"{prefix}{k}."))
    elif isinstance(d, list) and d and all(isinstance(v, dict) for v in d):
        out[prefix[:-1]] = json.dumps(d)[:500]
    else:
        out[prefix[:-1]] = str(d)[:500]
    return out


class MlflowTracker:
    """Logs run directories to one MLflow experiment.

    Example:
        >>> import tempfile, pathlib
        >>> t = MlflowTracker(uri=pathlib.Path(tempfile.mkdtemp()).as_uri(), experiment="demo")  # doctest: +SKIP
    """

    def __init__(self, uri: str | None = None, experiment: str = "physlens") -> None:
        try:
            import mlflow
        except ImportError as exc:
            raise ConfigError("--track mlflow needs MLflow: pip install 'physlens[mlflow]'") from exc
        self.mlflow = mlflow
        uri = uri or Path("mlruns").resolve().as_uri()
        if uri.startswith("file:") or "://" not in uri:
            # a plain folder store needs no server or database; recent MLflow asks for this opt-in
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        mlflow.set_tracking_uri(uri)
        mlflow.set_experiment(experiment)

    def log_run(self, run_dir: str | Path, params: dict | None = None, summary: dict | None = None) -> str:
        """Log one finished run directory; return the MLflow run id.

        Example:
            >>> MlflowTracker().log_run("runs/demo-20261205-101010")  # doctest: +SKIP
        """
        mlflow = self.mlflow
        run_dir = Path(run_dir)
        with mlflow.start_run(run_name=run_dir.name) as run:
            if (run_dir / "study.yaml").exists():
                study = yaml.safe_load((run_dir / "study.yaml").read_text()) or {}
                mlflow.log_params(flatten(study))
            if params:
                mlflow.log_params({f"sweep.{k}": str(v) for k, v in params.items()})
            training = _read(run_dir / "training.json") or {}
            for row in training.get("history", []):
                step = int(row.get("epoch", 0))
                mlflow.log_metrics({k: float(v) for k, v in row.items()
                                    if k != "epoch" and isinstance(v, (int, float))}, step=step)
            card = _read(run_dir / "scorecard.json") or {}
            metrics = {"matched": card.get("matched", 0), "scored": card.get("scored", 0)}
            for kind, c in (card.get("kinds") or {}).items():
                metrics[f"{kind}.matched"] = c.get("matched", 0)
                metrics[f"{kind}.scored"] = c.get("scored", 0)
            if summary and summary.get("relative_error") is not None:
                metrics["relative_error"] = float(summary["relative_error"])
            mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
            for name in ARTIFACTS:
                if (run_dir / name).exists():
                    mlflow.log_artifact(str(run_dir / name))
            mlflow.set_tag("physlens.run_dir", str(run_dir.resolve()))
            return run.info.run_id


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None
