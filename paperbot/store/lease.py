"""The writer lease: one writer per collection across every data dir and host that shares a Chroma server."""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from paperbot.errors import StoreError
from paperbot.store.changes import ChangeLog
from paperbot.text.terminal import one_line


@dataclass(frozen=True)
class LeaseHolder:
    term: int
    token: str
    owner: str  # host, pid and data dir, for the waiting writer's message
    expires: float  # wall-clock seconds; 0 when released
    host: str = ""
    pid: int = 0

    def lapsed(self, now: float) -> bool:
        """Released, expired, or held by a process of this host that no longer runs (killed): free to take."""
        return self.expires <= now or (self.host == socket.gethostname() and not _running(self.pid))


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return pid > 0  # another user's process, or a number that is no pid
    return True


def _lease_id(term: int) -> str:
    return f"lease:{term:012d}"


class WriterLease:
    """Held by a record `lease:<term>` in the change log's collection; the highest term is the lease.

    Taking it: read the highest term; if it is released or expired, `add` term + 1 and read it back. Chroma
    applies adds in order and ignores one whose id exists, so of writers racing for the same term exactly one
    reads back its own token; the others wait. Only the holder updates its own record (to renew or release),
    and a newer term always wins over an older one, so a holder that stalled past its expiry finds out at its
    next renewal or check instead of overwriting its successor. Expiry is wall-clock time written by the holder:
    hosts' clocks must agree to well within `seconds` (NTP does). A holder on this host whose process is gone
    (killed) is not waited for.
    """

    def __init__(self, log: ChangeLog, *, owner: str, seconds: float, clock: Callable[[], float] = time.time,
                 host: str | None = None, pid: int | None = None) -> None:
        self._log = log
        self.owner = owner
        self.host = socket.gethostname() if host is None else host
        self.pid = os.getpid() if pid is None else pid
        self.seconds = seconds
        self._clock = clock
        self.token = uuid.uuid4().hex
        self._term: int | None = None
        self._lost: str | None = None
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def holder(self) -> LeaseHolder | None:
        """The newest lease record, held or not (None: no writer ever took one)."""
        got = self._log.collection.get(where={"kind": "lease"}, include=["metadatas"])
        # The owner was written by another host: shown in messages, so cleaned like any data.
        records = [LeaseHolder(int(m["term"]), str(m["token"]), one_line(m["owner"])[:300], float(m["expires"]),
                               str(m.get("host", "")), int(m.get("pid", 0)))
                   for m in got["metadatas"]]
        return max(records, key=lambda r: r.term, default=None)

    def _meta(self, term: int, expires: float) -> dict:
        return {"kind": "lease", "term": term, "token": self.token, "owner": self.owner, "expires": expires,
                "host": self.host, "pid": self.pid}

    def try_acquire(self) -> LeaseHolder | None:
        """Take the lease if it is free; None when taken, else who holds it."""
        while True:
            current = self.holder()
            if current is not None and current.token == self.token and current.expires > self._clock():
                self._term = current.term
                return None
            if current is not None and not current.lapsed(self._clock()):
                return current
            term = (current.term if current else 0) + 1
            stored = self._log.add(_lease_id(term), self._meta(term, self._clock() + self.seconds))
            if stored is not None and stored.get("token") == self.token:
                self._term = term
                self._lost = None
                if term > 1:  # the terms before are expired or released: kept from piling up
                    self._log.collection.delete(ids=[_lease_id(t) for t in range(max(1, term - 3), term)])
                return None
            # Another writer took this term first: look again (it now holds the lease).

    def acquire(self, timeout: float, poll: float = 0.5) -> None:
        """Wait up to `timeout` seconds for the lease; StoreError naming the holder and its expiry if it stays taken."""
        deadline = time.monotonic() + timeout
        while (holder := self.try_acquire()) is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                expires = datetime.fromtimestamp(holder.expires, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
                raise StoreError(
                    f"another paperbot writer holds this collection's write lease on the Chroma server: {holder.owner}; "
                    f"waited {timeout:g} s. Its lease expires at {expires} (in "
                    f"{max(0.0, holder.expires - self._clock()):.0f} s) unless it is renewed, which a running ingest "
                    "does; a crashed one's lapses then. Wait for it to finish, or raise PAPERBOT_LOCK_TIMEOUT; nothing "
                    "was written"
                )
            time.sleep(min(poll, left))

    def check(self) -> None:
        """StoreError unless this writer still holds the lease (renewing it); called before each logged batch."""
        if self._lost:
            raise StoreError(self._lost)
        self.renew()

    def renew(self) -> None:
        current = self.holder()
        if self._term is None or current is None or current.term != self._term or current.token != self.token:
            who = current.owner if current is not None else "nobody"
            self._lost = (f"this writer's lease on the collection lapsed and was taken by {who} (a stall longer than "
                          f"PAPERBOT_LEASE_SECONDS={self.seconds:g}?); stopped between batches. Run the ingest again: "
                          "it resumes where it stopped")
            raise StoreError(self._lost)
        self._log.collection.update(ids=[_lease_id(self._term)],
                                    metadatas=[self._meta(self._term, self._clock() + self.seconds)])

    def release(self) -> None:
        if self._term is None:
            return
        current = self.holder()
        if current is not None and current.term == self._term and current.token == self.token:
            self._log.collection.update(ids=[_lease_id(self._term)], metadatas=[self._meta(self._term, 0.0)])
        self._term = None

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.seconds / 3):
            try:
                self.renew()
            except StoreError as exc:  # lost, or the server unreachable: check() reports it before the next batch
                self._lost = self._lost or str(exc)
                return

    @contextmanager
    def held(self, timeout: float) -> Iterator[WriterLease]:
        """Hold the lease for a block, renewed every third of its length in a background thread."""
        self.acquire(timeout)
        self._stop.clear()
        self._renewer = threading.Thread(target=self._renew_loop, name="paperbot-lease", daemon=True)
        self._renewer.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._renewer.join(timeout=10)
            try:
                self.release()
            except StoreError:
                pass  # the server went away: the lease lapses at its expiry
