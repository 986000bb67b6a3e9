"""What each browser session did last (the paper it picked, when it cleared its chat), kept for a bounded number."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import gradio as gr


def session_of(request: gr.Request | None) -> str:
    """The browser session a request comes from ("" outside one, e.g. a handler called from a test)."""
    return (request.session_hash if request is not None else None) or ""


class SessionMarks:
    """The last mark each session set. A handler that ran long checks it is still current before showing its result,
    since Gradio runs a later click of the same session beside it rather than stopping it."""

    def __init__(self, sessions: int = 4096) -> None:
        self.sessions = sessions  # the least recent sessions are forgotten: a bound on memory, not a rule
        self._marks: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()

    def mark(self, session: str, value: Any) -> None:
        with self._lock:
            self._marks[session] = value
            self._marks.move_to_end(session)
            while len(self._marks) > self.sessions:
                self._marks.popitem(last=False)

    def get(self, session: str, default: Any = None) -> Any:
        with self._lock:
            return self._marks.get(session, default)

    def is_current(self, session: str, value: Any) -> bool:
        """Whether `value` is this session's last mark (or the session set none)."""
        return self.get(session, value) == value
