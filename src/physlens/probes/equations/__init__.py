"""Equation discovery: closed-form laws (symbolic regression), dynamics and force laws, as SymPy findings.

Placeholder module docstring; see :mod:`physlens.probes.equations.search`.
"""
from physlens.probes.equations.search import EquationSearch

__all__ = ["EquationSearch"]
