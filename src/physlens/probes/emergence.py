"""Emergence over training: the epoch at which each finding starts to hold, and whether it stays.

The study's other probes read the trained network once. This probe replays the
cheap part of each of their tests on the weight snapshots saved during training
(log-spaced epochs, :func:`physlens.train.fit`) and on the returned model, in the
spirit of the training-dynamics studies of learned structure (Achille, Rovere &
Soatto 2019, "Critical learning periods in deep networks"; Nanda et al. 2023,
"Progress measures for grokking via mechanistic interpretability"): a statistic
per finding and epoch, compared with the threshold of the finding's own test.

* ``relevant-variable`` (attribution probe): the permutation importance of the
  input (:func:`physlens.probes.attribution.permutation_importance`, on-support
  shuffles) over the target variance, against the threshold the attribution
  probe used (``evidence["threshold"]``, fixed at its final value so every epoch
  is read against one line), decided as that probe decides (the lower bound, two
  standard errors over the shuffles, must clear it). Holds while the verdict
  (relevant or not) is the finding's.
* ``symmetry`` (symmetry probe): for each generator of a continuous algebra (its
  physical part first, at most ``max_generators``) the probe's finite-flow test
  at the scale it accepts candidates (a flow of one standard deviation RMS,
  :func:`~physlens.probes.symmetry.transform_test.transform_test` with its power
  :func:`~physlens.probes.symmetry.transform_test.contrast_test`); for a discrete
  symmetry :func:`physlens.probes.symmetry.discrete.discrete_symmetries` on that
  one transform. The statistic is the violation over the snapshot's own error
  (the largest over the generators; 1 is the reference line: a change as large as
  the model's error). Holds when every test passes, power contrast included, so
  an early network too coarse to resolve the move does not count as symmetric
  (``contrast_margin``: the control move's change minus the symmetry's, over the
  error budget; above 1 the network resolves the move). Measured on 2-D Kepler
  energy (3000 rows, 150 epochs): the violation ratio stayed below 1 from epoch 1,
  while the rotation algebra held (power included) from epoch 28.
* ``interaction``: the interactions probe's own ``run`` on each snapshot, the
  finding of the same pair and target read: its ``strength`` (holds while the
  interacting verdict is the final one).
* the spectra probe's ``quality`` findings: the layer's power-law ``alpha`` by
  :func:`physlens.probes.spectra.analyze` on each snapshot (holds once it is within
  the final value's error bar, ``alpha_error``, or 10 % of it).

Each followed finding gets ``evidence["emergence"] = {"epochs", "statistic",
"threshold", "holds", "first_holds", "holds_from", "stays"}``: ``first_holds`` is
the first epoch at which it holds, ``holds_from`` the epoch from which it holds to
the end, ``stays`` whether it holds at every epoch after ``first_holds``. The last
point is the returned model (best validation weights), labelled with the last
epoch trained; it is what the other probes read, so its statistic is the one to
compare with theirs. A ``quality`` finding (subject ``"emergence"``) summarises
all of them and carries the series the report plots.

Written here rather than taken from a library: no library replays another
tool's tests over checkpoints; the tests themselves are the other probes' public
functions.
"""

from __future__ import annotations

import copy
import time

import numpy as np
import torch

from physlens.clock import work_seconds
from physlens.data.dataset import Dataset
from physlens.findings import Finding

REQUIRES: dict = {}
COST = 0.5

FOLLOWED = ("relevant-variable", "symmetry", "interaction", "quality")


def applies(dataset: Dataset) -> str | None:
    """None: any data a model was trained on can be followed over training (snapshots are checked in ``run``).

    Example:
        >>> applies(Dataset(np.zeros((5, 1)), np.zeros(5), ["t"], ["x"])) is None
        True
    """
    if dataset.d_in < 1:
        return "no input columns"
    return None


