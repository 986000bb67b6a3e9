"""A stand-in for `python -m llama_cpp.server`: same arguments, serves tests/fake_openai.py on the given port.

FAKE_LLAMA_BEHAVIOUR selects what it does: "serve" (default), "die" (logs a line and exits 3 while "loading"),
"hang" (never listens), "sigill" (dies of SIGILL on its first chat request unless started with --no_repack,
like llama.cpp using AMX kernels a VM does not enable). FAKE_LLAMA_REPLY is the assistant text; FAKE_LLAMA_LOAD_SECONDS delays listening, as
loading a model does. Every request body is appended as a JSON line to FAKE_LLAMA_REQUESTS, when set.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time

from tests.fake_openai import FakeOpenAI


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fake_llama_server")
    for name in ("--model", "--model_alias", "--host", "--port", "--n_threads", "--n_ctx"):
        parser.add_argument(name, required=True)
    parser.add_argument("--no_repack", action="store_true")
    parser.add_argument("--interrupt_requests", choices=("false",), required=True)  # a shared server must not cut
    args = parser.parse_args(argv)
    behaviour = os.environ.get("FAKE_LLAMA_BEHAVIOUR", "serve")
    print(f"fake llama server: model {args.model}, {args.n_threads} threads, n_ctx {args.n_ctx}", flush=True)
    if behaviour == "die":
        print("error loading model: invalid magic characters 'XXXX'", flush=True)
        return 3
    time.sleep(float(os.environ.get("FAKE_LLAMA_LOAD_SECONDS", "0")))
    if behaviour == "hang":
        threading.Event().wait()
    assert args.host == "127.0.0.1", args.host
    reply = os.environ.get("FAKE_LLAMA_REPLY", "KV caches shrink by half [P1].")
    log = os.environ.get("FAKE_LLAMA_REQUESTS")

    def respond(body: dict) -> str:
        if behaviour == "sigill" and not args.no_repack:
            os.kill(os.getpid(), signal.SIGILL)
            time.sleep(30)  # the signal kills the process before any reply goes out
        if log:
            with open(log, "a", encoding="utf-8") as f:
                f.write(json.dumps(body) + "\n")
        return reply

    fake = FakeOpenAI(respond, api_key="not-needed", models=[args.model_alias], port=int(args.port)).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(f"listening on {fake.base_url}", flush=True)
    stop.wait()
    fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
