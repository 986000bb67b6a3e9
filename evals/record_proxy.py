"""A recording pass-through for an OpenAI-compatible server: replies cached by sha256 of the request body, replayed.

Real-model evals pay seconds per generation; re-running one after the answer checks change (attribution,
abstention) must not pay them again. Put this between paperbot and the model server:

    python -m evals.record_proxy --upstream http://127.0.0.1:8001/v1 --cache evals/results/raw/local-model-cache
    # prints "http://127.0.0.1:PORT/v1"; point PAPERBOT_LOCAL_BASE_URL (or OPENAI_BASE_URL) at it

A request whose body was seen before is answered from the cache (a stream is replayed in one go), so only
generation time changes between a recording run and its replay; each recording keeps the upstream's own
timings (first content byte, total) and token usage, which `--stats` summarises: the speed figures come from the
recording, never from a replay. Errors (HTTP >= 400) are passed through and not cached. Listens on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import signal
import statistics
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_CONTENT = re.compile(rb'"content":\s*"[^"]')  # a stream chunk with text in it (not the empty role chunk)


class Recorder:
    """The cache folder: one JSON file per request body hash."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.hits = self.misses = 0
        self._lock = threading.Lock()

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.json"

    def get(self, key: str) -> dict | None:
        path = self.path(key)
        if not path.is_file():
            return None
        return json.loads(path.read_text(encoding="utf-8"))

    def put(self, key: str, record: dict) -> None:
        tmp = self.path(key).with_suffix(".tmp")
        tmp.write_text(json.dumps(record), encoding="utf-8")
        tmp.replace(self.path(key))

    def count(self, hit: bool) -> None:
        with self._lock:
            if hit:
                self.hits += 1
            else:
                self.misses += 1


def _usage_from_sse(body: str) -> dict | None:
    usage = None
    for line in body.splitlines():
        if line.startswith("data: ") and line[6:].strip() != "[DONE]":
            try:
                chunk = json.loads(line[6:])
            except ValueError:
                continue
            usage = chunk.get("usage") or usage
    return usage


