"""Table-driven tests of the pure core: rank fusion, sentence roles, duplicate merging, clustering, id helpers and
the answer's JSON form. No store, no model, no server: each runs in milliseconds."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paperbot.ingest.ingester import merge_duplicates
from paperbot.retrieval.fusion import papers_in_rank_order, reciprocal_rank_fusion
from paperbot.summaries.clustering import by_centrality, cluster, max_themes, silhouette
from paperbot.summaries.roles import assign_roles
from paperbot.summary_types import SentenceRef
from paperbot.text.ids import normalize_arxiv_id, normalize_doi, normalize_title, paper_id, title_slug_id
from paperbot.types import Answer, Citation, Paper, SentenceSupport, TokenUsage


# --- reciprocal rank fusion -------------------------------------------------------------------------------------
@pytest.mark.parametrize(("rankings", "weights", "k", "expected"), [
    ([["a", "b"]], [1.0], 0, [("a", 1.0), ("b", 0.5)]),
    ([["a", "b"], ["b", "a"]], [1.0, 1.0], 0, [("a", 1.5), ("b", 1.5)]),  # a tie keeps first-seen order
    ([["a", "b"], ["b", "a"]], [1.0, 2.0], 0, [("b", 2.5), ("a", 2.0)]),  # the heavier ranking wins the tie
    ([["a"], ["b"]], [1.0, 1.0], 2, [("a", 1 / 3), ("b", 1 / 3)]),
    ([["a", "b", "c"], ["c"]], [1.0, 1.0], 1, [("c", 1 / 4 + 1 / 2), ("a", 1 / 2), ("b", 1 / 3)]),
    ([[], ["x"]], [1.0, 0.5], 0, [("x", 0.5)]),
    ([], [], 60, []),
    ([["a"]], [0.0], 60, [("a", 0.0)]),  # weight 0 keeps the item, scoring nothing
])
def test_reciprocal_rank_fusion(rankings, weights, k, expected):
    fused = reciprocal_rank_fusion(rankings, weights, k=k)
    assert [item for item, _ in fused] == [item for item, _ in expected]
    assert [score for _, score in fused] == pytest.approx([score for _, score in expected])


@settings(max_examples=200, deadline=None)
@given(rankings=st.lists(st.lists(st.sampled_from("abcdefgh"), unique=True, max_size=8), min_size=1, max_size=3),
       k=st.integers(0, 100))
def test_fusion_scores_every_item_once_in_descending_order(rankings, k):
    fused = reciprocal_rank_fusion(rankings, [1.0] * len(rankings), k=k)
    items = [item for item, _ in fused]
    assert sorted(items) == sorted({item for ranking in rankings for item in ranking})
    scores = [score for _, score in fused]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize(("chunks", "papers"), [
    (["p1#0", "p2#3", "p1#1", "p3#0"], ["p1", "p2", "p3"]),
    (["arxiv:2306.14048#2", "a#b#1"], ["arxiv:2306.14048", "a#b"]),  # only the last '#' separates the chunk index
    ([], []),
])
def test_a_paper_ranks_where_its_best_chunk_ranks(chunks, papers):
    assert papers_in_rank_order(chunks) == papers


# --- sentence roles ---------------------------------------------------------------------------------------------
ABSTRACT = [
    "Serving large language models is expensive because the KV cache grows with the context.",  # 0 problem
    "We propose H2O, which keeps only heavy-hitter tokens in the cache.",  # 1 approach
    "It reduces memory by 5x and improves throughput by up to 29x.",  # 2 result with numbers
    "Experiments show better accuracy on several tasks.",  # 3 result without a number
    "However, our method requires attention scores, a limitation left for future work.",  # 4 limitation
]


@pytest.mark.parametrize(("sentences", "kwargs", "expected"), [
    (ABSTRACT, {}, {"problem": (0,), "approach": (1,), "results": (2, 3), "limitations": (4,)}),
    (ABSTRACT, {"max_results": 1}, {"problem": (0,), "approach": (1,), "results": (2,), "limitations": (4,)}),
    ([], {}, {"problem": (), "approach": (), "results": (), "limitations": ()}),
    (["The weather is nice today."], {}, {"problem": (), "approach": (), "results": (), "limitations": ()}),
    # The TL;DR sentence (avoid=1) is not repeated as the approach: the next sentence about the paper's own work is.
    (["We propose X, a cache policy.", "Our method evicts tokens by score.", "X is 3x faster."], {"avoid": 0},
     {"problem": (), "approach": (1,), "results": (2,), "limitations": ()}),
    # "addresses the limitations of existing methods" is the problem others have, not this paper's limitation.
    (["We introduce Y.", "Y addresses the limitations of existing methods."], {},
     {"problem": (), "approach": (0,), "results": (), "limitations": ()}),
])
def test_assign_roles(sentences, kwargs, expected):
    roles = assign_roles([SentenceRef(i, text) for i, text in enumerate(sentences)], **kwargs)
    assert {"problem": roles.problem, "approach": roles.approach, "results": roles.results,
            "limitations": roles.limitations} == expected


# --- duplicate merging ------------------------------------------------------------------------------------------
def _paper(title: str, pid: str | None = None, **fields) -> Paper:
    return Paper(id=pid or title_slug_id(title), title=title, abstract="An abstract.", **fields)


@pytest.mark.parametrize(("papers", "known", "ids", "merged", "filled"), [
    # The same title twice, both without their own id: one paper, the gaps of the first filled from the second.
    ([_paper("Fast Decoding"), _paper("fast  decoding!", year=2023, url="u")], {},
     [title_slug_id("Fast Decoding")], [title_slug_id("Fast Decoding")], {"year": 2023, "url": "u"}),
    # An arXiv copy and a slug copy of one title merge into the first id seen.
    ([_paper("Fast Decoding", "arxiv:2301.1", year=2021), _paper("Fast Decoding", year=2023)], {},
     ["arxiv:2301.1"], ["arxiv:2301.1"], {"year": 2021}),
    # Two records with their own, different ids are different papers even under one (junk) title.
    ([_paper("Summary", "doc-1"), _paper("Summary", "doc-2")], {}, ["doc-1", "doc-2"], [], {}),
    # A title already stored under an id keeps that id: a later copy without identifiers does not fork it.
    ([_paper("Fast Decoding")], {normalize_title("Fast Decoding"): "arxiv:2301.1"}, ["arxiv:2301.1"], [], {}),
    # ... but a copy with its own different id is another paper.
    ([_paper("Fast Decoding", "doi:10.1/x")], {normalize_title("Fast Decoding"): "arxiv:2301.1"}, ["doi:10.1/x"],
     [], {}),
    # The same id twice merges whatever the titles say.
    ([_paper("A", "arxiv:1"), _paper("B", "arxiv:1", authors=("Ann",))], {}, ["arxiv:1"], ["arxiv:1"],
     {"title": "A", "authors": ("Ann",)}),
    ([], {}, [], [], {}),
])
def test_merge_duplicates(papers, known, ids, merged, filled):
    kept, merged_ids = merge_duplicates(papers, known)
    assert [p.id for p in kept] == ids
    assert merged_ids == merged
    for field_name, value in filled.items():
        assert getattr(kept[0], field_name) == value


# --- clustering -------------------------------------------------------------------------------------------------
def _blobs(sizes: list[int], dim: int = 8, seed: int = 0) -> np.ndarray:
    """Tight groups around orthogonal directions: the clusters are unambiguous."""
    rng = np.random.default_rng(seed)
    rows = [np.eye(dim)[g] + 0.01 * rng.standard_normal(dim) for g, size in enumerate(sizes) for _ in range(size)]
    return np.array(rows)


@pytest.mark.parametrize(("sizes", "groups"), [
    ([], []),
    ([1], [[0]]),
    ([3], [[0, 1, 2]]),  # three papers or fewer make one theme
    ([2, 1], [[0, 1, 2]]),
    ([3, 3], [[0, 1, 2], [3, 4, 5]]),
    ([2, 4], [[2, 3, 4, 5], [0, 1]]),  # largest first
    ([3, 3, 3], [[0, 1, 2], [3, 4, 5], [6, 7, 8]]),
])
def test_cluster_finds_separated_groups(sizes, groups):
    assert cluster(_blobs(sizes)) == groups


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 20), seed=st.integers(0, 1000))
def test_cluster_puts_every_row_in_exactly_one_theme(n, seed):
    vectors = np.random.default_rng(seed).standard_normal((n, 5))
    groups = cluster(vectors)
    assert sorted(row for group in groups for row in group) == list(range(n))
    assert len(groups) <= max(1, max_themes(n))
    assert [len(g) for g in groups] == sorted((len(g) for g in groups), reverse=True)


@pytest.mark.parametrize(("n", "themes"), [(0, 2), (4, 2), (9, 3), (100, 10), (110, 10)])
def test_max_themes(n, themes):
    assert max_themes(n) == themes


@pytest.mark.parametrize(("labels", "expected"), [
    ([1, 1, 2, 2], 1.0),  # perfectly separated pairs
    ([1, 2, 3, 4], 0.0),  # singletons count 0
])
def test_silhouette(labels, expected):
    points = np.array([0.0, 0.0, 1.0, 1.0])
    distances = np.abs(points[:, None] - points[None, :])
    assert silhouette(distances, np.array(labels)) == pytest.approx(expected)


def test_by_centrality_puts_the_most_typical_row_first():
    vectors = np.array([[1.0, 0.0], [0.7, 0.7], [0.9, 0.3], [0.0, 1.0]])
    assert by_centrality(vectors, [0, 1, 2]) == [2, 0, 1]
    assert by_centrality(vectors, [3]) == [3]
    assert by_centrality(vectors, []) == []


# --- id helpers -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("raw", "expected"), [
    ("arXiv:2306.14048v2", "2306.14048"),
    ("https://arxiv.org/abs/2306.14048", "2306.14048"),
    ("2306.14048", "2306.14048"),
    ("hep-th/9901001v1", "hep-th/9901001"),
    ("math.GT/0309136", "math.GT/0309136"),
    ("version 12306.140481", None),
    ("", None),
    (None, None),
])
def test_normalize_arxiv_id(raw, expected):
    assert normalize_arxiv_id(raw) == expected


@pytest.mark.parametrize(("raw", "expected"), [
    ("https://doi.org/10.1145/ABC.123", "10.1145/abc.123"),
    ("doi:10.18653/v1/2023.acl-long.1.", "10.18653/v1/2023.acl-long.1"),
    ("no doi here", None),
    (None, None),
])
def test_normalize_doi(raw, expected):
    assert normalize_doi(raw) == expected


@pytest.mark.parametrize(("title", "expected"), [
    ("H2O: Heavy-Hitter Oracle", "h2o heavy hitter oracle"),
    ("ＦＵＬＬ　width", "full width"),
    ("  ", ""),
])
def test_normalize_title(title, expected):
    assert normalize_title(title) == expected


@pytest.mark.parametrize(("args", "expected"), [
    (("T", "2306.14048", "10.1/x", "given"), "arxiv:2306.14048"),
    (("T", None, "10.1/x", "given"), "doi:10.1/x"),
    (("T", None, None, " my  record "), "my-record"),
    (("Fast Decoding", None, None, "  "), title_slug_id("Fast Decoding")),
])
def test_paper_id_picks_the_most_stable_id(args, expected):
    assert paper_id(*args) == expected


def test_title_slug_id_is_stable_across_spellings_and_readable():
    assert title_slug_id("Fast Decoding!") == title_slug_id("fast   decoding")
    assert title_slug_id("Fast Decoding").startswith("fast-decoding-")
    assert title_slug_id("!!!").startswith("untitled-")
    assert len(title_slug_id("word " * 100)) <= 48 + 7


# --- the answer as JSON (`ask --json` and the app's API share it) ----------------------------------------------
def test_answer_as_dict_adds_derived_fields_and_is_json():
    answer = Answer(
        question="q", text="Claim [P1]. Other.", mode="llm", model="m", search_query="q",
        citations=(Citation("P1", "p1", "Title", None, 2023),),
        sentences=(SentenceSupport("Claim [P1].", ("P1",), 0.1, supported=False),
                   SentenceSupport("Other.", (), 0.0, supported=False)),
        evidence=(), abstained=False, usage=TokenUsage(3, 4),
    )
    data = answer.as_dict()
    assert data["unsupported_sentences"] == ["Claim [P1]."]
    assert data["usage"] == {"prompt_tokens": 3, "completion_tokens": 4, "estimated": False, "total_tokens": 7}
    assert data["citations"][0]["paper_id"] == "p1"
    assert json.loads(json.dumps(data))["sentences"][0]["keys"] == ["P1"]  # plain JSON, nothing left to convert


# --- the test session's embedding cache (tests/embedding_cache.py) serves the model's own vectors -------------------
def test_cached_vectors_are_the_models(demo_bot, embedder):
    paper = demo_bot.papers()[0]
    texts = [c.embed_text for c in demo_bot.catalog.chunks_of(paper.id)][:2] + ["a short text that only this test embeds"]
    served = embedder.embed(texts)  # from the cache file or this session's memory (the last: from the model once)
    np.testing.assert_allclose(served, embedder.inner.embed(texts), atol=1e-5)
    assert served.dtype == np.float32 and served.shape == (len(texts), 384)
    assert embedder.embed([]).shape == (0, 384)
