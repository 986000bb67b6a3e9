"""Price table: exact and prefix matches, settings and file overrides, unknown models cost None, context windows."""

from __future__ import annotations

import json

import pytest

from paperbot.config import Settings
from paperbot.errors import ConfigError
from paperbot.llm.pricing import DEFAULT_CONTEXT_WINDOW, context_window_for, cost_usd, price_for
from paperbot.types import TokenUsage

BRIEF_MODELS = ["gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "o3", "o4-mini", "gpt-5",
                "gpt-5-mini", "gpt-5-nano", "gpt-3.5-turbo"]


@pytest.fixture
def settings(tmp_path):
    def make(**overrides):
        return Settings(data_dir=tmp_path / "store", **overrides)

    return make


def prices(price):
    return (price.input_per_m, price.output_per_m) if price else None


def test_packaged_table_covers_the_current_models_and_says_where_it_comes_from(settings):
    from importlib import resources

    table = json.loads(resources.files("paperbot").joinpath("data/prices.json").read_text())
    assert table["as_of"] and table["source"]
    for model in BRIEF_MODELS:
        price = price_for(settings(), model)
        assert price is not None and price.model == model and price.source == "table"
        assert 0 < price.input_per_m <= price.output_per_m
        assert context_window_for(settings(), model) >= 16_000
    assert prices(price_for(settings(), "text-embedding-3-small")) == (0.02, 0.0)


def test_exact_names(settings):
    assert prices(price_for(settings(), "gpt-4o-mini")) == (0.15, 0.6)
    assert prices(price_for(settings(), "gpt-4o")) == (2.5, 10.0)
    assert prices(price_for(settings(), "gpt-4o-2024-05-13")) == (5.0, 15.0)  # an exact row beats the prefix


@pytest.mark.parametrize(("model", "row"), [
    ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
    ("gpt-4o-2024-08-06", "gpt-4o"),
    ("gpt-4.1-nano-2025-04-14", "gpt-4.1-nano"),
    ("gpt-5-mini-2025-08-07", "gpt-5-mini"),
    ("o3-mini-2025-01-31", "o3-mini"),
    ("o3-2025-04-16", "o3"),
    ("openai/gpt-4.1-mini", "gpt-4.1-mini"),
])
def test_longest_known_prefix(settings, model, row):
    price = price_for(settings(), model)
    assert price is not None and price.model == row
    assert prices(price) == prices(price_for(settings(), row))


@pytest.mark.parametrize("model", ["llama3.1:8b", "gpt-4omni", "o30", "mistral-7b-instruct", "gpt-9"])
def test_unknown_models_cost_unknown_not_zero(settings, model):
    assert price_for(settings(), model) is None
    assert cost_usd(price_for(settings(), model), TokenUsage(1000, 1000)) is None
    assert context_window_for(settings(), model) == DEFAULT_CONTEXT_WINDOW == 8192


def test_cost_usd(settings):
    price = price_for(settings(), "gpt-4o-mini")
    assert cost_usd(price, TokenUsage(1_000_000, 500_000)) == pytest.approx(0.15 + 0.30)
    assert cost_usd(price, TokenUsage(1200, 300, estimated=True)) == pytest.approx((1200 * 0.15 + 300 * 0.6) / 1e6)
    assert cost_usd(price, TokenUsage(0, 0)) == 0.0


def test_settings_override_the_configured_chat_model_only(settings):
    local = settings(chat_model="llama3.1:8b", price_input_per_m=0.0, price_output_per_m=0.0)
    price = price_for(local, "llama3.1:8b")
    assert prices(price) == (0.0, 0.0) and price.source == "settings"
    assert cost_usd(price, TokenUsage(10, 10)) == 0.0  # a stated zero (a local model) is a real zero
    assert prices(price_for(local, "gpt-4o")) == (2.5, 10.0)  # other models keep the table

    partial = settings(chat_model="gpt-4o", price_input_per_m=1.0)
    assert prices(price_for(partial, "gpt-4o")) == (1.0, 10.0)
    assert price_for(settings(chat_model="my-model", price_input_per_m=1.0), "my-model") is None  # output unknown


def test_prices_file_is_merged_over_the_table(settings, tmp_path):
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"chat": {
        "my-local-model": {"input_per_m": 0.01, "output_per_m": 0.02, "context_window": 32768},
        "gpt-4o": {"input_per_m": 2.0, "output_per_m": 8.0, "context_window": 128000},
    }}))
    configured = settings(prices_file=path)
    assert prices(price_for(configured, "my-local-model-q4")) == (0.01, 0.02)
    assert prices(price_for(configured, "gpt-4o")) == (2.0, 8.0)
    assert prices(price_for(configured, "gpt-4o-mini")) == (0.15, 0.6)  # untouched rows remain
    assert context_window_for(configured, "my-local-model") == 32768

    path.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        price_for(settings(prices_file=path), "gpt-4o")
    with pytest.raises(ConfigError, match="cannot read prices file"):
        price_for(settings(prices_file=tmp_path / "missing.json"), "gpt-4o")


def test_context_window(settings):
    assert context_window_for(settings(), "gpt-4.1-mini") == 1_047_576
    assert context_window_for(settings(), "gpt-4o-mini-2024-07-18") == 128_000
    assert context_window_for(settings(), "gpt-3.5-turbo") == 16_385
    own = settings(chat_model="llama3.1:8b", context_window=32_768)
    assert context_window_for(own, "llama3.1:8b") == 32_768
    assert context_window_for(own, "gpt-4o") == 128_000