def make_handler(upstream: str, recorder: Recorder, *, replay_only: bool, timeout: float):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args) -> None:  # quiet: the eval prints its own progress
            pass

        def _target(self) -> str:
            path = self.path.removeprefix("/v1")
            return upstream.rstrip("/") + path

        def do_GET(self) -> None:
            self._forward(b"", cache=False)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self._forward(body, cache=self.path.rstrip("/").endswith("/chat/completions"))

        def _send(self, status: int, content_type: str, payload: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _forward(self, body: bytes, *, cache: bool) -> None:
            key = hashlib.sha256(body).hexdigest()
            if cache:
                record = recorder.get(key)
                # One line per request (its body's hash), so a replay's misses can be told apart while it runs.
                print(f"{'hit' if record is not None else 'miss'} {key[:12]}", file=sys.stderr, flush=True)
                if record is not None:
                    recorder.count(True)
                    self._send(record["status"], record["content_type"], record["body"].encode("utf-8"))
                    return
                recorder.count(False)
                if replay_only:
                    self._send(503, "application/json", json.dumps({"error": {
                        "message": f"record_proxy --replay-only: no recording for request {key[:12]}",
                        "type": "server_error"}}).encode())
                    return
            request = urllib.request.Request(self._target(), data=body or None, method=self.command)
            for name in ("Content-Type", "Authorization", "Accept"):
                if self.headers.get(name):
                    request.add_header(name, self.headers[name])
            started = time.monotonic()
            try:
                response = urllib.request.urlopen(request, timeout=timeout)
            except urllib.error.HTTPError as exc:  # passed through, never cached
                self._send(exc.code, exc.headers.get("Content-Type", "application/json"), exc.read())
                return
            except OSError as exc:
                self._send(502, "application/json", json.dumps({"error": {
                    "message": f"record_proxy: upstream {upstream} failed: {exc}", "type": "server_error"}}).encode())
                return
            with response:
                content_type = response.headers.get("Content-Type", "application/json")
                streaming = content_type.startswith("text/event-stream")
                self.send_response(response.status)
                self.send_header("Content-Type", content_type)
                if streaming:
                    self.send_header("Transfer-Encoding", "chunked")
                pieces: list[bytes] = []
                first_ms = None
                if streaming:
                    self.end_headers()
                    while block := response.read1(65536):
                        if first_ms is None and _CONTENT.search(block):
                            first_ms = (time.monotonic() - started) * 1e3
                        pieces.append(block)
                        self.wfile.write(f"{len(block):x}\r\n".encode() + block + b"\r\n")
                        self.wfile.flush()
                    self.wfile.write(b"0\r\n\r\n")
                else:
                    payload = response.read()
                    pieces.append(payload)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                total_ms = (time.monotonic() - started) * 1e3
            if cache and response.status == 200:
                text = b"".join(pieces).decode("utf-8")
                usage = _usage_from_sse(text) if streaming else json.loads(text).get("usage")
                recorder.put(key, {"status": 200, "content_type": content_type, "body": text,
                                   "stream": streaming, "first_content_ms": first_ms if streaming else total_ms,
                                   "total_ms": total_ms, "usage": usage, "recorded_at": time.time()})

    return Handler


def _output_tokens(record: dict) -> int:
    """Reported completion tokens, else the stream's content deltas (llama.cpp's server sends one per token and
    no usage in streams)."""
    usage = record.get("usage") or {}
    if isinstance(usage.get("completion_tokens"), int):
        return usage["completion_tokens"]
    return len(_CONTENT.findall(record["body"].encode("utf-8")))


def stats(folder: Path) -> dict:
    """Speed of the recorded answers (streams): seconds per answer, first content time, output tokens/s.
    Prompt tokens/s needs the prompt's size, which only a server that reports usage gives."""
    records = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))]
    streams = [r for r in records if r.get("stream") and r.get("first_content_ms")]
    for record in streams:
        record["output_tokens"] = _output_tokens(record)
    reported = [r for r in streams if (r.get("usage") or {}).get("prompt_tokens")]

    def pct(values: list[float], q: float) -> float | None:
        if not values:
            return None
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]

    totals = [r["total_ms"] / 1e3 for r in streams]
    firsts = [r["first_content_ms"] / 1e3 for r in streams]
    prompt_rates = [r["usage"]["prompt_tokens"] / (r["first_content_ms"] / 1e3) for r in reported]
    output_rates = [(r["output_tokens"] - 1) / ((r["total_ms"] - r["first_content_ms"]) / 1e3)
                    for r in streams if r["output_tokens"] > 1 and r["total_ms"] > r["first_content_ms"]]
    return {
        "recorded_calls": len(records), "streamed_answers": len(streams),
        "seconds_per_answer_p50": pct(totals, 50), "seconds_per_answer_p95": pct(totals, 95),
        "first_token_seconds_p50": pct(firsts, 50), "first_token_seconds_p95": pct(firsts, 95),
        "prompt_tokens_mean": statistics.fmean(r["usage"]["prompt_tokens"] for r in reported) if reported else None,
        "completion_tokens_mean": statistics.fmean(r["output_tokens"] for r in streams) if streams else None,
        "prompt_tokens_per_second_p50": pct(prompt_rates, 50),
        "output_tokens_per_second_p50": pct(output_rates, 50),
    }


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM ends the proxy like Ctrl+C, so that it prints its hit/miss count when a script stops it."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m evals.record_proxy", description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", help="the model server's base URL, e.g. http://127.0.0.1:8001/v1")
    parser.add_argument("--cache", type=Path, required=True, help="folder of recordings")
    parser.add_argument("--port", type=int, default=0, help="default: a free port")
    parser.add_argument("--replay-only", action="store_true", help="answer only from recordings (503 otherwise)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per upstream request")
    parser.add_argument("--stats", action="store_true", help="print the recordings' speed figures as JSON and exit")
    args = parser.parse_args(argv)
    if args.stats:
        print(json.dumps(stats(args.cache), indent=2))
        return
    if not args.upstream and not args.replay_only:
        parser.error("--upstream is needed unless --replay-only")
    recorder = Recorder(args.cache)
    server = ThreadingHTTPServer(("127.0.0.1", args.port),
                                 make_handler(args.upstream or "", recorder, replay_only=args.replay_only,
                                              timeout=args.timeout))
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, _interrupt)
    print(f"http://127.0.0.1:{server.server_address[1]}/v1", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        print(f"record_proxy: {recorder.hits} replayed, {recorder.misses} recorded or missed", file=sys.stderr)


if __name__ == "__main__":
    main()