def emergence_summary(epochs: list[int], holds: list[bool | None]) -> dict:
    """``first_holds`` (first epoch it holds), ``holds_from`` (from when it holds to the end) and ``stays``.

    Example:
        >>> emergence_summary([1, 2, 5, 10, 20], [False, True, False, True, True])
        {'first_holds': 2, 'holds_from': 10, 'stays': False}
        >>> emergence_summary([1, 2], [False, False])
        {'first_holds': None, 'holds_from': None, 'stays': False}
    """
    idx = [i for i, h in enumerate(holds) if h]
    if not idx:
        return {"first_holds": None, "holds_from": None, "stays": False}
    first = idx[0]
    stays = all(bool(h) for h in holds[first:])
    k = len(holds)
    while k > 0 and holds[k - 1]:
        k -= 1
    return {"first_holds": int(epochs[first]), "holds_from": int(epochs[k]) if k < len(holds) else None,
            "stays": bool(stays)}


def _spread_order(n: int) -> list[int]:
    """Indices 0..n-1 ordered so that any prefix covers the range evenly (last, first, middle, quarters ...)."""
    if n <= 0:
        return []
    order, seen = [n - 1, 0], {n - 1, 0}
    parts = 2
    while len(seen) < n:
        for j in range(1, parts, 2):
            i = int(round(j * (n - 1) / parts))
            if i not in seen:
                seen.add(i)
                order.append(i)
        parts *= 2
        if parts > 4 * n:
            order += [i for i in range(n) if i not in seen]
            break
    return order[:n] if n > 1 else [0]


def training_points(model: torch.nn.Module, training) -> list[tuple[int, dict, str]]:
    """``(epoch, state_dict, label)`` to replay: the snapshots before the last epoch, then the returned model.

    Example:
        >>> lin = torch.nn.Linear(1, 1)
        >>> class T: snapshots = [(1, lin.state_dict())]; history = [{"epoch": 1}, {"epoch": 2}]
        >>> [(e, lab) for e, _, lab in training_points(lin, T)]
        [(1, 'snapshot'), (2, 'returned model')]
    """
    snaps = sorted(getattr(training, "snapshots", None) or [], key=lambda s: s[0])
    history = getattr(training, "history", None) or []
    last = max([int(h.get("epoch", 0)) for h in history] + [int(e) for e, _ in snaps] + [0])
    points = [(int(e), s, "snapshot") for e, s in snaps if int(e) < last]
    final = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    points.append((last, final, "returned model"))
    return points


class _Follower:
    """One followed finding: how to measure it on a model, and its series."""

    def __init__(self, finding: Finding, label: str, threshold: float | None) -> None:
        self.finding, self.label, self.threshold = finding, label, threshold
        self.series: dict[int, tuple[float, bool | None]] = {}
        self.power: dict[int, float] = {}  # symmetry: the power contrast's margin over the error budget
        self.detail: dict[int, tuple] = {}  # per generator: passes, passes unresolved, contrast margin
        self.note: str | None = None


def _relevance_followers(findings: list[Finding], dataset: Dataset) -> list[_Follower]:
    out = []
    for f in findings:
        v = f.value if isinstance(f.value, dict) else {}
        if f.kind != "relevant-variable" or v.get("variable") not in dataset.input_names:
            continue
        if f.target is not None and f.target not in dataset.target_names:
            continue
        thr = (f.evidence or {}).get("threshold")
        verb = "affects" if v.get("relevant") else "does not affect"
        out.append(_Follower(f, f"{v['variable']} {verb} {f.target or 'the target'}",
                             None if thr is None else float(thr)))
    return out


