"""Post-hoc attribution as a pure use case: a deterministic fake scorer decides every branch, the lexical scorer
shows the real one slots in, and the checked text keeps its shape."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paperbot.answer.attribution import AttributionPolicy, attribute
from paperbot.answer.citations import answer_sentences, cited_keys
from paperbot.config import Settings
from paperbot.support.scorer import LexicalSupportScorer, SupportScorer
from paperbot.text.terms import Vocabulary
from paperbot.types import Evidence

EVIDENCE = [
    Evidence("P1", "h2o", "Heavy hitters", None, 2023,
             ("H2O keeps heavy-hitter tokens and recent tokens in the KV cache.", "Throughput improves by 29x."),
             1, 1.0),
    Evidence("P2", "spec", "Speculative decoding", None, 2023,
             ("A small draft model proposes tokens that the target model verifies in parallel.",
              "Decoding becomes 2-3x faster."), 2, 0.9),
    Evidence("P3", "quant", "Weight quantization", None, 2022,
             ("Weights are stored in four bits.", "Memory falls by 4x."), 3, 0.8),
]


class TableScorer:
    """A deterministic stand-in for any scorer (the learned one included): the score of a claim against a set of
    source sentences is the highest table entry for (a word of the claim naming it, a paper title among them)."""

    name = "table"
    threshold = 0.5

    def __init__(self, table: dict[tuple[str, str], float]) -> None:
        self.table = table
        self.calls: list[int] = []

    def score(self, claims: Sequence[str], sources: Sequence[Sequence[str]]) -> list[float]:
        self.calls.append(len(claims))
        out = []
        for claim, sentences in zip(claims, sources, strict=True):
            named = re.search(r"claim(\w+)", claim)
            label = named.group(1) if named else ""
            out.append(max((self.table.get((label, s), 0.0) for s in sentences), default=0.0))
        return out


def policy_with(**changes) -> AttributionPolicy:
    """The default Settings' policy without question focus, changed as given."""
    return replace(AttributionPolicy.from_settings(Settings(_env_file=None), focused=False), **changes)


def _check(text: str, table: dict, policy: AttributionPolicy | None = None):
    policy = policy or policy_with()
    scorer: SupportScorer = TableScorer(table)
    result = attribute(text, EVIDENCE, scorer, policy)
    assert scorer.calls == [scorer.calls[0]], "one batched scorer call per answer"
    _assert_valid(result)
    return result


def _assert_valid(result) -> None:
    shown = {e.key for e in EVIDENCE}
    assert set(cited_keys(result.text)) <= shown, "every key in the checked text was shown"
    kept = [s for s in result.sentences if not s.dropped]
    assert set(cited_keys(result.text)) == {k for s in kept for k in s.keys}
    for item in kept:
        assert item.sentence in result.text


def test_keys_the_papers_support_are_kept_and_the_text_is_unchanged() -> None:
    text = "First claimA holds [P1]. Then claimB result holds too [P2]."
    result = _check(text, {("A", "Heavy hitters"): 0.9, ("B", "Speculative decoding"): 0.7})
    assert result.text == text
    assert [(s.origin, s.keys, s.model_keys, s.supported) for s in result.sentences] == [
        ("cited", ("P1",), ("P1",), True), ("cited", ("P2",), ("P2",), True)]
    assert result.summary.cited == 2 and not result.summary.changed
    assert result.summary.model_keys == ("P1", "P2") and result.summary.attributed_keys == ()


def test_an_uncited_sentence_gets_the_key_of_the_paper_that_clearly_supports_it() -> None:
    result = _check("The claimA method keeps tokens. Cited claimB result here [P2].",
                    {("A", "Heavy hitters"): 0.8, ("A", "Speculative decoding"): 0.3,
                     ("B", "Speculative decoding"): 0.9})
    assert result.text == "The claimA method keeps tokens [P1]. Cited claimB result here [P2]."
    first = result.sentences[0]
    assert first.origin == "attributed" and first.keys == ("P1",) and first.model_keys == ()
    assert first.attributed_keys == ("P1",) and first.supported and first.score == 0.8
    assert result.summary.attributed == 1 and result.summary.attributed_keys == ("P1",)
    assert result.summary.model_keys == ("P2",) and result.summary.changed


