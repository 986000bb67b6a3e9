"""Prompt files are checked when they load: a missing or unknown placeholder fails at start-up, naming the file."""

from __future__ import annotations

import shutil

import pytest

from paperbot.errors import ConfigError
from paperbot.llm.prompts import DEFAULT_PROMPTS_DIR, PLACEHOLDERS, load_prompt


def test_shipped_prompts_load_and_have_versions():
    versions = {name: load_prompt(name).version for name in PLACEHOLDERS}
    assert all(len(v) == 10 for v in versions.values())
    assert len(set(versions.values())) == len(versions)


@pytest.fixture
def prompts_copy(tmp_path):
    target = tmp_path / "prompts"
    shutil.copytree(DEFAULT_PROMPTS_DIR, target)
    return target


def test_missing_placeholder_is_refused(prompts_copy):
    path = prompts_copy / "answer.txt"
    path.write_text(path.read_text().replace("{question}", "the question"))
    with pytest.raises(ConfigError) as caught:
        load_prompt("answer", prompts_copy)
    assert "answer.txt" in str(caught.value) and "missing ['question']" in str(caught.value)


def test_unknown_placeholder_is_refused(prompts_copy):
    path = prompts_copy / "system.txt"
    path.write_text(path.read_text() + "\nToday is {date}.\n")
    with pytest.raises(ConfigError, match=r"unknown \['date'\]"):
        load_prompt("system", prompts_copy)


def test_broken_brace_is_refused(prompts_copy):
    path = prompts_copy / "condense.txt"
    path.write_text(path.read_text() + "\nA stray { brace.\n")
    with pytest.raises(ConfigError, match="not a valid template"):
        load_prompt("condense", prompts_copy)


def test_bot_refuses_to_start_with_a_broken_prompt(prompts_copy, make_settings):
    from paperbot.bot import PaperBot

    (prompts_copy / "answer.txt").write_text("Sources: {sources}\n")
    with pytest.raises(ConfigError, match="answer.txt"):
        PaperBot(make_settings(prompts_dir=prompts_copy))
