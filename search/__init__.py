"""Search and identity: the vector index, text embeddings and people, fed from finished uploads."""
