"""Storage adapters: Chroma for vectors (the only importer of chromadb) and SQLite for the catalog and lexical index."""
