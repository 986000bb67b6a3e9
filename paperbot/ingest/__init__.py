"""Ingest use cases: parse files (loaders), chunk, embed and store; rebuild and check a store."""
