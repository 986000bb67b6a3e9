"""Foundation benchmark: ingest throughput vs the raw embedding model, query latency vs dense-only Chroma, and
retrieval quality (dense / lexical / hybrid) on SciFact train, all measured in one run; and, with --startup,
cold process start of the browsing commands against `python -c pass` in the same run.

    python -m evals.bench --datasets ../shared/datasets --corpus ../shared/corpus/inference-cost-papers.txt
    python -m evals.bench --startup --corpus ../shared/corpus/inference-cost-papers.txt
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from ranx import Qrels, Run, evaluate

from evals.beir import load_split
from paperbot import PaperBot, Settings
from paperbot.ingest.loaders import load_papers


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def raw_embed_rate(bot: PaperBot, texts: list[str]) -> float:
    """Chunks per second of the embedding model alone, on texts the pipeline also embeds."""
    started = time.perf_counter()
    bot.embedder.embed(texts)
    return len(texts) / (time.perf_counter() - started)


def time_queries(fn, queries: list[str]) -> list[float]:
    fn(queries[0])  # the first query loads sessions and caches; excluded, as the benchmark spec says
    out = []
    for q in queries[1:]:
        started = time.perf_counter()
        fn(q)
        out.append((time.perf_counter() - started) * 1e3)
    return out


def quality(bot: PaperBot, queries: dict[str, str], qrels: dict, modes: list[str], k: int = 100) -> dict:
    scores = {}
    for mode in modes:
        run = {}
        for qid, text in queries.items():
            hits = bot.search(text, k=k, mode=mode)
            run[qid] = {h.paper_id: float(k - i) for i, h in enumerate(hits)} or {"__none__": 0.0}
        scores[mode] = evaluate(Qrels(qrels), Run(run), ["ndcg@10", "recall@10", "recall@100", "mrr"])
    return scores


STARTUP_COMMANDS = {"help": ["--help"], "papers": ["papers"], "show": ["show", "{paper}"], "stats": ["stats"]}

# What the CLI framework itself costs: `papers`' options (five global, two of its own) parsed by typer and by plain
# click, each after importing pydantic_settings as every store command does (Settings); typer builds a pydantic
# TypeAdapter per option, which costs little once pydantic is loaded.
_CLI_PROBE = """
import os, sys
from pathlib import Path
os.environ["PYDANTIC_DISABLE_PLUGINS"] = "__all__"
import pydantic_settings
argv = ["--data-dir", "/tmp", "--collection", "c", "papers", "--grep", "x", "--json"]
if sys.argv[1] == "typer":
    from typing import Annotated, Optional
    import typer
    app = typer.Typer(add_completion=False, rich_markup_mode=None, pretty_exceptions_enable=False)
    @app.callback()
    def main(data_dir: Annotated[Optional[Path], typer.Option()] = None,
             collection: Annotated[Optional[str], typer.Option()] = None,
             chroma_url: Annotated[Optional[str], typer.Option()] = None,
             models_dir: Annotated[Optional[Path], typer.Option()] = None,
             verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False): pass
    @app.command()
    def papers(grep: Annotated[Optional[str], typer.Option()] = None,
               as_json: Annotated[bool, typer.Option("--json")] = False): pass
    app(argv, standalone_mode=False)
else:
    import click
    @click.group()
    @click.option("--data-dir", type=click.Path(path_type=Path))
    @click.option("--collection")
    @click.option("--chroma-url")
    @click.option("--models-dir", type=click.Path(path_type=Path))
    @click.option("--verbose", "-v", is_flag=True)
    def main(**options): pass
    @main.command()
    @click.option("--grep")
    @click.option("--json", "as_json", is_flag=True)
    def papers(grep, as_json): pass
    main(argv, standalone_mode=False)
