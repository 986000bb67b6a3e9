"""The report directory of an eval run: results.json, report.md, PNG plots, and the side-by-side table."""

from __future__ import annotations

import json
import math
import platform
import subprocess
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from rich.table import Table

from evals.items import EvalSet
from evals.retrieval_metrics import METRICS
from evals.run import ConfigResult, percentiles

PACKAGES = ("paperbot", "chromadb", "openai", "ranx", "numpy", "tiktoken", "bm25s", "matplotlib", "onnxruntime")


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def git_revision() -> str:
    try:
        found = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                               cwd=Path(__file__).resolve().parent, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, cwd=Path(__file__).resolve().parent, timeout=10).stdout.strip()
        return (found.stdout.strip() + ("+dirty" if dirty else "")) or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _clean(value):
    """JSON has no NaN: a metric that cannot be computed is null."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def build_results(eval_set: EvalSet, results: list[ConfigResult], stores, *, limit: int | None,
                  command: str, seconds: float) -> dict:
    configs = {}
    for r in results:
        entry = {"settings": r.settings, "store": r.store, "retrieval": r.retrieval,
                 "latency_ms": percentiles(r.latency_ms), "answers": {}}
        for mode, ev in r.answers.items():
            entry["answers"][mode] = {
                "metrics": ev.metrics, "cost_usd": ev.cost_usd, "judge": getattr(ev, "judge", None),
                "latency_ms": percentiles(ev.latency_ms),
                "tokens_per_answer": percentiles({"tokens": [float(t) for t in ev.tokens_per_answer]}).get("tokens"),
                "errors": sum(1 for row in ev.rows if row.get("error")),
                "notes": getattr(ev, "notes", {}),
            }
        configs[r.config.name] = entry
    return _clean({
        "dataset": {"name": eval_set.name, "source": _relative(eval_set.source), "items": len(eval_set.items),
                    "judged_items": sum(1 for i in eval_set.items if i.gold), "answers": eval_set.answers,
                    "corpus": [str(p) for p in eval_set.corpus]},
        "limit": limit,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "git": git_revision(),
        "versions": versions(),
        "machine": {"platform": platform.platform(), "machine": platform.machine(),
                    "processor": platform.processor() or "unknown", "cpus": _cpus()},
        "command": command,
        "seconds": round(seconds, 1),
        "stores": [{**vars(s), "data_dir": _relative(s.data_dir)} for s in stores],
        "configs": configs,
    })


def _cpus() -> int | None:
    import os

    return os.cpu_count()


def write(out: Path, results: dict, config_results: list[ConfigResult]) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "results.json", out / "report.md"]
    written[0].write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    with (out / "per_query.jsonl").open("w", encoding="utf-8") as handle:
        for r in config_results:
            for qid, values in r.per_query.items():
                handle.write(json.dumps({"config": r.config.name, "id": qid,
                                         **{m: round(v, 4) for m, v in values.items()}}) + "\n")
            for mode, ev in r.answers.items():
                for row in ev.rows:
                    handle.write(json.dumps(_clean({"config": r.config.name, "answer_mode": mode, **row}),
                                            default=str, ensure_ascii=False) + "\n")
    written.append(out / "per_query.jsonl")
    written += plot(out, config_results)
    written[1].write_text(markdown(results, [p.name for p in written if p.suffix == ".png"]), encoding="utf-8")
    return written


def _fmt(value, digits: int = 4) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def markdown(results: dict, plots: list[str]) -> str:
    ds, configs = results["dataset"], results["configs"]
    names = list(configs)
    lines = [f"# Eval: {ds['name']}", "",
             f"{ds['items']} items ({ds['judged_items']} with gold papers) from `{ds['source']}`"
             + (f", limited to the first {results['limit']}" if results["limit"] else "")
             + f". Run {results['date']} at git `{results['git']}` in {results['seconds']} s.", "",
             f"Command: `{results['command']}`", "",
             "## Retrieval (per paper, top 100 ranked)", "",
             "| metric | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for metric in METRICS:
        lines.append(f"| {metric} | " + " | ".join(_fmt(configs[n]["retrieval"].get(metric)) for n in names) + " |")
    lines += ["", "Configs:", "", "| config | mode | candidates | rrf_k | dense_weight | lexical_weight | title_weight "
              "| chunk_tokens | answer_k | store |", "|---|---|---|---|---|---|---|---|---|---|"]
    for n in names:
        s = configs[n]["settings"]
        lines.append(f"| {n} | {s['mode']} | {s['candidates']} | {s['rrf_k']} | {s['dense_weight']} | "
                     f"{s['lexical_weight']} | {s['title_weight']} | {s['chunk_tokens'] or 'default'} | "
                     f"{s['answer_k']} | {configs[n]['store']} |")
    lines += ["", "## Latency (ms, first query not timed)", "", "| config | stage | p50 | p95 | n |", "|---|---|---|---|---|"]
    for n in names:
        for stage, p in configs[n]["latency_ms"].items():
            lines.append(f"| {n} | search: {stage} | {p['p50']:.1f} | {p['p95']:.1f} | {p['n']} |")
        for mode, a in configs[n]["answers"].items():
            for stage, p in a["latency_ms"].items():
                lines.append(f"| {n} | answer ({mode}): {stage} | {p['p50']:.1f} | {p['p95']:.1f} | {p['n']} |")
    answered = [(n, mode, a) for n in names for mode, a in configs[n]["answers"].items()]
    if answered:
        metric_names = list(dict.fromkeys(k for _, _, a in answered for k in a["metrics"]
                                          if "_ms_" not in k and "@" not in k))
        lines += ["", "## Answers", "", "Answers are retrieved hybrid, so only hybrid configs are answered.", "",
                  "| metric | " + " | ".join(f"{n} ({m})" for n, m, _ in answered) + " |",
                  "|---|" + "---|" * len(answered)]
        for metric in metric_names:
            lines.append(f"| {metric} | " + " | ".join(_fmt(a["metrics"].get(metric)) for _, _, a in answered) + " |")
        lines += split_table(answered)
        lines += ["", "## Cost and tokens", "", "| config | mode | cost (USD, all items) | tokens per answer p50 "
                  "| p95 | errors | judge |", "|---|---|---|---|---|---|---|"]
        for n, mode, a in answered:
            t = a["tokens_per_answer"] or {}
            lines.append(f"| {n} | {mode} | {_fmt(a['cost_usd'], 6)} | {_fmt(t.get('p50'), 0)} | "
                         f"{_fmt(t.get('p95'), 0)} | {a['errors']} | {a['judge'] or 'none'} |")
        notes = {k: v for _, _, a in answered for k, v in (a.get("notes") or {}).items()}
        if notes:
            lines += ["", "What the answer metrics mean:", ""] + [f"- `{k}`: {v}" for k, v in notes.items()]
    lines += ["", "## Stores", "", "| collection | papers | chunks | chunker | reused | ingest s |", "|---|---|---|---|---|---|"]
    for s in results["stores"]:
        lines.append(f"| {s['collection']} | {s['papers']} | {s['chunks']} | {s['chunker']} | {s['reused']} | "
                     f"{s['ingest_seconds']} |")
    if plots:
        lines += ["", "## Plots", ""] + [f"![{p}]({p})" for p in plots]
    lines += ["", "Versions: " + ", ".join(f"{k} {v}" for k, v in results["versions"].items()) + ".", ""]
    return "\n".join(lines)


def split_table(answered: list[tuple[str, str, dict]]) -> list[str]:
    """Abstention on the report half (the figure to quote) with the tune half beside it, per config and mode."""
    from evals.answer_metrics import SPLIT_METRICS, SPLITS

    if not any(f"questions@{s}" in a["metrics"] for _, _, a in answered for s in SPLITS):
        return []
    lines = ["", "## Abstention by split", "",
             "Items are split in halves by sha256 of their id; abstention is fitted on tune only. Report first.", "",
             "| config (mode) | metric | " + " | ".join(SPLITS) + " |", "|---|---|" + "---|" * len(SPLITS)]
    for n, mode, a in answered:
        m = a["metrics"]
        lines.append(f"| {n} ({mode}) | questions | " + " | ".join(_fmt(m.get(f"questions@{s}"), 0) for s in SPLITS)
                     + " |")
        for key in SPLIT_METRICS:
            lines.append(f"| {n} ({mode}) | {key} | " + " | ".join(_fmt(m.get(f"{key}@{s}")) for s in SPLITS) + " |")
    return lines


def plot(out: Path, config_results: list[ConfigResult]) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    written = []
    names = [r.config.name for r in config_results]
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(METRICS)), 4))
    width = 0.8 / max(1, len(names))
    for i, r in enumerate(config_results):
        values = [r.retrieval.get(m, float("nan")) for m in METRICS]
        ax.bar([j + i * width for j in range(len(METRICS))], values, width, label=r.config.name)
    ax.set_xticks([j + width * (len(names) - 1) / 2 for j in range(len(METRICS))], METRICS)
    ax.set_ylim(0, 1)
    ax.set_ylabel("score")
    ax.set_title("Retrieval metrics per config")
    ax.legend(fontsize="small")
    written.append(_save(fig, out / "metrics.png"))

    series = {f"{r.config.name}: {stage}": values for r in config_results for stage, values in r.latency_ms.items()}
    for r in config_results:
        for mode, ev in r.answers.items():
            for stage in ("first_token", "total"):
                if ev.latency_ms.get(stage):
                    series[f"{r.config.name}: {mode} {stage}"] = ev.latency_ms[stage]
    series = {k: v for k, v in series.items() if v}
    if series:
        fig, ax = plt.subplots(figsize=(8, 0.5 * len(series) + 2))
        ax.boxplot(list(series.values()), vert=False, showfliers=True)
        ax.set_yticks(range(1, len(series) + 1), list(series))
        ax.set_xscale("log")
        ax.set_xlabel("ms (log scale)")
        ax.set_title("Latency per stage")
        written.append(_save(fig, out / "latency.png"))

    tokens = {f"{r.config.name} ({mode})": ev.tokens_per_answer for r in config_results
              for mode, ev in r.answers.items() if ev.tokens_per_answer}
    if tokens:
        fig, ax = plt.subplots(figsize=(7, 4))
        for label, values in tokens.items():
            ax.hist(values, bins=20, alpha=0.6, label=label)
        ax.set_xlabel("tokens per answer (prompt + completion)")
        ax.set_ylabel("answers")
        ax.set_title("Tokens per answer")
        ax.legend(fontsize="small")
        written.append(_save(fig, out / "tokens.png"))
    return written


def side_by_side(results: dict) -> Table:
    configs = results["configs"]
    table = Table("metric", *configs, title=f"{results['dataset']['name']}: {results['dataset']['items']} items",
                  title_justify="left")
    for metric in METRICS:
        values = [configs[n]["retrieval"].get(metric) for n in configs]
        best = max((v for v in values if v is not None), default=None)
        table.add_row(metric, *(f"[bold]{_fmt(v)}[/]" if v is not None and v == best and len(values) > 1 else _fmt(v)
                                for v in values))
    table.add_row("search p50 / p95 ms", *(
        f"{c['latency_ms']['search']['p50']:.1f} / {c['latency_ms']['search']['p95']:.1f}"
        if "search" in c["latency_ms"] else "n/a" for c in configs.values()))
    keys = ("gold_evidence_in_context", "citation_precision", "citation_recall", "abstention_recall",
            "abstained_answerable_rate", "comparison_abstained_rate", "judge_correctness", "pubmedqa_accuracy",
            "cost_usd_per_question")
    split_keys = [f"{key}@{split}" for key in ("abstained_answerable_rate", "comparison_abstained_rate",
                                               "abstention_recall") for split in ("report", "tune")]
    for mode in dict.fromkeys(m for c in configs.values() for m in c["answers"]):
        for key in (*keys, *split_keys):
            values = [c["answers"].get(mode, {}).get("metrics", {}).get(key) for c in configs.values()]
            if any(v is not None for v in values):
                table.add_row(f"{key} ({mode})", *(_fmt(v) for v in values))
    return table


def _relative(source: str | None) -> str | None:
    """A path under the working directory as a relative one, so committed reports name no machine's folders."""
    if not source:
        return source
    try:
        return str(Path(source).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return source


def _save(fig, path: Path) -> Path:
    """Write a finished figure and free it (pyplot keeps every open figure alive)."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
