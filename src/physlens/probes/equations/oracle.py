"""Neural-network oracle for equation search: symmetries and separability read from a fitted MLP.

AI Feynman's central idea (Udrescu & Tegmark 2020, Sci. Adv. 6, eaay2631;
AI Feynman 2.0, Udrescu et al. 2020, NeurIPS): fit a smooth network ``f_NN``
to the data, then use its derivatives (``physlens.autodiff``, torch.func) to
test properties that split the problem into smaller ones:

* **pair symmetries** from the gradient ``g``: ``g_i + g_j = 0`` means f depends on
  ``x_i - x_j``; ``g_i - g_j = 0`` on ``x_i + x_j``; ``x_i g_i - x_j g_j = 0`` on
  ``x_i * x_j``; ``x_i g_i + x_j g_j = 0`` on ``x_i / x_j``. The pair is replaced
  by one new variable and the (true) data are searched with one input fewer;
* **additive separability** ``f = g(x_A) + h(x_B)``: no pair across the groups interacts
  (the ``interactions`` probe's test, :func:`physlens.probes.interactions.pair_interactions`
  and its decision rule, :func:`separable_groups`); **multiplicative separability**
  ``f = g(x_A) h(x_B)``: the same for ``log|f|``. Each group is solved on its own
  from the network's values with the other variables held at typical values
  (``g(x_A) = f_NN(x_A, x_B0)``), and the pieces are recombined and their
  coefficients refitted on the real data.

The network is trained with :func:`physlens.train.train_default` (the project's
one training loop); the tests are relative to the network's own accuracy.
"""

from __future__ import annotations

import itertools

import numpy as np
import sympy as sp

from physlens.probes.equations import simplify as S
from physlens.probes.equations import budget as B


class _TimeUp(Exception):
    pass


def fit_oracle(X: np.ndarray, y: np.ndarray, names: list[str], seed: int = 0, time_budget: float = 20.0):
    """Train the oracle MLP on ``(X, y)`` with :func:`physlens.train.fit` within ``time_budget`` seconds.

    The number of epochs (cosine schedule) is set from the measured time of an epoch (a 3-epoch trial less a 1-epoch one);
    a callback stops training if the clock still runs out (the model keeps its weights).

    Example:
        >>> X = np.random.default_rng(0).uniform(1, 2, (200, 2))
        >>> m = fit_oracle(X, X[:, 0] * X[:, 1], ["a", "b"], time_budget=3)
        >>> m.predict(X[:2]).shape
        (2, 1)
    """
    from physlens.data.dataset import Dataset
    from physlens.models import build_model
    from physlens.train import TrainConfig, fit

    ds = Dataset(X, y[:, None], list(names), ["y"])
    opts = dict(batch_size=64, lr=3e-3, patience=10_000, seed=seed, progress=False, snapshots="none",
                val_fraction=0.1)
    clk = B.clock()
    t0 = clk.now()
    if clk.counted:  # a counted budget: the epochs are priced per training row (no timing trial)
        per_epoch = len(X) * B.COSTS["epoch_rows"] / B.RATE
    else:  # the difference of a 3-epoch and a 1-epoch trial: a fit's set-up is not an epoch's cost (counted
        # in, a 1000-row problem was priced at 0.15 s an epoch against 0.012 s, and the oracle trained 50 of 600)
        laps = []
        for e in (1, 3):
            t1 = clk.now()
            fit(build_model("mlp", ds, seed=seed, width=48, depth=3), ds, TrainConfig(epochs=e, **opts))
            laps.append(clk.now() - t1)
        per_epoch = max((laps[1] - laps[0]) / 2, 1e-3)
    epochs = int(max(5, min(2000, (time_budget - (clk.now() - t0)) / per_epoch)))
    model = build_model("mlp", ds, seed=seed, width=48, depth=3)
    stop_at = t0 + time_budget * 1.2

    def clock(epoch, logs):
        clk.tick(1, "epochs")
        clk.tick(len(X), "epoch_rows")
        if clk.now() > stop_at:
            raise _TimeUp

    try:
        model = fit(model, ds, TrainConfig(epochs=epochs, **opts), callback=clock).model
    except _TimeUp:
        pass
    model.eval()
    return model


