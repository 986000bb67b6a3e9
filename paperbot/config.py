"""Settings from the environment (PAPERBOT_*, OPENAI_*), a .env file, or arguments; values only, nothing built here."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from platformdirs import user_cache_dir, user_data_dir
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from paperbot.types import Mode

_RULES = {"collection": "a collection name is 3 to 62 letters, digits, '.', '_' or '-', starting and ending with a "
                        "letter or digit"}


def load_settings(**overrides) -> Settings:
    """Settings from arguments, the environment and .env; a bad value is a ConfigError naming the option or variable,
    the value and the rule, in one line each (not pydantic's traceback)."""
    from paperbot.errors import ConfigError

    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            name = ".".join(str(part) for part in error["loc"]) or "settings"
            where = f"--{name.replace('_', '-')}" if name in overrides else f"PAPERBOT_{name.upper()}"
            rule = _RULES.get(name, error["msg"].removeprefix("Value error, "))
            lines.append(f"{where}={error.get('input')!r}: {rule}")
        raise ConfigError("invalid setting: " + "; ".join(lines)) from None


def default_data_dir() -> Path:
    return Path(user_data_dir("paperbot", appauthor=False))


def default_fused_models_dir() -> Path:
    return Path(user_cache_dir("paperbot", appauthor=False)) / "fused-models"


class Settings(BaseSettings):
    """Everything paperbot can be told; read once, then passed down."""

    model_config = SettingsConfigDict(
        env_prefix="PAPERBOT_", env_file=".env", extra="ignore", validate_assignment=True
    )

    # Where the store lives.
    data_dir: Path = Field(default_factory=default_data_dir, description="embedded Chroma and lexical index")
    collection: str = Field(default="papers", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{1,60}[A-Za-z0-9]$")
    chroma_url: str | None = Field(default=None, description="http://host:port of a Chroma server")

    # Models. On a networked machine leave models_dir unset and the libraries download what they need.
    models_dir: Path | None = Field(default=None, description="offline copies: all-MiniLM-L6-v2/onnx and tiktoken/")
    embedder: Literal["minilm", "openai"] = "minilm"
    openai_embedding_model: str = "text-embedding-3-small"
    openai_embedding_base_url: str | None = None  # falls back to OPENAI_BASE_URL
    embed_batch_size: int = Field(default=32, ge=1, le=1024)
    # Opt-in: MiniLM on a copy of its ONNX graph fused by onnxruntime's transformer optimizer (the `fused` extra).
    # Off by default: this export's attention does not fuse, and no speed-up was measured (evals/bench_embed.py).
    # The copy is cached per machine, not per store, keyed by the source's sha256 and the onnxruntime version.
    embed_fused: bool = Field(default=False, description="run MiniLM on its fused ONNX graph (needs onnx, sympy)")
    fused_models_dir: Path = Field(default_factory=default_fused_models_dir, description="where fused copies are cached")
    # Larger batches embed faster (length-sorted batches pad less: 256 papers ran 18% faster than 64 here).
    ingest_batch_size: int = Field(default=256, ge=1, le=10_000, description="papers embedded and written together")
    lock_timeout: float = Field(default=600.0, ge=0, description="seconds an ingest or repair waits for another one; "
                                "any command waits this long (at least 30) for another process opening the embedded "
                                "store")
    # Several processes over one store (README "Several processes, one store"): how stale a reader may be, and how
    # long a crashed writer's lease on a Chroma server's collection blocks others.
    store_poll_seconds: float = Field(default=2.0, ge=0, description="a reader looks for other processes' ingests "
                                      "at most this often (before a search or answer); 0: every time")
    lease_seconds: float = Field(default=30.0, ge=3, description="a server writer's lease lapses this long after its "
                                 "last renewal (a running ingest renews it every third of this)")
    # Bounds on what one input file may cost: a hostile 4.6 KB PDF parsed for minutes before these existed.
    pdf_seconds: float = Field(default=30.0, gt=0, description="parsing time per PDF; a slower one is stopped and "
                               "reported as skipped")
    pdf_max_pages: int = Field(default=500, ge=1, description="PDFs with more pages are skipped")
    max_file_mb: float = Field(default=1024.0, gt=0, description="larger input files are refused before reading")
    tiktoken_encoding: str | None = None  # None: chosen from the chat model
    chunk_tokens: int | None = Field(default=None, ge=16, description="chunk size cap in word pieces; None: the "
                                     "embedder's limit (256). A store records it: another size needs another collection")

    # Retrieval defaults (tuned on SciFact train; see evals/).
    k: int = Field(default=10, ge=1, le=1000)
    candidates: int = Field(default=100, ge=1, le=2000, description="chunks fetched from each retriever")
    # Chosen by `paperbot tune` on the tuning half of SciFact train (claim ids hashed), reported on the held-out
    # half: see evals/results/tuning.json.
    rrf_k: int = Field(default=2, ge=1)
    dense_weight: float = Field(default=0.75, ge=0)
    lexical_weight: float = Field(default=1.0, ge=0)
    title_weight: float = Field(default=2.0, ge=0, description="times the title's words count in BM25 (0 to 3)")

    # OpenAI-compatible API (shared by the embedder and, later, the chat model).
    openai_api_key: SecretStr | None = Field(default=None, validation_alias="OPENAI_API_KEY")
    openai_base_url: str | None = Field(default=None, validation_alias="OPENAI_BASE_URL")

    request_timeout: float = Field(default=60.0, gt=0, description="seconds per HTTP request to the API")
    max_attempts: int = Field(default=5, ge=1, le=20, description="tries per API call, retries included")
    max_retry_seconds: float = Field(default=120.0, gt=0, description="give up retrying after this long")
    retry_base_seconds: float = Field(default=0.5, gt=0, description="first backoff step; doubles per retry")
    # A hard bound on one LLM answer, retries, first token and the whole stream included: a server that drips a
    # word every few seconds (each read within the request timeout) must not hold a CLI or an app slot for ever.
    # Generous by default because the local model on 2 cores takes minutes for a long answer.
    max_answer_seconds: float = Field(default=300.0, gt=0, description="give up on one LLM answer after this long; "
                                      "the text so far is kept, marked as cut")

    # Answering: the chat model and the token budget of each prompt.
    chat_model: str = "gpt-4o-mini"
    judge_model: str | None = Field(default=None, description="the evals' LLM judge; None: chat_model")
    answer_mode: Mode = Field(
        default=Mode.AUTO, description="auto: LLM when an API or local model is configured, else extractive"
    )
    answer_k: int = Field(default=5, ge=1, le=50, description="papers retrieved as evidence for an answer")
    # Fitted on the tune halves by evals/train_answerability.py, reported on the other halves
    # (evals/results/answerability.json); used by paperbot/answer/abstention.py decide() in both answer modes.
    # These values: model answerability-655c0ed7749b, `python -m evals.train_answerability --datasets-dir
    # ../shared/datasets --work-dir eval-data --features-cache eval-data/answerability-features-v5.json`.
    answerable_threshold: float = Field(default=0.01, ge=0, le=1, description="answer only when the answerability "
                                        "scorer's p(answerable) reaches this; higher declines more")
    missing_name_threshold: float = Field(default=0.77, ge=0, le=1, description="the same when a specific name "
                                          "the question uses is in no retrieved paper (any spelling)")
    yes_no_threshold: float = Field(default=0.32, ge=0, le=1, description="the same for a yes/no question "
                                    "(\"Does X reduce Y?\"), which only a study of exactly that answers")
    answerability_model: Path | None = Field(default=None, description="answerability model JSON; default: the "
                                             "packaged paperbot/data/answerability_model.json")
    prompts_dir: Path | None = Field(default=None, description="prompt templates; default: the packaged copy of prompts/")
    temperature: float = Field(default=0.1, ge=0, le=2)
    # About 250 tokens: a long question still leaves most of the prompt budget to the sources.
    max_question_chars: int = Field(default=1000, ge=20, le=100_000, description="longer questions are cut")
    max_answer_tokens: int = Field(default=600, ge=1, description="tokens reserved for the answer")
    context_window: int | None = Field(default=None, ge=256, description="None: from the model table, else 8192")
    max_prompt_tokens: int = Field(
        default=1500, ge=64, description="prompt budget cap; also kept within context window minus the answer"
    )
    # Summaries, digests and comparisons (paperbot/summaries/).
    structured_temperature: float = Field(default=0.0, ge=0, le=2, description="temperature of LLM summaries and "
                                          "comparison rows (JSON that quotes and cites sentences): 0 for repeatable "
                                          "output")
    digest_k: int = Field(default=30, ge=1, le=1000, description="most papers a query-scoped digest covers when no "
                          "number is given (a relevance floor keeps fewer)")
    digest_output_tokens: int = Field(default=350, ge=16, description="tokens per LLM digest call (one theme name "
                                      "and one paragraph); never more than max_answer_tokens")
    digest_quoted_per_theme: int = Field(default=4, ge=1, le=50, description="an extractive digest paragraph quotes "
                                         "sentences of this many of its theme's papers")
    # Support scoring of answer sentences (paperbot/support/): auto = the NLI model when nli_model_dir is set, else
    # the packaged learned model (evals/train_support.py; evals/results/support-model.md), lexical as the fallback.
    support_scorer: Literal["auto", "learned", "lexical", "nli"] = Field(
        default="auto", description="auto: nli when nli_model_dir is set, else learned")
    # Fitted by `python -m evals.train_support` on the tune half of SciFact train claims (best balanced accuracy);
    # the held-out figure is in evals/results/support-model.md. The learned model's threshold is in its weights file.
    lexical_support_threshold: float = Field(default=0.5566, gt=0, lt=1, description="the lexical scorer counts "
                                             "a sentence as supported at or above this share of its terms")
    nli_model_dir: Path | None = Field(default=None, description="an ONNX NLI model: model.onnx, tokenizer.json, "
                                       "config.json (id2label names the entailment class)")
    # Post-hoc attribution of LLM answers (paperbot/answer/attribution.py): each sentence against every shown paper.
    unsupported: Literal["flag", "drop"] = Field(
        default="flag", description="answer sentences no paper supports: flagged, or dropped from the answer text")
    # Fitted by `python -m evals.attribution_margins --support-scorer learned|lexical` on the demo questions' tune
    # half (sha256 of the id), reported on the other half (evals/results/attribution-margins-*.json): margin 0 won
    # on tune for both scorers; held out, the learned one gave 87% of the claims their gold paper's key, none
    # another paper's, and a key to 2 of 33 claims no shown paper makes (lexical: 82%, 0, 1 of 33). No two papers
    # tied in these claims, so the gap (the grid's largest) is untested. A retrained scorer needs a refit.
    attribution_margin: float = Field(default=0.0, ge=0, le=1, description="'clearly supports' = scorer "
                                      "threshold + this; needed to add or change a key")
    attribution_gap: float = Field(default=0.15, ge=0, le=1, description="papers scoring within this of the "
                                   "best one are a tie: the sentence is flagged ambiguous")
    # Question focus and thin answers (paperbot/answer/attribution.py), fitted by `python -m evals.fit_focus` on the demo
    # questions' tune half with the local model's recorded answers, reported on both halves
    # (evals/results/local-model.md).
    off_question: Literal["keep", "drop"] = Field(
        default="drop", description="supported answer sentences about papers the question is not about: kept "
        "(marked) or dropped")
    attribution_focus: float = Field(default=0.0, ge=0, le=1, description="a shown paper covering less of the "
                                     "question's terms than this times the best shown paper is off the question")
    attribution_focus_floor: float = Field(default=0.0, ge=0, le=1, description="... or covering less than this")
    min_supported: float = Field(default=0.0, ge=0, le=1, description="an LLM answer with a smaller share of "
                                 "supported, on-question claims is declined")
    # Fitted by `python -m evals.fit_focus` on all 71 demo questions (the demo set is fitting data for attribution
    # since Dec 2; the report set is holdout.jsonl's single-paper questions, evals/results/local-model.md). Its second
    # refit (Dec 2, with the semantic share added to the grid) stops every wrong re-keying there with the floor and the
    # semantic share: a key put on a paper at 0.18 of the question's terms when the gold paper was not shown (floor),
    # a key corrected to a paper at 0.76 of the best one's similarity to the question, and five sentences of an answer
    # about a paper at 0.765 whose terms matched the question as well as the gold paper's (semantic share). The term
    # share then adds nothing, so the fit's least intervention turns it off (0.6 before); the holdout's figures are the
    # same either way. Every right attribution on the demo keyed a paper at 0.99 or more of both bests and at 0.24 or
    # more of the question's terms.
    attribution_rekey_focus: float = Field(default=0.0, ge=0, le=1, description="the check adds or substitutes a "
                                           "key only for a paper covering at least this times the best shown paper's "
                                           "share of the question's terms; other sentences are flagged")
    attribution_rekey_floor: float = Field(default=0.2, ge=0, le=1, description="... and at least this share")
    # The same by meaning: a paraphrased question shares few terms with any paper, so the term share cannot tell which
    # one it asks about. MiniLM cosines only (the fit's): with another embedder this rule is off.
    attribution_rekey_semantic: float = Field(default=0.8, ge=0, le=1, description="... and at least this times the "
                                              "best shown paper's closest sentence to the question (MiniLM cosine)")
    focus_scope: Literal["compact", "all"] = Field(
        default="compact", description="answers the six settings above apply to: those written with the compact "
        "prompt (small local models, where they were fitted), or all")
    # Fitted by `python -m evals.fit_focus` with the ones above (evals/results/focus-fit.json, local-model.md), for the
    # same focus_scope answers only, on the answerability model in the tree at 22:50 UTC on Dec 1 (format /3; a
    # retrained model needs a refit). The fit chose 0.2 and 0.9 on the demo tune half; 0.2 is not used: the
    # answerability scorer was trained on those very questions, so their p(answerable) is over-separated, and on the
    # report half such a threshold refused more answerable questions (previous model: 0.3, 11 of 29 instead of 4).
    # The Dec 2 refit on all 71 demo questions (with the re-keying focus) chose 0 and 0.9 itself.
    # The fallback at p >= 0.9 never shows more than extractive mode (which answers from answerable_threshold) would.
    llm_answerable_threshold: float = Field(default=0.0, ge=0, le=1, description="p(answerable) a written (LLM) "
                                            "answer needs, on top of answerable_threshold; below it, abstain")
    decline_fallback_threshold: float = Field(default=0.9, ge=0, le=1, description="when the model declines although "
                                              "p(answerable) is at least this, quote the papers instead (1: never)")

    # A local GGUF model served by llama-cpp-python (the `.[local]` extra), started on demand by the facade.
    local_model: Path | None = Field(default=None, description="a .gguf file: ask/summarize/digest/compare/chat "
                                     "start `python -m llama_cpp.server` on it when an LLM answer is needed")
    local_base_url: str | None = Field(default=None, description="the local model already served here "
                                       "(`paperbot llm serve` prints it): use it instead of starting one")
    local_threads: int | None = Field(default=None, ge=1, le=256, description="CPU threads; None: all cores")
    local_context: int = Field(default=2048, ge=256, le=131_072, description="the server's context window (n_ctx)")
    # The local model reads about 90 prompt tokens/s on 2 cores: a ~1,000-token prompt is ~11 s before the first word.
    local_prompt_tokens: int = Field(default=1000, ge=64, description="prompt budget cap for the local model")
    local_max_answer_tokens: int = Field(default=300, ge=1, description="answer token cap for the local model")
    local_startup_timeout: float = Field(default=120.0, gt=0, description="seconds to wait for the server to answer")
    local_request_timeout: float = Field(default=300.0, gt=0, description="seconds per request to the local server")
    local_server_module: str = Field(default="paperbot.llm.llama_server", description="module run as the server "
                                     "(`python -m MODULE --model ... --port ...`); tests put a stand-in here")
    local_repack: Literal["auto", "on", "off"] = Field(
        default="auto", description="llama.cpp weight repacking (fastest kernels); auto: off when the first answer "
        "dies with SIGILL (CPUs advertising AMX that a VM does not enable)")
    prompt_style: Literal["auto", "standard", "compact"] = Field(
        default="auto", description="compact: short instructions and a worked example, for small models; "
        "auto: compact for the local model")

    # Prices (USD per 1M tokens) for cost reports; unknown models cost "unknown", never 0.
    prices_file: Path | None = Field(default=None, description="JSON merged over the packaged price table")
    price_input_per_m: float | None = Field(default=None, ge=0, description="override for chat_model")
    price_output_per_m: float | None = Field(default=None, ge=0, description="override for chat_model")

    @field_validator("data_dir", "models_dir", "prices_file", "local_model", "answerability_model",
                     "nli_model_dir", mode="after")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        # Relative paths are taken from where the command runs, once, so later chdirs do not move the store.
        return value.expanduser().resolve() if value is not None else None

    @field_validator("models_dir", mode="after")
    @classmethod
    def _existing_models_dir(cls, value: Path | None) -> Path | None:
        # Said here, with the absolute path tried: a relative ../shared/models only works from one folder.
        if value is not None and not value.expanduser().resolve().is_dir():
            raise ValueError(f"the folder {value.expanduser().resolve()} does not exist (a relative path is taken from "
                             f"the folder the command runs in, {Path.cwd()}); give an absolute path, or leave it unset "
                             "to let the libraries download the models")
        return value

    @property
    def llm_configured(self) -> bool:
        """True when an OpenAI-compatible API is reachable in principle: a key, or a local server's URL."""
        has_key = self.openai_api_key is not None and bool(self.openai_api_key.get_secret_value())
        return has_key or bool(self.openai_base_url) or self.local_configured

    @property
    def local_configured(self) -> bool:
        """True when answers come from the local model (a GGUF to serve, or one already served)."""
        return self.local_model is not None or bool(self.local_base_url)

    @property
    def tiktoken_cache_dir(self) -> Path | None:
        return self.models_dir / "tiktoken" if self.models_dir else None

    @property
    def minilm_dir(self) -> Path | None:
        """Folder holding onnx/ for all-MiniLM-L6-v2; None means Chroma's own download location."""
        return self.models_dir / "all-MiniLM-L6-v2" if self.models_dir else None
