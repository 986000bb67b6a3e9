"""The chat app in a real Chromium (Playwright): answers, sources, papers, uploads, digests, safety."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest

playwright_api = pytest.importorskip("playwright.sync_api")
from playwright.sync_api import Page, expect  # noqa: E402

from tests.app_helpers import (  # noqa: E402
    DRAFT_QUESTION,
    SlowStreamOpenAI,
    llm_app,
)
from tests.fake_openai import status  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCREENSHOTS = Path(__file__).resolve().parents[1] / "test-output" / "screenshots"
XSS_TITLE = "<img src=x onerror=alert(1)> Sparse Lattice Decoding for Tiny Devices"
TIMEOUT = 120_000  # ms; a shared 2-core machine can be slow, and waiting is not what these tests measure


@pytest.fixture(scope="module")
def app(tmp_path_factory, demo_store, models_dir, embedder):
    """The app over a copy of the demo store, answering with an LLM (a local fake that cites what it is shown)."""
    root = tmp_path_factory.mktemp("browser-app")
    with llm_app(root, demo_store, models_dir, embedder, SlowStreamOpenAI) as (fake, running):
        yield {"url": running.url, "fake": fake, "root": root}


@pytest.fixture
def page(browser, app):
    """A fresh browser tab on the app; records every request and every dialog, and checks both afterwards."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT)
    expect.set_options(timeout=TIMEOUT)  # assertions wait on their own clock (5 s by default), not the page's
    requests: list[str] = []
    dialogs: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(app["url"])
    expect(page.locator("#pb-question textarea")).to_be_visible()
    yield page
    expect.set_options(timeout=5_000)  # Playwright's default, for the other modules
    context.close()
    assert dialogs == [], "no script from the data ran (an alert would show as a dialog)"
    outside = {urlsplit(u).hostname for u in requests if urlsplit(u).scheme in ("http", "https", "ws", "wss")}
    assert outside <= {"127.0.0.1"}, f"requests left 127.0.0.1: {outside}"


def _bot_messages(page: Page):
    return page.locator("#pb-chat [data-testid='bot']")


def _ask(page: Page, question: str) -> None:
    box = page.locator("#pb-question textarea")
    box.fill(question)
    box.press("Enter")


def _last_answer(page: Page):
    return _bot_messages(page).last


def _extractive(page: Page) -> None:
    """Answer, summarise and digest without the LLM in this tab (the fake LLM writes prose, not JSON)."""
    page.get_by_role("tab", name="Settings").click()
    page.get_by_label("Extractive (no LLM)").check()
    page.get_by_role("tab", name="Chat").click()
    expect(page.get_by_text("Answering with extractive")).to_be_visible()


def _paper_cell(page: Page, title: str):
    """The papers table's cell with this title. Not get_by_text: while the table re-renders, Gradio keeps a hidden
    copy of its rows (a plain <table>, to measure column widths) that holds the same text."""
    return page.locator("#pb-papers [role=gridcell]").filter(has_text=title)


def _finished(page: Page, count: int) -> None:
    """Wait until `count` answers are in the chat and the last has its footer (the stream is over)."""
    expect(_bot_messages(page)).to_have_count(count)
    expect(_last_answer(page).locator("sub")).to_be_visible()


def test_question_streams_a_cited_answer_and_a_citation_opens_its_source(page, app):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    seen: list[str] = []
    _ask(page, DRAFT_QUESTION)
    # Watch the answer grow: partial states carry a cursor, and each is a prefix of what follows.
    for _ in range(600):
        if _bot_messages(page).count():
            text = _last_answer(page).inner_text()
            if not seen or text != seen[-1]:
                seen.append(text)
            if "▍" not in text and "Searching" not in text and seen and len(seen) > 2:
                break
        page.wait_for_timeout(50)
    partial = [s for s in seen if "▍" in s]
    assert len(partial) >= 2, f"the answer was streamed, not shown at once: {seen[:5]}"
    _finished(page, 1)
    answer = _last_answer(page)
    expect(answer).to_contain_text("[P1]")
    expect(answer).to_contain_text("fake-chat")  # footer: the LLM model, tokens, cost, latency
    link = answer.locator('a[href$="#pb-src-0-P1"]')
    expect(link).to_be_visible()
    link.click()
    card = page.locator("#pb-src-0-P1")
    expect(card).to_be_visible()
    expect(card).to_have_class(re.compile(r"\bpb-active\b"))
    expect(card.locator("mark")).not_to_have_count(0)  # the sentence the answer rests on is highlighted
    expect(page.locator("#pb-sources-panel .pb-flag").first).to_contain_text("supported")
    assert len(page.context.pages) == 1, "a citation click stays on this page, no new tab"
    page.screenshot(path=str(SCREENSHOTS / "chat.png"), full_page=True)


