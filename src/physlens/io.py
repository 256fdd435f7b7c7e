"""Atomic file writes: write to a temporary name beside the target, then rename.

An interrupted run never leaves a half-written ``findings.json``, checkpoint or
report: either the old file or the complete new one is there.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from physlens.errors import ConfigError, PhyslensError


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path; on success it is renamed to ``path``, on error removed.

    Example:
        >>> import tempfile, os
        >>> target = os.path.join(tempfile.mkdtemp(), "a.txt")
        >>> with atomic_path(target) as tmp:
        ...     _ = open(tmp, "w").write("hi")
        >>> open(target).read()
        'hi'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def write_text(path, text: str) -> None:
    """Write ``text`` to ``path`` atomically.

    Example:
        >>> import tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "x.txt"); write_text(p, "ok"); open(p).read()
        'ok'
    """
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")


def write_json(path, data: Any) -> None:
    """Write ``data`` as indented JSON, atomically.

    Example:
        >>> import tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "x.json"); write_json(p, {"a": 1}); json.load(open(p))
        {'a': 1}
    """
    write_text(path, json.dumps(data, indent=2))


def read_text(path, error: type[PhyslensError] = ConfigError, what: str = "file") -> str:
    """The text of a UTF-8 file (a byte-order mark is dropped); anything else is one line of ``error``.

    A missing file, a directory, binary data (a NUL byte) and text in another encoding each get a
    message naming the file and the problem; what an empty text means is the caller's to say.

    Example:
        >>> import tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "s.yaml"); _ = open(p, "wb").write(b"\\x00\\x01 junk")
        >>> read_text(p, what="study file")
        Traceback (most recent call last):
        ...
        physlens.errors.ConfigError: study file s.yaml is not text but binary data
    """
    path = Path(path)
    if not path.exists():
        raise error(f"{what} not found: {path}")
    if path.is_dir():
        raise error(f"{path} is a directory, not a {what}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise error(f"cannot read {what} {path.name}: {exc.strerror or exc}") from None
    if b"\x00" in data[:8192]:
        raise error(f"{what} {path.name} is not text but binary data")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise error(f"{what} {path.name} is not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line})") from None
