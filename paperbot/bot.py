"""The PaperBot facade: builds the real adapters from Settings and offers ingest, search and browsing."""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from functools import cached_property, partial
from pathlib import Path
from typing import TYPE_CHECKING

from paperbot.answer.response import AnswerResponse
from paperbot.config import Settings
from paperbot.errors import PaperNotFoundError, StoreError
from paperbot.llm.prompts import PLACEHOLDERS, load_prompt
from paperbot.llm.tokens import use_cache_dir
from paperbot.store.catalog import Catalog
from paperbot.store.lock import store_lock
from paperbot.types import (
    MINILM_ID,
    Answer,
    IngestReport,
    Mode,
    Paper,
    PaperHit,
    RetrievalMode,
    SearchFilters,
    StoreStats,
)

# Everything that loads Chroma, the models, tiktoken, the LLM client or numpy is imported where it is used, so
# that browsing commands (papers, show, stats) start in a fraction of a second (evals/bench.py measures it).
if TYPE_CHECKING:
    from paperbot.answer.answerer import Answerer, PreparedPrompt
    from paperbot.ingest.chunking import Chunker
    from paperbot.ingest.ingester import BatchHooks, Progress
    from paperbot.ingest.loaders import LoadLimits
    from paperbot.llm.tokens import TiktokenCounter
    from paperbot.ports import Chat, Embedder, LanguageTools
    from paperbot.retrieval.retriever import Retriever, SearchResult
    from paperbot.store.lexical import LexicalIndex
    from paperbot.store.vectors import VectorStore
    from paperbot.text.terms import Vocabulary

log = logging.getLogger(__name__)


