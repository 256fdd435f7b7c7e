"""Conserved quantities: how many from the trajectories, which in closed form from the emulator or the data.

Three readings, each a module of this package:

1. **The count** (:mod:`.count`): from the trajectories alone, the number of
   independent functions of a candidate library that stay constant along every
   trajectory while differing between them (a generalised eigenproblem of
   within- against total-trajectory variance, decided against the floor that
   measurement noise, estimated from the trajectories, gives a conserved function;
   then the functional rank of the null functions). No network is involved.
2. **The closed forms** (:mod:`.closed_forms`): H = sum c_k theta_k with
   grad H . f = 0. Three null bases compete: f the trained emulator (the decision
   calibrated on its held-out error), f the data's own time derivatives (the targets,
   or the project's derivative estimates for a file; as many directions as the count's
   null space), and the count's null functions themselves. Each basis is brought to
   echelon form and every form polished on the training trajectories (projected onto
   the conserved directions of its support, then thinned by backward elimination, so
   energy and angular momentum do not come out mixed), then read with small rationals
   and reduced to a functionally independent set. The reading kept is the one whose
   number of forms passing the held-out check is closest to the count, then the least
   varying on held-out trajectories (the data, not the network; a form varying by more
   than 10 % there, or more than 3x what the estimated noise explains, is rejected).
   The closed forms thus no longer need a fine emulator (Kepler at the quick budget:
   4-17 % emulator error). When the count and the closed forms disagree, an
   ``uncertainty`` finding says so (a quantity outside the library, or a coarse
   emulator).
3. **Noether and Hamilton**: with canonical coordinates (``meta["canonical"]``)
   each quantity Q generates the flow X_Q = (dQ/dp, -dQ/dq); it is paired with a
   continuous symmetry found by the symmetry probe when X_Q lies in the span of
   that symmetry's generators (rotation <-> angular momentum, translation <->
   momentum), and with time translation when X_Q is the emulator's own flow
   (the energy). A ``hamiltonian`` emulator's learned H is read as a closed form
   in the same library (least squares, thinned).

The library (:mod:`.library`) bounds what step 2 can write down. For coupled angles
it grows by terms over a denominator 1 + beta cos^2(theta_a - theta_b) whose beta is
fitted to the trajectories (the double pendulum's energy, rational in the angles, is
found with beta = -1/2), kept only when the count grows with it. When the trajectories
fill fewer dimensions than the library's count explains (the local-PCA count is higher),
wider libraries are tried in turn (:func:`.library.wider_libraries`: the positions as
angles, then polynomial degrees 4 and 5), and the first that counts more is kept: the
Duffing energy p^2/2 + q^2/2 + q^4/4, the energy of a pendulum file whose angle is called
``q``. A quantity outside even those shows as the disagreement finding rather than as a
wrong formula.
The baseline of the benchmark, AI Poincaré's local PCA count, is
:func:`.count.poincare_count`.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from physlens.data.dataset import Dataset
from physlens.expressions import expression_to_latex, expression_to_text
from physlens.findings import Finding
from physlens.probes.conservation.closed_forms import NULL_FACTOR, Constraint, TrajectoryScatter, read_forms
from physlens.probes.conservation.count import _standardise, noise_floor, noise_scale, poincare_count, trajectory_count
from physlens.probes.conservation.library import (
    Library,
    build_library,
    fit_denominator,
    rational_terms,
    state_map,
    wider_libraries,
)
from physlens.probes.equations.simplify import evaluate

#: no requirement to the runner: a coarse emulator (hidden parameters, noise) raises the error floor, and above
#: ``max_model_error`` the closed-form step is left out with a reason while the count from the data still runs
REQUIRES: dict = {}
COST = 0.5
MAX_MODEL_ERROR = 0.1
PAIR_RESIDUAL = 0.1  # relative residual below which X_Q is in the span of a symmetry's generators
MAX_VARIATION = 0.1  # a closed form varying by more than this along held-out data trajectories is rejected
NOISE_MARGIN = 3.0  # ... unless the measurement noise alone explains it within this factor


def _check_on_data(quantities, dataset: Dataset, rows: np.ndarray, scatter=None) -> tuple[list, list]:
    """Keep the quantities that the held-out data trajectories conserve.

    A form passes when its relative variation there is at most MAX_VARIATION, or at most NOISE_MARGIN times
    what the estimated measurement noise alone gives it (``scatter.noise_variation``: the energy of Kepler
    data with 1 % noise varies by 9 % through its 1/r term near pericentre), never above 2 x MAX_VARIATION.
    """
    kept, rejected = [], []
    for q in quantities:
        rv, _ = relative_variation(q.expression, dataset, rows)
        limit = MAX_VARIATION
        if scatter is not None:
            noise = NOISE_MARGIN * scatter.noise_variation(q.coefficients)
            limit = min(max(MAX_VARIATION, noise), 2 * MAX_VARIATION)
        (kept if np.isfinite(rv) and rv <= limit else rejected).append(q)
        q.variation = rv
    return kept, rejected


def applies(dataset: Dataset) -> str | None:
    """None when the data are trajectories whose targets are the state's time derivatives.

    Example:
        >>> from physlens.systems import get_system
        >>> applies(get_system("kepler", dim=2, points_per_trajectory=10).sample(200)) is None
        True
        >>> applies(get_system("toy_distractor").sample(20))
        'needs trajectories: no groups (run) column, so rows cannot be followed in time'
    """
    groups = dataset.groups()
    if groups is None:
        return "needs trajectories: no groups (run) column, so rows cannot be followed in time"
    labels, counts = np.unique(groups, return_counts=True)
    if int(np.sum(counts >= 2)) < 2:
        return "needs at least 2 trajectories of 2 or more points"
    if state_map(dataset) is None:
        return ("the targets are not the time derivatives of the inputs (columns d<name>_dt, or accelerations of "
                "particles), or an input changes along a trajectory without a derivative")
    return None


def trajectory_sample(groups: np.ndarray, max_trajectories: int, rng: np.random.Generator) -> np.ndarray:
    """Rows of at most ``max_trajectories`` whole trajectories (a random subset beyond it), in row order.

    Example:
        >>> g = np.repeat(np.arange(5), 3)
        >>> len(trajectory_sample(g, 2, np.random.default_rng(0))), len(trajectory_sample(g, 9, None))
        (6, 15)
    """
    labels = np.unique(groups)
    if len(labels) <= max_trajectories:
        return np.arange(len(groups))
    chosen = rng.choice(labels, size=max(2, max_trajectories), replace=False)
    return np.flatnonzero(np.isin(groups, chosen))


def thin_trajectories(rows: np.ndarray, groups: np.ndarray, max_rows: int) -> np.ndarray:
    """``rows`` with each trajectory thinned to evenly spaced samples so that at most ~``max_rows`` remain.

    Every trajectory keeps at least 3 samples, its first and its last.

    Example:
        >>> g = np.repeat(np.arange(4), 10)
        >>> thin_trajectories(np.arange(40), g, 20)[:5].tolist()
        [0, 2, 4, 7, 9]
    """
    if len(rows) <= max_rows:
        return rows
    labels = np.unique(groups[rows])
    per = max(3, max_rows // len(labels))
    out = []
    for g in labels:
        r = rows[groups[rows] == g]
        out.append(r[np.unique(np.round(np.linspace(0, len(r) - 1, min(per, len(r)))).astype(int))])
    return np.sort(np.concatenate(out))


def _variation_of_values(v: np.ndarray, g: np.ndarray) -> float:
    ok = np.isfinite(v)
    v, g = v[ok], g[ok]
    if len(v) < 2:
        return float("nan")
    _, inv = np.unique(g, return_inverse=True)
    means = np.bincount(inv, v) / np.bincount(inv)
    spread = np.std(v)
    return float(np.sqrt(np.mean((v - means[inv]) ** 2)) / spread) if spread > 0 else float("inf")


def relative_variation(expr: sp.Expr, dataset: Dataset, rows: np.ndarray) -> tuple[float, int]:
    """RMS within-trajectory spread of ``expr`` over its spread across all ``rows``, and the trajectories used.

    Example:
        >>> from physlens.systems import get_system
        >>> ds = get_system("harmonic_oscillator").sample(400)
        >>> q, p = sp.symbols("q p", real=True)
        >>> rv, k = relative_variation(p**2 + q**2, ds, np.arange(ds.n)); rv < 1e-6, k
        (True, 4)
    """
    cols = {n: dataset.X[rows, j] for j, n in enumerate(dataset.input_names)}
    v = evaluate(expr, cols)
    g = dataset.groups()[rows]
    return _variation_of_values(v, g), int(len(np.unique(g[np.isfinite(v)])))


def hamiltonian_field(grad: np.ndarray, canonical: dict, d_in: int, state: list[int]) -> np.ndarray | None:
    """X_Q = (dQ/dp, -dQ/dq) in input coordinates from gradients (P, len(state)); None without canonical pairs.

    Example:
        >>> hamiltonian_field(np.array([[1.0, 2.0]]), {"q": [0], "p": [1]}, 2, [0, 1]).tolist()
        [[2.0, -1.0]]
    """
    q, p = list(canonical.get("q", [])), list(canonical.get("p", []))
    if not q or len(q) != len(p) or any(j not in state for j in q + p):
        return None
    full = np.zeros((len(grad), d_in))
    full[:, state] = grad
    X = np.zeros_like(full)
    X[:, q] = full[:, p]
    X[:, p] = -full[:, q]
    return X


def _span_residual(target: np.ndarray, fields: list[np.ndarray]) -> tuple[float, np.ndarray]:
    A = np.stack([f.ravel() for f in fields], axis=1)
    b = target.ravel()
    coef, *_ = np.linalg.lstsq(A, b, rcond=None)
    nb = np.linalg.norm(b)
    return (float(np.linalg.norm(b - A @ coef) / nb) if nb > 0 else float("inf")), coef


def noether_pairs(quantities, gradients: list[np.ndarray], points: np.ndarray, flow: np.ndarray, dataset: Dataset,
                  state: list[int], findings: list[Finding] | None) -> list[dict | None]:
    """For each quantity, the symmetry whose generators span its Hamiltonian flow (or time translation), or None.

    Example:
        >>> from physlens.systems import get_system
        >>> ds = get_system("harmonic_oscillator").sample(100)
        >>> pts = ds.X[:50]
        >>> grad = np.stack([pts[:, 0], pts[:, 1]], 1)          # gradient of (q^2 + p^2)/2
        >>> flow = np.stack([pts[:, 1], -pts[:, 0]], 1)
        >>> noether_pairs([None], [grad], pts, flow, ds, [0, 1], [])[0]["symmetry"]
        'time translation'
    """
    canonical = dataset.meta.get("canonical") or {}
    out: list[dict | None] = []
    gens = []
    for f in findings or []:
        v = f.value if isinstance(f.value, dict) else {}
        if f.kind == "symmetry" and v.get("generators") is not None:
            G = [np.asarray(g, dtype=float) for g in v["generators"]]
            if G and all(g.shape == (dataset.d_in, dataset.d_in + 1) for g in G):
                gens.append((str(v.get("group") or f.subject or "symmetry"), G))
    for grad in gradients:
        XQ = hamiltonian_field(grad, canonical, dataset.d_in, state)
        if XQ is None:
            out.append(None)
            continue
        best = None
        res, coef = _span_residual(XQ, [flow])
        if res < PAIR_RESIDUAL:
            best = {"symmetry": "time translation", "residual": res, "coefficients": coef.tolist(),
                    "reading": "energy: its Hamiltonian flow is the emulator's own flow"}
        for name, G in gens:
            fields = [points @ g[:, :-1].T + g[:, -1] for g in G]
            r, c = _span_residual(XQ, fields)
            if r < PAIR_RESIDUAL and (best is None or r < best["residual"]):
                best = {"symmetry": name, "residual": r, "coefficients": c.tolist(),
                        "reading": "Noether: the quantity generates this continuous symmetry"}
        out.append(best)
    return out


def _learned_hamiltonian(model, lib, X: np.ndarray, V: np.ndarray) -> dict | None:
    """A ``hamiltonian`` emulator's H as a thinned least-squares combination of the library (with a constant)."""
    if not callable(getattr(model, "energy", None)):
        return None
    H = np.asarray(model.energy(X), dtype=float).ravel()
    A = np.hstack([np.ones((len(V), 1)), V])
    s = np.where(A.std(axis=0) > 0, A.std(axis=0), 1.0)
    s[0] = 1.0
    keep = np.ones(A.shape[1], bool)
    for _ in range(3):
        coef, *_ = np.linalg.lstsq(A[:, keep] / s[keep], H, rcond=None)
        full = np.zeros(A.shape[1])
        full[keep] = coef / s[keep]
        big = np.abs(full * s)
        keep = big >= 0.02 * big[1:].max()
        keep[0] = True
    resid = H - A @ full
    r2 = 1.0 - float(np.var(resid) / np.var(H)) if np.var(H) > 0 else 0.0
    expr = sum((sp.Float(float(f"{c:.4g}")) * t for c, t in zip(full[1:], lib.terms) if c != 0), sp.Integer(0))
    return {"expression": expression_to_text(expr), "r2": r2}


