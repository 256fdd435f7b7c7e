"""Property-based fuzzing (Hypothesis) of everything that reads outside input.

The loaders (arbitrary bytes under every suffix; damaged CSV, NPZ, Parquet and HDF5 files), the
study YAML and its probe options, the formula parser and the findings JSON round trip. The
property is always the same: either a valid object comes back, or the one physlens exception of
that boundary (``DataError``, ``ConfigError``, ``ExpressionError``); never another exception,
never a hang, never evaluated code. Every test is derandomised (the same examples on every run,
so CI never flakes) with a bounded number of examples and no deadline.
"""

from __future__ import annotations

import builtins
import io
import json
import math
import string
import tempfile
import warnings
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from physlens.data.dataset import Dataset
from physlens.data.loaders import load, read_columns
from physlens.errors import ConfigError, DataError, ExpressionError
from physlens.expressions import FUNCTIONS, expression_to_text, parse_expression
from physlens.findings import KINDS, Finding

FUZZ = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
SUFFIXES = [".csv", ".tsv", ".txt", ".npz", ".parquet", ".h5"]


@contextmanager
def _file(data: bytes, suffix: str):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"f{suffix}"
        path.write_bytes(data)
        yield path


def _load_or_data_error(path: Path, **kwargs) -> Dataset | None:
    """``load(path)``: a finite Dataset, or None after a DataError; any other exception fails the test."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ds = load(path, min_rows=1, **kwargs)
        except DataError as exc:
            assert "\n" not in str(exc) and str(exc).strip(), repr(str(exc))
            return None
    assert np.isfinite(ds.X).all() and np.isfinite(ds.y).all()
    return ds


# --------------------------------------------------------------------------- loaders
@FUZZ
@given(data=st.binary(max_size=3000), suffix=st.sampled_from(SUFFIXES))
def test_arbitrary_bytes_load_or_raise_a_one_line_data_error(data, suffix):
    with _file(data, suffix) as path:
        _load_or_data_error(path)


CSV_CHARS = list(',;\t|"\n\r 0123456789.-+eExyzaninf#_')


@FUZZ
@given(text=st.text(alphabet=st.sampled_from(CSV_CHARS), max_size=400), header=st.booleans(),
       target=st.sampled_from([None, "y"]))
def test_malformed_csv_text_loads_or_raises_a_data_error(text, header, target):
    body = ("x,z,y\n" if header else "") + text
    with _file(body.encode(), ".csv") as path:
        ds = _load_or_data_error(path, target=target if header else None)
        if ds is not None and header and target:
            assert ds.target_names == ["y"]


@st.composite
def numeric_tables(draw):
    """A table of finite floats with distinct identifier names; the last column is the target."""
    n_cols = draw(st.integers(2, 4))
    names = draw(st.lists(st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True), min_size=n_cols, max_size=n_cols,
                          unique=True))
    values = draw(hnp.arrays(np.float64, st.tuples(st.integers(1, 12), st.just(n_cols)),
                             elements=st.floats(-1e12, 1e12, allow_nan=False, width=64)))
    return names, values


@FUZZ
@given(table=numeric_tables(), fmt=st.sampled_from(["csv", "tsv", "npz", "parquet", "h5"]))
def test_valid_tables_load_exactly_in_every_format(table, fmt):
    names, values = table
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"t.{fmt}"
        if fmt in ("csv", "tsv"):
            sep = "," if fmt == "csv" else "\t"
            path.write_text(sep.join(names) + "\n" + "".join(sep.join(repr(float(v)) for v in row) + "\n"
                                                             for row in values))
        elif fmt == "npz":
            np.savez(path, **{c: values[:, j] for j, c in enumerate(names)})
        elif fmt == "parquet":
            import pandas as pd

            pd.DataFrame(values, columns=names).to_parquet(path)
        else:
            import h5py

            with h5py.File(path, "w") as f:
                for j, c in enumerate(names):
                    f[c] = values[:, j]
        cols = read_columns(path)
        assert sorted(cols) == sorted(names)
        try:
            ds = load(path, target=names[-1], min_rows=1, allow_constant=True)
        except DataError as exc:  # a constant target is the one refusal a valid table may meet
            assert "is constant" in str(exc)
            return
        order = [names.index(c) for c in ds.input_names]
        np.testing.assert_array_equal(ds.X, values[:, order])
        np.testing.assert_array_equal(ds.y[:, 0], values[:, -1])


def _damage(blob: bytes, how: str, where: float, byte: int) -> bytes:
    k = min(int(where * len(blob)), len(blob) - 1)
    if how == "truncate":
        return blob[:k]
    if how == "flip":
        return blob[:k] + bytes([blob[k] ^ (byte or 1)]) + blob[k + 1:]
    return blob[:k] + bytes([byte]) * 16 + blob[k:]  # insert


def _npz_bytes(values: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **{f"c{j}": values[:, j] for j in range(values.shape[1])})
    return buf.getvalue()


def _parquet_bytes(values: np.ndarray) -> bytes:
    import pandas as pd

    buf = io.BytesIO()
    pd.DataFrame(values, columns=[f"c{j}" for j in range(values.shape[1])]).to_parquet(buf)
    return buf.getvalue()


def _hdf5_bytes(values: np.ndarray) -> bytes:
    import h5py

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "t.h5"
        with h5py.File(path, "w") as f:
            for j in range(values.shape[1]):
                f[f"c{j}"] = values[:, j]
        return path.read_bytes()


DAMAGEABLE = {".npz": _npz_bytes, ".parquet": _parquet_bytes, ".h5": _hdf5_bytes}


@FUZZ
@given(suffix=st.sampled_from(sorted(DAMAGEABLE)), how=st.sampled_from(["truncate", "flip", "insert"]),
       where=st.floats(0, 1), byte=st.integers(0, 255),
       values=hnp.arrays(np.float64, st.tuples(st.integers(1, 30), st.integers(2, 3)),
                         elements=st.floats(-1e3, 1e3, allow_nan=False)))
def test_damaged_binary_files_load_or_raise_a_data_error(suffix, how, where, byte, values):
    blob = _damage(DAMAGEABLE[suffix](values), how, where, byte)
    with _file(blob, suffix) as path:
        _load_or_data_error(path)


# --------------------------------------------------------------------------- study YAML
YAML_CHARS = list(string.ascii_letters[:8] + string.digits[:4] + " :-[]{},\n'\"#!&*|>%@`\t") + ["source", "probes",
                  "name", "system", "file", "budget", "train", "epochs", "options", "toy_distractor", "!!python/object"]


def _study_or_config_error(text: str):
    from physlens.study import Study

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "study.yaml"
        path.write_text(text)
        try:
            return Study.from_yaml(path)
        except ConfigError as exc:
            assert str(exc).strip()
            return None


@FUZZ
@given(pieces=st.lists(st.sampled_from(YAML_CHARS), max_size=60))
def test_malformed_study_yaml_is_a_study_or_a_config_error(pieces):
    _study_or_config_error("".join(pieces))


SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 5000), st.floats(allow_nan=False, width=32),
                    st.sampled_from(["", "quick", "fast", "toy_distractor", "attribution", "mlp", "many"]))
OPTION_NAMES = ["repeats", "max_samples", "seed", "bogus", "heldout", "support", "error_factor", "budget_seconds"]


@st.composite
def study_dicts(draw):
    """Study mappings that are nearly right: real keys, some wrong values and wrong keys."""
    probe = st.fixed_dictionaries({"name": st.sampled_from(["attribution", "uncertainty", "astrology", 3])},
                                  optional={"options": st.dictionaries(st.sampled_from(OPTION_NAMES), SCALARS,
                                                                       max_size=3)})
    source = st.fixed_dictionaries({}, optional={"system": SCALARS, "file": SCALARS, "n": SCALARS,
                                                 "noise": SCALARS, "params": st.dictionaries(st.text(max_size=3),
                                                                                             SCALARS, max_size=2)})
    return draw(st.fixed_dictionaries({}, optional={
        "name": SCALARS, "source": source, "budget": SCALARS, "seed": SCALARS,
        "train": st.fixed_dictionaries({}, optional={"epochs": SCALARS, "lr": SCALARS}),
        "probes": st.one_of(st.none(), st.lists(probe, max_size=3)),
        "bogus": SCALARS,
    }))


@FUZZ
@given(data=study_dicts())
def test_study_settings_and_probe_options_validate_or_raise_a_config_error(data):
    import yaml

    from physlens.study import check_probes

    study = _study_or_config_error(yaml.safe_dump(data))
    if study is None:
        return
    try:
        check_probes(study)
    except ConfigError as exc:
        msg = str(exc)
        assert "\n" not in msg and ("probe" in msg)
        if "has no option" in msg:
            assert "it accepts:" in msg
        return
    for p in study.probes or []:  # every option that passed is a real, settable keyword of the probe
        from physlens.probes import probe_spec

        for opt in p.options:
            assert probe_spec(p.name).accepts(opt) and opt not in ("heldout", "training", "findings")


# --------------------------------------------------------------------------- formula parser
CANARY: list[str] = []


def _canary(*args):
    CANARY.append("called")
    return 0


FORMULA_TOKENS = ["x", "y", "m", "c", "lambda", "pi", "π", "E", "I", "2", "0", "1.5", "1e3", "9", "+", "-", "*",
                  "/", "**", "^", "(", ")", ",", " ", "sin(", "exp(", "sqrt(", "log(", "abs(", "open(",
                  "__import__(", "physlens_canary(", "'os'", ".", "[", "]", "=", ":", "lambda x: ", "__class__",
                  "if", "else", ";", "\n", "#", "@", "%", "<", "j", "_"]
FORMULAS = st.one_of(st.text(max_size=60), st.lists(st.sampled_from(FORMULA_TOKENS), max_size=25).map("".join))


@contextmanager
def _no_code_evaluation():
    """eval/exec raise, SymPy's string parsers raise, and a canary function sits in builtins."""
    def forbidden(*args, **kwargs):
        raise AssertionError("code was evaluated")

    CANARY.clear()
    with mock.patch.object(builtins, "eval", forbidden), mock.patch.object(builtins, "exec", forbidden), \
            mock.patch("sympy.parsing.sympy_parser.parse_expr", forbidden), \
            mock.patch.object(builtins, "physlens_canary", _canary, create=True):
        yield
    assert CANARY == []


