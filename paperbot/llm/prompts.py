"""Load prompt templates from prompts/ and check their placeholders when they are loaded, not when they are used."""

from __future__ import annotations

import hashlib
import string
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from paperbot.errors import ConfigError

# Package data (paperbot/prompt_templates links to the repository's prompts/; a wheel carries copies), so an
# installed paperbot finds its prompts wherever it runs.
DEFAULT_PROMPTS_DIR = Path(str(resources.files("paperbot") / "prompt_templates"))

# Each prompt and the placeholders it must use, no more and no fewer.
PLACEHOLDERS: dict[str, frozenset[str]] = {
    "system": frozenset({"sentinel"}),
    "answer": frozenset({"sources", "question", "n_sources"}),
    # The same two for small models (prompt_style compact): short rules and a worked example of the key format.
    "system_compact": frozenset({"sentinel"}),
    "answer_compact": frozenset({"sources", "question", "n_sources"}),
    "condense": frozenset({"history", "question"}),
    # Summaries, digests and comparisons (paperbot/summaries/summarize.py, digest.py, compare.py).
    "structured_system": frozenset(),
    "summary": frozenset({"title", "sentences", "last_index"}),
    "repair": frozenset({"error"}),
    "digest_theme": frozenset({"sources", "n_sources", "keywords", "keys"}),
    "digest_merge": frozenset({"partials", "keywords", "keys"}),
    "compare": frozenset({"title", "sentences", "aspects", "last_index"}),
    # The eval harness's LLM judge and PubMedQA yes/no/maybe decision (evals/judge.py, evals/decision.py).
    "judge": frozenset({"question", "sources", "reference", "answer"}),
    "decide": frozenset({"question", "sources", "answer"}),
}


@dataclass(frozen=True)
class Prompt:
    name: str
    template: str
    version: str  # short hash of the text: caches and eval reports record which prompt produced what

    def render(self, **values: object) -> str:
        return self.template.format(**values)


def load_prompt(name: str, prompts_dir: Path | None = None) -> Prompt:
    folder = prompts_dir or DEFAULT_PROMPTS_DIR
    path = folder / f"{name}.txt"
    if name not in PLACEHOLDERS:
        raise ConfigError(f"unknown prompt {name!r}; known: {', '.join(sorted(PLACEHOLDERS))}")
    try:
        template = path.read_text(encoding="utf-8").strip() + "\n"
    except OSError as exc:
        raise ConfigError(f"cannot read prompt {path}: {exc.strerror or exc}; set PAPERBOT_PROMPTS_DIR") from exc
    try:
        found = {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}
    except ValueError as exc:
        raise ConfigError(f"prompt {path} is not a valid template: {exc} (write literal braces as {{{{ }}}})") from exc
    expected = PLACEHOLDERS[name]
    if found != expected:
        missing, extra = sorted(expected - found), sorted(found - expected)
        raise ConfigError(
            f"prompt {path} has the wrong placeholders: missing {missing or 'none'}, unknown {extra or 'none'}"
        )
    return Prompt(name, template, hashlib.sha256(template.encode()).hexdigest()[:10])
