"""Scorers: one module per finding kind, each registering itself with
:func:`physlens.findings.register_scorer`. Importing this package imports them all.

Only scorers see the ground truth; probes never do.
"""

import importlib
import pkgutil

for _mod in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_mod.name}")