"""


def startup_times(store: Path, runs: int, baseline: Path | None = None, pycache: Path | None = None) -> dict:
    """Wall time of `runs` fresh processes per command, the commands interleaved round by round so that machine
    load hits each alike; `python -c pass` is the baseline: the interpreter start no command can avoid.
    baseline: a source tree of another version (e.g. `git archive COMMIT paperbot prompts`), whose commands run
    interleaved with this one's as `baseline paperbot ...`; both are then started as `python -m paperbot` from
    their tree, so the two differ in their code only.
    pycache: where the commands' bytecode is cached (PYTHONPYCACHEPREFIX), written by one untimed round first: a
    start as after any install, even where PYTHONDONTWRITEBYTECODE is set (then paperbot's own modules are compiled
    from source at every start; one row measures that)."""
    bot = PaperBot(Settings(data_dir=store), must_exist=True)
    paper = bot.papers()[0].id
    bot.close()
    here = Path(__file__).resolve().parents[1]
    trees = {"": here} if baseline is None else {"": here, "baseline ": baseline.resolve()}
    commands: dict[str, tuple[list[str], Path | None]] = {"python -c pass": ([sys.executable, "-c", "pass"], None)}
    for framework in ("typer", "click"):
        commands[f"{framework}: papers' 7 options, after pydantic_settings"] = (
            [sys.executable, "-c", _CLI_PROBE, framework], None)
    script = str(Path(sys.executable).with_name("paperbot"))  # the console script users run
    for name, args in STARTUP_COMMANDS.items():
        argv = ["--data-dir", str(store), *(a.format(paper=paper) for a in args)]
        for label, tree in trees.items():
            start = [script] if baseline is None else [sys.executable, "-m", "paperbot"]  # -m: the tree's package
            commands[f"{label}paperbot {name}"] = ([*start, *argv], tree)
        if baseline is not None and name in ("help", "papers"):  # the acceptance commands, as users start them too
            commands[f"paperbot {name} (console script)"] = ([script, *argv], None)
        if name == "papers":
            commands[f"paperbot {name}, no bytecode cache"] = ([script, *argv], None)
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")}
    env.update(ANONYMIZED_TELEMETRY="False", GRADIO_ANALYTICS_ENABLED="False")
    if pycache is not None:
        env["PYTHONPYCACHEPREFIX"] = str(pycache)
    # As with PYTHONDONTWRITEBYTECODE=1 and no __pycache__ beside paperbot's sources (installed libraries keep theirs):
    # paperbot's modules are compiled at every start.
    uncached = {key: value for key, value in env.items() if key != "PYTHONPYCACHEPREFIX"}
    uncached["PYTHONDONTWRITEBYTECODE"] = "1"
    for name, (argv, cwd) in commands.items():  # untimed: writes the bytecode cache
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, timeout=120, cwd=cwd,
                       check=False)
    seconds: dict[str, list[float]] = {name: [] for name in commands}
    cpu: dict[str, list[float]] = {name: [] for name in commands}
    failed: dict[str, int] = {}
    for _ in range(runs):
        for name, (argv, cwd) in commands.items():
            used = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120, cwd=cwd,
                                  env=uncached if name.endswith("no bytecode cache") else env, text=True)
            if done.returncode:  # a failed start is no start time: said, and left out of the figures
                failed[name] = failed.get(name, 0) + 1
                sys.stderr.write(f"{name} failed ({done.returncode}): {done.stderr[-600:]}\n")
                continue
            seconds[name].append(time.perf_counter() - started)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            # CPU time the process itself used: what wall time would be on an idle machine, give or take I/O.
            cpu[name].append(after.ru_utime - used.ru_utime + after.ru_stime - used.ru_stime)
    base = percentile(seconds["python -c pass"], 50)
    return {name: {"median_s": round(percentile(v, 50), 3), "p90_s": round(percentile(v, 90), 3),
                   "median_over_python": round(percentile(v, 50) / base, 2),
                   "cpu_median_s": round(percentile(cpu[name], 50), 3), "cpu_p90_s": round(percentile(cpu[name], 90), 3),
                   "runs": [round(x, 3) for x in v], "failed_runs": failed.get(name, 0)}
            for name, v in seconds.items()}


def startup_main(args: argparse.Namespace) -> None:
    store = args.work_dir.resolve() / "startup-store"
    if not (store / "papers.sqlite3").exists():
        PaperBot(Settings(data_dir=store)).ingest([args.corpus])  # once; later runs reuse it
    with open("/proc/loadavg") as handle:
        load_before = handle.read().split()[:3]
    results = {"when": datetime.now(timezone.utc).isoformat(timespec="seconds"), "git": git_revision(),
               "machine": f"{platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}",
               "load_average_before": load_before, "runs": args.startup_runs,
               "baseline": args.startup_baseline_label if args.startup_baseline else None,
               "commands": startup_times(store, args.startup_runs, args.startup_baseline,
                                         pycache=args.work_dir.resolve() / "startup-pycache")}
    with open("/proc/loadavg") as handle:
        results["load_average_after"] = handle.read().split()[:3]
    out = args.out.with_name("startup-bench.md") if args.out.name == "foundation-bench.md" else args.out
    out.with_suffix(".json").write_text(json.dumps(results, indent=2))
    lines = ["# Cold start of the command line", "",
             f"Run {results['when']} at git {results['git']} on {results['machine']}; load average "
             f"{' '.join(results['load_average_before'])} before, {' '.join(results['load_average_after'])} after "
             "(other work was running: absolute times scale with load, the ratio to `python -c pass` less so).", "",
             "Command: `python -m evals.bench --startup --corpus ../shared/corpus/inference-cost-papers.txt "
             f"--startup-runs {args.startup_runs}"
             + (f" --startup-baseline DIR --startup-baseline-label '{args.startup_baseline_label}'`, DIR holding "
                f"`git archive {args.startup_baseline_label} paperbot prompts` (`baseline` rows: that version, run "
                "interleaved with this one; both started as `python -m paperbot` from their own tree)"
                if args.startup_baseline else "`")
             + " (a fresh process per run, commands interleaved; the store holds the demo corpus, 115 papers)", "",
             "| command | median s | p90 s | median / `python -c pass` | CPU s median | CPU s p90 | failed runs |",
             "|---|---|---|---|---|---|---|"]
    for name, m in results["commands"].items():
        lines.append(f"| `{name}` | {m['median_s']:.3f} | {m['p90_s']:.3f} | {m['median_over_python']:.2f} | "
                     f"{m['cpu_median_s']:.3f} | {m['cpu_p90_s']:.3f} | {m['failed_runs']} |")
    lines += ["", "Wall time is what a user waits; CPU time (user + system, of the process alone) is what the start "
              "costs, and is what wall time approaches on an idle machine. Target: `--help` and `papers` ≤ 0.5 s "
              "median.", "",
              "The `typer:` and `click:` rows parse `papers`' seven options with each framework after importing "
              "pydantic_settings, as every store command does (Settings): their difference is what typer itself "
              "costs (it builds a pydantic TypeAdapter per option); the rest of a command's start is pydantic, "
              "paperbot's own modules and the catalog.", "",
              "Every command runs with its bytecode cached (`PYTHONPYCACHEPREFIX` in --work-dir, written by one untimed "
              "round first), as after an install; the `no bytecode cache` row runs with `PYTHONDONTWRITEBYTECODE=1` "
              "and no `__pycache__` beside paperbot's sources, as this machine's sessions do: paperbot's own modules "
              "are then compiled at every start."]
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def git_revision() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, help="folder holding scifact/ (BEIR layout)")
    parser.add_argument("--corpus", type=Path, required=True, help="the demo corpus (daily-papers page)")
    parser.add_argument("--work-dir", type=Path, default=Path("bench-data"), help="stores built by the benchmark")
    parser.add_argument("--raw-sample", type=int, default=600, help="chunks embedded directly for the model baseline")
    parser.add_argument("--ingest-limit", type=int, default=1000,
                        help="SciFact abstracts ingested for the throughput figures (0: all 5,183)")
    parser.add_argument("--out", type=Path, default=Path("evals/results/foundation-bench.md"))
    parser.add_argument("--render-only", action="store_true", help="rewrite the Markdown from the saved JSON")
    parser.add_argument("--startup", action="store_true",
                        help="only the cold-start benchmark (evals/results/startup-bench.md)")
    parser.add_argument("--startup-runs", type=int, default=10, help="fresh processes per command")
    parser.add_argument("--startup-baseline", type=Path,
                        help="a source tree of another version (git archive COMMIT paperbot prompts) timed alongside")
    parser.add_argument("--startup-baseline-label", default="baseline", help="what --startup-baseline is, e.g. a commit")
    args = parser.parse_args()
    if args.startup:
        startup_main(args)
        return
    if args.datasets is None:
        parser.error("--datasets is required (except with --startup)")
    if args.render_only:
        args.out.write_text(render(json.loads(args.out.with_suffix(".json").read_text()), args))
        return

    results: dict = {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"), "git": git_revision(),
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, python {platform.python_version()}",
    }
    scifact = load_split(args.datasets / "scifact", "train")
    base = Settings()
    scifact_subset = args.work_dir.resolve() / "scifact-subset.jsonl"
    if args.ingest_limit:
        lines = scifact.corpus.read_text(encoding="utf-8").splitlines()[: args.ingest_limit]
        scifact_subset.parent.mkdir(parents=True, exist_ok=True)
        scifact_subset.write_text("\n".join(lines) + "\n", encoding="utf-8")
    for name, path, collection in (("demo", args.corpus, "bench-demo"), ("scifact", scifact.corpus, "bench-scifact")):
        settings = base.model_copy(update={"data_dir": args.work_dir.resolve(), "collection": collection})
        bot = PaperBot(settings)
        entry: dict = {}
        if name == "scifact" and bot.stats().papers < 5183:
            bot.ingest([path])  # the full corpus, for latency and quality; built once, then reused
        if name == "scifact" and args.ingest_limit:
            path = scifact_subset  # throughput on the first N abstracts: minutes, not half an hour
        # Every throughput figure comes from a fresh collection, dropped afterwards.
        measured = PaperBot(settings.model_copy(update={"collection": f"bench-ingest-{name}-{int(time.time())}"}),
                            embedder=bot.embedder)
        papers = load_papers([path]).papers
        chunks = [c for cl in measured.chunker.chunk_many(papers) for c in cl]
        sample = random.Random(7).sample(chunks, min(args.raw_sample, len(chunks)))
        texts = [c.embed_text for c in sample]
        measured.embedder.embed(texts[:8])  # load the ONNX session first: the baseline must not pay for it
        raw_before = raw_embed_rate(measured, texts)
        started = time.perf_counter()
        report = measured.ingest([path])
        seconds = time.perf_counter() - started
        raw_after = raw_embed_rate(measured, texts)
        raw = (raw_before + raw_after) / 2
        pipeline_chunks_per_s = report.chunks_written / seconds
        entry.update({
            "papers": report.papers_seen, "chunks": report.chunks_written, "ingest_seconds": round(seconds, 1),
            "abstracts_per_s": round(report.papers_seen / seconds, 2),
            "pipeline_chunks_per_s": round(pipeline_chunks_per_s, 2),
            "raw_model_chunks_per_s": round(raw, 2),
            "raw_model_chunks_per_s_before_after": [round(raw_before, 2), round(raw_after, 2)],
            "raw_model_abstracts_per_s": round(raw * report.papers_seen / report.chunks_written, 2),
            "pipeline_vs_raw_model": round(pipeline_chunks_per_s / raw, 3),
        })
        if name == "demo":
            bot = measured  # the demo's latency is measured on the store just built
        else:
            measured.vectors.drop()
        queries = list(scifact.queries.values()) if name == "scifact" else [
            json.loads(line)["question"] for line in Path("evals/questions/demo.jsonl").read_text().splitlines() if line
        ]
        k = 10
        hybrid = time_queries(lambda q: bot.search(q, k=k), queries)
        embedder, vectors = bot.embedder, bot.vectors
        dense_chroma = time_queries(lambda q: vectors.query(embedder.embed([q])[0], k), queries)
        entry["latency_ms"] = {
            "hybrid_p50": round(percentile(hybrid, 50), 2), "hybrid_p95": round(percentile(hybrid, 95), 2),
            "chroma_dense_p50": round(percentile(dense_chroma, 50), 2),
            "chroma_dense_p95": round(percentile(dense_chroma, 95), 2),
            "hybrid_over_dense_p95": round(percentile(hybrid, 95) / percentile(dense_chroma, 95), 2),
            "queries_timed": len(hybrid),
        }
        if name == "demo":
            bot.vectors.drop()
        if name == "scifact":
            entry["quality_scifact_train"] = quality(bot, scifact.queries, scifact.qrels, ["dense", "lexical", "hybrid"])
        results[name] = entry
        print(json.dumps({name: entry}, indent=2), flush=True)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(results, indent=2))
    args.out.write_text(render(results, args))
    print(f"wrote {args.out}")


def render(results: dict, args: argparse.Namespace) -> str:
    lines = [
        "# Foundation benchmark", "",
        f"Run {results['when']} at git {results['git']} on {results['machine']}.", "",
        "Command: `python -m evals.bench --datasets ../shared/datasets "
        "--corpus ../shared/corpus/inference-cost-papers.txt`", "",
        "Ingest throughput, end to end (load, chunk, embed, write Chroma, catalog and BM25), against the embedding "
        "model alone on a sample of the same chunks, measured just before and just after the ingest:", "",
        "| corpus | papers | chunks | abstracts/s | raw model abstracts/s | pipeline chunks/s | raw model chunks/s "
        "| pipeline / raw |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in ("demo", "scifact"):
        e = results[name]
        if "chunks" in e:
            label = name if name == "demo" or not args.ingest_limit else f"scifact (first {e['papers']})"
            lines.append(
                f"| {label} | {e['papers']} | {e['chunks']} | {e['abstracts_per_s']} | {e['raw_model_abstracts_per_s']} | "
                f"{e['pipeline_chunks_per_s']} | "
                f"{e['raw_model_chunks_per_s']} | {e['pipeline_vs_raw_model']:.1%} |"
            )
    lines += ["", "Query latency at k=10 over every query of the set (SciFact: 809 claims on 5,183 abstracts; demo: the "
              "developer questions), first query excluded (ms); the baseline is Chroma's dense-only query "
              "(query embedding + HNSW search) measured in the same run:", "",
              "| corpus | hybrid p50 | hybrid p95 | Chroma dense-only p50 | Chroma dense-only p95 | hybrid / dense p95 |",
              "|---|---|---|---|---|---|"]
    for name in ("demo", "scifact"):
        lat = results[name]["latency_ms"]
        lines.append(f"| {name} | {lat['hybrid_p50']} | {lat['hybrid_p95']} | {lat['chroma_dense_p50']} | "
                     f"{lat['chroma_dense_p95']} | {lat['hybrid_over_dense_p95']} |")
    quality_ = results["scifact"]["quality_scifact_train"]
    lines += ["", "Retrieval quality, SciFact train (809 claims), per paper:", "",
              "| retriever | nDCG@10 | recall@10 | recall@100 | MRR |", "|---|---|---|---|---|"]
    for mode, m in quality_.items():
        lines.append(f"| {mode} | {m['ndcg@10']:.4f} | {m['recall@10']:.4f} | {m['recall@100']:.4f} | {m['mrr']:.4f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
