"""Fuzzing every loader a user reaches (load_papers on a file, format detected or forced): random bytes, cut and
mutated real samples, wrong encodings, huge lines, odd BibTeX and XML (entity tricks), files that only claim to
be PDFs. Property: papers come back valid, or a CorpusError names the file; nothing else escapes.

Hypothesis runs derandomized with fixed example counts, so CI sees the same cases every time; the number of
cases per loader is written to test-output/fuzz-cases.json and printed at the end of the module.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paperbot.errors import CorpusError
from paperbot.ingest.loaders import FORMATS, detect_format, load_papers
from tests.test_loader_pdf import H2O_PAGE, make_pdf

OUTPUT = Path(__file__).resolve().parents[1] / "test-output"
CASES: Counter[str] = Counter()
MAX_MESSAGE = 1000  # a clear message names the problem; it never echoes megabytes of the input

ABSTRACT = ("We study the cost of serving large language models and propose a cache policy. "
            "It keeps heavy hitters and recent tokens. Memory falls by 5x with no loss in accuracy on "
            "standard benchmarks. The method needs no retraining.")
DAILY = (
    "Daily Papers\nby AK and the research community\nSubmitted by akhaliq\n42\n"
    "H2O: Heavy-Hitter Oracle for Efficient Generative Inference\n" + ABSTRACT + "\n"
    "Upvote\nSpeculative Decoding with a Small Draft Model\n" + ABSTRACT.replace("cache", "draft") + "\n"
)
JSONL = "".join(json.dumps(r) + "\n" for r in [
    {"id": "a", "title": "H2O: Heavy-Hitter Oracle", "abstract": ABSTRACT, "authors": ["Ann Lee", "Bo Li"],
     "year": 2023, "doi": "10.1234/x.y", "url": "https://arxiv.org/abs/2306.14048"},
    {"_id": "b", "title": "Müller's Ünïcode Title", "text": "Ein Abstract mit Umlauten. Zweiter Satz.",
     "authors": [{"name": "Zoë"}]},
])
JSON_ARRAY = json.dumps([{"title": "Array paper", "abstract": ABSTRACT}, {"title": "Second", "abstract": "Two."}],
                        indent=2)
CSV = ('title,abstract,authors,year\n"H2O, the oracle","' + ABSTRACT + '","Lee, Ann; Li, Bo",2023\n'
       'Plain title,"Multi\nline abstract.",Zoë,2020\n')
TSV = "title\ttext\t_id\nTab title\t" + ABSTRACT + "\tdoc1\n"
BIBTEX = r"""@string{acl = "Proceedings of ACL"}
% a comment
@article{zhang2023,
  title = {{H}$_2${O}: Heavy-Hitter Oracle},
  author = {Zhang, Zhenyu and M{\"u}ller, Anna and others},
  abstract = {Large models cost 20% more with \emph{heavy hitters}. """ + ABSTRACT + r"""},
  booktitle = acl,
  year = {2023},
  eprint = {2306.14048}, archivePrefix = {arXiv},
}
@misc{scholar, title = "Scholar {GPU} style", journal = {arXiv preprint arXiv:2401.01234},
  abstract = "Quoted abstract."}
"""
ATOM = """<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:arxiv="http://arxiv.org/schemas/atom">
  <title>ArXiv Query</title>
  <entry>
    <id>http://arxiv.org/abs/2306.14048v2</id>
    <published>2023-06-24T17:36:54Z</published>
    <title>H$_2$O: Heavy-Hitter Oracle</title>
    <summary>""" + ABSTRACT + """</summary>
    <author><name>Zhenyu Zhang</name></author>
    <arxiv:doi>10.1234/h2o.5</arxiv:doi>
    <link href="http://arxiv.org/abs/2306.14048v2" rel="alternate" type="text/html"/>
  </entry>
  <entry><id>http://arxiv.org/abs/2401.00001v1</id><title>Second</title><summary>Two &amp; three.</summary></entry>
</feed>
"""
PDF = make_pdf([H2O_PAGE, ["Page two text."]], title="H2O: Heavy-Hitter Oracle for Efficient Inference")

# (file name, valid bytes): each loads at least one paper untouched (checked below).
SAMPLES: dict[str, bytes] = {
    "page.txt": DAILY.encode(), "records.jsonl": JSONL.encode(), "array.json": JSON_ARRAY.encode(),
    "table.csv": CSV.encode(), "table.tsv": TSV.encode(), "refs.bib": BIBTEX.encode(), "feed.xml": ATOM.encode(),
    "paper.pdf": PDF,
}
# Every extension the loaders know, the content-sniffed ones (.xml, none) and one they do not.
EXTENSIONS = (".txt", ".md", ".jsonl", ".ndjson", ".json", ".csv", ".tsv", ".bib", ".bibtex", ".xml", ".atom",
              ".pdf", "", ".dat")
FUZZ = settings(deadline=None, derandomize=True, database=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module", autouse=True)
def report_case_counts(request):
    yield
    if not CASES:
        return
    OUTPUT.mkdir(exist_ok=True)
    summary = {"total": sum(CASES.values()), "per_loader": dict(sorted(CASES.items()))}
    (OUTPUT / "fuzz-cases.json").write_text(json.dumps(summary, indent=2) + "\n")
    # Output is captured during teardown; the count is meant to be seen in the CI log, so say it past the capture.
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print(f"\nfuzz cases run: {summary['total']} {summary['per_loader']}")


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def _write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def _loader_name(path: Path, fmt: str | None) -> str:
    if fmt:
        return fmt
    try:
        return detect_format(path)
    except CorpusError:
        return "undetected"


def check_load(path: Path, *, skip_bad: bool = False, fmt: str | None = None) -> str:
    """The property every input must satisfy; returns "papers", "skipped" or "error" for the caller's checks."""
    CASES[_loader_name(path, fmt)] += 1
    try:
        result = load_papers([path], skip_bad=skip_bad, fmt=fmt)
    except CorpusError as exc:
        assert not skip_bad, f"skip_bad mode raised instead of skipping: {exc}"
        message = str(exc)
        assert message.startswith(str(path)), f"the error does not name the file: {message[:200]}"
        assert exc.problem.strip() and len(message) < MAX_MESSAGE + len(str(path)), message[:300]
        assert "Traceback" not in message
        return "error"
    for paper in result.papers:
        assert paper.title.strip() and paper.abstract.strip(), paper
        assert paper.source.startswith(str(path))
        assert "\x00" not in paper.title + paper.abstract
    for skipped in result.skipped:
        assert skipped.source.startswith(str(path)) and skipped.reason.strip()
        assert len(skipped.reason) < MAX_MESSAGE, skipped.reason[:300]
    return "papers" if result.papers else "skipped"


def test_every_sample_is_valid_to_begin_with(folder: Path) -> None:
    for name, data in SAMPLES.items():
        path = _write(folder, name, data)
        assert load_papers([path]).papers, name


# --- random bytes under every name -------------------------------------------------------------------------------
@settings(FUZZ, max_examples=220)
@given(data=st.binary(max_size=3000), ext=st.sampled_from(EXTENSIONS), skip_bad=st.booleans())
def test_random_bytes_under_any_extension(folder: Path, data: bytes, ext: str, skip_bad: bool) -> None:
    check_load(_write(folder, f"random{ext}", data), skip_bad=skip_bad)


@settings(FUZZ, max_examples=120)
@given(text=st.text(max_size=2000), ext=st.sampled_from(EXTENSIONS), fmt=st.sampled_from((None, *FORMATS)))
def test_random_text_with_detected_or_forced_format(folder: Path, text: str, ext: str, fmt: str | None) -> None:
    # Surrogates cannot be written as UTF-8; "surrogatepass" writes them as the invalid bytes a broken tool would.
    check_load(_write(folder, f"text{ext}", text.encode("utf-8", "surrogatepass")), fmt=fmt)


@settings(FUZZ, max_examples=60)
@given(prefix=st.sampled_from((b"%PDF-1.4\n", b"%PDF-", b"  %PDF-1.7", b"junk%PDF-1.5\n", b"%PDF-2.0\n%\xe2\xe3\n")),
       rest=st.binary(max_size=4000), ext=st.sampled_from((".pdf", ".txt", "", ".bin")))
def test_files_that_only_claim_to_be_pdfs(folder: Path, prefix: bytes, rest: bytes, ext: str) -> None:
    check_load(_write(folder, f"claims{ext}", prefix + rest))


# --- real samples, cut and damaged -------------------------------------------------------------------------------
@settings(FUZZ, max_examples=300)
@given(name=st.sampled_from(sorted(SAMPLES)), cut=st.floats(0, 1), skip_bad=st.booleans())
def test_truncated_valid_files(folder: Path, name: str, cut: float, skip_bad: bool) -> None:
    data = SAMPLES[name]
    check_load(_write(folder, "cut-" + name, data[: int(len(data) * cut)]), skip_bad=skip_bad)


@st.composite
def mutated(draw) -> tuple[str, bytes]:
    name = draw(st.sampled_from(sorted(SAMPLES)))
    data = bytearray(SAMPLES[name])
    for _ in range(draw(st.integers(1, 8))):
        at = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(("flip", "insert", "delete", "duplicate")))
        if kind == "flip" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[at:at] = draw(st.sampled_from((b"\x00", b"{", b"}", b'"', b"\n", b"@", b"<", b"&", b",", b"\t",
                                                b"\xff", b"\xc3", b"]", b"%", b"\\", b"<!ENTITY x 'y'>", b"&x;",
                                                b"\r\n", b"\u202e".decode("unicode_escape").encode())))
        elif kind == "delete":
            del data[at: at + draw(st.integers(1, 64))]
        elif kind == "duplicate":
            data[at:at] = data[at: at + draw(st.integers(1, 400))]
    return name, bytes(data)


@settings(FUZZ, max_examples=300)
@given(sample=mutated(), skip_bad=st.booleans())
def test_mutated_valid_files(folder: Path, sample: tuple[str, bytes], skip_bad: bool) -> None:
    name, data = sample
    check_load(_write(folder, "mut-" + name, data), skip_bad=skip_bad)


TEXT_SAMPLES = sorted(n for n in SAMPLES if not n.endswith(".pdf"))


@settings(FUZZ, max_examples=100)
@given(name=st.sampled_from(TEXT_SAMPLES), encoding=st.sampled_from(("latin-1", "cp1252", "utf-16", "utf-16-be",
                                                                     "utf-32", "shift_jis", "utf-8-sig")),
       extra=st.sampled_from(("", "Müller — naïve café ", "日本語のタイトル ", "\u202e\u2066evil\u2069 ")))
def test_wrong_encodings(folder: Path, name: str, encoding: str, extra: str) -> None:
    text = SAMPLES[name].decode("utf-8").replace("Heavy-Hitter", extra + "Heavy-Hitter")
    outcome = check_load(_write(folder, "enc-" + name, text.encode(encoding, "replace")))
    if encoding in ("latin-1", "cp1252") and extra.startswith("Müller") and "Heavy-Hitter" in text:
        # Non-UTF-8 bytes are never silently read as mojibake: the file (or, strictly, its first bad record) fails.
        assert outcome == "error"


# --- BibTeX built from awkward parts ------------------------------------------------------------------------------
BIB_PARTS = (
    "@article{k1, title={T}, abstract={A.}}", "@ARTICLE{k2,title=\"Q\",abstract=\"B.\"}", "@string{s = \"x\"}",
    "@string{s = s # s}", "@preamble{\"\\newcommand{\\x}{y}\"}", "@comment{ { } }", "@weird-type{k3, abstract={C}}",
    "@{nokey, title={T}}", "@article{, title={T}, abstract={A}}", "@article{k4 title={T}}", "@article{k5,",
    "}", "{", "{{{{", "}}}}", "\\", "%", "@", "@article", "title = {", "abstract = s # {x} # s,", "@string{",
    "@article{k6, title={\\\"{u}ber \\'{e} $x^2$ \\emph{E}}, abstract={\\begin{itemize}\\item a\\end{itemize}}}",
    "@article{k7, title={T}, abstract={ % only a comment\n}}", "@article{k8, title = 12, abstract = 34}",
    "@article{k9, title={T}, abstract={A}, abstract={B}}", "@article{k1, title={Dup}, abstract={Dup.}}",
    "@article{k10, author={and and and}, title={T}, abstract={A}}", "\x00", "\u202e",
    "@article{k11, title={$$$}, abstract={$\\frac{a}{b}$}}", "@article{k12, title={\\unknowncommand{x}}, abstract={\\\\\\\\}}",
)


@settings(FUZZ, max_examples=160)
@given(parts=st.lists(st.sampled_from(BIB_PARTS), max_size=12), glue=st.sampled_from(("\n", " ", "", "\n\n")),
       skip_bad=st.booleans())
def test_odd_bibtex(folder: Path, parts: list[str], glue: str, skip_bad: bool) -> None:
    check_load(_write(folder, "odd.bib", glue.join(parts).encode("utf-8", "surrogatepass")), skip_bad=skip_bad)


@pytest.mark.parametrize("depth", [100, 1000, 10_000])
@pytest.mark.parametrize("where", ["title", "abstract", "unbalanced"])
def test_deeply_nested_bibtex_braces(folder: Path, depth: int, where: str) -> None:
    nest = "{" * depth + "deep" + "}" * (depth if where != "unbalanced" else depth // 2)
    fields = {"title": "Shallow", "abstract": "Shallow abstract."}
    fields["abstract" if where == "unbalanced" else where] = nest
    body = ", ".join(f"{k} = {{{v}}}" for k, v in fields.items())
    outcome = check_load(_write(folder, f"deep-{where}-{depth}.bib", f"@article{{deep, {body}}}\n".encode()),
                         skip_bad=True)
    assert outcome in ("papers", "skipped")


@pytest.mark.parametrize("count", [10, 5000])
def test_string_macro_abuse(folder: Path, count: int) -> None:
    # Each macro doubles the previous one by reference; the loader must not expand them into gigabytes.
    macros = "\n".join(f"@string{{m{i} = m{i - 1} # m{i - 1}}}" for i in range(1, count))
    text = "@string{m0 = \"ha\"}\n" + macros + f"\n@article{{x, title = m{count - 1}, abstract = {{A.}}}}\n"
    check_load(_write(folder, f"macros-{count}.bib", text.encode()), skip_bad=True)


# --- XML built from awkward parts ---------------------------------------------------------------------------------
BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE feed [
 <!ENTITY lol "lol">
""" + "\n".join(f' <!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i > 1 else "&lol;" * 10}">'
                for i in range(1, 10)) + """
]>
<feed xmlns="http://www.w3.org/2005/Atom"><entry><title>&lol9;</title><summary>&lol9;</summary></entry></feed>
"""
QUADRATIC = ('<?xml version="1.0"?>\n<!DOCTYPE feed [<!ENTITY a "' + "a" * 50_000 + '">]>\n'
             '<feed xmlns="http://www.w3.org/2005/Atom"><entry><title>t</title><summary>' + "&a;" * 50_000
             + "</summary></entry></feed>\n")


def _external(uri: str, kind: str = "") -> str:
    entity = f'<!ENTITY {kind}ext SYSTEM "{uri}">'
    use = "%ext;" if kind else ""
    return (f'<?xml version="1.0"?>\n<!DOCTYPE feed [{entity}{use}]>\n<feed xmlns="http://www.w3.org/2005/Atom">'
            f"<entry><title>Leak</title><summary>{'&ext;' if not kind else 'x'} tail</summary></entry></feed>\n")


ENTITY_ATTACKS = {
    "billion-laughs": BILLION_LAUGHS,
    "quadratic-blowup": QUADRATIC,
    "file-entity": _external("file:///etc/passwd"),
    "http-entity": _external("http://127.0.0.1:9/evil.dtd"),
    "parameter-entity": _external("file:///etc/passwd", "% "),
    "external-dtd": ('<?xml version="1.0"?>\n<!DOCTYPE feed SYSTEM "file:///etc/passwd">\n'
                     '<feed xmlns="http://www.w3.org/2005/Atom"><entry><title>T</title>'
                     "<summary>S.</summary></entry></feed>\n"),
    "public-dtd": ('<?xml version="1.0"?>\n<!DOCTYPE feed PUBLIC "-//X//EN" "http://127.0.0.1:9/x.dtd">\n'
                   '<feed xmlns="http://www.w3.org/2005/Atom"><entry><title>T</title>'
                   "<summary>S.</summary></entry></feed>\n"),
    "xinclude": ('<?xml version="1.0"?>\n<feed xmlns="http://www.w3.org/2005/Atom" '
                 'xmlns:xi="http://www.w3.org/2001/XInclude"><entry><title>T</title><summary>'
                 '<xi:include href="file:///etc/passwd" parse="text"/>S.</summary></entry></feed>\n'),
}


def _passwd_markers() -> list[str]:
    try:
        lines = Path("/etc/passwd").read_text().splitlines()
    except OSError:
        return ["root:x:0:0"]
    return [line for line in lines[:3] if line.strip()] or ["root:x:0:0"]


@pytest.mark.parametrize("name", sorted(ENTITY_ATTACKS))
@pytest.mark.parametrize("ext", [".xml", ".atom", ""])
@pytest.mark.parametrize("skip_bad", [False, True])
def test_entity_tricks_are_refused_or_never_resolved(folder: Path, name: str, ext: str, skip_bad: bool) -> None:
    path = _write(folder, f"attack-{name}{ext}", ENTITY_ATTACKS[name].encode())
    outcome = check_load(path, skip_bad=skip_bad)
    result = load_papers([path], skip_bad=True)
    loaded = " ".join(p.title + " " + p.abstract + " " + " ".join(p.authors) for p in result.papers)
    assert not any(marker in loaded for marker in _passwd_markers()), "a local file was read into a paper"
    assert "lollol" not in loaded and "aaaa" * 100 not in loaded, "an entity was expanded"
    if "ENTITY" in ENTITY_ATTACKS[name]:
        # Declaring entities at all is refused, before any is expanded or fetched.
        problems = [s.reason for s in result.skipped]
        assert any("entity" in p.lower() for p in problems), problems
        assert outcome != "papers"


@st.composite
def odd_xml(draw) -> str:
    decl = draw(st.sampled_from(('<?xml version="1.0"?>\n', '<?xml version="1.0" encoding="latin-1"?>\n',
                                 '<?xml version="1.0" encoding="no-such-codec"?>\n', "", "<?xml ?>",
                                 '<?xml version="1.1" encoding="UTF-16"?>\n')))
    doctype = draw(st.sampled_from(("", "<!DOCTYPE feed>", '<!DOCTYPE feed [<!ELEMENT feed ANY>]>',
                                    '<!DOCTYPE feed [<!ENTITY e "x">]>', '<!DOCTYPE feed [<!ATTLIST feed a CDATA "d">]>')))
    root = draw(st.sampled_from(('<feed xmlns="http://www.w3.org/2005/Atom">', "<feed>", "<rss>",
                                 '<a:feed xmlns:a="http://www.w3.org/2005/Atom">')))
    close = "</" + root[1:].split()[0].rstrip(">") + ">"
    pieces = st.sampled_from((
        "<entry><title>T</title><summary>S.</summary></entry>", "<entry></entry>", "<entry><title/></entry>",
        "<entry><title>T<b>x</b></title><summary>S</summary></entry>", "<![CDATA[<entry>]]>", "<!-- c -->",
        "&amp;", "&e;", "&#0;", "&#x1F600;", "&#xD800;", "<?pi x?>",
        "<entry><id>http://arxiv.org/api/errors#x</id><summary>bad query</summary></entry>",
        "<entry><title>T</title><summary>S</summary><published>9999</published><link/></entry>", "<" * 3, "\x00", "<entry>" * 50,
    ))
    body = "".join(draw(st.lists(pieces, max_size=8)))
    return decl + doctype + root + body + draw(st.sampled_from((close, "", close + close)))


@settings(FUZZ, max_examples=120)
@given(xml=odd_xml(), ext=st.sampled_from((".xml", ".atom", "")), skip_bad=st.booleans())
def test_odd_xml(folder: Path, xml: str, ext: str, skip_bad: bool) -> None:
    check_load(_write(folder, f"odd{ext}", xml.encode("utf-8")), skip_bad=skip_bad)


@pytest.mark.parametrize("depth", [10_000, 200_000])
def test_deeply_nested_xml(folder: Path, depth: int) -> None:
    xml = ('<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><entry><title>T</title><summary>'
           + "<b>" * depth + "x" + "</b>" * depth + "</summary></entry></feed>")
    check_load(_write(folder, f"nested-{depth}.xml", xml.encode()), skip_bad=True)


# --- records with awkward field values ----------------------------------------------------------------------------
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=60),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
FIELD_NAMES = st.sampled_from(("title", "Title", "abstract", "text", "authors", "year", "date", "url", "doi",
                               "arxiv_id", "id", "_id", " TITLE ", ""))


@settings(FUZZ, max_examples=120)
@given(records=st.lists(st.dictionaries(FIELD_NAMES, JSON_VALUES, max_size=8) | JSON_VALUES, max_size=5),
       ext=st.sampled_from((".jsonl", ".json", ".ndjson")), array=st.booleans())
def test_json_records_with_any_values(folder: Path, records: list, ext: str, array: bool) -> None:
    text = json.dumps(records) if array else "\n".join(json.dumps(r) for r in records)
    check_load(_write(folder, f"values{ext}", text.encode("utf-8", "surrogatepass")), skip_bad=True)


@settings(FUZZ, max_examples=100)
@given(header=st.lists(FIELD_NAMES, min_size=1, max_size=5),
       rows=st.lists(st.lists(st.text(max_size=40), max_size=6), max_size=5),
       delimiter=st.sampled_from((",", "\t", ";", "|")), ext=st.sampled_from((".csv", ".tsv")))
def test_csv_tables_with_any_cells(folder: Path, header: list[str], rows: list[list[str]], delimiter: str,
                                   ext: str) -> None:
    lines = [delimiter.join(header)] + [delimiter.join(row) for row in rows]
    check_load(_write(folder, f"cells{ext}", "\n".join(lines).encode("utf-8", "surrogatepass")), skip_bad=True)


# --- huge lines (megabytes) ----------------------------------------------------------------------------------------
MB = 1024 * 1024


def _huge(kind: str) -> tuple[str, bytes]:
    words = ("token " * (2 * MB // 6)).strip()
    sentences = ("The cache grows. " * (2 * MB // 17)).strip()
    if kind == "daily-abstract":
        return "huge.txt", f"A Title Line\n{sentences}\n".encode()
    if kind == "daily-title-only":
        return "huge.txt", ("x" * (3 * MB)).encode()
    if kind == "jsonl-abstract":
        return "huge.jsonl", json.dumps({"title": "T", "abstract": sentences}).encode()
    if kind == "jsonl-unclosed":
        return "huge.jsonl", b'{"title": "' + b"a" * (3 * MB)
    if kind == "csv-cell":
        return "huge.csv", f'title,abstract\nT,"{words}"\n'.encode()
    if kind == "csv-unclosed-quote":
        return "huge.csv", b'title,abstract\nT,"' + b"a, " * MB
    if kind == "bib-field":
        return "huge.bib", ("@article{k, title={T}, abstract={" + words + "}}").encode()
    if kind == "bib-unclosed":
        return "huge.bib", ("@article{k, title={T}, abstract={" + words).encode()
    if kind == "xml-summary":
        return "huge.xml", ATOM.replace(ABSTRACT, sentences).encode()
    if kind == "binary-line":
        return "huge.jsonl", bytes(range(256)) * (2 * MB // 256)
    raise ValueError(kind)


@pytest.mark.parametrize("kind", ["daily-abstract", "daily-title-only", "jsonl-abstract", "jsonl-unclosed",
                                  "csv-cell", "csv-unclosed-quote", "bib-field", "bib-unclosed", "xml-summary",
                                  "binary-line"])
@pytest.mark.parametrize("skip_bad", [False, True])
def test_huge_lines(folder: Path, kind: str, skip_bad: bool) -> None:
    name, data = _huge(kind)
    check_load(_write(folder, name, data), skip_bad=skip_bad)


# --- folders: the skip-bad mode over a mix of good and bad files --------------------------------------------------
@settings(FUZZ, max_examples=40)
@given(picks=st.lists(st.tuples(st.sampled_from(sorted(SAMPLES)), st.floats(0, 1)), min_size=1, max_size=6))
def test_folder_of_good_and_cut_files_in_skip_bad_mode(tmp_path_factory, picks: list[tuple[str, float]]) -> None:
    folder = tmp_path_factory.mktemp("mix")
    for number, (name, cut) in enumerate(picks):
        data = SAMPLES[name]
        _write(folder, f"{number}-{name}", data[: max(1, int(len(data) * cut))])
    CASES["folder"] += 1
    result = load_papers([folder], skip_bad=True)
    for skipped in result.skipped:
        assert skipped.source.startswith(str(folder)) and skipped.reason.strip()
    assert all(p.title.strip() and p.abstract.strip() for p in result.papers)


# --- what the fuzzing found, pinned -------------------------------------------------------------------------------
@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
@pytest.mark.parametrize("name", TEXT_SAMPLES)
def test_utf16_and_utf32_files_are_refused_with_the_encoding_named(folder: Path, name: str, encoding: str) -> None:
    # Found by fuzzing: a UTF-16 page without a byte-order mark loaded as "H 2 O : H e a v y ...", and a UTF-16
    # .bib file loaded as nothing at all, silently.
    path = _write(folder, "wide-" + name, SAMPLES[name].decode().encode(encoding))
    assert check_load(path) == "error"
    with pytest.raises(CorpusError) as caught:
        load_papers([path])
    assert "UTF-16" in caught.value.problem or "UTF-32" in caught.value.problem or "encoding" in caught.value.problem


def test_xml_declaring_an_unknown_encoding_is_a_corpus_error(folder: Path) -> None:
    # Found by fuzzing: the parser's LookupError escaped.
    path = _write(folder, "codec.xml", ATOM.replace('encoding="UTF-8"', 'encoding="no-such-codec"').encode())
    with pytest.raises(CorpusError, match="no-such-codec"):
        load_papers([path])


@pytest.mark.parametrize(("name", "text"), [("empty.jsonl", ""), ("macros.bib", '@string{a = "b"}\n% note\n'),
                                            ("furniture.txt", "Daily Papers\nUpvote\n12\n"),
                                            ("empty.xml", '<feed xmlns="http://www.w3.org/2005/Atom"></feed>')])
def test_a_file_with_no_records_says_so(folder: Path, name: str, text: str) -> None:
    # Found by fuzzing: such files loaded as nothing, with no word, so `ingest` reported success.
    path = _write(folder, name, text.encode())
    with pytest.raises(CorpusError, match="no paper records found"):
        load_papers([path])
    assert [s.source for s in load_papers([path], skip_bad=True).skipped] == [str(path)]