class PaperBot:
    """One store of papers: `PaperBot(Settings(...))`, then ingest, search, paper, papers, stats."""

    def __init__(self, settings: Settings | None = None, *, embedder: Embedder | None = None,
                 must_exist: bool = False) -> None:
        """must_exist: refuse a collection this store does not hold (listing those it does) instead of creating
        it; reading commands pass it, so a mistyped --collection creates nothing."""
        self.settings = settings or Settings()
        if self.settings.local_configured:
            from paperbot.llm.local_chat import local_settings

            # The local model's name, budgets and timeout replace the API's, so every use case sees them.
            self.settings = local_settings(self.settings)
        use_cache_dir(self.settings.tiktoken_cache_dir)
        self._embedder = embedder
        self._vocabulary: Vocabulary | None = None
        self._language_tools: dict[tuple[str, str | None], LanguageTools] = {}
        # Prompts are checked now, so a broken template fails at start-up, not on the first question.
        self.prompts = {name: load_prompt(name, self.settings.prompts_dir) for name in PLACEHOLDERS}
        if must_exist and not self.settings.chroma_url:
            self._require_collection(None)  # before connecting, which would create the store's folder
        self._chroma = None
        self._polled = float("-inf")  # when _poll_store last looked for other processes' writes (monotonic)
        self._poll_lock = threading.Lock()
        self.location = str(self.settings.data_dir / "chroma")  # the embedded store's; connecting says a server's
        # A reader of an embedded store whose catalog exists needs no Chroma to list or show papers: it connects on
        # first use. Servers are reached now, so a wrong URL fails at start-up, as do writers.
        if self.settings.chroma_url or not (must_exist and self._catalog_path().exists()):
            self._connect()
            if must_exist:
                from paperbot.store.vectors import collection_names

                self._require_collection(collection_names(self._client))

    def _connect(self) -> None:
        from paperbot.store.vectors import connect

        # Opening takes under a second: a lock timeout of 0, set so writers fail fast, must not fail a reader that
        # meets another process's opening.
        self._chroma, self.location = connect(self.settings.chroma_url, self.settings.data_dir / "chroma",
                                              open_timeout=max(self.settings.lock_timeout, 30.0))
        # An embedded client does not see vectors other processes write after it opened: the catalog generation
        # at opening tells _poll_store when to reopen it (README "Several processes, one store").
        self._dense_generation = Catalog.stored_generation(self._catalog_path())

    @property
    def _client(self):
        if self._chroma is None:
            self._connect()
        return self._chroma

    def _require_collection(self, in_chroma: list[str] | None) -> None:
        """StoreError unless Chroma or a catalog file holds this collection (a catalog alone: Chroma lost it, which
        store_warnings reports on every answer); in_chroma None: Chroma not opened yet (embedded only)."""
        name = self.settings.collection
        if in_chroma is None:
            if (self.settings.data_dir / "chroma").exists() or self._catalog_path().exists():
                return  # decided once Chroma is open
            known: list[str] = []
        else:
            if name in in_chroma or self._catalog_path().exists():
                return
            known = sorted(set(in_chroma))
        where = self.settings.chroma_url or str(self.settings.data_dir)
        raise StoreError(
            f"no collection {name!r} in the store at {where}; "
            + (f"it holds: {', '.join(known)}. Pass one of those with --collection (or PAPERBOT_COLLECTION), or "
               if known else "it holds no collections yet: ")
            + f"create {name!r} with `paperbot --collection {name} ingest PATH`"
        )
    # --- adapters, built on first use so that browsing never loads the model ------------------------------------
    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = self._build_embedder()
        return self._embedder

    def _build_embedder(self) -> Embedder:
        if self.settings.embedder == "openai":
            from paperbot.llm.embeddings import OpenAIEmbedder

            return OpenAIEmbedder(self.settings)
        from paperbot.store.minilm import MiniLMEmbedder

        return MiniLMEmbedder(
            self.settings.minilm_dir, batch_size=self.settings.embed_batch_size, stamp_dir=self.settings.data_dir,
            fused_dir=self.settings.fused_models_dir if self.settings.embed_fused else None,
        )

    @property
    def embedder_id(self) -> str:
        if self._embedder is not None:
            return self._embedder.id
        if self.settings.embedder == "openai":
            return f"openai/{self.settings.openai_embedding_model}"
        return MINILM_ID

    @cached_property
    def vectors(self) -> VectorStore:
        from paperbot.store.vectors import VectorStore

        return VectorStore(
            self._client, self.settings.collection, embedder_id=self.embedder_id, chunker_version=self.chunker_version,
            location=self.location,
        )

    @cached_property
    def catalog(self) -> Catalog:
        catalog = Catalog(self._catalog_path())
        # A catalog that is missing (new machine for a server store) or from another collection is rebuilt, by a
        # writer: under the store lock, with its BM25 index, so readers find both complete.
        if catalog.counts()[0] == 0 and self.vectors.count() > 0:
            from paperbot.ingest.rebuild import rebuild_catalog
            from paperbot.store.lexical import LexicalIndex

            with store_lock(self._lock_path(), self.settings.lock_timeout, what="the catalog rebuild"):
                if catalog.counts()[0] == 0:
                    log.info("rebuilding the catalog from Chroma (%d chunks)", self.vectors.count())
                    rebuild_catalog(self.vectors, catalog, self.change_log)
                    LexicalIndex(self._catalog_path().with_suffix(".bm25"), catalog,
                                 title_weight=self.settings.title_weight).rebuild()
        return catalog

    def _catalog_path(self) -> Path:
        if self.settings.chroma_url:
            server = hashlib.sha1(self.location.encode()).hexdigest()[:10]
            return self.settings.data_dir / "servers" / server / f"{self.settings.collection}.sqlite3"
        return self.settings.data_dir / f"{self.settings.collection}.sqlite3"

    @cached_property
    def lexical(self) -> LexicalIndex:
        from paperbot.store.lexical import LexicalIndex

        return LexicalIndex(self._catalog_path().with_suffix(".bm25"), self.catalog,
                            title_weight=self.settings.title_weight)

    @cached_property
    def chunker(self) -> Chunker:
        from paperbot.ingest.chunking import Chunker
        from paperbot.llm.tokens import TiktokenCounter, encoding_for_model

        counter = TiktokenCounter(self.settings.tiktoken_encoding or encoding_for_model(None))
        return Chunker(self.embedder, counter.count_many, self.settings.chunk_tokens)

    @property
    def chunker_version(self) -> str:
        # A chunk-size override is part of the version, so one collection never mixes two chunkings.
        from paperbot.ingest.chunking import CHUNKER_VERSION

        size = self.settings.chunk_tokens
        return CHUNKER_VERSION if size is None else f"{CHUNKER_VERSION}/max{size}"

    @cached_property
    def chat(self) -> Chat | None:
        """The chat model when an API is configured, else None (extractive answers)."""
        if not self.settings.llm_configured:
            return None
        if self.settings.local_configured:
            from paperbot.llm.local_chat import LocalChat

            return LocalChat(self.settings)  # its server starts on the first request, and stops in close()
        from paperbot.llm.chat import ChatModel

        return ChatModel(self.settings)

    def resolve(self, mode: Mode | str | None = None, model: str | None = None, *,
                planning: bool = False) -> tuple[Mode, str | None]:
        """What runs for a requested answer mode and chat model under this bot's settings (see resolve_mode)."""
        return resolve_mode(self.settings, mode, model, planning=planning)

    @cached_property
    def llm_counter(self) -> TiktokenCounter:
        from paperbot.llm.tokens import TiktokenCounter, encoding_for_model

        return TiktokenCounter(self.settings.tiktoken_encoding or encoding_for_model(self.settings.chat_model))

    def vocabulary(self) -> Vocabulary:
        """Term statistics of the whole collection, for sentence relevance and support; rebuilt after an ingest."""
        if self._vocabulary is None:
            from paperbot.text.terms import Vocabulary

            # One query over all chunks, not one per paper: this runs on the first question after every ingest.
            self._vocabulary = Vocabulary(f"{title} {text}" for _, _, title, text in self.catalog.lexical_rows())
        return self._vocabulary

    def answer_prompts(self, chat_model: str) -> dict:
        """The prompts an answer uses: the compact pair (short rules, a worked example) for small models."""
        from paperbot.llm.local_chat import LOCAL_PREFIX

        style = self.settings.prompt_style
        if style == "auto":
            style = "compact" if chat_model.startswith(LOCAL_PREFIX) else "standard"
        if style == "standard":
            return self.prompts
        return {**self.prompts, "system": self.prompts["system_compact"], "answer": self.prompts["answer_compact"]}

    def answerer(self, *, mode: Mode | str | None = None, model: str | None = None,
                 temperature: float | None = None, planning: bool = False) -> Answerer:
        """An answerer for the mode and model resolve() picks; `planning`: for a dry run (see resolve)."""
        from paperbot.answer.answerer import AnswerConfig, Answerer

        tools = self.language_tools(*self.resolve(mode, model, planning=planning))
        # Question focus and thin-answer declines were fitted on a small local model's answers (compact prompt); no
        # other model's answers were measured with them, so by default only compact-prompt answers get them.
        focused = self.settings.focus_scope == "all" or tools.prompts["system"].name == "system_compact"
        config = AnswerConfig.from_settings(self.settings, focused=focused, temperature=temperature)  # per chat tab
        self._poll_store()
        return Answerer(tools=tools, retriever=self.retriever, config=config, support_scorer=self.support_scorer,
                        sentence_vectors=self.sentence_vectors if config.attribution.rekey_semantic else None)

    @property
    def sentence_vectors(self) -> Callable[[Sequence[str]], Sequence[Sequence[float]]] | None:
        """MiniLM sentence vectors (the learned support scorer's cached ones when it runs), or None with another
        embedder: attribution's semantic focus was fitted on MiniLM cosines."""
        from paperbot.support.learned import LearnedSupportScorer

        if self.embedder_id != MINILM_ID:
            return None
        scorer = self.support_scorer
        return scorer.vectors if isinstance(scorer, LearnedSupportScorer) else self.embedder.embed

    def language_tools(self, mode: Mode, model: str | None = None) -> LanguageTools:
        """What the answer, summary, digest and comparison use cases share, built once per mode and model. LLM mode:
        the chat for `model` (default: the configured one), or None when no API is configured (an LLM digest can then
        be planned, not run); extractive: no chat, and the configured model's prompts and budget."""
        key = (mode, model if mode == "llm" else None)
        tools = self._language_tools.get(key)
        if tools is None:
            from paperbot.llm.pricing import cost_usd, price_for, prompt_limit
            from paperbot.ports import LanguageTools

            chat = self._chat_for(model) if mode == "llm" else None
            name = chat.model if chat is not None else (model if mode == "llm" and model else self.settings.chat_model)
            tools = LanguageTools(
                chat=chat, model=name, counter=self.llm_counter, prompts=self.answer_prompts(name),
                prompt_limit=prompt_limit(self.settings, name), cost=partial(cost_usd, price_for(self.settings, name)),
                vocabulary=self.vocabulary,
            )
            self._language_tools[key] = tools
        return tools

    def _chat_for(self, model: str | None) -> Chat | None:
        """The configured chat, or one for another model on the same API; None when no API is configured."""
        chat = self.chat
        if model and chat is not None and model != chat.model:
            from paperbot.llm.chat import ChatModel

            chat = ChatModel(self.settings, model)
        return chat

    @cached_property
    def support_scorer(self):
        """Built once (the weights file read and checked, sentence vectors cached): NLI when a model folder is set,
        else the learned model, else lexical; every one with the number check on top."""
        from paperbot.errors import ConfigError
        from paperbot.support.checks import NumberChecked
        from paperbot.support.learned import LearnedSupportScorer, load_model
        from paperbot.support.scorer import LexicalSupportScorer

        s = self.settings
        choice = s.support_scorer if s.support_scorer != "auto" else ("nli" if s.nli_model_dir else "learned")
        if choice == "nli":
            if s.nli_model_dir is None:
                raise ConfigError("PAPERBOT_SUPPORT_SCORER=nli needs PAPERBOT_NLI_MODEL_DIR (a folder with model.onnx, "
                                  "tokenizer.json and config.json); or set PAPERBOT_SUPPORT_SCORER=learned")
            from paperbot.support.nli import NliSupportScorer

            return NliSupportScorer(s.nli_model_dir)
        if choice == "learned":
            model = load_model()
            if model.embedder == self.embedder_id:
                return LearnedSupportScorer(self.embedder, self.vocabulary, model)
            if s.support_scorer == "learned":
                raise ConfigError(f"PAPERBOT_SUPPORT_SCORER=learned: the support model was trained on {model.embedder} "
                                  f"vectors, but the embedder is {self.embedder_id}; set PAPERBOT_EMBEDDER=minilm, or "
                                  "PAPERBOT_SUPPORT_SCORER=lexical")
            # auto: the model's cosine features mean nothing in another embedder's space.
            log.info("support scorer: lexical (the learned model needs %s vectors)", model.embedder)
        return NumberChecked(LexicalSupportScorer(self.vocabulary, s.lexical_support_threshold))

    @cached_property
    def retriever(self) -> Retriever:
        from paperbot.retrieval.retriever import FusionParams, Retriever

        return Retriever(self.embedder, self.vectors, self.catalog, self.lexical,
                         FusionParams.from_settings(self.settings))

    # --- use cases ----------------------------------------------------------------------------------------------
    def ingest(
        self, paths: str | Path | Iterable[str | Path], *, skip_bad: bool = False, fmt: str | None = None,
        progress: Progress | None = None,
    ) -> IngestReport:
        """Load every file first (a bad record stops everything before a write, unless skip_bad), then write.
        `paths` is one path or many."""
        from paperbot.ingest.loaders import load_papers

        loaded = load_papers(paths, skip_bad=skip_bad, fmt=fmt, limits=self.load_limits)
        report = self.ingest_papers(loaded.papers, progress=progress)
        self._vocabulary = None
        report.skipped = loaded.skipped
        return report

    @property
    def load_limits(self) -> LoadLimits:
        from paperbot.ingest.loaders import LoadLimits
        from paperbot.ingest.loaders.pdf_runner import PdfBudget

        s = self.settings
        return LoadLimits(max_file_bytes=int(s.max_file_mb * 1024 * 1024),
                          pdf=PdfBudget(seconds=s.pdf_seconds, max_pages=s.pdf_max_pages))

    def ingest_papers(self, papers: Iterable[Paper], *, progress: Progress | None = None) -> IngestReport:
        """A list is deduplicated as a whole; a generator is streamed in windows (bounded memory)."""
        from paperbot.ingest.ingester import ingest_papers

        catalog = self.catalog  # first, outside the lock: opening it may rebuild it, which takes the lock itself
        with self._writing("ingest") as hooks:
            report = ingest_papers(
                papers, catalog=catalog, vectors=self.vectors, embedder=self.embedder,
                chunker=self.chunker, batch_size=self.settings.ingest_batch_size, progress=progress, hooks=hooks,
            )
            self.lexical.refresh()  # a writer, under the lock: readers only ever load what it saves
            # Recorded for `stats`, which then reads the catalog alone (no Chroma, no model: it starts fast).
            catalog.set_meta("embedder", self.vectors.embedder_id)
            catalog.set_meta("chunker", self.vectors.chunker_version)
            self._dense_generation = catalog.generation  # this client saw its own writes: no reopen for them
            return report

    def _lock_path(self) -> Path:
        # A local file even for a server store: it serialises writers of this data dir; the lease, all of them.
        return self._catalog_path().with_suffix(".lock")

    # --- several processes over one store (README "Several processes, one store") -------------------------------
    @cached_property
    def change_log(self):
        """The shared change log beside the collection on a Chroma server; None for an embedded store (its one
        data dir's catalog is the log)."""
        if not self.settings.chroma_url:
            return None
        from paperbot.store.changes import ChangeLog

        return ChangeLog(self._client, self.settings.collection, self.location)

    @contextmanager
    def _writing(self, what: str, *, follow: bool = True) -> Iterator[BatchHooks | None]:
        """A writer's turn: on a server, the collection's lease (every data dir and host), then this data dir's lock,
        then (follow) the catalog caught up with the shared log; yields the hooks that log each written batch."""
        if self.change_log is None:
            with store_lock(self._lock_path(), self.settings.lock_timeout, what=what):
                yield None
            return
        from paperbot.ingest.ingester import BatchHooks
        from paperbot.ingest.rebuild import LOG_MARKER, catch_up
        from paperbot.store.lease import WriterLease

        owner = f"{socket.gethostname()} pid {os.getpid()} data dir {self.settings.data_dir}"
        lease = WriterLease(self.change_log, owner=owner, seconds=self.settings.lease_seconds)
        with lease.held(self.settings.lock_timeout), store_lock(self._lock_path(), self.settings.lock_timeout,
                                                                 what=what):
            if follow and catch_up(self.vectors, self.catalog, self.change_log).changed:
                self.lexical.refresh()
                self._vocabulary = None

            def logged(paper_ids: list[str]) -> None:
                generation = self.change_log.append(paper_ids, owner, lease.token)
                self.catalog.set_meta(LOG_MARKER, f"{self.change_log.epoch}:{generation}")

            yield BatchHooks(before=lease.check, after=logged)

    def _poll_store(self) -> None:
        """Readers: pick up what other processes wrote, at most every store_poll_seconds. Server: catch the catalog
        and BM25 index up with the shared log. Embedded: reopen the Chroma client after another process's write."""
        now = time.monotonic()
        if now - self._polled < self.settings.store_poll_seconds or not self._poll_lock.acquire(blocking=False):
            return  # looked recently, or another thread is looking now
        try:
            self._polled = now
            if self.change_log is not None:
                self._catch_up()
            elif self._chroma is not None and self._catalog_path().exists():
                generation = self.catalog.generation
                if generation != self._dense_generation:
                    log.info("another process wrote to the store (catalog generation %s): reopening Chroma",
                             generation)

                    def reconnect():
                        self._chroma.close()
                        self._connect()
                        return self._chroma

                    vectors = self.__dict__.get("vectors")
                    if vectors is not None:
                        vectors.reopen(reconnect)  # in-flight searches finish on the old client first
                    else:
                        reconnect()
                    self._dense_generation = generation  # read before reopening: later writes reopen again
                    self._vocabulary = None
        finally:
            self._poll_lock.release()

    def _catch_up(self) -> None:
        from paperbot.ingest.rebuild import applied_generation, catch_up

        catalog = self.catalog
        seen = applied_generation(catalog, self.change_log)
        if seen is not None and not self.change_log.since(seen):
            return  # the usual case: one small request
        with ExitStack() as held:
            try:
                held.enter_context(store_lock(self._lock_path(), 0.5, what="catching up with other writers"))
            except StoreError:
                return  # a writer of this data dir is at work; it catches up first, else the next poll does
            result = catch_up(self.vectors, catalog, self.change_log)
            if result.changed:
                self.lexical.refresh()
                self._vocabulary = None
                log.info("caught up with the store's change log: %d papers (generation %d)", result.papers,
                         result.generation)

    def search(
        self, query: str, k: int | None = None, filters: SearchFilters | None = None, mode: RetrievalMode = "hybrid"
    ) -> list[PaperHit]:
        return self.search_timed(query, k, filters, mode).hits

    def search_timed(
        self, query: str, k: int | None = None, filters: SearchFilters | None = None, mode: RetrievalMode = "hybrid"
    ) -> SearchResult:
        """As search, with the time each retrieval stage took."""
        from paperbot.text.questions import clean_question

        query = clean_question(query, self.settings.max_question_chars).text
        self._poll_store()
        result = self.retriever.search_timed(query, k or self.settings.k, filters, mode)
        if mode == "lexical" and self.lexical.problem:
            raise StoreError(self.lexical.problem)  # hybrid falls back to dense (store_warnings says so)
        return result

    def filter_notes(self, filters: SearchFilters | None) -> list[str]:
        """Why a search with these filters found nothing: which filter matches no paper, and how many papers lack
        the field it filters on (empty when the filters match papers)."""
        from paperbot.retrieval.filter_notes import empty_filter_notes

        return empty_filter_notes(self.catalog, filters) if filters is not None else []

    def paper(self, paper_id: str) -> Paper:
        paper = self.catalog.paper(paper_id)
        if paper is None:
            raise PaperNotFoundError(f"no paper with id {paper_id!r}; `paperbot papers --grep WORD` lists ids")
        return paper

    def papers(self, grep: str | None = None) -> list[Paper]:
        self._poll_store()
        return self.catalog.papers(grep)

    def stats(self) -> StoreStats:
        """From the catalog alone when it records the embedder and chunker this bot is set up for (every ingest
        records them); otherwise Chroma's collection says, and refuses a mismatch. The BM25 count is its manifest's:
        loading the index (numpy) would cost `paperbot stats` most of its start."""
        from paperbot.store.lexical_manifest import saved_live_chunks

        papers, chunks = self.catalog.counts()
        embedder, chunker = self.catalog.get_meta("embedder"), self.catalog.get_meta("chunker")
        if (embedder, chunker) != (self.embedder_id, self.chunker_version):
            embedder, chunker = self.vectors.embedder_id, self.vectors.chunker_version
        return StoreStats(
            location=self.location, collection=self.settings.collection, papers=papers, chunks=chunks,
            lexical_chunks=saved_live_chunks(self._catalog_path().with_suffix(".bm25"), self.settings.title_weight),
            embedder=embedder, chunker=chunker,
            years=self.catalog.year_range(),
        )

    def ask(self, question: str, history: list[dict] | None = None, *, k: int | None = None,
            mode: Mode | str | None = None, model: str | None = None, temperature: float | None = None) -> Answer:
        """Answer with citations; `history` is OpenAI-style messages of the conversation so far."""
        return self.ask_stream(question, history, k=k, mode=mode, model=model, temperature=temperature).answer()

    def ask_stream(self, question: str, history: list[dict] | None = None, *, k: int | None = None,
                   mode: Mode | str | None = None, model: str | None = None,
                   temperature: float | None = None) -> AnswerResponse:
        """The answer as a response: iterate it for the text deltas, `.answer()` for the final Answer (with the
        store's warnings). Nothing runs, not even the mode check, until it is read; it runs once."""
        history = list(history or ())

        def run() -> Iterator[str | Answer]:
            answerer = self.answerer(mode=mode, model=model, temperature=temperature)
            response = answerer.ask_stream(question, history, k=k)  # in the mode resolve() chose
            yield from response
            yield self._with_store_warnings(response.answer())

        return AnswerResponse(run)

    def store_warnings(self) -> tuple[str, ...]:
        """Why searches and answers are degraded now (an index missing or damaged), with what to do; () if not."""
        papers, chunks = self.catalog.counts()
        if not chunks:
            return ()
        found = []
        if self.vectors.count() == 0:
            found.append(
                f"the vector store (Chroma at {self.location}) holds no chunks of collection "
                f"{self.settings.collection!r}, but the catalog lists {papers} papers: was the Chroma folder deleted? "
                "Search and answers use keyword (BM25) search only. `paperbot doctor` explains; "
                f"`paperbot --collection NEW reindex --from-catalog {self.settings.collection}` re-embeds the "
                "catalog's papers into a new collection"
            )
        self.lexical.ensure_fresh()
        if self.lexical.problem:
            found.append(f"{self.lexical.problem}. Search and answers use dense search only until then")
        return tuple(found)

    def _with_store_warnings(self, answer: Answer) -> Answer:
        warnings = self.store_warnings()
        return replace(answer, store_warnings=warnings) if warnings else answer

    def prepare(self, question: str, history: list[dict] | None = None, *, k: int | None = None,
                mode: Mode | str | None = None, model: str | None = None) -> PreparedPrompt:
        """What would be sent to the model, without calling it (for --dry-run: LLM mode needs no API here)."""
        answerer = self.answerer(mode=mode, model=model, planning=True)
        return answerer.prepare(question, history or (), k=k)

    def doctor(self, *, repair: bool = False, examples: int = 5, probe: bool = True):
        """Check that Chroma, the catalog and the BM25 index agree (a DoctorReport); repair=True fixes what it can.
        probe: first read the collection in a child process, since damaged vector files can crash the reader."""
        from paperbot.ingest.doctor import StoreAccess, check_store, repair_store, unreadable_vectors_report
        from paperbot.store.lexical import LexicalIndex
        from paperbot.store.lock import lock_is_held
        from paperbot.store.probe import probe_collection
        from paperbot.store.vectors import VectorStore, collection_names

        path = self._catalog_path()
        in_chroma = self.settings.collection in collection_names(self._client)
        if not in_chroma and path.exists():
            return unreadable_vectors_report(self.location, self.settings.collection,
                                             "Chroma holds no such collection, but its catalog exists (a Chroma folder "
                                             "deleted or replaced?)")
        if probe and in_chroma:
            problem = probe_collection(self.settings.chroma_url, str(self.settings.data_dir / "chroma"),
                                       self.settings.collection)
            if problem:
                return unreadable_vectors_report(self.location, self.settings.collection, problem)
        access = StoreAccess(
            vectors=VectorStore(self._client, self.settings.collection, embedder_id=self.embedder_id,
                                chunker_version=self.chunker_version, create=False, verify=False,
                                location=self.location),
            catalog_path=path, open_catalog=lambda: Catalog(path),
            open_lexical=lambda catalog: LexicalIndex(path.with_suffix(".bm25"), catalog,
                                                      title_weight=self.settings.title_weight),
            embedder_id=self.embedder_id, chunker_version=self.chunker_version, location=self.location,
            lock_held=lambda: lock_is_held(self._lock_path()),
            # No catch-up first: repair re-syncs every complete paper in Chroma into the catalog anyway, and must
            # work on a catalog too damaged to open.
            lock=lambda: self._writing("repair", follow=False),
        )
        if not repair:
            return check_store(access, examples=examples)
        report = repair_store(access, examples=examples)
        self._forget_store_state()
        return report

    def _forget_store_state(self) -> None:
        """Drop cached handles on the catalog and indexes, so the next use opens what is on disk now."""
        catalog = self.__dict__.pop("catalog", None)
        if catalog is not None:
            catalog.close()
        for name in ("lexical", "retriever"):
            self.__dict__.pop(name, None)
        self._vocabulary = None

    def close(self) -> None:
        """Release the catalog and the Chroma client (embedded: its in-memory index), e.g. before another
        process writes to this store."""
        self._forget_store_state()
        self.__dict__.pop("vectors", None)
        if self._chroma is not None:  # never opened: nothing to release
            self._chroma.close()
        chat = self.__dict__.pop("chat", None)
        self._language_tools.clear()  # they hold the chat
        if hasattr(chat, "close"):  # the local model's server
            chat.close()

    def reindex_from_catalog(self, source_collection: str) -> IngestReport:
        """Embed the papers another collection's catalog lists into this (new) collection: the way back when that
        collection's Chroma files are lost or damaged, since the catalog keeps every paper's fields and abstract."""
        if source_collection == self.settings.collection:
            raise StoreError(f"--from-catalog {source_collection!r} is this collection: re-embed into a new one, e.g. "
                             f"`paperbot --collection {source_collection}-2 reindex --from-catalog {source_collection}`")
        source = self._catalog_path().with_name(f"{source_collection}.sqlite3")
        if not source.is_file():
            raise StoreError(f"no catalog {source} for collection {source_collection!r}")
        catalog = Catalog(source)
        try:
            papers = catalog.papers()
        finally:
            catalog.close()
        return self.ingest_papers(papers)

    def rebuild_lexical_index(self) -> int:
        """Recreate the catalog and BM25 index from Chroma, holding the store lock; returns the number of papers."""
        from paperbot.ingest.rebuild import rebuild_catalog

        catalog = self.catalog  # outside the lock, as in ingest_papers
        with store_lock(self._lock_path(), self.settings.lock_timeout, what="reindex"):
            count = rebuild_catalog(self.vectors, catalog, self.change_log)
            self.lexical.rebuild()
        return count

    def refresh_lexical_index(self) -> bool:
        """Build the BM25 index if the saved one is not current (e.g. another title weight), holding the store
        lock; True if it was built."""
        lexical = self.lexical  # opens the catalog outside the lock, as in ingest_papers
        with store_lock(self._lock_path(), self.settings.lock_timeout, what="the BM25 build"):
            return lexical.refresh()

    # --- summaries, digests and comparisons ---------------------------------------------------------------------
    @cached_property
    def summary_cache(self):
        """Summaries by (text hash, generator, prompt version), in a SQLite file beside the catalog."""
        from paperbot.store.summary_cache import SummaryCache

        return SummaryCache(self._catalog_path().with_suffix(".summaries.sqlite3"))

    def summarizer(self, *, mode: Mode | str | None = None, model: str | None = None):
        from paperbot.summaries.structured import StructuredConfig
        from paperbot.summaries.summarize import Summarizer

        return Summarizer(tools=self.language_tools(*self.resolve(mode, model)),
                          config=StructuredConfig.from_settings(self.settings), cache=self.summary_cache)

    def summarize(self, paper_id: str, *, mode: Mode | str | None = None, model: str | None = None):
        """A TL;DR and problem / approach / results / limitations, each citing its abstract sentences; cached."""
        return self.summarizer(mode=mode, model=model).summarize(self.paper(paper_id))

    def digester(self, *, mode: Mode | str | None = None, model: str | None = None, planning: bool = False):
        """`planning`: an LLM digester that can plan without an API (for --dry-run; see resolve), not run."""
        from paperbot.summaries.digest import DigestConfig, Digester

        resolved, name = self.resolve(mode, model, planning=planning)
        return Digester(tools=self.language_tools(resolved, name), config=DigestConfig.from_settings(self.settings),
                        mode=resolved, support_scorer=self.support_scorer)

    def _digest_papers(self, paper_ids: Iterable[str] | None, query: str | None, k: int | None) -> list[Paper]:
        if paper_ids:
            return [self.paper(pid) for pid in dict.fromkeys(paper_ids)]
        if query:
            papers = [self.paper(hit.paper_id) for hit in self.search(query, k=k or self.settings.digest_k)]
            if k is None:  # no number asked for: the papers that match the query, not a fixed digest_k
                from paperbot.summaries.digest import matching_papers

                papers = matching_papers(query, papers, self.vocabulary())
        else:
            papers = self.papers()
        if not papers:
            raise PaperNotFoundError("no papers to digest in this store; run `paperbot ingest PATH` first")
        return papers

    def prepare_digest(self, paper_ids: Iterable[str] | None = None, query: str | None = None, *,
                       mode: Mode | str | None = None, model: str | None = None, k: int | None = None):
        """Themes decided and every LLM call planned (tokens, cost), nothing sent: `.plan` is what --dry-run shows."""
        papers = self._digest_papers(paper_ids, query, k)
        vectors = self.vectors.paper_vectors([p.id for p in papers])
        return self.digester(mode=mode, model=model, planning=True).prepare(papers, vectors, query)

    def digest(self, paper_ids: Iterable[str] | None = None, query: str | None = None, *,
               mode: Mode | str | None = None, model: str | None = None, k: int | None = None):
        """Papers (given ids, the top k for a query, or all) grouped into themes, each named, with a cited
        paragraph and its papers; every paper in exactly one theme."""
        digester = self.digester(mode=mode, model=model)
        papers = self._digest_papers(paper_ids, query, k)
        return digester.run(digester.prepare(papers, self.vectors.paper_vectors([p.id for p in papers]), query))

    def compare(self, ids: Iterable[str], aspects: Iterable[str] | None = None, *, mode: Mode | str | None = None,
                model: str | None = None):
        """One row per paper, one cell per aspect, each a phrase citing its sentence or "not stated"."""
        papers = [self.paper(pid) for pid in dict.fromkeys(ids)]
        comparer = self.comparer(mode=mode, model=model)
        return comparer.compare(papers, tuple(aspects) if aspects is not None else None)

    def comparer(self, *, mode: Mode | str | None = None, model: str | None = None):
        from paperbot.summaries.compare import Comparer
        from paperbot.summaries.structured import StructuredConfig

        return Comparer(tools=self.language_tools(*self.resolve(mode, model)),
                        config=StructuredConfig.from_settings(self.settings))


