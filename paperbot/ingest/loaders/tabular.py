"""Records from JSON Lines, JSON arrays and CSV/TSV tables (BEIR corpora included), one paper per row."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Mapping
from pathlib import Path

from paperbot.errors import CorpusError
from paperbot.ingest.loaders.records import build_paper
from paperbot.ingest.loaders.text_files import check_encoding, read_text
from paperbot.types import Paper

_TITLE_COLUMNS = ("title",)
_ABSTRACT_COLUMNS = ("abstract", "text")  # BEIR corpora call the abstract "text"
_ID_COLUMNS = ("id", "_id")  # BEIR uses "_id"
_CSV_DELIMITERS = ",\t;|"
_BOM = b"\xef\xbb\xbf"
# Python's JSON parser recurses per level of nesting; thousands of "[" end in RecursionError, not a JSON error.
_TOO_DEEP = "JSON nested too deeply to be a paper record"


def _first_filled(record: Mapping[str, object], keys: tuple[str, ...]) -> object:
    # A present but empty "abstract" should not hide a filled "text", so take the first non-blank value.
    for key in keys:
        value = record.get(key)
        if value is not None and not (isinstance(value, str) and not value.strip()):
            return value
    return None


def _authors(value: object) -> object:
    # Some exports (Semantic Scholar, OpenAlex-like) give authors as [{"name": ...}]; keep just the names.
    if isinstance(value, list):
        return [item.get("name", "") if isinstance(item, dict) else item for item in value]
    return value


def _paper_from_record(source: str, record: Mapping[object, object]) -> Paper:
    # Column and key names are matched case-insensitively: "Title" and "title" are the same field.
    fields = {str(key).strip().lower(): value for key, value in record.items() if key is not None}
    return build_paper(
        source,
        title=fields.get("title"),
        abstract=_first_filled(fields, _ABSTRACT_COLUMNS),
        authors=_authors(fields.get("authors")),
        year=fields.get("year"),
        date=fields.get("date"),
        url=fields.get("url"),
        arxiv_id=fields.get("arxiv_id"),
        doi=fields.get("doi"),
        given_id=_first_filled(fields, _ID_COLUMNS),
    )


def _record_or_error(source: str, record: object) -> Paper | CorpusError:
    if not isinstance(record, dict):
        problem = f"expected a JSON object, got {type(record).__name__}"
        return CorpusError(source, problem, "one paper object per record")
    try:
        return _paper_from_record(source, record)
    except CorpusError as exc:
        return exc


def _decode_line(path: Path, line_no: int, raw: bytes, offset: int) -> str:
    # JSONL lines are independent records, so one badly encoded line should cost only that line.
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorpusError(
            f"{path}:{line_no}",
            f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {offset + exc.start})",
            "re-save the file as UTF-8, e.g. iconv -f latin1 -t utf-8",
        ) from exc


def _records_from_document(path: Path, data: object) -> Iterator[Paper | CorpusError]:
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise CorpusError(str(path), f"expected a JSON array of paper objects, got {type(data).__name__}")
    for index, record in enumerate(data):
        yield _record_or_error(f"{path}#{index}", record)


def load_jsonl(path: Path) -> Iterator[Paper | CorpusError]:
    """One JSON object per line; a .json file (or one starting with '[') may instead hold an array of objects."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CorpusError(str(path), f"cannot read file: {exc.strerror or exc}") from exc
    bom = len(_BOM) if data.startswith(_BOM) else 0
    data = data[bom:]
    check_encoding(path, data)
    if data.lstrip().startswith(b"["):
        # A whole-file array: read_text gives the usual UTF-8 error naming the line.
        text = read_text(path)
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CorpusError(f"{path}:{exc.lineno}", f"invalid JSON: {exc.msg} (column {exc.colno})") from exc
        except RecursionError as exc:
            raise CorpusError(str(path), _TOO_DEEP, "a paper record is one flat object") from exc
        yield from _records_from_document(path, document)
        return
    if path.suffix.lower() == ".json":
        # A .json file may be one (pretty-printed) object, or JSON Lines under another name: try the former.
        try:
            document = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            pass  # read it line by line below, which names the bad line
        else:
            yield from _records_from_document(path, document)
            return
    offset = bom  # byte offset in the file of the current line, for the UTF-8 error message
    for line_no, raw in enumerate(data.split(b"\n"), start=1):
        line_offset, offset = offset, offset + len(raw) + 1
        if not raw.strip():
            continue
        source = f"{path}:{line_no}"
        try:
            line = _decode_line(path, line_no, raw, line_offset)
            record = json.loads(line)
        except CorpusError as exc:
            yield exc
            continue
        except json.JSONDecodeError as exc:
            problem = f"invalid JSON: {exc.msg} (column {exc.colno})"
            yield CorpusError(source, problem, "each line must be one JSON object")
            continue
        except RecursionError:
            yield CorpusError(source, _TOO_DEEP, "each line must be one flat JSON object")
            continue
        yield _record_or_error(source, record)


def _has_columns(fieldnames: list[str] | None) -> bool:
    names = {name.strip().lower() for name in fieldnames or [] if name}
    return any(c in names for c in _TITLE_COLUMNS) and any(c in names for c in _ABSTRACT_COLUMNS)


def _pick_delimiter(path: Path, text: str) -> str:
    if path.suffix.lower() == ".tsv":
        return "\t"
    header = text.split("\n", 1)[0]
    try:
        sniffed = csv.Sniffer().sniff(text[:8192], delimiters=_CSV_DELIMITERS).delimiter
    except csv.Error:
        sniffed = ","
    # The sniffer guesses from character counts and is easily fooled by commas inside abstracts;
    # the header row must name the title and abstract columns, so prefer a delimiter that makes it do so.
    for delimiter in (sniffed, *_CSV_DELIMITERS):
        if _has_columns(next(csv.reader([header], delimiter=delimiter), None)):
            return delimiter
    return sniffed


def load_csv(path: Path) -> Iterator[Paper | CorpusError]:
    """A header row naming at least 'title' and 'abstract' (or 'text'); delimiter sniffed, tab for .tsv."""
    text = read_text(path)
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=_pick_delimiter(path, text))
    try:
        fieldnames = reader.fieldnames
    except csv.Error as exc:
        raise CorpusError(f"{path}:1", f"cannot read the CSV header: {exc}") from exc
    if not fieldnames:
        raise CorpusError(str(path), "empty CSV: no header row", "the first row must name the columns")
    if not _has_columns(list(fieldnames)):
        raise CorpusError(
            str(path),
            f"CSV needs a 'title' column and an 'abstract' or 'text' column; found {', '.join(map(repr, fieldnames))}",
            "rename the columns in the header row",
        )
    lines = io.StringIO(text, newline="").readlines()  # split exactly as the reader counts lines
    previous_end = reader.line_num
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            # The reader cannot resynchronise after a broken quote or NUL byte, so stop here.
            yield CorpusError(f"{path}:{reader.line_num}", f"cannot parse CSV: {exc}")
            return
        # The reader reports the line a record ends on; a quoted abstract may span lines, so name the first one.
        start = previous_end + 1
        while start < reader.line_num and start <= len(lines) and not lines[start - 1].strip():
            start += 1
        previous_end = reader.line_num
        source = f"{path}:{start}"
        if None in row:
            yield CorpusError(
                source,
                f"row has {len(fieldnames) + len(row[None])} fields but the header has {len(fieldnames)}",
                "quote fields that contain the delimiter",
            )
            continue
        try:
            yield _paper_from_record(source, row)
        except CorpusError as exc:
            yield exc
