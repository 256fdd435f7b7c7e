"""Benchmark of the symmetry probe: rediscovery on built-in systems, false positives, a hidden
symmetry through the CLI, and speed.

Every network is trained with the default recipe (``physlens.train.train_default``) and
read by ``physlens.probes.symmetry.run`` without any hint; only the scoring looks at
the truth. Cases run as tasks of :mod:`physlens.execution` (the local process pool, or Ray with
``--executor ray``). Prints a table and writes ``benchmarks/results/symmetry.json``.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/symmetry.py            # everything
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/symmetry.py --quick    # fewer functions, smaller data
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

GRAPH_FULL = {"edge_inputs": "full", "node_model": "additive", "divide_by": "m", "regularizer": "none"}

SYSTEMS = [
    # short trajectories: many independent orbits, so the states fill the phase space
    ("kepler 2D energy", "kepler", {"dim": 2, "target": "energy", "points_per_trajectory": 5}, 3000),
    ("kepler 2D dynamics", "kepler", {"dim": 2, "target": "derivatives", "points_per_trajectory": 5}, 3000),
    ("kepler 3D energy", "kepler", {"dim": 3, "target": "energy", "points_per_trajectory": 5}, 3000),
    ("lorentz_invariant", "lorentz_invariant", {}, 3000),
    # n-body: a graph network (Interaction-Network form) fed both particles' *full* rows, so translations,
    # boosts and rotations are not built in and must be learnt; weight sharing over particles makes the
    # permutation equivariance architectural (the MLP row shows what a plain network learns of it)
    ("nbody_springs", "nbody_springs", {"points_per_trajectory": 5}, 4000, "graph", GRAPH_FULL),
    ("nbody_charges", "nbody_charges", {"points_per_trajectory": 5}, 4000, "graph", GRAPH_FULL),
    ("nbody_gravity", "nbody_gravity", {"points_per_trajectory": 5}, 4000, "graph", GRAPH_FULL),
    ("nbody_springs scalars", "nbody_springs", {"points_per_trajectory": 5}, 4000, "scalars", {}),
    ("nbody_springs MLP", "nbody_springs", {"points_per_trajectory": 5}, 20000, "mlp", {"width": 256, "depth": 3}),
    ("schrodinger_1d", "schrodinger_1d", {}, 3000),
    ("tfim_chain", "tfim_chain", {}, 4000),
]


def _closure(mats: list[np.ndarray], limit: int = 512) -> list[np.ndarray]:
    if not mats:
        return []
    n = mats[0].shape[0]
    group = [np.eye(n)]
    frontier = list(group)
    while frontier and len(group) < limit:
        new = []
        for g in frontier:
            for m in mats:
                c = m @ g
                if not any(np.allclose(c, h, atol=1e-6) for h in group):
                    group.append(c)
                    new.append(c)
        frontier = new
    return group


def _summarise(findings, truth, ds) -> dict:
    from physlens.findings import score

    if truth is not None:
        score(findings, truth)  # sets each finding's match
    cont = [f for f in findings if "generators" in f.value]
    disc = [f for f in findings if "transform" in f.value]
    row: dict = {"continuous_dim": 0, "group": None, "physical_dim": None, "physical_group": None,
                 "angle_deg": None, "physical_angle_deg": None, "continuous_match": None,
                 "truth_contained": None, "discrete_found": [f.value["name"] for f in disc]}
    if cont:
        f = cont[0]
        row.update(continuous_dim=len(f.value["generators"]), group=f.value["group"],
                   residual=f.value["residual"], continuous_match=f.match)
        d = f.score_detail or {}
        row.update(angle_deg=d.get("max_angle_deg"), physical_angle_deg=d.get("physical_max_angle_deg"),
                   truth_contained=d.get("truth_contained"), truth_dim=d.get("truth_dim"))
        if "physical" in f.value:
            row.update(physical_dim=len(f.value["physical"]["generators"]), physical_group=f.value["physical"]["group"])
    if truth is not None:
        tcont = [s for s in truth.symmetries if s.get("kind") == "continuous"]
        row["truth_continuous"] = [f"{s['name']}({len(s['generators'])})" for s in tcont]
        row["truth_dim"] = sum(len(s["generators"]) for s in tcont)
        if not cont and tcont:
            row["continuous_match"] = False
        tdisc = [s for s in truth.symmetries if s.get("kind") == "discrete"]
        group = _closure([np.asarray(f.value["transform"], float) for f in disc])
        recall = {s["name"]: any(np.allclose(np.asarray(s["transform"], float)[:, : ds.d_in], g, atol=1e-6)
                                 for g in group) for s in tdisc}
        row["truth_discrete_found"] = recall
        row["discrete_matched"] = sum(bool(f.match) for f in disc)
        row["discrete_reported"] = len(disc)
        row["discrete_spurious"] = len(disc) - row["discrete_matched"]
    # the whole group, the weights, the latent space and the resolution (issue: the whole symmetry group)
    grp = next((f for f in findings if f.value.get("group_name") is not None), None)
    if grp is not None:
        row["group_statement"] = grp.value["group_name"]
        row["physical_group_statement"] = (grp.value.get("physical") or {}).get("group_name")
        row["group_components"] = grp.value["components"]
        row["group_match"] = grp.match
        # the truth's discrete symmetries reached by the group (the implied elements are no longer findings)
        row["truth_discrete_in_group"] = (grp.score_detail or {}).get("truth_discrete_covered")
        row["discrete_implied"] = len(grp.value.get("implied") or {})
        flow = grp.value.get("flow") or {}
        # a flow (outputs d<input>_dt): the group moving the derivatives as the inputs, with time reversal
        row["flow_statement"] = (f"{flow['group_name']} on {flow['acts_on']}" if flow else None)
        row["flow_time_reversal"] = flow.get("time_reversal") if flow else None
        # for a flow the stated group is the dynamics'; the network's group as a function is kept beside it
        row["function_group_statement"] = (grp.value.get("function_group") or {}).get("group_name")
        row["physical_inputs_read"] = (grp.value.get("physical") or {}).get("inputs_read")
    if cont:
        v = cont[0].value
        res = v.get("resolution") or {}
        row["expected_resolution_deg"] = res.get("max_expected_deg")
        row["worst_resolution_deg"] = res.get("max_worst_deg")
        ws = v.get("weight_space") or {}
        row["weight_space_dim"] = ws.get("dimension")
        row["weight_space_angle_deg"] = ws.get("angle_deg")
        row["weight_space_physical_angle_deg"] = ws.get("physical_angle_deg")
        row["weight_space_full_span_angle_deg"] = ws.get("full_span_angle_deg")
        # membership: function-space generators whose rate in the weights is within the model's error
        row["weight_space_within_tolerance"] = ws.get("within_tolerance")
        row["weight_space_carried"] = (f"{ws['carried']}/{len(v['generators'])}" if ws.get("carried") is not None
                                       else None)
        pr = ws.get("physical_rates")
        row["weight_space_physical_carried"] = (f"{sum(r <= ws['tolerance'] for r in pr)}/{len(pr)}"
                                                if pr and ws.get("tolerance") is not None else None)
        row["architectural"] = sum(ws.get("architectural") or []) if ws.get("architectural") is not None else None
        row.update(_gap_columns(ws))
        row["first_order_resolution_deg"] = res.get("first_order_max_expected_deg")
        # the part of the tilt a better emulator removes (what value["needs"] reads)
        row["error_limited_resolution_deg"] = res.get("max_error_limited_deg")
        row["needs_relative_error"] = (v.get("needs") or {}).get("relative_error")
        row["median_expected_resolution_deg"] = (float(np.median(res["expected_deg"])) if res.get("expected_deg")
                                                 else None)
    lat = next((f for f in findings if f.subject == "latent representation"), None)
    if lat is not None:
        rep = lat.value["representation"]
        row["latent_blocks"] = {k: n for k, n in rep["blocks"].items() if n}
        row["latent_error"] = rep["error"]
        row["latent_source"] = rep["source"]
    unc = [f for f in findings if f.kind == "uncertainty"]
    row["undetermined"] = sum(len(f.value.get("candidates", [])) + len(f.value.get("continuous_candidates", []))
                              for f in unc)
    q = next((f.evidence.get("model_quality") for f in findings if isinstance(f.evidence, dict)
              and f.evidence.get("model_quality")), None)
    if q is not None:
        row["model_explained"] = q["explained"]
        row["model_relative_error"] = q["relative_error"]
    return row


def _gap_columns(ws: dict) -> dict:
    """Weight-space agreement inside the weights' near-null subspace bounded by a gap (well-posed without one)."""
    gap = ws.get("gap_subspace") or {}
    return {"weight_space_gap_dim": gap.get("dimension"), "weight_space_gap_ratio": gap.get("gap_ratio"),
            "weight_space_gap_angle_deg": gap.get("angle_deg"),
            "weight_space_gap_physical_angle_deg": gap.get("physical_angle_deg"),
            "weight_space_gap_null_deg": gap.get("null_angle_deg")}


