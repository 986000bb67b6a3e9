"""A real HTTP server that speaks enough of the OpenAI API to test paperbot through the real ``openai`` client.

Standard library only: a ``ThreadingHTTPServer`` on 127.0.0.1 (random free port) in a background thread,
HTTP/1.1 with keep-alive, ``Content-Length`` on every JSON response and chunked (or, optionally,
close-delimited) server-sent events for streams. Use it through the ``fake_openai`` fixture in
``tests/conftest.py``, or directly::

    with FakeOpenAI(responder=lambda request: "Hello!") as fake:
        client = openai.OpenAI(base_url=fake.base_url, api_key=fake.api_key, max_retries=0)
        client.chat.completions.create(model="fake-chat", messages=[...])
        assert fake.requests[-1].body["messages"] == [...]

Endpoints
    ``GET /v1/models``, ``GET /v1/models/{id}``, ``POST /v1/embeddings``, ``POST /v1/chat/completions``.
    Anything else gets OpenAI's 404 "Invalid URL" error. A wrong bearer token gets 401
    ``invalid_api_key``; a model not in ``.models`` gets 404 ``model_not_found``.

Chat replies
    ``responder`` is a callable ``(request_json) -> str`` (or a plain string) giving the assistant text;
    it may be replaced at any time (``fake.responder = ...``). ``response_format`` is accepted and not
    validated. ``max_completion_tokens``/``max_tokens`` truncate the reply to that many "tokens" (words,
    see :func:`count_tokens`) and set ``finish_reason`` to ``"length"``. Streams send a role chunk, one
    content delta per word (with its trailing whitespace), a chunk with ``finish_reason``, then, if
    ``stream_options.include_usage`` is true and ``stream_usage`` is left True, a chunk with empty
    ``choices`` and ``usage``, and finally ``data: [DONE]``.

Embeddings
    Deterministic unit vectors (``embedding_dim``, default 64, or the request's ``dimensions``): the sum
    of one fixed pseudo-random Gaussian vector per lowercase word (seeded by the word's BLAKE2 hash, so
    stable across processes), normalised. Identical texts give identical vectors; texts sharing words
    are closer than texts that share none. Token-list inputs are embedded as words ``"tok<id>"``.
    ``encoding_format`` "float" and "base64" (float32 little-endian, what the client asks for by
    default) are both honoured. An empty string or empty list gets OpenAI's 400.

Scripted faults
    ``fake.script(*faults)`` queues faults; each incoming request takes the first queued fault whose
    ``path`` matches (``None`` matches every request; ``"chat/completions"``, ``"/chat/completions"``
    and ``"/v1/chat/completions"`` are equivalent) before any normal handling, authentication included.
    Build faults with the helpers below (``status``, ``rate_limit``, ``delay``, ``reset``,
    ``drop_mid_stream``, ``malformed_json``, ``empty_choices``, ``no_done``). What the real
    ``openai`` 3.x client (3.57, on httpx2) raises for each, as checked by tests/test_fake_openai.py,
    with ``max_retries=0``:

    - ``status(400)`` -> ``BadRequestError``; 401 -> ``AuthenticationError``; 403 ->
      ``PermissionDeniedError``; 404 -> ``NotFoundError``; 429 -> ``RateLimitError`` (``exc.response.headers``
      carries ``retry-after`` / ``retry-after-ms``); 500, 502, 503 -> ``InternalServerError`` (any
      status >= 500). All are ``APIStatusError``; ``exc.body`` is the ``"error"`` object.
    - ``delay(s)`` with ``s`` beyond the client timeout -> ``APITimeoutError`` (a subclass of
      ``APIConnectionError``).
    - ``reset()`` (TCP RST, no response) -> ``APIConnectionError`` (not the timeout subclass).
    - ``drop_mid_stream(n)`` -> the ``create(stream=True)`` call succeeds, ``n`` chunks are yielded
      (the first one is the role chunk, with ``content == ""``), then iterating raises
      ``APIConnectionError`` whose ``__cause__`` is httpx2's ``RemoteProtocolError`` ("incomplete
      chunked read").
      With ``FakeOpenAI(stream_framing="close")`` the same drop is indistinguishable from a normal
      end of body: the stream just ends early, silently, with no ``finish_reason`` and no error.
      On a non-streaming request it behaves like ``reset()``.
    - ``malformed_json()`` -> non-streaming: a plain ``json.JSONDecodeError`` (a ``ValueError``),
      NOT an ``openai.OpenAIError``: the client calls ``response.json()`` without wrapping it.
      (With ``content_type="text/plain"`` the client instead returns the raw ``str`` as the "parsed"
      result: no error at all.) Streaming: the broken ``data:`` line also raises
      ``json.JSONDecodeError`` while iterating.
    - ``empty_choices()`` -> chat: a normal response whose ``choices == []`` (streaming: one chunk with
      empty choices, then ``[DONE]``). Embeddings: ``"data": []``, on which the client itself raises
      ``ValueError("No embedding data received")`` unless ``encoding_format`` was given explicitly.
    - ``no_done()`` -> every chunk (finish_reason and usage included) arrives and the stream ends
      normally without ``[DONE]``: the client does not notice. On a non-streaming request it is a
      no-op.

    - ``hold()`` -> never answers: the request is held until the client gives up (closes the connection),
      then reset. The client's timeout fires however slow the machine is (``delay`` answers after a fixed
      sleep, which a client slower than that sleep would take as a healthy reply).

    Hostile servers (``drip``, ``endless``, ``huge_body``, ``huge_token``; see their constructors) ignore
    ``max_tokens``, write only as fast as the client reads (300 MB is never held in memory) and end when the
    client goes away; ``when=TEXT`` limits one to requests whose body holds TEXT and ``sticky=True`` keeps it
    for every such request. ``RecordedRequest.ended`` says when the fake finished with a request: for these,
    when the client stopped reading.

    With ``max_retries > 0`` the client retries 408/409/429/5xx, connection errors and timeouts, and
    each retry consumes the next matching fault (``retry-after-ms: 10`` keeps such tests fast; the
    client's own back-off is >= 0.5 s).

Every request (faulted or not, authorised or not) is recorded in ``.requests`` before it is handled.
Exceptions raised by the responder (or by a bug in the fake) are answered with a 500 and kept in
``.errors``.

Standalone
    ``python -m tests.fake_openai [--latency S] [--responder module:function]`` serves on a free port until
    interrupted (no faults), after printing one line: the base URL, a space, the API key. ``--latency``
    is added to every request, as ``latency=`` is; evals/load_chat.py runs it this way in its own process.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import random
import re
import select
import socket
import struct
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_MODELS",
    "DEFAULT_REPLY",
    "Fault",
    "FakeOpenAI",
    "RecordedRequest",
    "count_tokens",
    "delay",
    "drip",
    "drop_mid_stream",
    "embed_text",
    "empty_choices",
    "endless",
    "hold",
    "huge_body",
    "huge_token",
    "malformed_json",
    "no_done",
    "rate_limit",
    "reset",
    "status",
]

DEFAULT_API_KEY = "sk-test-fake-key"
DEFAULT_MODELS = ("fake-chat", "fake-embed")
DEFAULT_REPLY = "This is a fake reply from the test server."

Responder = Callable[[dict[str, Any]], str]

_WORD = re.compile(r"\w+")
_PIECE = re.compile(r"\s*\S+\s*")


# --------------------------------------------------------------------------- helpers


def count_tokens(text: str) -> int:
    """A rough token count: the number of whitespace-separated words."""
    return len(text.split())


@lru_cache(maxsize=65536)
def _word_vector(word: str, dim: int) -> tuple[float, ...]:
    seed = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "big")
    rng = random.Random(seed)
    return tuple(rng.gauss(0.0, 1.0) for _ in range(dim))


def embed_text(text: str, dim: int = 64) -> list[float]:
    """The fake embedding of ``text``: a normalised sum of per-word random vectors (bag of words)."""
    words = _WORD.findall(text.lower()) or [text]
    total = [0.0] * dim
    for word in words:
        for i, value in enumerate(_word_vector(word, dim)):
            total[i] += value
    norm = math.sqrt(sum(v * v for v in total)) or 1.0
    return [v / norm for v in total]


def _normalise_path(path: str) -> str:
    path = path.split("?", 1)[0].strip("/")
    return path[3:] if path.startswith("v1/") else path


def _error(message: str, type_: str, code: str | None = None, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


_STATUS_ERRORS: dict[int, tuple[str, str, str | None]] = {
    400: ("Bad request (scripted by FakeOpenAI).", "invalid_request_error", None),
    401: ("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"),
    403: ("You are not allowed to access this resource.", "invalid_request_error", "permission_denied"),
    404: ("The requested resource does not exist.", "invalid_request_error", "not_found"),
    409: ("Conflict (scripted by FakeOpenAI).", "invalid_request_error", None),
    422: ("Unprocessable entity (scripted by FakeOpenAI).", "invalid_request_error", None),
    429: ("Rate limit reached for requests. Please try again in 1s.", "requests", "rate_limit_exceeded"),
    500: ("The server had an error while processing your request. Sorry about that!", "server_error", None),
    502: ("Bad gateway.", "server_error", None),
    503: ("The engine is currently overloaded, please try again later.", "server_error", None),
    504: ("Gateway timeout.", "server_error", None),
}


def _default_error_body(code: int) -> dict[str, Any]:
    type_ = "server_error" if code >= 500 else "invalid_request_error"
    fallback = (f"HTTP {code} (scripted by FakeOpenAI).", type_, None)
    message, type_, err_code = _STATUS_ERRORS.get(code, fallback)
    return _error(message, type_, err_code)


# --------------------------------------------------------------------------- faults


@dataclass(frozen=True)
class Fault:
    """One scripted misbehaviour; build it with the module-level helpers (or ``Fault.status(...)`` etc.)."""

    kind: str  # status | delay | hold | reset | drop_mid_stream | malformed_json | empty_choices | no_done | drip |
    # endless | huge_body | huge_token
    path: str | None = None
    code: int = 0
    body: Any = None
    headers: Mapping[str, str] | None = None
    seconds: float = 0.0
    after_chunks: int = 0
    content_type: str = "application/json"
    when: str | None = None  # only requests whose raw body contains this text take the fault
    sticky: bool = False  # not consumed: every matching request takes it
    megabytes: float = 0.0

    def matches(self, path: str, raw: bytes = b"") -> bool:
        if self.when is not None and self.when.encode() not in raw:
            return False
        return self.path is None or _normalise_path(self.path) == _normalise_path(path)

    # Constructors, also exported as module-level functions.
    @classmethod
    def status(
        cls, code: int, body: Any = None, headers: Mapping[str, str] | None = None, *, path: str | None = None
    ) -> Fault:
        """Answer with HTTP ``code``. ``body``: a dict (sent as JSON), str/bytes (sent raw) or None (an
        OpenAI-shaped ``{"error": {...}}`` for that status). ``headers`` are added, e.g. ``Retry-After``."""
        return cls("status", path=path, code=code, body=body, headers=dict(headers or {}))

    @classmethod
    def rate_limit(
        cls, retry_after: float | None = 1, *, retry_after_ms: float | None = None, path: str | None = None
    ) -> Fault:
        """A 429 with ``Retry-After`` (seconds) and/or ``retry-after-ms`` headers."""
        headers = {}
        if retry_after is not None:
            headers["Retry-After"] = f"{retry_after:g}"
        if retry_after_ms is not None:
            headers["retry-after-ms"] = f"{retry_after_ms:g}"
        return cls.status(429, headers=headers, path=path)

    @classmethod
    def delay(cls, seconds: float, *, path: str | None = None) -> Fault:
        """Sleep ``seconds`` (woken early by ``stop()``), then answer normally."""
        return cls("delay", path=path, seconds=seconds)

    @classmethod
    def hold(cls, *, path: str | None = None) -> Fault:
        """Never answer: hold the request until the client gives up (closes the connection) or ``stop()``; then
        the connection is reset. Unlike ``delay``, no machine is too slow for it: the client always times out."""
        return cls("hold", path=path)

    # Hostile servers (tests/test_hostile_llm.py). Each ignores max_tokens and writes as the client reads, so the
    # fake never holds a big body in memory; each ends when the client goes away. ``when``: only requests whose
    # body contains that text (e.g. a question) take it; ``sticky``: it is not used up.
    @classmethod
    def drip(cls, seconds: float = 20.0, *, when: str | None = None, sticky: bool = False,
             path: str | None = None) -> Fault:
        """Streaming: the role chunk and one word at once, then one more word every ``seconds``, for ever.
        Non-streaming: the headers and the body's first byte, then one more byte every ``seconds``."""
        return cls("drip", path=path, seconds=seconds, when=when, sticky=sticky)

    @classmethod
    def endless(cls, *, when: str | None = None, sticky: bool = False, path: str | None = None) -> Fault:
        """Streaming: word deltas as fast as the client reads, for ever, never a finish_reason. Non-streaming: a
        chunked chat completion whose content never ends."""
        return cls("endless", path=path, when=when, sticky=sticky)

    @classmethod
    def huge_body(cls, megabytes: float = 300, *, when: str | None = None, sticky: bool = False,
                  path: str | None = None) -> Fault:
        """Non-streaming: a valid chat completion (Content-Length given) whose content is ``megabytes`` MB of
        words. Streaming: that much text in 64 KB deltas."""
        return cls("huge_body", path=path, megabytes=megabytes, when=when, sticky=sticky)

    @classmethod
    def huge_token(cls, megabytes: float = 300, *, when: str | None = None, sticky: bool = False,
                   path: str | None = None) -> Fault:
        """Streaming: one ``data:`` event whose single delta is ``megabytes`` MB without a space.
        Non-streaming: a chat completion whose content is that one "word"."""
        return cls("huge_token", path=path, megabytes=megabytes, when=when, sticky=sticky)

    @classmethod
    def reset(cls, *, path: str | None = None) -> Fault:
        """Close the socket abruptly (TCP RST) without any response."""
        return cls("reset", path=path)

    @classmethod
    def drop_mid_stream(cls, after_chunks: int = 1, *, path: str | None = None) -> Fault:
        """Streaming: send headers and ``after_chunks`` SSE chunks, then close the connection (FIN) without
        finishing the body or sending ``[DONE]``. Non-streaming: like ``reset()``."""
        return cls("drop_mid_stream", path=path, after_chunks=after_chunks)

    @classmethod
    def malformed_json(
        cls, body: str = '{"id": "chatcmpl-broken", "choices": [', *, content_type: str = "application/json",
        path: str | None = None,
    ) -> Fault:
        """200 whose body is not JSON (streaming: one ``data:`` line that is not JSON, then ``[DONE]``)."""
        return cls("malformed_json", path=path, body=body, content_type=content_type)

    @classmethod
    def empty_choices(cls, *, path: str | None = None) -> Fault:
        """200 with ``"choices": []`` (embeddings: ``"data": []``)."""
        return cls("empty_choices", path=path)

    @classmethod
    def no_done(cls, *, path: str | None = None) -> Fault:
        """Streaming: send every chunk, end the body cleanly, never send ``data: [DONE]``."""
        return cls("no_done", path=path)