def test_follow_up_sends_the_conversation_and_feedback_and_export_work(page, app):
    fake = app["fake"]
    _ask(page, DRAFT_QUESTION)
    _finished(page, 1)
    before = len(fake.requests)
    _ask(page, "How much faster is it?")
    _finished(page, 2)
    sent = " ".join(m["content"] for r in fake.requests[before:] for m in r.messages)
    assert DRAFT_QUESTION in sent, "the follow-up carried the earlier question"
    expect(page.locator("#pb-src-1-P1")).to_be_attached()

    _last_answer(page).hover()
    page.locator("#pb-chat button[aria-label='Like']").last.click()
    feedback = app["root"] / "store" / "feedback.jsonl"  # beside the store, in its data dir
    expect(page.get_by_text("feedback saved")).to_be_visible()
    entry = json.loads(feedback.read_text().splitlines()[-1])
    assert entry["rating"] == "up" and entry["question"] == "How much faster is it?" and entry["sources"]

    page.locator("#pb-export").click()
    exported = _download(page, page.locator('#pb-export-file a[href$="/paperbot-conversation.md"]'))
    assert f"## Q1. {DRAFT_QUESTION}" in exported and "## Q2. How much faster is it?" in exported
    assert "References:" in exported and fake.api_key not in exported


def test_llm_failure_shows_a_readable_message_and_the_chat_goes_on(page, app):
    fake = app["fake"]
    fake.script(*[status(503, path="chat/completions")] * 2)
    _ask(page, DRAFT_QUESTION)
    expect(_bot_messages(page)).to_have_count(1)
    expect(_last_answer(page)).to_contain_text("The language model did not answer")
    expect(page.locator("body")).not_to_contain_text("Traceback")
    _ask(page, DRAFT_QUESTION)
    _finished(page, 2)
    expect(_last_answer(page)).to_contain_text("[P1]")


def test_a_question_sent_before_the_answer_ends_is_kept_and_asked_next(page, app):
    fake = app["fake"]
    fake.event_delay = 0.15  # this tab's first answer streams for several seconds
    try:
        before = len(fake.requests)
        box = page.locator("#pb-question textarea")
        _ask(page, DRAFT_QUESTION)
        expect(_last_answer(page)).to_contain_text("▍")
        _ask(page, "How much faster is it?")  # while the first answer is still coming
        page.wait_for_timeout(1_000)
        typed, streaming = box.input_value(), _last_answer(page).inner_text()
        assert "▍" in streaming, "the first answer was still streaming when this was checked"
        assert typed == "How much faster is it?", "the streamed answer did not wipe the next question"
        _finished(page, 2)
    finally:
        del fake.event_delay  # back to the class's pace, for the other tests
    expect(page.locator("#pb-chat [data-testid='user']").last).to_contain_text("How much faster is it?")
    expect(box).to_have_value("")
    sent = [" ".join(m["content"] for m in r.messages) for r in fake.requests[before:]]
    assert any("How much faster is it?" in text and DRAFT_QUESTION in text for text in sent), \
        "the second question was asked after the first answer ended, with the first in the conversation"


def test_new_conversation_while_an_answer_streams_stops_it_and_the_old_one_stays_gone(page, app):
    from tests.fake_openai import drip

    fake = app["fake"]
    fake.script(drip(0.5, path="chat/completions"))  # an answer that would go on for ever, a word each 0.5 s
    before = len(fake.requests)
    _ask(page, DRAFT_QUESTION)
    expect(_last_answer(page)).to_contain_text("▍")
    page.get_by_role("button", name="New conversation").click()
    expect(_bot_messages(page)).to_have_count(0)
    # The model's stream is closed, not left to run (the fake notices at its next word).
    assert fake.requests[before].wait_ended(60), "clearing the conversation stopped the answer's stream"
    page.wait_for_timeout(1_000)
    expect(_bot_messages(page)).to_have_count(0)  # and nothing of the stopped answer came back
    _ask(page, "How much faster is it?")
    _finished(page, 1)
    expect(page.locator("#pb-chat [data-testid='user']")).to_have_count(1)


def test_model_and_k_are_chosen_per_browser_tab(page, app, browser):
    page.get_by_role("tab", name="Settings").click()
    model = page.get_by_label("Chat model")
    model.fill("no-such-model")
    model.press("Enter")
    slider = page.locator("#pb-tab-settings input[type=number]").first
    slider.fill("2")
    slider.press("Enter")
    page.get_by_role("tab", name="Chat").click()
    expect(page.get_by_text("Answering with LLM no-such-model")).to_be_visible()
    expect(page.get_by_text("2 papers as evidence")).to_be_visible()
    _ask(page, DRAFT_QUESTION)
    expect(_last_answer(page)).to_contain_text("The language model did not answer")
    expect(_last_answer(page)).to_contain_text("no-such-model")
    other = browser.new_context().new_page()  # another tab keeps the defaults
    other.goto(app["url"])
    expect(other.get_by_text("Answering with LLM fake-chat, temperature 0.1 · 5 papers")).to_be_visible()
    other.context.close()