def resolve_mode(settings: Settings, mode: Mode | str | None = None, model: str | None = None, *,
                 planning: bool = False) -> tuple[Mode, str | None]:
    """The one place a requested answer mode and chat model become what runs: (Mode.LLM, the chat model) or
    (Mode.EXTRACTIVE, None). Every answer, summary, digest and comparison, from every front end, goes through it
    (PaperBot.resolve; the evals, which hold Settings, call it directly).

    mode None, "" or AUTO: the configured default, Settings.answer_mode, whose AUTO is LLM when an API or a local
    model is configured, else EXTRACTIVE. model None or "": Settings.chat_model (the local model's name when one is
    configured). LLM with no model configured raises NoLLMError, unless `planning`: a dry run prices the prompts it
    would send, and sends none. An unknown mode is a ConfigError naming the known ones.
    """
    from paperbot.errors import ConfigError, NoLLMError

    try:
        wanted = Mode(mode or Mode.AUTO)
    except ValueError:
        raise ConfigError(f"unknown mode {mode!r}; use {', '.join(m.value for m in Mode)}") from None
    if wanted is Mode.AUTO:
        wanted = Mode(settings.answer_mode)
    configured = settings.llm_configured
    if wanted is Mode.AUTO:
        wanted = Mode.LLM if configured else Mode.EXTRACTIVE
    if wanted is Mode.EXTRACTIVE:
        return Mode.EXTRACTIVE, None
    if not (configured or planning):
        raise NoLLMError()
    return Mode.LLM, model or settings.chat_model
