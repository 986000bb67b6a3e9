"""Prompt budgets with the real tiktoken counter: message counting, evidence fitting, history dropping, limits."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest

from paperbot.answer.budget import PromptTooLong, drop_oldest_turn, fit_evidence
from paperbot.config import Settings
from paperbot.errors import ConfigError
from paperbot.llm.pricing import prompt_limit
from paperbot.llm.tokens import TiktokenCounter, count_messages, use_cache_dir
from paperbot.text.sentences import sentence_spans

SYSTEM = "Answer only from the numbered evidence and cite it like [P1]. Say so when the evidence is not enough."
QUESTION = "How do speculative decoding methods reduce the latency of large language model inference?"


@dataclass(frozen=True)
class Item:
    key: str
    sentences: tuple[str, ...]

    @property
    def text(self) -> str:
        return " ".join(self.sentences)


def item(key: str, text: str) -> Item:
    return Item(key, tuple(text[s:e] for s, e in sentence_spans(text)))


def drop_last_sentence(evidence: Item) -> Item | None:
    return replace(evidence, sentences=evidence.sentences[:-1]) if len(evidence.sentences) > 1 else None


def render(evidence: list[Item], history: list[dict]) -> list[dict]:
    blocks = "\n\n".join(f"[{e.key}] {e.text}" for e in evidence) or "(no evidence)"
    return [
        {"role": "system", "content": SYSTEM},
        *history,
        {"role": "user", "content": f"Evidence:\n{blocks}\n\nQuestion: {QUESTION}"},
    ]


@pytest.fixture(scope="module")
def counter(models_dir):
    use_cache_dir(models_dir / "tiktoken")
    return TiktokenCounter("o200k_base")


SENTENCES = [
    "Speculative decoding drafts several tokens with a small model.",
    "The large model then verifies the whole draft in one forward pass.",
    "Accepted tokens are kept, so the output distribution is unchanged.",
    "Speed-ups of two to three times are typical on chat workloads.",
    "Gains shrink when the draft model disagrees often with the target.",
]
EVIDENCE = [item(f"P{n}", " ".join(SENTENCES[n % 5:] + SENTENCES[: n % 5])) for n in range(1, 7)]


def tokens(messages, counter) -> int:
    return count_messages(messages, counter)


# --------------------------------------------------------------------------- counting


def test_count_messages_uses_openais_overheads(counter):
    assert count_messages([], counter) == 3  # reply priming only
    assert count_messages([{"role": "user", "content": ""}], counter) == 3 + 3 + counter.count("user")
    one = {"role": "user", "content": QUESTION}
    assert count_messages([one], counter) == 3 + 3 + counter.count("user") + counter.count(QUESTION)
    named = {**one, "name": "alice"}
    assert count_messages([named], counter) == count_messages([one], counter) + 1 + counter.count("alice")
    parts = {"role": "user", "content": [{"type": "text", "text": QUESTION}]}
    assert count_messages([parts], counter) == count_messages([one], counter)


# --------------------------------------------------------------------------- evidence


def test_everything_fits(counter):
    messages, kept, used = fit_evidence(render, EVIDENCE, counter, 10_000, drop_last_sentence)
    assert kept == EVIDENCE
    assert used == tokens(messages, counter) == tokens(render(EVIDENCE, []), counter)


@pytest.mark.parametrize("whole", [0, 1, 3, 5])
def test_lowest_ranked_evidence_goes_first_and_the_boundary_item_keeps_whole_sentences(counter, whole):
    # A limit between `whole` full items and `whole + 1`, with room for some of the next item's sentences.
    base = tokens(render(EVIDENCE[:whole], []), counter)
    after = tokens(render(EVIDENCE[: whole + 1], []), counter)
    limit = (base + after) // 2
    messages, kept, used = fit_evidence(render, EVIDENCE, counter, limit, drop_last_sentence)

    assert used == tokens(messages, counter) <= limit
    assert messages == render(kept, [])
    assert kept[:whole] == EVIDENCE[:whole]  # best-ranked items untouched
    assert len(kept) == whole + 1
    partial, original = kept[whole], EVIDENCE[whole]
    assert partial.key == original.key
    assert 0 < len(partial.sentences) < len(original.sentences)
    assert partial.sentences == original.sentences[: len(partial.sentences)]  # a prefix of whole sentences
    one_more = replace(partial, sentences=original.sentences[: len(partial.sentences) + 1])
    assert tokens(render([*kept[:whole], one_more], []), counter) > limit  # and as many as fit


def test_boundary_item_is_dropped_when_not_even_one_sentence_fits(counter):
    limit = tokens(render(EVIDENCE[:2], []), counter) + 5
    _, kept, used = fit_evidence(render, EVIDENCE, counter, limit, drop_last_sentence)
    assert kept == EVIDENCE[:2]
    assert used <= limit


def test_no_evidence_fits_but_the_question_does(counter):
    limit = tokens(render([], []), counter)
    messages, kept, used = fit_evidence(render, EVIDENCE, counter, limit, drop_last_sentence)
    assert kept == [] and used == limit and messages == render([], [])


def test_question_alone_too_long_is_a_clear_error(counter):
    history = [{"role": "user", "content": "earlier " * 50}, {"role": "assistant", "content": "reply " * 50}]
    limit = tokens(render([], []), counter) - 1
    with pytest.raises(PromptTooLong, match="the question alone needs") as caught:
        fit_evidence(render, EVIDENCE, counter, limit, drop_last_sentence, history=history)
    assert caught.value.limit == limit and caught.value.tokens == limit + 1


# --------------------------------------------------------------------------- history


def turn(n: int, words: int = 40) -> list[dict]:
    return [
        {"role": "user", "content": f"Question {n}: " + "what about memory bandwidth " * (words // 4)},
        {"role": "assistant", "content": f"Answer {n}: " + "it depends on the batch size " * (words // 6)},
    ]


HISTORY = turn(1) + turn(2) + turn(3)


def test_drop_oldest_turn_removes_a_whole_exchange():
    assert drop_oldest_turn(HISTORY) == turn(2) + turn(3)
    assert drop_oldest_turn(turn(3)) == []
    assert drop_oldest_turn([{"role": "assistant", "content": "orphan"}, *turn(2)]) == turn(2)


def test_history_is_kept_when_there_is_room(counter):
    limit = tokens(render(EVIDENCE[:2], HISTORY), counter)
    messages, kept, _ = fit_evidence(render, EVIDENCE, counter, limit, drop_last_sentence, history=HISTORY)
    assert kept == EVIDENCE[:2]
    assert messages[1:-1] == HISTORY


def test_oldest_history_goes_first_until_the_best_evidence_fits(counter):
    # Room for the best item with the last turn, not with the last two.
    limit = tokens(render(EVIDENCE[:1], turn(3)), counter) + 10
    assert tokens(render(EVIDENCE[:1], turn(2) + turn(3)), counter) > limit
    messages, kept, used = fit_evidence(render, EVIDENCE, counter, limit, drop_last_sentence, history=HISTORY)
    assert messages[1:-1] == turn(3)
    assert kept[0] == EVIDENCE[0]
    assert used <= limit


def test_min_evidence_chooses_between_history_and_evidence(counter):
    limit = tokens(render(EVIDENCE[:3], []), counter) + 20
    # min_evidence=0: history is dropped only when the question itself does not fit.
    messages, kept, _ = fit_evidence(render, EVIDENCE, counter, limit, drop_last_sentence, history=turn(3),
                                     min_evidence=0)
    assert messages[1:-1] == turn(3) and len(kept) < 3
    # min_evidence=3: all history goes before any of the best three items.
    messages, kept, _ = fit_evidence(render, EVIDENCE, counter, limit, drop_last_sentence, history=turn(3),
                                     min_evidence=3)
    assert messages[1:-1] == [] and kept[:3] == EVIDENCE[:3]


def test_history_too_long_for_any_room_is_dropped_not_an_error(counter):
    long_history = turn(1, words=2000)
    limit = tokens(render([], []), counter) + 5
    messages, kept, _ = fit_evidence(render, EVIDENCE, counter, limit, drop_last_sentence, history=long_history)
    assert messages == render([], []) and kept == []


# --------------------------------------------------------------------------- demo corpus (speed is benchmarked, not tested)


def test_fit_on_demo_corpus_abstracts(counter, demo_corpus):
    from paperbot.ingest.loaders import load_papers

    papers = load_papers([demo_corpus]).papers
    ranked = [item(f"P{n}", p.abstract) for n, p in enumerate(papers[:10], start=1)]
    history = turn(1) + turn(2)
    messages, kept, used = fit_evidence(render, ranked, counter, 1500, drop_last_sentence, history=history)
    assert used == tokens(messages, counter) <= 1500 and 0 < len(kept) < len(ranked)
    assert kept[0] == ranked[0], "the best-ranked abstract is kept whole"


# --------------------------------------------------------------------------- prompt_limit


def test_prompt_limit(tmp_path):
    assert prompt_limit(Settings(data_dir=tmp_path)) == 1500  # gpt-4o-mini: 128k window, the cap decides
    small = Settings(data_dir=tmp_path, context_window=1000, max_answer_tokens=600)
    assert prompt_limit(small) == 400
    assert prompt_limit(Settings(data_dir=tmp_path, max_prompt_tokens=20_000), "llama3.1:8b") == 8192 - 600
    with pytest.raises(ConfigError, match="no room for a prompt"):
        prompt_limit(Settings(data_dir=tmp_path, context_window=512, max_answer_tokens=600))
