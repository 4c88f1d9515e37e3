"""A lock that several processes sharing one folder take in turn (replicas of the app, the CLI)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows has no flock; there, writers are ordered within a process only
    fcntl = None


@contextmanager
def locked(lock_file: str | Path) -> Iterator[None]:
    """Hold an exclusive lock on lock_file (made if missing) for the with block, across processes."""
    if fcntl is None:
        yield
        return
    lock_file = Path(lock_file)
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    # "a" creates the file without truncating it; the lock belongs to this open file, so two
    # threads (each opening it) exclude each other too, and the kernel drops it if we die
    with open(lock_file, "a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
