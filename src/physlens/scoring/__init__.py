"""Scorers: one module per finding kind, each registering itself with
:func:`physlens.findings.register_scorer`. Importing this package imports them all.

Only scorers see the ground truth; probes never do. :data:`SCORERS` is the scorers' registry
(the same table :func:`physlens.findings.score` reads, defined there): the modules of this package,
then plug-ins of the ``physlens.scorers`` entry-point group.
"""

from physlens.findings import SCORERS

SCORERS.discover()

__all__ = ["SCORERS"]