def system_case(label: str, name: str, params: dict, n: int, max_epochs: int, seed: int,
                model: str = "mlp", model_params: dict | None = None) -> dict:
    """Train on a built-in system (default MLP unless ``model`` says), run the probe, score against the truth."""
    from physlens.probes.symmetry import run
    from physlens.systems import get_system
    from physlens.train import train_default

    ds = get_system(name, **params).sample(n, seed=seed)
    t0 = time.perf_counter()
    res = train_default(ds, seed=seed, progress=False, epochs=min(max_epochs, 400), model=model,
                        model_params=model_params)
    t1 = time.perf_counter()
    findings = run(res.model, ds, seed=seed)
    t2 = time.perf_counter()
    row = {"case": label, "model": model, "n": n, "d_in": ds.d_in, "val_loss": res.best_val_loss,
           "train_s": t1 - t0, "probe_s": t2 - t1}
    row.update(_summarise(findings, ds.truth, ds))
    return row


def rotation_invariant_case(label: str, n: int, max_epochs: int, seed: int = 0) -> dict:
    """Rotation invariants of two 4-vectors (so(4), 6 generators) or of one 6-vector and a scalar (so(6), 15).

    ``"two 4-vectors"``: y = cos(a.a / 2) + (a.b) exp(-b.b / 4); ``"6-vector + scalar"``:
    y = cos(v.v / 3) * (1 + s) + 0.5 s^2. The generators found are compared with the rotations
    (acting on both 4-vectors at once, or on the 6-vector alone): largest principal angle, next to the
    expected resolution the probe reports from the network's error.
    """
    from physlens.data import Dataset
    from physlens.probes.symmetry import run
    from physlens.scoring.symmetry import subspace_angle_deg
    from physlens.train import train_default

    rng = np.random.default_rng(seed)
    if label == "two 4-vectors":
        X = rng.normal(size=(n, 8))
        a, b = X[:, :4], X[:, 4:]
        # not separable into independent quadratic forms (cos(a.a/2) + a.b + 0.3 b.b is invariant under
        # so(4) + so(4): rotations of a and of b + 5a/3 separately - the network found those 12)
        y = np.cos((a * a).sum(1) / 2) + (a * b).sum(1) * np.exp(-(b * b).sum(1) / 4)
        names, blocks, d = [f"a{i}" for i in range(4)] + [f"b{i}" for i in range(4)], [0, 4], 4
    else:
        X = rng.normal(size=(n, 7))
        v, s_ = X[:, :6], X[:, 6]
        y = np.cos((v * v).sum(1) / 3) * (1 + s_) + 0.5 * s_**2
        names, blocks, d = [f"v{i}" for i in range(6)] + ["s"], [0], 6
    m = X.shape[1]
    truth = []
    for i in range(d):
        for j in range(i + 1, d):
            G = np.zeros((m, m + 1))
            for o in blocks:
                G[o + i, o + j], G[o + j, o + i] = -1.0, 1.0
            truth.append(G)
    ds = Dataset(X, y, names, ["y"])
    t0 = time.perf_counter()
    res = train_default(ds, seed=seed, progress=False, epochs=max_epochs)
    t1 = time.perf_counter()
    findings = run(res.model, ds, seed=seed)
    t2 = time.perf_counter()
    cont = [f for f in findings if "generators" in f.value]
    row = {"case": f"so({d}): {label}", "model": "mlp", "n": n, "d_in": m, "val_loss": res.best_val_loss,
           "train_s": t1 - t0, "probe_s": t2 - t1, "truth_dim": len(truth), "continuous_dim": 0}
    if cont:
        gens = cont[0].value["generators"]
        res_ = cont[0].value.get("resolution") or {}
        ws = cont[0].value.get("weight_space") or {}
        row.update(continuous_dim=len(gens), group=cont[0].value["group"],
                   angle_deg=subspace_angle_deg(gens, truth) if len(gens) >= len(truth) else None,
                   truth_in_found_deg=subspace_angle_deg(truth, gens) if len(gens) >= len(truth) else None,
                   found_in_truth_deg=subspace_angle_deg(gens, truth),
                   expected_resolution_deg=res_.get("max_expected_deg"), worst_resolution_deg=res_.get("max_worst_deg"),
                   weight_space_dim=ws.get("dimension"), weight_space_angle_deg=ws.get("angle_deg"),
                   weight_space_carried=(f"{ws['carried']}/{len(gens)}" if ws.get("carried") is not None else None),
                   first_order_resolution_deg=res_.get("first_order_max_expected_deg"),
                   error_limited_resolution_deg=res_.get("max_error_limited_deg"),
                   median_expected_resolution_deg=(float(np.median(res_["expected_deg"])) if res_.get("expected_deg")
                                                   else None), **_gap_columns(ws))
        row["continuous_match"] = bool(len(gens) == len(truth) and row["found_in_truth_deg"] < 5)
    return row


