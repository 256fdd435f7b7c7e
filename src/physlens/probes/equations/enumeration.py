"""Bottom-up enumeration of small expression trees with semantic deduplication.

The brute-force stage of AI Feynman (Udrescu & Tegmark 2020) done bottom-up,
as in enumerative program synthesis with *observational equivalence*
(Udupa et al. 2013; also the core of "exhaustive symbolic regression",
Bartlett et al. 2023): every expression of complexity ``c`` is built from
smaller ones (a unary operator on complexity ``c - 1``, a binary operator on
complexities ``a + b = c - 1``), evaluated at once with NumPy on a small
subsample of the data, and kept only when its vector of values is new (two
subexpressions with the same values on the sample are one, so ``x*y`` and
``y*x``, ``sqrt(x)**2`` and ``x`` are enumerated once). Every new expression
``f`` is scored against several transforms ``T(y)`` of the target by the best
affine fit ``T(y) ~ a*f + b`` (one correlation, computed for a whole block of
candidates with one matrix product), so outer constants never need to be
enumerated. A transform whose noise differs from row to row (``log y`` is
ruled by the rows where ``y`` is small) is also scored, beside its plain
ranking, by the *weighted* correlation, each row weighted by the inverse of
the noise it carries there (``weights``); otherwise, at 1 % noise, look-alikes
fitted to the noisiest rows outrank the law. When a level grows beyond ``level_cap`` the best-correlated half
and a seeded random half are kept. The clock is checked between blocks.

Written by hand because no maintained Python library does vectorised
bottom-up enumeration with value-based deduplication (PySR needs Julia;
gplearn is a genetic search).

Example:
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(1, 3, (200, 2))
    >>> res = enumerate_expressions(X, {"y": X[:, 0] * np.exp(-X[:, 1])}, max_complexity=6, time_limit=5)
    >>> best = res.best("y")
    >>> res.to_sympy(best.recipe, sp.symbols("a b", real=True))
    a*exp(-b)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from physlens.probes.equations import budget as work

# unary primitives: name -> (numpy function, sympy builder)
UNARY = {
    "neg": (np.negative, lambda a: -a),
    "inv": (lambda v: 1.0 / v, lambda a: 1 / a),
    "square": (np.square, lambda a: a**2),
    "sqrt": (np.sqrt, sp.sqrt),
    "exp": (np.exp, sp.exp),
    "log": (np.log, sp.log),
    "sin": (np.sin, sp.sin),
    "cos": (np.cos, sp.cos),
    "tanh": (np.tanh, sp.tanh),
    "asin": (np.arcsin, sp.asin),
    "acos": (np.arccos, sp.acos),
}
BINARY = {
    "add": (np.add, lambda a, b: a + b, True),
    "sub": (np.subtract, lambda a, b: a - b, False),
    "mul": (np.multiply, lambda a, b: a * b, True),
    "div": (np.divide, lambda a, b: a / b, False),
}
CONSTANTS = {"1": (1.0, sp.Integer(1)), "2": (2.0, sp.Integer(2)), "pi": (np.pi, sp.pi)}
DEFAULT_UNARY = ("neg", "inv", "square", "sqrt", "exp", "log", "sin", "cos", "tanh", "asin", "acos")


@dataclass
class Scored:
    """One scored candidate: its recipe id, complexity and unexplained variance per target transform.

    Example:
        >>> Scored(recipe=3, complexity=2, loss=1e-9, target="y").complexity
        2
    """

    recipe: int
    complexity: int
    loss: float
    target: str


OPS: list[tuple[str, str]] = (
    [("x", "x"), ("c", "c")] + [("u", u) for u in UNARY] + [("b", b) for b in BINARY]
)
_CODE = {v: i for i, v in enumerate(OPS)}
_CONST_NAMES = list(CONSTANTS)


@dataclass
class Enumeration:
    """What :func:`enumerate_expressions` returns: recipes of the kept expressions and the best-scored ones.

    A recipe is a row ``(op, a, b)`` of :attr:`recipes`: ``op`` indexes :data:`OPS`; for a
    variable ``a`` is the column, for a constant ``a`` indexes :data:`CONSTANTS`, otherwise
    ``a`` (and ``b``) are the recipe ids of the arguments.

    Example:
        >>> e = Enumeration(recipes=np.zeros((0, 3), int), complexities=np.zeros(0, int))
        >>> e.levels_done
        0
    """

    recipes: np.ndarray
    complexities: np.ndarray
    top: dict[str, list[Scored]] = field(default_factory=dict)
    levels_done: int = 0
    pool_ids: np.ndarray | None = None
    pool_values: np.ndarray | None = None
    sample_index: np.ndarray | None = None

    def best(self, target: str) -> Scored:
        """Lowest-loss (then simplest) candidate for ``target``."""
        return min(self.top[target], key=lambda s: (s.loss, s.complexity))

    def to_sympy(self, rid: int, symbols: list[sp.Symbol]) -> sp.Expr:
        """SymPy expression of recipe ``rid`` in ``symbols`` (one per input column)."""
        op, a, b = (int(v) for v in self.recipes[rid])
        kind, name = OPS[op]
        if kind == "x":
            return symbols[a]
        if kind == "c":
            return CONSTANTS[_CONST_NAMES[a]][1]
        if kind == "u":
            return UNARY[name][1](self.to_sympy(a, symbols))
        return BINARY[name][1](self.to_sympy(a, symbols), self.to_sympy(b, symbols))

    def evaluate(self, rid: int, X: np.ndarray) -> np.ndarray:
        """Values of recipe ``rid`` on the rows of ``X``."""
        op, a, b = (int(v) for v in self.recipes[rid])
        kind, name = OPS[op]
        with np.errstate(all="ignore"):
            if kind == "x":
                return X[:, a].astype(np.float64)
            if kind == "c":
                return np.full(len(X), CONSTANTS[_CONST_NAMES[a]][0])
            if kind == "u":
                return UNARY[name][0](self.evaluate(a, X))
            return BINARY[name][0](self.evaluate(a, X), self.evaluate(b, X))


#: suffix of a target's weighted twin in :attr:`Enumeration.top`
WEIGHTED = "~w"


class _Builder:
    """Incremental state of one enumeration (levels, recipes, dedup set, best candidates)."""

    def __init__(self, Xs, Tn, ok_t, names, level_cap, keep_top, rng, weighted=None, n_plain=None):
        self.Xs, self.Tn, self.ok_t, self.names = Xs, Tn, ok_t, names
        self.n_plain = len(names) if n_plain is None else n_plain  # the targets the level pools are built for
        # weighted targets: column j -> (omega, Tw): the rows' weights (summing to 1) and the target
        # centred and scaled by them, so that V @ Tw / sd_w(V) is the weighted correlation
        self.weighted = weighted or {}
        if self.weighted:
            J = sorted(self.weighted)
            self._weighted_stack = (J, np.column_stack([self.weighted[j][0] for j in J]),
                                    np.column_stack([self.weighted[j][1] for j in J]))
        self.level_cap, self.keep_top, self.rng = level_cap, keep_top, rng
        self.ns = Xs.shape[0]
        self.proj = rng.standard_normal(self.ns)
        self.rec_chunks: list[np.ndarray] = []
        self.comp_chunks: list[np.ndarray] = []
        self.n_rec = 0
        self.seen: set[float] = set()
        self.top: dict[str, list[Scored]] = {k: [] for k in names}
        self.best_loss = np.full(len(names), np.inf)
        self.levels: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}  # c -> (values, ids, loss)

    def _store(self, recs: np.ndarray, c: int) -> np.ndarray:
        ids = np.arange(self.n_rec, self.n_rec + len(recs))
        self.rec_chunks.append(recs.astype(np.int64))
        self.comp_chunks.append(np.full(len(recs), c, dtype=np.int64))
        self.n_rec += len(recs)
        return ids

    def add_block(self, c: int, V: np.ndarray, recs: np.ndarray) -> None:
        """Dedup, score and pool one block of candidate values (m, ns) with recipes (m, 3)."""
        work.tick(len(V))  # the unit of counted work: one candidate evaluated on the subsample
        if len(V) == 0:
            return
        finite = np.all(np.isfinite(V), axis=1)
        finite &= np.abs(V).max(axis=1) < 1e100
        V, recs = V[finite], recs[finite]
        if len(V) == 0:
            return
        h = V.astype(np.float32).astype(np.float64) @ self.proj
        _, first = np.unique(h, return_index=True)
        first = np.sort(first)
        seen = self.seen
        first = np.array([i for i, hv in zip(first, h[first].tolist()) if hv not in seen], dtype=np.int64)
        if len(first) == 0:
            return
        V, recs, h = V[first], recs[first], h[first]
        Vc = V - V.mean(axis=1, keepdims=True)
        nrm = np.linalg.norm(Vc, axis=1)
        good = nrm > 1e-10 * (np.abs(V).max(axis=1) * np.sqrt(self.ns) + 1e-300)
        corr = (Vc @ self.Tn.T) / np.where(good, nrm, 1.0)[:, None]
        loss = 1.0 - np.clip(corr**2, 0, 1)
        loss[~good] = np.inf
        if self.weighted:
            # all weighted targets at once, on the centred values (a large constant offset must not
            # cancel the variance away): sd_w^2 = E_w[Vc^2] - E_w[Vc]^2, and Tw sums to 0
            J, OM, TW = self._weighted_stack
            mw = Vc @ OM
            sdw = np.sqrt(np.clip((Vc * Vc) @ OM - mw**2, 0.0, None))
            okw = good[:, None] & (sdw > 1e-6 * (nrm / np.sqrt(self.ns))[:, None])
            cw = (Vc @ TW) / np.where(okw, sdw, 1.0)
            loss[:, J] = np.where(okw, 1.0 - np.clip(cw**2, 0, 1), np.inf)
        loss[:, ~self.ok_t] = np.inf
        # keep: the best of this block per target, and candidates for the level pool
        kt = min(self.keep_top, len(V))
        best_idx = [self._topk(loss[:, j], kt) for j in range(len(self.names))]
        keep_top = set()
        for bi in best_idx:
            keep_top.update(bi.tolist())
        minloss = loss[:, : self.n_plain].min(axis=1)
        prev = self.levels.get(c)
        pool_room = self.level_cap - (len(prev[0]) if prev else 0)
        if pool_room >= len(V):
            pool_sel = np.arange(len(V))
        else:
            # over the cap: the best-correlated half and a seeded random half
            order = np.argsort(minloss, kind="stable")
            sel = list(order[: self.level_cap // 2])
            rest = order[len(sel):]
            nr = max(0, min(len(rest), self.level_cap // 2))
            if nr:
                sel += list(self.rng.choice(rest, size=nr, replace=False))
            pool_sel = np.sort(np.array(sel, dtype=np.int64))
        stored = np.union1d(pool_sel, np.array(sorted(keep_top), dtype=np.int64))
        ids_all = np.full(len(V), -1, dtype=np.int64)
        ids_all[stored] = self._store(recs[stored], c)
        for hv in h[stored].tolist():
            seen.add(hv)
        for j, k in enumerate(self.names):
            for i in best_idx[j]:
                if np.isfinite(loss[i, j]):
                    self.top[k].append(Scored(int(ids_all[i]), c, float(loss[i, j]), k))
            if len(self.top[k]) > 40 * self.keep_top:
                # the best overall, and the best few of every complexity: on noisy data a simple
                # law's loss is only at the noise floor, level with many larger formulas
                self.top[k].sort(key=lambda s: (s.loss, s.complexity))
                keep, per_c = self.top[k][: 20 * self.keep_top], {}
                for s in self.top[k][20 * self.keep_top:]:
                    if per_c.get(s.complexity, 0) < self.keep_top:
                        per_c[s.complexity] = per_c.get(s.complexity, 0) + 1
                        keep.append(s)
                self.top[k] = keep
            self.best_loss[j] = min(self.best_loss[j], float(loss[:, j].min()))
        # merge into the level pool, pruning to the cap
        Vp, ip, lp = V[pool_sel], ids_all[pool_sel], minloss[pool_sel]
        if prev is not None:
            Vp = np.concatenate([prev[0], Vp])
            ip = np.concatenate([prev[1], ip])
            lp = np.concatenate([prev[2], lp])
        if len(Vp) > self.level_cap:
            order = np.argsort(lp, kind="stable")
            sel = list(order[: self.level_cap // 2])
            rest = order[self.level_cap // 2 :]
            sel += list(self.rng.choice(rest, size=self.level_cap - len(sel), replace=False))
            sel = np.sort(np.array(sel, dtype=np.int64))
            Vp, ip, lp = Vp[sel], ip[sel], lp[sel]
        self.levels[c] = (Vp, ip, lp)

    @staticmethod
    def _topk(v: np.ndarray, k: int) -> np.ndarray:
        if k >= len(v):
            return np.argsort(v, kind="stable")
        part = np.argpartition(v, k - 1)[:k]
        return part[np.argsort(v[part], kind="stable")]

    def level(self, c: int):
        return self.levels.get(c, (np.zeros((0, self.ns)), np.zeros(0, dtype=np.int64), np.zeros(0)))


def enumerate_expressions(
    X: np.ndarray,
    targets: dict[str, np.ndarray],
    max_complexity: int = 9,
    time_limit: float = 10.0,
    unary: tuple[str, ...] = DEFAULT_UNARY,
    constants: tuple[str, ...] = ("1", "2", "pi"),
    level_cap: int = 4000,
    keep_top: int = 20,
    n_sample: int = 96,
    seed: int = 0,
    exact_stop: float = 1e-13,
    block_rows: int = 20000,
    weights: dict[str, np.ndarray] | None = None,
) -> Enumeration:
    """Enumerate expressions in the columns of ``X`` up to ``max_complexity`` nodes, scoring each.

    Args:
        X: inputs (n, d).
        targets: name -> transformed target values (n,); each candidate ``f`` is scored by
            ``1 - corr(f, T)^2``, the variance left after the best fit ``T ~ a*f + b``.
        max_complexity: largest tree size (nodes) enumerated.
        time_limit: seconds; enumeration stops between blocks when exceeded.
        unary, constants: the alphabet (see :data:`UNARY`, :data:`CONSTANTS`).
        level_cap: most expressions kept per complexity level for building larger ones.
        keep_top: best candidates remembered per target and block.
        n_sample: rows of the subsample the enumeration runs on.
        seed: subsample and level-capping seed (the result is deterministic for a seed).
        exact_stop: stop after the level where some candidate explains a target to this loss.
        block_rows: candidates evaluated per NumPy block (bounds memory).
        weights: target name -> the rows' weights (n,): that target is also scored by the weighted
            correlation, as ``name + WEIGHTED`` in :attr:`Enumeration.top` (a transform's noise is not the
            same on every row, :func:`~.candidates._transform_weights`).

    Example:
        >>> X = np.random.default_rng(1).uniform(1, 2, (100, 2))
        >>> r = enumerate_expressions(X, {"y": X[:, 0] / X[:, 1]}, max_complexity=3, time_limit=5)
        >>> r.best("y").complexity
        3
    """
    deadline = work.now() + time_limit
    rng = np.random.default_rng(seed)
    n = len(X)
    idx = np.sort(rng.choice(n, size=min(n_sample, n), replace=False))
    Xs = np.asarray(X, dtype=np.float64)[idx]
    plain = list(targets)
    # a weighted target is scored beside its plain one (under its name + WEIGHTED): the plain ranking,
    # and the level pools built from it, stay what they are on exact data
    names = plain + [k + WEIGHTED for k in plain if weights is not None and k in weights]
    T = np.stack([np.asarray(targets[k.removesuffix(WEIGHTED)], dtype=np.float64)[idx] for k in names])
    ok_t = np.all(np.isfinite(T), axis=1) & (np.std(T, axis=1) > 0)
    T = np.where(np.isfinite(T), T, 0.0)
    Tc = T - T.mean(axis=1, keepdims=True)
    tn = np.linalg.norm(Tc, axis=1, keepdims=True)
    Tn = Tc / np.where(tn > 0, tn, 1.0)
    weighted = {}
    for j in range(len(plain), len(names)):
        w = np.asarray(weights[names[j].removesuffix(WEIGHTED)], dtype=np.float64)[idx]
        if not ok_t[j] or not np.all(np.isfinite(w)) or w.sum() <= 0 or np.ptp(w) == 0:
            ok_t[j] = False
            continue
        om = w / w.sum()
        tc = T[j] - om @ T[j]
        sd = float(np.sqrt(om @ tc**2))
        if sd > 0:
            weighted[j] = (om, om * tc / sd)
    B = _Builder(Xs, Tn, ok_t, names, level_cap, keep_top, rng, weighted, n_plain=len(plain))
    ns = Xs.shape[0]

    d = Xs.shape[1]
    V1 = np.array([Xs[:, j] for j in range(d)] + [np.full(ns, CONSTANTS[k][0]) for k in constants])
    R1 = np.array([(_CODE[("x", "x")], j, -1) for j in range(d)]
                  + [(_CODE[("c", "c")], _CONST_NAMES.index(k), -1) for k in constants])
    # constants are pooled but never scored as a formula (zero variance)
    B.add_block(1, V1, R1)
    done = 1
    with np.errstate(all="ignore"):
        for c in range(2, max_complexity + 1):
            if work.now() > deadline or float(np.min(B.best_loss)) < exact_stop:
                break
            Vp, idp, _ = B.level(c - 1)
            for u in unary:
                if len(Vp):
                    recs = np.stack([np.full(len(idp), _CODE[("u", u)]), idp, np.full(len(idp), -1)], axis=1)
                    B.add_block(c, UNARY[u][0](Vp), recs)
            out_of_time = False
            for a in range(1, c - 1):
                b = c - 1 - a
                Va, ida, _ = B.level(a)
                Vb, idb, _ = B.level(b)
                if len(Va) == 0 or len(Vb) == 0:
                    continue
                step = max(1, block_rows // len(Vb))
                for i0 in range(0, len(Va), step):
                    if work.now() > deadline:
                        out_of_time = True
                        break
                    A, ia = Va[i0 : i0 + step], ida[i0 : i0 + step]
                    P = np.repeat(ia, len(idb))
                    Q = np.tile(idb, len(ia))
                    for op, (fn, _, comm) in BINARY.items():
                        if comm and a > b:
                            continue
                        W = fn(A[:, None, :], Vb[None, :, :]).reshape(-1, ns)
                        code = np.full(len(P), _CODE[("b", op)])
                        if comm and a == b:
                            tri = P <= Q
                            B.add_block(c, W[tri], np.stack([code[tri], P[tri], Q[tri]], axis=1))
                        else:
                            B.add_block(c, W, np.stack([code, P, Q], axis=1))
                if out_of_time:
                    break
            done = c
            if out_of_time:
                break
    for k in names:
        B.top[k].sort(key=lambda s: (s.loss, s.complexity))
    recipes = np.concatenate(B.rec_chunks) if B.rec_chunks else np.zeros((0, 3), dtype=np.int64)
    comps = np.concatenate(B.comp_chunks) if B.comp_chunks else np.zeros(0, dtype=np.int64)
    pool = [B.levels[c][1] for c in sorted(B.levels)]
    pool_v = [B.levels[c][0] for c in sorted(B.levels)]
    return Enumeration(recipes=recipes, complexities=comps, top=B.top, levels_done=done,
                       pool_ids=np.concatenate(pool) if pool else None,
                       pool_values=np.concatenate(pool_v) if pool_v else None, sample_index=idx)
