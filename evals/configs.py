"""Parse `--configs dense,lexical,hybrid:rrf_k=60:dense_weight=1,chunk=128` into named retrieval configurations."""

from __future__ import annotations

from dataclasses import dataclass, field

from paperbot import PaperbotError, Settings

MODES = ("dense", "lexical", "hybrid")
# Short names a config may use for Settings fields; any retrieval field can also be named in full.
ALIASES = {"chunk": "chunk_tokens", "k": "answer_k"}
TUNABLE = ("candidates", "rrf_k", "dense_weight", "lexical_weight", "title_weight", "chunk_tokens", "answer_k")


@dataclass(frozen=True)
class EvalConfig:
    name: str  # as the user wrote it: the column header of the report
    mode: str  # dense | lexical | hybrid
    overrides: dict = field(default_factory=dict)  # Settings field -> value

    def settings(self, base: Settings) -> Settings:
        settings = base.model_copy()
        for key, value in self.overrides.items():
            setattr(settings, key, value)  # validate_assignment: a bad value fails here with the field's rule
        return settings

    @property
    def chunking(self):
        """Configs with the same chunking share one store."""
        return self.overrides.get("chunk_tokens")


def parse_configs(text: str, base: Settings) -> list[EvalConfig]:
    configs = []
    for token in (t.strip() for t in text.split(",")):
        if not token:
            continue
        parts = token.split(":")
        mode = parts[0] if parts[0] in MODES else "hybrid"
        pairs = parts[1:] if parts[0] in MODES else parts
        overrides = {}
        for pair in pairs:
            key, sep, value = pair.partition("=")
            key = ALIASES.get(key.strip(), key.strip())
            if not sep or key not in TUNABLE:
                raise PaperbotError(
                    f"--configs: cannot read {pair!r} in {token!r}; a config is MODE[:KEY=VALUE...] with MODE one of "
                    f"{', '.join(MODES)} and KEY one of {', '.join(sorted({*TUNABLE, *ALIASES}))}"
                )
            overrides[key] = value.strip()
        config = EvalConfig(token, mode, overrides)
        try:
            checked = config.settings(base)
        except ValueError as exc:  # pydantic's ValidationError names the field and the rule
            detail = "; ".join(f"{e['loc'][0]}={e.get('input')!r}: {e['msg']}" for e in exc.errors()) \
                if hasattr(exc, "errors") else str(exc)
            raise PaperbotError(f"--configs {token!r}: {detail}") from None
        configs.append(EvalConfig(token, mode, {k: getattr(checked, k) for k in overrides}))
    if not configs:
        raise PaperbotError(f"--configs is empty; e.g. --configs {','.join(MODES)}")
    if len({c.name for c in configs}) != len(configs):
        raise PaperbotError(f"--configs names a config twice: {text!r}")
    return configs