def _measure_relevance(followers: list[_Follower], model, dataset: Dataset, X: np.ndarray, Y: np.ndarray,
                       epoch: int, seed: int, repeats: int) -> None:
    from physlens.probes.attribution import permutation_importance

    if not followers:
        return
    quantile = next(((f.finding.evidence or {}).get("typical_quantile") for f in followers
                     if (f.finding.evidence or {}).get("typical_quantile") is not None), 0.9)
    mean, std = permutation_importance(model, X, repeats=repeats, seed=seed, support=True, quantile=quantile)
    typical = permutation_importance.typical
    var = np.var(Y, axis=0)
    var = np.where(var > 0, var, 1.0)
    for fo in followers:
        v, ev = fo.finding.value, fo.finding.evidence or {}
        j = dataset.input_names.index(v["variable"])
        k = dataset.target_names.index(fo.finding.target) if fo.finding.target is not None else 0
        stat = float(mean[j, k] / var[k])
        # the attribution probe's own decision: the effect's lower 2-standard-error bound clears the threshold
        # and the typical row moves by more than the model's typical error
        low = stat - 2.0 * float(std[j, k] / var[k]) / np.sqrt(max(repeats, 1))
        broad = float(typical[j, k] / var[k]) > float(ev.get("typical_threshold", 0.0))
        holds = None if fo.threshold is None else bool(((low > fo.threshold) and broad) == bool(v.get("relevant")))
        fo.series[epoch] = (stat, holds)


def _symmetry_followers(findings: list[Finding], max_generators: int) -> list[_Follower]:
    out = []
    for f in findings:
        v = f.value if isinstance(f.value, dict) else {}
        if f.kind != "symmetry" or f.probe not in ("symmetry", ""):
            continue
        if v.get("generators") is not None and len(v.get("generators")) > 0:
            phys = v.get("physical") if isinstance(v.get("physical"), dict) else {}
            gens = list(phys.get("generators") or []) or list(v["generators"])
            fo = _Follower(f, f"{v.get('group') or 'continuous algebra'} ({len(v['generators'])} generators)", 1.0)
            fo.generators = [np.asarray(g, dtype=np.float64) for g in gens[:max_generators]]
            fo.equivariant = v.get("output_generators") is not None
            if len(gens) > max_generators:
                fo.note = f"{max_generators} of {len(gens)} generators followed"
            out.append(fo)
        elif v.get("transform") is not None:
            fo = _Follower(f, str(v.get("name") or f.subject or "discrete symmetry"), 1.0)
            fo.transform = np.asarray(v["transform"], dtype=np.float64)
            out.append(fo)
    return out


def _flow_test(ctx, A: np.ndarray, equivariant: bool, test_samples: int, seed: int):
    """The symmetry probe's own test of one generator: a flow moving the data by one standard deviation RMS
    (halved until enough images stay inside the data), the error-calibrated test and its power contrast.

    This is the scale at which :func:`physlens.probes.symmetry.continuous.lie_generators` accepts a
    candidate; its ``check_generator`` starts from flows 8 times longer, where a generator estimated to
    0.5 % (a rotation with a 0.005 scaling part) fails by extrapolation: measured on x^2 + y^2, the so(2)
    generator the probe accepted at violation 0.85 x the error gave 3.2 x at the long flow.
    """
    from physlens.probes.symmetry.continuous import first_testable_flow, judge_power, normalised_generator

    rng = np.random.default_rng(seed)
    m = len(ctx.X)
    idx = rng.choice(m, size=min(test_samples, m), replace=False)
    normalised = normalised_generator(ctx, A, idx, equivariant)
    if normalised is None:
        return None
    A_z, Mc, _rms = normalised
    result, X_img, rho, _t = first_testable_flow(ctx, idx, A_z, Mc)
    if result is None:
        return None
    judge_power(ctx, idx, result, X_img, rho, rng)
    return result


def _trivial_generators(fo: _Follower, final_epoch: int) -> None:
    """Judge generators the final network cannot resolve by the error test alone.

    A generator that passes the error test but not the power contrast on the returned model (a shift of
    inputs the network ignores, which the symmetry probe accepts as trivially symmetric) can never be
    resolved on an earlier snapshot either; requiring it would make the algebra never hold (measured on the
    n-body graph emulator: the velocity shifts of its physical part). For it, passing the error test counts.
    """
    if final_epoch not in fo.detail:
        return
    trivial = fo.detail[final_epoch][1]
    if not any(trivial):
        return
    for epoch, (ok, unres, margins) in fo.detail.items():
        passes = [o or (t and u) for o, t, u in zip(ok, trivial, unres)]
        fo.series[epoch] = (fo.series[epoch][0], bool(passes and all(passes)))
        resolvable = [m for m, t in zip(margins, trivial) if not t and np.isfinite(m)]
        fo.power[epoch] = float(min(resolvable)) if resolvable else float("nan")
    fo.note = ((fo.note + "; ") if fo.note else "") + (
        f"{sum(trivial)} generator(s) the returned model does not resolve (inputs it ignores) are judged by "
        "the error test alone")


