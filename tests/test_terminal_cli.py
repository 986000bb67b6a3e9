"""Terminal escapes from data and from a model never reach the terminal: titles, ids, DOIs, abstracts, file names in
errors and LLM answer text (streamed too) are cleaned by `papers`, `show`, `search`, `ask` and error messages;
--json output carries the same data as escaped JSON."""

from __future__ import annotations

import io
import json
import re
import sys

import pytest
from rich.console import Console
from typer.testing import CliRunner

from paperbot.cli import commands as cli
from tests.fake_openai import FakeOpenAI

CLEAR = "\x1b[2J"
TITLE_SET = "\x1b]0;pwned-title\x07"
HOSTILE = CLEAR + TITLE_SET + "\x1b]8;;http://evil.example\x1b\\link\x1b]8;;\x1b\\" + "\u202e" + "\x9b31m" + "\r\x08\x07"
QUESTION = "Which method compresses the KV cache with hostile strings?"
# What must never be printed: a control character of the data (rich's own colour codes, SGR, are removed first).
# The loaders already blank control characters in titles and abstracts; ids, DOIs, file names and LLM answers
# reach the printer with theirs.
_FORBIDDEN = re.compile(r"[\x1b\x9b\u202e\x07\x08\r]")
_RICH_STYLE = re.compile(r"\x1b\[[0-9;]*m")


def forbidden(shown: str) -> list[str]:
    return _FORBIDDEN.findall(_RICH_STYLE.sub("", shown))


@pytest.fixture(scope="module")
def store(tmp_path_factory, models_dir, embedder):
    from paperbot.bot import PaperBot
    from paperbot.config import Settings

    root = tmp_path_factory.mktemp("terminal")
    records = root / "hostile.jsonl"
    rows = [
        {"id": f"evil{CLEAR}id{TITLE_SET}", "title": f"KV cache compression {HOSTILE} with hostile strings",
         "abstract": f"We compress the KV cache of hostile strings by four times {HOSTILE}. It keeps accuracy.",
         "doi": f"10.1234/doi{CLEAR}{TITLE_SET}", "url": f"https://example.org/{CLEAR}paper", "year": 2024,
         "authors": [f"Mallory {TITLE_SET}"]},
        {"title": "Speculative decoding with a small draft model",
         "abstract": "A small draft model proposes tokens that the large model verifies. Decoding is two times faster."},
    ]
    records.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    bot = PaperBot(Settings(data_dir=root / "store", models_dir=models_dir), embedder=embedder)
    report = bot.ingest([records])
    assert len(report.added) == 2
    return root / "store", report.added


def run(args: list[str], *, terminal: bool = False, env: dict | None = None, monkeypatch=None) -> str:
    """`paperbot ARGS` in this process through its real entry point; stdout and stderr together. With `terminal`,
    output goes to a console that believes it is a terminal (tables, colours: rich's own escapes are allowed)."""
    runner = CliRunner()
    if terminal:
        buffer = io.StringIO()
        monkeypatch.setattr(cli, "out", Console(file=buffer, force_terminal=True, highlight=False, soft_wrap=True))
        result = runner.invoke(cli.app, args, env=env, catch_exceptions=False)
        return buffer.getvalue() + result.output
    if monkeypatch is not None:  # a console on sys.stdout, which the runner captures
        monkeypatch.setattr(cli, "out", Console(highlight=False, soft_wrap=True))
    result = runner.invoke(cli.app, args, env=env, catch_exceptions=False)
    return result.output


def test_clean_removes_sequences_whole_and_keeps_text():
    from paperbot.text.terminal import clean, escape_json, one_line

    assert clean(f"a{HOSTILE}b\tc\nd") == "alinkb\tc\nd"
    assert clean("H₂O café — ok") == "H₂O café — ok"
    assert one_line("a\tb\nc\x1b[2J") == "a b c"
    dumped = json.dumps({"t": HOSTILE}, ensure_ascii=False)
    assert json.loads(escape_json(dumped)) == {"t": HOSTILE} and "\u202e" not in escape_json(dumped)


def test_papers_in_a_pipe_and_on_a_terminal(store, monkeypatch):
    folder, ids = store
    for terminal in (False, True):
        shown = run(["--data-dir", str(folder), "papers"], terminal=terminal, monkeypatch=monkeypatch)
        assert "KV cache compression" in shown and "hostile strings" in shown
        assert not forbidden(shown), repr(shown)


def test_show_and_search(store, monkeypatch):
    folder, ids = store
    evil = next(i for i in ids if "pwned" in i)  # the DOI id, escapes and all
    for args in (["show", evil], ["search", "KV cache compression hostile strings", "-k", "2"]):
        for terminal in (False, True):
            shown = run(["--data-dir", str(folder), *args], terminal=terminal, monkeypatch=monkeypatch)
            assert "KV cache compression" in shown
            assert not forbidden(shown), (args, repr(shown))


def test_json_output_escapes_the_same_data(store):
    folder, ids = store
    shown = run(["--data-dir", str(folder), "papers", "--json"])
    assert not forbidden(shown)
    ids = [p["id"] for p in json.loads(shown)]
    assert any(TITLE_SET in i for i in ids), "the JSON keeps the data, escaped"


def test_an_error_naming_a_hostile_file(tmp_path, models_dir, monkeypatch, capsys):
    bad = tmp_path / f"bad{CLEAR}{TITLE_SET}name.jsonl"
    bad.write_text("{not json\n", encoding="utf-8")
    monkeypatch.setattr(sys, "argv", ["paperbot", "--data-dir", str(tmp_path / "s"), "--models-dir", str(models_dir),
                                      "ingest", str(bad)])
    with pytest.raises(SystemExit) as exited:
        cli.main()
    captured = capsys.readouterr()
    assert exited.value.code == 1
    assert "error:" in captured.err and "badname.jsonl" in captured.err, captured.err
    assert not forbidden(captured.err + captured.out) and "pwned-title" not in captured.err, repr(captured.err)


def test_an_error_naming_a_hostile_id(store, monkeypatch, capsys):
    folder, _ = store
    monkeypatch.setattr(sys, "argv", ["paperbot", "--data-dir", str(folder), "show", f"nope{CLEAR}{TITLE_SET}"])
    with pytest.raises(SystemExit) as exited:
        cli.main()
    captured = capsys.readouterr()
    assert exited.value.code == 1 and "nope" in captured.err, captured.err
    assert not forbidden(captured.err + captured.out), repr(captured.err)


def test_ask_streams_a_hostile_llm_answer_cleaned(store, monkeypatch):
    folder, ids = store

    def responder(body: dict) -> str:
        if "Standalone query:" in body["messages"][-1]["content"]:
            return QUESTION
        return f"It compresses the KV cache of hostile strings by four times {HOSTILE} [P1]."

    with FakeOpenAI(responder=responder) as fake:
        env = {**fake.env, "PAPERBOT_CHAT_MODEL": "fake-chat"}
        for terminal in (False, True):
            shown = run(["--data-dir", str(folder), "ask", QUESTION], terminal=terminal, env=env,
                        monkeypatch=monkeypatch)
            assert "four times" in shown, shown
            assert not forbidden(shown), repr(shown)
        as_json = run(["--data-dir", str(folder), "ask", QUESTION, "--json"], env=env)
        assert not forbidden(as_json)
        assert "\x1b]0;pwned-title\x07" in json.loads(as_json)["text"], "the JSON keeps the data, escaped"