def test_settings_switch_this_tab_to_extractive_and_unanswerable_questions_say_so(page, app):
    page.get_by_role("tab", name="Settings").click()
    expect(page.locator("#pb-settings-info")).to_contain_text("127.0.0.1")
    expect(page.locator("#pb-settings-info")).not_to_contain_text(app["fake"].api_key)
    _extractive(page)
    _ask(page, "What does the Zorblax-9 protocol say about quantum knitting?")
    expect(_bot_messages(page)).to_have_count(1)
    expect(_last_answer(page)).to_contain_text("Cannot answer from these papers")
    expect(_last_answer(page)).to_contain_text("Nearest papers")
    expect(_last_answer(page)).to_contain_text("extractive")


def test_upload_then_find_the_paper_and_its_summary_and_no_title_runs(page, app, tmp_path):
    upload = tmp_path / "new-papers.jsonl"
    upload.write_text("\n".join(json.dumps(r) for r in [
        {"id": "xss-1", "title": XSS_TITLE, "year": 2025, "abstract":
            "We propose sparse lattice decoding, which prunes the output lattice on tiny devices. "
            "It reduces decoding energy by 41% on microcontrollers. Accuracy drops by less than one point."},
        {"id": "bad-1", "title": "A record without an abstract"},
    ]) + "\n")
    _extractive(page)
    page.get_by_role("tab", name="Ingest").click()
    page.locator("#pb-upload input[type=file]").set_input_files(str(upload))
    page.locator("#pb-ingest").click()
    report = page.locator("#pb-report")
    expect(report).to_contain_text("1 added")
    expect(report).to_contain_text("1 skipped")
    expect(report).to_contain_text("new-papers.jsonl")  # the skipped record's file, not a temp path
    expect(report).to_contain_text(XSS_TITLE)

    page.get_by_role("tab", name="Papers").click()
    page.locator("#pb-grep input, #pb-grep textarea").first.fill("lattice")
    cell = _paper_cell(page, XSS_TITLE)
    expect(cell).to_be_visible()
    cell.click()
    expect(page.locator("#pb-paper")).to_contain_text(XSS_TITLE)
    expect(page.locator("#pb-summary")).to_contain_text("41%")  # the abstract, once, under its summary
    expect(page.locator("#pb-summary")).to_contain_text("TL;DR")
    assert page.locator("img[src='x']").count() == 0, "the title's markup was not turned into an element"
    page.screenshot(path=str(SCREENSHOTS / "papers.png"), full_page=True)

    # Offered for digests and comparisons, the title stays text.
    page.get_by_role("tab", name="Digest & compare").click()
    page.locator("#pb-picks input").fill("Sparse Lattice")
    expect(page.get_by_role("option", name=XSS_TITLE + " (2025)")).to_be_visible()
    page.keyboard.press("Escape")
    assert page.locator("img[src='x']").count() == 0

    # Cited in a chat answer too, the title stays text.
    page.get_by_role("tab", name="Chat").click()
    _ask(page, "Which paper prunes the output lattice on tiny devices?")
    _finished(page, 1)
    expect(page.locator("#pb-sources-panel")).to_contain_text(XSS_TITLE)
    assert page.locator("img[src='x']").count() == 0


def test_a_paper_picked_while_another_is_summarised_gets_its_own_summary(page, app):
    from tests.fake_openai import delay

    first, second = "Distilling from Vision-Language Models", "Tuning Timestep-Distilled Diffusion Model"
    fake = app["fake"]
    fake.script(delay(2.5, path="chat/completions"))  # the first paper's summary takes a while
    page.get_by_role("tab", name="Papers").click()
    page.locator("#pb-grep input, #pb-grep textarea").first.fill("distill")
    summary = page.locator("#pb-summary")
    expect(page.locator("#pb-count")).not_to_contain_text("115")
    _paper_cell(page, first).click()
    expect(page.locator("#pb-paper")).to_contain_text(first)
    expect(summary).to_contain_text("Summarising")
    _paper_cell(page, second).click()  # before the first summary is written
    expect(page.locator("#pb-paper")).to_contain_text(second)
    expect(summary).to_contain_text("timestep-distilled diffusion models")  # the second paper's abstract
    page.wait_for_timeout(3_000)  # past the first summary's delay: it does not land under the second title
    expect(summary).to_contain_text("timestep-distilled diffusion models")
    expect(summary).not_to_contain_text("such as CLIP")
    assert fake.pending_faults == []