def random_function(seed: int):
    """A random smooth function of two inputs with no affine symmetry (sum of three plane waves + a cubic)."""
    rng = np.random.default_rng(1000 + seed)
    A = rng.normal(size=(3, 2)) * 1.5
    b = rng.uniform(0, 2 * np.pi, 3)
    c = rng.uniform(0.5, 1.0, 3) * rng.choice([-1, 1], 3)
    cubic = rng.normal(size=4) * 0.3

    def f(X):
        x, y = X[:, 0], X[:, 1]
        return (c * np.sin(X @ A.T + b)).sum(1) + cubic[0] * x**3 + cubic[1] * x**2 * y + cubic[2] * x * y**2 + cubic[3] * y**3

    return f


def false_positive_case(seed: int, n: int, max_epochs: int) -> dict:
    """Train on a random non-symmetric function; any reported symmetry is a false positive."""
    from physlens.data import Dataset
    from physlens.probes.symmetry import run
    from physlens.train import train_default

    rng = np.random.default_rng(seed)
    X = rng.uniform(-1.5, 1.5, size=(n, 2))
    ds = Dataset(X, random_function(seed)(X), ["x", "y"], ["f"])
    res = train_default(ds, seed=seed, progress=False, epochs=max_epochs)
    findings = run(res.model, ds, seed=seed)
    cont = [f for f in findings if "generators" in f.value]
    disc = [f for f in findings if "transform" in f.value]
    return {"case": f"random function {seed}", "val_loss": res.best_val_loss,
            "continuous_dim": len(cont[0].value["generators"]) if cont else 0,
            "discrete_found": [f.value["name"] for f in disc],
            "violation_of_first_rejected": next((t["violation_over_error"] for f in cont for t in f.evidence["tests"]
                                                 if t.get("p_value", 1) < 0.01), None)}


