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
    """Input data is unusable: missing column, NaN/inf, constant column, bad unit...

    Example:
        >>> str(DataError("column 'b' is constant"))
        "column 'b' is constant"
    """


class ConfigError(PhyslensError, ValueError):
    """A study, model, training or probe option is invalid.

    Example:
        >>> isinstance(ConfigError("bad"), PhyslensError)
        True
    """


class ParameterError(PhyslensError, ValueError):
    """A system was given physically meaningless or unsupported parameters.

    Example:
        >>> isinstance(ParameterError("mass must be > 0"), ValueError)
        True
    """


class ExpressionError(PhyslensError, ValueError):
    """A formula could not be parsed by the restricted expression parser.

    Example:
        >>> from physlens.expressions import parse_expression
        >>> try:
        ...     parse_expression("open('x')")
        ... except ExpressionError as e:
        ...     print(e)
        function 'open' is not allowed in formula "open('x')"
    """


class CheckpointError(PhyslensError, RuntimeError):
    """A checkpoint is missing, corrupt, or does not fit the model.

    Example:
        >>> isinstance(CheckpointError("no checkpoint"), PhyslensError)
        True
    """
