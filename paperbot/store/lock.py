"""The store's OS locks (filelock, the only importer of it): one writer at a time, one opener of a new Chroma store."""

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
    with _held(path, timeout,
               f"another paperbot ingest or repair is writing to this store (lock {path}); waited {timeout:g} s for "
               f"it. Wait for it to finish, or raise PAPERBOT_LOCK_TIMEOUT; {what} did not start, nothing was written"):
        yield


@contextmanager
def opening_lock(path: Path, timeout: float, *, store: Path) -> Iterator[None]:
    """Hold the lock that lets one process at a time open (and so maybe create) an embedded Chroma store.

    Two processes creating the same new store at once both run Chroma's schema migrations and one fails ("table
    collections already exists", "database is locked"); opening a store that exists is safe, but cannot be told
    apart from one half-created without looking inside, so every embedded opening takes this brief turn.
    """
    with _held(path, timeout,
               f"another paperbot process has been opening the Chroma store at {store} for {timeout:g} s (lock "
               f"{path}). If no paperbot process is running, the store may be damaged: run `paperbot doctor`; or "
               "raise PAPERBOT_LOCK_TIMEOUT"):
        yield


@contextmanager
def _held(path: Path, timeout: float, message: str) -> Iterator[None]:
    from filelock import FileLock, Timeout  # with asyncio it loads, a cost only writers and Chroma's openers pay

    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with FileLock(str(path), timeout=timeout):
            yield
    except Timeout as exc:
        raise StoreError(message) from exc


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
