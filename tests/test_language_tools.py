"""One place for each decision: token usages add up, every config object is built from Settings (no defaults of its
own to disagree with them), and the facade builds the use cases' shared LanguageTools once per mode and model."""

from __future__ import annotations

import dataclasses

import pytest

from paperbot.answer.answerer import AnswerConfig
from paperbot.answer.attribution import AttributionPolicy
from paperbot.config import Settings
from paperbot.retrieval.retriever import FusionParams
from paperbot.summaries.digest import DigestConfig
from paperbot.summaries.structured import StructuredConfig
from paperbot.types import Mode, TokenUsage

CONFIGS = [
    (AnswerConfig, lambda s: AnswerConfig.from_settings(s, focused=True)),
    (AttributionPolicy, lambda s: AttributionPolicy.from_settings(s, focused=True)),
    (FusionParams, FusionParams.from_settings),
    (StructuredConfig, StructuredConfig.from_settings),
    (DigestConfig, DigestConfig.from_settings),
]


@pytest.mark.parametrize(("usages", "total"), [
    ([TokenUsage(3, 4), TokenUsage(10, 20)], TokenUsage(13, 24)),
    ([TokenUsage(3, 4), TokenUsage(1, 1, estimated=True)], TokenUsage(4, 5, estimated=True)),  # any estimate taints
    ([TokenUsage(7, 0)], TokenUsage(7, 0)),
])
def test_token_usages_add_up_and_sum(usages, total) -> None:
    assert sum(usages) == total
    running = TokenUsage()
    for usage in usages:
        running += usage
    assert running == total


def test_a_token_usage_adds_only_token_usages() -> None:
    with pytest.raises(TypeError):
        TokenUsage(1, 1) + 1  # the addition is what is tested


@pytest.mark.parametrize(("cls", "build"), CONFIGS, ids=[cls.__name__ for cls, _ in CONFIGS])
def test_config_objects_have_no_defaults_and_come_from_settings(cls, build) -> None:
    defaulted = [f.name for f in dataclasses.fields(cls)
                 if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING]
    assert defaulted == [], f"{cls.__name__} has defaults of its own; Settings holds them"
    assert isinstance(build(Settings(_env_file=None)), cls)


@pytest.mark.parametrize(("overrides", "read", "expected"), [
    ({"rrf_k": 7}, lambda s: FusionParams.from_settings(s).rrf_k, 7),
    ({}, lambda s: FusionParams.from_settings(s).rrf_k, Settings.model_fields["rrf_k"].default),
    ({"candidates": 40, "dense_weight": 0.5}, lambda s: (FusionParams.from_settings(s).candidates,
                                                         FusionParams.from_settings(s).dense_weight), (40, 0.5)),
    ({"answer_k": 9, "temperature": 0.3}, lambda s: (AnswerConfig.from_settings(s, focused=False).k,
                                                     AnswerConfig.from_settings(s, focused=False).temperature), (9, 0.3)),
    ({"temperature": 0.3}, lambda s: AnswerConfig.from_settings(s, focused=False, temperature=0.9).temperature, 0.9),
    # Question focus and the minimum share of supported claims apply to focused answers only.
    ({"attribution_focus": 0.4, "min_supported": 0.2},
     lambda s: (AttributionPolicy.from_settings(s, focused=True).focus,
                AttributionPolicy.from_settings(s, focused=False).focus,
                AttributionPolicy.from_settings(s, focused=False).min_supported), (0.4, 0.0, 0.0)),
    ({}, lambda s: DigestConfig.from_settings(s).output_tokens, 350),
    ({"max_answer_tokens": 100}, lambda s: DigestConfig.from_settings(s).output_tokens, 100),  # capped by the answer's
    ({"digest_quoted_per_theme": 2}, lambda s: DigestConfig.from_settings(s).quoted_per_theme, 2),
    ({"structured_temperature": 0.2, "max_answer_tokens": 90},
     lambda s: (StructuredConfig.from_settings(s).temperature, StructuredConfig.from_settings(s).max_tokens),
     (0.2, 90)),
])
def test_config_objects_take_their_values_from_settings(overrides, read, expected) -> None:
    assert read(Settings(_env_file=None, **overrides)) == expected


def test_the_facade_builds_language_tools_once_per_mode_and_model(make_bot) -> None:
    # An API that is never called: building the tools and the use cases sends nothing.
    bot = make_bot(openai_api_key="sk-test", openai_base_url="http://127.0.0.1:9/v1", chat_model="gpt-4o-mini")
    llm = bot.language_tools(Mode.LLM, "gpt-4o-mini")
    assert bot.language_tools(Mode.LLM, "gpt-4o-mini") is llm and llm.chat is bot.chat
    # Every use case of one mode and model shares that one value.
    shared = {id(use_case._tools) for use_case in (bot.answerer(mode="llm"), bot.summarizer(mode="llm"),
                                                   bot.digester(mode="llm"), bot.comparer(mode="llm"))}
    assert shared == {id(llm)}
    assert llm.cost(TokenUsage(1_000_000, 1_000_000)) == pytest.approx(0.15 + 0.60)  # the packaged price table
    other = bot.language_tools(Mode.LLM, "gpt-4o")
    assert other.chat.model == other.model == "gpt-4o" and bot.language_tools(Mode.LLM, "gpt-4o") is other
    extractive = bot.language_tools(Mode.EXTRACTIVE)
    assert extractive.chat is None and extractive.model == "gpt-4o-mini"
    assert bot.answerer(mode="extractive")._tools is extractive
    bot.close()  # the tools hold the chat, which closing releases
    assert bot.language_tools(Mode.LLM, "gpt-4o-mini") is not llm
