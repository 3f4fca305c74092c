"""A check shared by the tests: the search index on disk matches the Chroma collection."""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

import chromadb
import numpy as np

from ingest import search_files
from ingest.search_index import SearchIndex


def assert_search_index_matches_chroma(index: Path, collection: str = "documents") -> None:
    """Same chunks, same sources and vectors, stamped with the collection's latest change, and
    equal to a search index built from scratch (see ``assert_same_as_rebuilt``)."""
    chunks = chromadb.PersistentClient(str(index / "chroma")).get_collection(collection)
    got = chunks.get(include=["documents", "metadatas", "embeddings"])
    search = search_files.open_index(index / f"search-{collection}")
    assert search is not None, "no search index beside the collection"
    db = sqlite3.connect(index / "records.sqlite")
    (stamp,) = db.execute("SELECT value FROM meta WHERE key = 'changed'").fetchone()
    db.close()
    assert search.stamp == stamp, "the search index was built before the last change"
    assert sorted(search.live_ids()) == sorted(got["ids"])
    at = search.positions_of(got["ids"])
    assert search.sources_at(at) == [m["source"] for m in got["metadatas"]]
    vectors = np.asarray(got["embeddings"])
    if len(vectors):
        units = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        np.testing.assert_allclose(search.vectors_at(at), units, atol=1e-6)
    with tempfile.TemporaryDirectory() as tmp:
        rebuilt = search_files.build(
            Path(tmp), got["ids"], got["documents"], got["metadatas"], vectors, stamp=stamp
        )
        assert_same_as_rebuilt(search, rebuilt, got["documents"])


def assert_same_as_rebuilt(search: SearchIndex, rebuilt: SearchIndex, texts: list[str]) -> None:
    """Every keyword score of every chunk the same number, whatever the order of the chunks
    and the segments they are in: for queries made of the chunks' own opening words (and some
    words nobody has), the BM25 scores of words and pairs; and the same vectors, columns and
    masks, by chunk id."""
    ids = rebuilt.live_ids()
    assert sorted(search.live_ids()) == sorted(ids)
    mine, theirs = search.positions_of(ids), rebuilt.positions_of(ids)
    queries = [" ".join(t.split()[:8]) for t in texts[:: max(1, len(texts) // 12)]]
    for query in [*queries, "rare earth processing in Malaysia", "zzz qqq"]:
        for got, want in zip(search.scores(query), rebuilt.scores(query), strict=True):
            np.testing.assert_array_equal(got[mine], want[theirs], err_msg=query)
            assert not got[~search.alive].any(), "a deleted chunk scores"
    if rebuilt.dimension:
        for vector in rebuilt.vectors_at(theirs[:3]):  # BLAS may sum a row in another order
            got, want = search.similarities(vector), rebuilt.similarities(vector)
            assert got is not None and want is not None
            np.testing.assert_allclose(got[mine], want[theirs], rtol=0, atol=1e-6)
        np.testing.assert_array_equal(search.vectors_at(mine), rebuilt.vectors_at(theirs))
    assert search.sources_at(mine) == rebuilt.sources_at(theirs)
    assert search.publishers_at(mine) == rebuilt.publishers_at(theirs)
    np.testing.assert_array_equal(search.days[mine], rebuilt.days[theirs])
    assert len(search) == len(rebuilt)
    assert search.publisher_names() == rebuilt.publisher_names()
    for name in rebuilt.publisher_names():
        np.testing.assert_array_equal(
            search.publisher_mask(name)[mine], rebuilt.publisher_mask(name)[theirs]
        )
