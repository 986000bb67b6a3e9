"""Retrieval use case: hybrid dense + lexical search fused per paper, with filters."""
