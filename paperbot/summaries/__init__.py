"""Summary use cases: paper summaries, themed digests and comparison tables, and their text formats."""
