"""Scorers: one module per finding kind, each registering itself with
:func:`physlens.findings.register_scorer`. Importing this package imports them all.

Only scorers see the ground truth; probes never do. :data:`SCORERS` is the scorers' registry
(the same table :func:`physlens.findings.score` reads): the modules of this package, then plug-ins
of the ``physlens.scorers`` entry-point group, each a module that registers its scorers or a
function ``scorer(findings, truth)`` registered under the entry point's name (the finding kind).
"""

from types import ModuleType

from physlens.findings import _SCORERS
from physlens.plugins import Registry


def _adopt_scorer(kind: str, obj):
    if isinstance(obj, ModuleType):
        return None  # registered itself on import
    if callable(obj):
        return obj
    raise TypeError("a scorer plug-in must be a module or a function scorer(findings, truth)")


SCORERS = Registry("scorer", package=__name__, entry_point_group="physlens.scorers", skip=(), adopt=_adopt_scorer,
                   table=_SCORERS)
SCORERS.discover()

__all__ = ["SCORERS"]
