"""Restricted parser from formula text to SymPy expressions.

SymPy's ``sympify``/``parse_expr`` run Python's ``eval`` on the text, so they
must never see user-supplied strings. This module parses the text with
:mod:`ast` and builds the SymPy expression node by node, accepting only
numbers, names, arithmetic operators and a fixed list of mathematical
functions. Every name becomes a plain ``Symbol`` (so ``gamma``, ``beta``,
``E_n`` or ``I`` are variables, not SymPy's built-ins), except the constants
``pi`` when it is not declared as variables.

Written by hand because no library offers a SymPy parser that is safe on
untrusted text.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable

import sympy as sp

from physlens.errors import ExpressionError

FUNCTIONS = {
    "exp": sp.exp,
    "log": sp.log,
    "ln": sp.log,
    "sqrt": sp.sqrt,
    "sin": sp.sin,
    "cos": sp.cos,
    "tan": sp.tan,
    "sinh": sp.sinh,
    "cosh": sp.cosh,
    "tanh": sp.tanh,
    "arcsin": sp.asin,
    "asin": sp.asin,
    "arccos": sp.acos,
    "acos": sp.acos,
    "arctan": sp.atan,
    "atan": sp.atan,
    "abs": sp.Abs,
    "Abs": sp.Abs,
    "sign": sp.sign,
}
CONSTANTS = {"pi": sp.pi}

_BINOPS = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.Pow: lambda a, b: a**b,
}
_MAX_LEN = 10_000


def parse_expression(text: str, variables: Iterable[str] | None = None) -> sp.Expr:
    """Parse ``text`` into a SymPy expression without evaluating Python.

    Args:
        text: a formula such as ``"q1*q2/(4*pi*epsilon*r**2)"``; ``^`` is read as power.
        variables: if given, the only names allowed besides functions and ``pi``.

    Example:
        >>> parse_expression("m*c^2", variables=["m", "c"])
        c**2*m
        >>> parse_expression("exp(-gamma*t)")
        exp(-gamma*t)
    """
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError("empty formula")
    if len(text) > _MAX_LEN:
        raise ExpressionError(f"formula longer than {_MAX_LEN} characters")
    allowed = set(variables) if variables is not None else None
    try:
        tree = ast.parse(text.replace("^", "**").strip(), mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"cannot parse formula {text!r}: {exc.msg}") from None
    symbols: dict[str, sp.Symbol] = {}

    def name(node_id: str) -> sp.Expr:
        if allowed is not None and node_id in allowed:
            return symbols.setdefault(node_id, sp.Symbol(node_id, real=True))
        if node_id in CONSTANTS:
            return CONSTANTS[node_id]
        if allowed is not None:
            raise ExpressionError(f"unknown name {node_id!r} in formula {text!r}")
        return symbols.setdefault(node_id, sp.Symbol(node_id, real=True))

    def build(node: ast.AST) -> sp.Expr:
        if isinstance(node, ast.Expression):
            return build(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            v = node.value
            return sp.Integer(v) if isinstance(v, int) else sp.Float(v)
        if isinstance(node, ast.Name):
            return name(node.id)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            return _BINOPS[type(node.op)](build(node.left), build(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            v = build(node.operand)
            return -v if isinstance(node.op, ast.USub) else v
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
            fname = node.func.id
            if fname not in FUNCTIONS:
                raise ExpressionError(f"function {fname!r} is not allowed in formula {text!r}")
            if len(node.args) != 1:
                raise ExpressionError(f"function {fname!r} takes one argument in formula {text!r}")
            return FUNCTIONS[fname](build(node.args[0]))
        raise ExpressionError(f"unsupported syntax {type(node).__name__} in formula {text!r}")

    return build(tree)


def expression_to_text(expr: sp.Expr) -> str:
    """Render ``expr`` as text that :func:`parse_expression` reads back.

    Example:
        >>> x = sp.Symbol("x")
        >>> expression_to_text(sp.sin(x) ** 2)
        'sin(x)**2'
    """
    return sp.sstr(expr)
