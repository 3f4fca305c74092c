"""A check shared by the tests: the search index on disk matches the Chroma collection."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import chromadb
import numpy as np

from ingest.search_index import SearchIndex


def assert_search_index_matches_chroma(index: Path, collection: str = "documents") -> None:
    """Same chunks, same sources and vectors, and stamped with the collection's latest change."""
    chunks = chromadb.PersistentClient(str(index / "chroma")).get_collection(collection)
    got = chunks.get(include=["metadatas", "embeddings"])
    search = SearchIndex.load(index / f"search-{collection}")
    assert search is not None, "no search index beside the collection"
    db = sqlite3.connect(index / "records.sqlite")
    (stamp,) = db.execute("SELECT value FROM meta WHERE key = 'changed'").fetchone()
    db.close()
    assert search.stamp == stamp, "the search index was built before the last change"
    assert sorted(search.ids) == sorted(got["ids"])
    sources = dict(zip(got["ids"], (m["source"] for m in got["metadatas"]), strict=True))
    assert {i: search.sources[n] for i, n in search.position.items()} == sources
    for i, vector in zip(got["ids"], got["embeddings"], strict=True):
        unit = np.asarray(vector) / np.linalg.norm(vector)
        np.testing.assert_allclose(search.vectors[search.position[i]], unit, atol=1e-6)
