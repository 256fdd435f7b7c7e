"""The lossless JSON codec: arrays, SymPy expressions, complex and non-finite numbers as plain JSON.

NumPy arrays (and torch tensors) become ``{"__ndarray__": [...], "dtype": ..., "shape": [...]}``,
SymPy expressions ``{"__sympy__": "text"}`` (read back with the restricted parser of
:mod:`physlens.expressions`, never ``eval``), non-finite floats ``{"__float__": "nan"}`` and
complex numbers ``{"__complex__": [re, im]}``. It sits on the ground floor, so data,
training, findings and runs all write JSON the same way.
"""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np


def to_jsonable(obj: Any) -> Any:
    """Turn arrays, SymPy expressions and non-finite floats into plain JSON values.

    Example:
        >>> import sympy as sp
        >>> to_jsonable({"m": np.eye(2), "f": sp.Symbol("x") ** 2})["f"]
        {'__sympy__': 'x**2'}
    """
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        if np.iscomplexobj(obj):
            return {"__ndarray__": to_jsonable(obj.real.tolist()), "imag": to_jsonable(obj.imag.tolist()),
                    "dtype": str(obj.dtype), "shape": list(obj.shape)}
        return {"__ndarray__": to_jsonable(obj.tolist()), "dtype": str(obj.dtype), "shape": list(obj.shape)}
    sp = sys.modules.get("sympy")  # a SymPy object exists only if SymPy is loaded
    if sp is not None and isinstance(obj, sp.Basic):
        from physlens.expressions import expression_to_text

        return {"__sympy__": expression_to_text(obj)}
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if math.isfinite(f) else {"__float__": repr(f)}
    if isinstance(obj, complex):
        return {"__complex__": [to_jsonable(obj.real), to_jsonable(obj.imag)]}
    if obj is None or isinstance(obj, str):
        return obj
    if hasattr(obj, "tolist"):  # torch tensors
        return to_jsonable(np.asarray(obj.detach().cpu() if hasattr(obj, "detach") else obj))
    raise TypeError(f"cannot serialise {type(obj).__name__} to JSON")


def from_jsonable(obj: Any) -> Any:
    """Inverse of :func:`to_jsonable`.

    Example:
        >>> a = np.arange(3.0)
        >>> np.array_equal(from_jsonable(to_jsonable(a)), a)
        True
    """
    if isinstance(obj, list):
        return [from_jsonable(v) for v in obj]
    if isinstance(obj, dict):
        if "__ndarray__" in obj:
            data = np.array(from_jsonable(obj["__ndarray__"]), dtype=float if "imag" in obj else None)
            if "imag" in obj:
                data = data + 1j * np.array(from_jsonable(obj["imag"]), dtype=float)
            return data.astype(obj["dtype"]).reshape(obj["shape"])
        if "__sympy__" in obj:
            from physlens.expressions import parse_expression

            return parse_expression(obj["__sympy__"])
        if "__float__" in obj:
            return float(obj["__float__"])
        if "__complex__" in obj:
            re, im = (from_jsonable(v) for v in obj["__complex__"])
            return complex(re, im)
        return {k: from_jsonable(v) for k, v in obj.items()}
    return obj