@FUZZ
@given(text=FORMULAS, declared=st.one_of(st.none(), st.lists(st.sampled_from(["x", "y", "m", "c", "lambda", "pi",
                                                                              "v (m/s)"]), max_size=4)))
def test_formula_parser_returns_an_expression_or_an_expression_error_and_never_evaluates(text, declared):
    with _no_code_evaluation():
        try:
            expr = parse_expression(text, variables=declared)
        except ExpressionError as exc:
            assert "\n" not in str(exc)
            return
    assert isinstance(expr, sp.Basic)
    if declared is not None:
        assert {s.name for s in expr.free_symbols} <= set(declared)
    if not any(s.name == "pi" for s in expr.free_symbols):  # read back from its own text, unchanged
        again = parse_expression(expression_to_text(expr),
                                 variables=None if declared is None else [s.name for s in expr.free_symbols])
        assert sp.srepr(again) == sp.srepr(expr)


def test_oversized_powers_and_deep_nesting_are_refused_at_once():
    for text in ("9**9**9", "2**10**10", "(1/3)**(10**6)", "-" * 5000 + "x", "+".join(["x"] * 3000)):
        with pytest.raises(ExpressionError):
            parse_expression(text)
    assert parse_expression("10**300") == sp.Integer(10) ** 300


# --------------------------------------------------------------------------- findings JSON
NAMES = st.from_regex(r"[a-z][a-z0-9_]{0,5}", fullmatch=True).filter(lambda s: s not in ("pi",) and
                                                                      s not in FUNCTIONS)


