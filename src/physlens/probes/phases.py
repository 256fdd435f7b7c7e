"""Phase transitions learned from configurations: the critical point three ways, the order parameter, or no transition.

Each row is one configuration (one column per site) sampled at a value of a
control parameter (temperature, field). Three families of method locate the
transition, each with a bootstrap uncertainty over configurations:

* **supervised extremes** (Carrasquilla & Melko 2017, Nature Physics 13, 431):
  a small network is trained to tell the configurations of the lowest fifth of
  control values from those of the highest fifth; the critical point is where
  its mean predicted probability crosses 1/2, and the width of that step (a
  logistic fit) shrinks as L^(-1/nu) with the lattice size;
* **confusion** (van Nieuwenburg, Liu & Huber 2017, Nature Physics 13, 435):
  for each proposed split c' the configurations are labelled by c < c' and a
  network is trained on half of them; its held-out accuracy is W-shaped over c'
  (trivially high at the ends, a peak at the true transition). A peak that does
  not rise significantly above the dips on both sides is no transition;
* **unsupervised** (Wang 2016, PRB 94, 195105; Wetzel 2017, PRE 96, 022140):
  the norm of the configuration's projection on the leading (possibly
  degenerate) principal components, and the 1-D latent of a small
  autoencoder; the critical point is where their mean over configurations
  changes fastest (the centre of a tanh fit).

Several lattice sizes in one file are handled size by size: nu comes from the
supervised step widths (log w = a - log(L)/nu), and each method's crossings are
extrapolated linearly in L^(-1/nu) to infinite size (finite-size scaling,
Fisher & Barber 1972). The combined estimate is the inverse-variance mean of
the methods, its error inflated by their scatter (Birge ratio). With one lattice size nothing can
be extrapolated: the estimate is a pseudo-critical point, shifted from the infinite-size one by an
amount of the order of the transition's finite-size rounding (both scale as L^(-1/nu)), so the
supervised step width is added in quadrature to the statistical error and the statement says so
(measured with ``discover ising_2d --budget quick``, L = 16: T = 2.373 ± 0.016 statistical against
T_c = 2.269; the benchmark's four sizes extrapolate to within 0.05 %).

**A short budget thins the confusion scan, evenly.** Inside ``discover`` the probe gets a few
seconds (its share of the quick budget was 3.6 s), and the scan stops at the deadline. It visits
the proposed splits coarse to fine (both ends, the middle, the quarters, ...), and at least
``MIN_SPLITS`` (7) of them, so a cut scan still spans the control range; visited in increasing
order, the cut scan of ``discover potts_2d --budget quick`` kept only its three lowest splits and
reported no transition (no right side to the W).

**Order parameter.** The classifier's output (logit) and the leading-component
norm are compared with observables computed from the configuration alone:
magnetisation m, |m|, the nearest-neighbour sum (energy-like), the staggered
magnetisation and its modulus; for configurations of more than two states the
largest fraction of sites in one state (the |m|-like order parameter of a Potts
model) and the fraction of equal neighbours. The fit is monotone (isotonic
regression, as the network's output may saturate), and the candidate with the
highest R^2 is named.

**No transition is a result.** When the confusion curve has no interior peak
significantly above its dips, or the methods disagree by more than their errors
allow, the probe returns a ``phase`` finding with ``critical`` None and the
evidence (measured on the open 1-D Ising chain, T = 1..4: a V-shaped confusion
curve and a supervised crossing in the middle of the range by construction).

The classifiers and the autoencoder are scikit-learn's ``MLPClassifier`` and
``MLPRegressor`` on the leading principal components of the configurations
(at most 32): tens of small fixed-epoch fits per dataset, with no validation
split, early stopping or snapshots, which is why they do not go through
``physlens.train.fit``. The probe needs no emulator (``NEEDS_MODEL = False``).
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from physlens.clock import past, work_seconds
from physlens.data.dataset import Dataset
from physlens.errors import ConfigError, DataError
from physlens.findings import Finding

REQUIRES: dict = {}
NEEDS_MODEL = False
COST = 0.5

#: splits of the confusion scan run even past the deadline: fewer cannot show a W (a peak between two dips)
MIN_SPLITS = 7
MAX_STATES = 10  # a site takes at most this many distinct values
MIN_SITES = 4


# --------------------------------------------------------------------------- what the data are
def _is_grid(values: np.ndarray, min_levels: int = 4, min_repeat: int = 5) -> bool:
    v = np.asarray(values, dtype=float).reshape(-1)
    levels, counts = np.unique(v, return_counts=True)
    return levels.size >= min_levels and float(np.median(counts)) >= min_repeat


def find_control(dataset: Dataset, control: str | None = None) -> tuple[str, np.ndarray]:
    """The control parameter (name, values per row): the named column, or the one target sampled on a grid.

    A named control may be a target, an input or an ``aux`` array. Without a name, the
    dataset's single target is the control when its values repeat on at least four levels
    (many configurations per temperature or field), as the built-in ``ising_2d`` (target T)
    and ``tfim_chain`` (target g) store it.

    Example:
        >>> ds = Dataset(np.ones((40, 4)), np.repeat(np.arange(4.0), 10), ["a", "b", "c", "d"], ["T"])
        >>> find_control(ds)[0]
        'T'
    """
    if control is not None:
        if control in dataset.target_names:
            return control, dataset.y[:, dataset.target_names.index(control)]
        if control in dataset.input_names:
            return control, dataset.X[:, dataset.input_names.index(control)]
        if control in dataset.aux and np.asarray(dataset.aux[control]).ndim == 1:
            return control, np.asarray(dataset.aux[control], dtype=float)
        raise ConfigError(f"control column {control!r} is not in the data (targets: {', '.join(dataset.target_names)})")
    if dataset.d_out == 1 and _is_grid(dataset.y[:, 0]):
        return dataset.target_names[0], dataset.y[:, 0]
    raise ConfigError("no control parameter: name it (--control) or give one target sampled at repeated values")


def _site_columns(dataset: Dataset, skip: set[str]) -> list[int]:
    return [j for j, n in enumerate(dataset.input_names) if n not in skip]


def applies(dataset: Dataset) -> str | None:
    """None when rows are configurations (discrete site values) sampled at repeated values of one control target.

    Example:
        >>> from physlens.systems import get_system
        >>> applies(get_system("ising_2d", L=8, n_temperatures=6).sample(120)) is None
        True
        >>> applies(get_system("toy_distractor").sample(50)) is not None
        True
    """
    if dataset.d_in < MIN_SITES:
        return f"needs configurations of at least {MIN_SITES} sites, got {dataset.d_in} input columns"
    X = dataset.X[: min(dataset.n, 2000)]
    if not np.allclose(X, np.round(X)):
        return "inputs are not configurations (site values must be integers)"
    if np.unique(X).size > MAX_STATES + 4:
        return f"inputs are not configurations (more than {MAX_STATES} distinct site values)"
    try:
        find_control(dataset)
    except ConfigError:
        return "no control parameter: the target is not sampled at repeated values (temperature, field)"
    return None


def lattice_shape(n_sites: int, meta: dict | None = None) -> tuple[int, ...]:
    """The lattice of ``n_sites`` sites: from ``meta["lattice"]["shape"]`` when it fits, else L x L when square, else a chain.

    Example:
        >>> lattice_shape(64), lattice_shape(10), lattice_shape(64, {"lattice": {"shape": [64]}})
        ((8, 8), (10,), (64,))
    """
    shape = ((meta or {}).get("lattice") or {}).get("shape")
    if shape is not None and int(np.prod(shape)) == n_sites:
        return tuple(int(v) for v in shape)
    r = int(round(np.sqrt(n_sites)))
    return (r, r) if r * r == n_sites and r >= 3 else (n_sites,)


def _split_sizes(dataset: Dataset, sites: list[int], size: str | None, sizes: np.ndarray | None):
    """Rows and site count per lattice size: {L: (rows, n_sites)}."""
    n_cols = len(sites)
    if size is None:
        return {None: (np.arange(dataset.n), n_cols)}
    L = np.asarray(sizes, dtype=float)
    if not np.allclose(L, np.round(L)) or np.any(L < 2):
        raise DataError(f"size column {size!r} must hold integer lattice sizes >= 2")
    levels = np.unique(L.astype(int))
    dims = [d for d in (1, 2, 3) if int(levels.max()) ** d == n_cols]
    if not dims:
        raise DataError(f"sizes in {size!r} do not match the {n_cols} site columns: the largest size {levels.max()} "
                        f"is not the side of a 1-, 2- or 3-D lattice of {n_cols} sites")
    d = dims[0]
    return {int(v): (np.flatnonzero(L == v), int(v) ** d) for v in levels}


def observables(S: np.ndarray, shape: tuple[int, ...], states: np.ndarray, periodic: bool = True) -> dict[str, np.ndarray]:
    """Candidate order parameters computed from configurations S (n, n_sites) on a lattice ``shape``.

    Two-state sites are read as spins -1/+1: m, |m|, the nearest-neighbour sum (energy-like,
    -mean s_i s_j over bonds), the staggered magnetisation and its modulus. Sites with more
    states give the largest fraction of sites in one state ("max state fraction", the |m|-like
    order parameter), the fraction of unequal neighbours (energy-like) and the mean state value.

    Example:
        >>> S = np.ones((1, 16)); S[0, ::2] = -1
        >>> {k: round(float(v[0]), 2) for k, v in observables(S, (4, 4), np.array([-1.0, 1.0])).items()}["|staggered m|"]
        0.0
    """
    n = S.shape[0]
    grid = S.reshape((n,) + shape)
    axes = range(1, len(shape) + 1)
    out: dict[str, np.ndarray] = {}
    if states.size == 2:
        s = np.where(S == states.max(), 1.0, -1.0)
        g = s.reshape(grid.shape)
        out["m"] = s.mean(axis=1)
        out["|m|"] = np.abs(out["m"])
        bonds = []
        for a in axes:
            prod = g * np.roll(g, -1, axis=a)
            if not periodic:
                prod = np.take(prod, np.arange(g.shape[a] - 1), axis=a)
            bonds.append(prod.reshape(n, -1))
        out["neighbour sum (energy)"] = -np.concatenate(bonds, axis=1).mean(axis=1)
        sign = np.indices(shape).sum(axis=0) % 2 * -2 + 1
        out["staggered m"] = (g * sign).reshape(n, -1).mean(axis=1)
        out["|staggered m|"] = np.abs(out["staggered m"])
    else:
        out["max state fraction"] = np.stack([(S == v).mean(axis=1) for v in states], axis=1).max(axis=1)
        diff = []
        for a in axes:
            ne = grid != np.roll(grid, -1, axis=a)
            if not periodic:
                ne = np.take(ne, np.arange(grid.shape[a] - 1), axis=a)
            diff.append(ne.reshape(n, -1))
        out["unequal neighbours (energy)"] = np.concatenate(diff, axis=1).mean(axis=1)
        out["mean state"] = S.mean(axis=1)
    return out


def _features(S: np.ndarray, states: np.ndarray) -> np.ndarray:
    """Network inputs: spins -1/+1 for two states, one-hot per site for more (no order among states)."""
    if states.size == 2:
        return np.where(S == states.max(), 1.0, -1.0)
    return np.concatenate([(S == v).astype(float) for v in states], axis=1)


# --------------------------------------------------------------------------- small fits
MIN_STEPS = 500  # gradient steps of each small network at least, however few the rows


def _passes(n_rows: int, epochs: int, min_steps: int = MIN_STEPS) -> int:
    return int(max(epochs, -(-min_steps // max(1, -(-n_rows // 200)))))


def _classifier(Z: np.ndarray, y: np.ndarray, epochs: int, seed: int, min_steps: int = MIN_STEPS):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    epochs = _passes(len(y), epochs, min_steps)
    clf = MLPClassifier(hidden_layer_sizes=(16,), max_iter=epochs, alpha=1e-3, learning_rate_init=3e-3,
                        batch_size=min(200, len(y)), random_state=seed, tol=1e-6, n_iter_no_change=epochs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(Z, y)
    return clf


def _autoencoder_latent(Z: np.ndarray, epochs: int, seed: int, min_steps: int = MIN_STEPS) -> np.ndarray:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPRegressor

    epochs = _passes(len(Z), epochs, min_steps)
    ae = MLPRegressor(hidden_layer_sizes=(16, 1, 16), activation="tanh", max_iter=epochs, alpha=1e-4,
                      learning_rate_init=3e-3, batch_size=min(200, len(Z)), random_state=seed, tol=1e-7,
                      n_iter_no_change=epochs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ae.fit(Z, Z)
    h = Z
    for W, b in zip(ae.coefs_[:2], ae.intercepts_[:2]):
        h = np.tanh(h @ W + b)
    return h[:, 0]


def _means_by_level(values: np.ndarray, codes: np.ndarray, k: int) -> np.ndarray:
    return np.bincount(codes, weights=values, minlength=k) / np.maximum(np.bincount(codes, minlength=k), 1)


def _resample_within(codes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Row indices resampled with replacement within each control level."""
    idx = np.empty(codes.size, dtype=int)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(codes.max() + 2))
    for a, b in zip(bounds[:-1], bounds[1:]):
        if b > a:
            idx[a:b] = order[a + rng.integers(0, b - a, size=b - a)]
    return idx


