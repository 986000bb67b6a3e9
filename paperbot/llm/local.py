"""Serve a local GGUF model with `python -m llama_cpp.server` on 127.0.0.1: start, wait until ready, stop."""

from __future__ import annotations

import atexit
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from paperbot.errors import ConfigError
from paperbot.llm.errors import LLMError
from paperbot.llm.gguf import VerifiedCache, check_model_file

log = logging.getLogger(__name__)

HOST = "127.0.0.1"  # never exposed: the server has no authentication
LOG_TAIL_LINES = 20


class LocalServerError(LLMError):
    """The local model server could not be started, or died."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def model_alias(model: Path) -> str:
    """The name the server answers to and answers report: the file name without .gguf."""
    return model.name.removesuffix(".gguf").removesuffix(".GGUF")


def models_answer(base_url: str, timeout: float = 2.0) -> list[str] | None:
    """Model ids from GET {base_url}/models, or None when nothing answers there (yet)."""
    request = urllib.request.Request(f"{base_url}/models", headers={"Authorization": "Bearer not-needed"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = json.loads(response.read().decode("utf-8"))
    except (OSError, ValueError, urllib.error.URLError):
        return None
    return [m.get("id", "") for m in body.get("data", []) if isinstance(m, dict)]


class LocalServer:
    """One llama.cpp server process for one model file. `with LocalServer(...) as server: server.base_url`."""

    def __init__(self, model: Path, *, threads: int | None = None, context: int = 2048, port: int | None = None,
                 startup_timeout: float = 120.0, module: str = "paperbot.llm.llama_server",
                 verified_cache: Path | None = None, repack: str = "auto") -> None:
        self.model = Path(model).expanduser().resolve()
        self.alias = model_alias(self.model)
        self.threads = threads or os.cpu_count() or 1
        self.context = context
        self.port = port
        self.startup_timeout = startup_timeout
        self.module = module
        self.repack = repack  # "auto": on, unless the first product dies with SIGILL (see llama_server.py)
        self._cache = VerifiedCache(verified_cache)
        self._process: subprocess.Popen | None = None
        self._log_file = None

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}/v1"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def command(self) -> list[str]:
        # interrupt_requests false: by default llama_cpp.server cuts a streaming answer off when another request
        # arrives; one server is shared by many paperbot commands (`paperbot llm serve`), so the next one waits.
        return [sys.executable, "-m", self.module, "--model", str(self.model), "--model_alias", self.alias,
                "--host", HOST, "--port", str(self.port), "--n_threads", str(self.threads),
                "--n_ctx", str(self.context), "--interrupt_requests", "false",
                *(["--no_repack"] if self.repack == "off" else [])]

    def start(self) -> LocalServer:
        if self.running:
            return self
        check_model_file(self.model, self._cache)  # a known file with the wrong hash is never loaded
        if self.module in ("llama_cpp.server", "paperbot.llm.llama_server"):
            _require_llama_cpp()
        self._launch()
        if self._warm_up():
            return self
        if self.repack != "auto":
            tail = self.log_tail()
            self.stop()
            raise LocalServerError(f"the local model server died with SIGILL on its first request (repacking "
                                   f"{self.repack}): try PAPERBOT_LOCAL_REPACK=off; its log ends:\n{tail}")
        # Died on its first matrix product with SIGILL: kernels this CPU advertises but may not run (AMX in a VM).
        log.warning("the local model server died with SIGILL on its first request; restarting it without weight "
                    "repacking (PAPERBOT_LOCAL_REPACK=off skips this check)")
        self.repack = "off"
        self._launch()
        if not self._warm_up():
            tail = self.log_tail()
            self.stop()
            raise LocalServerError(f"the local model server died on its first request even without weight "
                                   f"repacking; its log ends:\n{tail}")
        return self

    def _launch(self) -> None:
        self.stop()
        self.port = self.port or free_port()
        self._log_file = tempfile.NamedTemporaryFile(prefix="paperbot-llama-", suffix=".log", delete=False)
        log.info("starting the local model server on %s (%s, %d threads, context %d); log %s", self.base_url,
                 self.model.name, self.threads, self.context, self._log_file.name)
        self._process = subprocess.Popen(
            self.command(), stdin=subprocess.DEVNULL, stdout=self._log_file, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped as a whole, and Ctrl+C reaches us first
        )
        atexit.register(self.stop)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _warm_up(self) -> bool:
        """One tiny answer (loads the weights, runs the kernels). False when the server died of SIGILL on it."""
        body = json.dumps({"model": self.alias, "max_tokens": 1, "temperature": 0,
                           "messages": [{"role": "user", "content": "Reply with one word: ready"}]}).encode()
        request = urllib.request.Request(f"{self.base_url}/chat/completions", data=body, headers={
            "Content-Type": "application/json", "Authorization": "Bearer not-needed"})
        try:
            with urllib.request.urlopen(request, timeout=self.startup_timeout) as response:
                response.read()
            return True
        except (OSError, urllib.error.URLError) as exc:
            try:
                code = self._process.wait(5) if self._process is not None else None
            except subprocess.TimeoutExpired:
                code = None
            if code == -signal.SIGILL:
                return False
            tail = self.log_tail()
            self.stop()
            raise LocalServerError(f"the local model server at {self.base_url} failed its first request ({exc}); "
                                   f"exit code {code}; its log ends:\n{tail}") from None

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        delay = 0.05
        while time.monotonic() < deadline:
            code = self._process.poll()
            if code is not None:
                raise LocalServerError(
                    f"the local model server ({self.module}) exited with code {code} while loading {self.model}; "
                    f"its log ends:\n{self.log_tail()}")
            if models_answer(self.base_url) is not None:
                log.info("the local model server is ready at %s", self.base_url)
                return
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
        raise LocalServerError(
            f"the local model server did not answer at {self.base_url}/models within {self.startup_timeout:g}s "
            f"(PAPERBOT_LOCAL_STARTUP_TIMEOUT); its log ends:\n{self.log_tail()}")

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        if self._log_file is None:
            return "(no log)"
        try:
            text = Path(self._log_file.name).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(log unreadable)"
        return "\n".join(text.rstrip().splitlines()[-lines:]) or "(empty log)"

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate the server (its whole process group), killing it if it does not exit in time. Idempotent."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            _signal_group(process, signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL)
                process.wait(timeout)
        if self._log_file is not None:
            self._log_file.close()
            Path(self._log_file.name).unlink(missing_ok=True)
            self._log_file = None
        atexit.unregister(self.stop)

    def wait(self) -> int:
        """Block until the server exits (foreground `paperbot llm serve`); returns its exit code."""
        assert self._process is not None, "start() first"
        return self._process.wait()

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass


def _require_llama_cpp() -> None:
    import importlib.util

    if importlib.util.find_spec("llama_cpp") is None:
        raise ConfigError("the local model needs llama-cpp-python: pip install -e '.[local]' (it compiles llama.cpp, "
                          "about 10 minutes on 2 cores), or serve the model elsewhere and set PAPERBOT_LOCAL_BASE_URL")
