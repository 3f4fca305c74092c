"""The record of ingested documents: one row per document, next to the chunks it describes.

A row says "all of this document's chunks are stored": it is written only after they are, so
an interrupted ingestion leaves rows that are complete or absent. Two homes:

- ``SqliteRecords``: ``records.sqlite`` in the index folder, beside the embedded Chroma.
- ``ChromaRecords``: with a Chroma server, a companion collection on the same server
  (``<collection>-records``, one entry per document, the fields as metadata). The records
  must describe what is in the server's collection, whoever wrote it: kept on a client
  machine they would go stale as soon as another machine ingests or deletes.

Both also keep a few settings of the index (``meta``), among them the id of the Chroma
collection they describe: when the collection was deleted and created again, the rows describe
chunks that are gone and the index clears them (``Index._check_generation``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Any, Protocol

from chromadb.api import ClientAPI

_PAGE = 5000  # entries per Chroma get/delete call, below its maximum batch size


@dataclass(frozen=True)
class DocRecord:
    source: str
    path: str
    sha256: str
    fingerprint: str  # chunker + model: a change means the file must be chunked again
    title: str
    chunks: int
    chars: int
    ingested_at: float  # seconds since the epoch


class Records(Protocol):
    def get(self, source: str) -> DocRecord | None: ...
    def all(self) -> list[DocRecord]: ...
    def put(self, rec: DocRecord) -> None: ...
    def delete(self, source: str) -> None: ...
    def meta(self, key: str) -> str | None: ...
    def set_meta(self, key: str, value: str) -> None: ...
    def clear(self) -> None: ...
    def close(self) -> None: ...


class SqliteRecords:
    """Records in a SQLite file (embedded mode)."""

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
                "INSERT OR REPLACE INTO documents VALUES (?, ?, ?, ?, ?, ?, ?, ?)", astuple(rec)
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


class ChromaRecords:
    """Records as a companion collection on the Chroma server (server mode).

    Chroma stores vectors, so each entry carries a one-number placeholder vector; only ids
    (the document sources) and metadata are ever read. ``meta`` lives in the collection's
    own metadata.
    """

    def __init__(
        self,
        client: ClientAPI,
        name: str,
        guard: Callable[[], AbstractContextManager[None]] = nullcontext,
    ):
        self._client = client
        self._name = name
        self._guard = guard  # turns a lost server into the index's own error
        with guard():
            self._col = client.get_or_create_collection(name, embedding_function=None)

    def get(self, source: str) -> DocRecord | None:
        with self._guard():
            got = self._col.get(ids=[source], include=["metadatas"])
        metas = got["metadatas"] or []
        return _record(source, metas[0]) if got["ids"] else None

    def all(self) -> list[DocRecord]:
        out: list[DocRecord] = []
        offset = 0
        while True:
            with self._guard():
                got = self._col.get(include=["metadatas"], limit=_PAGE, offset=offset)
            if not got["ids"]:
                break
            out += [_record(i, m) for i, m in zip(got["ids"], got["metadatas"] or [], strict=True)]
            offset += len(got["ids"])
        return sorted(out, key=lambda r: r.source)

    def put(self, rec: DocRecord) -> None:
        fields = dict(zip(_FIELDS, astuple(rec)[1:], strict=True))
        with self._guard():
            self._col.upsert(ids=[rec.source], embeddings=[[0.0]], metadatas=[fields])  # type: ignore[arg-type]

    def delete(self, source: str) -> None:
        with self._guard():
            self._col.delete(ids=[source])

    def meta(self, key: str) -> str | None:
        value = (self._col.metadata or {}).get(key)
        return None if value is None else str(value)

    def set_meta(self, key: str, value: str) -> None:
        # subtle: modify() replaces the whole metadata, so merge with what is there.
        with self._guard():
            self._col.modify(metadata={**(self._col.metadata or {}), key: value})

    def clear(self) -> None:
        with self._guard():
            self._client.delete_collection(self._name)
            self._col = self._client.get_or_create_collection(self._name, embedding_function=None)

    def close(self) -> None:
        pass


_FIELDS = ("path", "sha256", "fingerprint", "title", "chunks", "chars", "ingested_at")


def _record(source: str, meta: Any) -> DocRecord:
    m = dict(meta or {})
    return DocRecord(
        source,
        str(m["path"]),
        str(m["sha256"]),
        str(m["fingerprint"]),
        str(m["title"]),
        int(m["chunks"]),
        int(m["chars"]),
        float(m["ingested_at"]),
    )
