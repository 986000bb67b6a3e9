"""The README's "Use it" examples, run against the demo corpus they are shown with: every command that reads the
store, and the Python snippet, prints at least one result."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shlex
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from paperbot.cli import commands as cli

REPO = Path(__file__).resolve().parents[1]
# Commands that write the store, start a server or need files and ids the reader supplies.
NOT_ON_THE_DEMO = {"ingest", "chat", "reindex", "doctor", "eval", "tune", "llm"}


def _section(title: str) -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    return text[text.index(f"\n## {title}\n"):]


def _block(section: str, language: str) -> str:
    match = re.search(rf"```{language}\n(.*?)```", section, re.DOTALL)
    assert match, f"no {language} block"
    return match.group(1)


def readme_commands() -> list[list[str]]:
    """The `paperbot ...` lines of the first bash block under "Use it", comments and optional [--flags] removed;
    lines with placeholders ("...", ID, a|b choices) or commands in NOT_ON_THE_DEMO left out."""
    commands = []
    for line in _block(_section("Use it"), "bash").splitlines():
        command = re.sub(r"\s+#.*$", "", line).strip()
        command = re.sub(r"\s\[--[^\]]*\]", "", command)
        if not command.startswith("paperbot ") or "..." in command or " ID" in command or "|" in command:
            continue
        words = shlex.split(command)[1:]
        if words[0] in NOT_ON_THE_DEMO or words[0].startswith("--") or "--dry-run" in words:
            continue
        commands.append(words)
    return commands


COMMANDS = readme_commands()


@pytest.fixture(scope="module")
def demo_copy(demo_store, tmp_path_factory):
    # summarize writes its cache into the store: a copy keeps the shared demo store as it was.
    copy = tmp_path_factory.mktemp("readme") / "store"
    shutil.copytree(demo_store, copy)
    return copy


@pytest.fixture
def no_llm(monkeypatch):
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "PAPERBOT_LOCAL_MODEL", "PAPERBOT_LOCAL_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


def test_the_readme_shows_the_commands_this_test_runs():
    names = [words[0] for words in COMMANDS]
    assert {"ask", "papers", "show", "search", "stats", "summarize", "digest"} <= set(names), names


def _has_result(words: list[str], output: str, folder: Path) -> bool:
    if "--json" in words:
        value = json.loads(output)
        if words[0] == "ask":
            return not value["abstained"] and len(value["citations"]) >= 1
        return len(value) >= 1
    checks = {
        "ask": lambda: "References" in output and "[P1]" in output,
        "papers": lambda: len(output.strip().splitlines()) >= 1,
        "show": lambda: "chunks:" in output,
        "search": lambda: "no matching papers" not in output and output.strip() != "",
        "stats": lambda: re.search(r"papers\s+│?\s*115", output) is not None,
        "summarize": lambda: "TL;DR:" in output,
        "digest": lambda: (folder / "kv.md").read_text(encoding="utf-8").startswith("# Digest: ")
        and "in 0 themes" not in output,
    }
    return checks[words[0]]()


@pytest.mark.slow
@pytest.mark.parametrize("words", COMMANDS, ids=lambda words: " ".join(words)[:60])
def test_each_readme_command_prints_a_result_on_the_demo_corpus(words, demo_copy, models_dir, tmp_path,
                                                                 monkeypatch, no_llm):
    monkeypatch.chdir(tmp_path)  # `digest --out kv.md` writes where the reader stands
    result = CliRunner().invoke(cli.app, ["--data-dir", str(demo_copy), "--models-dir", str(models_dir), *words],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert _has_result(words, result.stdout, tmp_path), result.output[-2000:]


@pytest.mark.slow
def test_the_readme_python_snippet_prints_results_on_the_demo_corpus(demo_copy, models_dir, monkeypatch, no_llm):
    shared_models = REPO.parent / "shared" / "models"
    if not shared_models.is_dir():
        pytest.skip("the snippet names ../shared/models: it runs from a checkout with shared/ beside it")
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("PAPERBOT_DATA_DIR", str(demo_copy))
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(_block(_section("Use it"), "python"), "README.md", "exec"), {})  # noqa: S102
    lines = printed.getvalue().splitlines()
    assert [line for line in lines if re.match(r"\d+ \S", line)][:1], "search printed ranked hits"
    assert any("[P1]" in line for line in lines), "the answer cites papers"
    assert any("--year-min 2023 matches none of the 115 papers: 115 papers have no year" in line for line in lines)
