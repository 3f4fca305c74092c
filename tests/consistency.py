"""A check shared by the tests: the search index on disk matches the Chroma collection."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import chromadb
import numpy as np

from ingest.search_index import SearchIndex


def assert_search_index_matches_chroma(index: Path, collection: str = "documents") -> None:
    """Same chunks, same sources and vectors, stamped with the collection's latest change, and
    equal to a search index built from scratch (see ``assert_same_as_rebuilt``)."""
    chunks = chromadb.PersistentClient(str(index / "chroma")).get_collection(collection)
    got = chunks.get(include=["documents", "metadatas", "embeddings"])
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
    rebuilt = SearchIndex.build(
        stamp, got["ids"], got["documents"], got["metadatas"], np.asarray(got["embeddings"])
    )
    assert_same_as_rebuilt(search, rebuilt, got["documents"])


def assert_same_as_rebuilt(search: SearchIndex, rebuilt: SearchIndex, texts: list[str]) -> None:
    """Every keyword score of every chunk the same number, whatever the order of the chunks:
    for queries made of the chunks' own opening words (and some words nobody has), the BM25
    scores of words and pairs; and the same vectors, columns and masks, by chunk id."""
    assert sorted(search.ids) == sorted(rebuilt.ids)
    order = [search.position[i] for i in rebuilt.ids]  # rebuilt's order, in search's positions
    queries = [" ".join(t.split()[:8]) for t in texts[:: max(1, len(texts) // 12)]]
    for query in [*queries, "rare earth processing in Malaysia", "zzz qqq"]:
        for got, want in zip(search.scores(query), rebuilt.scores(query), strict=True):
            np.testing.assert_array_equal(got[order], want, err_msg=query)
    for vector in rebuilt.vectors[:3]:  # the same rows; BLAS may sum a row in another order
        np.testing.assert_allclose(
            search.similarities(vector)[order], rebuilt.similarities(vector), rtol=0, atol=1e-6
        )
    for column in ("sources", "publishers", "days"):
        np.testing.assert_array_equal(getattr(search, column)[order], getattr(rebuilt, column))
    np.testing.assert_array_equal(search.vectors[order], rebuilt.vectors)
    assert search.publisher_names() == rebuilt.publisher_names()
    for name in rebuilt.publisher_names():
        np.testing.assert_array_equal(
            search.publisher_mask(name)[order], rebuilt.publisher_mask(name)
        )
