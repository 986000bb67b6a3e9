"""Use-case logic against the in-process fake chat (tests/fake_chat.py): structured replies validated and repaired
once, and the streaming answer's key filter, with no HTTP server."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel

from paperbot.llm.prompts import load_prompt
from paperbot.ports import Chat
from paperbot.summaries.structured import InvalidModelOutput, complete_json
from paperbot.types import TokenUsage
from tests.fake_chat import FakeChat, FakeReply


class Verdict(BaseModel):
    label: str
    score: int


MESSAGES = [{"role": "user", "content": "judge this"}]


def _complete(chat: Chat):
    return complete_json(chat, MESSAGES, Verdict, name="verdict", repair=load_prompt("repair"), max_tokens=50)


@pytest.mark.parametrize(("replies", "value", "requests", "repaired"), [
    ([json.dumps({"label": "yes", "score": 2})], Verdict(label="yes", score=2), 1, False),
    (["not json", json.dumps({"label": "no", "score": 0})], Verdict(label="no", score=0), 2, True),
    ([json.dumps({"label": "no"}), json.dumps({"label": "no", "score": 1})], Verdict(label="no", score=1), 2, True),
])
def test_structured_reply_is_validated_and_repaired_once(replies, value, requests, repaired):
    chat = FakeChat(*replies)
    result = _complete(chat)
    assert (result.value, result.requests, result.repaired) == (value, requests, repaired)
    assert result.usage == TokenUsage(10 * requests, 5 * requests)  # both requests counted
    assert len(chat.requests) == requests and chat.requests[0]["response_format"]["type"] == "json_schema"
    if repaired:  # the repair request is the conversation, the bad reply, and what was wrong with it
        retry = chat.requests[1]["messages"]
        assert retry[:1] == MESSAGES and retry[1] == {"role": "assistant", "content": replies[0]}


def test_a_reply_cut_at_the_token_limit_is_told_to_be_shorter():
    chat = FakeChat(FakeReply('{"label": "ye', finish_reason="length"), json.dumps({"label": "yes", "score": 1}))
    assert _complete(chat).repaired
    assert "be shorter" in chat.requests[1]["messages"][-1]["content"]


def test_two_invalid_replies_are_a_clear_error_naming_the_model():
    with pytest.raises(InvalidModelOutput, match=r"model 'fake-chat' did not return valid verdict JSON"):
        _complete(FakeChat("nope", "still nope"))


def test_the_fake_streams_words_then_holds_the_result():
    stream = FakeChat("It keeps heavy hitters [P1].").stream(MESSAGES)
    assert "".join(stream) == "It keeps heavy hitters [P1]." and stream.result.text == "It keeps heavy hitters [P1]."
