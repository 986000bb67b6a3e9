"""Start the app: bind address, optional login, queue limits, upload size limit, no analytics."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import gradio as gr
from starlette.middleware import Middleware

from paperbot.app.assets import CSS, JS
from paperbot.app.auth_gate import AuthGate, LoginLimiter
from paperbot.app.ui import AppOptions, build_app
from paperbot.bot import PaperBot
from paperbot.errors import ConfigError

DEFAULT_CONCURRENCY = 2  # answers are CPU-bound (embedding, BM25) in extractive mode: more workers only contend
# System fonts: the page needs no font files at all, so nothing is fetched and every glyph renders alike.
THEME = gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])
MAX_QUEUE = 256  # waiting requests beyond this are refused with a "queue full" message rather than piling up


def parse_auth(value: str | None) -> tuple[str, str] | None:
    """`user:pass` (the password may contain ':'); None or empty means no login."""
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise ConfigError("--auth / PAPERBOT_AUTH must look like user:password")
    return user, password


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def exposure_warning(host: str, auth: tuple[str, str] | None) -> str | None:
    if is_loopback(host) or auth is not None:
        return None
    return (f"warning: serving on {host} without --auth: anyone who can reach this machine can read the papers, "
            "use your LLM budget and add papers. Pass --auth user:password (or set PAPERBOT_AUTH).")


@dataclass
class RunningApp:
    blocks: gr.Blocks
    url: str

    def block(self) -> None:
        """Serve until interrupted (what `paperbot chat` does after printing the URL)."""
        self.blocks.block_thread()

    def close(self) -> None:
        self.blocks.close()


def start(bot: PaperBot, *, host: str = "127.0.0.1", port: int = 7860, auth: tuple[str, str] | None = None,
          concurrency: int = DEFAULT_CONCURRENCY, options: AppOptions | None = None, quiet: bool = True) -> RunningApp:
    """Build the app and start serving in background threads; returns once it listens."""
    options = options or AppOptions()
    demo = build_app(bot, options)
    demo.queue(default_concurrency_limit=concurrency, max_size=MAX_QUEUE)
    # No footer "Settings" link: Gradio's display settings would sit beside the app's own Settings tab, two
    # "Settings" meaning different things.
    _, url, _ = demo.launch(
        server_name=host, server_port=port, auth=auth, prevent_thread_lock=True, quiet=quiet, share=False,
        inbrowser=False, show_error=False, max_file_size=options.limits.max_file_bytes, ssr_mode=False,
        mcp_server=False, footer_links=["api"], css=CSS, js=JS, theme=THEME,
        auth_message="paperbot: sign in with the user and password given to `paperbot chat --auth`.",
        # Gradio's own login guards the page's data and API but not every route it serves (the OpenAPI schema,
        # heartbeats, reset/cancel, app id, token, user, ...): the gate closes all but the login page and its
        # assets, and limits failed logins per client. It does nothing without --auth.
        app_kwargs={"middleware": [Middleware(AuthGate, limiter=LoginLimiter(attempts=5, window=60.0))]},
    )
    return RunningApp(demo, url)
