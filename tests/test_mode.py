"""The answer mode is decided in one place, PaperBot.resolve; every use case and front end goes through it, and the
command line defines --mode, --model and --json once (paperbot/cli/options.py)."""

from __future__ import annotations

import sys
import typing

import pytest
import typer
from typer.testing import CliRunner

from paperbot.bot import PaperBot
from paperbot.cli import options
from paperbot.cli.commands import app, main
from paperbot.config import Settings
from paperbot.errors import ConfigError, NoLLMError
from paperbot.store.catalog import Catalog
from paperbot.types import Chunk, Mode, Paper

API = {"openai_api_key": "sk-test"}
LOCAL = {"local_base_url": "http://127.0.0.1:9"}  # never reached: resolving connects to nothing


@pytest.fixture(scope="module")
def catalog_dir(tmp_path_factory):
    """A store holding one paper in its catalog and no Chroma files: a reading bot opens neither Chroma nor a model."""
    data = tmp_path_factory.mktemp("mode")
    catalog = Catalog(data / "papers.sqlite3")
    paper = Paper(id="kv-paper", title="Evicting the KV cache", abstract="We keep heavy hitters. It is fast.",
                  year=2023)
    catalog.write([(paper, "hash-1", [Chunk(id="kv-paper#0", paper_id=paper.id, title=paper.title, index=0,
                                            text=paper.abstract, char_start=0, char_end=len(paper.abstract),
                                            embed_tokens=12, tiktoken_tokens=10)])])
    catalog.close()
    return data


@pytest.fixture
def no_llm_env(monkeypatch):
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "PAPERBOT_ANSWER_MODE", "PAPERBOT_CHAT_MODEL",
                 "PAPERBOT_LOCAL_MODEL", "PAPERBOT_LOCAL_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def bot_with(catalog_dir, no_llm_env):
    made = []

    def bot_with(**settings) -> PaperBot:
        made.append(PaperBot(Settings(data_dir=catalog_dir, _env_file=None, **settings), must_exist=True))
        return made[-1]

    yield bot_with
    for bot in made:
        bot.close()


@pytest.mark.parametrize(("settings", "mode", "model", "expected"), [
    ({}, None, None, (Mode.EXTRACTIVE, None)),  # auto, nothing configured
    ({}, "auto", "gpt-4.1", (Mode.EXTRACTIVE, None)),
    ({}, Mode.EXTRACTIVE, None, (Mode.EXTRACTIVE, None)),
    (API, None, None, (Mode.LLM, "gpt-4o-mini")),  # auto with an API: the configured chat model
    (API, "auto", "", (Mode.LLM, "gpt-4o-mini")),
    (API, "llm", "gpt-4.1", (Mode.LLM, "gpt-4.1")),  # a model override
    (API, Mode.LLM, None, (Mode.LLM, "gpt-4o-mini")),
    (API, "extractive", "gpt-4.1", (Mode.EXTRACTIVE, None)),  # extractive ignores the model
    ({"openai_base_url": "http://127.0.0.1:9/v1"}, None, None, (Mode.LLM, "gpt-4o-mini")),  # a URL alone counts
    ({**API, "chat_model": "gpt-4.1-mini"}, None, None, (Mode.LLM, "gpt-4.1-mini")),
    ({**API, "answer_mode": "extractive"}, None, None, (Mode.EXTRACTIVE, None)),  # the configured default
    ({**API, "answer_mode": "extractive"}, "auto", None, (Mode.EXTRACTIVE, None)),  # auto is that default
    ({**API, "answer_mode": "extractive"}, "llm", None, (Mode.LLM, "gpt-4o-mini")),  # asked for: wins
])
def test_resolve(bot_with, settings, mode, model, expected):
    resolved = bot_with(**settings).resolve(mode, model)
    assert resolved == expected and type(resolved[0]) is Mode


def test_a_local_model_counts_as_configured(bot_with):
    bot = bot_with(**LOCAL)
    mode, model = bot.resolve("auto")
    assert mode is Mode.LLM and model == bot.settings.chat_model and model != Settings().chat_model


@pytest.mark.parametrize(("settings", "mode"), [({}, "llm"), ({}, Mode.LLM), ({"answer_mode": "llm"}, None),
                                                ({"answer_mode": "llm"}, "auto")])
