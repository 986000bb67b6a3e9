"""Settings from the environment (PAPERBOT_*, OPENAI_*), a .env file, or arguments; values only, nothing built here."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from platformdirs import user_data_dir
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_data_dir() -> Path:
    return Path(user_data_dir("paperbot", appauthor=False))


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
    # Larger batches embed faster (length-sorted batches pad less: 256 papers ran 18% faster than 64 here).
    ingest_batch_size: int = Field(default=256, ge=1, le=10_000, description="papers embedded and written together")
    lock_timeout: float = Field(default=600.0, ge=0, description="seconds an ingest or repair waits for another one")
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

    # Answering: the chat model and the token budget of each prompt.
    chat_model: str = "gpt-4o-mini"
    judge_model: str | None = Field(default=None, description="the evals' LLM judge; None: chat_model")
    answer_mode: Literal["auto", "llm", "extractive"] = Field(
        default="auto", description="auto: LLM when an API is configured, else extractive"
    )
    answer_k: int = Field(default=5, ge=1, le=50, description="papers retrieved as evidence for an answer")
    prompts_dir: Path | None = Field(default=None, description="prompt templates; default: the repo's prompts/")
    temperature: float = Field(default=0.1, ge=0, le=2)
    # About 250 tokens: a long question still leaves most of the prompt budget to the sources.
    max_question_chars: int = Field(default=1000, ge=20, le=100_000, description="longer questions are cut")
    max_answer_tokens: int = Field(default=600, ge=1, description="tokens reserved for the answer")
    context_window: int | None = Field(default=None, ge=256, description="None: from the model table, else 8192")
    max_prompt_tokens: int = Field(
        default=1500, ge=64, description="prompt budget cap; also kept within context window minus the answer"
    )

    # Prices (USD per 1M tokens) for cost reports; unknown models cost "unknown", never 0.
    prices_file: Path | None = Field(default=None, description="JSON merged over the packaged price table")
    price_input_per_m: float | None = Field(default=None, ge=0, description="override for chat_model")
    price_output_per_m: float | None = Field(default=None, ge=0, description="override for chat_model")

    @field_validator("data_dir", "models_dir", "prices_file", mode="after")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        # Relative paths are taken from where the command runs, once, so later chdirs do not move the store.
        return value.expanduser().resolve() if value is not None else None

    @property
    def llm_configured(self) -> bool:
        """True when an OpenAI-compatible API is reachable in principle: a key, or a local server's URL."""
        has_key = self.openai_api_key is not None and bool(self.openai_api_key.get_secret_value())
        return has_key or bool(self.openai_base_url)

    @property
    def tiktoken_cache_dir(self) -> Path | None:
        return self.models_dir / "tiktoken" if self.models_dir else None

    @property
    def minilm_dir(self) -> Path | None:
        """Folder holding onnx/ for all-MiniLM-L6-v2; None means Chroma's own download location."""
        return self.models_dir / "all-MiniLM-L6-v2" if self.models_dir else None
