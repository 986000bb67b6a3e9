"""The one-writer-per-store lock (filelock, the only importer of it): an OS lock on a file beside the catalog."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from paperbot.errors import StoreError


@contextmanager
def store_lock(path: Path, timeout: float, *, what: str = "ingest") -> Iterator[None]:
    """Hold the store's write lock, waiting up to `timeout` seconds for another writer to finish.

    The lock is flock(2) on Unix: the kernel drops it when its process dies, even by SIGKILL, so a killed
    ingest never leaves a lock behind (the file itself stays; it is only the thing locked).
    """
    from filelock import FileLock, Timeout  # with asyncio it loads, a cost only writers should pay

    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with FileLock(str(path), timeout=timeout):
            yield
    except Timeout as exc:
        raise StoreError(
            f"another paperbot ingest or repair is writing to this store (lock {path}); waited {timeout:g} s for it. "
            f"Wait for it to finish, or raise PAPERBOT_LOCK_TIMEOUT; {what} did not start, nothing was written"
        ) from exc


def lock_is_held(path: Path) -> bool:
    """True when another process holds the lock now (a writer is running); never waits."""
    if not path.exists():
        return False
    from filelock import FileLock, Timeout

    probe = FileLock(str(path), timeout=0)
    try:
        probe.acquire()
    except Timeout:
        return True
    probe.release()
    return False
