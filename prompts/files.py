"""Safe writes of the tracked prompt files: one writer at a time, and never a half-written file.

Label moves and release pins are read-modify-write changes of small TOML files that people also read
and review in git. Two promotions at the same moment must not lose one another's change, and a crash
mid-write must leave the old file, not a truncated one: writers hold an exclusive lock on the directory
and replace the file by renaming a complete, flushed temporary file over it.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_write_text", "directory_lock"]


@contextmanager
def directory_lock(directory: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on `directory` (blocks until other writers finish).

    The lock is on the directory itself, so it needs no lock file lying around in the tracked tree,
    and it survives the rename that replaces the file being written.
    """
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(descriptor, fcntl.LOCK_UN)
    finally:
        os.close(descriptor)


def atomic_write_text(path: Path, text: str) -> None:
    """Replace `path` with `text`: written to a temporary file in the same directory, flushed, renamed."""
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if path.exists():
            os.chmod(temporary, path.stat().st_mode & 0o777)
        else:
            os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    # The rename is durable only once the directory entry is on disk too.
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
