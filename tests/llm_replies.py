"""What a fake model replies to each kind of paperbot prompt (answer, summary, digest theme, comparison row), so
that the right final result is known from the request alone."""

from __future__ import annotations

import html
import json
import re

from tests.app_helpers import citing_responder


def first_user(body: dict) -> str:
    return next(m["content"] for m in body["messages"] if m["role"] == "user")


def numbered(body: dict) -> dict[int, str]:
    return {int(i): html.unescape(t) for i, t in re.findall(r"^\[(\d+)\] (.*)$", first_user(body), flags=re.MULTILINE)}


def summary_reply(body: dict) -> str:
    """Each field quotes the sentence it cites, so the expected summary is known from the prompt alone."""
    sentences = numbered(body)
    last = max(sentences)
    return json.dumps({
        "tldr": {"text": sentences[0], "sentences": [0]},
        "problem": {"text": sentences[0], "sentences": [0]},
        "approach": {"text": sentences[1], "sentences": [1]},
        "results": [{"text": sentences[last], "sentences": [last]}],
        "limitations": {"text": "not stated", "sentences": []},
    })


def theme_reply(body: dict) -> str:
    keys = re.findall(r"P\d+", first_user(body).rsplit("Use only these keys:", 1)[1])
    name = "Merged theme" if "<partials>" in body["messages"][-1]["content"] else "Partial theme"
    return json.dumps({"name": name, "paragraph": f"These papers make inference cheaper [{keys[0]}]."})


def compare_reply(body: dict) -> str:
    """The first aspect is the first words of sentence 0 (so it is supported); the others are not stated."""
    aspects = re.search(r"^Aspects, in order: (.*)$", first_user(body), flags=re.MULTILINE).group(1).split("; ")
    phrase = " ".join(numbered(body)[0].rstrip(".").split()[:8])
    cells = [{"aspect": aspects[0], "text": phrase, "sentence": 0}]
    cells += [{"aspect": a, "text": "not stated", "sentence": None} for a in aspects[1:]]
    return json.dumps({"cells": cells})


def responder(body: dict) -> str:
    name = ((body.get("response_format") or {}).get("json_schema") or {}).get("name")
    replies = {"paper_summary": summary_reply, "digest_theme": theme_reply, "comparison_row": compare_reply}
    return replies.get(name, citing_responder)(body)
