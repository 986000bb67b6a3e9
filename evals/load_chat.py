"""Load check of the chat app: N gradio_client users ask extractive questions for a while; errors and latency.

    python -m evals.load_chat                       # starts `paperbot chat` on a free port over the configured store
    python -m evals.load_chat --url http://127.0.0.1:7860/ --users 20 --seconds 60 --out evals/results/load-chat.json

Each user is its own gradio_client Client (its own session) calling the `ask` endpoint in a loop; latency is measured
from the call to the final answer, so queue waiting is included. Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

QUESTIONS = [
    "Which papers speed up decoding with a small draft model?",
    "Which papers reduce KV cache memory, and by how much?",
    "How do papers make attention cheaper for long contexts?",
    "Which methods quantize weights to 4 bits or fewer?",
    "Which papers batch requests to raise serving throughput?",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_app(concurrency: int) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "ANONYMIZED_TELEMETRY": "False"}
    process = subprocess.Popen(
        [sys.executable, "-m", "paperbot", "chat", "--host", "127.0.0.1", "--port", str(port),
         "--concurrency", str(concurrency)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return process, f"http://127.0.0.1:{port}/"
        except OSError:
            if process.poll() is not None:
                raise SystemExit(f"paperbot chat exited:\n{process.stdout.read() if process.stdout else ''}")
            time.sleep(0.5)
    process.kill()
    raise SystemExit("paperbot chat did not listen within 180 s")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def run(url: str, users: int, seconds: float) -> dict:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # else gradio_client's Hub headers fetch a registry from the Hub
    from gradio_client import Client

    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    start_gate = threading.Barrier(users)
    stop_at: list[float] = []

    def user(number: int) -> None:
        client = Client(url, verbose=False, analytics_enabled=False)
        start_gate.wait()  # everyone starts together: the worst case for the queue
        if number == 0:
            stop_at.append(time.monotonic() + seconds)
        while not stop_at:
            time.sleep(0.001)
        asked = number
        while time.monotonic() < stop_at[0]:
            question = QUESTIONS[asked % len(QUESTIONS)]
            asked += 1
            began = time.perf_counter()
            try:
                answer = client.predict(question, api_name="/ask", mode="extractive")
                ok = isinstance(answer, dict) and "text" in answer
                problem = None if ok else f"unexpected reply {str(answer)[:100]}"
            except Exception as exc:  # noqa: BLE001 - every failure is counted and reported
                problem = f"{type(exc).__name__}: {str(exc)[:200]}"
            elapsed = time.perf_counter() - began
            with lock:
                if problem:
                    errors.append(problem)
                else:
                    latencies.append(elapsed)

    threads = [threading.Thread(target=user, args=(n,), daemon=True) for n in range(users)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - began
    return {
        "users": users, "seconds": seconds, "requests": len(latencies) + len(errors), "answered": len(latencies),
        "errors": len(errors), "error_examples": sorted(set(errors))[:5],
        "p50_s": round(_percentile(latencies, 50), 3), "p95_s": round(_percentile(latencies, 95), 3),
        "max_s": round(max(latencies), 3) if latencies else None,
        "answers_per_s": round(len(latencies) / wall, 2) if wall else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running app; default: start `paperbot chat` over the configured store")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--concurrency", type=int, default=2, help="the app's queue concurrency (when started here)")
    parser.add_argument("--out", type=Path, help="write the figures as JSON")
    args = parser.parse_args()
    process = None
    url = args.url
    if url is None:
        process, url = _start_app(args.concurrency)
    try:
        figures = run(url, args.users, args.seconds)
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=30)
    text = json.dumps(figures, indent=2)
    print(f"{url}\n{text}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
