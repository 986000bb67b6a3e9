"""With --auth, every route but the login page and its static assets needs a session, and failed logins are limited
per client: an ASGI middleware in front of all of Gradio's routes, so a route Gradio adds later is closed too."""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict, deque
from http.cookies import SimpleCookie

# The login page and what it is drawn with. Everything else (the config, the API and its schema, queues,
# heartbeats, uploads, files, monitoring, the app id, tokens, ...) answers 401 without a session.
OPEN_PATHS = frozenset({"/", "/login", "/login/", "/favicon.ico", "/theme.css", "/manifest.json", "/robots.txt",
                        "/gradio_api/login_check", "/gradio_api/login_check/"})
OPEN_PREFIXES = ("/assets/", "/static/", "/svelte/", "/pwa_icon")
LOGIN_PATHS = frozenset({"/login", "/login/"})
# Gradio's launch() calls this itself, anonymously, once; after that first call it does nothing, and it is closed.
STARTUP_PATHS = frozenset({"/gradio_api/startup-events", "/gradio_api/startup-events/"})


class LoginLimiter:
    """At most `attempts` failed logins per client address in any `window` seconds; then 429 until one expires."""

    def __init__(self, attempts: int = 5, window: float = 60.0) -> None:
        self.attempts = attempts
        self.window = window
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def retry_after(self, client: str) -> float:
        """Seconds until this client may try again; 0 when it may now."""
        now = time.monotonic()
        with self._lock:
            failures = self._failures[client]
            while failures and now - failures[0] > self.window:
                failures.popleft()
            return self.window - (now - failures[0]) if len(failures) >= self.attempts else 0.0

    def failed(self, client: str) -> None:
        with self._lock:
            self._failures[client].append(time.monotonic())

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._failures.pop(client, None)


class AuthGate:
    """ASGI middleware: closes every route that is not the login page or its assets to requests without a session
    cookie Gradio issued, and rate-limits POST /login per client address."""

    def __init__(self, app, limiter: LoginLimiter | None = None) -> None:
        self.app = app
        self.limiter = limiter or LoginLimiter()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        gradio = scope.get("app")
        if getattr(gradio, "auth", None) is None:  # no --auth: nothing to guard
            await self.app(scope, receive, send)
            return
        if path in LOGIN_PATHS and scope["type"] == "http" and scope.get("method") == "POST":
            await self._login(scope, receive, send)
            return
        first_startup = path in STARTUP_PATHS and not getattr(gradio, "startup_events_triggered", True)
        if path in OPEN_PATHS or path.startswith(OPEN_PREFIXES) or first_startup or _signed_in(scope, gradio):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 4401})
            return
        await _reply(send, 401, {"detail": "Not authenticated: sign in at / first"})

    async def _login(self, scope, receive, send) -> None:
        client = (scope.get("client") or ("unknown", 0))[0]
        wait = self.limiter.retry_after(client)
        if wait > 0:
            await _reply(send, 429, {"detail": f"too many failed logins from {client}; try again in {wait:.0f} s"},
                         [(b"retry-after", str(max(1, round(wait))).encode())])
            return
        status: list[int] = []

        async def watch(message) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            await send(message)

        await self.app(scope, receive, watch)
        if status and status[0] >= 400:
            self.limiter.failed(client)
        elif status:
            self.limiter.succeeded(client)


def _signed_in(scope, gradio) -> bool:
    cookies = SimpleCookie()
    for name, value in scope.get("headers", ()):
        if name == b"cookie":
            try:
                cookies.load(value.decode("latin-1"))
            except Exception:  # noqa: BLE001 - a malformed cookie header is just not a session
                return False
    cookie_id = getattr(gradio, "cookie_id", "")
    tokens = getattr(gradio, "tokens", {})
    for name in (f"access-token-{cookie_id}", f"access-token-unsecure-{cookie_id}"):
        if name in cookies and cookies[name].value in tokens:
            return True
    return False


async def _reply(send, status: int, body: dict, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    payload = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
                            *(headers or [])]})
    await send({"type": "http.response.body", "body": payload})
