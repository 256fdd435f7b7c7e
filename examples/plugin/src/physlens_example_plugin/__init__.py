"""A tiny physlens plug-in: the ``example_spring`` system and the ``example_linearity`` probe.

Both are found by physlens through the entry points declared in this package's pyproject.toml.
"""
