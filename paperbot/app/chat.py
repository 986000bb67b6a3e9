"""Chat tab handlers: stream an answer into the Chatbot, fill the sources panel, record feedback, export Markdown."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr

from paperbot.app.conversation import FeedbackLog, Turn, chat_messages, export_markdown, history_messages
from paperbot.app.failures import readable
from paperbot.app.session_marks import SessionMarks, session_of
from paperbot.app.tab_settings import TabSettings
from paperbot.app.views import md, sources_html, streaming_markdown, turn_sources_html
from paperbot.bot import PaperBot


def api_secret(bot: PaperBot) -> str | None:
    key = bot.settings.openai_api_key
    return key.get_secret_value() if key is not None else None


def panel(turns: list[Turn]) -> str:
    """The sources panel for a conversation: every turn's sources, the newest open."""
    last = len(turns) - 1
    return sources_html([turn_sources_html(n, t.question, t.answer, t.error, open_=n == last)
                         for n, t in enumerate(turns)])


class Chat:
    def __init__(self, bot: PaperBot, feedback: FeedbackLog, export_dir: Path | None = None) -> None:
        self.bot = bot
        self.feedback = feedback
        self.export_dir = export_dir or Path(tempfile.mkdtemp(prefix="paperbot-export-"))
        self.cleared = SessionMarks()  # a new token each time a session clears its chat

    def ask(self, question: str, turns: list[Turn] | None, tab: TabSettings,
            request: gr.Request | None = None) -> Iterator[tuple[Any, ...]]:
        """Yields (chatbot, question box, turns, sources panel): the question at once, the answer as it streams,
        then the finished answer with linked citations and its sources. The box is emptied once, when the question
        is taken: a next question typed while the answer streams is left alone. Once the chat is cleared, the
        answer stops at its next piece and its last update is the empty chat."""
        session = session_of(request)
        conversation = self.cleared.get(session)
        turns = list(turns or [])
        question = (question or "").strip()
        if not question:
            yield chat_messages(turns), "", turns, gr.skip()
            return
        shown = chat_messages(turns) + [{"role": "user", "content": md(question)},
                                        {"role": "assistant", "content": "*Searching the papers…*"}]
        yield list(shown), "", turns, gr.skip()
        streamed = ""
        response = self.bot.ask_stream(question, history_messages(turns), k=tab.k, mode=tab.mode,
                                       model=tab.model, temperature=tab.temperature)
        turn: Turn | None = None
        try:
            for piece in response:
                if not self.cleared.is_current(session, conversation):
                    break
                streamed += piece
                shown[-1] = {"role": "assistant", "content": streaming_markdown(streamed)}
                yield list(shown), gr.skip(), turns, gr.skip()  # a copy: each update is its own state
            else:
                turn = Turn(question, answer=response.answer())
        except Exception as exc:  # noqa: BLE001 - whatever failed, the person gets a sentence and the app goes on
            turn = Turn(question, error=readable(exc, doing="answering", secret=api_secret(self.bot)))
        finally:
            response.close()  # the person left or cleared the chat mid-answer: the model's stream stops now
        if turn is None or not self.cleared.is_current(session, conversation):
            # Cleared meanwhile. This event's updates reach the page in order, after or before the clear's own:
            # ending on the empty chat, it cannot leave a piece of the old conversation behind.
            yield [], gr.skip(), [], panel([])
            return
        turns.append(turn)
        yield chat_messages(turns), gr.skip(), turns, panel(turns)

    def like(self, turns: list[Turn] | None, data: gr.LikeData) -> None:
        """Thumbs up/down on an answer: appended to the feedback file with its question and sources."""
        index = data.index if isinstance(data.index, int) else data.index[0]
        turns = turns or []
        number = index // 2  # two messages per turn (see chat_messages)
        if not 0 <= number < len(turns):
            return
        rating = "up" if data.liked is True else "down" if data.liked is False else str(data.liked or "cleared")
        self.feedback.record(turns[number], rating)
        gr.Info("Thanks: feedback saved." if rating in ("up", "down") else "Feedback noted.")

    def export(self, turns: list[Turn] | None) -> Any:
        """A Markdown file of the conversation with references, shown in the (until then hidden) download box."""
        if not turns:
            gr.Warning("Nothing to export yet: ask a question first.")
            return gr.update(value=None, visible=False)
        path = self.export_dir / uuid.uuid4().hex[:8] / "paperbot-conversation.md"
        path.parent.mkdir(parents=True)
        path.write_text(export_markdown(turns, store=self.bot.location), encoding="utf-8")
        return gr.update(value=str(path), visible=True)

    def clear(self, request: gr.Request | None = None) -> tuple[list, list, str, Any]:
        """An empty chat; an answer still coming for this session stops (see ask)."""
        self.cleared.mark(session_of(request), uuid.uuid4().hex)
        return [], [], panel([]), gr.update(value=None, visible=False)