def test_support_between_threshold_and_margin_is_not_enough_to_add_a_key() -> None:
    # 0.55 passes the scorer's threshold (0.5) but not threshold + a margin of 0.1: no key is invented for it.
    margin = policy_with(margin=0.1)
    result = _check("The claimA method keeps tokens.", {("A", "Heavy hitters"): 0.55}, margin)
    assert result.text == "The claimA method keeps tokens."
    assert result.sentences[0].origin == "unsupported" and not result.sentences[0].supported
    # ...while the same score on a key the model wrote itself keeps that key.
    kept = _check("The claimA method keeps tokens [P1].", {("A", "Heavy hitters"): 0.55}, margin)
    assert kept.sentences[0].origin == "cited" and kept.text == "The claimA method keeps tokens [P1]."


def test_a_wrong_key_is_corrected_in_place() -> None:
    result = _check("Drafts are verified, see claimB [P1].\nAlso [P3] says claimC.",
                    {("B", "Speculative decoding"): 0.95, ("C", "Weight quantization"): 0.9})
    assert result.text == "Drafts are verified, see claimB [P2].\nAlso [P3] says claimC."
    fixed = result.sentences[0]
    assert (fixed.origin, fixed.model_keys, fixed.keys) == ("corrected", ("P1",), ("P2",))
    assert result.summary.corrected == 1 and result.summary.removed_keys == ("P1",)


def test_two_papers_fitting_equally_well_is_ambiguous_and_flagged_not_guessed() -> None:
    table = {("A", "Heavy hitters"): 0.9, ("A", "Weight quantization"): 0.88}
    result = _check("Uncited claimA sentence. Wrongly cited claimA sentence [P2].", table)
    assert result.text == "Uncited claimA sentence. Wrongly cited claimA sentence [P2]."
    for item in result.sentences:
        assert item.origin == "ambiguous" and not item.supported and item.alternatives == ("P1", "P3")
    assert result.sentences[1].keys == ("P2",), "the model's key stays, flagged"
    # A clear winner (more than the gap ahead) is not a tie.
    clear = _check("Uncited claimA sentence.", {("A", "Heavy hitters"): 0.9, ("A", "Weight quantization"): 0.7})
    assert clear.sentences[0].keys == ("P1",) and clear.sentences[0].origin == "attributed"
    # With no gap only an exact tie is ambiguous: the best paper still wins.
    sharp = _check("Uncited claimA sentence.", table, policy_with(gap=0.0))
    assert sharp.sentences[0].keys == ("P1",) and sharp.sentences[0].origin == "attributed"


def test_an_invented_fact_is_flagged_or_dropped_by_setting() -> None:
    text = "Real claimA finding [P1]. Invented claimZ number of 99x [P1]. Uncited invented claimY finding."
    table = {("A", "Heavy hitters"): 0.9}
    flagged = _check(text, table)
    assert flagged.text == text
    assert [s.origin for s in flagged.sentences] == ["cited", "unsupported", "unsupported"]
    assert flagged.sentences[1].keys == ("P1",) and not flagged.sentences[1].supported
    assert flagged.summary.unsupported == 2 and flagged.summary.dropped == 0

    dropped = _check(text, table, policy_with(unsupported="drop"))
    assert dropped.text == "Real claimA finding [P1]."
    assert [s.dropped for s in dropped.sentences] == [False, True, True] and dropped.summary.dropped == 2


def test_dropping_removes_emptied_list_items_and_keeps_the_rest_of_the_layout() -> None:
    text = "Findings:\n\n- Real claimA finding [P1].\n- Invented claimZ finding.\n  - Nested claimB point [P2].\n"
    result = _check(text, {("A", "Heavy hitters"): 0.9, ("B", "Speculative decoding"): 0.9},
                    policy_with(unsupported="drop"))
    assert result.text == "Findings:\n\n- Real claimA finding [P1].\n  - Nested claimB point [P2]."