status = Fault.status
rate_limit = Fault.rate_limit
delay = Fault.delay
hold = Fault.hold
drip = Fault.drip
endless = Fault.endless
huge_body = Fault.huge_body
huge_token = Fault.huge_token
reset = Fault.reset
drop_mid_stream = Fault.drop_mid_stream
malformed_json = Fault.malformed_json
empty_choices = Fault.empty_choices
no_done = Fault.no_done


# --------------------------------------------------------------------------- request log


@dataclass(frozen=True)
class RecordedRequest:
    """One request as received. ``headers`` has lower-cased names; ``body`` is the parsed JSON (None if
    there was no body or it was not JSON); ``fault`` is the scripted fault this request consumed."""

    method: str
    path: str  # without the query string, e.g. "/v1/chat/completions"
    query: str
    headers: dict[str, str]
    body: Any
    raw: bytes
    fault: Fault | None = None
    time: float = field(default_factory=time.monotonic)
    _ended: list[float] = field(default_factory=list, repr=False, compare=False)

    @property
    def ended(self) -> float | None:
        """When the fake finished with this request (its response written, or the client gone: for a hostile
        fault, when the client stopped reading); None while it is still being handled."""
        return self._ended[0] if self._ended else None

    def wait_ended(self, timeout: float) -> bool:
        """Whether the fake is done with this request within ``timeout`` seconds (e.g. once the client hung up,
        which the fake notices at its next write)."""
        deadline = time.monotonic() + timeout
        while self.ended is None and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.ended is not None

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The chat ``messages`` sent (empty for other requests)."""
        return list(self.body.get("messages", [])) if isinstance(self.body, dict) else []

    @property
    def endpoint(self) -> str:
        """The path without ``/v1``, e.g. ``"chat/completions"``."""
        return _normalise_path(self.path)


# --------------------------------------------------------------------------- server


class _Abort(Exception):
    """Raised inside the handler to end the connection without any further writes."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, fake: FakeOpenAI, port: int = 0) -> None:
        self.fake = fake
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", port), _Handler)

    def process_request(self, request, client_address):  # type: ignore[override]
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):  # type: ignore[override]
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request, client_address) -> None:  # silence tracebacks of vanished clients
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeOpenAI/1.0"
    sys_version = ""
    server: _Server
    fake_response_started = False

    def setup(self) -> None:
        super().setup()
        # Small writes (headers, SSE events) must not wait for delayed ACKs (Nagle: ~40 ms a response).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def handle(self) -> None:
        try:
            super().handle()
        except (_Abort, OSError, ValueError):
            # OSError: the client went away; ValueError: I/O on a socket we closed ourselves (reset / drop).
            self.close_connection = True

    def do_GET(self) -> None:
        self.server.fake._handle(self, "GET")

    def do_POST(self) -> None:
        self.server.fake._handle(self, "POST")

    def do_DELETE(self) -> None:
        self.server.fake._handle(self, "DELETE")

    def do_PUT(self) -> None:
        self.server.fake._handle(self, "PUT")

    def do_PATCH(self) -> None:
        self.server.fake._handle(self, "PATCH")


