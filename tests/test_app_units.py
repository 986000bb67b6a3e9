"""The chat app's parts without a server: escaping, upload checks, conversation export, feedback, auth, handlers."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

gr = pytest.importorskip("gradio")

from paperbot.app.conversation import FeedbackLog, Turn, chat_messages, export_markdown, history_messages  # noqa: E402
from paperbot.app.server import exposure_warning, parse_auth  # noqa: E402
from paperbot.app.uploads import UploadLimits, check_uploads  # noqa: E402
from paperbot.app.views import (  # noqa: E402
    answer_markdown,
    digest_html,
    esc,
    md,
    paper_html,
    redact_url,
    safe_url,
    turn_sources_html,
)
from paperbot.errors import ConfigError  # noqa: E402
from paperbot.types import Answer, Citation, Evidence, Paper, SentenceSupport  # noqa: E402
from tests.app_helpers import DRAFT_QUESTION  # noqa: E402

XSS = '<img src=x onerror=alert(1)>'


def _answer(title: str = "Draft & verify", text: str = "Drafts are verified in parallel. [P1]") -> Answer:
    evidence = Evidence("P1", "paper-1", title, "javascript:alert(1)", 2023,
                        ("We study decoding.", "Drafts are verified in parallel."), 1, 0.9)
    return Answer(
        question="q", text=text, mode="extractive", model=None, search_query="q",
        citations=(Citation("P1", "paper-1", title, "javascript:alert(1)", 2023),),
        sentences=(SentenceSupport("Drafts are verified in parallel. [P1]", ("P1",), 1.0, True),),
        evidence=(evidence,), abstained=False,
    )


def test_markdown_escaping_shows_markup_literally():
    assert "<" not in md(XSS) and "&lt;img" in md(XSS)
    assert md("*bold* [link](javascript:x) $x$ = 2") == r"\*bold\* \[link\]\(javascript:x\) \$x\$ \= 2"
    assert md("1. not a list\n# not a heading") == "1\\. not a list\n\\# not a heading"
    assert md("code at https://github.com/a_b/c.") == "code at <https://github.com/a_b/c>.", "URLs stay links"


def test_answer_message_links_keys_to_the_sources_panel_and_escapes_text():
    message = answer_markdown(_answer(text=f"{XSS} is cited. [P1]"), turn=3)
    assert "[P1](#pb-src-3-P1)" in message
    assert "<img" not in message and "&lt;img" in message
    assert "extractive" in message.lower()


def test_sources_panel_escapes_titles_highlights_cited_sentences_and_flags_support():
    block = turn_sources_html(3, "why?", _answer(title=XSS), None, open_=True)
    assert 'id="pb-src-3-P1"' in block
    assert "<img" not in block and esc(XSS) in block
    assert "<mark>Drafts are verified in parallel.</mark>" in block and "<mark>We study" not in block
    assert "quoted" in block and "supported 1.00" not in block, "an extractive sentence is the paper's own words"
    assert "javascript:" not in block, "only http(s) links are made clickable"


def test_cannot_answer_state_lists_nearest_papers():
    refused = Answer("q", "I cannot answer this from the provided papers.", "extractive", None, "q", (), (), (),
                     abstained=True, nearest_papers=(Citation("", "near-1", XSS, None, 2022),))
    message = answer_markdown(refused, 0)
    assert "Cannot answer" in message and "near\\-1" in message and "<img" not in message
    assert "Nearest papers" in turn_sources_html(0, "q", refused, None, open_=True)


def test_urls_shown_are_safe_and_credential_free():
    assert safe_url("javascript:alert(1)") is None and safe_url("https://arxiv.org/abs/1") == "https://arxiv.org/abs/1"
    assert redact_url("http://user:pw@10.0.0.2:8000/v1") == "http://***@10.0.0.2:8000/v1"
    assert "pw" not in redact_url("http://user:pw@10.0.0.2:8000/v1")


def test_paper_view_escapes_everything():
    paper = Paper("x<y>", XSS, f"Abstract {XSS}.", authors=("<b>A</b>",), url="javascript:alert(1)")
    page = paper_html(paper)
    assert "<img" not in page and "<b>A" not in page and 'href="javascript' not in page


def test_uploads_are_checked_before_parsing(tmp_path):
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps({"title": "T", "abstract": "A."}) + "\n")
    exe = tmp_path / "tool.exe"
    exe.write_bytes(b"MZ\x90\x00")
    fake_pdf = tmp_path / "paper.pdf"
    fake_pdf.write_text("not a pdf")
    binary = tmp_path / "data.jsonl"
    binary.write_bytes(b"\x00\x01\x02")
    big = tmp_path / "big.txt"
    big.write_text("x" * 2048)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    check = check_uploads([good, exe, fake_pdf, binary, big, empty], UploadLimits(max_file_bytes=1024, max_files=10))
    assert check.accepted == [good]
    reasons = dict(check.rejected)
    assert "unsupported file type .exe" in reasons["tool.exe"]
    assert "not a PDF" in reasons["paper.pdf"]
    assert "not UTF-8 text" in reasons["data.jsonl"]
    assert "limit per file" in reasons["big.txt"]
    assert "empty" in reasons["empty.csv"]
    too_many = check_uploads([good] * 3, UploadLimits(max_files=2))
    assert len(too_many.accepted) == 2 and "more than 2 files" in too_many.rejected[0][1]


def test_conversation_history_export_and_chat_messages():
    turns = [Turn("first?", answer=_answer()), Turn("second?", error="The language model did not answer: 500")]
    assert history_messages(turns) == [{"role": "user", "content": "first?"},
                                       {"role": "assistant", "content": "Drafts are verified in parallel. [P1]"}]
    messages = chat_messages(turns)
    assert len(messages) == 4 and "No answer" in messages[3]["content"]
    exported = export_markdown(turns, store="/store")
    assert "## Q1. first?" in exported and "- [P1] Draft & verify (2023) — paper-1" in exported
    assert "No answer: The language model did not answer" in exported


def test_feedback_is_appended_as_json_lines(tmp_path):
    log = FeedbackLog(tmp_path / "fb" / "feedback.jsonl")
    log.record(Turn("first?", answer=_answer()), "up")
    log.record(Turn("first?", answer=_answer()), "down")
    lines = [json.loads(line) for line in (tmp_path / "fb" / "feedback.jsonl").read_text().splitlines()]
    assert [entry["rating"] for entry in lines] == ["up", "down"]
    assert lines[0]["question"] == "first?" and lines[0]["sources"][0]["paper_id"] == "paper-1"


def test_auth_parsing_and_exposure_warning():
    assert parse_auth("ann:pa:ss") == ("ann", "pa:ss")
    assert parse_auth(None) is None
    with pytest.raises(ConfigError):
        parse_auth("no-colon")
    assert exposure_warning("127.0.0.1", None) is None and exposure_warning("localhost", None) is None
    assert "without --auth" in exposure_warning("0.0.0.0", None)
    assert exposure_warning("0.0.0.0", ("a", "b")) is None


@pytest.mark.slow
def test_chat_handler_streams_then_links_sources(demo_bot, tmp_path):
    from paperbot.app.chat import Chat
    from paperbot.app.tab_settings import TabSettings

    chat = Chat(demo_bot, FeedbackLog(tmp_path / "feedback.jsonl"), tmp_path)
    tab = TabSettings("extractive", "unused", 5, 0.1)
    updates = list(chat.ask(DRAFT_QUESTION, [], tab))
    assert updates[0][0][-1]["content"] == "*Searching the papers…*", "the question shows at once"
    assert updates[0][1] == "", "the question box is emptied when the question is taken"
    assert all(update[1] == gr.skip() for update in updates[1:]), "and then left alone: a next question may be typed"
    messages, _, turns, panel = updates[-1]
    assert len(turns) == 1 and turns[0].answer.citations
    assert re.search(r"\[P1\]\(#pb-src-0-P1\)", messages[-1]["content"])
    assert 'id="pb-src-0-P1"' in panel and "Speculative" in panel
    download = chat.export(turns)
    assert download["visible"] and "References:" in Path(download["value"]).read_text(encoding="utf-8")


@pytest.mark.slow
def test_chat_handler_turns_llm_failures_into_a_message(make_bot, demo_store, fake_openai, tmp_path):
    from paperbot.app.chat import Chat
    from paperbot.app.tab_settings import TabSettings
    from tests.fake_openai import status

    bot = make_bot(data_dir=demo_store, openai_api_key=fake_openai.api_key, openai_base_url=fake_openai.base_url,
                   chat_model="fake-chat", max_attempts=2, retry_base_seconds=0.01)
    chat = Chat(bot, FeedbackLog(tmp_path / "feedback.jsonl"), tmp_path)
    fake_openai.script(*[status(500, path="chat/completions")] * 2)
    *_, (messages, _, turns, panel) = chat.ask(DRAFT_QUESTION, [], TabSettings("llm", "fake-chat", 5, 0.1))
    assert turns[0].error and turns[0].error.startswith("The language model did not answer")
    assert "No answer" in messages[-1]["content"] and "Traceback" not in messages[-1]["content"]
    assert fake_openai.api_key not in messages[-1]["content"] + panel
    fake_openai.responder = "Drafts are verified in parallel [P1]."
    *_, (messages, _, turns, _) = chat.ask(DRAFT_QUESTION, turns, TabSettings("llm", "fake-chat", 5, 0.1))
    assert turns[1].answer is not None and "[P1](#pb-src-1-P1)" in messages[-1]["content"], "the chat goes on"


@pytest.mark.slow
def test_clearing_the_chat_stops_that_sessions_answer_and_ends_it_on_the_empty_chat(make_bot, demo_store,
                                                                                      fake_openai, tmp_path):
    from types import SimpleNamespace

    from paperbot.app.chat import Chat
    from paperbot.app.tab_settings import TabSettings
    from tests.fake_openai import drip

    bot = make_bot(data_dir=demo_store, openai_api_key=fake_openai.api_key, openai_base_url=fake_openai.base_url,
                   chat_model="fake-chat", max_attempts=1)
    chat = Chat(bot, FeedbackLog(tmp_path / "feedback.jsonl"), tmp_path)
    fake_openai.script(drip(0.2, path="chat/completions"))  # an answer that would never end
    this, other = SimpleNamespace(session_hash="tab-1"), SimpleNamespace(session_hash="tab-2")
    answer = chat.ask(DRAFT_QUESTION, [], TabSettings("llm", "fake-chat", 5, 0.1), this)
    next(answer), next(answer)  # the question, then the first streamed words
    chat.clear(other)  # another tab's clear is not this one's
    assert next(answer)[0][-1]["content"].endswith("▍"), "still streaming"
    chat.clear(this)
    rest = list(answer)  # ends: it does not wait for the model
    assert rest == [([], gr.skip(), [], rest[-1][3])] and 'id="pb-src' not in rest[-1][3]
    streamed = fake_openai.requests_to("chat/completions")[-1]  # the fake notices the close at its next word
    assert streamed.wait_ended(10), "the model's stream was closed, not left running"


@pytest.mark.slow
def test_ingest_handler_checks_files_reports_progress_and_skips_with_reasons(make_bot, tmp_path):
    from paperbot.app.library import Library
    from paperbot.app.uploads import UploadLimits

    upload = tmp_path / "upload" / "papers.jsonl"
    upload.parent.mkdir()
    records = [{"id": f"p{i}", "title": f"Paper {i} on pruning", "abstract": f"We prune {i} layers. It is faster."}
               for i in range(3)] + [{"id": "bad", "title": "No abstract"}]
    upload.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    exe = tmp_path / "upload" / "tool.exe"
    exe.write_bytes(b"MZ")
    bot = make_bot()
    steps: list[tuple] = []
    html = Library(bot, UploadLimits()).ingest([str(upload), str(exe)],
                                                lambda value, **kw: steps.append((value, kw.get("desc"))))
    assert "<b>3</b> added" in html and "<b>2</b> skipped" in html
    assert "papers.jsonl:4" in html and "empty abstract" in html, "the bad record, by file and line, and why"
    assert "tool.exe" in html and "unsupported file type .exe" in html
    assert str(tmp_path) not in html, "uploads are named by file, not by their temp folder"
    assert ((3, 3), "embedding papers") in steps, "progress reaches every paper"
    assert {p.id for p in bot.papers()} == {"p0", "p1", "p2"}


def test_llm_sentences_keep_their_support_score_and_extractive_ones_say_quoted():
    from dataclasses import replace

    llm = replace(_answer(), mode="llm", model="m")
    assert "supported 1.00" in turn_sources_html(0, "q", llm, None, open_=True)
    assert "quoted" in turn_sources_html(0, "q", _answer(), None, open_=True)


def test_paper_view_shows_the_abstract_only_when_asked_and_ids_alone_may_break_anywhere():
    from paperbot.app.assets import CSS

    paper = Paper("a-very-long-paper-id-0123456789abcdef", "T", "The abstract once.", authors=("Woosuk Kwon",
                  "Zhuohan Li"), url="https://doi.org/10.1/x")
    assert "The abstract once." in paper_html(paper)
    header = paper_html(paper, abstract=False)
    assert "The abstract once." not in header and "Woosuk Kwon; Zhuohan Li" in header
    assert '<span class="pb-id">a-very-long-paper-id-0123456789abcdef</span>' in header
    assert "break-all" not in CSS and ".pb-id { overflow-wrap: anywhere; }" in CSS


def test_digest_heading_counts_in_words():
    from paperbot.summary_types import Digest, DigestPaper, DigestPlan, Theme

    plan = DigestPlan("extractive", None, 0, 1, 1, (), None)
    one = Digest(query="KV cache", papers=(DigestPaper("P1", "p-1", "One", None, None),), themes=(
        Theme("Eviction", ("kv",), "A paragraph. [P1]", ("P1",)),), mode="extractive", model=None, plan=plan)
    assert "1 paper matching “KV cache” in 1 theme<" in digest_html(one)


def test_a_sentence_only_an_off_question_paper_states_is_flagged_naming_that_paper():
    from dataclasses import replace

    from paperbot.types import AttributionSummary

    flagged = SentenceSupport("Drafts are verified in parallel. [P1]", ("P1",), 0.1, False, model_keys=("P1",),
                              origin="unsupported", alternatives=("P2",), off_question=True)
    plain = replace(flagged, alternatives=(), off_question=False)
    checked = AttributionSummary(scorer="lexical", unsupported_policy="flag", unsupported=1, model_keys=("P1",))

    def shown(item: SentenceSupport) -> tuple[str, str]:
        answer = replace(_answer(), mode="llm", model="m", sentences=(item,), attribution=checked)
        return answer_markdown(answer, turn=0), turn_sources_html(0, "q", answer, None, open_=True)

    message, sources = shown(flagged)
    assert "only P2 states this, a paper the question is not about" in message
    assert "off the question: only P2 states it" in sources and "no paper supports" not in message
    message, sources = shown(plain)
    assert "no paper supports this" in message and "unsupported 0.10" in sources


def test_session_marks_tell_a_stale_result_per_session_and_forget_the_oldest_sessions():
    from paperbot.app.session_marks import SessionMarks

    picked = SessionMarks(sessions=2)
    assert picked.is_current("tab-a", "p1"), "nothing marked yet: nothing is stale"
    picked.mark("tab-a", "p1")
    picked.mark("tab-b", "p9")
    picked.mark("tab-a", "p2")  # tab a moved on while p1's summary was being written
    assert not picked.is_current("tab-a", "p1") and picked.is_current("tab-a", "p2")
    assert picked.is_current("tab-b", "p9") and not picked.is_current("tab-b", "p2"), "each tab has its own mark"
    picked.mark("tab-c", "p3")  # a third session: the least recent one (b) is forgotten
    assert picked.is_current("tab-b", "p2") and picked.get("tab-b") is None and picked.get("tab-a") == "p2"
