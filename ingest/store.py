"""The index on disk: a Chroma collection of chunks, and a record of each ingested document.

Layout of ``QA_INDEX_DIR``::

    chroma/          Chroma PersistentClient data (the chunks, their vectors and metadata)
    records.sqlite   one row per document: file hash, chunking fingerprint, chunk count, time;
                     and the embedding model the collection was built with

A document's row is written only after all its chunks are stored and its stale chunks deleted,
so an interrupted ingestion leaves rows that are either complete or absent: the next run redoes
the absent ones, and the deterministic chunk ids make the redo write no duplicate.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import chromadb
from chromadb.config import Settings as ChromaSettings
from langchain_chroma import Chroma
from langchain_core.embeddings import Embeddings

from .embeddings import token_facts
from .settings import IndexSettings

_RECORDS_FILE = "records.sqlite"
_CHROMA_DIR = "chroma"
_PAGE = 5000  # ids per Chroma get/delete call, below its maximum batch size


class IndexNotFoundError(RuntimeError):
    """There is no index where the settings point."""


class IndexMismatchError(RuntimeError):
    """The index was built with another embedding model than the one configured."""


@dataclass(frozen=True)
class DocRecord:
    source: str
    path: str
    sha256: str
    fingerprint: str  # chunker + model: a change means the file must be chunked again
    title: str
    chunks: int
    chars: int
    ingested_at: float


@dataclass(frozen=True)
class StoredChunk:
    id: str
    text: str  # what is embedded and stored: header + body
    metadata: dict[str, Any]


class Records:
    """The SQLite record of ingested documents and of the index's model."""

    def __init__(self, path: Path):
        # check_same_thread=False: the web app reads from worker threads; sqlite serializes.
        self._db = sqlite3.connect(path, check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(
            """
            CREATE TABLE IF NOT EXISTS documents (
                source TEXT PRIMARY KEY, path TEXT NOT NULL, sha256 TEXT NOT NULL,
                fingerprint TEXT NOT NULL, title TEXT NOT NULL, chunks INTEGER NOT NULL,
                chars INTEGER NOT NULL, ingested_at REAL NOT NULL);
            CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            """
        )

    def get(self, source: str) -> DocRecord | None:
        row = self._db.execute("SELECT * FROM documents WHERE source = ?", (source,)).fetchone()
        return DocRecord(*row) if row else None

    def all(self) -> list[DocRecord]:
        return [DocRecord(*r) for r in self._db.execute("SELECT * FROM documents ORDER BY source")]

    def put(self, rec: DocRecord) -> None:
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO documents VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    rec.source,
                    rec.path,
                    rec.sha256,
                    rec.fingerprint,
                    rec.title,
                    rec.chunks,
                    rec.chars,
                    rec.ingested_at,
                ),
            )

    def delete(self, source: str) -> None:
        with self._db:
            self._db.execute("DELETE FROM documents WHERE source = ?", (source,))

    def meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def clear(self) -> None:
        with self._db:
            self._db.execute("DELETE FROM documents")
            self._db.execute("DELETE FROM meta")

    def close(self) -> None:
        self._db.close()


class Index:
    """A Chroma collection (through langchain-chroma) and its document records."""

    def __init__(
        self,
        settings: IndexSettings,
        embeddings: Embeddings,
        *,
        create: bool = True,
        check_model: bool = True,
    ):
        self.dir = Path(settings.index_dir)
        if not (self.dir / _RECORDS_FILE).exists():
            if not create:
                raise IndexNotFoundError(
                    f"no index in {self.dir.resolve()}: run `python -m ingest PATH` first "
                    "(or set QA_INDEX_DIR to the folder of an existing index)"
                )
            self.dir.mkdir(parents=True, exist_ok=True)
        self.records = Records(self.dir / _RECORDS_FILE)
        self.model_id = token_facts(embeddings).model_id
        self.client = chromadb.PersistentClient(
            path=str(self.dir / _CHROMA_DIR),
            settings=ChromaSettings(anonymized_telemetry=False, allow_reset=False),
        )
        self.vectorstore = Chroma(
            client=self.client,
            collection_name=settings.collection,
            embedding_function=embeddings,
            collection_configuration={"hnsw": {"space": "cosine"}},
        )
        if check_model:
            self.check_model()

    def check_model(self) -> None:
        built_with = self.records.meta("model_id")
        if built_with is not None and built_with != self.model_id:
            raise IndexMismatchError(
                f"the index in {self.dir} was built with {built_with}, but the configured model "
                f"is {self.model_id}. Rebuild it with `python -m ingest --reindex PATH`, or set "
                f"QA_EMBEDDING_MODEL back to the model it was built with."
            )

    def count(self) -> int:
        return self.vectorstore._collection.count()

    def chunk_ids(self, source: str) -> set[str]:
        return set(self.vectorstore.get(where={"source": source}, include=[])["ids"])

    def add(self, chunks: Sequence[StoredChunk]) -> None:
        """Embed and store chunks (an upsert: storing an id twice keeps one copy)."""
        if not chunks:
            return
        if self.records.meta("model_id") is None:
            self.records.set_meta("model_id", self.model_id)
        self.vectorstore.add_texts(
            [c.text for c in chunks],
            metadatas=[c.metadata for c in chunks],
            ids=[c.id for c in chunks],
        )

    def delete_ids(self, ids: Sequence[str]) -> None:
        ids = list(ids)
        for i in range(0, len(ids), _PAGE):
            self.vectorstore.delete(ids=ids[i : i + _PAGE])

    def delete_document(self, source: str) -> int:
        """Remove a document's chunks, then its record; returns how many chunks went."""
        ids = self.chunk_ids(source)
        self.delete_ids(sorted(ids))
        self.records.delete(source)
        return len(ids)

    def stored_sources(self) -> set[str]:
        """Every source that has chunks in Chroma, recorded or not (orphans of a crash)."""
        sources: set[str] = set()
        for metadatas in self._pages(include=["metadatas"]):
            sources.update(str(m["source"]) for m in metadatas if m and "source" in m)
        return sources

    def _pages(self, include: list[str]) -> Iterator[list[Any]]:
        offset = 0
        while True:
            page = self.vectorstore.get(include=include, limit=_PAGE, offset=offset)
            if not page["ids"]:
                return
            yield page["metadatas"]
            offset += len(page["ids"])

    def reset(self) -> None:
        """Drop every chunk and record: the start of a rebuild with another model."""
        self.vectorstore.reset_collection()
        self.records.clear()

    def close(self) -> None:
        self.records.close()

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
