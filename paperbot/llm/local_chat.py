"""The local model as a ChatModel: the same client, retries and checks, its server started on the first request."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from paperbot.config import Settings
from paperbot.llm.chat import ChatModel, ChatResult, ChatStream
from paperbot.llm.local import LocalServer, model_alias

LOCAL_PREFIX = "local "


def local_name(settings: Settings) -> str:
    """How answers name the local model: "local FILE-STEM"."""
    return LOCAL_PREFIX + (model_alias(settings.local_model) if settings.local_model else "model")


def local_settings(settings: Settings) -> Settings:
    """Settings for a bot whose LLM is the local model: its name, its smaller budgets and longer timeout, and a
    price of 0 (it runs here). The OpenAI key is kept for an explicit --model, but never sent to the local server."""
    return settings.model_copy(update={
        "chat_model": local_name(settings),
        "max_prompt_tokens": settings.local_prompt_tokens,
        "max_answer_tokens": settings.local_max_answer_tokens,
        "context_window": settings.local_context,
        "request_timeout": settings.local_request_timeout,
        "price_input_per_m": 0.0,
        "price_output_per_m": 0.0,
    })


class LocalChat:
    """Looks like a ChatModel; the server starts (once, thread-safely) when the first answer is requested, so
    browsing, searching and extractive answers never load the model."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.model = settings.chat_model if settings.chat_model.startswith(LOCAL_PREFIX) else local_name(settings)
        self._lock = threading.Lock()
        self._server: LocalServer | None = None
        self._chat: ChatModel | None = None

    def __repr__(self) -> str:
        return f"LocalChat(model={self.model!r}, running={self._chat is not None})"

    @property
    def base_url(self) -> str | None:
        return self._settings.local_base_url or (self._server.base_url if self._server else None)

    def _ready(self) -> ChatModel:
        with self._lock:
            if self._chat is None:
                s = self._settings
                url = s.local_base_url
                if not url:
                    self._server = LocalServer(
                        s.local_model, threads=s.local_threads, context=s.local_context,
                        startup_timeout=s.local_startup_timeout, module=s.local_server_module,
                        verified_cache=s.data_dir / "verified-models.json", repack=s.local_repack,
                    ).start()
                    url = self._server.base_url
                served = model_alias(s.local_model) if s.local_model else "local"
                self._chat = ChatModel(s.model_copy(update={"openai_base_url": url, "openai_api_key": None,
                                                            "chat_model": served}))
            return self._chat

    def complete(self, messages: Sequence[dict[str, Any]], **options: Any) -> ChatResult:
        return self._ready().complete(messages, **options)

    def stream(self, messages: Sequence[dict[str, Any]], **options: Any) -> ChatStream:
        return self._ready().stream(messages, **options)

    def close(self) -> None:
        with self._lock:
            if self._server is not None:
                self._server.stop()
            self._server, self._chat = None, None
