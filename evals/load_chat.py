"""Load check of the chat app: N gradio_client users ask questions for a while, optionally while papers are ingested.

    python -m evals.load_chat                       # starts `paperbot chat` on a free port over the configured store
    python -m evals.load_chat --url http://127.0.0.1:7860/ --users 20 --seconds 60 --out evals/results/load-chat.json

    # The measured runs: a fresh store (a `chroma run` server, the demo corpus), extractive and then LLM answers
    # (a fake OpenAI-compatible server in its own process, 200 ms per request), 50 SciFact abstracts ingested by
    # another process a third of the way in:
    python -m evals.load_chat --modes extractive,llm --store-corpus ../shared/corpus/inference-cost-papers.txt \\
        --ingest ../shared/datasets/scifact/corpus.jsonl --ingest-limit 50 \\
        --out evals/results/load-chat.json --md evals/results/load-chat.md

Each user is its own gradio_client Client (its own session) calling the `ask` endpoint in a loop; latency is measured
from the call to the final answer, so queue waiting is included. The ingest runs as `paperbot ingest` in another
process against the same store (so the store is a Chroma server: two processes must not share an embedded one);
answers that finish while it runs are counted, and afterwards one of the new papers must be found by `search`.
Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

QUESTIONS = [
    "Which papers speed up decoding with a small draft model?",
    "Which papers reduce KV cache memory, and by how much?",
    "How do papers make attention cheaper for long contexts?",
    "Which methods quantize weights to 4 bits or fewer?",
    "Which papers batch requests to raise serving throughput?",
]
REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(process: subprocess.Popen, port: int, what: str, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if process.poll() is not None:
                output = process.stdout.read() if process.stdout else ""
                raise SystemExit(f"{what} exited with {process.returncode}:\n{output}")
            time.sleep(0.5)
    process.kill()
    raise SystemExit(f"{what} did not listen within {seconds:.0f} s")


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _base_env() -> dict[str, str]:
    return {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "ANONYMIZED_TELEMETRY": "False", "HF_HUB_OFFLINE": "1"}


def _start_app(concurrency: int, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "paperbot", "chat", "--host", "127.0.0.1", "--port", str(port),
         "--concurrency", str(concurrency)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    _wait_for_port(process, port, "paperbot chat")
    return process, f"http://127.0.0.1:{port}/"


def _start_chroma(folder: Path, port: int | None = None) -> tuple[subprocess.Popen, str]:
    """`chroma run` over folder/chroma; the same port again gives the same location, so the catalog beside the
    store (keyed by the server's address) still belongs to it."""
    beside_python = Path(sys.executable).parent / "chroma"
    chroma = str(beside_python) if beside_python.exists() else shutil.which("chroma")
    if chroma is None:
        raise SystemExit("the `chroma` command (from the chromadb package) is not on PATH")
    port = port or _free_port()
    log = (folder / "chroma.log").open("w")
    process = subprocess.Popen([chroma, "run", "--host", "127.0.0.1", "--port", str(port), "--path",
                                str(folder / "chroma")], stdout=log, stderr=subprocess.STDOUT, env=_base_env())
    _wait_for_port(process, port, "chroma run")
    return process, f"http://127.0.0.1:{port}"


def build_store(corpus: Path, folder: Path) -> int:
    """A store (Chroma server data plus the catalog) holding `corpus`, in `folder`; returns the server's port."""
    folder.mkdir(parents=True, exist_ok=True)
    chroma, url = _start_chroma(folder)
    try:
        env = {**_base_env(), "PAPERBOT_DATA_DIR": str(folder / "store"), "PAPERBOT_CHROMA_URL": url}
        subprocess.run([sys.executable, "-m", "paperbot", "ingest", str(corpus)], env=env, check=True,
                       stdout=subprocess.DEVNULL)
    finally:
        _stop(chroma)
    return int(url.rsplit(":", 1)[1])


def _start_fake_llm(latency: float) -> tuple[subprocess.Popen, dict[str, str]]:
    """tests/fake_openai.py in its own process (so it does not share a GIL with the users), citing what it is shown."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fake_openai", "--latency", str(latency),
         "--responder", "tests.app_helpers:citing_responder"],
        cwd=REPO, env=_base_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    line = process.stdout.readline().split() if process.stdout else []
    if len(line) != 2:
        raise SystemExit(f"the fake LLM server did not start: {line}")
    url, key = line
    return process, {"OPENAI_BASE_URL": url, "OPENAI_API_KEY": key, "PAPERBOT_CHAT_MODEL": "fake-chat"}


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


@dataclass
class IngestPlan:
    """Ingest `path` (a JSONL file) in another process `at` seconds into the load, with `env` (the app's store)."""

    path: Path
    at: float
    env: dict[str, str]
    probe_title: str
    started: float | None = None
    ended: float | None = None
    result: dict = field(default_factory=dict)

    def run(self, began: float) -> None:
        time.sleep(max(0.0, began + self.at - time.monotonic()))
        self.started = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "paperbot", "ingest", str(self.path)], env=self.env,
                              capture_output=True, text=True, check=False)
        self.ended = time.monotonic()
        self.result = {"returncode": done.returncode, "output": (done.stdout + done.stderr).strip()[-400:],
                       "started_at_s": round(self.started - began, 1), "seconds": round(self.ended - self.started, 1)}