def anisotropic_case(n: int, max_epochs: int) -> dict:
    """A quadrupole-deformed Coulomb potential U = -1/r - 0.3 (x^2 - y^2)/r^3 on an annulus: no rotation symmetry."""
    from physlens.data import Dataset
    from physlens.probes.symmetry import run
    from physlens.train import train_default

    rng = np.random.default_rng(7)
    r = rng.uniform(0.7, 2.0, n)
    th = rng.uniform(0, 2 * np.pi, n)
    X = np.column_stack([r * np.cos(th), r * np.sin(th)])
    U = -1 / r - 0.3 * (X[:, 0] ** 2 - X[:, 1] ** 2) / r**3
    ds = Dataset(X, U, ["x", "y"], ["U"])
    res = train_default(ds, progress=False, epochs=max_epochs)
    findings = run(res.model, ds)
    cont = [f for f in findings if "generators" in f.value]
    return {"case": "anisotropic potential", "val_loss": res.best_val_loss,
            "continuous_dim": len(cont[0].value["generators"]) if cont else 0,
            "discrete_found": [f.value["name"] for f in findings if "transform" in f.value],
            "expected": "no continuous symmetry; flips of x and of y are symmetries, the swap is not"}


def hidden_symmetry_case(n: int) -> dict:
    """y = cos(0.7 (u1^2 + u2^2)) + generic terms in u3..u5, x = A u + c: find the rotation through the CLI."""
    from physlens.scoring.symmetry import subspace_angle_deg

    rng = np.random.default_rng(11)
    U = rng.normal(size=(n, 5))
    y = np.cos(0.7 * (U[:, 0] ** 2 + U[:, 1] ** 2)) + np.sin(1.3 * U[:, 2]) + 0.4 * U[:, 3] ** 3 + 0.5 * np.tanh(U[:, 4]) * U[:, 2]
    A = rng.normal(size=(5, 5))
    c = rng.normal(size=5) * 3
    X = U @ A.T + c
    J = np.zeros((5, 5))
    J[0, 1], J[1, 0] = -1.0, 1.0
    L = A @ J @ np.linalg.inv(A)
    truth = np.hstack([L, (-L @ c)[:, None]])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "hidden.csv"
        np.savetxt(path, np.column_stack([X, y]), delimiter=",", header="a,b,c,d,e,y", comments="")
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "physlens.cli", "symmetries", str(path), "--target", "y", "--json"],
                             capture_output=True, text=True, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"})
        wall = time.perf_counter() - t0
    if out.returncode != 0:
        return {"case": "hidden rotation (CLI)", "error": out.stderr[-500:]}
    from physlens.findings import findings_from_json

    findings = findings_from_json(json.loads(out.stdout)["findings"])
    cont = [f for f in findings if "generators" in f.value]
    row = {"case": "hidden rotation (CLI)", "wall_s": wall, "continuous_dim": 0, "angle_deg": None}
    if cont:
        gens = cont[0].value["generators"]
        row.update(continuous_dim=len(gens), group=cont[0].value["group"], angle_deg=subspace_angle_deg(gens, [truth]))
    row["match"] = bool(row["continuous_dim"] == 1 and row["angle_deg"] is not None and row["angle_deg"] < 5)
    return row