@st.composite
def expressions(draw, depth=3):
    """SymPy expressions the probes produce: real symbols, integers, rationals, allowed functions."""
    if depth == 0 or draw(st.booleans()):
        return draw(st.one_of(NAMES.map(lambda n: sp.Symbol(n, real=True)), st.integers(-50, 50).map(sp.Integer),
                              st.tuples(st.integers(-9, 9), st.integers(1, 9)).map(lambda t: sp.Rational(*t))))
    a, b = draw(expressions(depth - 1)), draw(expressions(depth - 1))
    op = draw(st.sampled_from(["+", "*", "/", "**", "f"]))
    if op == "+":
        return a + b
    if op == "*":
        return a * b
    if op == "/":
        return a / b if b != 0 else a
    if op == "**":
        return a ** draw(st.integers(-3, 3))
    return draw(st.sampled_from([sp.sin, sp.cos, sp.exp, sp.log, sp.sqrt, sp.tanh, sp.Abs]))(a)


def _no_negative_zero(c: complex) -> complex:
    return complex(c.real + 0.0, c.imag + 0.0)  # -0.0 + 0.0 is 0.0; a -0.0 part is pinned in LOSSY


SHAPES = hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=4)
def _plain(expr: sp.Basic) -> bool:
    """No SymPy constant the codec writes as a bare name (E, I, oo, zoo, nan): those are pinned in LOSSY."""
    return not expr.has(sp.I, sp.oo, -sp.oo, sp.zoo, sp.nan) and not any(
        isinstance(a, sp.NumberSymbol) and a != sp.pi for a in expr.atoms())


