"""PDFs: title, abstract and body from the text layer; anything unreadable becomes a CorpusError."""

from __future__ import annotations

from pathlib import Path

import pytest
from pypdf import PdfWriter

from paperbot.errors import CorpusError
from paperbot.ingest.loaders import detect_format, load_papers
from paperbot.ingest.loaders.pdf import load_pdf
from paperbot.types import Paper

H2O_PAGE = [
    "arXiv:2306.14048v2 [cs.LG] 18 Dec 2023",
    "H2O: Heavy-Hitter Oracle for Efficient Generative Inference of",
    "Large Language Models",
    "Zhenyu Zhang, Ying Sheng",
    "Abstract",
    "Large Language Models are cost-prohibitive to deploy. The KV cache is effi-",
    "cient when small. We introduce H2O.",
    "1 Introduction",
    "Deploying LLMs is expensive.",
]


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def make_pdf(pages: list[list[str]], title: str | None = None) -> bytes:
    """A minimal PDF (Helvetica, one text line per entry) with a correct xref table."""
    objects: list[bytes] = []
    page_ids = [4 + 2 * i for i in range(len(pages))]
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{' '.join(f'{i} 0 R' for i in page_ids)}] /Count {len(pages)} >>".encode())
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    for page_id, lines in zip(page_ids, pages):
        ops = ["BT", "/F1 11 Tf", "14 TL", "72 740 Td"] + [f"({_escape(line)}) Tj T*" for line in lines] + ["ET"]
        content = "\n".join(ops).encode("latin-1")
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {page_id + 1} 0 R "
            f"/Resources << /Font << /F1 3 0 R >> >> >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
    info_ref = b""
    if title is not None:
        objects.append(f"<< /Title ({_escape(title)}) >>".encode("latin-1"))
        info_ref = f" /Info {len(objects)} 0 R".encode()
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R" % (len(objects) + 1) + info_ref + b" >>\nstartxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def write_pdf(tmp_path: Path, pages: list[list[str]], name: str = "paper.pdf", title: str | None = None) -> Path:
    path = tmp_path / name
    path.write_bytes(make_pdf(pages, title))
    return path


def only(path: Path) -> Paper | CorpusError:
    (item,) = list(load_pdf(path))
    return item


def test_good_pdf_gives_title_abstract_body_and_arxiv_id(tmp_path: Path) -> None:
    path = write_pdf(tmp_path, [H2O_PAGE, ["Second page body text."]])
    paper = only(path)
    assert isinstance(paper, Paper)
    assert paper.title == "H2O: Heavy-Hitter Oracle for Efficient Generative Inference of Large Language Models"
    assert paper.abstract == (
        "Large Language Models are cost-prohibitive to deploy. The KV cache is efficient when small. We introduce H2O."
    )
    assert paper.id == "arxiv:2306.14048" and paper.year == 2023
    assert paper.source == str(path)
    assert paper.body is not None
    assert "Deploying LLMs is expensive." in paper.body and "Second page body text." in paper.body
    assert detect_format(path) == "pdf"


def test_metadata_title_is_used_when_sensible(tmp_path: Path) -> None:
    pages = [["Some header line", "Abstract: We study things.", "Keywords: things"]]
    paper = only(write_pdf(tmp_path, pages, title="A Sensible Metadata Title"))
    assert isinstance(paper, Paper)
    assert paper.title == "A Sensible Metadata Title" and paper.abstract == "We study things."
    assert paper.id.startswith("a-sensible-metadata-title-")


@pytest.mark.parametrize("junk", ["Microsoft Word - draft.docx", "main.pdf", "untitled", "x"])
def test_junk_metadata_title_falls_back_to_first_line(tmp_path: Path, junk: str) -> None:
    pages = [["Real Title From The Page", "Abstract", "We study things.", "Introduction", "..."]]
    paper = only(write_pdf(tmp_path, pages, title=junk))
    assert isinstance(paper, Paper) and paper.title == "Real Title From The Page"


