"""The equation probe works whatever the columns are called: names that are SymPy functions or
constants, Python keywords, the target's usual name ``y``, or text that is no identifier."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import sympy as sp

from physlens.data.dataset import Dataset
from physlens.expressions import parse_expression
from physlens.probes.equations import EquationSearch, applies, run
from physlens.probes.equations.budget import counted


@pytest.fixture(autouse=True)
def _counted_budget():
    """Every search here counts work instead of seconds (``time_limit`` is virtual seconds): no outcome
    depends on how busy the machine is."""
    with counted():
        yield


def _data(names, law, n=300, seed=0):
    X = np.random.default_rng(seed).uniform(1, 3, size=(n, len(names)))
    return X, law(*X.T)


def _finding(names, target, law, time_limit=6, seed=0, **kw):
    X, y = _data(names, law, seed=seed)
    (f,) = run(None, Dataset(X, y, names, [target], **kw), time_limit=time_limit)
    return f


def _reads_back(f, names, truth):
    """The finding's expression parses (restricted parser) to the truth, in the user's names."""
    got = parse_expression(f.value["expression"], variables=names)
    want = parse_expression(truth, variables=names)
    assert {s.name for s in got.free_symbols} <= set(names)
    return sp.simplify(got - want) == 0


def test_target_named_y_is_found_exactly_and_the_distractor_is_left_out():
    names = ["a", "b", "c", "d"]
    f = _finding(names, "y", lambda a, b, c, d: a * b**2 + np.sin(d), time_limit=10)
    assert f.target == "y"
    assert _reads_back(f, names, "a*b**2 + sin(d)")
    assert "c" not in {s.name for s in parse_expression(f.value["expression"], variables=names).free_symbols}


def test_an_input_named_y_does_not_collide_with_the_target_or_internal_names():
    names = ["y", "S"]
    f = _finding(names, "x", lambda y, s: np.exp(-y) * s, time_limit=4)
    assert _reads_back(f, names, "exp(-y)*S")


def test_columns_x_y_z_t_with_target_E():
    names = ["x", "y", "z", "t"]
    f = _finding(names, "E", lambda x, y, z, t: x * y**2 * t / (2 * z), time_limit=4)
    assert f.target == "E" and _reads_back(f, names, "x*y**2*t/(2*z)")


def test_greek_and_keyword_names_round_trip_and_render_in_latex():
    names = ["lambda", "beta", "gamma", "I"]
    f = _finding(names, "S", lambda lam, b, g, i: lam * b**2 / (4 * np.pi * g * i), time_limit=4)
    assert _reads_back(f, names, "lambda*beta**2/(4*pi*gamma*I)")
    for tex in (r"\lambda", r"\beta", r"\gamma"):
        assert tex in f.value["latex"]
    for p in f.value["pareto"]:  # every front entry reads back too
        parse_expression(p["expression"], variables=names)


def test_sympy_constant_names_as_inputs_and_target():
    names = ["E", "N", "Q", "O"]
    f = _finding(names, "lambda", lambda e, n, q, o: e * n**2 * q / o, time_limit=4)
    assert f.target == "lambda" and _reads_back(f, names, "E*N**2*Q/O")


def test_a_column_called_pi_is_kept_apart_from_the_constant():
    names = ["pi", "re", "im"]
    f = _finding(names, "I", lambda p, r, i: 2 * np.pi * p * r / i, time_limit=4)
    got = parse_expression(f.value["expression"], variables=names)
    pi_col = sp.Symbol("pi", real=True)
    assert got.has(sp.pi) and pi_col in got.free_symbols
    assert sp.simplify(got - 2 * sp.pi * pi_col * sp.Symbol("re", real=True) / sp.Symbol("im", real=True)) == 0


def test_function_names_as_columns():
    names = ["sin", "exp", "x"]
    f = _finding(names, "t", lambda s, e, x: np.sin(s) * e * x**2, time_limit=6)
    assert _reads_back(f, names, "sin(sin)*exp*x**2")


def test_names_that_are_not_identifiers_work_with_units():
    names = ["m (kg)", "v [m/s]"]
    X, y = _data(names, lambda m, v: m * v**2 / 2)
    est = EquationSearch(time_limit=4, variable_names=names, target_name="E (J)",
                         units={"m (kg)": "kg", "v [m/s]": "m/s", "E (J)": "J"}).fit(X, y)
    assert _reads_back_est(est, names, X, y)


def _reads_back_est(est, names, X, y):
    from physlens.expressions import expression_to_text

    got = parse_expression(expression_to_text(est.expression_), variables=names)
    assert got == est.expression_
    return np.allclose(est.predict(X), y)


def test_no_runtime_warning_escapes_the_probe():
    # exp of large products overflows in many candidate formulas
    names = ["p", "q", "r"]
    X = np.random.default_rng(0).uniform(1, 6, size=(300, 3))
    y = np.exp(X[:, 0] * X[:, 1]) / (1 + X[:, 2] ** X[:, 0])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run(None, Dataset(X, y, names, ["w"]), time_limit=3)
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)]


def test_empty_and_duplicate_names_get_a_clear_error():
    from physlens.errors import DataError

    X, y = _data(["a", "b"], lambda a, b: a + b)
    with pytest.raises(DataError, match="duplicate"):
        EquationSearch(time_limit=1, variable_names=["a", "a"]).fit(X, y)
    with pytest.raises(DataError, match="empty name"):
        EquationSearch(time_limit=1, variable_names=["a", " "]).fit(X, y)


def test_applies_names_what_stops_the_static_search():
    rng = np.random.default_rng(0)
    assert applies(Dataset(rng.random((30, 3)), rng.random(30), ["y", "lambda", "E"], ["S"])) is None
    wide = Dataset(rng.random((30, 32)), rng.random(30), [f"c{j}" for j in range(32)], ["y"])
    assert applies(wide).startswith("32 inputs")
    assert "rows" in applies(Dataset(rng.random((5, 2)), rng.random(5), ["a", "b"], ["y"]))
    assert "constant" in applies(Dataset(rng.random((30, 2)), np.ones(30), ["a", "b"], ["y"]))


def test_budget_seconds_is_shared_between_targets():
    names = ["a", "b"]
    X = np.random.default_rng(0).uniform(1, 3, size=(200, 2))
    Y = np.column_stack([X[:, 0] * X[:, 1], X[:, 0] + np.sin(X[:, 1]), X[:, 0] / X[:, 1]])
    fs = run(None, Dataset(X, Y, names, ["u", "v", "w"]), time_limit=30, budget_seconds=6)
    assert [f.target for f in fs] == ["u", "v", "w"]
    # each target's search is given its share of what is left of the budget, not the 30 s per target
    limits = [f.evidence["time_limit"] for f in fs]
    assert limits[0] <= 0.8 * 6 / 3 + 1e-9 and all(t <= 0.8 * 6 + 1e-9 for t in limits)