def _values(model, X: np.ndarray) -> np.ndarray:
    import torch

    p = next(model.parameters())
    with torch.no_grad():
        out = model(torch.as_tensor(X, dtype=p.dtype, device=p.device))
    return out.detach().cpu().numpy().astype(np.float64)[:, 0]


def pair_symmetries(model, X: np.ndarray, tol: float = 0.02, n: int = 300, seed: int = 0) -> list[tuple[str, int, int, float]]:
    """Pairs ``(kind, i, j, residual)`` with kind in ``minus, plus, times, divide`` whose relation holds.

    Example:
        >>> import torch
        >>> class F(torch.nn.Module):
        ...     def __init__(self): super().__init__(); self.w = torch.nn.Parameter(torch.ones(1))
        ...     def forward(self, x): return torch.sin(x[:, :1] - x[:, 1:2]) * self.w + x[:, 2:3]
        >>> [s[:3] for s in pair_symmetries(F(), np.random.default_rng(0).uniform(1, 2, (50, 3)))]
        [('minus', 0, 1)]
    """
    from physlens.autodiff import batch_gradient

    rng = np.random.default_rng(seed)
    Xs = X[rng.choice(len(X), size=min(n, len(X)), replace=False)]
    g = batch_gradient(model, Xs)
    out = []
    d = X.shape[1]
    for i, j in itertools.combinations(range(d), 2):
        gi, gj = g[:, i], g[:, j]
        xi, xj = Xs[:, i], Xs[:, j]
        for kind, num, den in (
            ("minus", gi + gj, np.abs(gi) + np.abs(gj)),
            ("plus", gi - gj, np.abs(gi) + np.abs(gj)),
            ("times", xi * gi - xj * gj, np.abs(xi * gi) + np.abs(xj * gj)),
            ("divide", xi * gi + xj * gj, np.abs(xi * gi) + np.abs(xj * gj)),
        ):
            scale = np.mean(den)
            if scale <= 0:
                continue
            r = float(np.mean(np.abs(num)) / scale)
            if r < tol:
                out.append((kind, i, j, r))
    out.sort(key=lambda t: t[3])
    return out