ARRAYS = st.one_of(hnp.arrays(st.sampled_from([np.float64, np.int64, np.bool_]), SHAPES),
                   hnp.arrays(np.complex128, SHAPES, elements=st.complex_numbers(allow_nan=False, allow_infinity=False,
                                                                                 max_magnitude=1e300).map(_no_negative_zero)))
KEYS = st.text(max_size=8).filter(lambda k: not k.startswith("__"))  # keys like "__float__" are the codec's own
LEAVES = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(), st.text(max_size=20),
                   st.complex_numbers(allow_nan=False, allow_infinity=False), ARRAYS, expressions().filter(_plain))
VALUES = st.recursive(LEAVES, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                      st.dictionaries(KEYS, inner, max_size=4)), max_leaves=12)


def _same(a, b) -> bool:
    if isinstance(a, np.ndarray):
        return (isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape
                and np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
    if isinstance(a, sp.Basic):
        return isinstance(b, sp.Basic) and sp.srepr(a) == sp.srepr(b)
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return isinstance(b, list) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, float):
        return isinstance(b, float) and (a == b or (math.isnan(a) and math.isnan(b)))
    if isinstance(a, complex):
        return isinstance(b, complex) and a == b
    return type(a) is type(b) and a == b


def _not_json(token: str):
    raise AssertionError(f"{token} is not JSON")


@settings(FUZZ, max_examples=40)
@given(kind=st.sampled_from(KINDS), statement=st.text(max_size=40), value=VALUES,
       evidence=st.dictionaries(KEYS, VALUES, max_size=3), confidence=st.floats(0, 1),
       subject=st.one_of(st.none(), st.text(max_size=10)), match=st.sampled_from([None, True, False]))
def test_findings_survive_the_json_round_trip_unchanged(kind, statement, value, evidence, confidence, subject, match):
    f = Finding(kind, statement, value, evidence, confidence, probe="fuzz", subject=subject, match=match)
    text = f.to_json()
    json.loads(text, parse_constant=_not_json)  # strict JSON: no bare NaN or Infinity tokens
    g = Finding.from_json(text)
    assert g == f and g.to_json() == text
    assert _same(value, g.value), (value, g.value)
    assert all(_same(evidence[k], g.evidence[k]) for k in evidence)


# Known losses of the codec (physlens.codec, owned elsewhere): pinned so that the fix shows up here.
LOSSY = [
    pytest.param(sp.Symbol("v (m/s)", real=True) * 2, id="symbol named like a column with units"),
    pytest.param(sp.Symbol("pi", real=True) * sp.pi, id="a variable called pi times the constant"),
    pytest.param(sp.E * sp.Symbol("x", real=True), id="Euler's number"),
    pytest.param(sp.I * sp.pi, id="the imaginary unit"),
    pytest.param(sp.zoo, id="complex infinity (1/0)"),
    pytest.param(sp.Float(0.12345678901234568) * sp.Symbol("x", real=True), id="float with 17 digits"),
    pytest.param(np.array([complex(0.0, math.inf)]), id="complex array with an infinite imaginary part"),
    pytest.param(np.array([complex(-0.0, 1.0)]), id="complex array with a negative zero"),
]


@pytest.mark.parametrize("expr", LOSSY)
@pytest.mark.xfail(strict=True, reason="physlens.codec writes these expressions lossily; see notes")
def test_codec_pins_its_known_lossy_expressions(expr):
    f = Finding("equation", "s", expr)
    g = Finding.from_json(f.to_json())
    assert _same(expr, g.value) and g == f