def run(url: str, users: int, seconds: float, mode: str = "extractive", ingest: IngestPlan | None = None) -> dict:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # else gradio_client's Hub headers fetch a registry from the Hub
    from gradio_client import Client

    finished: list[tuple[float, float]] = []  # (end time, latency) of each answer
    errors: list[tuple[float, str]] = []
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
                answer = client.predict(question, api_name="/ask", mode=mode)
                ok = isinstance(answer, dict) and bool(answer.get("text")) and answer.get("mode") == mode
                problem = None if ok else f"unexpected reply {str(answer)[:100]}"
            except Exception as exc:  # noqa: BLE001 - every failure is counted and reported
                problem = f"{type(exc).__name__}: {str(exc)[:200]}"
            elapsed = time.perf_counter() - began
            with lock:
                if problem:
                    errors.append((time.monotonic(), problem))
                else:
                    finished.append((time.monotonic(), elapsed))

    # One answer first, not counted: the app loads the embedding model and term statistics on its first question.
    warm = time.perf_counter()
    Client(url, verbose=False, analytics_enabled=False).predict(QUESTIONS[0], api_name="/ask", mode=mode)
    warmup_s = time.perf_counter() - warm
    threads = [threading.Thread(target=user, args=(n,), daemon=True) for n in range(users)]
    load_before = os.getloadavg()[0]  # other work on the machine shows here, and in the figures
    began = time.monotonic()
    for thread in threads:
        thread.start()
    ingester = None
    if ingest is not None:
        ingester = threading.Thread(target=ingest.run, args=(began,), daemon=True)
        ingester.start()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - began
    latencies = [latency for _, latency in finished]
    figures = {
        "mode": mode, "users": users, "seconds": seconds, "requests": len(finished) + len(errors),
        "answered": len(finished), "errors": len(errors), "error_examples": sorted({e for _, e in errors})[:5],
        "p50_s": round(_percentile(latencies, 50), 3), "p95_s": round(_percentile(latencies, 95), 3),
        "max_s": round(max(latencies), 3) if latencies else None,
        "answers_per_s": round(len(latencies) / wall, 2) if wall else None,
        "first_answer_s": round(warmup_s, 2),
        "load_average_1m_before_after": [round(load_before, 1), round(os.getloadavg()[0], 1)],
    }
    if ingest is not None and ingester is not None:
        ingester.join()
        window = [latency for end, latency in finished if ingest.started <= end <= ingest.ended]
        probe = Client(url, verbose=False, analytics_enabled=False).predict(ingest.probe_title, 10,
                                                                            api_name="/search")
        titles = [hit["title"] for hit in probe]
        figures["ingest"] = {
            **ingest.result,
            "answered_during_ingest": len(window),
            "errors_during_ingest": sum(1 for t, _ in errors if ingest.started <= t <= ingest.ended),
            "p50_s_during_ingest": round(_percentile(window, 50), 3) if window else None,
            "p95_s_during_ingest": round(_percentile(window, 95), 3) if window else None,
            "new_paper_found_by_search": ingest.probe_title in titles,
            "new_paper_rank": titles.index(ingest.probe_title) + 1 if ingest.probe_title in titles else None,
        }
    return figures


def _ingest_file(source: Path, limit: int, folder: Path) -> tuple[Path, str]:
    """The first `limit` records of a JSONL corpus, and the title of the first one (to look for afterwards)."""
    lines = source.read_text(encoding="utf-8").splitlines()[:limit]
    target = folder / f"ingest-{limit}.jsonl"
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target, json.loads(lines[0])["title"]


def measure(mode: str, args: argparse.Namespace, built: tuple[Path, int] | None) -> dict:
    """One run in `mode`: its own copy of the built store (when there is one), its own app, its own fake LLM."""
    with ExitStack() as stack:
        env = _base_env()
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="paperbot-load-")))
        if built is not None:
            source, port = built
            shutil.copytree(source, scratch / "copy")
            chroma, chroma_url = _start_chroma(scratch / "copy", port)
            stack.callback(_stop, chroma)
            env.update(PAPERBOT_DATA_DIR=str(scratch / "copy" / "store"), PAPERBOT_CHROMA_URL=chroma_url)
        if mode == "llm":
            fake, llm_env = _start_fake_llm(args.llm_latency)
            stack.callback(_stop, fake)
            env.update(llm_env)
        app, url = _start_app(args.concurrency, env)
        stack.callback(_stop, app)
        plan = None
        if args.ingest:
            if not env.get("PAPERBOT_CHROMA_URL"):
                raise SystemExit("--ingest needs a Chroma server store: give --store-corpus or set PAPERBOT_CHROMA_URL")
            path, title = _ingest_file(args.ingest, args.ingest_limit, scratch)
            at = args.ingest_at if args.ingest_at is not None else args.seconds / 3
            plan = IngestPlan(path, at, env, title)
        figures = run(url, args.users, args.seconds, mode, plan)
        figures["app_concurrency"] = args.concurrency
        if mode == "llm":
            figures["llm_latency_s"] = args.llm_latency
        return figures


