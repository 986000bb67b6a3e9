"""Parse PDFs in a child process with a time and page budget per file: one that takes too long is stopped, not waited for."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from paperbot.errors import CorpusError
from paperbot.types import Paper

# The child's start-up (imports) is not charged to any file: it is waited for separately, generously, since a
# loaded machine can take many seconds to import.
_START_SECONDS = 300.0


@dataclass(frozen=True)
class PdfBudget:
    """Per file: seconds of parsing and pages (Settings.pdf_seconds, Settings.pdf_max_pages)."""

    seconds: float = 30.0
    max_pages: int = 500


def _serve(connection) -> None:
    """The child: parse each path it is sent and send back a Paper or the error's parts (CorpusError does not
    pickle: its constructor takes three arguments)."""
    from paperbot.ingest.loaders.pdf import parse_pdf

    connection.send("ready")
    while True:
        try:
            request = connection.recv()
        except EOFError:
            return
        path, max_pages = request
        result = parse_pdf(Path(path), max_pages)
        if isinstance(result, CorpusError):
            connection.send(("error", result.source, result.problem, result.hint))
        else:
            connection.send(("paper", result))


def _context():
    # forkserver: workers fork from a clean server process, never from this one's threads (the app's, ONNX's).
    import multiprocessing  # imported by the first PDF, not by every command that lists the formats

    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    # Imported once by the server, so a replacement worker (after a stopped file) starts in milliseconds.
    context.set_forkserver_preload(["paperbot.ingest.loaders.pdf_runner"])
    return context


class _Worker:
    """One child process and the pipe to it."""

    def __init__(self) -> None:
        context = _context()
        self.connection, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child,), daemon=True, name="paperbot-pdf")
        self.process.start()
        child.close()
        if not self.connection.poll(_START_SECONDS) or self.connection.recv() != "ready":
            self.stop()
            raise CorpusError("PDF parser", f"the PDF parser process did not start within {_START_SECONDS:g} s",
                              "the machine may be overloaded; try again")

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=30)
        self.connection.close()


_worker: _Worker | None = None
_lock = threading.Lock()  # one PDF at a time per process: the app's upload threads take turns


def parse_within_budget(path: Path, budget: PdfBudget) -> Paper | CorpusError:
    """The paper, or a CorpusError naming the file: unreadable, over the page budget, or stopped after
    `budget.seconds` (the child is killed and a fresh one serves the next file)."""
    global _worker
    with _lock:
        if _worker is None or not _worker.process.is_alive():
            _worker = _Worker()
        worker = _worker
        try:
            worker.connection.send((str(path), budget.max_pages))
            finished = worker.connection.poll(budget.seconds)
            reply = worker.connection.recv() if finished else None
        except (EOFError, OSError):  # the child died: a crash in a C extension, or killed for memory
            code = worker.process.exitcode
            worker.stop()
            _worker = None
            return CorpusError(str(path), f"the PDF parser crashed on this file (exit code {code})",
                               "load this paper from its arXiv/BibTeX record instead")
        if reply is None:
            worker.stop()
            _worker = None
            return CorpusError(
                str(path), f"parsing took longer than the budget of {budget.seconds:g} s per PDF; stopped",
                "raise PAPERBOT_PDF_SECONDS, or load this paper from its arXiv/BibTeX record",
            )
    if reply[0] == "error":
        return CorpusError(reply[1], reply[2], reply[3])
    return reply[1]


def stop_worker() -> None:
    """End the child process now (tests, and callers that want no process left behind)."""
    global _worker
    with _lock:
        if _worker is not None:
            _worker.stop()
            _worker = None
