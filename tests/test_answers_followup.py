"""Extractive answers pick sentences for what is asked, answer follow-ups for what they newly ask, and number the
papers they cite 1..n in order of first use (issue 16, "Answers" 1-3)."""

from __future__ import annotations

import re

from paperbot.answer.citations import cited_keys
from paperbot.answer.extractive import select_sentences
from paperbot.answer.followup import resolve
from paperbot.answer.numbering import StreamRenumbering, first_use, renumber
from paperbot.text.asks import asks
from paperbot.text.terms import Vocabulary
from paperbot.types import Answer, Citation, Evidence, SentenceSupport

KV = "Which papers reduce KV cache memory, and by how much?"
SPEED_FIGURE = re.compile(r"(speed-?up|faster|throughput|latency)[^.]*\d|\d[^.]*(speed-?up|faster|throughput|latency)",
                          re.IGNORECASE)

# Abstract sentences (Medusa's is from its arXiv abstract, not in the demo corpus; the others are demo papers').
MEDUSA = (
    ("Large Language Models (LLMs) employ auto-regressive decoding that requires sequential computation, with each "
     "step reliant on the previous one's output."),
    ("In this paper, we present Medusa, an efficient method that augments LLM inference by adding extra decoding "
     "heads to predict multiple subsequent tokens in parallel."),
    ("Using a tree-based attention mechanism, Medusa constructs multiple candidate continuations and verifies them "
     "simultaneously in each decoding step."),
    ("Medusa-1 can achieve over 2.2x speedup without compromising generation quality, while Medusa-2 further "
     "improves the speedup to 2.3-3.6x."),
)
LOOKAHEAD = (
    ("As Large Language Models (LLMs) have made significant advancements across various tasks, the need for accuracy "
     "in information becomes crucial, especially for serious financial products serving billions of users like "
     "Alipay."),
    ("To address this, Alipay has developed a Retrieval-Augmented Generation (RAG) system that grounds LLMs on the "
     "most accurate and up-to-date information."),
    "To enhance this process, our framework, named lookahead, introduces a multi-branch strategy.",
    ("Instead of generating a single token at a time, we propose a Trie-based Retrieval (TR) process that enables "
     "the generation of multiple branches simultaneously, each of which is a sequence of tokens."),
)
DIFFUSION = (
    ("Diffusion models achieve high-quality sample generation at the cost of a lengthy multistep inference "
     "procedure."),
    "We distil the sampler into a one-step generator, so sampling is twenty times faster.",
)
ANONYMISATION = (
    "We anonymise faces in images with a diffusion model.",
    ("Every element of a scene is maintained to convey the same meaning, yet manipulated in a way that makes "
     "re-identification difficult."),
)


def _evidence(*papers: tuple[str, tuple[str, ...]]) -> list[Evidence]:
    return [Evidence(f"P{rank}", f"paper-{rank}", title, None, None, sentences, rank, 1.0 / rank)
            for rank, (title, sentences) in enumerate(papers, start=1)]


def _vocabulary(evidence: list[Evidence]) -> Vocabulary:
    return Vocabulary(s for item in evidence for s in (item.title, *item.sentences))


def _chosen(question: str, evidence: list[Evidence], **options) -> list[str]:
    return [sentence for _, sentence in select_sentences(question, evidence, _vocabulary(evidence), **options)]


def test_how_much_faster_picks_the_sentence_with_the_speedup():
    evidence = _evidence(("Medusa: Simple LLM Inference Acceleration Framework with Multiple Decoding Heads", MEDUSA))
    chosen = _chosen("How much faster is Medusa than ordinary decoding?", evidence)
    assert MEDUSA[3] in chosen, "the 2.2x / 3.6x sentence answers 'how much faster'"


def test_which_company_picks_the_sentence_naming_it():
    evidence = _evidence(("Lookahead: An Inference Acceleration Framework for Large Language Model", LOOKAHEAD))
    chosen = _chosen("Which company built Lookahead?", evidence, max_sentences=2)
    assert chosen and all("Alipay" in s for s in chosen)
    assert asks("Which company built Lookahead?").organisation and not asks("Which papers prune heads?").organisation


def test_off_topic_sentence_is_dropped_and_each_paper_comes_once_first():
    evidence = _evidence(("One-step Diffusion Distillation", DIFFUSION),
                         ("Diffusion-based Image Anonymisation", ANONYMISATION))
    chosen = _chosen("What are the main ways to make diffusion models sample faster?", evidence)
    assert ANONYMISATION[1] not in chosen, "'in a way that makes' is how the question is put, not its topic"
    assert DIFFUSION[1] in chosen
    two_papers = _evidence(
        ("KV Cache Eviction", ("Eviction cuts KV cache memory by 80%.", "Eviction of the KV cache saves memory.")),
        ("KV Cache Quantisation", ("Quantising the KV cache to 2 bits reduces memory.",)))
    picked = select_sentences("Which papers reduce KV cache memory?", two_papers, _vocabulary(two_papers),
                              max_sentences=2)
    assert {item.key for item, _ in picked} == {"P1", "P2"}, "each relevant paper once before any paper twice"


