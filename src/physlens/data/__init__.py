"""Datasets and loaders: where data enters physlens, and where it is validated."""

from physlens.data.dataset import Dataset
from physlens.data.loaders import load, read_columns
from physlens.data.units import SI_BASE, dimension_vector, parse_units_spec

__all__ = ["Dataset", "load", "read_columns", "SI_BASE", "dimension_vector", "parse_units_spec"]
