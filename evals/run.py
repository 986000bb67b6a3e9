"""Run an eval set under several retrieval configs: store, searches timed per stage, IR metrics, answer metrics."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from evals.configs import EvalConfig
from evals.items import EvalSet
from evals.retrieval_metrics import retrieval_metrics
from evals.stores import StoreInfo, open_store
from paperbot import PaperBot, PaperbotError, Settings
from paperbot.bot import resolve_mode

DEPTH = 100  # papers ranked per query: recall@100 needs them
SEARCH_STAGES = ("search", "embed", "dense", "lexical", "fuse")


@dataclass
class ConfigResult:
    config: EvalConfig
    settings: dict
    store: str
    retrieval: dict[str, float]
    per_query: dict[str, dict[str, float]]
    rankings: dict[str, list[str]]
    latency_ms: dict[str, list[float]]
    answers: dict[str, object] = field(default_factory=dict)  # answer mode -> AnswerEval


def percentiles(samples: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    return {stage: {"p50": float(np.percentile(v, 50)), "p95": float(np.percentile(v, 95)), "n": len(v)}
            for stage, v in samples.items() if v}


def answer_modes(text: str, settings: Settings) -> list[str]:
    """`--mode extractive,llm`, each resolved as every answer's mode is (paperbot.bot.resolve_mode: auto is llm when
    an API or local model is configured, else extractive; llm without one is NoLLMError)."""
    modes = []
    for mode in (m.strip() for m in text.split(",") if m.strip()):
        resolved = resolve_mode(settings, mode)[0].value
        if resolved not in modes:
            modes.append(resolved)
    return modes


def search_all(bot: PaperBot, eval_set: EvalSet, mode: str, advance: Callable[[int], None]):
    """Rank DEPTH papers per question; wall time per search plus the retriever's own stage timings."""
    latency: dict[str, list[float]] = {stage: [] for stage in SEARCH_STAGES}
    rankings = {}
    if eval_set.items:  # the first search loads the ONNX session and the BM25 index: not a latency sample
        bot.search(eval_set.items[0].question, k=DEPTH, mode=mode)
    for item in eval_set.items:
        started = time.perf_counter()
        result = bot.search_timed(item.question, k=DEPTH, mode=mode)
        latency["search"].append((time.perf_counter() - started) * 1e3)
        hits, stages = result.hits, dataclasses.asdict(result.timings)
        for stage in SEARCH_STAGES[1:]:
            value = stages.get(f"{stage}_ms")
            if value:  # a stage the mode skips is 0: not a sample
                latency[stage].append(value)
        rankings[item.id] = [hit.paper_id for hit in hits]
        advance(1)
    return rankings, latency


def run_configs(eval_set: EvalSet, configs: list[EvalConfig], base: Settings, *, collection: str | None = None,
                modes: list[str] = (), judge=None, progress=None) -> tuple[list[ConfigResult], list[StoreInfo]]:
    """progress: a rich Progress (or None); one bar per config."""
    advance_for = _progress(progress)
    stores: dict[object, tuple[PaperBot, StoreInfo]] = {}
    embedder = None
    results = []
    qrels = {item.id: item.gold for item in eval_set.items}
    for config in configs:
        settings = config.settings(base)
        if config.chunking not in stores:
            if config.chunking is not None and collection:
                raise PaperbotError("a chunk size needs its own collection: drop --collection to let eval make one")
            ingest = advance_for(f"{eval_set.name}: store (chunk={config.chunking or 'default'})", None)
            stores[config.chunking] = open_store(
                eval_set, base.model_copy(update={"chunk_tokens": config.chunking}), collection=collection,
                embedder=embedder, progress=lambda done, total: ingest(done, total))
            embedder = stores[config.chunking][0].embedder  # one ONNX session for every config
        store_bot, info = stores[config.chunking]
        bot = PaperBot(settings.model_copy(update={"collection": info.collection}), embedder=embedder)
        bot.refresh_lexical_index()  # a config's own title weight needs its own BM25 build (readers never build)
        runs = 1 + (len(modes) if eval_set.answers and config.mode == "hybrid" else 0)
        advance = advance_for(config.name, runs * len(eval_set.items))
        rankings, latency = search_all(bot, eval_set, config.mode, lambda n: advance(n))
        means, per_query = retrieval_metrics(qrels, rankings)
        result = ConfigResult(config, _retrieval_settings(settings, config), info.collection, means, per_query,
                              rankings, latency)
        # Answers are always retrieved hybrid, so only hybrid configs are answered (the others would repeat it).
        if eval_set.answers and config.mode == "hybrid":
            from evals.answer_metrics import evaluate_answers

            for mode in modes:
                result.answers[mode] = evaluate_answers(
                    bot, eval_set.items, mode=mode, k=config.overrides.get("answer_k"), judge=judge,
                    progress=lambda n: advance(n))
        results.append(result)
    return results, [info for _, info in stores.values()]


def _retrieval_settings(settings: Settings, config: EvalConfig) -> dict:
    keys = ("candidates", "rrf_k", "dense_weight", "lexical_weight", "title_weight", "chunk_tokens", "answer_k")
    return {"mode": config.mode, **{k: getattr(settings, k) for k in keys}}


def _progress(progress):
    """A function that adds a bar and returns its advance(n) / update(done, total) callable."""
    def add(label: str, total: int | None):
        if progress is None:
            return lambda *args: None
        task = progress.add_task(label, total=total)

        def advance(done: int, total_: int | None = None) -> None:
            if total_ is None:
                progress.advance(task, done)
            else:
                progress.update(task, completed=done, total=total_)
        return advance
    return add