def speed_case(max_epochs: int) -> dict:
    """10 inputs, 10,000 samples: time of the probe (training timed separately)."""
    import torch

    from physlens.data import Dataset
    from physlens.probes.symmetry import run
    from physlens.train import train_default

    rng = np.random.default_rng(3)
    X = rng.normal(size=(10_000, 10))
    y = (np.cos(0.5 * (X[:, 0] ** 2 + X[:, 1] ** 2 + X[:, 2] ** 2)) + np.sin(X[:, 3]) * X[:, 4]
         + 0.3 * X[:, 5] ** 3 + np.tanh(X[:, 6] + X[:, 7]) * X[:, 8])
    ds = Dataset(X, y, [f"x{i}" for i in range(10)], ["y"])
    t0 = time.perf_counter()
    res = train_default(ds, progress=False, epochs=max_epochs)
    t1 = time.perf_counter()
    findings = run(res.model, ds)
    t2 = time.perf_counter()
    cont = [f for f in findings if "generators" in f.value]
    from physlens.scoring.symmetry import subspace_angle_deg

    # The true algebra of y: so(3) on x0..x2 (3), x6 -> x6 + eps g, x7 -> x7 - eps g for any affine g
    # (tanh sees x6 + x7 only: 11), and x9 -> x9 + eps g (x9 unused: 11); 25 generators [L | b].
    def unit(rows_signs, j):
        G = np.zeros((10, 11))
        for r, s in rows_signs:
            G[r, j] = s
        return G

    so3 = []
    for a, b in ((0, 1), (0, 2), (1, 2)):
        G = np.zeros((10, 11))
        G[a, b], G[b, a] = -1.0, 1.0
        so3.append(G)
    truth = so3 + [unit([(6, 1.0), (7, -1.0)], j) for j in range(11)] + [unit([(9, 1.0)], j) for j in range(11)]
    gens = [np.asarray(g) for g in cont[0].value["generators"]] if cont else []
    return {"case": "speed: 10 inputs x 10,000 samples", "train_s": t1 - t0, "probe_s": t2 - t1,
            "torch_threads": torch.get_num_threads(), "val_loss": res.best_val_loss,
            "continuous_dim": len(gens), "truth_dim": len(truth),
            "group": cont[0].value["group"] if cont else None,
            # largest angle of the found algebra inside the true one (0 when every found generator is a symmetry)
            "found_in_truth_deg": subspace_angle_deg(gens, truth) if gens else None,
            # largest angle of so(3) inside the found algebra (0 when the rotations were all found)
            "so3_in_found_deg": subspace_angle_deg(so3, gens) if len(gens) >= 3 else None,
            "expected": "25-dim algebra: so(3) on x0..x2, opposite affine moves of x6 and x7, any affine move of the "
            "unused x9 (some of the latter may be reported undetermined: the network's power to see x9 is nil)"}


