"""The shared change log, the writer lease and catching a data dir's catalog up, on real (embedded) Chroma."""

from __future__ import annotations

import subprocess
import threading

import pytest

from paperbot.errors import StoreError
from paperbot.ingest.ingester import BatchHooks, ingest_papers
from paperbot.ingest.rebuild import LOG_MARKER, applied_generation, catch_up
from paperbot.store.catalog import Catalog
from paperbot.store.changes import ChangeLog
from paperbot.store.lease import WriterLease
from paperbot.store.lexical import LexicalIndex
from paperbot.store.vectors import VectorStore, collection_names, connect
from paperbot.types import Paper


class Clock:
    """Wall time the test moves by hand, so expiry needs no sleeping."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    return connect(None, tmp_path_factory.mktemp("shared-chroma"))[0]


@pytest.fixture
def log(client, request):
    return ChangeLog(client, f"c{abs(hash(request.node.name)) % 10**8}")


def test_the_log_lists_batches_after_a_generation_and_is_no_collection_of_papers(client, log):
    assert log.head() == 0 and log.since(0) == []
    first = log.append(["p2", "p1", "p1"], "host-a", "token-a")
    second = log.append(["p3"], "host-b", "token-b")
    assert (first, second) == (1, 2) and log.head() == 2
    assert [(c.generation, c.paper_ids, c.owner) for c in log.since(0)] == [(1, ("p1", "p2"), "host-a"),
                                                                          (2, ("p3",), "host-b")]
    assert [c.generation for c in log.since(1)] == [2] and log.since(2) == []
    assert log.name not in collection_names(client)
    assert ChangeLog(client, log.name.removesuffix("__log")).epoch == log.epoch  # the same log when opened again


def test_a_second_writer_waits_then_is_refused_naming_the_holder_and_its_expiry(log):
    clock = Clock()
    first = WriterLease(log, owner="host-a pid 1 data dir /a", seconds=30, clock=clock)
    second = WriterLease(log, owner="host-b pid 2 data dir /b", seconds=30, clock=clock)
    first.acquire(timeout=0)
    assert second.try_acquire().owner == "host-a pid 1 data dir /a"
    with pytest.raises(StoreError) as refused:
        second.acquire(timeout=0.2, poll=0.05)
    message = str(refused.value)
    assert "host-a pid 1 data dir /a" in message and "expires at" in message and "in 30 s" in message
    assert "nothing was written" in message
    first.check()  # still the holder, renewed


def test_an_expired_lease_lets_the_next_writer_in_and_the_stalled_one_finds_out(log):
    clock = Clock()
    stalled = WriterLease(log, owner="crashed", seconds=30, clock=clock)
    stalled.acquire(timeout=0)
    clock.now += 31  # no renewal for longer than the lease
    successor = WriterLease(log, owner="next", seconds=30, clock=clock)
    successor.acquire(timeout=0)
    with pytest.raises(StoreError, match="lapsed and was taken by next"):
        stalled.check()
    stalled.release()  # must not free the successor's lease
    assert log.collection.get(where={"kind": "lease"}, include=[])["ids"]
    assert WriterLease(log, owner="third", seconds=30, clock=clock).try_acquire().owner == "next"


def test_a_lease_held_by_a_killed_process_of_this_host_is_free_at_once(log):
    ended = subprocess.Popen(["true"])
    ended.wait()
    clock = Clock()
    WriterLease(log, owner="killed", seconds=30, clock=clock, pid=ended.pid).acquire(timeout=0)
    elsewhere = WriterLease(log, owner="other host", seconds=30, clock=clock, host="elsewhere", pid=ended.pid)
    assert elsewhere.try_acquire() is None  # the killed holder is not waited for, long before its expiry
    # A holder on another host is judged by its expiry alone (its pid means nothing here).
    assert WriterLease(log, owner="third", seconds=30, clock=clock).try_acquire().owner == "other host"


def test_a_released_lease_is_free_at_once(log):
    clock = Clock()
    first = WriterLease(log, owner="a", seconds=30, clock=clock)
    with first.held(timeout=0):
        assert WriterLease(log, owner="b", seconds=30, clock=clock).try_acquire().owner == "a"
    WriterLease(log, owner="b", seconds=30, clock=clock).acquire(timeout=0)


def test_of_writers_racing_for_a_free_lease_exactly_one_wins(log):
    leases = [WriterLease(log, owner=f"w{i}", seconds=30) for i in range(6)]
    start = threading.Barrier(len(leases))
    outcomes: dict[str, object] = {}

    def race(lease: WriterLease) -> None:
        start.wait()
        outcomes[lease.owner] = lease.try_acquire()

    threads = [threading.Thread(target=race, args=(lease,)) for lease in leases]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [owner for owner, holder in outcomes.items() if holder is None]
    assert len(winners) == 1
    assert {holder.owner for holder in outcomes.values() if holder is not None} == set(winners)


def _paper(pid: str, abstract: str) -> Paper:
    return Paper(id=pid, title=f"Paper {pid}", abstract=abstract, authors=("A. Author",), year=2024)


def test_a_second_data_dir_catches_up_with_added_changed_and_deleted_papers(client, tmp_path, embedder, models_dir):
    from paperbot.ingest.chunking import CHUNKER_VERSION, Chunker
    from paperbot.llm.tokens import TiktokenCounter, use_cache_dir

    use_cache_dir(models_dir / "tiktoken")
    name = "catchup"
    vectors = VectorStore(client, name, embedder_id=embedder.id, chunker_version=CHUNKER_VERSION)
    log = ChangeLog(client, name)
    writer, reader = Catalog(tmp_path / "a.sqlite3"), Catalog(tmp_path / "b.sqlite3")
    chunker = Chunker(embedder, TiktokenCounter("cl100k_base").count_many)

    def write(papers):
        hooks = BatchHooks(before=lambda: None, after=lambda ids: writer.set_meta(
            LOG_MARKER, f"{log.epoch}:{log.append(ids, 'writer', 'token')}"))
        ingest_papers(papers, catalog=writer, vectors=vectors, embedder=embedder, chunker=chunker, hooks=hooks)

    write([_paper("p1", "Speculative decoding drafts tokens with a small model."),
           _paper("p2", "Quantization to four bits halves memory traffic.")])
    first = catch_up(vectors, reader, log)  # never followed this log: built from Chroma whole
    assert first.rebuilt and first.generation == 1 and {p.id for p in reader.papers()} == {"p1", "p2"}
    lexical = LexicalIndex(tmp_path / "b.bm25", reader)
    lexical.refresh()

    write([_paper("p2", "Pruning attention heads cuts latency."), _paper("p3", "KV cache eviction saves memory.")])
    vectors.delete(sorted(vectors.chunk_ids_of(["p1"])))
    log.append(["p1"], "writer", "token")  # a deletion, logged like any change
    step = catch_up(vectors, reader, log)
    assert (step.rebuilt, step.papers, step.generation) == (False, 3, 3)
    assert {p.id for p in reader.papers()} == {"p2", "p3"}
    assert reader.paper("p2").abstract == "Pruning attention heads cuts latency."
    assert applied_generation(reader, log) == 3
    lexical.refresh()
    assert lexical.search("pruning heads", 5)[0][0].startswith("p2#")
    assert not lexical.search("speculative", 5)
    assert catch_up(vectors, reader, log) == type(step)(generation=3)  # nothing new: nothing read


def test_reopening_waits_for_calls_in_flight_and_later_calls_use_the_new_handle():
    from paperbot.store.vectors import _Guarded

    class Slow:
        def __init__(self, name: str) -> None:
            self.name, self.closed = name, False

        def count(self) -> str:
            started.set()
            release.wait(5)
            assert not self.closed, "a call ran on a closed handle"
            return self.name

    old, new = Slow("old"), Slow("new")
    guarded = _Guarded(old, "test")
    started, release = threading.Event(), threading.Event()
    results: list[str] = []
    caller = threading.Thread(target=lambda: results.append(guarded.count()))
    caller.start()
    started.wait(5)

    def reopen():
        old.closed = True
        return new

    swapper = threading.Thread(target=guarded.swap, args=(reopen,))
    swapper.start()
    swapper.join(0.2)
    assert swapper.is_alive() and not old.closed  # waits for the call in flight
    release.set()
    caller.join(5)
    swapper.join(5)
    assert results == ["old"] and old.closed and guarded.count() == "new"
