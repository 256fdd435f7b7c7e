"""Weight spectra: physlens's ``spectra`` probe against WeightWatcher, side by side, as whole processes.

Two models, each saved as a plain safetensors file and read by both tools in a fresh
Python process (imports, loading and analysis all timed, one thread each):

* a small physics emulator: physlens's default MLP (3 hidden layers of 64) trained on
  the ``toy_distractor`` law (1500 rows, 150 epochs);
* a large model of 21 M parameters: five 2048 x 2048 dense layers and a 3 x 3
  convolution with 128 channels, with heavy-tailed random weights (Student-t
  elements, ν = 2.5 to 6 and Gaussian), the heavy-tailed random matrices Martin &
  Mahoney use as the model of trained layers (their ESDs have power-law tails);
  training a 21 M-parameter network is beyond a 2-core benchmark.

Compared: α on every matrix WeightWatcher fits (its default ``analyze()``: no fit below
8 eigenvalues; it fits 8-19 with a small-sample estimator where physlens says "too few"),
and the log norm and stable rank of dense layers. Timed: physlens's default run
(bootstrap error bar on α, MP soft rank, randomisation distance) against WeightWatcher with
the same metric set (``analyze(randomize=True, mp_fit=True)``), and the α-only runs of both
(physlens ``--bootstrap 0 --no-randomize``, WeightWatcher's default ``analyze()``), run as
``--repeats`` alternating pairs (WW first, then physlens first, ...) with the medians reported.
physlens's α-only run on a plain safetensors file imports no torch (NumPy's loader and LAPACK).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/spectra.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from provenance import commit as _commit  # (benchmarks/ is on sys.path)

ROOT = Path(__file__).resolve().parents[1]

_WW_WORKER = r"""
import json, logging, sys, warnings
warnings.filterwarnings("ignore")
logging.disable(logging.CRITICAL)
import torch
from safetensors.torch import load_file
import weightwatcher as ww
path, out, full = sys.argv[1], sys.argv[2], sys.argv[3] == "full"
state = load_file(path)
mods, names = torch.nn.ModuleList(), []
for key, t in state.items():
    if t.ndim == 2:
        m = torch.nn.Linear(t.shape[1], t.shape[0], bias=False)
    elif t.ndim == 4:
        m = torch.nn.Conv2d(t.shape[1], t.shape[0], tuple(t.shape[2:]), bias=False)
    else:
        continue
    with torch.no_grad():
        m.weight.copy_(t)
    mods.append(m); names.append(key)
df = ww.WeightWatcher(model=mods).analyze(randomize=full, mp_fit=full)
rows = []
for _, r in df.iterrows():
    rows.append({"layer": names[int(r["longname"])],  # the ModuleList index of the module
                 "alpha": float(r["alpha"]), "num_evals": int(r["num_evals"]), "log_norm": float(r["log_norm"]),
                 "stable_rank": float(r["stable_rank"])})
