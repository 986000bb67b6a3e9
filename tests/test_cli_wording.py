"""What a newcomer reads in the CLI: singular counts, why a filtered search is empty, whole ids, one error style,
plain --help, errors before any output, plain-text comparisons in a pipe, and a models folder that is not there."""

from __future__ import annotations

import io
import json
import sys

import pytest
from rich.console import Console
from typer.testing import CliRunner

from paperbot.cli import commands as cli

PAPERS = [
    {"title": "Heavy hitters keep the KV cache small",
     "abstract": "Large language models spend memory on the KV cache. We propose keeping only heavy-hitter tokens. "
                 "It cuts KV cache memory by five times with the same accuracy."},
    {"title": "A small draft model speeds up decoding",
     "abstract": "Decoding one token at a time is slow. We introduce a small draft model that proposes tokens. "
                 "The large model verifies them, which makes decoding two times faster."},
]


@pytest.fixture(scope="module")
def store(tmp_path_factory, models_dir, embedder):
    from paperbot.bot import PaperBot
    from paperbot.config import Settings

    root = tmp_path_factory.mktemp("wording")
    records = root / "papers.jsonl"
    records.write_text("\n".join(json.dumps(p) for p in PAPERS) + "\n", encoding="utf-8")
    bot = PaperBot(Settings(data_dir=root / "store", models_dir=models_dir), embedder=embedder)
    report = bot.ingest([records])
    return (root / "store", models_dir), sorted(report.added)


def run(store, args: list[str], *, monkeypatch, width: int | None = None, terminal: bool = False) -> tuple[str, str]:
    """`paperbot --data-dir STORE ARGS` in this process: (stdout, stderr)."""
    buffer, errors = io.StringIO(), io.StringIO()
    monkeypatch.setattr(cli, "out", Console(file=buffer, force_terminal=terminal, width=width, highlight=False,
                                            soft_wrap=True))
    monkeypatch.setattr(cli, "err", Console(file=errors, highlight=False, soft_wrap=True))
    folder, models_dir = store
    result = CliRunner().invoke(cli.app, ["--data-dir", str(folder), "--models-dir", str(models_dir), *args],
                                catch_exceptions=False)
    return buffer.getvalue() + result.stdout, errors.getvalue()


def _where(folder) -> list[str]:
    return ["--data-dir", str(folder[0]), "--models-dir", str(folder[1])]


def main_run(argv: list[str], monkeypatch, capsys) -> tuple[int, str, str]:
    """The real entry point, exit code and all."""
    monkeypatch.setattr(sys, "argv", ["paperbot", *argv])
    with pytest.raises(SystemExit) as exited:
        cli.main()
    captured = capsys.readouterr()
    return exited.value.code, captured.out, captured.err


def test_a_filter_that_removes_everything_is_named_with_the_papers_lacking_its_field(store, monkeypatch):
    folder, _ = store
    shown, errors = run(folder, ["search", "KV cache", "--year-min", "2023"], monkeypatch=monkeypatch)
    assert "no matching papers" in shown
    assert "--year-min 2023 matches none of the 2 papers: 2 papers have no year" in errors
    shown, errors = run(folder, ["search", "KV cache", "--author", "Kwon", "--json"], monkeypatch=monkeypatch)
    assert json.loads(shown) == [] and "--author 'Kwon' matches none of the 2 papers: 2 papers have no authors" in errors
    _, errors = run(folder, ["search", "KV cache"], monkeypatch=monkeypatch)
    assert "filters" not in errors, "an unfiltered search says nothing of filters"


def test_search_table_never_cuts_an_id_and_stats_say_years_in_words(store, monkeypatch):
    folder, ids = store
    shown, _ = run(folder, ["search", "draft model decoding", "-k", "2"], monkeypatch=monkeypatch, width=80,
                   terminal=True)
    for paper_id in ids:
        assert paper_id in shown, "a whole id, copyable into `paperbot show`"
    shown, _ = run(folder, ["stats"], monkeypatch=monkeypatch)
    assert "None" not in shown and "none (no paper has a year)" in shown


def test_one_paper_is_one_paper(store, tmp_path, monkeypatch):
    folder, _ = store
    shown, _ = run(folder, ["papers", "--grep", "draft"], monkeypatch=monkeypatch, terminal=True)
    assert "1 paper" in shown and "1 papers" not in shown
    one = tmp_path / "one.jsonl"
    one.write_text(json.dumps(PAPERS[0]) + "\n", encoding="utf-8")
    shown, _ = run((tmp_path / "fresh-store", folder[1]), ["ingest", str(one)], monkeypatch=monkeypatch)
    assert shown.startswith("1 paper: 1 added")


def test_compare_table_in_a_pipe_is_plain_text(store, monkeypatch):
    folder, ids = store
    shown, _ = run(folder, ["compare", *ids, "--mode", "extractive", "--aspects", "approach,efficiency gain"],
                   monkeypatch=monkeypatch)
    assert "|" not in shown and "---" not in shown and "┃" not in shown, shown
    assert f"({ids[0]})" in shown and "\n  approach: " in shown and "[s" in shown


def test_empty_question_errors_before_any_header(store, monkeypatch, capsys):
    folder, _ = store
    code, out, err = main_run([*_where(folder), "ask", "  ", "--mode", "extractive"], monkeypatch, capsys)
    assert code == 1 and out == "", "nothing, not even the answer's header, before the error"
    assert err.startswith("error: the question is empty")


def test_usage_errors_and_paperbot_errors_share_one_prefix(store, monkeypatch, capsys):
    folder, _ = store
    code, _, err = main_run([*_where(folder), "search", "x", "-k", "many"], monkeypatch, capsys)
    assert code == 2 and "error: Invalid value for '-k'" in err and "Error:" not in err
    code, _, err = main_run([*_where(folder), "show", "no-such-id"], monkeypatch, capsys)
    assert code == 1 and err.startswith("error: no paper with id")


def test_help_shows_flags_plainly_and_keeps_bracketed_text():
    runner = CliRunner()
    summarize = runner.invoke(cli.app, ["summarize", "--help"], terminal_width=200).stdout
    assert "citing its sentences [sN]." in summarize, summarize
    compare = runner.invoke(cli.app, ["compare", "--help"], terminal_width=200).stdout
    assert "cites the abstract sentence [sN] it comes from" in compare
    ask = runner.invoke(cli.app, ["ask", "--help"], terminal_width=200).stdout
    assert "--dry-run" in ask and "<bool>" not in ask and "bool" not in ask.lower()


def test_a_models_folder_that_does_not_exist_is_named_with_its_absolute_path(tmp_path, monkeypatch):
    from paperbot.config import load_settings
    from paperbot.errors import ConfigError

    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as caught:
        load_settings(models_dir="../no-such-shared/models")
    message = str(caught.value)
    assert f"the folder {tmp_path.parent / 'no-such-shared' / 'models'} does not exist" in message
    assert "Value error" not in message
