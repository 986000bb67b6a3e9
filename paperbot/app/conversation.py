"""A browser tab's conversation: its turns, the history sent with follow-ups, its Markdown export and feedback."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from paperbot.answer.attribution import describe
from paperbot.app.views import answer_markdown, error_markdown, footer, md
from paperbot.types import Answer


@dataclass(frozen=True)
class Turn:
    """One question and its answer, or the readable error that took the answer's place."""

    question: str
    answer: Answer | None = None
    error: str | None = None


def history_messages(turns: list[Turn]) -> list[dict[str, str]]:
    """OpenAI-style messages of the answered turns, for ask_stream to condense a follow-up question."""
    messages: list[dict[str, str]] = []
    for turn in turns:
        if turn.answer is None or turn.answer.abstained:
            continue  # a failed or refused turn says nothing a follow-up could refer to
        messages += [{"role": "user", "content": turn.question}, {"role": "assistant", "content": turn.answer.text}]
    return messages


def chat_messages(turns: list[Turn]) -> list[dict[str, str]]:
    """The Chatbot's value: exactly two messages per turn (question, answer), so message index // 2 is the turn."""
    messages: list[dict[str, str]] = []
    for number, turn in enumerate(turns):
        reply = answer_markdown(turn.answer, number) if turn.answer else error_markdown(turn.error or "no answer")
        messages += [{"role": "user", "content": md(turn.question)}, {"role": "assistant", "content": reply}]
    return messages


def export_markdown(turns: list[Turn], *, store: str) -> str:
    """The conversation as Markdown: each question, its answer and the papers its keys refer to."""
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    intro = f"*Exported {now} from {store}. Keys like [P1] refer to the references listed under each answer.*"
    lines = ["# paperbot conversation", "", intro, ""]
    for number, turn in enumerate(turns, start=1):
        lines += [f"## Q{number}. {turn.question}", ""]
        answer = turn.answer
        if answer is None:
            lines += [f"*No answer: {turn.error}*", ""]
            continue
        lines += [answer.text, ""]
        if answer.abstained:
            lines += ["Nearest papers:", ""]
            lines += [f"- {p.title}{f' ({p.year})' if p.year else ''} — {p.paper_id}" for p in answer.nearest_papers]
        elif answer.citations:
            lines += ["References:", ""]
            for c in answer.citations:
                year = f" ({c.year})" if c.year else ""
                url = f" — {c.url}" if c.url else ""
                lines.append(f"- [{c.key}] {c.title}{year} — {c.paper_id}{url}")
        weak = [s.sentence + (" (dropped)" if s.dropped else "") for s in answer.sentences if not s.supported]
        if weak:
            lines += ["", "Weakly supported or uncited sentences:", ""] + [f"- {s}" for s in weak]
        if answer.attribution is not None:
            added = [f"{', '.join(s.attributed_keys)} on: {s.sentence}" for s in answer.sentences if s.attributed_keys]
            lines += ["", f"*{describe(answer)}.*"] + (["", "Keys added by the check:", ""] + [f"- {a}" for a in added]
                                                         if added else [])
        lines += ["", f"*{footer(answer)}*", ""]
    return "\n".join(lines).rstrip() + "\n"


class FeedbackLog:
    """Thumbs up/down appended as JSON lines (question, answer, sources) to a file in the data dir."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()  # one app, many worker threads: lines must not interleave

    def record(self, turn: Turn, rating: str) -> dict:
        answer = turn.answer
        entry = {
            "time": datetime.now(UTC).isoformat(timespec="seconds"),
            "rating": rating,
            "question": turn.question,
            "answer": answer.text if answer else None,
            "error": turn.error,
            "mode": answer.mode if answer else None,
            "model": answer.model if answer else None,
            "abstained": answer.abstained if answer else None,
            "sources": [{"key": c.key, "paper_id": c.paper_id, "title": c.title, "year": c.year, "url": c.url}
                        for c in (answer.citations if answer else ())],
        }
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(entry, ensure_ascii=False) + "\n")
        return entry