def _margin(res) -> float:
    """How far the network resolves the move: (control change - change) / error budget (> 1 resolves)."""
    c = getattr(res, "contrast", None)
    return float("nan") if c is None else float(c.margin)


def _measure_symmetry(followers: list[_Follower], model, X: np.ndarray, Y: np.ndarray, groups, epoch: int,
                      seed: int, test_samples: int, alpha: float) -> None:
    from physlens.probes.symmetry.discrete import Candidate, discrete_symmetries
    from physlens.probes.symmetry.transform_test import SymmetryContext

    if not followers:
        return
    ctx = SymmetryContext.build(model, X, Y, alpha=alpha, groups=groups)
    for fo in followers:
        if hasattr(fo, "generators"):
            ratios, ok, unres, margins = [], [], [], []
            for A in fo.generators:
                res = _flow_test(ctx, A, fo.equivariant, test_samples, seed)
                ratios.append(float("nan") if res is None else float(res.ratio))
                ok.append(res is not None and bool(res.symmetric))
                unres.append(res is not None and bool(res.undetermined))
                margins.append(_margin(res))
            finite = [r for r in ratios if np.isfinite(r)]
            fo.detail[epoch] = (ok, unres, margins)
            fo.series[epoch] = (float(max(finite)) if finite else float("nan"), bool(ok and all(ok)))
            fo.power[epoch] = float(np.nanmin(margins)) if np.isfinite(margins).any() else float("nan")
        else:
            got = discrete_symmetries(ctx, [Candidate(fo.label, fo.transform)], test_samples, seed)
            if got:
                res = got[0][2]
                fo.series[epoch] = (float(res.ratio), bool(res.symmetric))
                fo.power[epoch] = _margin(res)
            else:
                fo.series[epoch] = (float("nan"), None)


def _probe_followers(findings: list[Finding], kind: str, probe: str, key) -> list[_Follower]:
    out = []
    for f in findings:
        if f.kind == kind and f.probe == probe and key(f) is not None:
            fo = _Follower(f, str(key(f)), None)
            out.append(fo)
    return out


def _interaction_key(f: Finding):
    v = f.value if isinstance(f.value, dict) else {}
    if "strength" not in v or not isinstance(v.get("variables"), (list, tuple)):
        return None
    return f"{' x '.join(map(str, v['variables']))}{' -> ' + f.target if f.target else ''}"


def _spectra_key(f: Finding):
    v = f.value if isinstance(f.value, dict) else {}
    # one finding per weight matrix, not the spectra summary (which counts the matrices)
    return v.get("layer") if v.get("alpha") is not None and "n_matrices" not in v else None


def _measure_by_probe(followers: list[_Follower], name: str, key, model, dataset: Dataset, epoch: int, seed: int,
                      budget: float | None) -> None:
    """Run probe ``name`` on this snapshot and read each follower's statistic off the matching finding."""
    from physlens.probes import probe_spec

    if not followers:
        return
    spec = probe_spec(name)
    opts = {}
    if spec.declares("seed"):
        opts["seed"] = seed
    if spec.declares("budget_seconds") and budget is not None:
        opts["budget_seconds"] = budget
    got = {key(f): f for f in spec.run(model, dataset, **opts) if key(f) is not None}
    for fo in followers:
        g = got.get(fo.label)
        if g is None:
            fo.series[epoch] = (float("nan"), None)
            continue
        thr = (g.evidence or {}).get("threshold")
        if thr is not None and isinstance(thr, (int, float)):
            fo.threshold = float(thr)
        fo.series[epoch] = (float(g.value["strength"]),
                            bool(bool(g.value.get("interacting")) == bool(fo.finding.value.get("interacting"))))