def run(
    model,
    dataset: Dataset,
    max_trajectories: int = 400,
    max_rows: int = 6000,
    degree: int | None = None,
    null_factor: float = NULL_FACTOR,
    max_model_error: float = MAX_MODEL_ERROR,
    seed: int = 0,
    heldout: np.ndarray | None = None,
    findings: list[Finding] | None = None,
) -> list[Finding]:
    """Conserved quantities of a trajectory dataset: the count from the data and the closed forms from the emulator.

    Args:
        model: the trained emulator of the flow (state -> time derivative).
        dataset: trajectories (``groups``) whose targets are the state's time derivatives.
        max_trajectories: trajectories used (a random subset beyond it). The sample is sized by trajectories, not
            rows: the count fits K library coefficients whose between-trajectory spread has one value per
            trajectory (noisy n-body, 106 terms: 150 of 200 trajectories counted 3, 4, 0 on three seeds; all 200, 4).
        max_rows: beyond it, every kept trajectory is thinned to evenly spaced samples (its noise is measured first).
        degree: polynomial degree of the library (default 3 up to 6 state variables, else 2; while the count
            stays below the local-PCA count, the positions as angles, then one degree more at a time up to
            ``library.MAX_DEGREE``, while the library has at most ``library.MAX_TERMS`` terms).
        null_factor: a direction is conserved when its rate is within this factor of the error floor.
        max_model_error: above this relative held-out error of the emulator, no closed form is read.
        seed: for the row subsample.
        heldout: validation rows of the emulator (the error floor and the relative variations are measured there).
        findings: the other probes' findings (the symmetry probe's generators, for Noether pairs).

    Returns one ``conserved`` finding per independent quantity (value: ``expression`` as text in the
    column names, ``latex``, ``relative_variation``, ``noether``), a ``quality`` finding with the count
    from the trajectories and its agreement with the closed forms, and an ``uncertainty`` finding when
    they disagree or the emulator is too coarse to read.

    Example (the exact oscillator flow stands in for a trained emulator):
        >>> import torch
        >>> from physlens.systems import get_system
        >>> ds = get_system("harmonic_oscillator", points_per_trajectory=20).sample(600)
        >>> flow = torch.nn.Linear(2, 2, bias=False).double()
        >>> _ = flow.weight.data.copy_(torch.tensor([[0.0, 1.0], [-1.0, 0.0]]))  # (dq/dt, dp/dt) = (p, -q)
        >>> [f.value["expression"] for f in run(flow, ds, heldout=np.arange(500, 600)) if f.kind == "conserved"]
        ['p**2 + q**2']
    """
    rng = np.random.default_rng(seed)
    smap = state_map(dataset)
    if smap is None:
        return []
    groups = dataset.groups()
    traj_rows = trajectory_sample(groups, max_trajectories, rng)
    rows = thin_trajectories(traj_rows, groups, max_rows)
    heldout = np.asarray(heldout, dtype=np.int64) if heldout is not None and len(heldout) >= 10 else None
    lib = build_library(dataset, smap, degree)
    state = smap.state
    X = dataset.X[rows]
    V, G = lib.values_and_gradients(X, wrt=state)
    sd_state = dataset.X[:, state].std(axis=0)
    sd_state = np.where(sd_state > 0, sd_state, 1.0)

    # 1. the count from the trajectories alone
    times = dataset.aux.get("time", dataset.aux.get("t"))
    tsub = None if times is None else np.asarray(times)[rows]
    # the noise is measured on the trajectories before thinning (differences of neighbouring samples)
    ttraj = None if times is None else np.asarray(times)[traj_rows]
    sigma = noise_scale(dataset.X[traj_rows][:, state], groups[traj_rows], ttraj)
    count = trajectory_count(V, G * sd_state[None, None, :], groups[rows], seed=seed, sigma=sigma / sd_state)
    traj_list = [X[groups[rows] == g][:, state] for g in np.unique(groups[rows])]
    baseline, _ = poincare_count(traj_list) if len(traj_list) <= 400 else (None, {})
    widened = []
    if degree is None and baseline is not None:
        # the trajectories fill fewer dimensions than the library explains: the quantity may be outside it.
        # Wider libraries are tried in turn and the first whose count is higher is kept: the positions as
        # angles (a pendulum file whose angle is called q), then one polynomial degree more at a time
        # (the Duffing energy p^2/2 + q^2/2 + q^4/4)
        for label, wider in wider_libraries(dataset, smap, len(lib)):
            if count.count >= baseline:
                break
            widened.append(label)
            V2, G2 = wider.values_and_gradients(X, wrt=state)
            if not (np.isfinite(V2).all() and np.isfinite(G2).all()):
                continue
            count2 = trajectory_count(V2, G2 * sd_state[None, None, :], groups[rows], seed=seed,
                                      sigma=sigma / sd_state)
            if count2.count > count.count:
                lib, V, G, count = wider, V2, G2, count2
                widened[-1] += " (kept)"
    # coupled angles: the library grows by terms over a denominator fitted to the trajectories, when that counts more
    rational = None
    fitted = fit_denominator(dataset, smap, lib, rows, V)
    if fitted is not None:
        wider = Library(lib.terms + rational_terms(dataset, smap, fitted[0]), lib.names)
        V2, G2 = wider.values_and_gradients(X, wrt=state)
        if np.isfinite(V2).all() and np.isfinite(G2).all():
            count2 = trajectory_count(V2, G2 * sd_state[None, None, :], groups[rows], seed=seed,
                                      sigma=sigma / sd_state)
            rational = {"beta": str(fitted[0]), "ratio_without": fitted[1], "ratio_with": fitted[2],
                        "count_without": count.count, "count_with": count2.count, "used": count2.count > count.count}
            if count2.count > count.count:
                lib, V, G, count = wider, V2, G2, count2

    # 2. the closed forms from the emulator
    from physlens.models.predict import predict_numpy  # torch only once a model is read

    pred = predict_numpy(model, X)
    F = smap.flow(X, pred)[:, state]
    hrows = heldout if heldout is not None else rows
    hX = dataset.X[hrows[:max_rows]]
    hpred = predict_numpy(model, hX)
    Rfull = smap.flow(hX, hpred) - smap.flow(hX, dataset.y[hrows[:max_rows]])
    R = Rfull[:, state]
    Ytrue = smap.flow(hX, dataset.y[hrows[:max_rows]])[:, state]
    model_error = float(np.sqrt(np.mean(R**2) / max(np.mean(Ytrue**2), 1e-300)))
    Vh, Gh = lib.values_and_gradients(hX, wrt=state)

    P = min(200, len(X))
    pts = rng.choice(len(X), size=P, replace=False)

    def grads_at(c: np.ndarray) -> np.ndarray:
        return np.einsum("pkd,k->pd", G[pts], c) * sd_state

    out: list[Finding] = []
    # null bases from three sources, each read into forms polished on the training trajectories
    fit = rows if heldout is None else np.setdiff1d(rows, heldout)
    if len(np.unique(groups[fit])) < 2:
        fit = rows
    in_fit = np.isin(rows, fit)
    sub = rng.choice(np.flatnonzero(in_fit), size=min(600, int(in_fit.sum())), replace=False)
    # the forms trust only a noise estimate that looks like white noise (an upper bound would loosen them)
    noise_scatter = noise_floor(G[sub], noise_scale(dataset.X[traj_rows][:, state], groups[traj_rows], ttraj,
                                                    resolved_only=True))
    scatter = TrajectoryScatter(V[in_fit], groups[fit], noise_scatter)
    bases: dict[str, np.ndarray] = {}
    ns = None
    if model_error <= max_model_error:
        ns = Constraint(G, F, Gh, R).null_space(null_factor)
        bases["emulator"] = ns.vectors
    if count.null_dim:
        Fd = smap.flow(X, dataset.y[rows])[:, state]
        bases["derivatives"] = Constraint(G, Fd, Gh, R).slowest(count.null_dim)
        _, zsd, zkeep = _standardise(V)
        raw = np.zeros((V.shape[1], count.null_dim))
        raw[zkeep] = count.null_functions / zsd[zkeep][:, None]
        bases["trajectories"] = raw
    readings = {}
    for source, basis in bases.items():
        if basis.shape[1] == 0:
            continue
        k, d = read_forms(basis, lib.terms, scatter, grads_at)
        k, r = _check_on_data(k, dataset, heldout if heldout is not None else np.arange(dataset.n), scatter)
        logs = [np.log10(max(q.variation, 1e-12)) for q in k]
        terms = sum(q.terms for q in k)
        # valid forms closest in number to the count, then least varying (to a tenth of a decade), then fewest terms
        readings[source] = ((-abs(len(k) - count.count), -round(float(np.mean(logs)), 1) if logs else 0.0, -terms),
                            k, d, r)
    source = max(readings, key=lambda s: readings[s][0]) if readings else None
    kept, dropped, rejected = (readings[source][1:] if source else ([], [], []))
    raw_grads = [np.einsum("pkd,k->pd", G[pts], q.coefficients) for q in kept]
    pairs = noether_pairs(kept, raw_grads, X[pts], smap.flow(X[pts], pred[pts]), dataset, state, findings)
    vrows = heldout if heldout is not None else np.arange(dataset.n)
    names = dataset.input_names
    for i, (q, pair) in enumerate(zip(kept, pairs)):
        rv, ntraj = relative_variation(q.expression, dataset, vrows)
        text = expression_to_text(q.expression)
        about = f"; {pair['symmetry']} ({'energy' if pair['symmetry'] == 'time translation' else 'Noether pair'})" \
            if pair else ""
        margin = q.rate / max(4.0 * q.floor, 1e-300)  # variation over 2x its floor (noise or 1e-3), squared
        agree = count.count == len(kept)
        confidence = float(np.clip((1.0 - 0.5 * min(margin, 1.0)) * (1.0 if agree else 0.7)
                                   * (1.0 if rv < 0.05 else 0.6), 0.0, 1.0))
        out.append(Finding(
            kind="conserved",
            statement=(f"{text} is conserved: it varies by {rv:.2g} of its spread along {ntraj} "
                       f"{'held-out ' if heldout is not None else ''}trajectories{about}"),
            value={"expression": text, "latex": expression_to_latex(q.expression), "relative_variation": rv,
                   "terms": q.terms, "noether": pair, "variables": [names[j] for j in state]},
            evidence={"training_variation": float(np.sqrt(q.rate)), "variation_floor": float(np.sqrt(q.floor)),
                      "source": source,
                      "trajectories": ntraj, "heldout": heldout is not None,
                      "count_from_trajectories": count.count, "closed_forms": len(kept),
                      "dependent_dropped": [expression_to_text(d.expression) for d in dropped]},
            confidence=confidence,
            probe="conservation",
            subject=(pair["symmetry"] if pair else f"C{i + 1}"),
        ))
    learned = _learned_hamiltonian(model, lib, X, V)
    n_model = len(kept) if readings or ns is not None else None
    agree = n_model is not None and n_model == count.count
    summary = (f"{count.count} independent conserved quantit{'y' if count.count == 1 else 'ies'} from the "
               f"trajectories alone (library null space of {count.null_dim}, gap x{count.gap:.3g}); "
               + (f"{n_model} in closed form (null space read from the {source or 'emulator'}; "
                  f"{'agree' if agree else 'DISAGREE'})"
                  if n_model is not None else
                  f"no closed forms read: the emulator misses the flow by {model_error:.1%} on held-out rows"))
    if rational is not None and rational["used"]:
        summary += (f"; library widened by terms over 1 + ({rational['beta']}) cos^2 of the angle differences "
                    f"(fitted to the trajectories)")
    kept_widenings = [w[: -len(" (kept)")] for w in widened if w.endswith(" (kept)")]
    if kept_widenings:
        summary += f"; library widened ({', '.join(kept_widenings)}) where the local-PCA count was higher"
    if baseline is not None:
        summary += f"; local-PCA (AI Poincaré-style) count {baseline}"
    if learned is not None:
        summary += f"; the Hamiltonian network's H reads {learned['expression']} (R² {learned['r2']:.4f})"
    out.append(Finding(
        kind="quality",
        statement=summary,
        value={"name": "conserved quantity count", "count_from_trajectories": count.count,
               "closed_forms": n_model, "agree": agree, "baseline_local_pca": baseline,
               "learned_hamiltonian": learned},
        evidence={"trajectory_spectrum": count.spectrum[:12], "trajectory_gap": count.gap,
                  "trajectory_null_dim": count.null_dim, "rank_agreement": count.rank_agreement,
                  "notes": count.notes, "model_relative_error": model_error,
                  "closed_form_source": source, "noise_scale": sigma.tolist(), "rational_denominator": rational,
                  "readings": {k: {"forms": [expression_to_text(q.expression) for q in r[1]],
                                   "heldout_variation": [q.variation for q in r[1]]} for k, r in readings.items()},
                  "emulator_spectrum": ns.spectrum[:12] if ns is not None else None,
                  "emulator_floors": ns.floors[:12] if ns is not None else None,
                  "emulator_null_dim": ns.dimension if ns is not None else None,
                  "emulator_gap": ns.gap if ns is not None else None,
                  "rejected_by_data": [{"expression": expression_to_text(q.expression), "relative_variation": q.variation}
                                       for q in rejected],
                  "library_terms": len(lib), "library_widenings": widened, "rows": int(len(rows))},
        confidence=count.confidence,
        probe="conservation",
        subject="conserved quantity count",
    ))
    if n_model is None or not agree:
        why = ("the emulator is too coarse to read closed forms (train longer or give more data)" if n_model is None
               else "a conserved quantity outside the candidate library (or a library function the data cannot "
                    "separate) when the trajectories count more; a coarse emulator when they count fewer")
        out.append(Finding(
            kind="uncertainty",
            statement=(f"Conserved quantities: the trajectories count {count.count}, the emulator gives "
                       f"{n_model if n_model is not None else 'no'} closed form(s): {why}"),
            value={"name": "conserved count disagreement", "count_from_trajectories": count.count,
                   "closed_forms": n_model},
            confidence=0.5 if n_model is None else float(count.confidence),
            probe="conservation",
            subject="conserved quantity count",
        ))
    return out


__all__ = ["applies", "noether_pairs", "poincare_count", "relative_variation", "run", "trajectory_count"]