class FakeOpenAI:
    """An OpenAI-compatible HTTP server on 127.0.0.1 for tests (see the module docstring for details).

    Args:
        responder: ``(request_json) -> str`` or a fixed string; the assistant text of chat replies.
        api_key: the only bearer token accepted.
        models: model ids listed by ``/v1/models`` and accepted by chat and embeddings.
        embedding_dim: default vector length (a request's ``dimensions`` overrides it).
        latency: seconds added to every request (settable at any time).
        stream_usage: set False to act like servers that ignore ``stream_options.include_usage``.
        stream_framing: ``"chunked"`` (default) or ``"close"`` (no length, body ends when the
            connection closes, as some proxies do).
        port: the port on 127.0.0.1 to listen on; 0 (default) picks a free one.
    """

    def __init__(
        self,
        responder: Responder | str | None = None,
        *,
        api_key: str = DEFAULT_API_KEY,
        models: Iterable[str] = DEFAULT_MODELS,
        embedding_dim: int = 64,
        latency: float = 0.0,
        stream_usage: bool = True,
        stream_framing: str = "chunked",
        port: int = 0,
    ) -> None:
        if stream_framing not in ("chunked", "close"):
            raise ValueError("stream_framing must be 'chunked' or 'close'")
        self.responder: Responder | str | None = responder
        self.api_key = api_key
        self.models: list[str] = list(models)
        self.embedding_dim = embedding_dim
        self.latency = latency
        self.stream_usage = stream_usage
        self.stream_framing = stream_framing
        self._port = port  # 0: a free one
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._faults: list[Fault] = []
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._counter = 0
        self.errors: list[Exception] = []  # exceptions raised by the responder or inside the fake

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> FakeOpenAI:
        if self._server is not None:
            raise RuntimeError("FakeOpenAI already started")
        self._stopping.clear()
        self._server = _Server(self, self._port)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, name="fake-openai", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, wake sleeping handlers and close every open connection. Idempotent."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.close_connections()
        server.shutdown()
        server.close_connections()  # any accepted meanwhile
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeOpenAI is not running")
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def env(self) -> dict[str, str]:
        """``OPENAI_BASE_URL`` and ``OPENAI_API_KEY`` for this server (for ``monkeypatch.setenv``)."""
        return {"OPENAI_BASE_URL": self.base_url, "OPENAI_API_KEY": self.api_key}

    # ----------------------------------------------------------------- request log and faults

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot (a new list) of every request received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        """The recorded requests to one endpoint, e.g. ``requests_to("chat/completions")``."""
        wanted = _normalise_path(path)
        return [r for r in self.requests if r.endpoint == wanted]

    def clear(self) -> None:
        """Forget recorded requests (queued faults are kept)."""
        with self._lock:
            self._requests.clear()

    def script(self, *faults: Fault) -> FakeOpenAI:
        """Queue faults; each request consumes the first queued fault that matches its path."""
        for fault in faults:
            if not isinstance(fault, Fault):
                raise TypeError(f"not a Fault: {fault!r}")
        with self._lock:
            self._faults.extend(faults)
        return self

    @property
    def pending_faults(self) -> list[Fault]:
        """Faults queued but not yet consumed."""
        with self._lock:
            return list(self._faults)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _take_fault(self, path: str, raw: bytes = b"") -> Fault | None:
        with self._lock:
            for i, fault in enumerate(self._faults):
                if fault.matches(path, raw):
                    return fault if fault.sticky else self._faults.pop(i)
        return None

    def _next_id(self, prefix: str) -> str:
        with self._lock:
            self._counter += 1
            n = self._counter
        return f"{prefix}-fake{n:06d}{uuid.uuid4().hex[:8]}"

    # ----------------------------------------------------------------- request handling

    def _handle(self, h: _Handler, method: str) -> None:
        h.fake_response_started = False  # the handler lives as long as the keep-alive connection
        raw = self._read_body(h)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        path, _, query = h.path.partition("?")
        fault = self._take_fault(path, raw)
        record = RecordedRequest(
            method=method, path=path, query=query, headers={k.lower(): v for k, v in h.headers.items()},
            body=body, raw=raw, fault=fault,
        )
        with self._lock:
            self._requests.append(record)
        try:
            self._respond(h, method, path, body, raw, fault)
        finally:
            record._ended.append(time.monotonic())

    def _respond(self, h: _Handler, method: str, path: str, body: Any, raw: bytes, fault: Fault | None) -> None:
        try:
            if self.latency > 0:
                self._sleep(h, self.latency)
            if fault is not None and self._apply_fault(h, fault, body):
                return
            # The responder gets its own copy, so it cannot alter the request log.
            self._dispatch(h, method, path, json.loads(raw) if isinstance(body, dict) else body, raw, fault)
        except (_Abort, OSError):
            raise
        except Exception as exc:  # a bug in the fake: record it and answer 500 rather than hang up silently
            with self._lock:
                self.errors.append(exc)
            if getattr(h, "fake_response_started", False):
                self._reset(h)
            self._send_json(h, 500, _error(f"FakeOpenAI internal error: {exc!r}", "server_error"))

    @staticmethod
    def _read_body(h: _Handler) -> bytes:
        if "chunked" in h.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while True:
                size = int(h.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while h.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(h.rfile.read(size))
                h.rfile.readline()
        length = int(h.headers.get("Content-Length") or 0)
        return h.rfile.read(length) if length > 0 else b""

    def _apply_fault(self, h: _Handler, fault: Fault, body: Any) -> bool:
        """Carry out ``fault``; True if the request is fully handled."""
        streaming = isinstance(body, dict) and bool(body.get("stream"))
        if fault.kind == "status":
            headers = dict(fault.headers or {})
            if fault.body is None or isinstance(fault.body, (dict, list)):
                payload = fault.body if fault.body is not None else _default_error_body(fault.code)
                self._send_json(h, fault.code, payload, headers)
            else:
                data = fault.body.encode() if isinstance(fault.body, str) else bytes(fault.body)
                headers.setdefault("Content-Type", "text/plain; charset=utf-8")
                self._send_bytes(h, fault.code, data, headers)
            return True
        if fault.kind == "delay":
            self._sleep(h, fault.seconds)
            return False
        if fault.kind == "hold":
            self._hold(h)
        if fault.kind in ("drip", "endless", "huge_body", "huge_token"):
            self._hostile(h, fault, streaming)
            return True
        if fault.kind == "reset" or (fault.kind == "drop_mid_stream" and not streaming):
            self._reset(h)
        if fault.kind == "malformed_json":
            if streaming:
                self._start_stream(h)
                self._write_event(h, fault.body)
                self._write_event(h, "[DONE]")
                self._end_stream(h)
            else:
                self._send_bytes(h, 200, fault.body.encode(), {"Content-Type": fault.content_type})
            return True
        return False  # drop_mid_stream (streaming), empty_choices, no_done: handled by the endpoints

    def _dispatch(self, h: _Handler, method: str, path: str, body: Any, raw: bytes, fault: Fault | None) -> None:
        endpoint = _normalise_path(path)
        known = endpoint in ("models", "embeddings", "chat/completions") or endpoint.startswith("models/")
        if not known or not path.startswith("/v1/"):
            self._send_json(h, 404, _error(f"Invalid URL ({method} {path})", "invalid_request_error"))
            return
        if not self._authorised(h):
            self._send_json(h, 401, _error(
                "Incorrect API key provided. You can find your API key at "
                "https://platform.openai.com/account/api-keys.",
                "invalid_request_error", "invalid_api_key",
            ))
            return
        if endpoint == "models" and method == "GET":
            self._send_json(h, 200, {"object": "list", "data": [self._model_object(m) for m in self.models]})
            return
        if endpoint.startswith("models/") and method == "GET":
            model = endpoint[len("models/"):]
            if model in self.models:
                self._send_json(h, 200, self._model_object(model))
            else:
                self._model_not_found(h, model)
            return
        if method != "POST" or endpoint.startswith("models"):
            self._send_json(h, 404, _error(f"Invalid URL ({method} {path})", "invalid_request_error"))
            return
        if not isinstance(body, dict):
            message = "We could not parse the JSON body of your request."
            if not raw:
                message = "you must provide a model parameter"
            self._send_json(h, 400, _error(message, "invalid_request_error"))
            return
        model = body.get("model")
        if not model:
            self._send_json(h, 400, _error("you must provide a model parameter", "invalid_request_error"))
            return
        if model not in self.models:
            self._model_not_found(h, model)
            return
        if endpoint == "embeddings":
            self._embeddings(h, body, fault)
        else:
            self._chat(h, body, fault)

    def _authorised(self, h: _Handler) -> bool:
        scheme, _, token = h.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and token.strip() == self.api_key

    @staticmethod
    def _model_object(model: str) -> dict[str, Any]:
        return {"id": model, "object": "model", "created": 1700000000, "owned_by": "fake-openai"}

    def _model_not_found(self, h: _Handler, model: Any) -> None:
        self._send_json(h, 404, _error(
            f"The model `{model}` does not exist", "invalid_request_error", "model_not_found"
        ))

    # ----------------------------------------------------------------- embeddings

    def _embeddings(self, h: _Handler, body: dict[str, Any], fault: Fault | None) -> None:
        texts = self._embedding_texts(body.get("input"))
        if texts is None:
            self._send_json(h, 400, _error(
                "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.",
                "invalid_request_error", param="input",
            ))
            return
        dim = body.get("dimensions") or self.embedding_dim
        if not isinstance(dim, int) or dim < 1:
            self._send_json(h, 400, _error("Invalid 'dimensions'.", "invalid_request_error", param="dimensions"))
            return
        as_base64 = body.get("encoding_format") == "base64"
        data = []
        if not (fault is not None and fault.kind == "empty_choices"):
            for index, text in enumerate(texts):
                vector = embed_text(text, dim)
                encoded: Any = (
                    base64.b64encode(struct.pack(f"<{dim}f", *vector)).decode() if as_base64 else vector
                )
                data.append({"object": "embedding", "index": index, "embedding": encoded})
        tokens = sum(count_tokens(t) for t in texts)
        self._send_json(h, 200, {
            "object": "list",
            "data": data,
            "model": body["model"],
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        })

    @staticmethod
    def _embedding_texts(value: Any) -> list[str] | None:
        """The texts to embed, or None if the input is invalid (OpenAI rejects empty strings/lists)."""
        if isinstance(value, str):
            items: list[Any] = [value]
        elif isinstance(value, list) and value:
            items = [value] if all(isinstance(v, int) for v in value) else value
        else:
            return None
        texts = []
        for item in items:
            if isinstance(item, str) and item:
                texts.append(item)
            elif isinstance(item, list) and item and all(isinstance(t, int) for t in item):
                texts.append(" ".join(f"tok{t}" for t in item))
            else:
                return None
        return texts

    # ----------------------------------------------------------------- chat

    def _reply_text(self, body: dict[str, Any]) -> str:
        responder = self.responder
        if responder is None:
            return DEFAULT_REPLY
        if isinstance(responder, str):
            return responder
        text = responder(body)
        if not isinstance(text, str):
            raise TypeError(f"FakeOpenAI responder returned {type(text).__name__}, expected str")
        return text

    @staticmethod
    def _prompt_tokens(body: dict[str, Any]) -> int:
        total = 0
        for message in body.get("messages") or []:
            content = message.get("content") if isinstance(message, dict) else None
            if isinstance(content, str):
                total += count_tokens(content)
            elif isinstance(content, list):
                total += sum(count_tokens(p.get("text", "")) for p in content if isinstance(p, dict))
            total += 3  # per-message overhead, like OpenAI's count
        return total

    def _chat(self, h: _Handler, body: dict[str, Any], fault: Fault | None) -> None:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            self._send_json(h, 400, _error(
                "'messages' must contain at least one message.", "invalid_request_error", param="messages"
            ))
            return
        try:
            text = self._reply_text(body)
        except Exception as exc:  # a broken responder is a test bug: make it loud on the client side
            with self._lock:
                self.errors.append(exc)
            self._send_json(h, 500, _error(f"FakeOpenAI responder raised {exc!r}", "server_error"))
            return
        pieces = _PIECE.findall(text) or ([text] if text else [])
        finish_reason = "stop"
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        if isinstance(limit, int) and limit > 0 and len(pieces) > limit:
            pieces, finish_reason = pieces[:limit], "length"
            text = "".join(pieces).rstrip()
        prompt_tokens = self._prompt_tokens(body)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(pieces),
            "total_tokens": prompt_tokens + len(pieces),
        }
        completion_id = self._next_id("chatcmpl")
        created = int(time.time())
        empty = fault is not None and fault.kind == "empty_choices"
        if body.get("stream"):
            self._chat_stream(h, body, fault, completion_id, created, pieces, finish_reason, usage, empty)
            return
        choices = [] if empty else [{
            "index": 0,
            "message": {"role": "assistant", "content": text, "refusal": None, "annotations": []},
            "logprobs": None,
            "finish_reason": finish_reason,
        }]
        self._send_json(h, 200, {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": body["model"],
            "choices": choices,
            "usage": usage,
            "system_fingerprint": "fp_fake",
        })

    def _chat_stream(
        self, h: _Handler, body: dict[str, Any], fault: Fault | None, completion_id: str, created: int,
        pieces: list[str], finish_reason: str, usage: dict[str, int], empty: bool,
    ) -> None:
        options = body.get("stream_options") or {}
        include_usage = bool(options.get("include_usage")) and self.stream_usage

        def chunk(choices: list[dict[str, Any]], **extra: Any) -> str:
            data = {
                "id": completion_id, "object": "chat.completion.chunk", "created": created,
                "model": body["model"], "system_fingerprint": "fp_fake", "choices": choices,
            }
            if include_usage:
                data["usage"] = None
            data.update(extra)
            return json.dumps(data)

        def delta(d: dict[str, Any], finish: str | None = None) -> str:
            return chunk([{"index": 0, "delta": d, "logprobs": None, "finish_reason": finish}])

        if empty:
            events = [chunk([])]
        else:
            events = [delta({"role": "assistant", "content": "", "refusal": None})]
            events += [delta({"content": piece}) for piece in pieces]
            events.append(delta({}, finish_reason))
            if include_usage:
                events.append(chunk([], usage=usage))
        kind = fault.kind if fault is not None else None
        # The server hangs up after a stream without [DONE]; saying so up front keeps the client from
        # reusing a connection that is about to close (a race that made the next request fail).
        self._start_stream(h, close=kind == "no_done")
        if kind == "drop_mid_stream":
            for event in events[: fault.after_chunks]:  # type: ignore[union-attr]
                self._write_event(h, event)
            self._drop(h)
        for event in events:
            self._write_event(h, event)
        if kind != "no_done":
            self._write_event(h, "[DONE]")
        self._end_stream(h)
        if kind == "no_done":
            h.close_connection = True

    # ----------------------------------------------------------------- wire helpers

    def _common_headers(self, h: _Handler) -> None:
        h.send_header("x-request-id", self._next_id("req"))
        h.send_header("openai-processing-ms", "1")

    def _send_json(self, h: _Handler, code: int, payload: Any, headers: Mapping[str, str] | None = None) -> None:
        self._send_bytes(h, code, json.dumps(payload).encode(), {"Content-Type": "application/json", **(headers or {})})

    def _send_bytes(self, h: _Handler, code: int, data: bytes, headers: Mapping[str, str]) -> None:
        h.fake_response_started = True
        h.send_response(code)
        for name, value in headers.items():
            h.send_header(name, value)
        self._common_headers(h)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)
        h.wfile.flush()

    def _start_stream(self, h: _Handler, *, close: bool = False) -> None:
        h.fake_response_started = True
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream; charset=utf-8")
        h.send_header("Cache-Control", "no-cache")
        self._common_headers(h)
        if self.stream_framing == "chunked":
            h.send_header("Transfer-Encoding", "chunked")
            if close:
                h.send_header("Connection", "close")
        else:
            h.send_header("Connection", "close")
            h.close_connection = True
        h.end_headers()
        h.wfile.flush()

    def _write_event(self, h: _Handler, data: str) -> None:
        payload = f"data: {data}\n\n".encode()
        if self.stream_framing == "chunked":
            payload = b"%x\r\n%s\r\n" % (len(payload), payload)
        h.wfile.write(payload)
        h.wfile.flush()

    def _end_stream(self, h: _Handler) -> None:
        if self.stream_framing == "chunked":
            h.wfile.write(b"0\r\n\r\n")
            h.wfile.flush()
        else:
            self._drop(h)

    def _hold(self, h: _Handler) -> None:
        """Wait until the client closes the connection or ``stop()``; then reset."""
        while not self._client_gone(h, 3600):
            pass
        self._reset(h)

    def _client_gone(self, h: _Handler, seconds: float) -> bool:
        """Wait up to ``seconds``; True as soon as the client has closed the connection (EOF or an error on our
        side) or ``stop()`` was called, False when the time is up with the client still there."""
        sock = h.connection
        deadline = time.monotonic() + seconds
        while not self._stopping.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            readable, _, _ = select.select([sock], [], [], min(left, 0.05))
            if readable:
                try:
                    if not sock.recv(1, socket.MSG_PEEK):
                        return True
                except OSError:
                    return True
                time.sleep(0.05)  # data, not EOF (a pipelined request): the client is still there
        return True

    # ----------------------------------------------------------------- hostile servers

    def _hostile(self, h: _Handler, fault: Fault, streaming: bool) -> None:
        """Carry out a hostile fault (see the constructors); returns only by raising once the client is gone."""
        created = int(time.time())
        head = {"id": self._next_id("chatcmpl"), "created": created, "model": "fake-chat"}
        size = int(fault.megabytes * 1024 * 1024)
        block = 64 * 1024
        if streaming:
            def event(content: str) -> str:
                return json.dumps({**head, "object": "chat.completion.chunk", "choices": [
                    {"index": 0, "delta": {"content": content}, "logprobs": None, "finish_reason": None}]})

            self._start_stream(h)
            self._write_event(h, json.dumps({**head, "object": "chat.completion.chunk", "choices": [
                {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}))
            if fault.kind == "drip":
                self._write_event(h, event("Dripping "))
                while not self._client_gone(h, fault.seconds):
                    self._write_event(h, event("word "))
            elif fault.kind == "endless":
                n = 0
                while not self._stopping.is_set():
                    n += 1
                    self._write_event(h, event(f"endless{n} "))
            elif fault.kind == "huge_body":
                words = ("lorem ipsum " * (block // 12 + 1))[:block]
                for _ in range(size // block):
                    self._write_event(h, event(words))
                self._end_stream(h)
            else:  # huge_token: one SSE line, written as it goes, never held whole
                prefix, suffix = event("\0").split('"\\u0000"')
                line = f'data: {prefix}"'.encode()
                chunk = b"x" * block
                self._write_raw(h, line)
                for _ in range(size // block):
                    self._write_raw(h, chunk)
                self._write_raw(h, f'"{suffix}\n\n'.encode())
                self._end_stream(h)
            self._drop(h)
        text_block = (b"x" if fault.kind == "huge_token" else b"lorem ipsum ") * (block // 12 + 1)
        text_block = text_block[:block]
        prefix = json.dumps({**head, "object": "chat.completion", "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "\0"}, "finish_reason": "stop"}]})
        before, after = prefix.split('"\\u0000"')
        before_b, after_b = f'{before}"'.encode(), f'"{after}'.encode()
        h.fake_response_started = True
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        self._common_headers(h)
        if fault.kind == "endless":
            h.send_header("Transfer-Encoding", "chunked")
            h.end_headers()
            h.wfile.write(b"%x\r\n%s\r\n" % (len(before_b), before_b))
            while not self._stopping.is_set():
                h.wfile.write(b"%x\r\n%s\r\n" % (len(text_block), text_block))
            self._drop(h)
        blocks = max(1, size // block) if fault.kind != "drip" else 1
        h.send_header("Content-Length", str(len(before_b) + blocks * len(text_block) + len(after_b)))
        h.end_headers()
        if fault.kind == "drip":
            body = before_b + text_block + after_b
            for i in range(len(body)):
                h.wfile.write(body[i:i + 1])
                h.wfile.flush()
                if self._client_gone(h, fault.seconds):
                    break
            self._drop(h)
        h.wfile.write(before_b)
        for _ in range(blocks):
            h.wfile.write(text_block)
        h.wfile.write(after_b)
        h.wfile.flush()
        self._drop(h)

    def _write_raw(self, h: _Handler, data: bytes) -> None:
        """Part of one SSE event (chunked framing): a huge event goes out in pieces."""
        if self.stream_framing == "chunked":
            data = b"%x\r\n%s\r\n" % (len(data), data)
        h.wfile.write(data)
        h.wfile.flush()

    def _sleep(self, h: _Handler, seconds: float) -> None:
        """Sleep, but if ``stop()`` is called meanwhile, reset the connection instead of answering."""
        if self._stopping.wait(seconds):
            self._reset(h)

    @staticmethod
    def _reset(h: _Handler) -> None:
        """Abort with a TCP RST: SO_LINGER 0, then close."""
        h.close_connection = True
        try:
            h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            h.connection.close()
        except OSError:
            pass
        raise _Abort

    @staticmethod
    def _drop(h: _Handler) -> None:
        """Close the connection gracefully (FIN) where we are, without finishing the response."""
        h.close_connection = True
        try:
            h.wfile.flush()
            h.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        raise _Abort


def main(argv: list[str] | None = None) -> None:
    """Serve in the foreground (see "Standalone" in the module docstring)."""
    import argparse
    import importlib
    import sys

    parser = argparse.ArgumentParser(prog="python -m tests.fake_openai", description="A fake OpenAI-compatible API.")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every request")
    parser.add_argument("--responder", help="module:function giving the assistant text for a request body")
    args = parser.parse_args(argv)
    responder: Responder | None = None
    if args.responder:
        module, _, name = args.responder.partition(":")
        responder = getattr(importlib.import_module(module), name)
    fake = FakeOpenAI(responder, latency=args.latency)
    fake.start()
    print(f"{fake.base_url} {fake.api_key}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()
        sys.stdout.flush()


if __name__ == "__main__":
    main()
