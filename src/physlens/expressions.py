"""Restricted parser from formula text to SymPy expressions.

SymPy's ``sympify``/``parse_expr`` run Python's ``eval`` on the text, so they
must never see user-supplied strings. This module parses the text with
:mod:`ast` and builds the SymPy expression node by node, accepting only
numbers, names, arithmetic operators and a fixed list of mathematical
functions. Every name becomes a plain ``Symbol`` (so ``gamma``, ``beta``,
``E_n``, ``E``, ``I``, ``S`` or ``N`` are variables, not SymPy's built-ins), except the
constant ``pi`` when it is not declared as a variable; ``π`` is always the constant
(:func:`expression_to_text` writes it so when a variable is called ``pi``). Python
keywords are names too (``lambda*x`` is a product of two variables), and a declared
variable whose name is not an identifier (a column called ``v (m/s)``) is read as
one variable wherever its text occurs.

Written by hand because no library offers a SymPy parser that is safe on
untrusted text.
"""

from __future__ import annotations

import ast
import io
import keyword
import math
import tokenize
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
PI_TEXT = "π"  # the constant's spelling when a variable is called "pi"

_MAX_LEN = 10_000
#: largest exact number a formula may build by powers of numbers (bits): ``9**9**9`` would take SymPy
#: minutes and gigabytes to write out, and no physical constant needs more than a few hundred digits
MAX_NUMBER_BITS = 10_000


def _power(base: sp.Expr, exponent: sp.Expr, text: str) -> sp.Expr:
    """``base**exponent``, refusing a power of numbers too large to write out exactly."""
    if isinstance(base, sp.Rational) and isinstance(exponent, sp.Number) and abs(base) not in (0, 1):
        bits = max(int(base.p).bit_length(), int(base.q).bit_length())
        size = abs(float(exponent)) * bits
        if size > MAX_NUMBER_BITS:
            raise ExpressionError(f"number too large in formula {_short(text)!r}: a power of "
                                  f"{_short(str(base), 20)} with about {size / math.log2(10):.3g} digits")
    return base**exponent


_BINOPS = {
    ast.Add: lambda a, b, text: a + b,
    ast.Sub: lambda a, b, text: a - b,
    ast.Mult: lambda a, b, text: a * b,
    ast.Div: lambda a, b, text: a / b,
    ast.Pow: _power,
}


def _protect_names(text: str, declared: list[str]) -> tuple[str, dict[str, str]]:
    """Rewrite names Python cannot parse (keywords, declared non-identifiers) as placeholders.

    Returns the new text and ``{placeholder: name}``. Declared non-identifier names are
    replaced as literal text, longest first; keywords only where the tokenizer sees a name.
    """
    stem = "_physlens_name_"
    while stem in text:
        stem += "_"
    back: dict[str, str] = {}
    odd = sorted({n for n in declared if not (n.isidentifier() and not keyword.iskeyword(n))}, key=len, reverse=True)
    for nm in odd:
        if nm and not keyword.iskeyword(nm) and nm in text:
            ph = f"{stem}{len(back)}"
            back[ph] = nm
            text = text.replace(nm, f" {ph} ")
    if not any(keyword.iskeyword(w) for w in _identifier_words(text)):
        return text, back
    try:
        toks = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return text, back
    out = []
    for tok in toks:
        if tok.type == tokenize.NAME and keyword.iskeyword(tok.string):
            ph = next((k for k, v in back.items() if v == tok.string), f"{stem}{len(back)}")
            back[ph] = tok.string
            out.append((tokenize.NAME, ph))
        else:
            out.append((tok.type, tok.string))
    return tokenize.untokenize(out), back


def _identifier_words(text: str) -> list[str]:
    word, words = [], []
    for ch in text + " ":
        if ch.isalnum() or ch == "_":
            word.append(ch)
        elif word:
            words.append("".join(word))
            word = []
    return words


