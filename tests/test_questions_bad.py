"""Bad questions: empty ones are refused with a clear message; control characters, bidi overrides and lone surrogates
never reach the search or the model; 100 KB questions are cut to Settings.max_question_chars, within the prompt budget.
Checked in the use case, the facade (extractive and LLM against the fake server), the CLI and the app's API."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paperbot.errors import QuestionError
from paperbot.text.questions import clean_question

QUESTION = "Which method keeps only heavy-hitter tokens in the KV cache?"
LONG = (QUESTION + " ") * 1700  # about 105 KB
HOSTILE = "Which\x00 method\x1b[31m keeps \u202eheavy\u202c-hitter\u200b tokens\ud800 in the KV\x7f cache?\u2066"
INVISIBLE = {"Cc", "Cf", "Cs", "Co"}


def _invisible(text: str) -> list[str]:
    return [c for c in text if unicodedata.category(c) in INVISIBLE and c not in " \n"]


# --- the rule itself ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("raw", ["", "   ", "\n\t\r", "\x00\x01\x02", "\u202e\u200b\ufeff", "\ud800\udfff"])
def test_empty_questions_are_refused_with_a_clear_message(raw: str) -> None:
    with pytest.raises(QuestionError, match="the question is empty"):
        clean_question(raw, 1000)


def test_control_and_format_characters_are_removed() -> None:
    cleaned = clean_question(HOSTILE, 1000)
    assert cleaned.text == "Which method keeps heavy-hitter tokens in the KV cache?"
    assert not cleaned.truncated


def test_a_long_question_is_cut_at_a_word_boundary() -> None:
    cleaned = clean_question(LONG, 1000)
    assert cleaned.truncated and cleaned.original_chars == len(LONG)
    assert 500 < len(cleaned.text) <= 1000 and LONG.startswith(cleaned.text)
    assert LONG[len(cleaned.text)] == " ", "the last word is whole"
    one_word = clean_question("x" * 5000, 1000)
    assert one_word.text == "x" * 1000 and one_word.truncated


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(raw=st.text(alphabet=st.characters(codec=None), max_size=3000), limit=st.integers(20, 2000))
def test_any_text_is_refused_or_comes_out_visible_and_short(raw: str, limit: int) -> None:
    try:
        cleaned = clean_question(raw, limit)
    except QuestionError as exc:
        assert "empty" in str(exc)
        assert not raw.strip() or not [c for c in raw if not c.isspace() and unicodedata.category(c) not in INVISIBLE]
        return
    assert cleaned.text and len(cleaned.text) <= limit and not _invisible(cleaned.text)
    assert cleaned.text == cleaned.text.strip() and "  " not in cleaned.text
    cleaned.text.encode("utf-8")  # no lone surrogate left to break a JSON request body


# --- through PaperBot, extractive ---------------------------------------------------------------------------------
def test_bot_refuses_empty_questions_before_searching(demo_bot) -> None:
    for raw in ("", "  \n ", "\x00\u202e"):
        with pytest.raises(QuestionError):
            demo_bot.ask(raw, mode="extractive")
        with pytest.raises(QuestionError):
            list(demo_bot.ask_stream(raw, mode="extractive"))
        with pytest.raises(QuestionError):
            demo_bot.search(raw)


def test_bot_searches_the_cleaned_question(demo_bot) -> None:
    answer = demo_bot.ask(HOSTILE, mode="extractive")
    assert answer.question == answer.search_query == "Which method keeps heavy-hitter tokens in the KV cache?"
    assert not answer.abstained and answer.citations and not answer.question_truncated
    assert demo_bot.search(HOSTILE, k=3)[0].paper_id == demo_bot.search(answer.question, k=3)[0].paper_id


def test_bot_answers_a_100kb_question_cut_to_the_limit(demo_bot) -> None:
    response = demo_bot.ask_stream(LONG, mode="extractive")
    deltas, answer = list(response), response.answer()
    limit = demo_bot.settings.max_question_chars
    assert answer.question_truncated and len(answer.question) <= limit and len(answer.search_query) <= limit
    assert "".join(deltas) == answer.text and answer.citations
    assert len(demo_bot.search(LONG, k=2)) == 2

    import io

    from rich.console import Console

    from paperbot.cli.render_answers import print_answer

    printed = io.StringIO()
    print_answer(Console(file=printed, width=200), answer, as_json=False, streamed=False)
    assert f"The question was cut to its first {len(answer.question)} characters" in printed.getvalue()


# --- through PaperBot, LLM against the fake server ----------------------------------------------------------------
@pytest.fixture
def llm_bot(make_bot, demo_store, fake_openai):
    return make_bot(data_dir=demo_store, openai_api_key=fake_openai.api_key, openai_base_url=fake_openai.base_url,
                    chat_model="fake-chat", retry_base_seconds=0.01)


def _cites_first_source(request: dict) -> str:
    keys = re.findall(r'<source key="(P\d+)"', request["messages"][-1]["content"])
    return f"H2O keeps heavy-hitter tokens in the KV cache [{keys[0]}]." if keys else "no sources"


def test_llm_request_carries_the_cleaned_question_within_the_token_budget(llm_bot, fake_openai) -> None:
    from paperbot.llm.pricing import prompt_limit
    from paperbot.llm.tokens import count_messages

    fake_openai.responder = _cites_first_source
    answer = llm_bot.ask(LONG + HOSTILE)
    request = fake_openai.requests_to("chat/completions")[-1]
    user = request.messages[-1]["content"]
    question = user.split("Question: ", 1)[1].split("\n", 1)[0]
    assert answer.question_truncated and question == answer.question and LONG.startswith(question)
    assert len(question) <= llm_bot.settings.max_question_chars
    assert count_messages(request.messages, llm_bot.llm_counter) <= prompt_limit(llm_bot.settings, "fake-chat")
    assert "<source key=" in user, "a long question still leaves room for the sources"
    assert answer.citations and not answer.abstained

    answer = llm_bot.ask(HOSTILE)
    body = json.dumps(fake_openai.requests_to("chat/completions")[-1].body)
    sent = " ".join(m["content"] for m in fake_openai.requests_to("chat/completions")[-1].messages)
    assert "Which method keeps heavy-hitter tokens in the KV cache?" in sent and not _invisible(sent)
    assert "\\u0000" not in body and "\\u202e" not in body and "\\ud800" not in body


def test_llm_empty_question_sends_nothing(llm_bot, fake_openai) -> None:
    for raw in ("", "\x00\x00", "\u200b \u2066"):
        with pytest.raises(QuestionError):
            list(llm_bot.ask_stream(raw))
    assert fake_openai.requests_to("chat/completions") == []


# --- the CLI --------------------------------------------------------------------------------------------------------
def _cli(demo_store, models_dir, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env.update(PAPERBOT_DATA_DIR=str(demo_store), PAPERBOT_MODELS_DIR=str(models_dir))
    return subprocess.run([sys.executable, "-m", "paperbot", *args], env=env, capture_output=True, text=True,
                          timeout=300, check=False)


@pytest.mark.slow
def test_cli_refuses_an_empty_question_and_cuts_a_long_one(demo_store, models_dir) -> None:
    done = _cli(demo_store, models_dir, "ask", " \t\u202e\x1b[2J\x07 ")
    assert done.returncode == 1 and "question is empty" in done.stderr and "Traceback" not in done.stderr

    # 95 KB (a single argument may have 128 KB), with a terminal escape that must not reach the search.
    long = "\x1b[2J\u202e" + (QUESTION + " ") * 1500
    done = _cli(demo_store, models_dir, "ask", long, "--json")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["question_truncated"] and len(answer["question"]) <= 1000 and answer["citations"]
    assert answer["search_query"].startswith(QUESTION) and not _invisible(answer["search_query"])


# --- the app's API --------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_app_api_refuses_empty_questions_and_cuts_long_ones(demo_store, models_dir, embedder, tmp_path) -> None:
    pytest.importorskip("gradio_client")
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    from paperbot.bot import PaperBot
    from paperbot.config import Settings
    from tests.app_helpers import copy_store, start_app

    store = copy_store(demo_store, tmp_path / "store")
    bot = PaperBot(Settings(data_dir=store, models_dir=models_dir, openai_api_key=None, openai_base_url=None),
                   embedder=embedder)
    running = start_app(bot, tmp_path)
    try:
        client = Client(running.url, verbose=False, analytics_enabled=False, download_files=str(tmp_path))
        for raw in ("", "   ", "\x01\x02\u202e"):
            with pytest.raises(AppError, match="question|needs"):
                client.predict(raw, api_name="/ask")
            with pytest.raises(AppError, match="question|query|needs"):
                client.predict(raw, 3, api_name="/search")
        answer = client.predict(LONG, api_name="/ask")
        assert answer["question_truncated"] and len(answer["question"]) <= 1000 and answer["citations"]
        # A lone surrogate cannot even be sent as JSON; everything else invisible is.
        answer = client.predict(HOSTILE.replace("\ud800", ""), api_name="/ask")
        assert answer["question"] == "Which method keeps heavy-hitter tokens in the KV cache?"
        assert len(client.predict(LONG, 2, api_name="/search")) == 2
    finally:
        running.close()