json.dump({"rows": rows, "version": ww.__version__}, open(out, "w"))
"""


def _env() -> dict:
    env = dict(os.environ)
    env.update({"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"})
    return env


def _timed(cmd: list[str], timeout: float) -> tuple[dict, subprocess.CompletedProcess]:
    """Run a whole process; its wall time and CPU time (user + system; robust on a shared machine)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=_env())
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])} failed: {res.stderr.strip()[-800:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall": wall, "cpu": cpu}, res


def run_weightwatcher(path: Path, full: bool, workdir: Path, timeout: float) -> tuple[dict, dict]:
    """Whole-process WeightWatcher run on a safetensors file: ({"wall", "cpu"} seconds, {"rows", "version"})."""
    script = workdir / "ww_worker.py"
    script.write_text(_WW_WORKER)
    out = workdir / f"ww_{path.stem}_{'full' if full else 'alpha'}.json"
    dt, _ = _timed([sys.executable, str(script), str(path), str(out), "full" if full else "alpha"], timeout)
    return dt, json.loads(out.read_text())


def run_physlens(path: Path, full: bool, timeout: float) -> tuple[dict, list[dict]]:
    """Whole-process ``physlens spectra FILE --json``: ({"wall", "cpu"} seconds, per-matrix values)."""
    cmd = [sys.executable, "-m", "physlens.cli", "spectra", str(path), "--json"]
    if not full:
        cmd += ["--bootstrap", "0", "--no-randomize"]
    dt, res = _timed(cmd, timeout)
    fs = json.loads(res.stdout)["findings"]
    return dt, [f["value"] for f in fs if f["subject"] != "summary"]


def small_emulator(path: Path, seed: int = 0) -> dict:
    """Train physlens's default MLP on a physics law and save its state dict (plain safetensors)."""
    from safetensors.torch import save_file

    from physlens.models import build_model
    from physlens.systems import get_system
    from physlens.train import TrainConfig, fit

    ds = get_system("toy_distractor").sample(1500, seed=seed)
    res = fit(build_model("mlp", ds, seed=seed), ds, TrainConfig(epochs=150, progress=False, seed=seed))
    state = {k: v.detach().float().contiguous() for k, v in res.model.state_dict().items() if v.ndim >= 2}
    save_file(state, str(path))
    return {"model": "mlp (physlens default, 3 x 64, SiLU) trained 150 epochs on toy_distractor, 1500 rows",
            "parameters": int(sum(v.numel() for v in res.model.state_dict().values())),
            "val_loss": float(res.history[-1].get("val_loss", float("nan")))}


def large_model(path: Path, width: int = 2048, seed: int = 0) -> dict:
    """Five width x width dense layers and a 3x3 convolution with heavy-tailed (Student-t) random weights.

    Every weight comes from one seeded NumPy generator, so the file (and each layer's α) is the
    same in every run.
    """
    import numpy as np
    from safetensors.numpy import save_file

    rng = np.random.default_rng(seed)
    state = {}
    for i, nu in enumerate([2.5, 3.0, 4.0, 6.0, None]):
        w = rng.standard_normal((width, width)) if nu is None else rng.standard_t(nu, size=(width, width))
        state[f"blocks.{i}.weight"] = np.ascontiguousarray(w / width**0.5, dtype=np.float32)
    state["conv.weight"] = np.ascontiguousarray(rng.standard_t(3.0, size=(128, 128, 3, 3)) / 34.0, dtype=np.float32)
    state["head.weight"] = np.ascontiguousarray(rng.standard_normal((64, width)) / width**0.5, dtype=np.float32)
    save_file(state, str(path))
    return {"model": f"5 dense {width}x{width} (Student-t nu = 2.5, 3, 4, 6 and Gaussian elements), "
                     "conv 128x128x3x3 (t, nu = 3), head 64x2048",
            "parameters": int(sum(v.size for v in state.values()))}


def compare(ww_rows: list[dict], pl_rows: list[dict]) -> dict:
    """Per-layer α (and dense-layer norms) of the two tools on the layers WeightWatcher fits."""
    mine = {r["layer"]: r for r in pl_rows}
    layers, declined = [], []
    for w in ww_rows:
        if not (w["alpha"] > 0):  # WeightWatcher's failed fit
            continue
        p = mine.get(w["layer"])
        if p is None or p["alpha"] is None:
            declined.append({"layer": w["layer"], "ww_alpha": w["alpha"], "num_evals": w["num_evals"],
                             "reason": None if p is None else p["reason"]})
            continue
        dense = len(p["shape"]) == 3 and p["shape"][0] == 1
        layers.append({"layer": w["layer"], "ww_alpha": w["alpha"], "physlens_alpha": p["alpha"],
                       "physlens_alpha_error": p["alpha_error"], "abs_diff": abs(w["alpha"] - p["alpha"]),
                       "n_eigenvalues": p["n_eigenvalues"], "ww_num_evals": w["num_evals"],
                       "log_norm_diff": abs(w["log_norm"] - p["log_norm"]) if dense else None,
                       "stable_rank_rel_diff": abs(w["stable_rank"] / p["stable_rank"] - 1) if dense else None})
    return {"layers": layers, "declined_by_physlens": declined,
            "max_abs_alpha_diff": max((r["abs_diff"] for r in layers), default=None),
            "within_0.05": all(r["abs_diff"] <= 0.05 for r in layers) and not declined}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--width", type=int, default=2048, help="width of the large model's dense layers")
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--conditions", default="", help="free text on the machine's state, stored in the results")
    ap.add_argument("--repeats", type=int, default=3,
                    help="alternating pairs of α-only runs (medians reported); the full runs once each")
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "spectra.json"))
    args = ap.parse_args()
    os.environ.update(_env())

    from rich.console import Console
    from rich.table import Table

    from physlens.io import write_json

    console = Console(width=160)
    work = Path(tempfile.mkdtemp(prefix="physlens-spectra-bench-"))
    models = {"small": work / "small.safetensors", "large": work / "large.safetensors"}
    info = {"small": small_emulator(models["small"]), "large": large_model(models["large"], width=args.width)}
    results = {}
    version = None
    load_before = os.getloadavg()
    for name, path in models.items():
        entry = dict(info[name])
        for full in (True, False):
            tag = "full" if full else "alpha_only"
            samples = []
            for r in range(1 if full else max(1, args.repeats)):  # alternating: WW, physlens, WW, physlens...
                first, second = ("ww", "pl") if r % 2 == 0 else ("pl", "ww")
                got = {}
                for tool in (first, second):
                    got[tool] = (run_weightwatcher(path, full, work, args.timeout) if tool == "ww"
                                 else run_physlens(path, full, args.timeout))
                (t_ww, ww), (t_pl, pl) = got["ww"], got["pl"]
                samples.append({"weightwatcher": t_ww, "physlens": t_pl, "load": os.getloadavg()[0]})
                console.print(f"{name} {tag} #{r + 1}: WeightWatcher {t_ww['wall']:.1f} s wall / {t_ww['cpu']:.1f} s "
                              f"CPU, physlens {t_pl['wall']:.1f} s wall / {t_pl['cpu']:.1f} s CPU", highlight=False)
            version = ww["version"]

            def med(tool, key):
                return float(statistics.median(x[tool][key] for x in samples))

            entry[tag] = {"weightwatcher_seconds": med("weightwatcher", "wall"), "physlens_seconds": med("physlens", "wall"),
                          "speedup": med("weightwatcher", "wall") / med("physlens", "wall"),
                          "weightwatcher_cpu_seconds": med("weightwatcher", "cpu"),
                          "physlens_cpu_seconds": med("physlens", "cpu"),
                          "cpu_speedup": med("weightwatcher", "cpu") / med("physlens", "cpu"),
                          "samples": samples, "comparison": compare(ww["rows"], pl)}
        results[name] = entry

    table = Table(title=f"Weight spectra: physlens vs WeightWatcher {version} (whole processes, 1 thread each; "
                        f"α-only: medians of {args.repeats} alternating pairs)")
    for col in ("model", "params", "layers", "max |Δα|", "declined", "WW full", "physlens full",
                "speed-up wall (CPU)", "WW α-only", "physlens α-only", "speed-up wall (CPU)"):
        table.add_column(col, justify="right" if col not in ("model",) else "left")
    for name, e in results.items():
        c = e["full"]["comparison"]
        table.add_row(name, f"{e['parameters'] / 1e6:.2f} M", str(len(c["layers"])),
                      f"{c['max_abs_alpha_diff']:.2e}" if c["max_abs_alpha_diff"] is not None else "-",
                      str(len(c["declined_by_physlens"])),
                      f"{e['full']['weightwatcher_seconds']:.1f} s", f"{e['full']['physlens_seconds']:.1f} s",
                      f"{e['full']['speedup']:.1f}x ({e['full']['cpu_speedup']:.1f}x)",
                      f"{e['alpha_only']['weightwatcher_seconds']:.1f} s", f"{e['alpha_only']['physlens_seconds']:.1f} s",
                      f"{e['alpha_only']['speedup']:.1f}x ({e['alpha_only']['cpu_speedup']:.1f}x)")
    console.print(table)
    write_json(args.json, {"benchmark": "spectra", "commit": _commit(), "weightwatcher_version": version,
                           "machine": {"platform": platform.platform(), "python": platform.python_version(),
                                       "threads": 1, "cpus": os.cpu_count(),
                                       "cpus_usable": len(os.sched_getaffinity(0)),
                                       "load_average_before": load_before, "load_average_after": os.getloadavg(),
                                       "conditions": args.conditions},
                           "command": "OMP_NUM_THREADS=1 .venv/bin/python benchmarks/spectra.py"
                                      + (f" --width {args.width}" if args.width != 2048 else "")
                                      + (f" --repeats {args.repeats}" if args.repeats != 3 else ""),
                           "results": results})
    console.print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