def parse_expression(text: str, variables: Iterable[str] | None = None) -> sp.Expr:
    """Parse ``text`` into a SymPy expression without evaluating Python.

    Args:
        text: a formula such as ``"q1*q2/(4*pi*epsilon*r**2)"``; ``^`` is read as power.
        variables: if given, the only names allowed besides functions and ``pi``; a name
            listed here is always a variable (``pi`` included: write the constant ``π`` then),
            and may be any text (a data column's name), not only an identifier.

    Example:
        >>> parse_expression("m*c^2", variables=["m", "c"])
        c**2*m
        >>> parse_expression("exp(-gamma*t)")
        exp(-gamma*t)
        >>> parse_expression("h*c/lambda"), parse_expression("2*π*pi", variables=["pi"])
        (c*h/lambda, 2*pi*pi)
    """
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError("empty formula")
    if len(text) > _MAX_LEN:
        raise ExpressionError(f"formula longer than {_MAX_LEN} characters")
    declared = [str(v) for v in variables] if variables is not None else []
    allowed = set(declared) if variables is not None else None
    source, placeholders = _protect_names(text.replace("^", "**").strip(), declared)
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"cannot parse formula {_short(text)!r}: {exc.msg}") from None
    except (RecursionError, MemoryError):
        raise ExpressionError(f"formula {_short(text)!r} is nested too deeply to parse") from None
    symbols: dict[str, sp.Symbol] = {}

    def name(node_id: str) -> sp.Expr:
        node_id = placeholders.get(node_id, node_id)
        if allowed is not None and node_id in allowed:
            return symbols.setdefault(node_id, sp.Symbol(node_id, real=True))
        if node_id == PI_TEXT:
            return sp.pi
        if node_id in CONSTANTS:
            return CONSTANTS[node_id]
        if allowed is not None:
            raise ExpressionError(f"unknown name {node_id!r} in formula {_short(text)!r}")
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
            return _BINOPS[type(node.op)](build(node.left), build(node.right), text)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            v = build(node.operand)
            return -v if isinstance(node.op, ast.USub) else v
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
            fname = node.func.id
            if fname not in FUNCTIONS:
                raise ExpressionError(f"function {fname!r} is not allowed in formula {_short(text)!r}")
            if len(node.args) != 1:
                raise ExpressionError(f"function {fname!r} takes one argument in formula {_short(text)!r}")
            return FUNCTIONS[fname](build(node.args[0]))
        raise ExpressionError(f"unsupported syntax {type(node).__name__} in formula {_short(text)!r}")

    try:
        return build(tree)
    except RecursionError:
        raise ExpressionError(f"formula {_short(text)!r} is nested too deeply to parse") from None


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _constant_names_clash(expr: sp.Expr) -> bool:
    return expr.has(sp.pi) and any(s.name in CONSTANTS for s in expr.free_symbols)


def expression_to_text(expr: sp.Expr) -> str:
    """Render ``expr`` as text that :func:`parse_expression` reads back.

    Example:
        >>> x = sp.Symbol("x")
        >>> expression_to_text(sp.sin(x) ** 2)
        'sin(x)**2'
        >>> expression_to_text(2 * sp.pi * sp.Symbol("pi", real=True))  # a variable called pi
        '2*pi*π'
    """
    if _constant_names_clash(expr):
        expr = expr.xreplace({sp.pi: sp.Symbol(PI_TEXT)})
    return sp.sstr(expr)


def expression_to_latex(expr: sp.Expr) -> str:
    r"""LaTeX of ``expr``; a variable called ``pi`` is set upright when the constant pi also occurs.

    Example:
        >>> print(expression_to_latex(sp.Symbol("lambda", real=True) / 2))
        \frac{\lambda}{2}
    """
    if _constant_names_clash(expr):
        names = {s: r"\mathrm{" + s.name + "}" for s in expr.free_symbols if s.name in CONSTANTS}
        return sp.latex(expr, symbol_names=names)
    return sp.latex(expr)
