"""Attribution of LLM answers end to end: the real openai client against the real fake OpenAI server
(tests/fake_openai.py) scripted to answer without keys, with wrong keys or with invented facts, through ask,
ask_stream, the CLI and the app."""

from __future__ import annotations

import dataclasses
import html
import io
import json
import os
import re
import subprocess
import sys

import pytest

from paperbot.answer.citations import cited_keys
from paperbot.text.sentences import sentence_spans
from paperbot.types import Answer, AnswerTimings

QUESTION = "Which method keeps only heavy-hitter tokens in the KV cache?"
INVENTED = "Quantum gravity explains the thermal radiation of rotating black holes"
UNCITED_INVENTED = "The method was first deployed on a lunar base in 1969."
_SOURCE = re.compile(r'<source key="(P\d+)" title="[^"]*"[^>]*>\n(.*?)\n</source>', re.DOTALL)


def _sources(body: dict) -> dict[str, str]:
    return {key: html.unescape(text) for key, text in _SOURCE.findall(body["messages"][-1]["content"])}


def _claim(text: str) -> str:
    """The first sentence of a source with some substance, without its full stop: what a model would restate."""
    sentences = [text[a:b] for a, b in sentence_spans(text)]
    return next((s for s in sentences if len(s.split()) >= 8), sentences[0]).rstrip(".")


def scripted(style: str):
    """A responder writing about the first papers it is shown, citing them as `style` says; `.claims` holds, per
    request, each sentence it wrote with the key of the paper it restates."""

    def respond(body: dict) -> str:
        sources = _sources(body)
        keys = list(sources)
        (k1, s1), (k2, s2) = [(k, _claim(sources[k])) for k in keys[:2]]
        respond.claims = [(s1, k1), (s2, k2)]
        if style == "no keys":
            return f"{s1}. {s2}. In summary, both help."
        if style == "wrong keys":
            return f"{s1} [{keys[2]}]. {s2} [{k1}]."
        if style == "invented":
            return f"{s1} [{k1}]. {INVENTED} [{k2}]. {UNCITED_INVENTED}"
        raise AssertionError(style)

    respond.claims = []
    return respond


def assert_valid(answer: Answer) -> None:
    """Citation validity by construction: every key in the text was shown, and the citations are exactly those keys."""
    shown = {e.key for e in answer.evidence}
    in_text = cited_keys(answer.text)
    assert set(in_text) <= shown
    assert [c.key for c in answer.citations] == in_text
    kept = [s for s in answer.sentences if not s.dropped]
    assert set(in_text) == {k for s in kept for k in s.keys}


@pytest.fixture
def llm_bot(make_bot, demo_store, fake_openai):
    """The lexical scorer decides here (its threshold and margins are known); other scorers come in through the same
    seam (test_a_scorer_handed_to_the_answerer_decides)."""

    def make(**settings):
        return make_bot(data_dir=demo_store, openai_api_key=fake_openai.api_key, openai_base_url=fake_openai.base_url,
                        chat_model="fake-chat", retry_base_seconds=0.01, support_scorer="lexical", **settings)

    return make


def test_an_answer_without_keys_gets_the_right_keys_attributed(llm_bot, fake_openai) -> None:
    fake_openai.responder = respond = scripted("no keys")
    bot = llm_bot()
    response = bot.ask_stream(QUESTION)
    deltas, answer = list(response), response.answer()
    assert not answer.abstained and answer.mode == "llm"
    assert "".join(deltas).strip() == answer.raw_text and not cited_keys(answer.raw_text), "the model cited nothing"
    (s1, k1), (s2, k2) = respond.claims
    assert answer.text == f"{s1} [{k1}]. {s2} [{k2}]. In summary, both help."
    assert [(s.origin, s.model_keys, s.keys) for s in answer.sentences] == [
        ("attributed", (), (k1,)), ("attributed", (), (k2,)), ("no claim", (), ())]
    assert [c.key for c in answer.citations] == [k1, k2]
    summary = answer.attribution
    assert summary.scorer == bot.support_scorer.name and summary.attributed == 2 and summary.unsupported == 0
    assert summary.model_keys == () and summary.attributed_keys == (k1, k2)
    assert answer.timings.attribution_ms is not None, "the check's time is reported (evals measure it)"
    assert_valid(answer)


