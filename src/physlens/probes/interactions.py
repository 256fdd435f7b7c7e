"""Pairwise interactions: which inputs the trained network combines non-additively, and how strongly.

A function separates additively in inputs ``a`` and ``b`` (``f = g(a, rest) + h(b, rest)``)
exactly when its interaction contrast vanishes for every pair of values:

    Δ_ab f(x; x') = f(x) - f(x with a←a') - f(x with b←b') + f(x with a←a', b←b') = 0,

and then also ``∂²f/∂a∂b ≡ 0``. For independent inputs ``E[(Δ_ab f)²] / 4`` (x and x'
two data rows) is the *superset importance* of the pair (Liu & Owen 2006, "Estimating
mean dimension with Fourier amplitude sensitivity testing", JASA 101, 712; the same
box difference is Hooker's 2004 test of additive structure in black-box functions,
KDD '04): the variance carried by every ANOVA term that contains both ``a`` and ``b``.
It is zero for an additive pair, ``Var(a) Var(b)`` for ``f = a b``, and never more than the
total effect of either input. Friedman & Popescu's H-statistic (2008, Ann. Appl. Stat. 2,
916) is the same quantity read through partial dependence; the box difference needs no
grid and costs three network evaluations per row and pair.

**Calibrated on the network's own error, not a fixed threshold.** A network fitted to an
additive law is not exactly additive: its error ``e = f_NN - f`` enters the contrast as
``Δe``, and for errors that are independent at the four corners ``E[(Δe)²] / 4`` equals the
network's mean squared error. A pair is called interacting when the lower two-standard-error
bound of its superset importance (standard error over rows) exceeds ``error_factor`` times
the network's MSE on held-out rows (the rows the study validated on) and a tiny share
(``variance_floor``, 1e-5) of the target variance. A network's error is smooth, not
independent from corner to corner, so its spurious pair importance sits well below the
independent-error value: measured on 13 laws of six inputs on [0.5, 2] (MLP, 2000 rows, 150
epochs; laws drawn apart from the benchmark's), the largest importance of a truly additive
pair was 0.05-0.34 MSE and the smallest of a truly interacting pair 0.6 MSE (most above 5
MSE); ``error_factor = 0.5`` sits between. With noisy targets the held-out MSE includes the
noise, which only makes the test more cautious. A fixed threshold on a normalised statistic
(``|∂²f/∂a∂b|`` scaled, or Friedman's H²) cannot know how good the network is. A model that misses more than ``max_unexplained`` of a target's
variance does not declare pairs additive for it (one ``uncertainty`` finding lists them),
as the attribution probe does for relevance.

**Multiplicative separability** (``f = g(a) h(b)``, AI Feynman's product split) is the same
test on ``log|f|`` when the network's output keeps one sign on the data; it is reported in
the value (``"multiplicative"``) next to the additive verdict.

**Higher order.** For three inputs that interact pairwise, the third-order box difference
(eight corners) tells a genuine three-way term (``a b c``) from three separate pair terms
(``ab + bc + ca``); a significant group is one more ``interaction`` finding with three
variables, besides the pairs it induces. Only triangles of interacting pairs are tested (a
three-way term makes each of its pairs interact, on average over the third input), the
strongest-supported first (by their weakest side), on the pair stage's rows, so a triple costs
one more evaluation per row; a counted cap from the budget may cut the list, and an
``uncertainty`` finding then names the triples left untested.

**Mixed partials as evidence.** Where the model is a differentiable torch module, the mean
``|∂²f/∂a∂b|`` (batched Hessians, ``torch.func.vmap(jacrev(jacrev(f)))``) scaled by the inputs' and the
target's spreads is reported for each pair (``evidence["hessian"]``); the decision is the box
test, which needs no smoothness and compares like with like (function values with the
function's error).

**Shuffled corners stay where the network was trained.** With correlated inputs (states
on a trajectory) a swapped corner can land where no data lie and the network
extrapolates. As in the attribution probe, the contrast is averaged over rows whose three
swapped corners lie inside the data (nearest data row within the data's 95th-percentile
nearest-neighbour spacing, standardised inputs; ``evidence["in_support"]``); a pair with
fewer than ``min_inside`` (5 %) such rows gets no verdict. Measured on a Kepler field
emulator (4000 states on short orbits, 15-20 % of the corners inside): averaged over all
rows, 9 of 24 pair verdicts were spurious interactions (``dx/dt = vx`` "depended" on x × y);
over the rows inside the data, 24 of 24 matched the truth (x × y in the accelerations only).

**The typical row, and strong heredity.** Two more conditions keep the emulator's own error
patterns out, both measured on a 3-D Kepler emulator (held-out error 0.7 % of Var(dx/dt)):

* as in the attribution probe, the average can be carried by a few rows where the data are sparse
  (near pericentre); a pair interacts only when the 90 % quantile (``typical_quantile``) of its
  per-row joint part exceeds ``error_factor`` times the 90 % quantile of the model's squared error
  on held-out rows (for independent errors the two have the same distribution, as the means have
  the same value). Three pairs of ``dvz/dt`` whose mean cleared the threshold 2-4x had a typical row
  at 0.4-0.6 of the typical error (additive in the truth). Such a pair gets no verdict, as does one
  whose mean is above the threshold but not by two standard errors: a contrast carried by a few rows
  may be the network extrapolating or a rare true interaction (close encounters: at the quick
  budget ``nbody_charges`` had 114 pairs with means 10-60x the threshold declared additive through
  their heavy-tailed standard errors, all interacting in the truth).
* the superset importance of a pair is bounded by each input's total effect
  ``E[(f(x) - f(x_a←x'_a))²] / 2``, whose value for independent errors is the MSE: an input whose
  total effect stays within ``heredity_factor`` (4) times the MSE is not used by the network beyond
  its error, and neither can it interact (strong heredity; the truth's mixed partial vanishes for an
  input the equation does not contain). The 3-D emulator's ``dx/dt = vx`` read x × y and x × z at
  0.66 MSE (threshold 0.5) through a smooth error shared with the accelerations; x, y and z had
  total effects of 1.6-2.1 MSE on ``dx/dt``, while every truly interacting input had at least 48 MSE.
  The rule applies where the model explains the target (``max_unexplained``): on a coarse model the
  MSE is mostly what the network cannot fit (noise), which never enters the contrasts, and a true
  pair under noise as large as its signal has a total effect of 1 MSE.

**Many inputs.** Every input's total effect ``E[(f(x) - f(x with a←a'))²] / 2`` bounds its
pair importances from above, so inputs are ranked by it and pairs are tested among the
``max_inputs`` most influential ones (default 20: 190 pairs); the evidence says how many
inputs were left out.

**Counted work, not a clock.** The rows of the pair stage, the cap on tested triples and the rows of
the mixed partials are fixed once, at the start (:func:`plan_interactions`), from the data's shape,
the budget and the model's cost per row, which is *counted* (:func:`row_seconds`: the multiply-adds
and written elements of one batch, priced at a reference core's rates), not timed. The same data,
seed and budget therefore give the same findings on an idle machine and on a busy one. The clock
only guards far above the plan (:data:`CLOCK_GUARD` times the budget), where the three-way stage is
skipped and says so. Measured on ``nbody_springs`` (graph network, 20 inputs, 8 targets, standard
budget): the clocked share had let the pair stage use the whole share under a load of 8 and the
three-way stage did not run (0 of the 127 true three-way terms an idle run found); counted, 177 rows
and every admitted triple were tested, 360 pairs and 152 three-way terms, all matched.

Written by hand: no maintained library computes pairwise superset importance with an
error-calibrated decision (Captum has attributions, not interaction tests).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import torch

from physlens.data.dataset import Dataset
from physlens.data.support import DataSupport
from physlens.findings import Finding
from physlens.models.predict import heldout_error, predict_numpy

#: no fit requirement: pairs are judged against the model's own error, so a coarse model only costs power
REQUIRES: dict = {}
COST = 0.4
#: a pair interacts only where the typical row shows it: this quantile of the per-row contrasts (module docstring)
TYPICAL_QUANTILE = 0.9
#: strong heredity: both inputs of an interacting pair must have a total effect above this many times the MSE
HEREDITY_FACTOR = 4.0


def applies(dataset: Dataset) -> str | None:
    """None when the data have at least two inputs (a pair to test).

    Example:
        >>> applies(Dataset(np.zeros((8, 1)), np.zeros(8), ["t"], ["x"]))
        'needs at least two inputs to test a pair'
    """
    if dataset.d_in < 2:
        return "needs at least two inputs to test a pair"
    return None


# --------------------------------------------------------------------------- the box differences
@dataclass
class InteractionTable:
    """Superset importances of input pairs (and groups), per target, read from a function.

    Attributes:
        pairs: tested pairs ``(i, j)`` of input indices, ``i < j``.
        importance: ``E[(Δ_ij f)²] / 4`` per pair and target, shape (n_pairs, k).
        se: standard error of ``importance`` over rows.
        total: every input's total effect ``E[(f(x) - f(x_i←x'_i))²] / 2``, shape (d, k).
        in_support: share of rows whose corners stay inside the data, per pair (1.0 without ``support``);
            the average runs over those rows when at least ``min_inside`` of them are, else over all.
        rows: number of rows the averages ran over.
        groups: tested triples ``(i, j, l)``; ``group_importance``/``group_se``: ``E[(Δ_ijl f)²] / 8``;
            ``group_in_support`` as ``in_support`` (all seven swapped corners inside).
        typical: the ``quantile`` (default 90 %) of the per-row ``(Δ_ij f)² / 4`` over the same rows as
            ``importance``, per pair and target: the typical row's joint part (module docstring).

    Example:
        >>> X = np.random.default_rng(0).uniform(-1, 1, (4000, 3))
        >>> t = pair_interactions(lambda Z: (Z[:, 0] * Z[:, 1] + Z[:, 2] ** 2)[:, None], X, n_rows=4000)
        >>> np.round(t.importance[:, 0], 2).tolist()  # Var(x0) Var(x1) = 1/9 for the product pair
        [0.11, 0.0, 0.0]
    """

    pairs: list[tuple[int, int]]
    importance: np.ndarray
    se: np.ndarray
    total: np.ndarray
    in_support: np.ndarray
    rows: int
    groups: list[tuple[int, int, int]] = field(default_factory=list)
    group_importance: np.ndarray | None = None
    group_se: np.ndarray | None = None
    group_in_support: np.ndarray | None = None
    typical: np.ndarray | None = None

    def matrix(self, target: int = 0) -> np.ndarray:
        """Symmetric (d, d) matrix of pair importances for one target (untested pairs are NaN).

        Example:
            >>> X = np.random.default_rng(0).uniform(-1, 1, (200, 2))
            >>> pair_interactions(lambda Z: Z[:, :1] * Z[:, 1:], X).matrix().shape
            (2, 2)
        """
        d = self.total.shape[0]
        M = np.full((d, d), np.nan)
        for (i, j), v in zip(self.pairs, self.importance[:, target]):
            M[i, j] = M[j, i] = v
        return M


def determined_inputs(X: np.ndarray, tol: float = 1e-6, max_rows: int = 4000) -> set[int]:
    """Indices of inputs that the other inputs fix exactly (linear least squares: 1 - R² below ``tol``).

    Such an input (a measurement probability of a state that other measurements fix, a column that is
    the sum of others) lies on a subspace with the others; swapping it alone always leaves the data, and
    a function known on the data has no unique interaction in it: adding any multiple of the constraint
    changes the mixed partials and not one prediction.

    Example:
        >>> X = np.random.default_rng(0).normal(size=(200, 3))
        >>> sorted(determined_inputs(np.c_[X, X[:, 0] + X[:, 1]]))
        [0, 1, 3]
        >>> determined_inputs(X)
        set()
    """
    X = np.asarray(X, dtype=np.float64)[:max_rows]
    n, d = X.shape
    if d < 2 or n <= d + 1:
        return set()
    Z = X - X.mean(axis=0)
    sd = Z.std(axis=0)
    Z = Z / np.where(sd > 0, sd, 1.0)
    out = set()
    for a in range(d):
        rest = np.delete(Z, a, axis=1)
        coef, *_ = np.linalg.lstsq(rest, Z[:, a], rcond=None)
        if np.mean((Z[:, a] - rest @ coef) ** 2) < tol:
            out.add(a)
    return out


def _as_2d(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    return v[:, None] if v.ndim == 1 else v


def pair_interactions(
    f, X: np.ndarray, pairs: list[tuple[int, int]] | None = None, n_rows: int = 1000, seed: int = 0,
    support: bool = False, min_inside: float = 0.2, groups: list[tuple[int, int, int]] | None = None,
    transform=None, quantile: float = TYPICAL_QUANTILE, corners: dict | None = None,
):
    """Superset importance ``E[(Δ_ij f)²] / 4`` of input pairs of ``f`` (module docstring), with standard errors.

    Args:
        f: ``f(X) -> (n, k)`` (or (n,)) array, e.g. ``model.predict``.
        X: data rows; corners are built from pairs of rows of ``X``.
        pairs: which pairs to test (default: all).
        n_rows: rows the averages run over (random rows of ``X``, each with a random partner row).
        support: average only over rows whose swapped corners stay inside the data, when at least
            ``min_inside`` of them do.
        groups: triples to test for a genuine three-way term.
        transform: applied to ``f``'s values before the differences (``np.log(abs(.))`` tests
            multiplicative separability); a list of transforms (None: the values themselves) gives
            a list of tables from one set of evaluations.
        quantile: which quantile of the per-row contrasts ``InteractionTable.typical`` holds.
        corners: a dict (empty at first) that keeps the evaluated corners and their support masks, filled in
            place, so that a later call on the same ``X``, ``n_rows`` and ``seed`` (the same rows and partners)
            evaluates only the corners it adds: the three-way stage after the pairs costs one evaluation per
            row and group. Its ``"evaluations"`` entry counts the network evaluations (rows) made.

    Returns:
        an :class:`InteractionTable` (a list of them when ``transform`` is a list).

    Example:
        >>> X = np.random.default_rng(1).uniform(1, 2, (300, 3))
        >>> prod = lambda Z: Z[:, 0] * Z[:, 1] * Z[:, 2]
        >>> plain, logs = pair_interactions(prod, X, transform=[None, lambda v: np.log(np.abs(v))])
        >>> bool(np.all(plain.importance > 1e-3)), bool(np.all(logs.importance < 1e-20))  # a product is additive in log|f|
        (True, True)
    """
    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    rng = np.random.default_rng(seed)
    idx = rng.choice(n, size=min(n_rows, n), replace=False)
    partner = rng.choice(n, size=len(idx), replace=True)
    same = partner == idx
    partner[same] = (partner[same] + 1) % n
    x, xp = X[idx], X[partner]
    pairs = list(itertools.combinations(range(d), 2)) if pairs is None else [tuple(sorted(p)) for p in pairs]
    groups = [tuple(sorted(g)) for g in groups or []]
    many = isinstance(transform, (list, tuple))
    transforms = list(transform) if many else [transform]

    def corner(subset) -> np.ndarray:
        Z = x.copy()
        Z[:, list(subset)] = xp[:, list(subset)]
        return Z

    # every corner is evaluated once (across calls sharing ``corners``); the transforms read the same values
    cache = {} if corners is None else corners
    if cache.get("key") != (n, d, len(idx), seed):  # other rows: nothing to reuse
        cache.clear()
        cache.update(key=(n, d, len(idx), seed), values={}, inside={}, evaluations=0)
    raw: dict[tuple, np.ndarray] = cache["values"]
    inside: dict[tuple, np.ndarray] = cache["inside"]
    where = None
    if support and n >= 10:
        where = cache.get("support") or DataSupport(X, max_rows=2000, seed=seed)
        cache["support"] = where

    def value(subset: tuple) -> np.ndarray:
        if subset not in raw:
            raw[subset] = _as_2d(f(corner(subset) if subset else x))
            cache["evaluations"] += len(idx)
        return raw[subset]

    def inside_mask(subset: tuple) -> np.ndarray:
        if subset not in inside:
            inside[subset] = where.inside(corner(subset))
        return inside[subset]

    value(())
    for i in range(d):
        value((i,))
    keep: list[np.ndarray | None] = []
    used = np.ones(len(pairs))
    for q, (i, j) in enumerate(pairs):
        value((i, j))
        ok = None
        if where is not None:
            ok = inside_mask((i,)) & inside_mask((j,)) & inside_mask((i, j))
            used[q] = ok.mean()
            if used[q] < min_inside:  # too few corners inside: all rows (in_support says how few were)
                ok = None
        keep.append(ok)
    g_keep: list[np.ndarray | None] = []
    g_used = np.ones(len(groups))
    for q, g in enumerate(groups):
        g = tuple(g)
        ok = np.ones(len(idx), dtype=bool) if where is not None else None
        for s in itertools.chain(((i,) for i in g), itertools.combinations(g, 2), [g]):
            value(s)
            if ok is not None:
                ok &= inside_mask(s)
        if ok is not None:
            g_used[q] = ok.mean()
            if g_used[q] < min_inside:
                ok = None
        g_keep.append(ok)

    def mean_se(delta2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        se = delta2.std(axis=0, ddof=1) / np.sqrt(len(delta2)) if len(delta2) > 1 else np.zeros(delta2.shape[1])
        return delta2.mean(axis=0), se

    tables = []
    for tf in transforms:
        wanted = {()} | {(i,) for i in range(d)} | set(pairs) | {s for g in groups for r in (2, 3)
                                                              for s in itertools.combinations(tuple(g), r)}
        val = {key: (tf(raw[key]) if tf is not None else raw[key]) for key in wanted}
        f0 = val[()]
        k = f0.shape[1]
        total = np.array([np.mean((f0 - val[(i,)]) ** 2, axis=0) / 2 for i in range(d)]).reshape(d, k)
        imp, se = np.zeros((len(pairs), k)), np.zeros((len(pairs), k))
        typ = np.zeros((len(pairs), k))
        for q, (i, j) in enumerate(pairs):
            delta2 = (f0 - val[(i,)] - val[(j,)] + val[(i, j)]) ** 2 / 4
            rows_q = delta2 if keep[q] is None else delta2[keep[q]]
            imp[q], se[q] = mean_se(rows_q)
            typ[q] = np.quantile(rows_q, quantile, axis=0)
        g_imp, g_se = np.zeros((len(groups), k)), np.zeros((len(groups), k))
        for q, g in enumerate(groups):
            # Σ over the subsets s of g of (-1)^(|g| - |s|) f(x with s swapped)
            signed = sum((-1) ** (len(g) - r) * val[s] for r in range(len(g) + 1)
                         for s in itertools.combinations(g, r))
            delta2 = signed**2 / 2 ** len(g)
            g_imp[q], g_se[q] = mean_se(delta2 if g_keep[q] is None else delta2[g_keep[q]])
        tables.append(InteractionTable(pairs=pairs, importance=imp, se=se, total=total, in_support=used,
                                       rows=len(idx), groups=groups, group_importance=g_imp, group_se=g_se,
                                       group_in_support=g_used, typical=typ))
    return tables if many else tables[0]


def mixed_partials(model: torch.nn.Module, X: np.ndarray, n_rows: int = 256, seed: int = 0,
                   max_seconds: float | None = None, chunk: int = 32) -> np.ndarray | None:
    """Mean ``|∂²f_k/∂x_i∂x_j|`` over rows, from batched Hessians (``torch.func``): array (k, d, d); None if not differentiable.

    Rows are processed ``chunk`` at a time; with ``max_seconds`` the mean runs over the chunks done
    by then (at least one).

    Example:
        >>> class Prod(torch.nn.Module):
        ...     def forward(self, x): return (x[:, 0] * x[:, 1])[:, None]
        >>> H = mixed_partials(Prod(), np.random.rand(10, 2))
        >>> np.round(H[0], 6).tolist()
        [[0.0, 1.0], [1.0, 0.0]]
    """
    from torch.func import jacrev, vmap

    t0 = time.monotonic()
    rng = np.random.default_rng(seed)
    rows = X[rng.choice(len(X), size=min(n_rows, len(X)), replace=False)]
    params = list(model.parameters())
    dtype = params[0].dtype if params else torch.float64

    def one(z: torch.Tensor) -> torch.Tensor:
        return model(z[None])[0]

    hess = vmap(jacrev(jacrev(one)))  # reverse over reverse: SiLU has no forward-mode derivative of its backward
    total, count = None, 0
    for start in range(0, len(rows), chunk):
        x = torch.as_tensor(rows[start : start + chunk], dtype=dtype)
        try:
            H = hess(x).detach().abs().sum(dim=0).double().cpu().numpy()  # (k, d, d)
        except Exception:  # a model torch.func cannot trace (in-place ops, data-dependent control flow)
            return None
        total = H if total is None else total + H
        count += len(x)
        if max_seconds is not None and time.monotonic() - t0 > max_seconds:
            break
    return None if total is None else total / count


# --------------------------------------------------------------------------- the decision rule
#: a pair interacts when its importance's lower 2-SE bound exceeds this many times the model's MSE (docstring)
ERROR_FACTOR = 0.5
#: ... and this share of the target's variance
VARIANCE_FLOOR = 1e-5


@dataclass(frozen=True)
class PairVerdict:
    """The decision on one pair and target (:func:`pair_verdicts`).

    Attributes:
        verdict: ``"interacting"``, ``"additive"``, ``"inconclusive"`` (above the threshold on average, not
            significantly or not on the typical row), ``"outside"`` (corners off the data, or an input the
            others fix) or ``"undetermined"`` (the model misses too much of the target to call a pair additive).
        threshold: the importance a pair must clear (the target's units squared).
        significant: the importance less two standard errors clears the threshold.
        weak: inputs of the pair whose total effect the model's error explains (strong heredity).

    Example:
        >>> PairVerdict("additive", 0.1, False, ()).verdict
        'additive'
    """

    verdict: str
    threshold: float
    significant: bool
    weak: tuple[int, ...]


def pair_verdicts(
    table: InteractionTable, mse: float, var: float, target: int = 0, error_factor: float = ERROR_FACTOR,
    variance_floor: float = VARIANCE_FLOOR, typical_error: float | None = None, heredity_factor: float | None = None,
    determined=(), min_inside: float | None = None, coarse: bool = False,
) -> list[PairVerdict]:
    """The interaction decision for every pair of ``table`` and one target: the one rule of the probe and the oracle.

    A pair interacts when its superset importance less two standard errors exceeds
    ``max(error_factor · mse, variance_floor · var)`` and, where given, (a) the typical row agrees: the
    ``table.typical`` quantile exceeds ``error_factor · typical_error`` (the model's squared error at the
    same quantile); (b) strong heredity: both inputs' total effects exceed ``heredity_factor · mse``
    (not applied on a ``coarse`` model, whose error is mostly what it cannot fit). A pair with an input in
    ``determined``, or whose corners stay inside the data for fewer than ``min_inside`` of the rows, is
    ``"outside"``; on a ``coarse`` model a pair that does not interact is ``"undetermined"``; a pair above
    the threshold on average that fails the other tests (not explained by heredity) is ``"inconclusive"``.
    Without the optional arguments the rule is the plain 2-SE test (the equation engine's separability).

    Example:
        >>> X = np.random.default_rng(0).uniform(-1, 1, (1000, 3))
        >>> t = pair_interactions(lambda Z: Z[:, 0] * Z[:, 1] + Z[:, 2], X)
        >>> [v.verdict for v in pair_verdicts(t, mse=1e-4, var=1.0)]
        ['interacting', 'additive', 'additive']
    """
    threshold = max(error_factor * mse, variance_floor * var)
    out = []
    for q, (i, j) in enumerate(table.pairs):
        v, s = table.importance[q, target], table.se[q, target]
        significant = bool(v - 2.0 * s > threshold)
        broad = typical_error is None or bool(table.typical[q, target] > error_factor * typical_error)
        weak = () if coarse or heredity_factor is None else \
            tuple(a for a in (i, j) if table.total[a, target] <= heredity_factor * mse)
        yes = significant and broad and not weak
        if (min_inside is not None and table.in_support[q] < min_inside) or i in determined or j in determined:
            verdict = "outside"
        elif yes:
            verdict = "interacting"
        elif coarse:
            verdict = "undetermined"
        elif not weak and v > threshold:
            verdict = "inconclusive"
        else:
            verdict = "additive"
        out.append(PairVerdict(verdict, float(threshold), significant, weak))
    return out


# --------------------------------------------------------------------------- counted work
#: the cost model's reference core (one core of the project's shared 2-core machine under load 6-8, torch on
#: CPU): multiply-adds of matrix products (``FlopCounterMode``) per second...
FLOP_RATE = 2e10
#: ...tensor elements written by all operations per second (a graph network's gathers and sums, activations)...
ELEMENT_RATE = 3e8
#: ...and nearest-neighbour work of the support test per second (inputs x kept rows^(1 - 1/inputs))
SUPPORT_RATE = 7e8
#: one row's batched Hessian costs this many times (inputs x targets) forward evaluations (reverse over reverse)
HESSIAN_WORK = 60.0
#: shares of the probe's budget: ranking and pairs, the three-way stage, the mixed partials
STAGE_SHARES = (0.40, 0.45, 0.10)
#: the clock only guards: past this many times the budget, the three-way stage and the Hessians are skipped
CLOCK_GUARD = 5.0


def row_seconds(predict, X: np.ndarray, rows: int = 64) -> float:
    """Reference seconds one row's evaluation of ``predict`` costs, from counted work (not timed).

    One batch of ``rows`` rows runs under torch's operation counters: the multiply-adds of matrix products
    (at :data:`FLOP_RATE`) and the elements every operation writes (at :data:`ELEMENT_RATE`), so the cost of
    an MLP and of a graph network's edge messages are both priced, and the same model gives the same price
    on a busy or an idle machine. A function that runs no torch operations is priced by its inputs.

    Example:
        >>> net = torch.nn.Sequential(torch.nn.Linear(4, 64), torch.nn.Tanh(), torch.nn.Linear(64, 1))
        >>> f = lambda Z: net(torch.as_tensor(Z, dtype=torch.float32)).detach().numpy()
        >>> row_seconds(f, np.zeros((100, 4))) > row_seconds(lambda Z: Z[:, :1], np.zeros((100, 4)))
        True
    """
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils.flop_counter import FlopCounterMode

    class _Elements(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.count = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            for o in out if isinstance(out, (tuple, list)) else (out,):
                if isinstance(o, torch.Tensor):
                    self.count += o.numel()
            return out

    Z = np.asarray(X[:rows], dtype=np.float64)
    n, d = Z.shape
    flops = elements = 0.0
    try:
        counter = _Elements()
        with FlopCounterMode(display=False) as fc, counter:
            predict(Z)
        flops, elements = float(fc.get_total_flops()), float(counter.count)
    except Exception:  # a function the counters cannot follow: priced by its inputs alone
        pass
    return (flops / FLOP_RATE + (elements + 4 * n * d) / ELEMENT_RATE) / max(n, 1)


def support_seconds(d: int, kept: int = 2000) -> float:
    """Reference seconds of one row's support query (nearest data row among ``kept`` rows in ``d`` inputs).

    Example:
        >>> support_seconds(20) > 10 * support_seconds(4)
        True
    """
    return d * kept ** (1.0 - 1.0 / max(d, 1)) / SUPPORT_RATE


@dataclass(frozen=True)
class InteractionPlan:
    """The probe's work, fixed once from the data's shape, the model's counted cost and the budget.

    Attributes:
        inputs: inputs among which pairs are tested (the most influential first).
        rows: rows of the pair and three-way stages (the same rows: the triples reuse the pairs' corners).
        rank_rows: rows of the ranking pass (total effects).
        max_triples: cap on the triples tested (distinct triples over all targets).
        hessian_rows: rows of the mixed partials (0: skipped).
        seconds: the plan's estimated reference seconds per stage (ranking and pairs, triples, Hessians).

    Example:
        >>> p = plan_interactions(d=6, k=1, n=5000, row_s=2e-6, support_s=2e-6, budget_seconds=5.0)
        >>> p.inputs, p.rows, p.max_triples
        (6, 2000, 200)
    """

    inputs: int
    rows: int
    rank_rows: int
    max_triples: int
    hessian_rows: int
    seconds: tuple[float, float, float]


def plan_interactions(
    d: int, k: int, n: int, row_s: float, support_s: float, budget_seconds: float | None = None,
    max_rows: int = 2000, max_inputs: int = 20, max_findings: int = 400, max_triples: int = 200,
    min_rows: int = 100, hessian: bool = True,
) -> InteractionPlan:
    """Counts for every stage of the probe, chosen once at the start (:class:`InteractionPlan`).

    ``row_s`` and ``support_s`` are the reference seconds of one row's network evaluation and support query
    (:func:`row_seconds`, :func:`support_seconds`; 0 for ``support_s`` without the support test). The pair
    stage costs ``(1 + d + pairs)`` evaluations and ``(inputs + pairs)`` support queries per row and gets
    ``STAGE_SHARES[0]`` of ``budget_seconds``; the triples cost one of each per row and triple, on the same
    rows, within ``STAGE_SHARES[1]``; the Hessians ``HESSIAN_WORK · d · k`` evaluations per row within
    ``STAGE_SHARES[2]``. Without a budget every cap is the option's (``max_rows``, ``max_triples``).

    Example:
        >>> p = plan_interactions(d=20, k=8, n=4000, row_s=6e-5, support_s=4e-5, budget_seconds=5.5)
        >>> p.inputs, p.rows, p.max_triples, p.hessian_rows
        (10, 254, 97, 0)
    """
    m = min(d, max_inputs)
    while m > 2 and (m * (m - 1) // 2) * k > max_findings:
        m -= 1
    pairs = m * (m - 1) // 2
    rows = min(max_rows, n)
    rank_rows = min(rows, 500)
    triples = max_triples
    hess_rows = min(256, rows) if hessian else 0
    per_pair_row = (1 + d + pairs) * row_s + (m + pairs) * support_s
    per_triple_row = row_s + support_s
    per_hess_row = HESSIAN_WORK * d * k * row_s
    if budget_seconds is not None:
        pair_s, triple_s, hess_s = (share * budget_seconds for share in STAGE_SHARES)
        rank_cost = 0.0 if rows <= 500 else 500 * (1 + d) * row_s  # fewer than 500 rows: the same rows
        rows = int(min(rows, max(min(min_rows, n), (pair_s - rank_cost) / per_pair_row)))
        rank_rows = min(rows, 500)
        triples = int(min(max_triples, triple_s / (rows * per_triple_row)))
        hess_rows = int(min(hess_rows, rows, hess_s / per_hess_row)) if hessian else 0
        if hess_rows < 8:
            hess_rows = 0
    rank_cost = 0.0 if rows <= 500 else rank_rows * (1 + d) * row_s
    seconds = (rank_cost + rows * per_pair_row, rows * triples * per_triple_row, hess_rows * per_hess_row)
    return InteractionPlan(m, rows, rank_rows, triples, hess_rows, tuple(float(x) for x in seconds))


# --------------------------------------------------------------------------- the probe
def _confidence(value: float, threshold: float) -> float:
    margin = abs(np.log10((value + 1e-300) / (threshold + 1e-300)))
    return float(1.0 - 0.5 * np.exp(-2.0 * margin))


def run(
    model: torch.nn.Module,
    dataset: Dataset,
    max_rows: int = 2000,
    max_inputs: int = 20,
    max_findings: int = 400,
    error_factor: float = ERROR_FACTOR,
    variance_floor: float = VARIANCE_FLOOR,
    max_unexplained: float = 0.05,
    multiplicative: bool = True,
    higher_order: bool = True,
    support: bool = True,
    min_inside: float = 0.05,
    seed: int = 0,
    heldout: np.ndarray | None = None,
    budget_seconds: float | None = None,
    typical_quantile: float = TYPICAL_QUANTILE,
    heredity_factor: float = HEREDITY_FACTOR,
    max_triples: int = 200,
) -> list[Finding]:
    """One ``interaction`` finding per tested input pair and target, plus one per significant three-way group.

    Args:
        model: a trained emulator.
        dataset: the data the corners are drawn from.
        max_rows: rows the box differences average over (fewer when ``budget_seconds`` is short).
        max_inputs: pairs are tested among this many inputs, the most influential first.
        max_findings: cap on pairs × targets (inputs are dropped, least influential first, to fit).
        error_factor: a pair interacts when its importance's lower 2-SE bound exceeds this many times
            the model's MSE (the null value for independent errors is 1; smooth network errors stay
            below 0.35, module docstring)...
        variance_floor: ...and this share of the target variance.
        max_unexplained: above this share of unexplained target variance, no pair is declared additive.
        multiplicative: also test ``log|f|`` (one-signed outputs only).
        higher_order: test triangles of interacting pairs for a genuine three-way term.
        support: average over rows whose swapped corners stay inside the data (module docstring).
        min_inside: a pair whose corners stay inside the data for fewer rows than this share gets no
            verdict (listed in an ``uncertainty`` finding): the network would be read where it never saw data.
        seed: for the rows and partners.
        heldout: validation rows (the study passes them): the model's error is measured there.
        budget_seconds: the probe's share of the study's time, turned once into counts of rows and triples
            (:func:`plan_interactions`, priced by counted work, not timed); the clock only guards.
        typical_quantile: a pair interacts only when, at this quantile of the rows, its joint part exceeds
            ``error_factor`` times the model's squared error at the same quantile (module docstring).
        heredity_factor: a pair interacts only when both inputs' total effects exceed this many times the
            model's MSE (the value for independent errors is 1; module docstring).
        max_triples: cap on the triples tested for a three-way term (fewer when the budget pays for fewer);
            a cut is reported in an ``uncertainty`` finding.

    Example:
        >>> from physlens.systems import get_system
        >>> from physlens.models import build_model
        >>> from physlens.train import fit, TrainConfig
        >>> ds = get_system("toy_distractor").sample(1000)
        >>> result = fit(build_model("mlp", ds), ds, TrainConfig(epochs=60, progress=False))
        >>> fs = run(result.model, ds, max_rows=300, heldout=result.val_index)
        >>> {f.subject: f.value["interacting"] for f in fs if f.kind == "interaction"}
        {'x1×x2': True, 'x1×x3': False, 'x2×x3': False}
    """
    t_start = time.monotonic()
    model.eval()
    predict = partial(predict_numpy, model)
    d, k = dataset.d_in, dataset.d_out
    names, tnames = dataset.input_names, dataset.target_names
    rng = np.random.default_rng(seed)

    # the work is counted, not clocked: every stage's rows and caps are fixed here, from the data's shape, the
    # model's counted cost per row and the budget, so a busy machine gives the findings of an idle one
    plan = plan_interactions(d, k, dataset.n, row_seconds(predict, dataset.X),
                             support_seconds(d, min(2000, dataset.n)) if support else 0.0,
                             budget_seconds=budget_seconds, max_rows=max_rows, max_inputs=max_inputs,
                             max_findings=max_findings, max_triples=max_triples if higher_order else 0,
                             hessian=d <= 64)
    n_rows = plan.rows
    guard = None if budget_seconds is None else t_start + CLOCK_GUARD * max(budget_seconds, 1.0)

    # the model's error: on held-out rows when known (else on the data)
    rows = rng.choice(dataset.n, size=min(2000, dataset.n), replace=False)
    pred = predict(dataset.X[rows])
    Y = dataset.y[rows]
    mse, typical_error, error_on = heldout_error(predict, dataset, rows, heldout, typical_quantile, pred=pred)
    hx = np.asarray(heldout, dtype=np.int64)[:2000] if error_on == "held-out" else None
    var = np.var(dataset.y, axis=0)
    var = np.where(var > 0, var, 1.0)

    # inputs ranked by total effect (an upper bound on their pair importances); on the pairs' rows when as few
    corners: dict = {}
    first = pair_interactions(predict, dataset.X, pairs=[], n_rows=plan.rank_rows, seed=seed,
                              corners=corners if plan.rank_rows == n_rows else None)
    tot = (first.total / var).max(axis=1)
    order = list(np.argsort(-tot, kind="stable"))
    m = plan.inputs
    chosen = sorted(order[:m])
    pairs = list(itertools.combinations(chosen, 2))
    left_out = [names[i] for i in order[m:]]

    log_table = None
    log_mse = None
    one_signed = np.zeros(k, dtype=bool)
    if multiplicative:
        one_signed = ((np.all(dataset.y > 0, axis=0) & np.all(pred > 0, axis=0))
                      | (np.all(dataset.y < 0, axis=0) & np.all(pred < 0, axis=0)))
        multiplicative = bool(np.any(one_signed))

    def logabs(v: np.ndarray) -> np.ndarray:
        return np.log(np.maximum(np.abs(v), 1e-300))

    if multiplicative:
        table, log_table = pair_interactions(predict, dataset.X, pairs=pairs, n_rows=n_rows, seed=seed,
                                             support=support, transform=[None, logabs],
                                             min_inside=min_inside, quantile=typical_quantile, corners=corners)
        lp, ly = (logabs(predict(dataset.X[hx])), logabs(dataset.y[hx])) if hx is not None else \
            (logabs(pred), logabs(Y))
        log_mse = np.mean((lp - ly) ** 2, axis=0)
    else:
        table = pair_interactions(predict, dataset.X, pairs=pairs, n_rows=n_rows, seed=seed, support=support,
                                  min_inside=min_inside, quantile=typical_quantile, corners=corners)
    hess = None
    if plan.hessian_rows and (guard is None or time.monotonic() < guard):
        hess = mixed_partials(model, dataset.X, n_rows=plan.hessian_rows, seed=seed)
    sd_x = dataset.X.std(axis=0)

    findings: list[Finding] = []
    unsure: dict[str, list[str]] = {}
    outside: dict[str, list[str]] = {}
    inconclusive: dict[str, list[str]] = {}
    determined = determined_inputs(dataset.X)  # inputs the others fix exactly: their swaps always leave the data
    interacting: dict[int, set[tuple[int, int]]] = {t: set() for t in range(k)}
    coarse = mse / var > max_unexplained
    for t, tname in enumerate(tnames):
        verdicts = pair_verdicts(table, mse[t], var[t], target=t, error_factor=error_factor,
                                 variance_floor=variance_floor, typical_error=typical_error[t],
                                 heredity_factor=heredity_factor, determined=determined,
                                 min_inside=min_inside if support else None, coarse=bool(coarse[t]))
        for q, ((i, j), pv) in enumerate(zip(pairs, verdicts)):
            v, s = table.importance[q, t], table.se[q, t]
            threshold = pv.threshold
            pair_name = f"({names[i]}, {names[j]})"
            if pv.verdict == "outside":
                outside.setdefault(tname, []).append(pair_name)
                continue
            if pv.verdict == "undetermined":
                unsure.setdefault(tname, []).append(pair_name)
                continue
            if pv.verdict == "inconclusive":
                # above the threshold on average, yet not significantly or not on the typical row, and not
                # explained by heredity: a heavy-tailed contrast or one carried by a few rows (off the data,
                # or a rare true interaction): no verdict
                inconclusive.setdefault(tname, []).append(pair_name)
                continue
            yes = pv.verdict == "interacting"
            weak = [names[a] for a in pv.weak]
            if yes:
                interacting[t].add((i, j))
            value = {"variables": [names[i], names[j]], "interacting": yes, "strength": float(v / var[t])}
            evidence = {"importance": float(v / var[t]), "importance_se": float(s / var[t]),
                        "threshold": float(threshold / var[t]), "model_mse_over_var": float(mse[t] / var[t]),
                        "model_error_on": error_on, "rows": int(table.rows),
                        "in_support": float(table.in_support[q]),
                        "typical": float(table.typical[q, t] / var[t]),
                        "typical_threshold": float(error_factor * typical_error[t] / var[t]),
                        "total_effect": [float(table.total[i, t] / var[t]), float(table.total[j, t] / var[t])]}
            mult_text = ""
            if multiplicative and one_signed[t]:
                lv, ls = log_table.importance[q, t], log_table.se[q, t]
                lthr = max(error_factor * log_mse[t], variance_floor * max(np.var(np.log(np.abs(dataset.y[:, t]))),
                                                                            1e-300))
                mult = bool(lv - 2.0 * ls <= lthr)
                value["multiplicative"] = mult
                evidence.update(log_importance=float(lv), log_threshold=float(lthr))
                if yes and mult:
                    mult_text = f"; it separates as a product ({tname} = g({names[i]}) · h({names[j]}) · …)"
            if hess is not None:
                evidence["hessian"] = float(hess[t, i, j] * sd_x[i] * sd_x[j] / np.sqrt(var[t]))
            if left_out:
                evidence["inputs_not_tested"] = left_out
            if yes:
                statement = (f"{names[i]} and {names[j]} interact in {tname}: their joint (non-additive) part "
                             f"carries {v / var[t]:.3g} of Var({tname}) (threshold {threshold / var[t]:.2g}, "
                             f"from the model's error){mult_text}")
            else:
                statement = (f"{tname} separates additively in {names[i]} and {names[j]}: their joint part "
                             f"{v / var[t]:.2g} of Var({tname}) stays within the model's error "
                             f"(threshold {threshold / var[t]:.2g})")
                if weak and pv.significant:
                    statement += (f"; on average it clears the threshold, but {' and '.join(weak)} on its own changes "
                                  f"{tname} by no more than {heredity_factor:g}x the model's error (total effect), so "
                                  "the joint part is the model's error too")
            findings.append(Finding(kind="interaction", statement=statement, value=value, evidence=evidence,
                                    confidence=_confidence(v, threshold), probe="interactions", target=tname,
                                    subject=f"{names[i]}×{names[j]}"))

    # three-way groups: the triangles of interacting pairs (heredity), the third-order box difference on the
    # pairs' rows (one evaluation per row and triple); the strongest triangles first, up to the plan's cap
    if higher_order:
        findings += _three_way(predict, dataset, pairs, table, interacting, chosen, plan, corners, mse, var,
                               error_factor, variance_floor, seed, support, min_inside, guard)
    for tname, pnames in unsure.items():
        t = tnames.index(tname)
        findings.append(Finding(
            kind="uncertainty",
            statement=(f"Undetermined for {tname}: the model misses {mse[t] / var[t]:.0%} of its variance, too much to "
                       f"tell whether {len(pnames)} pair(s) such as {', '.join(pnames[:4])} separate additively"),
            value={"name": "interaction undetermined", "target": tname, "pairs": pnames,
                   "model_mse_over_var": float(mse[t] / var[t]), "max_unexplained": max_unexplained},
            confidence=float(min(1.0, mse[t] / var[t])), probe="interactions", target=tname, subject=tname))
    for tname, pnames in outside.items():
        t = tnames.index(tname)
        fixed = f" ({', '.join(names[a] for a in sorted(determined))} fixed by the other inputs)" if determined else ""
        findings.append(Finding(
            kind="uncertainty",
            statement=(f"Undetermined for {tname}: for {len(pnames)} pair(s) such as {', '.join(pnames[:4])} the "
                       f"swapped values leave the data for more than {1 - min_inside:.0%} of the rows (correlated "
                       f"inputs{fixed}), where the network was never trained; their interaction cannot be read off it"),
            value={"name": "interaction undetermined", "target": tname, "pairs": pnames,
                   "reason": "corners outside the data", "min_inside": min_inside,
                   "determined_inputs": [names[a] for a in sorted(determined)]},
            confidence=0.5, probe="interactions", target=tname, subject=tname))
    for tname, pnames in inconclusive.items():
        t = tnames.index(tname)
        findings.append(Finding(
            kind="uncertainty",
            statement=(f"Undetermined for {tname}: {len(pnames)} pair(s) such as {', '.join(pnames[:4])} have a joint "
                       "part above the threshold on average but not significantly (its two-standard-error interval "
                       "contains the threshold) or not on the typical row (a heavy-tailed contrast: a few rows carry most of it, "
                       "where the data may not reach or a rare true interaction lives); more rows or a finer model "
                       "would decide"),
            value={"name": "interaction undetermined", "target": tname, "pairs": pnames, "reason": "inconclusive"},
            confidence=0.5, probe="interactions", target=tname, subject=tname))
    return findings


def _three_way(predict, dataset, pairs, table, interacting, chosen, plan, corners, mse, var, error_factor,
               variance_floor, seed, support, min_inside, guard) -> list[Finding]:
    """The three-way stage of :func:`run`: interaction findings for triples, and one ``uncertainty`` finding
    when the plan's cap (or the clock guard) left admitted triples untested."""
    names, tnames = dataset.input_names, dataset.target_names
    pair_q = {p: q for q, p in enumerate(pairs)}
    admitted: dict[tuple[int, int, int], float] = {}
    per_target: dict[int, list[tuple[int, int, int]]] = {}
    for t in range(len(tnames)):
        edges = interacting[t]
        for g in itertools.combinations(chosen, 3):
            sides = list(itertools.combinations(g, 2))
            if all(p in edges for p in sides):
                per_target.setdefault(t, []).append(g)
                weakest = min(table.importance[pair_q[p], t] / var[t] for p in sides)
                admitted[g] = max(admitted.get(g, 0.0), float(weakest))
    if not admitted:
        return []
    ranked = sorted(admitted, key=lambda g: (-admitted[g], g))
    stopped = guard is not None and time.monotonic() > guard
    tested = [] if stopped else ranked[:plan.max_triples]
    out: list[Finding] = []
    if tested:
        gt = pair_interactions(predict, dataset.X, pairs=[], groups=tested, n_rows=plan.rows, seed=seed,
                               support=support, min_inside=min_inside, corners=corners)
        where = {g: q for q, g in enumerate(tested)}
        for t, tname in enumerate(tnames):
            threshold = max(error_factor * mse[t], variance_floor * var[t])
            for g in per_target.get(t, []):
                if g not in where:
                    continue
                q = where[g]
                v, s = gt.group_importance[q, t], gt.group_se[q, t]
                if v - 2.0 * s <= threshold or (support and gt.group_in_support[q] < min_inside):
                    continue
                gn = [names[i] for i in g]
                out.append(Finding(
                    kind="interaction",
                    statement=(f"{', '.join(gn)} interact jointly in {tname} (a three-way term): their joint part "
                               f"carries {v / var[t]:.3g} of Var({tname}) (threshold {threshold / var[t]:.2g})"),
                    value={"variables": gn, "interacting": True, "strength": float(v / var[t]), "order": 3},
                    evidence={"importance": float(v / var[t]), "importance_se": float(s / var[t]),
                              "threshold": float(threshold / var[t]), "rows": int(gt.rows),
                              "in_support": float(gt.group_in_support[q])},
                    confidence=_confidence(v, threshold), probe="interactions", target=tname,
                    subject="×".join(gn)))
    untested = ranked[len(tested):]
    if untested:
        why = ("the clock passed its guard (the machine ran far slower than the plan)" if stopped else
               f"the budget pays for {len(tested)} of them on {plan.rows} rows (a counted cap)")
        shown = ", ".join("(" + ", ".join(names[i] for i in g) + ")" for g in untested[:4])
        out.append(Finding(
            kind="uncertainty",
            statement=(f"Three-way terms not tested for {len(untested)} of {len(ranked)} triples whose pairs all "
                       f"interact, such as {shown}: {why}; the weakest-supported triples were left out first, and a "
                       "larger budget tests them"),
            value={"name": "three-way interactions untested", "tested": len(tested), "admitted": len(ranked),
                   "triples": [[names[i] for i in g] for g in untested],
                   "reason": "clock guard" if stopped else "counted cap"},
            confidence=0.5, probe="interactions", target=None, subject="three-way"))
    return out


def interaction_rows(findings: list[Finding]) -> list[dict]:
    """The pair (and group) findings as flat rows, ready for ``pandas.DataFrame(rows)`` to sort and filter.

    Columns: target, a, b, c (third input of a group, else None), interacting, strength,
    multiplicative (None when not tested), threshold.

    Example:
        >>> f = Finding("interaction", "x and y interact", {"variables": ["x", "y"], "interacting": True,
        ...             "strength": 0.3}, evidence={"threshold": 0.01}, target="f")
        >>> [(r["a"], r["b"], r["interacting"]) for r in interaction_rows([f])]
        [('x', 'y', True)]
    """
    rows = []
    for f in findings:
        if f.kind != "interaction" or not isinstance(f.value, dict):
            continue
        v = list(f.value.get("variables", []))
        rows.append({"target": f.target, "a": v[0] if v else None, "b": v[1] if len(v) > 1 else None,
                     "c": v[2] if len(v) > 2 else None, "interacting": bool(f.value.get("interacting")),
                     "strength": f.value.get("strength"), "multiplicative": f.value.get("multiplicative"),
                     "threshold": (f.evidence or {}).get("threshold")})
    return rows