def test_connectives_and_the_abstention_sentence_are_left_alone() -> None:
    sentinel = "I cannot answer this from the provided papers."
    text = f"In summary, yes. Real claimA finding [P1]. {sentinel}"
    scorer = TableScorer({("A", "Heavy hitters"): 0.9})
    result = attribute(text, EVIDENCE, scorer, policy_with(unsupported="drop"),
                       leave_alone=lambda s: s.startswith("I cannot answer"))
    assert result.text == text
    assert [s.origin for s in result.sentences] == ["no claim", "cited", "no claim"]
    assert scorer.calls == [len(EVIDENCE)], "only the one checkable sentence was scored, against each paper"


def test_distrusted_sentences_lose_their_keys_and_are_never_supported() -> None:
    text = "You must cite claimA sources [P1]. Real claimA finding [P1]."
    result = attribute(text, EVIDENCE, TableScorer({("A", "Heavy hitters"): 0.9}), policy_with(),
                       distrust=lambda s: s.startswith("You must"))
    assert result.text == "You must cite claimA sources. Real claimA finding [P1]."
    recited = result.sentences[0]
    assert recited.origin == "unsupported" and recited.keys == () and recited.model_keys == ("P1",)


def test_a_multi_paper_claim_is_checked_against_its_papers_together() -> None:
    # Neither paper alone reaches the threshold; their sentences together do (the union row of the batch).
    class Union(TableScorer):
        def score(self, claims, sources):
            self.calls.append(len(claims))
            return [0.8 if len([s for s in group if s in ("Heavy hitters", "Speculative decoding")]) == 2 else 0.3
                    for group in sources]

    result = attribute("Both claimA and claimB hold [P1, P2].", EVIDENCE, Union({}), policy_with())
    assert result.sentences[0].origin == "cited" and result.sentences[0].keys == ("P1", "P2")


def test_a_scorer_that_returns_the_wrong_number_of_scores_is_a_clear_error() -> None:
    class Short(TableScorer):
        def score(self, claims, sources):
            return [0.5]

    with pytest.raises(ValueError, match="returned 1 scores for 3 claims"):
        attribute("Some claimA sentence stands here.", EVIDENCE, Short({}), policy_with())


def test_the_lexical_scorer_attributes_and_corrects_real_sentences() -> None:
    vocabulary = Vocabulary([f"{e.title} {e.text}" for e in EVIDENCE] + ["black holes and quantum gravity"] * 5)
    text = ("H2O keeps heavy-hitter tokens and recent tokens in the KV cache. "
            "A small draft model proposes tokens that the target model verifies [P3]. "
            "Quantum gravity explains black holes [P1].")
    result = attribute(text, EVIDENCE, LexicalSupportScorer(vocabulary), policy_with(unsupported="drop"))
    assert result.text == ("H2O keeps heavy-hitter tokens and recent tokens in the KV cache [P1]. "
                           "A small draft model proposes tokens that the target model verifies [P2].")
    assert [s.origin for s in result.sentences] == ["attributed", "corrected", "unsupported"]
    assert result.summary.scorer == "lexical"


_WORDS = st.sampled_from(["claimA", "claimB", "claimC", "claimZ", "tokens", "memory", "In", "summary,", "faster"])
_KEYS = st.sampled_from(["", " [P1]", " [P2]", " [P1, P3]", " [P3]"])
_SENTENCE = st.builds(lambda words, key, end: " ".join(words) + key + end, st.lists(_WORDS, min_size=1, max_size=6),
                      _KEYS, st.sampled_from([".", "!", "?"]))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(_SENTENCE, st.sampled_from([" ", "\n", "\n- "])), min_size=1, max_size=6),
       st.sampled_from(["flag", "drop"]))
def test_any_answer_keeps_the_invariants(parts, policy) -> None:
    text = "".join(s + sep for s, sep in parts).strip()
    table = {("A", "Heavy hitters"): 0.9, ("B", "Speculative decoding"): 0.7, ("C", "Heavy hitters"): 0.8,
             ("C", "Weight quantization"): 0.8}
    result = attribute(text, EVIDENCE, TableScorer(table), policy_with(unsupported=policy))
    _assert_valid(result)
    assert len(result.sentences) == len(answer_sentences(text)), "one verdict per sentence the checker reads"
    if policy == "flag" and not any(s.origin in ("attributed", "corrected") for s in result.sentences):
        assert result.text == text, "nothing to change: the streamed text stands as it was"
    if policy == "drop":
        assert not any(s.origin == "unsupported" and not s.dropped for s in result.sentences)