def test_wrong_keys_are_corrected(llm_bot, fake_openai) -> None:
    fake_openai.responder = respond = scripted("wrong keys")
    answer = llm_bot().ask(QUESTION)
    (s1, k1), (s2, k2) = respond.claims
    wrong = cited_keys(answer.raw_text)
    assert wrong[1] == k1 and wrong[0] not in (k1, k2), "the model cited another paper for each claim"
    assert answer.text == f"{s1} [{k1}]. {s2} [{k2}]."
    assert [(s.origin, s.model_keys, s.keys) for s in answer.sentences] == [
        ("corrected", (wrong[0],), (k1,)), ("corrected", (k1,), (k2,))]
    assert answer.attribution.corrected == 2 and answer.attribution.removed_keys == (wrong[0],)
    assert answer.attribution.attributed_keys == (k2,)
    assert_valid(answer)


def test_an_invented_fact_is_flagged_and_under_drop_removed(llm_bot, fake_openai) -> None:
    fake_openai.responder = respond = scripted("invented")
    flagged = llm_bot().ask(QUESTION)
    (s1, k1), (_, k2) = respond.claims
    assert flagged.text == flagged.raw_text, "flagging changes nothing in the text"
    assert [s.origin for s in flagged.sentences] == ["cited", "unsupported", "unsupported"]
    invented = flagged.sentences[1]
    assert INVENTED in invented.sentence and invented.keys == (k2,) and not invented.supported
    assert {s.sentence for s in flagged.unsupported_sentences} == {s.sentence for s in flagged.sentences[1:]}
    assert flagged.attribution.unsupported == 2 and flagged.attribution.dropped == 0
    assert_valid(flagged)

    dropped = llm_bot(unsupported="drop").ask(QUESTION)
    assert dropped.text == f"{s1} [{k1}]."
    assert INVENTED in dropped.raw_text and UNCITED_INVENTED in dropped.raw_text, "the model's own text is kept"
    assert [s.dropped for s in dropped.sentences] == [False, True, True] and dropped.attribution.dropped == 2
    assert [c.key for c in dropped.citations] == [k1], "a key only a dropped sentence cited is no citation"
    assert_valid(dropped)


def test_an_answer_whose_every_claim_is_dropped_abstains(llm_bot, fake_openai) -> None:
    fake_openai.responder = f"{INVENTED}. {UNCITED_INVENTED}"
    answer = llm_bot(unsupported="drop").ask(QUESTION)
    assert answer.abstained and answer.citations == () and answer.nearest_papers
    assert answer.text.startswith("I cannot answer this from the provided papers.")
    assert answer.attribution.dropped == 2
    assert_valid(answer)


def test_streamed_and_whole_answers_are_the_same(llm_bot, fake_openai) -> None:
    fake_openai.responder = scripted("wrong keys")
    bot = llm_bot()
    streamed = bot.ask_stream(QUESTION).answer()
    whole = bot.ask(QUESTION)

    def untimed(answer: Answer) -> Answer:
        return dataclasses.replace(answer, timings=AnswerTimings())

    assert untimed(streamed) == untimed(whole)
    assert streamed.attribution.corrected == 2


def test_invalid_keys_are_removed_before_attribution_and_validity_holds(llm_bot, fake_openai) -> None:
    def respond(body: dict) -> str:
        sources = _sources(body)
        key = next(iter(sources))
        return f"{_claim(sources[key])} [P42]. {_claim(sources[key])} [{key}, P99]."

    fake_openai.responder = respond
    answer = llm_bot().ask(QUESTION)
    assert answer.invalid_keys_removed == 2 and "P42" not in answer.text and "P99" not in answer.raw_text
    first = answer.sentences[0]
    assert first.origin == "attributed" and first.model_keys == ()
    assert_valid(answer)