def test_llm_without_a_model_is_the_one_error(bot_with, settings, mode):
    bot = bot_with(**settings)
    with pytest.raises(NoLLMError) as caught:
        bot.resolve(mode, "gpt-4.1")
    message = str(caught.value)
    assert all(what in message for what in ("OPENAI_API_KEY", "PAPERBOT_LOCAL_MODEL", "extractive"))
    # A dry run plans the LLM prompts without sending them: it needs no API.
    assert bot.resolve(mode, "gpt-4.1", planning=True) == (Mode.LLM, "gpt-4.1")


def test_an_unknown_mode_names_the_known_ones(bot_with):
    with pytest.raises(ConfigError, match="unknown mode 'poetry'; use auto, llm, extractive"):
        bot_with().resolve("poetry")


def test_every_use_case_goes_through_resolve(bot_with):
    bot = bot_with()
    runs = {
        "ask": lambda: bot.ask("Which papers evict the KV cache?", mode="llm"),
        "ask_stream": lambda: list(bot.ask_stream("Which papers evict the KV cache?", mode="llm")),
        "summarize": lambda: bot.summarize("kv-paper", mode="llm"),
        "digest": lambda: bot.digest(["kv-paper"], mode="llm"),
        "compare": lambda: bot.compare(["kv-paper", "kv-paper"], mode="llm"),
    }
    for name, run in runs.items():
        with pytest.raises(NoLLMError):
            run()
        assert "chroma" not in {p.name for p in bot.settings.data_dir.iterdir()}, name  # refused before any search


def test_results_record_the_mode_that_ran(bot_with):
    summary = bot_with().summarize("kv-paper", mode="auto")
    assert summary.mode is Mode.EXTRACTIVE and summary.model is None


def test_the_evals_resolve_their_modes_the_same_way(no_llm_env):
    from evals.run import answer_modes

    assert answer_modes("auto, extractive", Settings(_env_file=None)) == ["extractive"]
    assert answer_modes("extractive,llm,auto", Settings(_env_file=None, **API)) == ["extractive", "llm"]
    with pytest.raises(NoLLMError):
        answer_modes("extractive,llm", Settings(_env_file=None))
    with pytest.raises(ConfigError, match="unknown mode 'sparse'"):
        answer_modes("sparse", Settings(_env_file=None))


def test_the_command_line_accepts_auto_and_gives_the_one_error(catalog_dir, no_llm_env, monkeypatch, capsys):
    def run(*args: str) -> tuple[int, str]:
        monkeypatch.setattr(sys, "argv", ["paperbot", "--data-dir", str(catalog_dir), *args])
        try:
            main()
        except SystemExit as exc:
            return int(exc.code or 0), capsys.readouterr().err
        return 0, capsys.readouterr().err

    code, err = run("summarize", "kv-paper", "--mode", "llm")
    assert code == 1 and str(NoLLMError()) in " ".join(err.split())
    code, err = run("summarize", "kv-paper", "--mode", "auto", "--json")
    assert code == 0, err
    code, err = run("compare", "kv-paper", "kv-paper", "--mode", "poetry")
    assert code == 2 and "'poetry' is not one of 'auto', 'llm', 'extractive'" in err


def _commands(group, prefix: str = "") -> dict:
    found = {}
    for name, command in group.commands.items():
        if hasattr(command, "commands"):  # a group (typer runs its own copy of click)
            found.update(_commands(command, f"{prefix}{name} "))
        else:
            found[prefix + name] = command
    return found


# The same flag for another thing: retrieval modes, a list of answer modes to evaluate, a GGUF file.
OTHER_MEANINGS = {("search", "--mode"), ("eval", "--mode"), ("llm serve", "--model")}


def test_every_command_uses_the_shared_options():
    shared = {"--json": options.AsJson, "--mode": options.AnswerMode, "--model": options.ChatModel}
    expected = {flag: typing.get_args(alias)[1].help for flag, alias in shared.items()}
    commands = _commands(typer.main.get_command(app))
    seen = {flag: [] for flag in shared}
    for name, command in commands.items():
        for param in command.params:
            for flag in set(param.opts) & set(shared):
                if (name, flag) in OTHER_MEANINGS:
                    continue
                assert param.help == expected[flag], (name, flag, param.help)
                seen[flag].append(name)
    assert set(seen["--mode"]) == set(seen["--model"]) == {"ask", "summarize", "digest", "compare"}
    assert {"ingest", "papers", "show", "search", "stats", "doctor"} <= set(seen["--json"])
    for name in seen["--mode"]:  # typed: the choices are the enum's values, in its order
        help_text = CliRunner().invoke(app, [*name.split(), "--help"], terminal_width=200).output
        assert "--mode <auto|llm|extractive>" in help_text, name
