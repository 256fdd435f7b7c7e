"""Errors physlens raises at its boundaries.

Every error a user can cause (a bad file, a bad unit, a bad parameter) is a
:class:`PhyslensError` whose message names the problem in one line; the CLI
prints that line and exits non-zero, without a traceback.
"""


class PhyslensError(Exception):
    """Base class of every error physlens raises on purpose.

    Example:
        >>> try:
        ...     raise DataError("column 'x' has NaN in row 3")
        ... except PhyslensError as e:
        ...     print(e)
        column 'x' has NaN in row 3
    """


class DataError(PhyslensError, ValueError):
    """Input data is unusable: missing column, NaN/inf, constant column, bad unit..."""


class ConfigError(PhyslensError, ValueError):
    """A study, model, training or probe option is invalid."""


class ParameterError(PhyslensError, ValueError):
    """A system was given physically meaningless or unsupported parameters."""


class ExpressionError(PhyslensError, ValueError):
    """A formula could not be parsed by the restricted expression parser."""


class CheckpointError(PhyslensError, RuntimeError):
    """A checkpoint is missing, corrupt, or does not fit the model."""