def test_a_scorer_handed_to_the_answerer_decides(llm_bot, fake_openai) -> None:
    """The seam the learned scorer uses: any SupportScorer passed as support_scorer= makes the decisions and is named
    on the Answer."""
    from paperbot.answer.answerer import AnswerConfig, Answerer

    class Says:
        """Deterministic: the claim is supported by exactly the paper whose title comes first in the sources."""

        name = "fake-learned"
        threshold = 0.5

        def __init__(self, title: str) -> None:
            self.title = title

        def score(self, claims, sources):
            return [0.95 if group and group[0] == self.title else 0.1 for group in sources]

    fake_openai.responder = f"{INVENTED}."
    bot = llm_bot()
    prepared = bot.prepare(QUESTION)
    third = prepared.evidence[2]
    answerer = Answerer(tools=bot.language_tools("llm"), retriever=bot.retriever,
                        config=AnswerConfig.from_settings(bot.settings, focused=False), support_scorer=Says(third.title))
    answer = answerer.ask(QUESTION)
    assert answer.attribution.scorer == "fake-learned"
    # The answer cites one paper, so it shows it as [P1] whatever key the prompt gave it.
    assert answer.key_for(third.key) == "P1" and answer.citations[0].paper_id == third.paper_id
    assert answer.text == f"{INVENTED} [{answer.key_for(third.key)}]." and answer.sentences[0].origin == "attributed"
    assert_valid(answer)


def test_the_default_scorer_slots_in_through_the_facade(make_bot, demo_store, fake_openai) -> None:
    """Whatever scorer the settings choose by default (the learned one when its model fits the embedder) is the one
    attribution asks, and it finds the papers a model restated without citing them."""
    bot = make_bot(data_dir=demo_store, openai_api_key=fake_openai.api_key, openai_base_url=fake_openai.base_url,
                   chat_model="fake-chat")
    fake_openai.responder = respond = scripted("no keys")
    answer = bot.ask(QUESTION)
    (s1, k1), (s2, k2) = respond.claims
    assert answer.attribution.scorer == bot.support_scorer.name
    assert answer.text == f"{s1} [{k1}]. {s2} [{k2}]. In summary, both help."
    assert_valid(answer)


def test_the_cli_and_the_app_show_what_the_check_changed(llm_bot, fake_openai) -> None:
    from rich.console import Console

    from paperbot.app.views import answer_markdown, turn_sources_html
    from paperbot.cli.render_answers import print_answer

    fake_openai.responder = respond = scripted("no keys")
    answer = llm_bot().ask(QUESTION)
    (_, k1), (_, k2) = respond.claims
    printed = io.StringIO()
    print_answer(Console(file=printed, width=300, soft_wrap=True), answer, as_json=False, streamed=True)
    shown = printed.getvalue()
    assert "Checked answer" in shown and answer.text in shown
    assert re.search(r"checked \([^)]+\): 2 keys attributed; 0 sentences kept the model's keys", shown)
    assert shown.count("key added:") == 2 and "(added by the check)" in shown

    message = answer_markdown(answer, 0)
    assert f'[{k1}⁺](#pb-src-0-{k1} "' in message and f"[{k2}⁺](#pb-src-0-{k2}" in message
    assert "2 keys attributed" in message
    panel = turn_sources_html(0, QUESTION, answer, None, open_=True)
    assert panel.count("key added") == 2 and f'id="pb-src-0-{k1}"' in panel

    fake_openai.responder = scripted("invented")
    flagged = llm_bot().ask(QUESTION)
    message = answer_markdown(flagged, 0)
    assert message.count("⚠ no paper supports this") == 2 and "2 sentences unsupported" in message