def half_crossing(levels: np.ndarray, p: np.ndarray) -> float | None:
    """Where a rising curve p(levels) crosses 1/2 (linear interpolation at the sign change nearest the middle).

    Example:
        >>> half_crossing(np.array([1.0, 2.0, 3.0]), np.array([0.1, 0.4, 0.8]))
        2.25
    """
    d = p - 0.5
    ks = np.flatnonzero((d[:-1] < 0) & (d[1:] >= 0))
    if ks.size == 0:
        return None
    mid = np.argmin(np.abs(ks - (np.argmin(np.abs(d)))))
    k = ks[mid]
    return float(levels[k] + (levels[k + 1] - levels[k]) * (-d[k]) / (d[k + 1] - d[k]))


def tanh_step(levels: np.ndarray, s: np.ndarray) -> tuple[float, float] | None:
    """Centre and width (c0, w) of a fit s = a + b tanh((c - c0)/w); None when no step lies inside the range.

    Example:
        >>> c = np.linspace(0, 4, 21)
        >>> c0, w = tanh_step(c, 1 - np.tanh((c - 2.2) / 0.3)); round(c0, 3), round(w, 3)
        (2.2, 0.3)
    """
    from scipy.optimize import curve_fit

    span = levels[-1] - levels[0]
    slope = np.abs(np.gradient(s, levels))
    c_init = levels[int(np.argmax(slope))]
    amp = 0.5 * (s[0] - s[-1]) if s[0] != s[-1] else 1.0

    def f(c, a, b, c0, w):
        return a + b * np.tanh((c - c0) / w)

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            (a, b, c0, w), _ = curve_fit(f, levels, s, p0=[s.mean(), -amp, c_init, span / 10], maxfev=4000)
    except (RuntimeError, ValueError):
        return None
    w = abs(w)
    if not (levels[0] < c0 < levels[-1]) or not np.isfinite(w) or w > span:
        return None
    return float(c0), float(w)


