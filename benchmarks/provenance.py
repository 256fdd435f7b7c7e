"""Where a benchmark result came from: the commit of the tree that produced it.

Every benchmark writes ``commit()`` into its JSON, so a regression shows in review. A tree
with uncommitted changes to tracked files is marked ``-dirty`` (the result may not be
reproducible from the hash alone); outside a git checkout the commit is ``"unknown"``.

Example:
    >>> len(commit()) >= 7
    True
"""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def commit(root: Path = ROOT) -> str:
    """``git rev-parse HEAD`` of ``root``, with ``-dirty`` when tracked files have uncommitted changes.

    Example:
        >>> commit(Path("/")) in ("unknown",) or len(commit(Path("/"))) >= 7
        True
    """
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