@pytest.fixture
def run(demo_store, models_dir):
    def run(*args: str, env: dict) -> subprocess.CompletedProcess:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "PAPERBOT_"))}
        full_env = {**base, "PAPERBOT_DATA_DIR": str(demo_store), "PAPERBOT_MODELS_DIR": str(models_dir), **env}
        return subprocess.run([sys.executable, "-m", "paperbot", *args], env=full_env, capture_output=True,
                              text=True, timeout=300)

    return run


@pytest.mark.slow
def test_paperbot_ask_prints_the_check_and_its_json_has_the_final_fields(run, fake_openai) -> None:
    fake_openai.responder = respond = scripted("no keys")
    env = {"OPENAI_BASE_URL": fake_openai.base_url, "OPENAI_API_KEY": fake_openai.api_key,
           "PAPERBOT_CHAT_MODEL": "fake-chat", "PAPERBOT_SUPPORT_SCORER": "lexical"}
    done = run("ask", QUESTION, env=env)
    assert done.returncode == 0, done.stderr
    (s1, k1), (s2, k2) = respond.claims
    streamed, checked = done.stdout.split("Checked answer", 1)
    assert s1 in streamed and not re.search(r"\[P\d+\]", streamed), "what streamed is the model's text"
    assert f"{s1} [{k1}]. {s2} [{k2}]." in checked
    assert re.search(r"checked \([^)]+\): 2 keys attributed", checked) and checked.count("key added:") == 2
    listed = re.findall(r"^\s+\[(P\d+)\] .*\(added by the check\)$", done.stdout, flags=re.M)
    assert listed == [k1, k2]

    as_json = run("ask", QUESTION, "--json", env={**env, "PAPERBOT_UNSUPPORTED": "drop"})
    assert as_json.returncode == 0, as_json.stderr
    data = json.loads(as_json.stdout)
    assert data["text"] == f"{s1} [{k1}]. {s2} [{k2}]. In summary, both help."
    assert data["raw_text"] == f"{s1}. {s2}. In summary, both help."
    assert data["attribution"]["attributed_keys"] == [k1, k2] and data["attribution"]["model_keys"] == []
    assert data["attribution"]["unsupported_policy"] == "drop"
    assert [[s["origin"], s["model_keys"], s["keys"]] for s in data["sentences"]] == [
        ["attributed", [], [k1]], ["attributed", [], [k2]], ["no claim", [], []]]
    assert [c["key"] for c in data["citations"]] == [k1, k2]


@pytest.mark.slow
def test_the_app_api_returns_the_checked_answer(demo_store, models_dir, embedder, tmp_path) -> None:
    pytest.importorskip("gradio_client")
    from gradio_client import Client

    from paperbot.bot import PaperBot
    from paperbot.config import Settings
    from tests.app_helpers import copy_store, start_app
    from tests.fake_openai import FakeOpenAI

    respond = scripted("wrong keys")
    with FakeOpenAI(responder=respond) as fake:
        bot = PaperBot(Settings(data_dir=copy_store(demo_store, tmp_path / "store"), models_dir=models_dir,
                                openai_api_key=fake.api_key, openai_base_url=fake.base_url, chat_model="fake-chat",
                                max_attempts=2, retry_base_seconds=0.01, support_scorer="lexical"),
                       embedder=embedder)
        running = start_app(bot, tmp_path)
        try:
            client = Client(running.url, verbose=False, analytics_enabled=False, download_files=str(tmp_path / "dl"))
            data = client.predict(QUESTION, api_name="/ask", mode="llm")
        finally:
            running.close()
    (s1, k1), (s2, k2) = respond.claims
    assert data["text"] == f"{s1} [{k1}]. {s2} [{k2}]."
    assert cited_keys(data["raw_text"])[1] == k1
    assert [s["origin"] for s in data["sentences"]] == ["corrected", "corrected"]
    assert data["attribution"]["corrected"] == 2 and [c["key"] for c in data["citations"]] == [k1, k2]