def _measure_spectra(followers: list[_Follower], model, epoch: int, seed: int) -> None:
    """Power-law alpha of each followed layer on this snapshot (:func:`physlens.probes.spectra.analyze`)."""
    if not followers:
        return
    from physlens.probes.spectra import analyze

    rows = {r["layer"]: r for r in analyze(model, n_boot=0, seed=seed, randomize=False)}
    for fo in followers:
        final = float(fo.finding.value["alpha"])
        err = fo.finding.value.get("alpha_error") or 0.1 * abs(final)
        fo.threshold = float(err)
        a = (rows.get(fo.label) or {}).get("alpha")
        stat = float("nan") if a is None else float(a)
        fo.series[epoch] = (stat, None if a is None else bool(abs(stat - final) <= float(err)))


def run(
    model: torch.nn.Module,
    dataset: Dataset,
    findings: list[Finding] | None = None,
    training=None,
    budget_seconds: float | None = None,
    seed: int = 0,
    max_rows: int = 2000,
    test_samples: int = 1000,
    repeats: int = 5,
    max_generators: int = 6,
    alpha: float = 0.01,
) -> list[Finding]:
    """Follow the other probes' findings over the training snapshots; one summary ``quality`` finding.

    Args:
        model: the trained emulator (its weights are not changed: snapshots are loaded into a copy).
        dataset: its data.
        findings: the other probes' findings (the study runner passes them; this probe runs last).
        training: the :class:`~physlens.train.fit.TrainResult` with ``snapshots``; without it, no finding.
        budget_seconds: time share; snapshots are replayed in an order that covers training evenly
            (the returned model and the first snapshot first) and the replay stops when it is spent.
        seed: for the row sample and the tests.
        max_rows: rows used for the statistics.
        test_samples: rows per symmetry test.
        repeats: shuffles per input for the relevance statistic.
        max_generators: generators of a continuous algebra followed (its physical part first).
        alpha: significance level of the symmetry tests (the finding's own level when it records one).

    Example:
        >>> from physlens.systems import get_system
        >>> from physlens.models import build_model
        >>> from physlens.train import fit, TrainConfig
        >>> ds = get_system("toy_distractor").sample(300)
        >>> res = fit(build_model("mlp", ds, width=16), ds, TrainConfig(epochs=8, n_snapshots=3, progress=False))
        >>> f = Finding("relevant-variable", "x1 affects y", {"variable": "x1", "relevant": True},
        ...             evidence={"threshold": 0.01}, probe="attribution", target="y", subject="x1")
        >>> summary = run(res.model, ds, findings=[f], training=res)
        >>> summary[0].subject, f.evidence["emergence"]["epochs"]
        ('emergence', [1, 3, 8])
    """
    if training is None or not getattr(training, "snapshots", None) or not findings:
        return []
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    # the attribution probe's own rows, in its order, and its number of shuffles: on the returned model
    # the replayed relevance statistic is then the probe's, not a second random draw of it
    rows = rng.choice(dataset.n, size=min(max_rows, dataset.n), replace=False)
    X, Y = dataset.X[rows], dataset.y[rows]
    groups = (dataset.aux or {}).get("trajectory")
    groups = None if groups is None or np.asarray(groups).ndim != 1 else np.asarray(groups)[rows]

    rel = _relevance_followers(findings, dataset)
    sym = _symmetry_followers(findings, max_generators)
    sym_alpha = {float((fo.finding.evidence or {}).get("alpha", alpha)) for fo in sym}
    sym_alpha = min(sym_alpha) if sym_alpha else alpha
    inter = _probe_followers(findings, "interaction", "interactions", _interaction_key)
    spec = _probe_followers(findings, "quality", "spectra", _spectra_key)
    followers = rel + sym + inter + spec
    if not followers:
        return []

    points = training_points(model, training)
    work = copy.deepcopy(model)
    work.eval()
    done: list[int] = []
    skipped = 0
    order = _spread_order(len(points))
    w0 = work_seconds()  # budget shares on the thread's CPU time (physlens.clock)
    for n_done, i in enumerate(order):
        elapsed = work_seconds() - w0
        if budget_seconds is not None and n_done >= 2 and elapsed * (n_done + 1) / n_done > budget_seconds:
            skipped = len(order) - n_done
            break
        epoch, state, _label = points[i]
        work.load_state_dict(state)
        work.eval()
        per_probe = None if budget_seconds is None else max(1.0, 0.5 * budget_seconds / len(points))
        with torch.no_grad():
            _measure_relevance(rel, work, dataset, X, Y, epoch, seed, repeats)
        _measure_symmetry(sym, work, X, Y, groups, epoch, seed, min(test_samples, len(rows)), sym_alpha)
        _measure_by_probe(inter, "interactions", _interaction_key, work, dataset, epoch, seed, per_probe)
        _measure_spectra(spec, work, epoch, seed)
        done.append(epoch)

    epochs = sorted(done)
    final_epoch = points[-1][0]
    for fo in sym:
        _trivial_generators(fo, final_epoch)
    series = []
    for fo in followers:
        stat = [fo.series[e][0] for e in epochs if e in fo.series]
        holds = [fo.series[e][1] for e in epochs if e in fo.series]
        ep = [e for e in epochs if e in fo.series]
        record = {"epochs": ep, "statistic": stat, "threshold": fo.threshold, "holds": holds,
                  **emergence_summary(ep, holds)}
        if fo.power:
            record["contrast_margin"] = [fo.power.get(e, float("nan")) for e in ep]
        if fo.note:
            record["note"] = fo.note
        fo.finding.evidence = {**(fo.finding.evidence or {}), "emergence": record}
        series.append({"label": fo.label, "kind": fo.finding.kind, "probe": fo.finding.probe,
                       "target": fo.finding.target, **record})

    never = [s for s in series if s["first_holds"] is None]
    unstable = [s for s in series if s["first_holds"] is not None and not s["stays"]]
    held = sorted([s for s in series if s["holds_from"] is not None], key=lambda s: s["holds_from"])
    parts = [f"{s['label']} from epoch {s['holds_from']}" for s in held[:6]]
    more = f" (+{len(held) - 6} more)" if len(held) > 6 else ""
    statement = (f"Over training ({len(epochs)} of {len(points)} snapshots, epochs {epochs[0]}-{epochs[-1]}), "
                 f"{len(held)} of {len(series)} followed findings hold to the end: {'; '.join(parts) or 'none'}{more}")
    if unstable:
        statement += f"; {len(unstable)} held and then lost again (" + ", ".join(s["label"] for s in unstable[:4]) + ")"
    if never:
        statement += f"; {len(never)} never held on the replayed snapshots"
    final_holds = [s["holds"][-1] for s in series if s["epochs"] and s["epochs"][-1] == final_epoch]
    agree = sum(bool(h) for h in final_holds)
    return [Finding(
        kind="quality",
        statement=statement,
        value={"name": "emergence", "epochs": epochs, "series": series,
               "final_epoch": final_epoch, "final_agrees": agree, "final_checked": len(final_holds)},
        evidence={"snapshots": len(points), "replayed": len(epochs), "skipped_for_time": skipped,
                  "rows": int(len(rows)), "seconds": time.perf_counter() - t0,
                  "followed": {"relevant-variable": len(rel), "symmetry": len(sym), "interaction": len(inter),
                               "spectra": len(spec)},
                  "final_weights": "the returned model (best validation weights), at the last epoch trained"},
        confidence=float(agree / len(final_holds)) if final_holds else 0.5,
        probe="emergence",
        subject="emergence",
    )]
