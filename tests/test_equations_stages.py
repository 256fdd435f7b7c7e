"""The equation engine's stages (physlens.probes.equations.stages) and its deterministic budget.

Every search here runs under a counted budget: its outcome depends on the data, the seed and the
budget, never on how busy the machine is.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
import sympy as sp

from physlens.errors import ConfigError
from physlens.probes.equations import EquationSearch, stages
from physlens.probes.equations import budget as B
from physlens.probes.equations.budget import SearchBudget, Shares, counted
from physlens.probes.equations.stages import Candidate, SearchState, StageBudget, default_stages


@pytest.fixture(autouse=True)
def _counted():
    with counted():
        yield


def _X(n=300, d=2, lo=1.0, hi=3.0, seed=0):
    return np.random.default_rng(seed).uniform(lo, hi, size=(n, d))


def _only(*generators):
    return [*generators, stages.DimensionFilter(), stages.Polish(), stages.Simplify(), stages.Selection()]


def _spent_seconds(work: dict) -> float:
    return sum(v * B.COSTS.get(k, 1.0) for k, v in work.items()) / B.RATE


# ----------------------------------------------------------------------------- composition
def test_default_stages_follow_the_protocol_in_order():
    names = [s.name for s in default_stages()]
    assert names == ["symmetry", "monomial", "rational", "separability", "scaling", "dimensional", "enumeration", "oracle",
                     "dimension_filter", "polish", "simplify", "selection"]
    assert all(isinstance(s, stages.Stage) for s in default_stages())
    assert default_stages()[0] is not default_stages()[0]  # a fresh list each time


def test_a_user_stage_is_run_and_a_removed_one_is_not():
    calls = []

    class Guess:
        name = "guess"

        def run(self, state, budget):
            calls.append(budget.share)
            state.add([state.symbols[0] ** 2 * state.symbols[1]], "guess")

    X = _X()
    y = X[:, 0] ** 2 * X[:, 1]
    mine = [Guess()] + [s for s in default_stages() if s.name not in ("monomial", "oracle")]
    est = EquationSearch(variable_names=["a", "b"], stages=mine, budget=SearchBudget.counts(300_000)).fit(X, y)
    assert str(est.expression_) == "a**2*b" and est.origin_ == "guess" and calls == [1.0]
    assert all(c.origin != "monomial" for c in est.candidates_)  # the removed stage added nothing


def test_selection_alone_scores_raw_formulas_when_nothing_polishes():
    X = _X()
    x0, x1 = sp.symbols("x0 x1", real=True)
    st = SearchState(search=None, X=X, target=X[:, 0] * X[:, 1], names=["x0", "x1"])
    st.add([x0 + x1, x0 * x1, sp.Float(1.0001) * x0 * x1], "given")
    stages.Selection(tolerance=0.02).run(st, None)
    assert st.best.expression == x0 * x1 and st.best.rmse < 1e-12
    assert [c.complexity for c in st.front] == sorted(c.complexity for c in st.front)


# ----------------------------------------------------------------------------- one test per generator
def test_symmetry_stage_merges_a_translation_pair():
    X = _X(400, 3)
    y = np.exp(-((X[:, 0] - X[:, 1]) ** 2)) * X[:, 2]
    est = EquationSearch(time_limit=4, variable_names=["a", "b", "c"], stages=_only(stages.PairSymmetry())).fit(X, y)
    assert est.origin_ == "symmetry"
    assert sp.simplify(est.expression_ - sp.sympify("c*exp(-(a - b)**2)", locals={
        k: sp.Symbol(k, real=True) for k in "abc"})) == 0


def test_monomial_stage_solves_a_power_law_at_once():
    X = _X(200, 2)
    y = 3.0 * X[:, 0] ** 1.5 / X[:, 1] ** 2
    est = EquationSearch(time_limit=2, variable_names=["a", "r"], stages=_only(stages.Monomial())).fit(X, y)
    assert str(est.expression_) == "3*a**(3/2)/r**2" and est.origin_ == "monomial"
    assert est.work_["polish"] <= 3  # an exact closed form stops the polishing


def test_separability_stage_splits_a_product_of_one_variable_factors():
    X = _X(500, 3)
    y = X[:, 0] ** 2 * np.sin(X[:, 1]) * X[:, 2]
    est = EquationSearch(time_limit=4, variable_names=["a", "b", "c"], stages=_only(stages.Separability())).fit(X, y)
    assert est.origin_ == "separability" and est.rmse_ < 1e-9 * np.abs(y).max()


def test_scaling_symmetries_are_read_from_the_data_as_small_integer_exponents():
    from physlens.probes.equations.stages.scaling import scaling_symmetries

    X = _X(1000, 3)
    # x^2 g(z/x) w: x and z alike with y as their square; w alone with y
    y = X[:, 0] ** 2 * np.log(1 + X[:, 2] / X[:, 0]) * X[:, 1]
    got = [e.tolist() for e in scaling_symmetries(X, y)]
    assert sorted(got) == sorted([[1.0, 0.0, 1.0, 2.0], [0.0, 1.0, 0.0, 1.0]]), got
    # 1 % noise on a Wien-like law: still one scaling, nu and T alike, the target as their square
    nu_T = _X(1500, 2)
    y = nu_T[:, 0] ** 2 * np.exp(-nu_T[:, 0] / nu_T[:, 1])
    y = y * (1 + 0.01 * np.random.default_rng(4).standard_normal(len(y)))
    assert [e.tolist() for e in scaling_symmetries(nu_T, y)] == [[1.0, 1.0, 2.0]]
    # sin(a) + b c keeps b -> lambda b, c -> c / lambda; sin(a) + b^2 + c keeps no scaling
    assert [e.tolist() for e in scaling_symmetries(X, np.sin(X[:, 0]) + X[:, 1] * X[:, 2])] == [[0.0, 1.0, -1.0, 0.0]]
    assert scaling_symmetries(X, np.sin(X[:, 0]) + X[:, 1] ** 2 + X[:, 2]) == []


def test_scaling_stage_turns_a_law_without_units_into_one_of_fewer_variables():
    X = _X(800, 2)
    y = X[:, 0] ** 3 / (np.exp(X[:, 0] / X[:, 1]) - 1)  # Planck's law, I(nu, T): no units given
    est = EquationSearch(time_limit=8, variable_names=["nu", "T"], stages=_only(stages.Scaling())).fit(X, y)
    nu, T = sp.symbols("nu T", real=True)
    assert est.origin_.startswith("scaling+"), est.origin_
    assert sp.simplify(est.expression_ - nu**3 / (sp.exp(nu / T) - 1)) == 0, est.expression_
    # with units the dimensional stage does this with the true exponents: the stage stands aside
    with_units = EquationSearch(time_limit=2, variable_names=["nu", "T"], units="nu=1/s,T=1/s,I=1/s**3",
                                target_name="I", stages=_only(stages.Scaling()))
    assert not with_units.fit(X, y).origin_.startswith("scaling")


def test_an_oscillating_law_no_polynomial_fits_shows_its_scaling_through_the_oracle_network():
    # exp(-g t) cos(w t) over about two periods: no polynomial of degree <= 10 in (t, g, w) fits, so the
    # polynomial reads no scaling; the oracle's network (600 epochs under the counted budget) reads
    # t -> l t, g -> g / l, w -> w / l (on the wall clock a 30 s search then solves the law of (g t, w t);
    # a counted search gives its oracle 500 epochs at most, which read no scaling here)
    from physlens.probes.equations.oracle import fit_oracle
    from physlens.probes.equations.stages.scaling import scaling_symmetries

    rng = np.random.default_rng(7)
    t, g, w = rng.uniform(0, 5, 1000), rng.uniform(0.1, 1, 1000), rng.uniform(1, 3, 1000)
    X, y = np.c_[t, g, w], np.exp(-g * t) * np.cos(w * t)
    assert scaling_symmetries(X, y) == []
    model = fit_oracle(X, y, ["t", "g", "w"], time_budget=30)
    assert [e.tolist() for e in scaling_symmetries(X, y, model=model)] == [[1.0, -1.0, -1.0, 0.0]]


def test_rational_candidates_read_high_powers_and_ratios_of_sums():
    from physlens.probes.equations.rational import rational_candidates

    u = np.random.default_rng(0).uniform(0.75, 2.2, (800, 1))
    U = sp.Symbol("u", real=True)

    def exact(fits, truth):
        return any(sp.simplify(sp.nsimplify(f, tolerance=1e-8, rational=True) - truth) == 0 for f in fits)

    # Lennard-Jones in r/s: a numerator and a denominator of degree 12, no constant term below
    assert exact(rational_candidates(u, 4 * (u[:, 0] ** -12 - u[:, 0] ** -6), [U]), 4 * (U**-12 - U**-6))
    # two inputs, a denominator that is a sum (Michaelis-Menten): the shared factor is divided out
    X = _X(600, 2, 0.1, 5.0)
    S, K = sp.symbols("S K", real=True)
    fits = rational_candidates(X, 3 * X[:, 0] / (X[:, 1] + X[:, 0]), [S, K])
    assert exact(fits[:1], 3 * S / (K + S)), fits
    # a transcendental law is no ratio of polynomials: nothing within 5 % of it with six terms
    v = np.random.default_rng(1).uniform(0.0, 12.0, (800, 1))
    assert rational_candidates(v, np.sin(v[:, 0]), [U]) == []


def test_rational_stage_solves_a_ratio_of_sums_at_one_percent_noise():
    u = _X(1500, 1, 0.2, 1.5)
    y = 1 / (1 - u[:, 0] / 2) ** 2 - 1 / (1 + u[:, 0] / 2) ** 2  # a dipole's field on its axis, in d/z
    y = y * (1 + 0.01 * np.random.default_rng(2).standard_normal(len(y)))
    est = EquationSearch(time_limit=4, variable_names=["u"], stages=_only(stages.Rational())).fit(u, y)
    U = sp.Symbol("u", real=True)
    assert est.origin_ == "rational"
    assert sp.simplify(est.expression_ - 32 * U / (4 - U**2) ** 2) == 0, est.expression_


def test_scaling_and_rational_stages_solve_lennard_jones_without_units():
    from physlens.probes.equations.stages.scaling import scaling_symmetries

    rng = np.random.default_rng(7)
    X = np.column_stack([rng.uniform(0.5, 2, 1500), rng.uniform(0.8, 1.2, 1500), rng.uniform(0.9, 2.0, 1500)])
    eps, s, r = X.T
    y = 4 * eps * ((s / r) ** 12 - (s / r) ** 6)  # changes sign: only the scalings of the inputs split it
    assert sorted(e.tolist() for e in scaling_symmetries(X, y)) == [[0.0, 1.0, 1.0, 0.0], [1.0, 0.0, 0.0, 1.0]]
    est = EquationSearch(time_limit=20, variable_names=["eps", "s", "r"], seed=0).fit(X, y)
    E, S_, R = sp.symbols("eps s r", real=True)
    assert sp.simplify(est.expression_ - 4 * E * ((S_ / R) ** 12 - (S_ / R) ** 6)) == 0, est.expression_


def test_dimensional_stage_searches_the_pi_groups_and_the_filter_keeps_units():
    X = _X(300, 4)
    y = X[:, 0] * X[:, 1] ** 2 * (0.5 + X[:, 2] / X[:, 3])  # E = m v^2 (1/2 + h/L): one pi group, h/L
    est = EquationSearch(time_limit=4, variable_names=["m", "v", "h", "L"], units="m=kg,v=m/s,h=m,L=m,E=J",
                         target_name="E", stages=_only(stages.Dimensional())).fit(X, y)
    assert est.origin_.startswith("dimensional") and est.rmse_ < 1e-6 * np.abs(y).max()


def test_dimension_filter_drops_inconsistent_formulas():
    from physlens.probes.equations.stages.dimensional import prepare_units

    X = _X(50, 2)
    x0, x1 = sp.symbols("x0 x1", real=True)
    st = SearchState(search=None, X=X, target=X[:, 0] / X[:, 1], names=["x0", "x1"],
                     units={"x0": "m", "x1": "s", "y": "m/s"})
    prepare_units(st)
    st.add([x0 * x1, x0 / x1, x0 + x1], "given")
    stages.DimensionFilter().run(st, None)
    assert [e for e, _ in st.raw] == [x0 / x1]


def test_enumeration_stage_finds_a_sum_of_a_function_and_a_variable():
    X = _X(200, 2, 1, 2)
    est = EquationSearch(time_limit=3, variable_names=["a", "b"], stages=_only(stages.Enumeration())).fit(
        X, np.sin(X[:, 0]) + X[:, 1])
    assert str(est.expression_) == "b + sin(a)" and est.origin_ == "enumeration"


def _yukawa(n=1000, noise=0.01, seed=0):
    """g exp(-r/a)/r with additive noise of 1 % of its RMS: it crosses zero where it is smallest."""
    rng = np.random.default_rng(seed)
    X = np.column_stack([rng.uniform(1, 3, n), rng.uniform(0.5, 3, n), rng.uniform(0.5, 2, n)])
    y = X[:, 0] * np.exp(-X[:, 1] / X[:, 2]) / X[:, 1]
    return X, y + rng.normal(0, noise * np.sqrt(np.mean(y**2)), n)


def test_a_one_signed_law_whose_noise_crosses_zero_still_splits_as_a_product():
    from physlens.probes.equations.separability import separable_split

    X, y = _yukawa()
    assert np.any(y < 0) and np.any(y > 0)  # the noise took some of the smallest rows across zero
    singles, block, _ = separable_split(X, y, kind="mul")
    assert singles == [0] and block == [1, 2]
    # a law that really changes sign is still no product
    assert separable_split(X, y - np.median(y), kind="mul") is None


def test_enumeration_ranks_transforms_by_their_own_noise_and_finds_the_law_at_one_percent():
    # exp(-r/a)/r at 1 % noise: its log (and 1/y) are ruled by the noise of the small rows unless each
    # row is weighted by the noise it carries there; unweighted, the best were sin(r/(log(a) + 2)) look-alikes
    X, y = _yukawa()
    est = EquationSearch(variable_names=["r", "a"], stages=_only(stages.Enumeration()),
                         budget=SearchBudget.counts(500_000)).fit(X[:, 1:], y / X[:, 0])
    r, a = sp.symbols("r a", real=True)
    assert sp.simplify(est.expression_ - sp.exp(-r / a) / r) == 0


def test_oracle_groups_come_from_the_interactions_test_calibrated_on_the_model_error():
    import torch

    from physlens.probes.equations.oracle import separable_groups

    class Law(torch.nn.Module):  # an exact "network": f = a*b + exp(c) + d
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(1))

        def forward(self, x):
            return (x[:, :1] * x[:, 1:2] + torch.exp(x[:, 2:3]) + x[:, 3:4]) * self.w

    X = _X(600, 4, 1, 2)
    f = Law()(torch.as_tensor(X)).detach().numpy()[:, 0]
    assert separable_groups(Law(), X, kind="add") == [[0, 1], [2], [3]]
    # with a model error far above the a*b coupling (Var(a)Var(b) ~ 0.007), the pair is not called coupled
    noisy = f + np.random.default_rng(1).normal(0, 0.5, len(f))
    assert separable_groups(Law(), X, noisy, kind="add") == [[0], [1], [2], [3]]
    # a product is separable in log|f| (each factor its own group)
    assert separable_groups(Law(), X, kind="mul") == [[0, 1, 2, 3]]  # a sum is not a product


def test_oracle_stage_runs_only_when_it_follows_the_enumeration_with_time_left():
    from physlens.probes.equations.stages.enumeration import oracle_follows

    X = _X(100, 2)
    est = EquationSearch(variable_names=["a", "b"], oracle="auto")
    est._limit = 60.0
    st = SearchState(search=est, X=X, target=X[:, 0] * X[:, 1], names=["x0", "x1"], deadline=B.now() + 45)
    assert oracle_follows(st)
    est.stages = [s for s in default_stages() if s.name != "oracle"]
    assert not oracle_follows(st)
    st.deadline = B.now() + 10
    est.stages = None
    assert not oracle_follows(st)  # "auto": only with more than 20 s left


# ----------------------------------------------------------------------------- polish, rounding
def test_polish_refits_and_rounds_constants():
    from physlens.probes.equations.stages.polish import polish

    x = sp.Symbol("x", real=True)
    xs = np.linspace(1, 2, 60)
    cols = {"x": xs}
    assert polish(sp.Float(0.4999) * x**2 + sp.Float(1.0002), cols, 0.5 * xs**2 + 1, 0.0) == x**2 / 2 + 1
    # a fitted float times a closed form is one constant, rounded as a whole (pi/3 here)
    assert polish(sp.Float(1 / (3 * np.pi**3)) * sp.pi**4 * x**2, cols, np.pi / 3 * xs**2, 0.0) == sp.pi * x**2 / 3


def test_polishing_takes_the_front_and_the_near_ties_in_turn():
    from physlens.probes.equations.stages.polish import order_for_polishing

    # the simplest steps of the front fit worse than the law, which is the first near-tie of the best
    rng = np.random.default_rng(0)
    u, t = rng.uniform(0.4, 0.9, 400), rng.uniform(0, 0.6, 400)
    y = np.arcsin(u * np.sin(t)) + rng.normal(0, 0.003, 400)
    x0, x1 = sp.symbols("x0 x1", real=True)
    law = sp.Float(0.999) * sp.asin(x1 * sp.sin(x0)) + sp.Float(0.0003)
    raw = [(sp.Float(0.98) * x0 * x1, "a"), (sp.Float(0.97) * x0 * x1 + sp.Float(0.002), "b"),
           (sp.Float(1.02) * x1 * sp.sin(x0) - sp.Float(0.002), "c"), (law, "d")]
    order = [str(t[2]) for t in order_for_polishing(raw, {"x0": t, "x1": u}, y, 1.0)]
    assert order.index(str(law)) <= 1  # polished among the first two, not after the front's three


def test_an_inverse_sine_is_written_as_one_not_as_the_complement_of_acos():
    from physlens.probes.equations.simplify import complements, tidy

    z, w = sp.symbols("z w", real=True)
    assert tidy(sp.pi / 2 - sp.acos(z * sp.sin(w))) == sp.asin(z * sp.sin(w))
    assert tidy(sp.pi / 2 - sp.asin(z)) == sp.acos(z)
    assert tidy(sp.acos(z) + z) == sp.acos(z) + z  # nothing to fold: left as it is
    assert complements(z + 1) == []


def test_dropping_terms_that_fit_noise_leaves_room_to_round_the_laws_own_constant():
    from physlens.probes.equations.stages.polish import polish

    # a separability result at 1 % noise: the law times 1.00001 and 1.0012, plus two tiny terms that fit noise;
    # each of the four fixed constants may raise the squared error by a 3-sigma step, not all four by one
    X, y = _yukawa()
    g, r, a = sp.symbols("g r a", real=True)
    cols = {"g": X[:, 0], "r": X[:, 1], "a": X[:, 2]}
    raw = sp.Float(1.00001526306177) * g * (sp.Float(0.000515311297320911) * sp.cos(1 / sp.log(r))
                                            - sp.Float(5.94254559540119e-5)
                                            + sp.Float(1.00117019655248) * sp.exp(-r / a) / r)
    assert polish(raw, cols, y, 1e-10) == g * sp.exp(-r / a) / r


def test_polish_stage_keeps_the_mean_when_nothing_can_be_polished():
    X = _X(40, 1)
    est = EquationSearch(variable_names=["x"])
    est._limit, est._shares = 1.0, Shares()
    est._clock = B.clock()
    st = SearchState(search=est, X=X, target=X[:, 0], names=["x0"], final_deadline=B.now() - 1)
    stages.Polish().run(st, StageBudget(share=1.0, seconds=0.0))
    assert [c.origin for c in st.candidates] == ["mean (time ran out)"]


def test_simplify_stage_rewrites_the_front_without_losing_accuracy():
    x = sp.Symbol("x0", real=True)
    X = _X(50, 1)
    est = EquationSearch(variable_names=["x"])
    est._limit, est._shares = 5.0, Shares()
    est._clock = B.clock()
    st = SearchState(search=est, X=X, target=2 * X[:, 0], names=["x0"], final_deadline=B.now() + 5)
    st.candidates = [Candidate(sp.sin(x) ** 2 + sp.cos(x) ** 2 + 2 * x - 1, 12, 0.0)]
    stages.Simplify().run(st, None)
    assert st.candidates[0].expression == 2 * x and st.candidates[0].complexity < 12


# ----------------------------------------------------------------------------- the deterministic budget
def test_a_counted_budget_gives_the_same_formula_and_work_under_load():
    X = _X(400, 3)
    y = X[:, 0] * np.exp(-X[:, 1] / X[:, 2]) + np.sqrt(X[:, 0])
    opts = dict(variable_names=["a", "b", "c"], budget=SearchBudget.counts(150_000), seed=3)
    with B.using(B.Clock()):  # outside the file's counted block: the budget itself makes it counted
        first = EquationSearch(**opts).fit(X, y)
        stop = threading.Event()

        def burn():  # another thread competing for the interpreter: a "busy machine"
            while not stop.is_set():
                sum(i * i for i in range(10_000))

        t = threading.Thread(target=burn)
        t.start()
        try:
            second = EquationSearch(**opts).fit(X, y)
        finally:
            stop.set()
            t.join()
    assert first.expression_ == second.expression_ and first.pareto_ == second.pareto_
    assert first.work_ == second.work_
    # the work done stays within the budget (one polishing call over at most)
    assert _spent_seconds(first.work_) <= 1.5 + B.COSTS["polish"] / B.RATE * 3


def test_budget_config_is_validated_and_converts_counts_to_virtual_seconds():
    assert SearchBudget.counts(500_000).limit == 500_000 / B.RATE
    assert SearchBudget(seconds=7).limit == 7.0 and not SearchBudget(seconds=7).deterministic
    with pytest.raises(ConfigError, match="evaluations"):
        SearchBudget(evaluations=0)
    with pytest.raises(ConfigError, match="seconds"):
        SearchBudget(seconds=-1)


def test_shares_change_what_the_stages_may_use():
    X = _X(300, 2)
    y = np.sin(X[:, 0]) * np.exp(X[:, 1]) + X[:, 0] ** 3 / X[:, 1]
    small = EquationSearch(variable_names=["a", "b"],
                           budget=SearchBudget(evaluations=150_000, shares=Shares(enumeration=0.1))).fit(X, y)
    large = EquationSearch(variable_names=["a", "b"], budget=SearchBudget.counts(150_000)).fit(X, y)
    assert small.work_["evaluations"] < large.work_["evaluations"]

