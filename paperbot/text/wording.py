"""Counts in words for messages: '1 paper', '2 papers', '0 themes'."""

from __future__ import annotations


def counted(count: int, noun: str, plural: str | None = None) -> str:
    return f"{count} {noun if count == 1 else plural or noun + 's'}"
