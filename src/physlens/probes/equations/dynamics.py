"""Ordinary differential equations from trajectories: sparse identification of nonlinear dynamics (SINDy).

Method: Brunton, Proctor & Kutz (2016), "Discovering governing equations from
data by sparse identification of nonlinear dynamical systems", PNAS 113, 3932,
through PySINDy (de Silva et al. 2020, Kaptanoglu et al. 2022): a library of
candidate terms Theta(x) (PySINDy feature libraries: polynomials, Fourier
terms) and sequentially thresholded least squares (STLSQ) for
dx/dt = Theta(x) Xi with a sparse Xi. The STLSQ iteration itself is a few
NumPy lines here (see :func:`_stlsq`): the threshold sweep below runs hundreds
of small fits and PySINDy's estimator spends almost all of each in
scikit-learn's input checks.

What this module adds around PySINDy, and why by hand:

* **Derivatives.** When the dataset's targets are the exact time derivatives
  of its state (convention ``d<name>_dt``), they are used as they are; else the
  trajectories are differentiated by :func:`physlens.data.derivatives.differentiate`
  (shared with the loader of trajectory files): PySINDy's 4th-order central
  ``FiniteDifference`` on the true (possibly uneven) times, or a Savitzky-Golay
  smoothed derivative when noise would dominate the differences
  (:func:`~physlens.data.derivatives.looks_noisy`): smoothing biases the
  derivative while random errors average out in the regression, so it is used
  only when needed. Trajectories are either ``dataset.trajectories`` (one time
  grid) or the rows of a trajectory file, grouped by ``aux["trajectory"]`` and
  ordered by ``aux["time"]`` (each run on its own grid).
* **Model selection** (Mangan et al. 2017, "Model selection for dynamical
  systems via sparse regression and information criteria", Proc. R. Soc. A
  473): PySINDy fits one model for one library and one threshold; choosing
  them is left to the user. Here every candidate library (polynomials of
  degree 1..``max_degree``, and polynomials plus first-harmonic Fourier terms
  of the state, which covers angles) and a log-spaced sweep of thresholds
  give a path of models for each derivative separately. Each is scored on
  held-out blocks of every trajectory (normalised validation error), and the
  sparsest model whose held-out error is within ``rel_tol`` (25 %) of the best
  one plus ``abs_tol`` (1e-6 of the variance: the precision of the derivatives)
  is kept. Columns and targets are scaled to unit RMS before thresholding, so
  thresholds are dimensionless (fractions of the derivative's RMS).
* **Trajectories with different parameters** (e.g. a damped pendulum whose
  stiffness and damping are drawn per trajectory and hidden): if the pooled
  model does not reach the accuracy that trajectory-by-trajectory models
  reach, the structure is selected from per-trajectory fits (terms present in
  at least half of them), every trajectory is refitted on that common support
  by least squares, and the finding reports the equation with symbolic
  coefficients ``c_<state>_<k>`` and their per-trajectory values. Parameters
  that are observed (inputs that are not state variables) instead enter the
  library as inputs ``u`` (products of them with the state terms).
* **Readable output.** The learned model is written as a SymPy expression in
  the state names (``Symbol(name, real=True)``), built from PySINDy's feature
  names through the restricted parser of :mod:`physlens.expressions`. A
  coefficient is rounded to a simpler number (integer, small fraction such as
  8/3, fewer digits) only when that number lies within three standard errors
  of the least-squares estimate, or within the fit's relative residual (at most
  1e-3) of it, that residual scaled by the target's size over the term's (a small
  term is known less well), or 1e-4 relative when the derivatives were differenced
  from samples: differenced derivatives carry a smooth bias that the standard
  error does not see (or 1e-9 relative); the raw values stay in
  ``value["coefficients"]``.

The probe never looks at the dataset's ground truth.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np
import pysindy as ps
import sympy as sp

from physlens.data.dataset import Dataset
from physlens.data.derivatives import MIN_POINTS, differentiate, looks_noisy  # noqa: F401  (looks_noisy: public here too)
from physlens.errors import ConfigError, DataError
from physlens.expressions import expression_to_text, parse_expression
from physlens.findings import Finding

PROBE = "equations.dynamics"


# --------------------------------------------------------------------------- derivative data
@dataclass
class DerivativeData:
    """States, their time derivatives, observed extra inputs and the trajectory of every row.

    Attributes:
        x: states (N, d); xdot: time derivatives (N, d); u: extra observed inputs (N, m) or None.
        groups: trajectory index of every row (N,); position: index of the row inside its trajectory.
        state_names, input_names: names of the columns of ``x`` and ``u``.
        target_names: name of the derivative of each state (a dataset target name when there is one).
        source: ``"targets"`` or the differentiation method used.
        notes: what the differencing dropped or kept; ``estimated_by_loader`` when targets a trajectory
            file's loader differenced (``meta["derivatives"]``).

    Example:
        >>> d = DerivativeData(x=np.zeros((3, 1)), xdot=np.ones((3, 1)), u=None, groups=np.zeros(3, int),
        ...                    position=np.arange(3), state_names=["x"], input_names=[], target_names=["dx_dt"],
        ...                    source="targets")
        >>> d.xdot.shape
        (3, 1)
    """

    x: np.ndarray
    xdot: np.ndarray
    u: np.ndarray | None
    groups: np.ndarray
    position: np.ndarray
    state_names: list[str]
    input_names: list[str]
    target_names: list[str]
    source: str
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def estimated(self) -> bool:
        """Whether the derivatives were differenced from samples (here, or by the loader of a trajectory file)."""
        return self.source != "targets" or bool(self.notes.get("estimated_by_loader"))


def _derivative_target(names: list[str], state: str) -> str | None:
    for cand in (f"d{state}_dt", f"d({state})/dt", f"d{state}/dt", f"{state}_dot", f"{state}dot"):
        if cand in names:
            return cand
    return None


def _row_times(dataset: Dataset) -> np.ndarray | None:
    """The time of every row (``aux["time"]``, set by ``load(..., time=)``, or a system's ``aux["t"]``), or None."""
    for key in ("time", "t"):
        t = dataset.aux.get(key)
        if t is not None and np.asarray(t).ndim == 1 and np.asarray(t).dtype.kind in "fiu":
            return np.asarray(t, dtype=np.float64)
    return None


def applies(dataset: Dataset) -> str | None:
    """None when the dynamics can be identified from this dataset, else the reason in one line.

    It can when the dataset has trajectories, or a target ``d<input>_dt`` (the time
    derivative of an input), or the time of every row (a trajectory file loaded
    with ``load(path, time=..., groups=...)``).

    Example:
        >>> from physlens.systems import get_system
        >>> applies(get_system("lorenz").sample(100)) is None
        True
        >>> applies(get_system("toy_distractor").sample(50))
        'no trajectories: give --time (and --groups) for a trajectory file'
    """
    if dataset.trajectories is not None:
        return None
    if any(_derivative_target(dataset.target_names, c) for c in dataset.input_names):
        return None
    if _row_times(dataset) is not None:
        return None
    return "no trajectories: give --time (and --groups) for a trajectory file"


def _row_trajectories(dataset: Dataset, states: list[str]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The states of every trajectory (rows grouped by ``aux["trajectory"]``, ordered by time) and their times."""
    times = _row_times(dataset)
    groups = dataset.groups()
    if groups is None:
        groups = np.zeros(dataset.n, dtype=np.int64)
    cols = [dataset.input_names.index(s) for s in states]
    order = np.lexsort((times, groups))
    cuts = np.flatnonzero(np.diff(groups[order])) + 1
    trajs, ts = [], []
    for rows in np.split(order, cuts):
        trajs.append(dataset.X[np.ix_(rows, cols)])
        ts.append(times[rows])
    return trajs, ts


def derivative_data(dataset: Dataset, derivatives: str = "auto", differentiation: Any = "auto") -> DerivativeData:
    """Collect (state, derivative) pairs from a dataset, from its targets or by differentiating trajectories.

    Args:
        dataset: a dataset with ``trajectories`` (and ``times``), or whose targets are
            the time derivatives of some inputs (named ``d<name>_dt``), or with the time
            of every row in ``aux["time"]`` (and its trajectory in ``aux["trajectory"]``):
            a trajectory file loaded with ``load(path, time=..., groups=...)``, whose
            trajectories may each have their own uneven time grid.
        derivatives: ``"targets"`` (use the targets), ``"trajectories"`` (differentiate
            the trajectories) or ``"auto"``: targets when they are derivatives of the
            state and every row can be placed on a trajectory (or there are no
            trajectories at all), else the trajectories.
        differentiation: ``"finite"`` (4th-order central differences), ``"smoothed"``
            (Savitzky-Golay smoothed differences), ``"auto"`` (smoothed when the
            trajectories look noisy) or a PySINDy differentiation object
            (see :func:`physlens.data.derivatives.differentiate`).

    Example:
        >>> from physlens.systems import get_system
        >>> d = derivative_data(get_system("lorenz").sample(300))
        >>> d.source, d.state_names, d.x.shape
        ('targets', ['x', 'y', 'z'], (300, 3))
    """
    if derivatives not in ("auto", "targets", "trajectories"):
        raise ConfigError(f"derivatives must be 'auto', 'targets' or 'trajectories', got {derivatives!r}")
    traj = dataset.trajectories
    row_times = _row_times(dataset) if traj is None else None
    states = list(dataset.state_names) if dataset.state_names else None
    if states is None and traj is None:
        states = [c for c in dataset.input_names if _derivative_target(dataset.target_names, c)]
        if not states and row_times is not None:
            states = list(dataset.input_names)  # a trajectory file: every input is a state (or a parameter)
    if traj is not None and (states is None or len(states) != traj.shape[2]):
        states = [c for c in dataset.input_names if _derivative_target(dataset.target_names, c)]
        if len(states) != traj.shape[2]:
            states = [f"s{i}" for i in range(traj.shape[2])]
    if not states:
        raise DataError(
            "no dynamics to identify: the dataset has no trajectories and no target named d<input>_dt "
            "(the time derivative of an input)"
        )
    targets = [_derivative_target(dataset.target_names, s) for s in states]
    have_targets = all(t is not None for t in targets) and all(s in dataset.input_names for s in states)

    groups = None
    if have_targets:
        xcols = [dataset.input_names.index(s) for s in states]
        Xs = dataset.X[:, xcols]
        if "trajectory" in dataset.aux and np.asarray(dataset.aux["trajectory"]).ndim == 1:
            groups = np.asarray(dataset.aux["trajectory"]).astype(np.int64)
        elif traj is not None:
            flat = traj.reshape(-1, traj.shape[2])
            if flat.shape[0] >= dataset.n and np.allclose(flat[: dataset.n], Xs, rtol=1e-10, atol=1e-12):
                groups = np.repeat(np.arange(traj.shape[0]), traj.shape[1])[: dataset.n]
        elif traj is None:
            groups = np.zeros(dataset.n, dtype=np.int64)

    use_targets = derivatives == "targets" or (derivatives == "auto" and have_targets and groups is not None)
    if derivatives == "targets" and not have_targets:
        raise DataError("derivatives='targets' needs one target d<state>_dt per state variable among the inputs")
    if use_targets:
        if groups is None:
            groups = np.zeros(dataset.n, dtype=np.int64)
        ycols = [dataset.target_names.index(t) for t in targets]
        extra = [c for c in dataset.input_names if c not in states]
        u = dataset.X[:, [dataset.input_names.index(c) for c in extra]] if extra else None
        position = np.zeros(dataset.n, dtype=np.int64)
        for g in np.unique(groups):
            idx = np.nonzero(groups == g)[0]
            position[idx] = np.arange(len(idx))
        loaded = str((dataset.meta or {}).get("derivatives", ""))
        return DerivativeData(Xs, dataset.y[:, ycols], u, groups, position, states, extra, list(targets),
                              "targets", {"estimated_by_loader": loaded} if loaded.startswith("estimated") else {})

    if traj is not None:
        if traj.shape[1] < MIN_POINTS:
            raise DataError(f"trajectories have {traj.shape[1]} time steps; at least {MIN_POINTS} are needed to differentiate")
        times = dataset.times if dataset.times is not None else None
        if times is None:
            dt = dataset.meta.get("dt")
            if dt is None:
                raise DataError("trajectories have no times (dataset.times) and meta has no 'dt'")
            times = np.arange(traj.shape[1]) * float(dt)
        times = np.asarray(times, dtype=np.float64)
        if times.shape != (traj.shape[1],) or np.any(np.diff(times) <= 0):
            raise DataError("dataset.times must be increasing, one time per trajectory step")
        trajs, ts = list(traj), [times] * len(traj)
    elif row_times is not None and all(s in dataset.input_names for s in states):
        trajs, ts = _row_trajectories(dataset, states)
        bad = [i for i, t in enumerate(ts) if np.any(np.diff(t) <= 0)]
        if bad:
            raise DataError(f"trajectory {bad[0]} has two rows at the same time; times must increase along a trajectory")
    else:
        raise DataError("derivatives='trajectories' needs a dataset with trajectories or the time of every row")
    est = differentiate(trajs, ts, differentiation)
    skipped = [i for i, ok in enumerate(est.valid) if not ok.any()]
    xs = [s[ok] for s, ok in zip(est.states, est.valid)]
    ds = [d[ok] for d, ok in zip(est.derivatives, est.valid)]
    gs = [np.full(int(ok.sum()), i) for i, ok in enumerate(est.valid)]
    pos = [np.arange(int(ok.sum())) for ok in est.valid]
    names = [_derivative_target(dataset.target_names, s) or f"d{s}_dt" for s in states]
    x, xdot = np.concatenate(xs), np.concatenate(ds)
    notes = {"skipped_trajectories": skipped} if skipped else {}
    # state variables constant along every trajectory (masses, charges, parameters) are inputs, not dynamics
    const = np.all([np.ptp(tr, axis=0) <= 1e-12 * (1.0 + np.abs(tr).max(axis=0)) for tr in trajs], axis=0)
    if const.any() and not const.all():
        keep_s = ~const
        return DerivativeData(x[:, keep_s], xdot[:, keep_s], x[:, const], np.concatenate(gs), np.concatenate(pos),
                              [s for s, k in zip(states, keep_s) if k], [s for s, c in zip(states, const) if c],
                              [n for n, k in zip(names, keep_s) if k], est.method, notes)
    return DerivativeData(x, xdot, None, np.concatenate(gs), np.concatenate(pos), states, [], names, est.method, notes)


# --------------------------------------------------------------------------- libraries
def candidate_libraries(n_state: int, n_inputs: int = 0, max_degree: int = 3, fourier: int = 1) -> dict[str, Any]:
    """The PySINDy feature libraries tried by default, by name.

    Polynomials of degree 1..``max_degree`` in all variables, and polynomials of
    degree 1..2 plus Fourier terms (sin, cos of k x, k <= ``fourier``) of the state
    variables; observed inputs (parameters) also multiply the Fourier terms.

    Example:
        >>> sorted(candidate_libraries(2, max_degree=2))
        ['poly1', 'poly1+fourier', 'poly2', 'poly2+fourier']
    """
    libs: dict[str, Any] = {}
    all_vars = list(range(n_state + n_inputs))
    for k in range(1, max_degree + 1):
        libs[f"poly{k}"] = ps.PolynomialLibrary(degree=k)
    if fourier > 0:
        for k in range(1, min(2, max_degree) + 1):
            parts = [ps.PolynomialLibrary(degree=k), ps.FourierLibrary(n_frequencies=fourier)]
            inputs = [all_vars, list(range(n_state))]
            tensors, exclude = None, []
            if n_inputs:
                parts.append(ps.PolynomialLibrary(degree=1, include_bias=False))
                inputs.append(list(range(n_state, n_state + n_inputs)))
                tensors, exclude = [[0, 1, 1]], [2]
            libs[f"poly{k}+fourier"] = ps.GeneralizedLibrary(parts, tensor_array=tensors,
                                                             inputs_per_library=inputs, exclude_libraries=exclude)
    return libs


def _library_matrix(library: Any, V: np.ndarray, names: list[str]) -> tuple[np.ndarray, list[sp.Expr], list[str]]:
    """Fit ``library`` on the variables ``V`` and return (features, SymPy terms, term texts), duplicates removed."""
    internal = [f"v{i}" for i in range(V.shape[1])]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        library.fit(V)
        Theta = np.asarray(library.transform(V), dtype=np.float64)
        raw = library.get_feature_names(internal)
    symbols = {iv: sp.Symbol(n, real=True) for iv, n in zip(internal, names)}
    terms, keep, seen = [], [], set()
    for j, text in enumerate(raw):
        t = re.sub(r"\s+", "*", text.strip())
        expr = parse_expression(t, variables=internal).subs(
            {sp.Symbol(iv, real=True): s for iv, s in symbols.items()}
        )
        if expr in seen:
            continue
        seen.add(expr)
        terms.append(expr)
        keep.append(j)
    return Theta[:, keep], terms, [expression_to_text(t) for t in terms]


# --------------------------------------------------------------------------- sparse regression
def _split_rows(position: np.ndarray, block: int = 25, every: int = 4) -> np.ndarray:
    """Validation mask: every ``every``-th block of ``block`` consecutive samples of each trajectory."""
    return (position // block) % every == every - 1


def _stlsq(A: np.ndarray, B: np.ndarray, threshold: float, max_iter: int = 30) -> np.ndarray:
    """Sequentially thresholded least squares (Brunton et al. 2016) for every column of ``B``: (n_targets, n_terms).

    The same iteration as ``ps.STLSQ(threshold, alpha=0, unbias=True)``: least squares on
    the active terms, drop those with |coefficient| < threshold, repeat until the
    active set is stable. Written with NumPy because the model-selection sweep runs
    hundreds of small fits, and PySINDy's estimator spends most of each one in
    scikit-learn's input validation (30 ms against 0.3 ms here).

    Example:
        >>> A = np.random.default_rng(0).normal(size=(100, 3))
        >>> _stlsq(A, A @ np.array([[1.0], [0.0], [0.05]]), 0.1).round(2).tolist()
        [[1.0, 0.0, 0.0]]
    """
    n_t, n_f = B.shape[1], A.shape[1]
    coef = np.zeros((n_t, n_f))
    for i in range(n_t):
        active = np.ones(n_f, dtype=bool)
        for _ in range(max_iter):
            if not active.any():
                break
            c, *_ = np.linalg.lstsq(A[:, active], B[:, i], rcond=None)
            keep = np.abs(c) >= threshold
            if keep.all():
                coef[i, active] = c
                break
            idx = np.nonzero(active)[0]
            active[idx[~keep]] = False
        else:
            if active.any():
                coef[i, active], *_ = np.linalg.lstsq(A[:, active], B[:, i], rcond=None)
    return coef


def _ols(A: np.ndarray, b: np.ndarray, support: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least squares on the columns in ``support``; returns (coefficients, standard errors), zeros elsewhere."""
    coef = np.zeros(A.shape[1])
    se = np.zeros(A.shape[1])
    if not support.any():
        return coef, se
    As = A[:, support]
    c, *_ = np.linalg.lstsq(As, b, rcond=None)
    resid = b - As @ c
    dof = max(len(b) - int(support.sum()), 1)
    sigma2 = float(resid @ resid) / dof
    cov = sigma2 * np.linalg.pinv(As.T @ As)
    coef[support] = c
    se[support] = np.sqrt(np.clip(np.diag(cov), 0, None))
    return coef, se


def _nmse(A: np.ndarray, b: np.ndarray, coef: np.ndarray, var: float) -> float:
    r = b - A @ coef
    return float(np.mean(r**2) / var)


@dataclass
class _Candidate:
    library: str
    threshold: float
    support: np.ndarray
    nmse: float

    @property
    def complexity(self) -> int:
        return int(self.support.sum())


def _select(cands: list[_Candidate], rel_tol: float, abs_tol: float) -> _Candidate:
    """The sparsest candidate within tolerance of the best held-out error (ties: lower error)."""
    best = min(c.nmse for c in cands)
    ok = [c for c in cands if c.nmse <= (1 + rel_tol) * best + abs_tol and c.complexity > 0] or cands
    return min(ok, key=lambda c: (c.complexity, c.nmse))


def _threshold_grid(threshold: float | None, n: int = 17) -> np.ndarray:
    if threshold is not None:
        if not threshold >= 0:
            raise ConfigError(f"threshold must be >= 0, got {threshold}")
        return np.array([float(threshold)])
    return np.concatenate([[0.0], np.geomspace(1e-4, 1.0, n)])


# --------------------------------------------------------------------------- rounding
#: the relative precision of a coefficient fitted to derivatives differenced from sampled trajectories: the
#: truncation error of the differences moves it (4th-order differences at 60 samples a period: ~1e-5 to 1e-4,
#: a file's oscillator read 0.99999 v and -1.99998 x), whatever the fit's residual says
ESTIMATED_FLOOR = 1e-4
def round_within_error(value: float, error: float) -> sp.Expr:
    """The simplest number within ``error`` of ``value``: an integer, else the shorter of a fraction
    with denominator <= 6 (8/3) and a decimal with the fewest significant digits.

    Example:
        >>> round_within_error(2.6666666667, 1e-8), round_within_error(9.99999999999, 1e-9)
        (8/3, 10)
        >>> round_within_error(0.123456, 1e-4)
        0.1235
    """
    error = max(float(error), 1e-9 * abs(value), 1e-15)
    r = round(value)
    if abs(value - r) <= error:
        return sp.Integer(int(r))
    f = Fraction(value).limit_denominator(6)
    frac_cost = len(str(abs(f.numerator))) + len(str(f.denominator)) if abs(value - float(f)) <= error else 99
    for digits in range(1, 16):
        v = float(f"{value:.{digits}g}")
        if abs(value - v) <= error:
            if frac_cost < digits:
                return sp.Rational(f.numerator, f.denominator)
            return sp.Float(v, digits)
    if frac_cost < 99:
        return sp.Rational(f.numerator, f.denominator)
    return sp.Float(value)


# --------------------------------------------------------------------------- the probe
def _sweep(
    Theta: dict[str, np.ndarray], B: np.ndarray, train: np.ndarray, val: np.ndarray, thresholds: np.ndarray,
    rows_per_term: float,
):
    """The STLSQ threshold sweep shared by the pooled and per-trajectory fits.

    Yields ``(library, threshold, target index, support, held_out_error)`` for every
    library with more than ``rows_per_term`` training rows per term, every threshold
    (stopping once the model is empty) and every column of ``B``; ``held_out_error()``
    refits the support by least squares on ``train`` and returns its normalised error on ``val``.
    """
    scale_b = np.sqrt(np.mean(B[train] ** 2, axis=0))
    scale_b[scale_b == 0] = 1.0
    var = np.var(B[val], axis=0)
    var = np.where(var > 0, var, np.mean(B[val] ** 2, axis=0))
    var[var == 0] = 1.0
    for lname, A in Theta.items():
        if train.sum() <= int(A.shape[1] * rows_per_term):
            continue
        scale = np.sqrt(np.mean(A[train] ** 2, axis=0))
        scale[scale == 0] = 1.0
        As = A / scale
        At, Av = As[train], As[val]
        for thr in thresholds:
            coefs = _stlsq(At, B[train] / scale_b, thr)
            for i in range(B.shape[1]):
                support = coefs[i] != 0

                def held_out_error(At=At, Av=Av, i=i, support=support) -> float:
                    c, _ = _ols(At, B[train, i], support)
                    return _nmse(Av, B[val, i], c, float(var[i]))

                yield lname, float(thr), i, support, held_out_error
            if not coefs.any():  # larger thresholds give the same empty model
                break


def _paths(
    Theta: dict[str, np.ndarray], B: np.ndarray, train: np.ndarray, val: np.ndarray, thresholds: np.ndarray,
) -> list[list[_Candidate]] | None:
    """Sparse models along the threshold sweep for every library and every column of ``B``, scored on ``val``.

    Returns one list of distinct candidates per target, or None when there are too few rows.
    """
    if train.sum() < 2 or val.sum() < 3:
        return None
    out: list[list[_Candidate]] = [[] for _ in range(B.shape[1])]
    seen: list[set] = [set() for _ in range(B.shape[1])]
    for lname, thr, i, support, held_out_error in _sweep(Theta, B, train, val, thresholds, rows_per_term=0.5):
        key = (lname, support.tobytes())
        if key in seen[i]:
            continue
        seen[i].add(key)
        out[i].append(_Candidate(lname, thr, support, held_out_error()))
    return out


def _per_group_structure(
    Theta: dict[str, np.ndarray], B: np.ndarray, groups: np.ndarray, val: np.ndarray, thresholds: np.ndarray,
    rel_tol: float, abs_tol: float, max_groups: int, rng: np.random.Generator,
) -> list[_Candidate]:
    """Structure from per-trajectory sparse fits, for every target: (library, common support, mean held-out error).

    For each (library, threshold), each trajectory gets its own sparse model; the
    common support is the set of terms present in at least half of them and the
    score the mean held-out error of those models. The parsimony rule then picks one.
    """
    ids = np.unique(groups)
    if len(ids) > max_groups:
        ids = rng.choice(ids, max_groups, replace=False)
    stats: list[dict[tuple[str, float], list[tuple[np.ndarray, float]]]] = [{} for _ in range(B.shape[1])]
    for g in ids:
        rows = groups == g
        sub = {k: A[rows] for k, A in Theta.items()}
        paths = _paths_exact(sub, B[rows], ~val[rows], val[rows], thresholds)
        if paths is None:
            continue
        for i, per_thr in enumerate(paths):
            for key, (sup, err) in per_thr.items():
                stats[i].setdefault(key, []).append((sup, err))
    if not stats[0]:
        raise DataError("trajectories are too short to fit each one separately")
    result = []
    for i in range(B.shape[1]):
        cands = []
        for (lname, thr), lst in stats[i].items():
            support = np.mean([s for s, _ in lst], axis=0) >= 0.5
            cands.append(_Candidate(lname, thr, support, float(np.mean([e for _, e in lst]))))
        result.append(_select(cands, rel_tol, abs_tol))
    return result


def _paths_exact(
    Theta: dict[str, np.ndarray], B: np.ndarray, train: np.ndarray, val: np.ndarray, thresholds: np.ndarray,
) -> list[dict[tuple[str, float], tuple[np.ndarray, float]]] | None:
    """Like :func:`_paths` but keyed by (library, threshold) without removing repeated supports."""
    if train.sum() < 2 or val.sum() < 3:
        return None
    out: list[dict] = [{} for _ in range(B.shape[1])]
    for lname, thr, i, support, held_out_error in _sweep(Theta, B, train, val, thresholds, rows_per_term=1.0):
        out[i][(lname, thr)] = (support, held_out_error())
    return out if any(out) else None


def discover_dynamics(
    dataset: Dataset,
    threshold: float | None = None,
    library: Any = "auto",
    derivatives: str = "auto",
    differentiation: Any = "auto",
    per_trajectory: str | bool = "auto",
    max_degree: int = 3,
    fourier: int = 1,
    rel_tol: float = 0.25,
    abs_tol: float = 1e-6,
    max_rows: int = 20000,
    max_groups: int = 16,
    max_terms: int = 120,
    seed: int = 0,
) -> list[Finding]:
    """Identify the ODE dx_i/dt = f_i(x) of every state variable with SINDy; one ``equation`` finding each.

    Args:
        dataset: trajectories (``trajectories``, ``times``, ``state_names``) and/or states as
            inputs with their time derivatives as targets ``d<name>_dt``.
        threshold: STLSQ threshold in units of the derivative's RMS per unit-RMS term; None:
            chosen by the held-out sweep described in the module docstring.
        library: ``"auto"`` (all candidates), ``"polynomial"``, ``"polynomial+fourier"``, a
            PySINDy feature library, or a dict name -> library.
        derivatives, differentiation: where derivatives come from (see :func:`derivative_data`).
        per_trajectory: ``"auto"`` (per-trajectory coefficients only if the pooled model is
            measurably worse), True, or False.
        max_degree, fourier: sizes of the default libraries; the degree is lowered until a
            polynomial library has at most ``max_terms`` columns (many state variables).
        rel_tol, abs_tol: parsimony rule: keep the sparsest model whose normalised held-out error
            is <= (1 + rel_tol) * best + abs_tol.
        max_rows: rows used (random subset of whole blocks beyond it); max_groups: trajectories used
            to choose the structure when fitting them separately.
        seed: seed of the subsampling.

    Returns:
        One finding per state variable, kind ``"equation"``, ``value`` with ``expression`` (text in
        the state names, readable by :func:`physlens.expressions.parse_expression`), ``sympy``,
        ``latex``, ``coefficients`` (term -> value, or term -> per-trajectory array),
        ``complexity`` (number of terms) and ``rmse``.

    Example:
        >>> from physlens.systems import get_system
        >>> fs = discover_dynamics(get_system("lorenz").sample(2000, seed=0))
        >>> [f.statement for f in fs]
        ['d(x)/dt = -10*x + 10*y', 'd(y)/dt = -x*z + 28*x - y', 'd(z)/dt = x*y - 8*z/3']
    """
    if per_trajectory not in ("auto", True, False):
        raise ConfigError(f"per_trajectory must be 'auto', True or False, got {per_trajectory!r}")
    if not (isinstance(max_degree, int) and 1 <= max_degree <= 5):
        raise ConfigError(f"max_degree must be an integer in [1, 5], got {max_degree!r}")
    data = derivative_data(dataset, derivatives=derivatives, differentiation=differentiation)
    rng = np.random.default_rng(seed)
    n_rows = len(data.x)
    if n_rows < 10:
        raise DataError(f"only {n_rows} usable samples of the dynamics; need at least 10")

    # keep whole validation blocks when subsampling so that held-out errors stay honest
    rows = np.arange(n_rows)
    if n_rows > max_rows:
        block_id = data.groups * 10**9 + data.position // 25
        ublocks = np.unique(block_id)
        take = rng.choice(ublocks, max(1, int(len(ublocks) * max_rows / n_rows)), replace=False)
        rows = rows[np.isin(block_id, take)]
    x, xdot = data.x[rows], data.xdot[rows]
    u = data.u[rows] if data.u is not None else None
    groups, position = data.groups[rows], data.position[rows]
    val = _split_rows(position)
    if val.sum() < 3 or (~val).sum() < 3:
        val = np.zeros(len(rows), dtype=bool)
        val[rng.permutation(len(rows))[: max(3, len(rows) // 4)]] = True

    names = data.state_names + data.input_names
    V = np.hstack([x, u]) if u is not None else x
    n_state, n_inputs = x.shape[1], 0 if u is None else u.shape[1]
    # cap the library size: the highest polynomial degree whose library has at most max_terms columns
    n_var = n_state + n_inputs
    degree = max_degree
    while degree > 1 and math.comb(n_var + degree, degree) > max_terms:
        degree -= 1
    libs = _resolve_libraries(library, n_state, n_inputs, degree, fourier)
    Theta, terms, texts = {}, {}, {}
    for lname, lib in libs.items():
        Theta[lname], terms[lname], texts[lname] = _library_matrix(lib, V, names)
    thresholds = _threshold_grid(threshold)
    n_groups = len(np.unique(groups))

    paths = _paths(Theta, xdot, ~val, val, thresholds)
    if paths is None or not paths[0]:
        raise DataError(f"too few samples ({len(rows)}) for the candidate libraries")
    pooled = [_select(p, rel_tol, abs_tol) for p in paths]
    grouped = None
    want_groups = per_trajectory is True or (
        per_trajectory == "auto" and n_groups >= 2 and any(c.nmse > abs_tol for c in pooled)
    )
    if want_groups:
        grouped = _per_group_structure(Theta, xdot, groups, val, thresholds, rel_tol, abs_tol, max_groups, rng)

    findings = []
    for i, state in enumerate(data.state_names):
        chosen, mode = pooled[i], "pooled"
        if grouped is not None and (
            per_trajectory is True or pooled[i].nmse > (1 + rel_tol) * grouped[i].nmse + abs_tol
        ):
            chosen, mode = grouped[i], "per-trajectory"
        lname = chosen.library
        findings.append(
            _equation_finding(state, data, i, Theta[lname], terms[lname], texts[lname], chosen.support,
                              xdot[:, i], groups, val, mode, lname, pooled[i], paths[i])
        )
    return findings


def _resolve_libraries(library: Any, n_state: int, n_inputs: int, max_degree: int, fourier: int) -> dict[str, Any]:
    all_libs = candidate_libraries(n_state, n_inputs, max_degree, fourier)
    if isinstance(library, str):
        if library == "auto":
            return all_libs
        if library == "polynomial":
            return {k: v for k, v in all_libs.items() if "fourier" not in k}
        if library == "polynomial+fourier":
            return {k: v for k, v in all_libs.items() if "fourier" in k}
        raise ConfigError(f"library must be 'auto', 'polynomial', 'polynomial+fourier' or a PySINDy library, got {library!r}")
    if isinstance(library, dict):
        return dict(library)
    if isinstance(library, ps.feature_library.base.BaseFeatureLibrary):
        return {type(library).__name__: library}
    raise ConfigError(f"unsupported library {library!r}")


def _equation_finding(
    state: str, data: DerivativeData, i: int, A: np.ndarray, terms: list[sp.Expr], texts: list[str],
    support: np.ndarray, b: np.ndarray, groups: np.ndarray, val: np.ndarray, mode: str, lname: str,
    pooled: _Candidate, path: list[_Candidate],
) -> Finding:
    target = data.target_names[i]
    sup_idx = np.nonzero(support)[0]
    evidence: dict[str, Any] = {
        "method": "SINDy (PySINDy STLSQ) with held-out model selection",
        "library": lname,
        "derivatives": data.source,
        "n_samples": int(len(b)),
        "n_trajectories": int(len(np.unique(groups))),
        "mode": mode,
        "candidate_terms": int(A.shape[1]),
        "pareto": [
            {"library": c.library, "threshold": c.threshold, "complexity": c.complexity, "val_nmse": c.nmse}
            for c in sorted(path, key=lambda c: (c.complexity, c.nmse))
        ][:40],
    }
    if mode == "pooled":
        coef_tr, _ = _ols(A[~val], b[~val], support)
        var = float(np.var(b[val])) or 1.0
        val_nmse = _nmse(A[val], b[val], coef_tr, var)
        coef, se = _ols(A, b, support)
        resid = b - A @ coef
        # the standard error holds for white noise; derivatives differenced from sampled trajectories carry a
        # smooth bias instead (SIR from a file: -0.4999996 I S, se 1e-8), of the fit's relative size at most
        # (up to 1e-3). It moves a coefficient by at most |bias part of b| / |term| (Cauchy-Schwarz): a term
        # small beside the target is known only that well (a Lorenz file: -0.99996 y beside 28 x - x z)
        bias = min(float(np.sqrt(np.mean(resid**2) / max(np.mean(b**2), 1e-300))), 1e-3)
        size_b = float(np.sqrt(np.mean(b**2)))
        size_a = np.sqrt(np.mean(A**2, axis=0))
        rel = max(bias, ESTIMATED_FLOOR if data.estimated else 0.0)
        rounded = {j: round_within_error(coef[j], max(3 * se[j], rel * abs(coef[j]),
                                                      bias * size_b / max(float(size_a[j]), 1e-300)))
                   for j in sup_idx}
        expr = sp.Add(*[rounded[j] * terms[j] for j in sup_idx]) if len(sup_idx) else sp.Integer(0)
        coefficients = {texts[j]: float(coef[j]) for j in sup_idx}
        evidence["coefficient_stderr"] = {texts[j]: float(se[j]) for j in sup_idx}
        statement = f"d({state})/dt = {expression_to_text(expr)}"
        params = {}
    else:
        ids = np.unique(groups)
        per = np.zeros((len(ids), len(sup_idx)))
        resid = np.zeros_like(b)
        val_err, val_var = 0.0, 0.0
        for gi, g in enumerate(ids):
            rows = groups == g
            c, _ = _ols(A[rows], b[rows], support)
            per[gi] = c[sup_idx]
            resid[rows] = b[rows] - A[rows] @ c
            tr, va = rows & ~val, rows & val
            if va.any() and tr.sum() > len(sup_idx):
                ct, _ = _ols(A[tr], b[tr], support)
                val_err += float(np.sum((b[va] - A[va] @ ct) ** 2))
                val_var += float(np.sum((b[va] - b[va].mean()) ** 2))
        val_nmse = val_err / val_var if val_var > 0 else float("nan")
        taken = {s.name for t in terms for s in t.free_symbols} | set(data.state_names)
        params, expr_terms, coefficients = {}, [], {}
        for k, j in enumerate(sup_idx):
            vals = per[:, k]
            spread = float(np.std(vals))
            if spread <= 1e-6 * max(abs(float(np.mean(vals))), 1e-12):  # the same in every trajectory
                expr_terms.append(round_within_error(float(np.mean(vals)), spread + 1e-12) * terms[j])
                coefficients[texts[j]] = float(np.mean(vals))
                continue
            pname = f"c_{state}_{k}"
            while pname in taken:
                pname += "_"
            sym = sp.Symbol(pname, real=True)
            expr_terms.append(sym * terms[j])
            params[pname] = {"term": texts[j], "values": vals, "mean": float(np.mean(vals)), "std": spread,
                             "min": float(np.min(vals)), "max": float(np.max(vals))}
            coefficients[texts[j]] = vals
        expr = sp.Add(*expr_terms) if expr_terms else sp.Integer(0)
        ranges = ", ".join(f"{p} in [{v['min']:.4g}, {v['max']:.4g}]" for p, v in params.items())
        statement = f"d({state})/dt = {expression_to_text(expr)}" + (f" (per trajectory: {ranges})" if ranges else "")
        evidence["trajectory_ids"] = ids
    rmse = float(np.sqrt(np.mean(resid**2)))
    r2 = 1.0 - float(np.mean(resid**2)) / (float(np.var(b)) or 1.0)
    evidence.update({"r2": r2, "val_nmse": val_nmse, "pooled_val_nmse": pooled.nmse})
    value = {
        "expression": expression_to_text(expr),
        "sympy": expr,
        "latex": sp.latex(expr),
        "lhs": f"d({state})/dt",
        "state": state,
        "state_names": list(data.state_names),
        "input_names": list(data.state_names) + list(data.input_names),
        "coefficients": coefficients,
        "terms": [texts[j] for j in sup_idx],
        "complexity": int(len(sup_idx)),
        "rmse": rmse,
    }
    if params:
        value["parameters"] = params
    conf = float(np.clip(1.0 - np.sqrt(max(val_nmse, 0.0)) if np.isfinite(val_nmse) else 0.0, 0.0, 1.0))
    return Finding("equation", statement, value, evidence, conf, probe=PROBE, target=target, subject=state)