def _isotonic_r2(x: np.ndarray, y: np.ndarray) -> float:
    from sklearn.isotonic import IsotonicRegression

    if np.std(x) == 0 or np.std(y) == 0:
        return 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = IsotonicRegression(increasing="auto", out_of_bounds="clip").fit_transform(x, y)
    return float(1.0 - np.sum((y - fit) ** 2) / np.sum((y - y.mean()) ** 2))


# --------------------------------------------------------------------------- one lattice size
def analyse_size(S: np.ndarray, c: np.ndarray, shape: tuple[int, ...], states: np.ndarray, periodic: bool = True,
                 epochs: int = 60, n_bootstrap: int = 100, max_splits: int = 16, autoencoder: bool = True,
                 n_components: int = 32, seed: int = 0, deadline: float | None = None, min_steps: int = MIN_STEPS) -> dict:
    """The three methods on configurations S (n, n_sites) at control values c: estimates, errors, curves.

    Returns a dict with ``levels`` (the control grid), ``methods`` (name -> {critical, uncertainty,
    and its curve}), ``width`` (the supervised step width), ``w_shape`` (confusion test) and
    ``r2`` (candidate observable -> {score: R^2}).

    Example:
        >>> from physlens.systems.statistical.ising import simulate
        >>> T = np.linspace(1.6, 3.2, 9); conf = simulate(8, T, 30, np.random.default_rng(0), n_equilibrate=50)
        >>> r = analyse_size(conf.reshape(-1, 64), np.repeat(T, 30), (8, 8), np.array([-1.0, 1.0]),
        ...                  epochs=20, n_bootstrap=10, max_splits=3, autoencoder=False, min_steps=150)
        >>> 2.0 < r["methods"]["supervised"]["critical"] < 2.8
        True
    """
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(seed)
    levels, codes = np.unique(c, return_inverse=True)
    K = levels.size
    F = _features(S, states)
    F = F - F.mean(axis=0)
    k = int(min(n_components, F.shape[1], max(1, F.shape[0] - 1)))
    pca = PCA(n_components=k, svd_solver="randomized" if k < min(F.shape) // 2 else "full", random_state=seed)
    Z = pca.fit_transform(F)
    ev = pca.explained_variance_
    lead = int(np.sum(ev >= 0.5 * ev[0]))
    lead = max(1, min(lead, 8))
    Zs = Z / np.sqrt(ev[0])
    methods: dict[str, dict] = {}

    # supervised extremes
    n_ext = max(1, int(round(0.2 * K)))
    lo, hi = codes < n_ext, codes >= K - n_ext
    train = lo | hi
    clf = _classifier(Zs[train], hi[train].astype(int), epochs, seed, min_steps)
    prob = clf.predict_proba(Zs)[:, 1]
    logit = np.log(np.clip(prob, 1e-6, 1)) - np.log(np.clip(1 - prob, 1e-6, 1))
    P = _means_by_level(prob, codes, K)
    rising = P[-1] >= P[0]
    Pr = P if rising else 1 - P
    crit = half_crossing(levels, Pr)
    step = tanh_step(levels, Pr)
    boots = []
    for _ in range(n_bootstrap):
        idx = _resample_within(codes, rng)
        Pb = _means_by_level(prob[idx], codes[idx], K)
        x = half_crossing(levels, Pb if rising else 1 - Pb)
        if x is not None:
            boots.append(x)
    methods["supervised"] = {"critical": crit, "uncertainty": float(np.std(boots)) if len(boots) > 1 else None,
                             "curve": P, "width": step[1] if step else None}

    # confusion: accuracy of a classifier trained with labels c < c' for each proposed split c'
    mids = 0.5 * (levels[1:] + levels[:-1])
    pick = np.unique(np.round(np.linspace(0, mids.size - 1, min(max_splits, mids.size))).astype(int))
    splits = mids[pick]
    half = rng.random(len(c)) < 0.5
    test_rows = np.flatnonzero(~half)
    correct = np.zeros((splits.size, test_rows.size))
    # coarse to fine: both ends, the middle, the quarters, ...; a scan cut short by the deadline still spans
    # the whole range (in increasing order it kept only the lowest splits: a W with no right side)
    visit = coarse_to_fine(splits.size)
    done = np.zeros(splits.size, dtype=bool)
    for n_done, j in enumerate(visit):
        if past(deadline) and n_done >= MIN_SPLITS:
            break
        cut = splits[j]
        lab = (c > cut).astype(int)
        done[j] = True
        if lab[half].min() == lab[half].max():
            correct[j] = lab[~half] == lab[half][0]
            continue
        m = _classifier(Zs[half], lab[half], epochs, seed + 1 + j, min_steps)
        correct[j] = m.predict(Zs[test_rows]) == lab[test_rows]
    splits, correct = splits[done], correct[done]
    acc = correct.mean(axis=1)
    below = np.array([np.mean(c[test_rows] < cut) for cut in splits])
    w_test = w_shape(splits, acc, correct, rng, n_bootstrap, interior=(below >= 0.15) & (below <= 0.85))
    methods["confusion"] = {"critical": w_test["critical"], "uncertainty": w_test["uncertainty"],
                            "splits": splits, "curve": acc}

    # unsupervised: leading principal components and an autoencoder latent
    pc_norm = np.linalg.norm(Zs[:, :lead], axis=1)
    scores = {"classifier logit": logit, "leading components": pc_norm}
    unsup = {"pca": pc_norm}
    if autoencoder and not past(deadline):
        z = _autoencoder_latent(Zs[:, : min(k, 16)], 4 * epochs, seed, min_steps)
        unsup["autoencoder"] = np.abs(z - z.mean())
        scores["autoencoder latent"] = z
    for name, stat in unsup.items():
        curve = _means_by_level(stat, codes, K)
        fit = tanh_step(levels, curve)
        boots = []
        for _ in range(n_bootstrap):
            idx = _resample_within(codes, rng)
            fb = tanh_step(levels, _means_by_level(stat[idx], codes[idx], K))
            if fb is not None:
                boots.append(fb[0])
        methods[name] = {"critical": fit[0] if fit else None, "width": fit[1] if fit else None,
                         "uncertainty": float(np.std(boots)) if len(boots) > 1 else None, "curve": curve}

    obs = observables(S, shape, states, periodic)
    r2 = {o: {s: _isotonic_r2(v, sc) for s, sc in scores.items()} for o, v in obs.items()}
    return {"levels": levels, "methods": methods, "w_shape": w_test, "r2": r2, "lead_components": lead,
            "n": int(len(c))}


def coarse_to_fine(n: int) -> list[int]:
    """Indices 0..n-1 in coarse-to-fine order (ends, middle, quarters, ...): every prefix spans the range.

    Example:
        >>> coarse_to_fine(9)
        [0, 8, 4, 2, 6, 1, 3, 5, 7]
    """
    if n <= 0:
        return []
    order, seen = [], set()

    def add(i: int) -> None:
        if i not in seen:
            seen.add(i)
            order.append(i)

    add(0)
    add(n - 1)
    parts = 2
    while len(order) < n:
        for q in range(1, parts, 2):
            add(int(round(q * (n - 1) / parts)))
        parts *= 2
        if parts > 4 * n:  # rounding left gaps: fill them in order
            for i in range(n):
                add(i)
    return order


def w_shape(splits: np.ndarray, acc: np.ndarray, correct: np.ndarray, rng: np.random.Generator,
            n_bootstrap: int = 100, interior: np.ndarray | None = None) -> dict:
    """Test a confusion curve for an interior peak significantly above the dips on both sides.

    The peak is the highest accuracy whose split leaves at least 15 % of the held-out rows on each
    side (``interior``, a mask over the splits); it counts when the accuracy falls below it by more
    than two bootstrap standard errors (and by 0.01) somewhere on its left and somewhere on its
    right. Returns ``critical`` (the centre of the peak above half its height, or None), ``uncertainty`` (bootstrap spread of the peak) and the evidence.

    Example:
        >>> s = np.linspace(0, 1, 9); a = np.array([1, .9, .8, .85, .95, .85, .8, .9, 1])
        >>> correct = (np.random.default_rng(0).random((9, 400)) < a[:, None]).astype(float)
        >>> round(w_shape(s, correct.mean(axis=1), correct, np.random.default_rng(1), 50)["critical"], 1)
        0.5
    """
    n = correct.shape[1]
    out = {"critical": None, "uncertainty": None, "significant": False, "peak_excess": 0.0, "reason": ""}
    if splits.size < 3:
        out["reason"] = "fewer than three proposed splits"
        return out

    inner = np.flatnonzero(interior) if interior is not None else np.arange(1, splits.size - 1)
    inner = inner[(inner > 0) & (inner < splits.size - 1)]
    if inner.size == 0:
        out["reason"] = "no proposed split leaves 15 % of the rows on each side"
        return out

    def peak(a: np.ndarray) -> tuple[int, float, float]:
        j = int(inner[np.argmax(a[inner])])
        left, right = a[: j + 1].min(), a[j:].min()
        # centre of the peak: accuracy-weighted mean of the contiguous splits above half its height
        level = max(left, right) + 0.5 * (a[j] - max(left, right))
        lo = j
        while lo - 1 >= 0 and a[lo - 1] > level:
            lo -= 1
        hi = j
        while hi + 1 < a.size and a[hi + 1] > level:
            hi += 1
        wts = np.maximum(a[lo: hi + 1] - level, 0) + 1e-12
        return j, float(np.sum(wts * splits[lo: hi + 1]) / np.sum(wts)), float(min(a[j] - left, a[j] - right))

    j, x, excess = peak(acc)
    boot_acc = np.stack([correct[:, rng.integers(0, n, n)].mean(axis=1) for _ in range(n_bootstrap)])
    se = float(boot_acc.std(axis=0).max())
    out["peak_excess"], out["accuracy_se"] = excess, float(se)
    xs = [peak(b)[1] for b in boot_acc]
    out["uncertainty"] = float(np.std(xs)) if len(xs) > 1 else None
    if excess > max(2 * se, 0.01):
        out["critical"], out["significant"] = x, True
    else:
        out["reason"] = (f"no interior peak above the dips: the highest interior accuracy {acc[j]:.3f} exceeds "
                         f"the lower side by {excess:.3f} (needs {max(2 * se, 0.01):.3f})")
    return out


# --------------------------------------------------------------------------- several sizes, combination
def combine(estimates: dict[str, tuple[float, float]]) -> tuple[float, float]:
    """Inverse-variance mean of (value, error) pairs, error inflated by their scatter (Birge ratio).

    Example:
        >>> c, e = combine({"a": (2.0, 0.1), "b": (2.2, 0.1)}); round(c, 2), round(e, 3)
        (2.1, 0.1)
    """
    v = np.array([a for a, _ in estimates.values()])
    e = np.array([max(b, 1e-9) for _, b in estimates.values()])
    w = 1 / e**2
    mean = float(np.sum(w * v) / np.sum(w))
    err = float(1 / np.sqrt(np.sum(w)))
    if v.size > 1:
        chi2 = float(np.sum(w * (v - mean) ** 2) / (v.size - 1))
        err *= max(1.0, float(np.sqrt(chi2)))
    return mean, err


def finite_size(Ls: np.ndarray, values: np.ndarray, errors: np.ndarray, nu: float, nu_err: float,
                n_draws: int = 400, seed: int = 0) -> tuple[float, float, bool]:
    """Infinite-size limit of crossings c(L) = c_inf + b L^(-1/nu) (weighted line in L^(-1/nu)), error by resampling.

    Returns ``(c_inf, error, extrapolated)``. When the drift b is not significant (within two of its
    resampled standard deviations of zero) the crossings show no finite-size shift to extrapolate, and
    their weighted mean is returned instead (``extrapolated`` False): a line through a few noisy
    points of small lattices multiplies their noise by the lever arm to L = infinity.

    Example:
        >>> L = np.array([8.0, 16.0, 32.0]); c = 2.269 + 0.5 / L
        >>> est, err, extrapolated = finite_size(L, c, np.full(3, 1e-4), 1.0, 0.01)
        >>> round(est, 3), extrapolated
        (2.269, True)
    """
    rng = np.random.default_rng(seed)

    def line(vals, nu_):
        x = Ls ** (-1.0 / nu_)
        w = 1 / np.maximum(errors, 1e-9) ** 2
        A = np.stack([np.ones_like(x), x], axis=1) * np.sqrt(w)[:, None]
        return np.linalg.lstsq(A, vals * np.sqrt(w), rcond=None)[0]

    est, drift = line(values, nu)
    draws = np.array([line(values + rng.normal(0, errors), max(0.2, nu + rng.normal(0, nu_err))) for _ in range(n_draws)])
    if abs(drift) < 2 * draws[:, 1].std():
        mean, err = combine({str(L): (v, e) for L, v, e in zip(Ls, values, errors)})
        return mean, err, False
    return float(est), float(draws[:, 0].std()), True


# --------------------------------------------------------------------------- the probe
def run(
    model,
    dataset: Dataset,
    control: str | None = None,
    size: str | None = None,
    epochs: int = 60,
    n_bootstrap: int = 100,
    max_splits: int = 16,
    autoencoder: bool = True,
    max_rows_per_size: int = 6000,
    agreement: float = 3.0,
    min_steps: int = MIN_STEPS,
    seed: int = 0,
    budget_seconds: float | None = None,
) -> list[Finding]:
    """Locate the phase transition of configurations along ``control`` three ways; name the order parameter.

    Options: ``control`` (the tuning parameter's column; default: the one target on a grid),
    ``size`` (a column of linear lattice sizes when the data mix sizes; the first L^d site columns
    of each row are its sites), ``epochs`` of each small network, ``n_bootstrap`` resamplings,
    ``max_splits`` proposed splits of the confusion scan, ``autoencoder`` (False: PCA only),
    ``agreement`` (how many combined errors the methods may differ by), ``min_steps`` (gradient
    steps of each small network at least, however few the rows). Returns a ``phase``
    finding (``critical`` None when there is no transition) and a ``concept`` finding naming
    the order parameter.

    Example:
        >>> from physlens.systems import get_system
        >>> ds = get_system("ising_2d", L=8, n_temperatures=8).sample(240, seed=0)
        >>> fs = run(None, ds, epochs=20, n_bootstrap=10, max_splits=3, autoencoder=False, min_steps=100)
        >>> fs[0].kind, fs[0].value["method"]
        ('phase', 'combined')
    """
    t0 = time.perf_counter()
    w0 = work_seconds()  # budget shares on the thread's CPU time (physlens.clock)
    deadline = None if budget_seconds is None else w0 + 0.8 * float(budget_seconds)
    name, cvals = find_control(dataset, control)
    skip = {name}
    sizes = None
    if size is not None:
        if size in dataset.input_names:
            sizes = dataset.X[:, dataset.input_names.index(size)]
        elif size in dataset.aux:
            sizes = np.asarray(dataset.aux[size], dtype=float)
        elif size in dataset.target_names:
            sizes = dataset.y[:, dataset.target_names.index(size)]
        else:
            raise ConfigError(f"size column {size!r} is not in the data")
        skip.add(size)
    sites = _site_columns(dataset, skip)
    if len(sites) < MIN_SITES:
        raise DataError(f"needs at least {MIN_SITES} site columns, got {len(sites)}")
    if np.unique(cvals).size < 3:
        raise DataError(f"control {name!r} takes {np.unique(cvals).size} value(s); a transition needs at least three")
    groups = _split_sizes(dataset, sites, size, sizes)
    Xs = dataset.X[:, sites]
    meta = dataset.meta or {}
    periodic = ((meta.get("lattice") or {}).get("boundary", "periodic")) != "open"
    rng = np.random.default_rng(seed)
    per_size: dict = {}
    for k, (L, (rows, n_sites)) in enumerate(sorted(groups.items(), key=lambda kv: (kv[0] is None, kv[0] or 0))):
        if rows.size > max_rows_per_size:
            rows = np.sort(rng.choice(rows, max_rows_per_size, replace=False))
        S = Xs[rows, :n_sites]
        if not np.allclose(S, np.round(S)):
            raise DataError("site values must be integers (spins or states)")
        states = np.unique(S)
        if states.size < 2 or states.size > MAX_STATES:
            raise DataError(f"sites take {states.size} distinct values; configurations need 2..{MAX_STATES}")
        if np.unique(cvals[rows]).size < 3:
            raise DataError(f"size {L}: control {name!r} takes fewer than three values")
        shape = lattice_shape(n_sites, meta) if L is None else (L,) * int(round(np.log(n_sites) / np.log(L)))
        left = None if deadline is None else w0 + (deadline - w0) * (k + 1) / len(groups)
        per_size[L] = analyse_size(S, cvals[rows], shape, states, periodic, epochs, n_bootstrap, max_splits,
                                   autoencoder, seed=seed + k, deadline=left, min_steps=min_steps)
    return _findings(name, per_size, agreement, time.perf_counter() - t0, seed)


def _estimates(r: dict) -> dict[str, tuple[float, float]]:
    span = float(r["levels"][-1] - r["levels"][0])
    out = {}
    for m, d in r["methods"].items():
        if d["critical"] is not None:
            out[m] = (float(d["critical"]), float(d["uncertainty"] or 0.0) or 0.01 * span)
    return out


def _findings(name: str, per_size: dict, agreement: float, seconds: float, seed: int) -> list[Finding]:
    sizes = list(per_size)
    largest = per_size[sizes[-1]]
    span = float(largest["levels"][-1] - largest["levels"][0])
    ev: dict = {"control": name, "seconds": seconds, "per_size": {}}
    for L, r in per_size.items():
        ev["per_size"][str(L if L is not None else "all")] = {
            "levels": r["levels"], "n": r["n"], "lead_components": r["lead_components"],
            "methods": {m: {k: v for k, v in d.items()} for m, d in r["methods"].items()},
            "confusion_test": {k: v for k, v in r["w_shape"].items()},
        }
    reasons = []
    nu, nu_err, methods, extrapolated, skipped = None, None, {}, {}, []
    if len(sizes) >= 2 and None not in sizes:
        Ls = np.array(sizes, dtype=float)
        widths = np.array([per_size[L]["methods"]["supervised"].get("width") or np.nan for L in sizes])
        ok = np.isfinite(widths) & (widths > 0)
        if ok.sum() >= 2:
            slope, icpt = np.polyfit(np.log(Ls[ok]), np.log(widths[ok]), 1)
            nu = float(-1 / slope) if slope < 0 else None
            if nu is not None:
                resid = np.log(widths[ok]) - (icpt + slope * np.log(Ls[ok]))
                se_slope = (np.sqrt(np.sum(resid**2) / max(ok.sum() - 2, 1) / np.sum((np.log(Ls[ok]) - np.log(Ls[ok]).mean()) ** 2))
                            if ok.sum() > 2 else 0.1 * abs(slope))
                nu_err = float(abs(nu) * se_slope / abs(slope))
        ev["finite_size"] = nu is not None
        for m in largest["methods"]:
            pts = [(L, per_size[L]["methods"][m]) for L in sizes if per_size[L]["methods"].get(m, {}).get("critical") is not None]
            if nu is not None and len(pts) >= 3:
                Lm = np.array([p[0] for p in pts], dtype=float)
                vals = np.array([p[1]["critical"] for p in pts])
                errs = np.array([p[1]["uncertainty"] or 0.01 * span for p in pts])
                c_inf, c_err, shifted = finite_size(Lm, vals, errs, nu, nu_err, seed=seed)
                methods[m] = (c_inf, c_err)
                extrapolated[m] = shifted
            elif nu is not None:
                skipped.append(m)
    rounding = None
    if not methods:  # one size, or no finite-size scaling: the largest lattice's estimates
        methods = _estimates(largest)
        rounding = largest["methods"]["supervised"].get("width")
    # evidence of a transition: the confusion W on the largest lattice (small lattices may blur it), or,
    # with several sizes, a supervised step that sharpens significantly as L grows (finite 1/nu)
    conf_ok = largest["w_shape"]["significant"]
    sharpens = nu is not None and nu_err is not None and nu > 0 and nu_err < 0.5 * nu
    ev["sharpens_with_size"] = bool(sharpens)
    if not (conf_ok or sharpens):
        reasons.append("confusion: " + largest["w_shape"]["reason"])
        if len(sizes) >= 2:
            reasons.append("the supervised step does not sharpen significantly with the lattice size")
    if "supervised" not in methods:
        reasons.append("the supervised classifier's probability does not cross 1/2")
    critical, err = None, None
    if methods:
        critical, err = combine(methods)
        spread = max(abs(v - critical) for v, _ in methods.values())
        if len(methods) >= 2 and spread > max(agreement * err, 0.15 * span):
            reasons.append(f"the methods disagree: estimates spread by {spread:.3g} around {critical:.4g} "
                           f"(combined error {err:.2g})")
        if rounding is not None and np.isfinite(rounding):
            # not extrapolated: the infinite-size point is known only to within the finite-size rounding
            # (the pseudo-critical shift is of the order of the step width, both ~ L^(-1/nu))
            ev["statistical_uncertainty"] = err
            ev["finite_size_rounding"] = float(rounding)
            err = float(np.hypot(err, rounding))
    ev["methods"] = {m: {"critical": v, "uncertainty": e, "extrapolated": extrapolated.get(m, False)}
                     for m, (v, e) in methods.items()}
    if skipped:
        ev["left_out"] = {m: "found on fewer than three lattice sizes" for m in skipped}
    if nu is not None:
        ev["nu"], ev["nu_uncertainty"] = nu, nu_err
    ev["sizes"] = [s for s in sizes if s is not None]
    # order parameter from the largest lattice
    r2 = largest["r2"]
    judged = {o: float(np.mean([d[s] for s in ("classifier logit", "leading components")])) for o, d in r2.items()}
    best = max(judged, key=judged.get)
    ev["order_parameter_r2"] = r2
    found = not reasons
    order = best if found else None
    method_txt = ", ".join(f"{m} {v:.4g} ± {e:.2g}" for m, (v, e) in methods.items())
    if found:
        fss = ""
        if nu is not None:
            ext = [m for m, v in extrapolated.items() if v]
            fss = (f" from L = {', '.join(map(str, sizes))} (nu = {nu:.2f} ± {nu_err:.2f}; "
                   + (f"extrapolated to infinite size: {', '.join(ext)}" if ext else "no significant finite-size drift")
                   + ")")
        if len(sizes) == 1:
            fss = " on one lattice size (not extrapolated to infinite size; the error is statistical only)"
            if "finite_size_rounding" in ev:
                fss = (" on one lattice size (not extrapolated to infinite size; the error adds the finite-size "
                       f"rounding, the supervised step width {ev['finite_size_rounding']:.2g}, to the statistical "
                       f"{ev['statistical_uncertainty']:.2g})")
        statement = (f"phase transition at {name} = {critical:.4g} ± {err:.2g}{fss} ({method_txt}); "
                     f"order parameter {best}")
        conf = float(np.clip(1 - err / max(span, 1e-12) * 5, 0.3, 0.99))
    else:
        statement = f"no phase transition along {name}: " + "; ".join(reasons)
        conf = 0.7 if not conf_ok else 0.5
        critical = err = None
    findings = [Finding("phase", statement, {"critical": critical, "uncertainty": err, "method": "combined",
                                             "order_parameter": order, "control": name, "nu": nu if found else None},
                        ev, conf, probe="phases", target=name, subject=name)]
    if found:
        by = r2[best]
        findings.append(Finding(
            "concept",
            f"the phases along {name} are told apart by {best} (R² {by['classifier logit']:.2f} with the classifier's "
            f"output, {by['leading components']:.2f} with the leading principal components)",
            {"concept": best, "r2": judged[best], "role": "order parameter", "control": name},
            {"r2": r2, "candidates": judged}, float(np.clip(judged[best], 0, 1)), probe="phases", subject=best))
    return findings


__all__ = ["analyse_size", "applies", "coarse_to_fine", "combine", "find_control", "finite_size", "half_crossing", "lattice_shape",
           "observables", "run", "tanh_step", "w_shape"]