def test_abstract_is_capped(tmp_path: Path) -> None:
    sentence = "This sentence pads the abstract to a great length. "
    pages = [["Long One", "Abstract"] + [sentence * 2] * 60]
    paper = only(write_pdf(tmp_path, pages))
    assert isinstance(paper, Paper)
    assert 1500 < len(paper.abstract) <= 3000 and paper.abstract.endswith(".")


def test_same_pdf_twice_loads_twice(tmp_path: Path) -> None:
    first = write_pdf(tmp_path, [H2O_PAGE], name="a.pdf")
    second = write_pdf(tmp_path, [H2O_PAGE], name="b.pdf")
    result = load_papers([first, second])
    assert [p.id for p in result.papers] == ["arxiv:2306.14048", "arxiv:2306.14048"]


def test_not_a_pdf(tmp_path: Path) -> None:
    path = tmp_path / "download.pdf"
    path.write_text("<html><body>404 Not Found</body></html>", encoding="utf-8")
    error = only(path)
    assert isinstance(error, CorpusError)
    assert error.source == str(path) and "not a PDF" in error.problem


@pytest.mark.parametrize("cut", [9, 60, 200, 400, -40])
def test_truncated_or_garbled_pdf_is_a_corpus_error(tmp_path: Path, cut: int) -> None:
    data = make_pdf([H2O_PAGE])
    path = tmp_path / "broken.pdf"
    path.write_bytes(data[:cut])
    error = only(path)  # never a raw pypdf exception
    assert isinstance(error, CorpusError)
    assert error.source == str(path) and "corrupt or unreadable PDF" in error.problem


def test_garbage_after_header_is_a_corpus_error(tmp_path: Path) -> None:
    path = tmp_path / "garbage.pdf"
    path.write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 4)
    error = only(path)
    assert isinstance(error, CorpusError) and "PDF" in error.problem


def test_encrypted_pdf_without_password_is_refused(tmp_path: Path) -> None:
    plain = write_pdf(tmp_path, [H2O_PAGE], name="plain.pdf")
    writer = PdfWriter(clone_from=plain)
    writer.encrypt(user_password="secret", algorithm="RC4-128")
    path = tmp_path / "locked.pdf"
    with path.open("wb") as handle:
        writer.write(handle)
    error = only(path)
    assert isinstance(error, CorpusError)
    assert error.source == str(path) and "encrypted" in error.problem


def test_pdf_encrypted_with_empty_password_still_loads(tmp_path: Path) -> None:
    plain = write_pdf(tmp_path, [H2O_PAGE], name="plain.pdf")
    writer = PdfWriter(clone_from=plain)
    writer.encrypt(user_password="", owner_password="owner", algorithm="RC4-128")
    path = tmp_path / "permissions-only.pdf"
    with path.open("wb") as handle:
        writer.write(handle)
    paper = only(path)
    assert isinstance(paper, Paper) and paper.id == "arxiv:2306.14048"


def test_no_text_layer(tmp_path: Path) -> None:
    error = only(write_pdf(tmp_path, [[], []], name="scan.pdf"))
    assert isinstance(error, CorpusError)
    assert error.problem == "no text layer (scanned PDF?)"


def test_no_abstract_heading_is_an_error(tmp_path: Path) -> None:
    error = only(write_pdf(tmp_path, [["A Title", "Just some text without the heading."]]))
    assert isinstance(error, CorpusError) and "no abstract found" in error.problem


def test_abstract_syntax_is_not_an_abstract_heading(tmp_path: Path) -> None:
    pages = [["ASN.1", "Abstract Syntax Notation One is a language.", "Abstract", "The real one.", "Introduction"]]
    paper = only(write_pdf(tmp_path, pages))
    assert isinstance(paper, Paper) and paper.abstract == "The real one."


def test_strict_mode_raises_for_a_bad_pdf(tmp_path: Path) -> None:
    path = tmp_path / "fake.pdf"
    path.write_bytes(b"not a pdf at all")
    with pytest.raises(CorpusError, match="fake.pdf: not a PDF"):
        load_papers([path])


def test_page_starting_with_abstract_has_no_title(tmp_path: Path) -> None:
    error = only(write_pdf(tmp_path, [["Abstract", "Text without a title above it.", "Introduction"]]))
    assert isinstance(error, CorpusError) and "title" in error.problem
