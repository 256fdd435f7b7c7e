"""Closed forms of conserved quantities: null spaces of the flow constraint (emulator or data), read on the data.

H = sum_k c_k theta_k(x) is conserved by the flow f when dH/dt = grad H . f = 0
everywhere (a first integral). With f the trained network evaluated at data
points x_i this is linear in c: ``M c = 0`` with ``M[i, k] = grad theta_k(x_i) . f(x_i)``
(the linear-in-parameters method of Kaiser, Kutz & Brunton 2018, "Discovering
conservation laws from data for control", and of Liu, Madhavan & Tegmark 2022,
"Machine learning conservation laws from differential equations"). Each c is
normalised by ``N c`` = grad H scaled by the typical speed of each coordinate,
so ``lambda(c) = |M c|^2 / |N c|^2`` is the squared ratio of dH/dt to what a
generic function of the same size would show (generalised symmetric eigenproblem).

**The decision is calibrated on the emulator's own error.** On held-out rows
the emulator misses the data by r = f_model - y; a truly conserved H then shows
``grad H . r`` (error plus data noise), so ``lambda_err(c) = |E c|^2 / |N c|^2``
with ``E[i, k] = grad theta_k . r_i`` is its expected floor. A direction is null
when ``lambda(c) <= factor * lambda_err(c)``, and the null space must end at a
gap: the next rate is at least ``MIN_GAP`` (10) times the last null one, else
the null space shrinks to the last such gap (on the Lorenz emulator, with a
1.3 % error, the rates rise as a continuum 2.7e-4, 8.4e-4, 2.5e-3, 4.9e-3 and the
first two sat under their floors: without the gap they were two spurious
"conserved" quantities varying by 12 % and 42 % along held-out trajectories).

**Any null basis, read on the data** (:func:`read_forms`). The same reading
serves the emulator's null space, the null space of the data's own derivatives
(``Constraint.slowest`` with the dimension the count decided) and the count's null
functions. A basis is any mix of the quantities: it is brought to reduced
row-echelon form with pivots on the simplest terms first; each row is then
polished on the trajectories (:class:`TrajectoryScatter`: projected onto the
conserved directions of its own support) and thinned (terms below 2 % and 10 % of
the largest, then backward elimination: drop the term whose loss keeps the most
spread while the form stays conserved within 2x its own variation; then
exchanges of one term for one outside the form while that lowers its variation
by a tenth, each followed by elimination again: the greedy drops can keep a
term that stands in for the right one over the data's range on noisy data). A row that
mixes energy with a little angular momentum thus loses the angular momentum's
terms (n-body seed 1 read ``9/2 m v^2 - 1/2 m vx y + ...`` before, varying 1.4 %).
Echelon rows fix one pivot each but stay mixed where a quantity shares every term
with others (the SIR epidemic's S + I + R beside its own square and cube, all in
the null space: its echelon row read as the 10-term cube); so the reading also
starts from the **sparsest vectors of the span** (:func:`sparse_null_vectors`: for
each simple term, the L1-smallest null vector with that term's coefficient 1, a
linear program) and keeps, simplest first, what is independent.
Coefficients are divided by that of the simplest large term and replaced by
rationals of the smallest common denominator (1, 2, 3, 4, 6, 8, 12) that keep the
variation within 1.5x. **Independence**: forms are taken simplest first and one is
kept only when the rank of the stacked gradients grows (the second
Laplace-Runge-Lenz component in 2-D is dropped as a function of E, L and A_x).
An earlier reading thinned each row against the emulator's rate alone; with a
quick-budget emulator (4-17 % error) it read nothing on Kepler.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import sympy as sp
from scipy.linalg import eigh

from physlens.linalg import row_echelon  # noqa: F401  (public here too)
from physlens.probes.conservation.count import functional_rank

NULL_FACTOR = 4.0  # a null direction's dH/dt may be up to 2x (in amplitude) the emulator's error floor
MIN_GAP = 10.0  # the first non-null direction changes at least 10x faster (in rate) than the last null one


@dataclass
class Quantity:
    """One conserved quantity read from the emulator.

    Example:
        >>> q = Quantity(sp.Symbol("x") ** 2, np.array([1.0]), [0], 1e-6, 1e-5)
        >>> q.terms
        1
    """

    expression: sp.Expr
    coefficients: np.ndarray
    support: list[int]
    rate: float
    floor: float
    dropped: list = field(default_factory=list)

    @property
    def terms(self) -> int:
        """Number of library terms in the quantity."""
        return len(self.support)


@dataclass
class NullSpace:
    """Null directions of the conservation constraint, with the spectrum and the error floor.

    Example:
        >>> NullSpace(np.zeros((3, 0)), [0.2, 0.5], [0.01, 0.01], 0, 20.0).dimension
        0
    """

    vectors: np.ndarray  # (K, m) coefficients on the raw library terms
    spectrum: list
    floors: list
    dimension: int
    gap: float

    def __post_init__(self) -> None:
        self.dimension = int(self.dimension)


class Constraint:
    """The linear conservation constraint of a library under a flow, with its normalisation and error floor.

    ``G`` (n, K, d): term gradients at data rows; ``F`` (n, d): the flow there; ``Gh``, ``R``:
    gradients and emulator residuals on held-out rows.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> X = rng.standard_normal((200, 2))
        >>> G = np.stack([np.stack([2 * X[:, 0], 0 * X[:, 0]], 1), np.stack([0 * X[:, 0], 2 * X[:, 1]], 1),
        ...               np.stack([X[:, 1], X[:, 0]], 1)], axis=1)            # q^2, p^2, q p
        >>> F = np.stack([X[:, 1], -X[:, 0]], 1)                              # harmonic flow
        >>> c = Constraint(G, F, G, 1e-3 * rng.standard_normal((200, 2)))
        >>> ns = c.null_space(); ns.dimension, (np.round(ns.vectors[:, 0] / ns.vectors[0, 0], 3) + 0.0).tolist()
        (1, [1.0, 1.0, 0.0])
    """

    def __init__(self, G: np.ndarray, F: np.ndarray, Gh: np.ndarray, R: np.ndarray) -> None:
        n = len(G)
        speed = np.sqrt(np.mean(F**2, axis=0))
        speed = np.where(speed > 0, speed, 1.0)
        self.M = np.einsum("nkd,nd->nk", G, F) / np.sqrt(n)
        Nrows = (G * speed[None, None, :]).transpose(0, 2, 1).reshape(-1, G.shape[1]) / np.sqrt(n)
        self.B = Nrows.T @ Nrows
        self.E = np.einsum("nkd,nd->nk", Gh, R) / np.sqrt(max(len(Gh), 1))
        scale = np.sqrt(np.clip(np.diag(self.B), 1e-300, None))
        self.scale = scale
        self.K = G.shape[1]
        self.gram = self.M.T @ self.M

    def rate(self, c: np.ndarray) -> float:
        """lambda(c) = |M c|^2 / |N c|^2 (dimensionless rate of change along the flow).

        Example:
            >>> Constraint(np.ones((4, 1, 1)), np.ones((4, 1)), np.ones((4, 1, 1)), np.zeros((4, 1))).rate(np.ones(1))
            1.0
        """
        return self._per_norm(self.M, c)

    def floor(self, c: np.ndarray) -> float:
        """lambda_err(c): the rate the emulator's held-out error alone gives a conserved c.

        Example:
            >>> Constraint(np.ones((4, 1, 1)), np.ones((4, 1)), np.ones((4, 1, 1)), np.zeros((4, 1))).floor(np.ones(1))
            0.0
        """
        return self._per_norm(self.E, c)

    def _per_norm(self, A: np.ndarray, c: np.ndarray) -> float:
        """|A c|^2 / |N c|^2, the squared change ``A`` gives c per unit of its normalisation (inf for c = 0)."""
        den = float(c @ self.B @ c)
        return float(np.sum((A @ c) ** 2) / den) if den > 0 else float("inf")

    def slowest(self, m: int) -> np.ndarray:
        """The ``m`` directions (K, m) of smallest rate: a null space whose dimension was decided elsewhere.

        Example:
            >>> c = Constraint(np.ones((4, 2, 1)), np.ones((4, 1)), np.ones((4, 2, 1)), np.zeros((4, 1)))
            >>> c.slowest(1).shape
            (2, 1)
        """
        Ms = self.M / self.scale
        Bs = self.B / np.outer(self.scale, self.scale)
        ridge = 1e-12 * np.trace(Bs) / self.K
        _, vec = eigh(Ms.T @ Ms + ridge * np.eye(self.K), Bs + ridge * np.eye(self.K))
        return vec[:, :m] / self.scale[:, None]

    def null_space(self, factor: float = NULL_FACTOR, min_gap: float = MIN_GAP) -> NullSpace:
        """Generalised eigen-directions within ``factor`` of the error floor, ending at a gap of ``min_gap`` in rate.

        Example:
            >>> Constraint(np.ones((4, 1, 1)), np.ones((4, 1)), np.ones((4, 1, 1)), np.zeros((4, 1))).null_space().dimension
            0
        """
        Ms = self.M / self.scale
        Bs = self.B / np.outer(self.scale, self.scale)
        A = Ms.T @ Ms
        ridge = 1e-12 * np.trace(Bs) / self.K
        lam, vec = eigh(A + ridge * np.eye(self.K), Bs + ridge * np.eye(self.K))
        vec = vec / self.scale[:, None]
        top = min(self.K, 40)
        floors = [self.floor(vec[:, k]) for k in range(top)]
        rates = [self.rate(vec[:, k]) for k in range(top)]
        m = 0
        while m < top and rates[m] <= factor * max(floors[m], 1e-14):
            m += 1
        # the null space must end at a gap: a continuum of slowly varying directions is not conservation
        while m > 0 and m < top and rates[m] < min_gap * max(rates[m - 1], 1e-14):
            m -= 1
        gap = rates[m] / max(rates[m - 1], 1e-14) if 0 < m < top else (
            rates[0] / max(factor * floors[0], 1e-14) if top else 1.0)
        return NullSpace(vec[:, :m], rates, floors, m, float(gap))


def _complexity(term: sp.Expr) -> tuple:
    text = str(term)
    return (text.count("*") + text.count("/") + text.count("sqrt") + text.count("(") , len(text))


def nice_coefficients(c: np.ndarray, pivot: int, denominator: int) -> np.ndarray:
    """Coefficients divided by the pivot's and rounded to multiples of 1/``denominator``.

    Example:
        >>> nice_coefficients(np.array([2.0, -0.97, 0.33]), 0, 6).tolist()
        [1.0, -0.5, 0.16666666666666666]
    """
    c = c / c[pivot]
    return np.round(c * denominator) / denominator


DENOMINATORS = (1, 2, 3, 4, 6, 8, 12)


def to_expression(c: np.ndarray, terms: list[sp.Expr]) -> sp.Expr:
    """sum_k c_k term_k with rationals where the coefficient is one, else 4 significant digits.

    Example:
        >>> x = sp.Symbol("x", real=True)
        >>> to_expression(np.array([0.5, 1.23456]), [x, x**2])
        1.235*x**2 + x/2
    """
    parts = []
    for v, t in zip(c, terms):
        if v == 0:
            continue
        f = Fraction(float(v)).limit_denominator(12)
        coef = sp.Rational(f.numerator, f.denominator) if abs(float(f) - v) < 1e-12 else sp.Float(float(f"{v:.4g}"))
        parts.append(coef * t)
    return sp.Add(*parts)


class TrajectoryScatter:
    """Within- and total-trajectory scatter of the raw library terms: the data's own test of a candidate form.

    ``variation(c)`` is the RMS spread of H = sum c_k theta_k within trajectories over its spread across
    them (0 for a conserved H); ``polish(c, support, tolerance)`` keeps of ``c`` only what is conserved
    within ``support``: the generalised eigenproblem of the two scatters restricted to the support gives
    its conserved directions (variation within ``tolerance`` or 2x the least), and ``c`` is projected onto
    them (so a polished form stays the quantity it was, minus its varying part).

    Example:
        >>> t = np.tile(np.linspace(0, 6, 30), 20); E = np.repeat(np.linspace(0.5, 2, 20), 30)
        >>> q, p = np.sqrt(2 * E) * np.sin(t), np.sqrt(2 * E) * np.cos(t)
        >>> sc = TrajectoryScatter(np.stack([q * q, p * p, q * p], 1), np.repeat(np.arange(20), 30))
        >>> c = sc.polish(np.array([1.0, 0.9, 0.1]), [0, 1, 2]); np.round(c / c[0], 6).tolist(), sc.variation(c) < 1e-6
        ([1.0, 1.0, 0.0], True)
    """

    def __init__(self, values: np.ndarray, groups: np.ndarray, noise: np.ndarray | None = None) -> None:
        self.N = noise  # (K, K) within-trajectory scatter that measurement noise alone gives the terms
        _, inv = np.unique(groups, return_inverse=True)
        counts = np.bincount(inv).astype(float)
        means = np.zeros((len(counts), values.shape[1]))
        np.add.at(means, inv, values)
        means /= counts[:, None]
        R = (values - means[inv])[counts[inv] > 1]
        C = values - values.mean(axis=0)
        self.W = R.T @ R / max(len(R), 1)
        self.T = C.T @ C / len(C)
        self.scale = np.sqrt(np.clip(np.diag(self.T), 1e-300, None))

    def variation(self, c: np.ndarray) -> float:
        """sqrt(c W c / c T c): relative spread of H within trajectories.

        Example:
            >>> TrajectoryScatter(np.array([[1.0], [2.0], [3.0], [3.0]]), np.array([0, 0, 1, 1])).variation(np.ones(1))
            0.4264014327112209
        """
        den = float(c @ self.T @ c)
        return float(np.sqrt(max(float(c @ self.W @ c), 0.0) / den)) if den > 0 else float("inf")

    def noise_variation(self, c: np.ndarray) -> float:
        """The variation a conserved H would show from measurement noise alone (0 without a noise scatter).

        Example:
            >>> TrajectoryScatter(np.array([[1.0], [2.0], [3.0], [3.0]]), np.array([0, 0, 1, 1])).noise_variation(np.ones(1))
            0.0
        """
        den = float(c @ self.T @ c)
        if self.N is None or den <= 0:
            return 0.0
        return float(np.sqrt(max(float(c @ self.N @ c), 0.0) / den))

    def polish(self, c: np.ndarray, support: list[int], tolerance: float = 1e-3) -> np.ndarray:
        """Projection of ``c`` (T-metric) onto the conserved directions of the terms in ``support``.

        Example:
            >>> sc = TrajectoryScatter(np.array([[1.0, 0.0], [2.0, 1.0], [3.0, 0.0], [3.0, 1.0]]), np.array([0, 0, 1, 1]))
            >>> c = sc.polish(np.array([1.0, 0.0]), [0, 1], 0.5); (c / c[0]).round(3).tolist()
            [1.0, -0.5]
        """
        S = list(support)
        s = self.scale[S]
        Ws = self.W[np.ix_(S, S)] / np.outer(s, s)
        Ts = self.T[np.ix_(S, S)] / np.outer(s, s)
        ridge = 1e-12 * max(np.trace(Ts), 1e-300) / len(S)
        try:
            lam, vec = eigh(Ws + ridge * np.eye(len(S)), Ts + ridge * np.eye(len(S)))
        except np.linalg.LinAlgError:
            return c
        null = lam <= max(tolerance**2, 4.0 * max(lam[0], 0.0))
        U = vec[:, null]  # T-orthonormal
        cs = c[S] * s
        a = U.T @ (Ts @ cs)
        out = np.zeros_like(c)
        out[S] = (U @ a) / s
        return out

    def norm(self, c: np.ndarray) -> float:
        """Spread of H = sum c_k theta_k across all rows (its T-norm).

        Example:
            >>> TrajectoryScatter(np.array([[1.0], [3.0]]), np.array([0, 1])).norm(np.ones(1))
            1.0
        """
        return float(np.sqrt(max(float(c @ self.T @ c), 0.0)))


def sparse_form(c: np.ndarray, scatter: TrajectoryScatter, tolerance: float = 1e-3) -> np.ndarray:
    """Polish ``c`` on the data, then drop terms (small ones first, then greedily) while it stays conserved.

    A term is dropped when the form polished without it varies by at most ``max(2 x the full form's, tolerance)``
    along the trajectories (relative to the form's own variation, which includes the measurement noise; an
    estimate of the noise itself loosened it too far where the sampling does not resolve the orbit) and keeps
    at least half its spread: a mix of two quantities
    (energy plus a bit of angular momentum) loses the terms of the minor one, since the major one alone is
    conserved too, while dropping a term of the major one would leave only the minor one (a small spread).
    Of the acceptable drops, the one that keeps the most spread is taken.

    Example:
        >>> t = np.tile(np.linspace(0, 6, 30), 20); E = np.repeat(np.linspace(0.5, 2, 20), 30)
        >>> q, p = np.sqrt(2 * E) * np.sin(t), np.sqrt(2 * E) * np.cos(t)
        >>> sc = TrajectoryScatter(np.stack([q * q, p * p, q * p, q], 1), np.repeat(np.arange(20), 30))
        >>> c = sparse_form(np.array([1.0, 1.1, 0.2, 0.3]), sc); (c / c[0]).round(6).tolist()
        [1.0, 1.0, 0.0, 0.0]
    """
    big = np.abs(c * scatter.scale)
    support = [int(k) for k in np.flatnonzero(big > 1e-9 * big.max())]
    tol = tolerance
    best = scatter.polish(c, support, tol)
    if scatter.norm(best) < 0.3 * scatter.norm(c):
        return c
    limit = max(2.0 * scatter.variation(best), tol)

    def acceptable(trial: np.ndarray, ref: np.ndarray) -> bool:
        return scatter.variation(trial) <= limit and scatter.norm(trial) >= 0.5 * scatter.norm(ref)

    for threshold in (0.02, 0.1):  # one pass of thresholds, as in STLSQ
        sc = np.abs(best * scatter.scale)
        keep = [k for k in support if sc[k] >= threshold * sc.max()]
        if len(keep) < len(support):
            trial = scatter.polish(best, keep, tol)
            if acceptable(trial, best):
                support, best = keep, trial
    def eliminate(best, support):
        while len(support) > 1:  # greedy backward elimination
            trials = []
            for k in support:
                rest = [j for j in support if j != k]
                trial = scatter.polish(best, rest, tol)
                if acceptable(trial, best):
                    trials.append((scatter.norm(trial), k, trial))
            if not trials:
                break
            _, k, best = max(trials, key=lambda x: x[0])
            support = [j for j in support if j != k]
            sc = np.abs(best * scatter.scale)
            support = [j for j in support if sc[j] > 1e-6 * sc.max()]
            best[[j for j in range(len(best)) if j not in support]] = 0.0
        return best, support

    best, support = eliminate(best, support)
    for _ in range(3):  # then exchanges, each followed by elimination again
        swapped = _exchange(best, support, scatter, tol)
        if swapped is None:
            break
        best, support = eliminate(*swapped)
    return best


def _exchange(best: np.ndarray, support: list[int], scatter: TrajectoryScatter, tol: float,
              gain: float = 0.9) -> tuple[np.ndarray, list[int]] | None:
    """The best exchange of one term of a thinned form for one outside it, when it is more conserved; else None.

    Backward elimination is greedy: on noisy data it can keep terms that stand in for the right one
    over the data's range (Lotka-Volterra at 1 % noise: ``x + 5 y^2/12 - 3 ln x - 17 ln y / 6``, varying
    3.2 %, where ``x + 2 y - 3 ln x - 4 ln y`` varies 1.4 %, the noise; or ``-0.0094 x^3 + 0.109 x^2``
    standing in for ``x / 2``, which takes an exchange and then a drop). Every exchange is tried (the
    form projected onto the conserved directions of the new support, as in ``polish``); the least
    varying one is taken when it varies less than ``gain`` x the current form and keeps half its spread.
    """
    v0 = scatter.variation(best)
    if not np.isfinite(v0) or v0 <= 1e-9:
        return None
    n0 = scatter.norm(best)
    # a term worth exchanging in lowers the variation when simply added: only the few best such terms are
    # tried against every term of the form (a 106-term n-body library: 15 s of polishing otherwise)
    added = []
    for j in range(len(best)):
        if j not in support:
            v = scatter.variation(scatter.polish(best, support + [j], tol))
            if v < gain * v0:
                added.append((v, j))
    pick = None
    for k in support:
        rest = [j for j in support if j != k]
        for _, j in sorted(added)[:5]:
            trial = scatter.polish(best, rest + [j], tol)
            if trial[j] == 0.0 or scatter.norm(trial) < 0.5 * n0:
                continue
            v = scatter.variation(trial)
            if v < gain * v0 and (pick is None or v < pick[0]):
                pick = (v, rest + [j], trial)
    return None if pick is None else (pick[2], pick[1])


def sparse_null_vectors(basis: np.ndarray, scale: np.ndarray, order: list[int], most: int = 40) -> list[np.ndarray]:
    """The sparsest vectors of the span of ``basis`` (K, m), one per pivot term: min |diag(scale) c|_1 with c_k = 1.

    A null space of dimension m > 1 is any mix of its quantities; row-echelon pivots fix m terms but
    a quantity whose every term is shared (S + I + R beside its own cube, the SIR epidemic) stays mixed.
    The L1 problem (a linear program, HiGHS) over c = basis @ a, with the pivot term's coefficient
    fixed to 1 and the terms weighted by their spread, lands on a vertex of the span's unit ball:
    generically a form with as few terms as the span allows. It is solved for the ``most`` simplest
    terms (``order``) that the span reaches.

    Example:
        >>> B = np.array([[1.0, 1.0], [1.0, 2.0], [0.0, 1.0], [0.0, 1.0]])  # columns: x + y, x + 2y + z + w
        >>> sparse_null_vectors(B, np.ones(4), [0, 1, 2, 3])[0].round(6).tolist()  # pivot x: x + y, not a mix
        [1.0, 1.0, 0.0, 0.0]
    """
    from scipy.optimize import linprog

    K, m = basis.shape
    if m < 2:
        return []
    SB = basis * scale[:, None]
    reach = np.linalg.norm(SB, axis=1)
    out: list[np.ndarray] = []
    for k in [k for k in order if reach[k] > 1e-6 * reach.max()][:most]:
        # variables (a, t): min sum t, -t <= SB a <= t, SB[k] a = 1
        cost = np.concatenate([np.zeros(m), np.ones(K)])
        A_ub = np.block([[SB, -np.eye(K)], [-SB, -np.eye(K)]])
        res = linprog(cost, A_ub=A_ub, b_ub=np.zeros(2 * K), A_eq=np.concatenate([SB[k], np.zeros(K)])[None],
                      b_eq=[1.0], bounds=[(None, None)] * m + [(0, None)] * K, method="highs")
        if res.status == 0:
            c = basis @ res.x[:m]
            out.append(c / c[k])
    return out


def read_forms(basis: np.ndarray, terms: list[sp.Expr], scatter: TrajectoryScatter, state_gradients,
               tolerance: float = 1e-3) -> tuple[list[Quantity], list[Quantity]]:
    """Readable, independent quantities from any null basis (K, m): echelon, polish and thin on the data, rationals.

    The basis may come from the emulator, from the data's derivatives or from the trajectories alone;
    every form is made sparse by :func:`sparse_form` on the data, divided by the coefficient of its simplest
    large term (at least a third of the largest, in spread) and its coefficients replaced by rationals of the
    smallest common denominator that keeps its variation (within 1.5x, or ``tolerance``).

    Example:
        >>> q, p = sp.symbols("q p", real=True)
        >>> t = np.tile(np.linspace(0, 6, 30), 20); E = np.repeat(np.linspace(0.5, 2, 20), 30)
        >>> Q, P = np.sqrt(2 * E) * np.sin(t), np.sqrt(2 * E) * np.cos(t)
        >>> sc = TrajectoryScatter(np.stack([Q * Q, P * P, Q * P], 1), np.repeat(np.arange(20), 30))
        >>> G = np.stack([np.stack([2 * Q, 0 * Q], 1), np.stack([0 * Q, 2 * P], 1), np.stack([P, Q], 1)], 1)[:100]
        >>> kept, _ = read_forms(np.array([[0.7], [0.72], [0.01]]), [q**2, p**2, q * p], sc,
        ...                      lambda c: np.einsum("nkd,k->nd", G, c))
        >>> kept[0].expression
        p**2 + q**2
    """
    if basis.shape[1] == 0:
        return [], []
    order = sorted(range(len(terms)), key=lambda k: _complexity(terms[k]))
    rank_of = {k: i for i, k in enumerate(order)}
    rows, _ = row_echelon(basis, order)
    seen: set = set()
    starts = []
    for c in list(rows) + sparse_null_vectors(basis, scatter.scale, order):
        key = tuple(np.round(c / np.abs(c).max(), 6))
        if key not in seen:
            seen.add(key)
            starts.append(c)
    cands: list[Quantity] = []
    for c in starts:
        best = sparse_form(c, scatter, tolerance)
        sc = np.abs(best * scatter.scale)
        if not sc.max() > 0:
            continue
        piv = min(np.flatnonzero(sc >= sc.max() / 3.0), key=lambda k: rank_of[k])
        best = best / best[piv]
        v0 = scatter.variation(best)
        noise = scatter.noise_variation(best)
        for q in DENOMINATORS:
            nice = nice_coefficients(best, piv, q)
            if scatter.variation(nice) <= max(1.5 * v0, tolerance):
                best = nice
                break
        support = [int(k) for k in np.flatnonzero(best)]
        v = scatter.variation(best)
        floor = max(tolerance, noise)
        cands.append(Quantity(to_expression(best, terms), best, support, v * v, floor * floor))
    cands.sort(key=lambda q: (q.terms, len(str(q.expression))))
    kept: list[Quantity] = []
    dropped: list[Quantity] = []
    grads: list[np.ndarray] = []
    for q in cands:
        g = state_gradients(q.coefficients)
        rank, _ = functional_rank(np.stack(grads + [g], axis=1))
        if rank > len(grads):
            kept.append(q)
            grads.append(g)
        else:
            dropped.append(q)
    return kept, dropped


__all__ = ["Constraint", "NullSpace", "Quantity", "TrajectoryScatter", "nice_coefficients", "read_forms",
           "row_echelon", "sparse_form", "to_expression"]