def separable_groups(model, X: np.ndarray, y: np.ndarray | None = None, kind: str = "add", n: int = 1000,
                     seed: int = 0) -> list[list[int]]:
    """Groups of inputs between which ``f`` (``kind="add"``) or ``log|f|`` (``"mul"``) is separable.

    The question "does ``f`` separate additively in ``x_i`` and ``x_j``" is the ``interactions``
    probe's: its public estimator :func:`physlens.probes.interactions.pair_interactions` gives each
    pair's superset importance ``E[(Δ_ij f)²]/4`` with its standard error, and its one decision rule,
    :func:`physlens.probes.interactions.pair_verdicts` (the probe's ``ERROR_FACTOR`` and
    ``VARIANCE_FLOOR``, the plain two-standard-error test: the network is read on its own data, so
    neither the typical-row test nor heredity nor the support test applies), calls a pair coupled when
    the importance less two standard errors exceeds ``ERROR_FACTOR`` times the network's mean squared
    error on ``(X, y)`` (in ``log|.|`` for ``"mul"``), or ``VARIANCE_FLOOR`` of ``f``'s variance
    (``y=None``: ``f`` is exact, only the floor counts). The groups are the connected
    components of the coupling graph.

    Example:
        >>> import torch
        >>> class F(torch.nn.Module):
        ...     def __init__(self): super().__init__(); self.w = torch.nn.Parameter(torch.ones(1))
        ...     def forward(self, x): return (x[:, :1] * x[:, 1:2] + torch.exp(x[:, 2:3])) * self.w
        >>> separable_groups(F(), np.random.default_rng(0).uniform(1, 2, (50, 3)))
        [[0, 1], [2]]
    """
    # (lazy: the interactions probe imports torch, which only the oracle needs)
    from physlens.probes.interactions import pair_interactions, pair_verdicts

    d = X.shape[1]

    def f(Z):
        return _values(model, Z)

    fx = f(X)
    err = 0.0 if y is None else float(np.mean((fx - y) ** 2))
    transform = None
    ref = fx
    if kind == "mul":
        signs = np.sign(fx) if y is None else np.concatenate([np.sign(fx), np.sign(y)])
        if np.any(np.abs(fx) < 1e-12) or np.any(signs != signs[0]):
            return [list(range(d))]

        def transform(v):
            return np.log(np.maximum(np.abs(v), 1e-300))

        ref = transform(fx)
        err = 0.0 if y is None else float(np.mean((ref - transform(y)) ** 2))
    B.tick(len(X) + min(n, len(X)) * (1 + d + d * (d - 1) // 2), "evaluations")  # network evaluations
    table = pair_interactions(f, X, n_rows=n, seed=seed, transform=transform)
    adj = np.zeros((d, d), dtype=bool)
    for (i, j), pv in zip(table.pairs, pair_verdicts(table, err, max(float(np.var(ref)), 1e-300))):
        if pv.verdict == "interacting":
            adj[i, j] = adj[j, i] = True
    groups: list[list[int]] = []
    seen: set[int] = set()
    for s in range(d):
        if s in seen:
            continue
        comp, stack = [], [s]
        while stack:
            v = stack.pop()
            if v in seen:
                continue
            seen.add(v)
            comp.append(v)
            stack.extend(int(w) for w in np.nonzero(adj[v])[0] if w not in seen)
        groups.append(sorted(comp))
    return sorted(groups)


def oracle_candidates(X: np.ndarray, y: np.ndarray, names: list[str], deadline: float, seed: int, parent,
                      model=None) -> list[sp.Expr]:
    """Candidate formulas from the oracle's symmetry and separability splits (each piece solved recursively).

    ``parent`` is the calling :class:`~physlens.probes.equations.search.EquationSearch`
    (its options are inherited by the sub-searches); ``model``, an oracle already fitted to these
    data (by the scaling stage), is used instead of fitting another.

    Example:
        >>> import time
        >>> oracle_candidates(np.ones((10, 2)), np.ones(10), ["a", "b"], time.monotonic(), 0, None)  # no time left
        []
    """
    def left() -> float:
        return deadline - B.now()

    if left() < 3:
        return []
    symbols = [sp.Symbol(nm, real=True) for nm in names]
    if model is None:
        model = fit_oracle(X, y, names, seed=seed, time_budget=min(0.35 * left(), 25.0))
    from physlens.probes.uncertainty import observe_stand_in  # (lazy, as torch: only when the oracle runs)

    # the oracle answers in the study model's place (off the data too: one group at its median): its
    # queries count for the extrapolation mark of the probe's findings (nothing happens outside a study)
    observe_stand_in(model)
    out: list[sp.Expr] = []
    d = X.shape[1]

    def sub_search(Xsub, ysub, sub_names, budget, k=3):
        # (the caller's search class; a search with units leaves the scalings to its dimensional stage)
        est = type(parent)(time_limit=max(1.0, budget), variable_names=sub_names, seed=seed,
                           max_complexity=parent.max_complexity, selection_tolerance=0.05, oracle=False,
                           scaling=bool(getattr(parent, "scaling", True)) and not parent.units)
        est.fit(Xsub, ysub)
        # the selected formula first, then the rest of the front (simplest first)
        exprs = [est.expression_] + [c.expression for c in sorted(est.candidates_, key=lambda c: c.rmse)[:k]]
        return list(dict.fromkeys(exprs))

    # 1. separability (multiplicative first: most laws are products)
    for kind in ("mul", "add"):
        if left() < 2:
            break
        groups = separable_groups(model, X, y, kind=kind, seed=seed)
        if len(groups) < 2:
            continue
        x0 = np.median(X, axis=0)
        f0 = float(model.predict(x0[None, :])[0, 0])
        if kind == "mul" and abs(f0) < 1e-12:
            continue
        pieces = []
        for gi, grp in enumerate(groups):
            budget = left() * 0.6 / (len(groups) - gi)
            Xg = np.tile(x0, (len(X), 1))
            Xg[:, grp] = X[:, grp]
            vals = model.predict(Xg)[:, 0].astype(np.float64)
            if np.ptp(vals) <= 1e-9 * (np.abs(vals).max() + 1e-300):
                continue
            try:
                exprs = sub_search(X[:, grp], vals, [names[j] for j in grp], budget)
            except Exception:  # a piece the sub-search cannot handle: the split is dropped
                pieces = []
                break
            pieces.append(exprs[:3])
        if len(pieces) < 2:
            continue
        cols = {nm: X[:, j] for j, nm in enumerate(names)}
        for combo in itertools.islice(itertools.product(*pieces), 27):
            if kind == "mul":
                prod = sp.Mul(*combo)
                v = S.evaluate(prod, cols)
                if not np.all(np.isfinite(v)) or not np.any(v):
                    continue
                c = float(v @ y / (v @ v))
                out.append(sp.Float(c) * prod)
            else:
                F = [S.evaluate(e, cols) for e in combo]
                A = np.column_stack(F + [np.ones(len(y))])
                if not np.all(np.isfinite(A)):
                    continue
                coef, *_ = np.linalg.lstsq(A, y, rcond=None)
                out.append(sum((sp.Float(a) * e for a, e in zip(coef[:-1], combo)), sp.Float(coef[-1])))
        break
    # 2. pair symmetries: replace the pair by one variable, search the real data again
    if left() > 3 and d >= 2:
        syms = pair_symmetries(model, X, seed=seed)
        used: set[int] = set()
        new_cols, new_exprs, new_names = [], [], []
        for kind, i, j, _ in syms:
            if i in used or j in used:
                continue
            used.update((i, j))
            xi, xj = X[:, i], X[:, j]
            si, sj = symbols[i], symbols[j]
            col, ex = {"minus": (xi - xj, si - sj), "plus": (xi + xj, si + sj),
                       "times": (xi * xj, si * sj), "divide": (xi / xj, si / sj)}[kind]
            new_cols.append(col)
            new_exprs.append(ex)
        if new_cols:
            keep = [j for j in range(d) if j not in used]
            Z = np.column_stack([X[:, j] for j in keep] + new_cols)
            fresh = [f"u{k}" for k in range(len(new_cols))]
            while any(nm in names for nm in fresh):  # new variable names must not clash with inputs
                fresh = ["u" + nm for nm in fresh]
            zn = [names[j] for j in keep] + fresh
            sub = {sp.Symbol(nm, real=True): e for nm, e in zip(fresh, new_exprs)}
            try:
                for e in sub_search(Z, y, zn, left() * 0.8):
                    out.append(e.xreplace(sub))
            except Exception:  # the reduced problem may be degenerate (e.g. a constant column)
                pass
    return out


# --------------------------------------------------------------------------- network-free pair symmetries
def _knn_error(Z: np.ndarray, y: np.ndarray, k: int = 5) -> float:
    """Leave-one-out k-nearest-neighbour error of ``y`` as a function of ``Z`` (columns standardised).

    A small error means ``y`` is (locally) a function of the columns of ``Z``.
    """
    from sklearn.neighbors import NearestNeighbors

    sd = Z.std(axis=0)
    Zs = (Z - Z.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    nn = NearestNeighbors(n_neighbors=k + 1).fit(Zs)
    _, idx = nn.kneighbors(Zs)
    pred = y[idx[:, 1:]].mean(axis=1)
    return float(np.mean(np.abs(pred - y)))


def knn_pair_symmetries(X: np.ndarray, y: np.ndarray, same_kind: np.ndarray | None = None, n: int = 600,
                        ratio: float = 0.6, seed: int = 0) -> list[tuple[str, int, int, float]]:
    """Pairs ``(kind, i, j, score)`` such that ``y`` looks like a function of the other inputs and one
    combination of ``x_i, x_j`` (kind ``minus``: ``x_i - x_j``; ``plus``; ``times``; ``divide``).

    The network-free counterpart of :func:`pair_symmetries` (AI Feynman's translational and
    scaling symmetry tests), cheap enough to run first in every search: a symmetry holds
    when replacing the pair by its combination does not raise the leave-one-out nearest-
    neighbour error of ``y`` and when the combination beats wrongly weighted ones
    (``x_i - x_j`` against ``x_i - x_j/2`` and ``x_i - 2 x_j``; one dimension fewer always
    helps a nearest-neighbour fit, so the controls have the same dimension). ``score`` is
    the error ratio to the best control (smaller is clearer); only pairs below ``ratio``
    are returned, best first.
    ``same_kind[i, j]`` (optional) allows sums and differences only between inputs that
    share units. Each pair appears once, with its clearest kind.

    Example:
        >>> X = np.random.default_rng(0).uniform(1, 3, (800, 3))
        >>> [s[:3] for s in knn_pair_symmetries(X, np.sin(X[:, 0] - X[:, 1]) * X[:, 2])][:1]
        [('minus', 0, 1)]
    """
    rng = np.random.default_rng(seed)
    if len(X) > n:
        rows = np.sort(rng.choice(len(X), size=n, replace=False))
        X, y = X[rows], y[rows]
    d = X.shape[1]
    if d < 2 or len(X) < 50:
        return []
    base = _knn_error(X, y)
    if base <= 1e-12 * (np.abs(y).max() + 1e-300):
        return []
    out = []
    for i, j in itertools.combinations(range(d), 2):
        rest = [X[:, q] for q in range(d) if q not in (i, j)]
        xi, xj = X[:, i], X[:, j]
        kinds = [("times", xi * xj), ("divide", xi / xj)] if np.all(xj != 0) else [("times", xi * xj)]
        if same_kind is None or same_kind[i, j]:
            kinds = [("minus", xi - xj), ("plus", xi + xj)] + kinds
        for kind, col in kinds:
            if not np.all(np.isfinite(col)) or np.ptp(col) == 0:
                continue
            err = _knn_error(np.column_stack(rest + [col]), y)
            if err >= base:
                continue
            # controls with the same number of columns: a wrong weighting of the pair
            # (x_i - a x_j, x_i * x_j**a with a = 1/2, 2); a real symmetry beats them clearly,
            # while merely dropping a weak dependence does not
            ctrl = []
            with np.errstate(all="ignore"):
                for a in (0.5, 2.0):
                    cc = {"minus": xi - a * xj, "plus": xi + a * xj, "times": xi * np.abs(xj) ** a,
                          "divide": xi / np.abs(xj) ** a}[kind]
                    if np.all(np.isfinite(cc)) and np.ptp(cc) > 0:
                        ctrl.append(_knn_error(np.column_stack(rest + [cc]), y))
            r = err / min(ctrl) if ctrl else err / base
            if r < ratio:
                out.append((kind, i, j, r))
    out.sort(key=lambda t: t[3])
    # one kind per pair, the clearest (a law of x_i/x_j also looks a little like one of x_i - x_j)
    best: dict[tuple[int, int], tuple] = {}
    for t in out:
        best.setdefault((t[1], t[2]), t)
    return sorted(best.values(), key=lambda t: t[3])
