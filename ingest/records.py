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

And both keep the collection's change log: before chunks are stored, changed or deleted, their
ids are logged under the next sequence number (``log``), so that whoever keeps data derived
from the collection (the search index, on any machine) fetches just the chunks touched since
the number it has reached (``changes``). In server mode the log is a third collection,
``<collection>-records-log``.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable, Sequence
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


_LOG_ENTRY = 1000  # ids per log entry at most


class Records(Protocol):
    def get(self, source: str) -> DocRecord | None: ...
    def all(self) -> list[DocRecord]: ...
    def put(self, rec: DocRecord) -> None: ...
    def delete(self, source: str) -> None: ...
    def meta(self, key: str) -> str | None: ...
    def metas(self) -> dict[str, str]: ...  # all of them, read at once
    def set_meta(self, key: str, value: str) -> None: ...
    def set_metas(self, values: dict[str, str]) -> None: ...  # all at once
    def log(self, ids: Sequence[str]) -> int: ...  # returns the (last) sequence number used
    def changes(self, after: int) -> tuple[set[str], int]: ...  # ids, last sequence number
    def trim(self, upto: int) -> None: ...  # forget the entries up to this number
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
            CREATE TABLE IF NOT EXISTS changes (
                seq INTEGER PRIMARY KEY AUTOINCREMENT, ids TEXT NOT NULL);
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

    def metas(self) -> dict[str, str]:
        return dict(self._db.execute("SELECT key, value FROM meta").fetchall())

    def set_meta(self, key: str, value: str) -> None:
        self.set_metas({key: value})

    def set_metas(self, values: dict[str, str]) -> None:
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", values.items())

    def log(self, ids: Sequence[str]) -> int:
        seq: int | None = 0
        with self._db:
            for i in range(0, len(ids), _LOG_ENTRY):
                entry = "\n".join(ids[i : i + _LOG_ENTRY])
                seq = self._db.execute("INSERT INTO changes (ids) VALUES (?)", (entry,)).lastrowid
        return int(seq or 0)

    def changes(self, after: int) -> tuple[set[str], int]:
        ids: set[str] = set()
        last = after
        for seq, entry in self._db.execute(
            "SELECT seq, ids FROM changes WHERE seq > ? ORDER BY seq", (after,)
        ):
            ids.update(entry.split("\n"))
            last = seq
        return ids, last

    def trim(self, upto: int) -> None:
        with self._db:
            self._db.execute("DELETE FROM changes WHERE seq <= ?", (upto,))

    def clear(self) -> None:
        with self._db:
            self._db.execute("DELETE FROM documents")
            self._db.execute("DELETE FROM meta")
            self._db.execute("DELETE FROM changes")

    def close(self) -> None:
        self._db.close()


class ChromaRecords:
    """Records as a companion collection on the Chroma server (server mode).

    Chroma stores vectors, so each entry carries a one-number placeholder vector; only ids
    (the document sources) and metadata are ever read. ``meta`` lives in the collection's
    own metadata, read afresh each time (another machine may have changed it). The change
    log is a collection of its own: one entry per batch of ids (its document), numbered in
    its metadata; the next number is kept in ``meta``, written before the entry, so that a
    number is never given twice.
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
            self._log = client.get_or_create_collection(f"{name}-log", embedding_function=None)

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
        return self.metas().get(key)

    def metas(self) -> dict[str, str]:
        # subtle: a Collection object keeps the metadata it was fetched with; ask again.
        with self._guard():
            self._col = self._client.get_collection(self._name, embedding_function=None)
        return {k: str(v) for k, v in (self._col.metadata or {}).items() if v is not None}

    def set_meta(self, key: str, value: str) -> None:
        self.set_metas({key: value})

    def set_metas(self, values: dict[str, str]) -> None:
        # subtle: modify() replaces the whole metadata, so merge with what is there.
        current = self.metas()
        with self._guard():
            self._col.modify(metadata={**current, **values})

    def log(self, ids: Sequence[str]) -> int:
        seq = int(self.meta(_LOG_SEQ) or 0)
        for i in range(0, len(ids), _LOG_ENTRY):
            seq += 1
            self.set_meta(_LOG_SEQ, str(seq))
            with self._guard():
                self._log.add(
                    ids=[f"{seq:012d}-{uuid.uuid4().hex[:8]}"],
                    embeddings=[[0.0]],  # type: ignore[arg-type]
                    documents=["\n".join(ids[i : i + _LOG_ENTRY])],
                    metadatas=[{"seq": seq}],
                )
        return seq

    def changes(self, after: int) -> tuple[set[str], int]:
        ids: set[str] = set()
        last, offset = after, 0
        while True:
            with self._guard():
                got = self._log.get(
                    where={"seq": {"$gt": after}},  # type: ignore[dict-item]
                    include=["documents", "metadatas"],
                    limit=_PAGE,
                    offset=offset,
                )
            if not got["ids"]:
                return ids, last
            for entry, meta in zip(got["documents"] or [], got["metadatas"] or [], strict=True):
                ids.update(entry.split("\n"))
                last = max(last, int(str(dict(meta or {})["seq"])))
            offset += len(got["ids"])

    def trim(self, upto: int) -> None:
        with self._guard():
            self._log.delete(where={"seq": {"$lte": upto}})  # type: ignore[dict-item]

    def clear(self) -> None:
        with self._guard():
            self._client.delete_collection(self._name)
            self._col = self._client.get_or_create_collection(self._name, embedding_function=None)
            self._client.delete_collection(self._log.name)
            self._log = self._client.get_or_create_collection(
                self._log.name, embedding_function=None
            )

    def close(self) -> None:
        pass


_LOG_SEQ = "log_seq"  # meta: the last sequence number given to a log entry
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
