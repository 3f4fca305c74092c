"""A check shared by the tests: the keyword index on disk matches the Chroma collection."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import chromadb

from ingest.keyword import KeywordIndex


def assert_keyword_matches_chroma(index: Path, collection: str = "documents") -> None:
    """Same chunks, same texts' sources, and stamped with the collection's latest change."""
    chunks = chromadb.PersistentClient(str(index / "chroma")).get_collection(collection)
    got = chunks.get(include=["metadatas"])
    keyword = KeywordIndex.load(index / f"keyword-{collection}")
    assert keyword is not None, "no keyword index beside the collection"
    db = sqlite3.connect(index / "records.sqlite")
    (stamp,) = db.execute("SELECT value FROM meta WHERE key = 'changed'").fetchone()
    db.close()
    assert keyword.stamp == stamp, "the keyword index was built before the last change"
    assert sorted(keyword.ids) == sorted(got["ids"])
    sources = dict(zip(got["ids"], (m["source"] for m in got["metadatas"]), strict=True))
    assert {i: keyword.sources[n] for i, n in keyword.position.items()} == sources
