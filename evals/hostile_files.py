"""Hostile files benchmark: the worst PDF and sentence cases of issue 14 through the real loaders and chunker,
each finishing or skipped within the per-file budget; reports wall time per case (not a test: timing is measured
here, never asserted in tests).

    python -m evals.hostile_files --out evals/results/hostile-files.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import tempfile
import time
import zlib
from pathlib import Path


def pdf_bytes(content: bytes, pages: int = 1) -> bytes:
    """A minimal valid PDF: `pages` pages that share one Flate-compressed content stream, in Helvetica. A few KB of
    compressed text-drawing operators expand to megabytes that pypdf's text extraction walks one by one."""
    stream = zlib.compress(content, 9)
    kids = " ".join(f"{4 + i} 0 R" for i in range(pages))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>".encode(),
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream",
        *[b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 3 0 R "
          b"/Resources << /Font << /F1 %d 0 R >> >> >>" % (4 + pages)] * pages,
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def paper_pdf(abstract: str, *, title: str = "A Small Paper About Caches", pages: int = 1) -> bytes:
    """A readable one-paper PDF: title, an Abstract heading and the abstract, one line each."""
    lines = [title, "Abstract", abstract, "1 Introduction"]
    ops = b"".join(b"BT /F1 12 Tf 72 %d Td (%s) Tj ET\n" % (740 - 20 * i, line.encode("latin-1")) for i, line in
                   enumerate(lines))
    return pdf_bytes(ops, pages)


def slow_pdf(operators: int, pages: int = 1) -> bytes:
    """A PDF whose pages each draw `operators` words, each its own text object (one shared stream): a few KB on disk,
    and text extraction time grows with `operators` and pages (20,000 on one page: 3 to 9 s here)."""
    head = b"BT /F1 12 Tf 72 760 Td (A Paper Drawn Word By Word) Tj ET\nBT /F1 12 Tf 72 740 Td (Abstract) Tj ET\n"
    return pdf_bytes(head + b"BT /F1 12 Tf 72 712 Td (word) Tj ET\n" * operators, pages)


def no_full_stops(chars: int) -> str:
    """Real abstract text with every sentence end removed: one 'sentence' of `chars` characters."""
    corpus = Path(os.environ.get("PAPERBOT_DEMO_CORPUS", "../shared/corpus/inference-cost-papers.txt"))
    words = re.sub(r"[.!?]", "", corpus.read_text(encoding="utf-8")).split() if corpus.is_file() else \
        "token cache memory attention decoding layer batch quantization".split()
    text = ""
    while len(text) < chars:
        text += " ".join(words) + " "
    return text[:chars].rsplit(" ", 1)[0]


def _case(name: str, budget: str, run) -> dict:
    started = time.perf_counter()
    outcome = run()
    return {"case": name, "budget": budget, "seconds": round(time.perf_counter() - started, 2), "outcome": outcome}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pdf-seconds", type=float, default=30.0, help="per-file PDF budget (PAPERBOT_PDF_SECONDS)")
    parser.add_argument("--models-dir", type=Path, default=os.environ.get("PAPERBOT_MODELS_DIR", "../shared/models"))
    parser.add_argument("--out", type=Path, help="Markdown report (a .json beside it holds the same figures)")
    parser.add_argument("--before", type=Path, help="another revision's source tree (e.g. `git archive REV | tar -x "
                        "-C DIR`): its chunker is timed on the same texts, in a child process, for comparison")
    parser.add_argument("--before-kb", default="40,120,372", help="text sizes (KB) for --before; the old chunker's "
                        "time grows with the square of the size")
    args = parser.parse_args(argv)

    from paperbot.ingest.chunking import Chunker
    from paperbot.ingest.loaders import LoadLimits, load_papers
    from paperbot.ingest.loaders.pdf_runner import PdfBudget, stop_worker
    from paperbot.llm.tokens import TiktokenCounter, encoding_for_model, use_cache_dir
    from paperbot.store.minilm import MiniLMEmbedder
    from paperbot.text.sentences import sentence_spans
    from paperbot.types import Paper

    limits = LoadLimits(pdf=PdfBudget(seconds=args.pdf_seconds))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)

        warm = folder / "warm.pdf"
        warm.write_bytes(paper_pdf("We cache keys and values. It saves memory."))

        def load(name: str, data: bytes):
            path = folder / name
            path.write_bytes(data)
            # The parser process is started outside the figure (a stopped one is replaced on the next PDF, and
            # that start-up is not charged to any file's budget), so each figure is that file's own cost.
            load_papers([warm], limits=limits)
            return lambda: _outcome(load_papers([path], skip_bad=True, limits=limits))

        budget = f"{args.pdf_seconds:g} s per PDF"
        rows.append(_case("normal one-page PDF (1 KB)", budget,
                          load("normal.pdf", paper_pdf("We cache keys and values. It saves memory."))))
        for operators, pages in ((20_000, 1), (80_000, 1), (320_000, 1), (80_000, 4), (80_000, 16)):
            data = slow_pdf(operators, pages)
            rows.append(_case(f"slow PDF: {operators:,} text objects x {pages} page{'s' if pages > 1 else ''} "
                              f"({len(data) / 1024:.1f} KB)", budget, load(f"slow{operators}x{pages}.pdf", data)))
        many = paper_pdf("We cache keys and values. It saves memory.", pages=5000)
        rows.append(_case(f"5,000-page PDF ({len(many) / 1024:.0f} KB)", "500 pages per PDF", load("many.pdf", many)))
        stop_worker()

        use_cache_dir(args.models_dir / "tiktoken")
        embedder = MiniLMEmbedder(args.models_dir / "all-MiniLM-L6-v2", stamp_dir=folder)
        chunker = Chunker(embedder, TiktokenCounter(encoding_for_model(None)).count_many)
        for chars in (40_000, 372_000):
            text = no_full_stops(chars)
            rows.append(_case(f"abstract without full stops, {len(text) / 1000:.0f} KB: sentence split", "linear",
                              lambda: f"{len(sentence_spans(text))} sentences"))
            paper = Paper(id="x", title="No Full Stops", abstract=text)
            rows.append(_case(f"abstract without full stops, {len(text) / 1000:.0f} KB: chunked", "linear",
                              lambda: f"{len(chunker.chunk(paper))} chunks"))
    if args.before:
        for kb in (int(k) for k in args.before_kb.split(",")):
            rows.append(_before(args.before, kb * 1000, args.models_dir))
    report = {"command": "python -m evals.hostile_files " + " ".join(argv if argv is not None else sys.argv[1:]),
              "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} "
                         "(1 min) at the end", "python": platform.python_version(), "rows": rows}
    text = _markdown(report)
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
        args.out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


