"""The Finding record: lossless JSON and scoring against ground truth; the restricted parser."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from physlens.errors import ExpressionError
from physlens.expressions import parse_expression
from physlens.findings import Finding, GroundTruth, score


def test_finding_with_matrix_expression_and_nan_round_trips():
    x = sp.Symbol("x", real=True)
    f = Finding(
        "symmetry",
        "rotation in (x, y)",
        {"generators": [np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0]])], "expr": sp.sin(x) / 3, "bad": float("nan")},
        evidence={"residual": 1e-7},
        confidence=0.9,
        probe="symmetry",
    )
    back = Finding.from_json(f.to_json())
    assert np.array_equal(back.value["generators"][0], f.value["generators"][0])
    assert sp.simplify(back.value["expr"] - sp.sin(x) / 3) == 0
    assert np.isnan(back.value["bad"])
    assert back == f


def test_unknown_kind_is_rejected():
    with pytest.raises(ValueError, match="unknown finding kind"):
        Finding("hunch", "maybe")


def test_score_marks_relevance_against_truth_and_leaves_user_data_unscored():
    fs = [
        Finding("relevant-variable", "", {"variable": "x1", "relevant": True}),
        Finding("relevant-variable", "", {"variable": "x3", "relevant": True}),
    ]
    card = score(fs, GroundTruth(relevant_inputs=["x1", "x2"]))
    assert [f.match for f in fs] == [True, False]
    assert card["matched"] == 1 and card["scored"] == 2
    fs2 = [Finding("relevant-variable", "", {"variable": "x1", "relevant": True})]
    assert score(fs2, None)["scored"] == 0 and fs2[0].match is None


def test_parser_reads_physics_formulas_and_refuses_code():
    e = parse_expression("q1*q2/(4*pi*epsilon*r^2)", variables=["q1", "q2", "epsilon", "r"])
    q1, q2, eps, r = sp.symbols("q1 q2 epsilon r", real=True)
    assert sp.simplify(e - q1 * q2 / (4 * sp.pi * eps * r**2)) == 0
    assert parse_expression("gamma + I + E_n").free_symbols == set(sp.symbols("gamma I E_n", real=True))
    for bad in ["__import__('os').system('true')", "x.__class__", "lambda: 1", "[1, 2]", "open('f')"]:
        with pytest.raises(ExpressionError):
            parse_expression(bad)
    with pytest.raises(ExpressionError, match="unknown name 'z'"):
        parse_expression("x + z", variables=["x"])
