"""Scorers: one module per finding kind, each registering itself with
:func:`physlens.findings.register_scorer`. Importing this package imports them all.

Only scorers see the ground truth; probes never do.
"""

from physlens.plugins import import_submodules

import_submodules(__name__, skip=())