_BEFORE = """
import sys, time
from pathlib import Path
from paperbot.ingest.chunking import Chunker
from paperbot.store.minilm import MiniLMEmbedder
from paperbot.llm.tokens import TiktokenCounter, encoding_for_model, use_cache_dir
from paperbot.types import Paper
models, text = Path(sys.argv[1]), sys.stdin.read()
use_cache_dir(models / "tiktoken")
chunker = Chunker(MiniLMEmbedder(models / "all-MiniLM-L6-v2", stamp_dir=Path(sys.argv[2])),
                  TiktokenCounter(encoding_for_model(None)).count_many)
started = time.perf_counter()
chunks = chunker.chunk(Paper(id="x", title="No Full Stops", abstract=text))
print(len(chunks), time.perf_counter() - started)
"""


def _before(source: Path, chars: int, models_dir: Path) -> dict:
    """The same chunking case run by another revision's code (a child process with that tree first on the path)."""
    import subprocess

    text = no_full_stops(chars)
    env = {**os.environ, "PYTHONPATH": str(source.resolve())}
    with tempfile.TemporaryDirectory() as stamp:
        # Run from that tree: `python -c` puts the working directory first on the path, before PYTHONPATH.
        done = subprocess.run([sys.executable, "-c", _BEFORE, str(models_dir.resolve()), stamp], input=text, env=env,
                              capture_output=True, text=True, check=True, cwd=source)
    chunks, seconds = done.stdout.split()
    return {"case": f"abstract without full stops, {len(text) / 1000:.0f} KB: chunked by {source} (before)",
            "budget": "none", "seconds": round(float(seconds), 2), "outcome": f"{chunks} chunks"}


def _outcome(result) -> str:
    if result.papers:
        return f"parsed: {result.papers[0].title!r}"
    return "skipped: " + "; ".join(s.reason for s in result.skipped)


def _markdown(report: dict) -> str:
    lines = ["# Hostile files", "", f"Command (from the repository root): `{report['command']}`", "",
             f"Machine: {report['machine']}; Python {report['python']}.", "",
             "| case | budget | wall s | outcome |", "|---|---|---|---|"]
    lines += [f"| {r['case']} | {r['budget']} | {r['seconds']} | {r['outcome']} |" for r in report["rows"]]
    lines += ["", "Wall time per file through `load_papers(..., skip_bad=True)` (PDFs: parsed in the child process, "
              "which is started before each figure; a file over the time budget is stopped when the budget runs "
              "out) and through the real chunker with the MiniLM tokenizer (abstracts). The PDFs are built by "
              "`slow_pdf` / `paper_pdf` in this file: a few KB of Flate-compressed text operators that pypdf's text "
              "extraction walks one by one. `--before DIR` runs the same chunking cases with another revision's "
              "code (e.g. `git archive f704811 | tar -x -C DIR`, the code before the sentence cap), whose time grows "
              "with the square of the text's length. Timing is measured here, never asserted in tests; the tests "
              "(`tests/test_hostile_files_pdf.py`, `tests/test_hostile_files_inputs.py`) check the outcomes."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