def test_papers_table_sorts_and_a_sorted_row_opens_its_paper(page, app):
    _extractive(page)
    page.get_by_role("tab", name="Papers").click()
    expect(page.locator("#pb-count")).to_contain_text("papers")
    first = page.locator("#pb-papers").get_by_role("row").nth(1).get_by_role("gridcell")  # row 0: the header
    expect(first.nth(0)).not_to_be_empty()
    expect(first.nth(0)).not_to_contain_text("Zero")  # served in ascending title order
    header = page.locator("#pb-papers th[title='title']")
    header.hover()
    header.locator("button[aria-label='Open cell menu']").click(force=True)
    page.get_by_role("menuitem", name="Sort descending").click()
    expect(first.nth(0)).to_contain_text("Zero")  # Zero-TPrune / ZeroI2V end the alphabet
    title = first.nth(0).inner_text().strip()
    first.nth(0).click()
    expect(page.locator("#pb-paper h3")).to_have_text(title)
    expect(page.locator("#pb-summary")).to_contain_text("TL;DR")


def test_digest_and_comparison_render_and_download(page, app):
    _extractive(page)
    page.get_by_role("tab", name="Digest & compare").click()
    page.locator("#pb-topic input, #pb-topic textarea").first.fill("KV cache eviction")
    page.locator("#pb-digest").click()
    expect(page.locator("#pb-result")).to_contain_text("theme")
    expect(page.locator("#pb-result .pb-theme").first).to_be_visible()
    digest_md = _download(page, page.locator('#pb-downloads a[href$="/paperbot-digest.md"]'))
    assert digest_md.startswith("# Digest: ") and "KV cache eviction" in digest_md
    page.screenshot(path=str(SCREENSHOTS / "digest.png"), full_page=True)
    page.locator("#pb-compare").click()
    expect(page.locator("#pb-result table")).to_be_visible()
    expect(page.locator("#pb-result tbody tr")).to_have_count(5)  # the query's top five papers
    csv_text = _download(page, page.locator('#pb-downloads a[href$="/paperbot-comparison.csv"]'))
    assert csv_text.startswith("paper_id,title,task,")
    expect(page.locator('#pb-downloads a[href$="/paperbot-comparison.md"]')).to_be_visible()


def _download(page: Page, link) -> str:
    expect(link).to_be_visible()
    with page.expect_download() as info:
        link.click()
    return Path(info.value.path()).read_text(encoding="utf-8")


def test_llm_faults_each_show_a_readable_error_and_the_next_question_is_answered(page, app):
    """Several kinds of LLM failure in one conversation: each turn shows what happened in words (no trace, no
    key, no half answer), and a normal question right after each is answered in the same page."""
    from tests.fake_openai import delay, drop_mid_stream, empty_choices, malformed_json

    fake = app["fake"]
    faults = {
        "503 on every attempt": ([status(503, path="chat/completions")] * 2, "HTTP 503"),
        "dropped mid-stream": ([drop_mid_stream(after_chunks=4, path="chat/completions")], "broke off the answer"),
        "malformed JSON": ([malformed_json(path="chat/completions")], "not JSON"),
        "no choices": ([empty_choices(path="chat/completions")], "no choices"),
    }
    answers = 0
    for faulty, what in faults.values():
        # A follow-up is first condensed into a search query by one (non-streamed) request; a no-op fault lets
        # that request through, so the scripted fault meets the answer itself.
        fake.script(*([delay(0, path="chat/completions")] if answers else []), *faulty)
        _ask(page, DRAFT_QUESTION)
        answers += 1
        expect(_bot_messages(page)).to_have_count(answers, timeout=TIMEOUT)
        failed = _last_answer(page)
        expect(failed).to_contain_text("The language model did not answer", timeout=TIMEOUT)  # the turn is over
        expect(failed).to_contain_text(what)
        expect(failed).to_contain_text("No answer")
        expect(failed).not_to_contain_text("▍")  # the partial text of a broken stream is not left as if answered
        assert fake.pending_faults == []
        _ask(page, DRAFT_QUESTION)
        answers += 1
        expect(_bot_messages(page)).to_have_count(answers, timeout=TIMEOUT)
        expect(_last_answer(page).locator("sub")).to_contain_text("fake-chat", timeout=TIMEOUT)  # the footer: done
        expect(_last_answer(page)).to_contain_text("[P1]")
    expect(page.locator("body")).not_to_contain_text("Traceback")
    assert fake.api_key not in page.content()
