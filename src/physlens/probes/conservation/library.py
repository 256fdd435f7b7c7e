"""Candidate terms for conserved quantities, and which columns of a dataset are the evolving state.

A conserved quantity is sought as H = sum_k c_k theta_k(x) over a library of
terms theta_k built from the dataset's own columns (so a found H reads in the
file's column names):

* monomials of the state variables up to ``degree`` (3 for up to 6 state
  variables, else 2);
* for a single particle (``meta["particles"]``, Kepler) the radial terms 1/|r|
  and r_a/|r| (the energy and the Laplace-Runge-Lenz vector); without a declared
  layout, the same for the state columns whose time derivative is another state
  column (:func:`kinematic_positions`: x with dx/dt = v_x, whatever the names);
* for several particles, instead of monomials of the whole state (4 particles
  in 2-D with their masses gave 772 terms, more than 20 trajectories can pin
  down): each particle's own position and velocity monomials up to degree 2 (the
  quadratics in positions alone are left to the pair terms),
  the same times each of its scalars (masses: momenta m v, angular momenta
  m r x v, kinetic energies m v^2), and per pair |r_ij|, |r_ij|^2 and 1/|r_ij|
  (pair potentials);
* for a state variable that is positive on every row, its logarithm ln x (the
  conserved quantity of Lotka-Volterra predator-prey dynamics, x - ln x + y - ln y,
  or of the SIR epidemic, ln S + R beta/gamma);
* for variables whose name says they are angles (``theta``, ``phi``,
  ``angle``): their sine and cosine, the cosine of pairwise differences, and
  their products with the squares and products of the other variables.

**Rational terms discovered from the data** (:func:`rational_terms`,
:func:`fit_denominator`). A mechanical system with coupled angles has a
configuration-dependent mass matrix M(theta): its energy p^T M^-1 p / 2 + V has
the denominator det M, which for two coupled angles is ``a - b cos^2(theta_a - theta_b)``
(the double pendulum: ``m1 + m2 sin^2 Delta``). For each pair of angle variables the
family ``q(x) h(Delta) / (1 + beta cos^2 Delta)`` (q a quadratic monomial of the other
variables, h in {1, cos Delta}) joins the library with beta fitted to the trajectories: the
value of beta (on a grid over (-1, 3), then refined) that makes the smallest
within/total trajectory variance ratio of the whole library smallest (clean double
pendulum: 4.4e-3 without the family, 3.3e-10 with beta = -1/2; with 1 % noise 2.9e-3 and
3.6e-4, at the noise floor); beta is then replaced by the simplest rational
(denominator up to 12) that keeps it within a factor 2. The family is kept when the count
from the trajectories finds more conserved quantities with it than without.

Terms made of constant columns only (a particle's mass) are not candidates:
they are constant along every trajectory for the trivial reason that they are
parameters. The library is the method's boundary: a conserved quantity that is
no combination of these terms (the double pendulum's energy, a rational
function of the angles) is not found by the null-space step; the count from the
trajectories and the disagreement finding say so.

Values and gradients are evaluated with the project's safe SymPy evaluator
(:func:`physlens.probes.equations.simplify.evaluate`), never ``lambdify``.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from physlens.probes.equations.simplify import evaluate
from physlens.probes.symmetry.discrete import particle_columns

#: the default library's polynomial degree grows to this when the count falls short of the local-PCA count
MAX_DEGREE = 5
#: ... while the wider library has at most this many terms
MAX_TERMS = 150
ANGLE_NAME = re.compile(r"^(theta|phi|angle|psi)", re.IGNORECASE)


@dataclass
class StateMap:
    """Which input columns evolve and where their time derivatives come from.

    Attributes:
        state: input column indices of the evolving state.
        params: input column indices that are constant parameters (derivative 0).
        source: for each state column, ``("target", k)`` (target column k is its derivative) or
            ``("input", j)`` (input column j is its derivative: a velocity for a position).

    Example:
        >>> from physlens.systems import get_system
        >>> m = state_map(get_system("harmonic_oscillator").sample(20))
        >>> m.state, m.params
        ([0, 1], [])
    """

    state: list[int]
    params: list[int] = field(default_factory=list)
    source: list[tuple[str, int]] = field(default_factory=list)

    def flow(self, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """Time derivative of every input column (zeros for parameters) from inputs X and targets Y.

        Example:
            >>> m = StateMap([0, 1], [], [("target", 0), ("target", 1)])
            >>> m.flow(np.zeros((2, 2)), np.ones((2, 2))).tolist()
            [[1.0, 1.0], [1.0, 1.0]]
        """
        F = np.zeros_like(X, dtype=float)
        for j, (where, k) in zip(self.state, self.source):
            F[:, j] = Y[:, k] if where == "target" else X[:, k]
        return F


def _particle_layout(dataset) -> list[dict] | None:
    """Per particle: {"pos": [cols], "vel": [cols], "scalars": [cols]} from ``meta["particles"]``."""
    particles = particle_columns(dataset.meta, dataset.d_in)
    if not particles or "pos" not in particles[0]["vectors"]:
        return None
    return [{**p["vectors"], "scalars": list(p["scalars"].values())} for p in particles]


def state_map(dataset) -> StateMap | None:
    """The evolving state of a trajectory dataset and its derivative source, or None when the targets are not a flow.

    Targets named ``d<input>_dt`` are the derivatives of those inputs; for particle data whose
    targets are accelerations, positions move with the velocity inputs. Any other input must be
    constant along every trajectory (a parameter such as a mass), else None.

    Example:
        >>> from physlens.systems import get_system
        >>> state_map(get_system("nbody_springs").sample(40)).params
        [4, 9, 14, 19]
        >>> state_map(get_system("toy_distractor").sample(20)) is None
        True
    """
    names = dataset.input_names
    by_target = {t: k for k, t in enumerate(dataset.target_names)}
    source: dict[int, tuple[str, int]] = {}
    for j, nm in enumerate(names):
        k = by_target.get(f"d{nm}_dt")
        if k is not None:
            source[j] = ("target", k)
    layout = _particle_layout(dataset)
    info = dataset.meta.get("particles") or {}
    if layout is not None and not source and info.get("target_vectors") == ["acc"] and "vel" in layout[0]:
        dim = int(info["dim"])
        if dataset.d_out == dim * len(layout):
            for i, p in enumerate(layout):
                for a in range(dim):
                    source[p["pos"][a]] = ("input", p["vel"][a])
                    source[p["vel"][a]] = ("target", i * dim + a)
    if not source:
        return None
    params = [j for j in range(len(names)) if j not in source]
    groups = dataset.groups()
    if params:
        if groups is None:
            return None
        for j in params:
            col = dataset.X[:, j]
            _, inv = np.unique(groups, return_inverse=True)
            lo = np.full(inv.max() + 1, np.inf)
            hi = np.full(inv.max() + 1, -np.inf)
            np.minimum.at(lo, inv, col)
            np.maximum.at(hi, inv, col)
            if np.any(hi - lo > 1e-9 * (1.0 + np.abs(col).max())):
                return None  # an input that changes along a trajectory with no derivative given
    state = sorted(source)
    return StateMap(state=state, params=params, source=[source[j] for j in state])


@dataclass
class Library:
    """Candidate terms (SymPy, in the dataset's column names) with numeric values and gradients.

    Example:
        >>> x, y = sp.symbols("x y", real=True)
        >>> lib = Library([x * y, x**2], ["x", "y"])
        >>> V, G = lib.values_and_gradients(np.array([[1.0, 2.0]]))
        >>> V.tolist(), G[0, :, 0].tolist()
        ([[2.0, 1.0]], [2.0, 2.0])
    """

    terms: list[sp.Expr]
    names: list[str]
    _grads: dict | None = None

    def __len__(self) -> int:
        return len(self.terms)

    def values_and_gradients(self, X: np.ndarray, wrt: list[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Values (n, K) and gradients (n, K, len(wrt)) with respect to the columns ``wrt`` (default: all).

        Example:
            >>> x = sp.Symbol("x", real=True)
            >>> Library([x**3], ["x"]).values_and_gradients(np.array([[2.0]]))[1].ravel().tolist()
            [12.0]
        """
        wrt = list(range(len(self.names))) if wrt is None else list(wrt)
        syms = [sp.Symbol(n, real=True) for n in self.names]
        cols = {n: X[:, j] for j, n in enumerate(self.names)}
        if self._grads is None:
            self._grads = {}
        V = np.stack([evaluate(t, cols) for t in self.terms], axis=1)
        G = np.zeros((len(X), len(self.terms), len(wrt)))
        for k, t in enumerate(self.terms):
            free = t.free_symbols
            for a, j in enumerate(wrt):
                if syms[j] not in free:
                    continue
                if (k, j) not in self._grads:
                    self._grads[(k, j)] = sp.diff(t, syms[j])
                G[:, k, a] = evaluate(self._grads[(k, j)], cols)
        return V, G


def _monomials(syms: list[sp.Symbol], degree: int) -> list[sp.Expr]:
    out = []
    for d in range(1, degree + 1):
        for combo in itertools.combinations_with_replacement(syms, d):
            out.append(sp.Mul(*combo))
    return out


def _particle_terms(layout: list[dict], syms: list[sp.Symbol], state: set) -> list[sp.Expr]:
    """Several particles: each one's own state monomials up to degree 2 (but the quadratics in its position), the
    same times each of its scalars (masses), and per pair |r_ij|, |r_ij|^2 and 1/|r_ij|."""
    terms: list[sp.Expr] = []
    for p in layout:
        own = [syms[j] for j in p.get("pos", []) + p.get("vel", []) if j in state]
        pos = {syms[j] for j in p.get("pos", [])}
        # quadratics in the positions alone are left to the pair terms |r_ij|^2, which span the
        # translation-invariant ones: both would make one quantity two different sums of terms
        mono = [t for t in _monomials(own, 2) if not (sp.total_degree(t) == 2 and t.free_symbols <= pos)]
        terms += mono
        terms += [syms[j] * t for j in p["scalars"] for t in mono]
    for a, b in itertools.combinations(layout, 2):
        d2 = sum((syms[i] - syms[k]) ** 2 for i, k in zip(a["pos"], b["pos"]))
        terms += [sp.sqrt(d2), sp.expand(d2), 1 / sp.sqrt(d2)]
    return terms


def kinematic_positions(dataset, smap: StateMap, tol: float = 0.02, least: int = 2) -> list[int]:
    """State columns whose time derivative is another state column up to a constant factor (positions).

    ``dx/dt = v_x`` (or ``p_x / m``) marks ``x`` as a coordinate of a position whatever its name; a file
    of one body's orbit (x, y, vx, vy) then gets the radial terms of a central force, as a system that
    declares its particle layout does. A derivative counts when one factor explains it to ``tol``
    (relative RMS, derivatives estimated from sampled trajectories included) and the partner's own
    derivative is not the first column back (a linear flow, ``dv/dt = -x``, has no direction). Angles are
    left out (their own terms are trigonometric); fewer than ``least`` positions give [].

    Example:
        >>> from physlens.data.dataset import Dataset
        >>> X = np.random.default_rng(0).uniform(0.5, 2.0, (300, 4))  # states (x, y, vx, vy)
        >>> names, d = ["x", "y", "vx", "vy"], ["dx_dt", "dy_dt", "dvx_dt", "dvy_dt"]
        >>> r3 = (X[:, 0] ** 2 + X[:, 1] ** 2) ** 1.5
        >>> kepler = Dataset(X, np.c_[X[:, 2], X[:, 3], -X[:, 0] / r3, -X[:, 1] / r3], names, d)
        >>> kinematic_positions(kepler, state_map(kepler))
        [0, 1]
        >>> spring = Dataset(X, np.c_[X[:, 2], X[:, 3], -X[:, 0], -X[:, 1]], names, d)
        >>> kinematic_positions(spring, state_map(spring))
        []
    """
    X, Y = np.asarray(dataset.X, dtype=float), np.asarray(dataset.y, dtype=float)
    names = dataset.input_names
    partner: dict[int, int] = {}
    for j, (where, k) in zip(smap.state, smap.source):
        if where != "target" or ANGLE_NAME.match(names[j]):
            continue
        dy = Y[:, k]
        size = float(np.sqrt(np.mean(dy**2)))
        if size == 0:
            continue
        for i in smap.state:
            xi = X[:, i]
            if i == j or not np.any(xi):
                continue
            c = float(xi @ dy / (xi @ xi))
            if float(np.sqrt(np.mean((dy - c * xi) ** 2))) <= tol * size:
                partner[j] = i
                break
    # a linear flow (dv/dt = -x too) cannot tell positions from velocities: its monomials need no radial terms
    out = [j for j, i in partner.items() if partner.get(i) != j]
    return out if len(out) >= least else []


def library_degree(smap: StateMap, degree: int | None = None) -> int:
    """The polynomial degree of the library: ``degree`` when given, else 3 up to 6 state variables and 2 beyond.

    Example:
        >>> from physlens.systems import get_system
        >>> ds = get_system("kepler", dim=2).sample(40)
        >>> library_degree(state_map(ds)), library_degree(state_map(ds), 5)
        (3, 5)
    """
    if degree is not None:
        return int(degree)
    return 3 if len(smap.state) <= 6 else 2


def build_library(dataset, smap: StateMap, degree: int | None = None, angles: Sequence[int] = ()) -> Library:
    """The candidate library for ``dataset`` (module docstring), terms in the dataset's column names.

    ``angles``: state columns that enter through sines and cosines as angles do, whatever their names
    (the probe tries the positions of a pendulum file whose angle is called ``q``).

    Example:
        >>> from physlens.systems import get_system
        >>> ds = get_system("kepler", dim=2).sample(40)
        >>> lib = build_library(ds, state_map(ds))
        >>> len(lib), "1/sqrt(x**2 + y**2)" in [str(t) for t in lib.terms]
        (37, True)
    """
    names = dataset.input_names
    syms = [sp.Symbol(n, real=True) for n in names]
    state = [syms[j] for j in smap.state]
    params = [syms[j] for j in smap.params]
    degree = library_degree(smap, degree)
    angles = [s for j, s in zip(smap.state, state) if ANGLE_NAME.match(s.name) or j in angles]
    others = [s for s in state if s not in angles]
    layout = _particle_layout(dataset)
    if layout is not None and len(layout) > 1:
        terms = _particle_terms(layout, syms, set(smap.state))
    else:
        terms = list(_monomials(state, degree))
        # one body: its declared position, else the state columns whose derivative is another column
        where = layout[0]["pos"] if layout is not None else kinematic_positions(dataset, smap)
        if where:
            pos = [syms[j] for j in where]
            r = sp.sqrt(sum(c**2 for c in pos))
            terms += [1 / r] + [c / r for c in pos]
        if params:
            low = _monomials(state, min(degree, 2))
            terms += [m * t for m in params for t in low]
    # a variable that stays positive on every row (a population, a concentration, a radius) also enters
    # through its logarithm: the conserved quantities of Lotka-Volterra and SIR dynamics are x - ln x + ...
    X = np.asarray(dataset.X)
    terms += [sp.log(syms[j]) for j in smap.state if syms[j] in others and len(X) and X[:, j].min() > 0]
    if angles:
        trig = [f(a) for a in angles for f in (sp.sin, sp.cos)]
        trig += [sp.cos(a - b) for a, b in itertools.combinations(angles, 2)]
        quad = _monomials(others, 2)
        terms += trig + [t * q for t in trig for q in quad]
    seen, unique = set(), []
    for t in terms:
        if t not in seen:
            seen.add(t)
            unique.append(t)
    return Library(unique, list(names))


def wider_libraries(dataset, smap: StateMap, size: int):
    """The wider libraries the count tries when the trajectories fill fewer dimensions than it explains.

    Yields ``(label, library)``: the default degree with the positions (state columns whose derivative is
    another column; none for declared particles) as angles, then each polynomial degree above the default
    up to ``MAX_DEGREE``; each only while it has more terms than ``size`` and at most ``MAX_TERMS``.

    Example:
        >>> from physlens.systems import get_system
        >>> ds = get_system("harmonic_oscillator", points_per_trajectory=20).sample(200)
        >>> [label for label, _ in wider_libraries(ds, state_map(ds), 9)]
        ['degree 4', 'degree 5']
    """
    base = library_degree(smap)
    # declared particles have positions, not angles
    positions = kinematic_positions(dataset, smap, least=1) if _particle_layout(dataset) is None else []
    if positions:
        lib = build_library(dataset, smap, base, angles=positions)
        if size < len(lib) <= MAX_TERMS:
            yield "positions " + ", ".join(dataset.input_names[j] for j in positions) + " as angles", lib
    for deg in range(base + 1, MAX_DEGREE + 1):
        lib = build_library(dataset, smap, deg)
        if len(lib) > MAX_TERMS:
            break
        if len(lib) > size:
            yield f"degree {deg}", lib


def angle_variables(dataset, smap: StateMap) -> list[sp.Symbol]:
    """State variables whose names say they are angles.

    Example:
        >>> from physlens.systems import get_system
        >>> ds = get_system("double_pendulum").sample(40)
        >>> [str(a) for a in angle_variables(ds, state_map(ds))]
        ['theta1', 'theta2']
    """
    names = dataset.input_names
    return [sp.Symbol(names[j], real=True) for j in smap.state if ANGLE_NAME.match(names[j])]


def rational_terms(dataset, smap: StateMap, beta) -> list[sp.Expr]:
    """q(x) h(Delta) / (1 + beta cos^2 Delta) for each angle pair (module docstring); [] with fewer than 2 angles.

    Example:
        >>> from physlens.systems import get_system
        >>> ds = get_system("double_pendulum").sample(40)
        >>> terms = rational_terms(ds, state_map(ds), sp.Rational(-1, 2)); len(terms), terms[0]
        (6, p1**2/(1 - cos(theta1 - theta2)**2/2))
    """
    names = dataset.input_names
    angles = angle_variables(dataset, smap)
    others = [sp.Symbol(names[j], real=True) for j in smap.state if not ANGLE_NAME.match(names[j])]
    quad = [t for t in _monomials(others, 2) if sp.total_degree(t) == 2]
    terms: list[sp.Expr] = []
    for a, b in itertools.combinations(angles, 2):
        c = sp.cos(a - b)
        Q = 1 + beta * c**2
        terms += [q * h / Q for q in quad for h in (sp.Integer(1), c)]
    return terms


def _smallest_ratio(V: np.ndarray, groups: np.ndarray) -> float:
    """Smallest within/total trajectory variance ratio over combinations of the columns of V."""
    from scipy.linalg import eigh

    mu, sd = V.mean(axis=0), V.std(axis=0)
    keep = sd > 1e-12 * (1.0 + np.abs(mu))
    Z = (V[:, keep] - mu[keep]) / sd[keep]
    _, inv = np.unique(groups, return_inverse=True)
    counts = np.bincount(inv).astype(float)
    means = np.zeros((len(counts), Z.shape[1]))
    np.add.at(means, inv, Z)
    R = Z - (means / counts[:, None])[inv]
    W, T = R.T @ R / len(Z), Z.T @ Z / len(Z)
    K = Z.shape[1]
    ridge = 1e-10 * np.trace(T) / max(K, 1)
    return float(max(eigh(W + ridge * np.eye(K), T + ridge * np.eye(K), eigvals_only=True)[0], 1e-16))


BETA_GRID = (-0.95, -0.9, -0.8, -0.7, -0.6, -0.5, -0.4, -0.3, -0.2, -0.1, 0.25, 0.5, 1.0, 2.0, 3.0)


def fit_denominator(dataset, smap: StateMap, lib: Library, rows: np.ndarray, base_values: np.ndarray):
    """The rational family's beta fitted to the trajectories (module docstring), or None when it lowers nothing.

    Whether the family joins the library is the count's decision (it must find more conserved quantities with it).

    Returns ``(beta, ratio_without, ratio_with)``; beta is a SymPy Rational or Float.

    Example:
        >>> from physlens.systems import get_system
        >>> ds = get_system("double_pendulum", points_per_trajectory=20).sample(600, seed=0)
        >>> sm = state_map(ds); lib = build_library(ds, sm)
        >>> beta, before, after = fit_denominator(ds, sm, lib, np.arange(ds.n), lib.values_and_gradients(ds.X)[0])
        >>> beta, after < before / 100
        (-1/2, True)
    """
    if len(angle_variables(dataset, smap)) < 2:
        return None
    from scipy.optimize import minimize_scalar

    names = dataset.input_names
    cols = {n: dataset.X[rows, j] for j, n in enumerate(names)}
    groups = dataset.groups()[rows]
    b = sp.Symbol("beta_", real=True)
    family = rational_terms(dataset, smap, b)

    def ratio(beta: float) -> float:
        extra = np.stack([evaluate(t.subs(b, sp.Float(beta)), cols) for t in family], axis=1)
        V = np.hstack([base_values, extra])
        return _smallest_ratio(V, groups) if np.isfinite(V).all() else np.inf

    base = _smallest_ratio(base_values, groups)
    scores = [ratio(v) for v in BETA_GRID]
    i = int(np.argmin(scores))
    lo = BETA_GRID[i - 1] if i > 0 else -0.99
    hi = BETA_GRID[i + 1] if i + 1 < len(BETA_GRID) else 2 * BETA_GRID[i]
    opt = minimize_scalar(lambda v: np.log(ratio(v)), bounds=(lo, hi), method="bounded",
                          options={"xatol": 1e-4, "maxiter": 25})
    beta, best = (float(opt.x), float(np.exp(opt.fun))) if np.exp(opt.fun) < scores[i] else (BETA_GRID[i], scores[i])
    if not best < base:
        return None
    for q in (1, 2, 3, 4, 6, 8, 12):
        nice = sp.Rational(round(beta * q), q)
        if nice > -1 and ratio(float(nice)) <= 2.0 * best:
            return nice, base, ratio(float(nice))
    return sp.Float(round(beta, 4)), base, best


__all__ = ["Library", "StateMap", "angle_variables", "build_library", "fit_denominator", "library_degree", "rational_terms",
           "state_map", "wider_libraries"]