def _mode_label(run_: dict) -> str:
    return f"llm ({run_['llm_latency_s']:g} s per LLM request)" if run_["mode"] == "llm" else run_["mode"]


def markdown(results: dict) -> str:
    lines = ["# Chat app under load", "", f"Command (from the repository root): `{results['command']}`", "",
             f"Machine: {results['machine']}.", "",
             "| mode | users | seconds | requests | answered | errors | p50 s | p95 s | max s | answers/s |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results["runs"]:
        lines.append(f"| {_mode_label(r)} | {r['users']} | {r['seconds']:g} | {r['requests']} | {r['answered']} "
                     f"| {r['errors']} | {r['p50_s']} | {r['p95_s']} | {r['max_s']} | {r['answers_per_s']} |")
    ingests = [r for r in results["runs"] if "ingest" in r]
    if ingests:
        header = ("| mode | started at s | took s | answered meanwhile | errors meanwhile | p50 s meanwhile "
                  "| p95 s meanwhile | new paper found by search |")
        intro = ("Concurrent ingest: another `paperbot ingest` process adding papers to the same (Chroma server) "
                 "store during the load.")
        lines += ["", intro, "", header, "|---|---|---|---|---|---|---|---|"]
        for r in ingests:
            i = r["ingest"]
            found = f"yes, rank {i['new_paper_rank']}" if i["new_paper_found_by_search"] else "NO"
            lines.append(f"| {_mode_label(r)} | {i['started_at_s']} | {i['seconds']} | {i['answered_during_ingest']} "
                         f"| {i['errors_during_ingest']} | {i['p50_s_during_ingest']} | {i['p95_s_during_ingest']} "
                         f"| {found} |")
    note = ("Latency is from the call to the final answer, queue waiting included. The LLM is a fake "
            "OpenAI-compatible server (tests/fake_openai.py) in its own process that waits the given time per "
            "request: these figures are paperbot's own overhead plus that wait, not a real model's speed.")
    lines += ["", note, ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running app; default: start `paperbot chat` over the configured store")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--concurrency", type=int, default=2, help="the app's queue concurrency (when started here)")
    parser.add_argument("--modes", default="extractive", help="comma-separated: extractive, llm (one run each)")
    parser.add_argument("--llm-latency", type=float, default=0.2, help="seconds the fake LLM waits per request")
    parser.add_argument("--store-corpus", type=Path, help="build a fresh store (Chroma server) from this corpus")
    parser.add_argument("--ingest", type=Path, help="a JSONL corpus to ingest from another process during the load")
    parser.add_argument("--ingest-limit", type=int, default=50, help="records of --ingest to add")
    parser.add_argument("--ingest-at", type=float, help="seconds into the load the ingest starts (default: a third)")
    parser.add_argument("--machine", default=f"{os.cpu_count()} CPU cores, {platform.platform(terse=True)}")
    parser.add_argument("--out", type=Path, help="write the figures as JSON")
    parser.add_argument("--md", type=Path, help="write the figures as a Markdown table")
    args = parser.parse_args()
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not set(modes) <= {"extractive", "llm"}:
        raise SystemExit("--modes takes extractive and/or llm")
    if args.url:
        runs = [run(args.url, args.users, args.seconds, mode) for mode in modes]
    else:
        with tempfile.TemporaryDirectory(prefix="paperbot-load-store-") as folder:
            built = (Path(folder), build_store(args.store_corpus, Path(folder))) if args.store_corpus else None
            runs = [measure(mode, args, built) for mode in modes]
    command = "python -m evals.load_chat " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    results = {"command": command, "machine": args.machine, "runs": runs}
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    if args.md:
        args.md.parent.mkdir(parents=True, exist_ok=True)
        args.md.write_text(markdown(results))
    bad = [r for r in runs if r["errors"] or ("ingest" in r and (r["ingest"]["returncode"] != 0
                                                                 or not r["ingest"]["new_paper_found_by_search"]))]
    if bad:
        raise SystemExit(f"{len(bad)} run(s) had errors or a failed ingest")


if __name__ == "__main__":
    main()