def test_draft_model_question_finds_big_little_decoder(demo_bot):
    answer = demo_bot.ask("Which papers speed up decoding with a small draft model?", mode="extractive")
    titles = [c.title for c in answer.citations]
    assert any("Big Little Decoder" in t for t in titles), titles
    assert any("Online Speculative Decoding" in t for t in titles), titles


def test_follow_up_is_resolved_against_the_conversation():
    history = [{"role": "user", "content": KV}, {"role": "assistant", "content": "SwiftKV cuts it by 62.5%. [P2]"}]
    follow = resolve("How much faster is it?", history)
    assert follow.is_follow_up and KV in follow.search_query and follow.said == ("SwiftKV cuts it by 62.5%.",)
    standalone = resolve("Which company built Lookahead?", history)
    assert not standalone.is_follow_up and standalone.search_query == "Which company built Lookahead?"
    chained = resolve("And their latency?", [*history, {"role": "user", "content": "How much faster is it?"},
                                             {"role": "assistant", "content": "2x [P1]"}])
    assert chained.search_query.startswith(KV), "a follow-up of a follow-up reaches back to the topic"


def test_follow_up_answers_what_it_newly_asks(demo_bot):
    first = demo_bot.ask(KV, mode="extractive")
    history = [{"role": "user", "content": KV}, {"role": "assistant", "content": first.text}]
    second = demo_bot.ask("How much faster is it?", history, mode="extractive")
    assert not second.abstained and second.text != first.text
    earlier = {s.sentence for s in first.sentences}
    assert not any(s.sentence in earlier for s in second.sentences), "nothing said before is said again"
    assert any(SPEED_FIGURE.search(s.sentence) for s in second.sentences), second.text
    in_play = {c.paper_id for c in first.citations}
    assert in_play & {c.paper_id for c in second.citations}, "it is about the papers the conversation is about"


def test_extractive_keys_are_numbered_by_first_use_without_gaps(demo_bot):
    for question in (KV, "What are the main ways to make diffusion models sample faster?"):
        response = demo_bot.ask_stream(question, mode="extractive")
        deltas, answer = list(response), response.answer()
        keys = cited_keys(answer.text)
        assert keys == [f"P{i}" for i in range(1, len(keys) + 1)], answer.text
        assert "".join(deltas) == answer.text, "the streamed text is numbered as the final one"
        assert [c.key for c in answer.citations] == keys
        by_key = {e.key: e for e in answer.evidence}
        assert all(by_key[c.key].paper_id == c.paper_id for c in answer.citations)
        assert len(answer.source_keys) == len(answer.evidence)
        assert all(by_key[k].paper_id for s in answer.sentences for k in s.keys)


def test_renumber_maps_every_field_that_holds_keys():
    evidence = tuple(_evidence(("A", ("a.",)), ("B", ("b.",)), ("C", ("c.",))))
    text = "c. [P3]\na. [P1]"
    answer = Answer(
        question="q", text=text, mode="extractive", model=None, search_query="q",
        citations=(Citation("P3", "paper-3", "C", None, None), Citation("P1", "paper-1", "A", None, None)),
        sentences=(SentenceSupport("c. [P3]", ("P3",), 1.0, True), SentenceSupport("a. [P1]", ("P1",), 1.0, True)),
        evidence=evidence, abstained=False)
    assert first_use(text, ["P1", "P2", "P3"]) == {"P3": "P1", "P1": "P2", "P2": "P3"}
    done = renumber(answer)
    assert done.text == "c. [P1]\na. [P2]"
    assert [(c.key, c.paper_id) for c in done.citations] == [("P1", "paper-3"), ("P2", "paper-1")]
    assert [(s.sentence, s.keys) for s in done.sentences] == [("c. [P1]", ("P1",)), ("a. [P2]", ("P2",))]
    assert [(e.key, e.paper_id) for e in done.evidence] == [("P1", "paper-3"), ("P2", "paper-1"), ("P3", "paper-2")]
    assert dict(done.source_keys) == {"P1": "P3", "P2": "P1", "P3": "P2"}
    stream = StreamRenumbering()
    assert [stream.feed(d) for d in ("x [P3, P1].", " y [P1]", " z [P5]")] == ["x [P1, P2].", " y [P2]", " z [P3]"]