def _fmt(v):
    if isinstance(v, float):
        return f"{v:.3g}"
    if isinstance(v, list):
        return ",".join(str(x) for x in v) if len(v) <= 4 else f"{len(v)} items"
    if isinstance(v, dict):
        return ",".join(f"{k}:{('Y' if x else 'n') if isinstance(x, bool) else _fmt(x)}" for k, x in v.items())
    return str(v)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="5 random functions, smaller data, fewer epochs")
    ap.add_argument("--functions", type=int, default=20, help="random non-symmetric functions")
    ap.add_argument("--workers", type=int, default=2, help="cases side by side (CPU cores)")
    ap.add_argument("--executor", choices=["local", "ray"], default="local", help="physlens.execution backend")
    ap.add_argument("--address", type=str, default=None, help="Ray cluster address (default: a local cluster)")
    ap.add_argument("--epochs", type=int, default=0, help="training epochs (default 200, 120 with --quick)")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every sample count by this")
    ap.add_argument("--out", default="symmetry", help="name of the JSON file in benchmarks/results/")
    ap.add_argument("--only", default="", help="comma-separated parts: systems,rotations,fp,aniso,hidden,speed")
    ap.add_argument("--systems", default="", help="comma-separated system labels (default: all)")
    args = ap.parse_args()
    parts = set(args.only.split(",")) if args.only else {"systems", "rotations", "fp", "aniso", "hidden", "speed"}
    epochs = args.epochs or (120 if args.quick else 200)
    nfun = 5 if args.quick else args.functions
    results: dict = {"systems": [], "false_positives": [], "other": []}
    t_start = time.perf_counter()
    from physlens.execution import Task, run_tasks

    jobs: list[tuple[str, Task]] = []  # (results key, task)
    if "speed" in parts:
        jobs.append(("other", Task("speed", "symmetry:speed_case", {"max_epochs": 60 if args.quick else 100}, cpus=1)))
    if "systems" in parts:
        for label, name, params, n, *model in SYSTEMS:
            if args.systems and label not in args.systems.split(","):
                continue
            jobs.append(("systems", Task(f"system/{label}", "symmetry:system_case",
                                         {"label": label, "name": name, "params": params, "n": int(n * args.scale),
                                          "max_epochs": epochs, "seed": 0,
                                          **dict(zip(("model", "model_params"), model))}, cpus=1)))
    if "rotations" in parts:
        for label in ("two 4-vectors", "6-vector + scalar"):
            jobs.append(("systems", Task(f"rotations/{label}", "symmetry:rotation_invariant_case",
                                         {"label": label, "n": int(4000 * args.scale), "max_epochs": epochs}, cpus=1)))
    if "aniso" in parts:
        jobs.append(("other", Task("aniso", "symmetry:anisotropic_case", {"n": int(2000 * args.scale), "max_epochs": epochs},
                                   cpus=1)))
    if "hidden" in parts:
        jobs.append(("other", Task("hidden", "symmetry:hidden_symmetry_case", {"n": int(3000 * args.scale)}, cpus=1)))
    if "fp" in parts:
        for s in range(nfun):
            jobs.append(("false_positives", Task(f"fp/{s}", "symmetry:false_positive_case",
                                                 {"seed": s, "n": int(1500 * args.scale), "max_epochs": epochs}, cpus=1)))
    where = {t.key: key for key, t in jobs}

    def show(r) -> None:
        # a failing case is reported, not hidden
        row = r.value if r.ok else {"case": r.key, "error": r.error}
        results[where[r.key]].append(row)
        print(f"[{time.perf_counter() - t_start:6.0f}s] {json.dumps(row, default=str)}", file=sys.stderr, flush=True)

    run_tasks([t for _, t in jobs], executor=args.executor, jobs=args.workers, address=args.address, on_result=show)

    fps = results["false_positives"]
    if fps:
        results["false_positive_rate_continuous"] = float(np.mean([r.get("continuous_dim", 0) > 0 for r in fps]))
        results["false_positive_rate_discrete"] = float(np.mean([len(r.get("discrete_found", [])) > 0 for r in fps]))
        results["false_positive_functions"] = len(fps)

    cols = ["case", "model", "n", "d_in", "val_loss", "model_explained", "continuous_dim", "group", "truth_dim", "angle_deg",
            "physical_dim", "physical_group", "physical_angle_deg", "continuous_match", "truth_discrete_found",
            "discrete_reported", "discrete_spurious", "undetermined", "group_statement", "physical_group_statement",
            "group_components", "group_match", "discrete_implied", "flow_statement", "function_group_statement",
            "expected_resolution_deg", "median_expected_resolution_deg", "first_order_resolution_deg",
            "error_limited_resolution_deg", "needs_relative_error",
            "weight_space_dim", "weight_space_angle_deg", "weight_space_physical_angle_deg", "weight_space_carried",
            "weight_space_gap_dim", "weight_space_gap_ratio", "weight_space_gap_angle_deg",
            "weight_space_gap_physical_angle_deg", "weight_space_gap_null_deg",
            "weight_space_physical_carried", "truth_discrete_in_group", "architectural", "latent_source", "latent_blocks", "latent_error",
            "train_s", "probe_s"]
    print("\n## Systems")
    print(" | ".join(cols))
    for r in results["systems"]:
        print(" | ".join(_fmt(r.get(c)) for c in cols))
    print("\n## Other cases")
    for r in results["other"]:
        print({k: _fmt(v) for k, v in r.items()})
    if fps:
        print(f"\n## False positives over {len(fps)} random non-symmetric functions of (x, y)")
        print(f"continuous: {results['false_positive_rate_continuous']:.2f}   discrete: {results['false_positive_rate_discrete']:.2f}")
        for r in fps:
            print({k: _fmt(v) for k, v in r.items()})
    out = ROOT / "benchmarks" / "results" / f"{args.out}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    from physlens.findings import to_jsonable
    from physlens.io import write_json

    from provenance import commit

    results["git_commit"] = commit()
    results["command"] = " ".join(sys.argv)
    write_json(out, to_jsonable(results))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
