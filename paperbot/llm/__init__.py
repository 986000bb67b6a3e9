"""OpenAI-compatible API adapter: the only importer of openai and tenacity."""
