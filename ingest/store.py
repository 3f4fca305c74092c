"""The index: a Chroma collection of chunks, and a record of each ingested document.

Embedded (default), in ``QA_INDEX_DIR``::

    chroma/          Chroma PersistentClient data (the chunks, their vectors and metadata)
    records.sqlite   one row per document: file hash, chunking fingerprint, chunk count, time

With ``QA_CHROMA_URL`` (server mode) the chunks are in the server's collection and the records
in a companion collection beside it (see ``ingest/records.py`` for why).

The collection's own metadata names the embedding model and vector size it was built with, so
any client, ingesting or querying, finds out when its model does not fit. A document's record
is written only after all its chunks are stored and its stale chunks deleted, so an interrupted
ingestion leaves records that are either complete or absent: the next run redoes the absent
ones, and the deterministic chunk ids make the redo write no duplicate.

The search index beside the collection (``search-<collection>/`` in ``QA_INDEX_DIR``, on every
machine that searches) follows it through the records' change log: every change logs the ids
it touches before it is made, and a writer ends by *committing* (a new change stamp, and the
log position up to which every change has landed). Whoever finds the search index on disk
older than the stamp (a writer as it closes, else the next search) fetches the chunks logged
after its position, writes them in, and takes the committed position as its own: entries past
it (a writer still at work, or killed) are fetched again next time. So a kill -9 anywhere
leaves a log that the next run replays. With a server, the chunks are fetched without their
vectors: the dense side of a search is the server's own (``nearest``).
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import threading
import uuid
import weakref
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from chromadb.api.models.Collection import Collection
from chromadb.errors import NotFoundError
from langchain_chroma import Chroma
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

from . import search_files
from .client import make_client, server_errors
from .embeddings import token_facts
from .errors import IndexMismatchError, IndexNotFoundError, IndexUnavailableError
from .records import ChromaRecords, DocRecord, Records, SqliteRecords
from .search_files import Page
from .search_index import SearchIndex
from .settings import IndexSettings

__all__ = [
    "DocRecord",
    "Index",
    "IndexMismatchError",
    "IndexNotFoundError",
    "IndexUnavailableError",
    "StoredChunk",
]

RECORDS_FILE = "records.sqlite"
_PAGE = 5000  # ids per Chroma get/delete call, below its maximum batch size
_MODEL_KEY = "embedding_model"  # collection metadata
_DIMENSION_KEY = "embedding_dimension"
# Records meta: a new random value is written before the collection is first changed and again
# after the last change, so derived data stamped with an older value (the search index) is
# known to be stale, even when a crash came between the change and its rebuild.
_CHANGED_KEY = "changed"
_NEVER_CHANGED = "initial"  # the stamp of an index older than the stamp itself
_COMMITTED_KEY = "committed"  # log position up to which every logged change has landed
_FLOOR_KEY = "log_floor"  # log entries up to here are forgotten: an index behind is rebuilt
_LOGGED_KEY = "logged"  # ids logged since the log was last trimmed
_LOG_SLACK = 10_000  # the log is trimmed once it holds twice the chunks and this many more ids


@dataclass(frozen=True)
class StoredChunk:
    id: str
    text: str  # what is embedded and stored: header + body
    metadata: dict[str, Any]


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
        self.settings = settings
        self.dir = Path(settings.index_dir)
        self.url = settings.chroma_url
        self.embeddings = embeddings
        self.model_id = token_facts(embeddings).model_id
        self.records: Records
        self._changing = False  # this object has changed the collection
        self._logged = 0  # ids this object logged since it last committed
        self._last_seq = 0  # the last log entry this object wrote
        self._search_index: SearchIndex | None = None
        self._search_lock = threading.Lock()
        self.chunks_fetched = 0  # chunks read to keep the search index
        self._search_dir: Path | None = None  # set when the index folder is read-only
        if self.url is None:
            if not (self.dir / RECORDS_FILE).exists():
                if not create:
                    raise IndexNotFoundError(
                        f"no index in {self.dir.resolve()}: run `python -m ingest PATH` first "
                        "(or set QA_INDEX_DIR to the folder of an existing index)"
                    )
                self.dir.mkdir(parents=True, exist_ok=True)
            self.records = SqliteRecords(self.dir / RECORDS_FILE)
            self.client = make_client(settings)
        else:
            self.client = make_client(settings)
            with self.guard():
                if not create:
                    self._require_collection()
                self.records = ChromaRecords(
                    self.client, f"{settings.collection}-records", self.guard
                )
        with self.guard():
            self.vectorstore = IndexChroma(
                self,
                client=self.client,
                collection_name=settings.collection,
                embedding_function=embeddings,
                collection_configuration={"hnsw": {"space": "cosine"}},
            )
            self._check_generation()
        if check_model:
            self.check_model()

    @property
    def where(self) -> str:
        """The index as the user knows it, for messages."""
        if self.url is None:
            return f"the index in {self.dir}"
        return f"collection {self.settings.collection!r} on the Chroma server at {self.url}"

    def guard(self) -> AbstractContextManager[None]:
        """Context in which a lost Chroma server becomes IndexUnavailableError."""
        return server_errors(self.url, self.settings.chroma_timeout)

    @property
    def collection(self) -> Collection:
        return self.vectorstore._collection

    def _require_collection(self) -> None:
        try:
            self.client.get_collection(self.settings.collection)
        except (NotFoundError, ValueError):
            raise IndexNotFoundError(
                f"no collection {self.settings.collection!r} on the Chroma server at "
                f"{self.url}: run `python -m ingest PATH` with QA_CHROMA_URL set first"
            ) from None

    def _check_generation(self) -> None:
        """Forget the records when the collection they describe was deleted and made again."""
        current = str(self.collection.id)
        known = self.records.meta("collection_id")
        if known == current:
            return
        if known is not None:
            self.records.clear()
        self.records.set_meta("collection_id", current)

    def built_with(self) -> tuple[str | None, int | None]:
        """The embedding model and vector size the collection was built with (None: empty)."""
        meta = self.collection.metadata or {}
        # Indexes from before the collection carried it keep the model in their records.
        model = meta.get(_MODEL_KEY) or self.records.meta("model_id")
        dim = meta.get(_DIMENSION_KEY)
        return (str(model) if model else None), (int(dim) if dim is not None else None)

    def check_model(self) -> None:
        model, _ = self.built_with()
        if model is not None and model != self.model_id:
            raise IndexMismatchError(
                f"{self.where} was built with {model}, but the configured model is "
                f"{self.model_id}. Rebuild it with `python -m ingest --reindex PATH`, or set "
                "QA_EMBEDDING_MODEL back to the model it was built with."
            )

    def check_dimension(self, dimension: int) -> None:
        model, built = self.built_with()
        if built is not None and built != dimension:
            raise IndexMismatchError(
                f"{self.where} holds {built}-dimensional vectors (from {model}), but "
                f"{self.model_id} makes {dimension}-dimensional ones. Rebuild it with "
                "`python -m ingest --reindex PATH`, or set QA_EMBEDDING_MODEL back to the model "
                "it was built with."
            )

    def _stamp(self, dimension: int) -> None:
        """Write the model and vector size into the collection on its first chunks."""
        self.check_dimension(dimension)
        meta = dict(self.collection.metadata or {})
        if _MODEL_KEY not in meta:
            meta |= {_MODEL_KEY: self.model_id, _DIMENSION_KEY: dimension}
            self.collection.modify(metadata=meta)

    def count(self) -> int:
        with self.guard():
            return self.collection.count()

    def chunk_ids(self, source: str) -> set[str]:
        with self.guard():
            return set(self.collection.get(where={"source": source}, include=[])["ids"])

    @property
    def search_dir(self) -> Path:
        return self._search_dir or self.dir / f"search-{self.settings.collection}"

    def stamp(self) -> str:
        """The collection's change stamp: it moves on with every change."""
        with self.guard():
            return self.records.meta(_CHANGED_KEY) or _NEVER_CHANGED

    def _changes(self, ids: Sequence[str]) -> None:
        """Called before every change to the collection, with the ids it touches."""
        with self.guard():
            if not self._changing:
                self.records.set_meta(_CHANGED_KEY, uuid.uuid4().hex)
                self._changing = True
            if ids:
                self._last_seq = self.records.log(ids)
        self._logged += len(ids)

    def _commit(self) -> None:
        """Every change this object logged has landed (or never will: it stopped)."""
        with self.guard():
            meta = self.records.metas()
            committed = max(int(meta.get(_COMMITTED_KEY) or 0), self._last_seq)
            self.records.set_metas({_CHANGED_KEY: uuid.uuid4().hex, _COMMITTED_KEY: str(committed)})

    def _trim_log(self) -> None:
        """Forget the log once it holds twice the collection's chunks (and some): an index
        that far behind is rebuilt faster than it would catch up."""
        with self.guard():
            meta = self.records.metas()
            logged = int(meta.get(_LOGGED_KEY) or 0) + self._logged
            self._logged = 0
            if logged <= 2 * self.collection.count() + _LOG_SLACK:
                self.records.set_meta(_LOGGED_KEY, str(logged))
                return
            committed = meta.get(_COMMITTED_KEY) or "0"
            # The floor first: killed between the two, entries stay that nobody reads.
            self.records.set_metas({_FLOOR_KEY: committed, _LOGGED_KEY: "0"})
            self.records.trim(int(committed))

    def search_index(self) -> SearchIndex:
        """The search index of the collection as it is now: opened from disk, and first
        brought up to date there by the change log (rebuilt when there is none it can
        follow), by this process or another."""
        with self.guard():
            meta = self.records.metas()
        stamp = meta.get(_CHANGED_KEY) or _NEVER_CHANGED
        with self._search_lock:
            current = self._search_index
            if current is None or current.stamp != stamp:
                current = search_files.open_index(self.search_dir)
            if current is None or current.stamp != stamp:
                current = self._updated(meta)
            self._search_index = current
            return current

    def _updated(self, meta: dict[str, str]) -> SearchIndex:
        """The search index brought to the state ``meta`` (read first) describes, on disk."""
        target = search_files.Target(
            stamp=meta.get(_CHANGED_KEY) or _NEVER_CHANGED,
            seq=int(meta.get(_COMMITTED_KEY) or 0),
            floor=int(meta.get(_FLOOR_KEY) or 0),
            collection=str(self.collection.id),
            vectors=self.url is None,  # a server's client keeps no vector (and fetches none)
        )
        last: int | None = None  # the last log entry a catch-up read

        def changes(after: int) -> tuple[set[str], Page]:
            nonlocal last
            with self.guard():
                touched, last = self.records.changes(after)
            return touched, self._fetch(sorted(touched), target.vectors)

        def everything() -> Iterator[Page]:
            include = ["documents", "metadatas"] + (["embeddings"] if target.vectors else [])
            for page in self._pages(include):
                self.chunks_fetched += len(page[0])
                yield page

        try:
            updated, _ = search_files.update(self.search_dir, target, changes, everything)
        except OSError:  # a read-only index folder: the search index goes to a folder of ours
            self._search_dir = Path(tempfile.mkdtemp(prefix="qa-search-"))
            updated, _ = search_files.update(self.search_dir, target, changes, everything)
        if last is not None and last <= target.seq and len(updated) != self.count():
            # No writer at work, yet the counts differ: changes made without the log (by an
            # older version, or by hand). Rebuild.
            updated, _ = search_files.update(
                self.search_dir, target, changes, everything, rebuild=True
            )
        # Where earlier versions kept BM25 alone, without the vectors.
        legacy = self.dir / f"keyword-{self.settings.collection}"
        for folder in (legacy, legacy.with_name(legacy.name + ".old")):
            shutil.rmtree(folder, ignore_errors=True)
        return updated

    def _fetch(self, ids: Sequence[str], vectors: bool) -> Page:
        """The stored chunks among these ids: (ids, texts, metadatas, vectors or None)."""
        include = ["documents", "metadatas"] + (["embeddings"] if vectors else [])
        out: Page = ([], [], [], [])
        found: list[Any] = []
        for i in range(0, len(ids), _PAGE):
            with self.guard():
                got = self.collection.get(ids=list(ids[i : i + _PAGE]), include=include)  # type: ignore[arg-type]
            out[0].extend(got["ids"])
            out[1].extend(got["documents"] or [])
            out[2].extend(dict(m or {}) for m in got["metadatas"] or [])
            if vectors and got["ids"]:
                found.append(np.asarray(got["embeddings"], dtype=np.float32))
        self.chunks_fetched += len(out[0])
        matrix = np.concatenate(found) if found else None
        return out[0], out[1], out[2], matrix

    def nearest(
        self, vector: np.ndarray, n: int, where: dict[str, Any] | None = None
    ) -> tuple[list[str], np.ndarray]:
        """The ``n`` chunks nearest the vector within ``where`` by Chroma's own search (its
        HNSW index): their ids and cosine similarities, nearest first. Nothing but ids and
        distances comes back: no vector, no text."""
        with self.guard():
            got = self.collection.query(
                query_embeddings=[vector], n_results=n, where=where, include=["distances"]
            )
        return list(got["ids"][0]), 1 - np.asarray((got["distances"] or [[]])[0], np.float32)

    def chunks(self, ids: Sequence[str]) -> dict[str, tuple[str, dict[str, Any]]]:
        """The stored text (header + body) and metadata of these chunks."""
        if not ids:
            return {}
        with self.guard():
            got = self.collection.get(ids=list(ids), include=["documents", "metadatas"])
        return {
            i: (d, dict(m or {}))
            for i, d, m in zip(
                got["ids"], got["documents"] or [], got["metadatas"] or [], strict=True
            )
        }

    def add(self, chunks: Sequence[StoredChunk]) -> None:
        """Embed and store chunks (an upsert: storing an id twice keeps one copy)."""
        if not chunks:
            return
        self.put(chunks, self.embeddings.embed_documents([c.text for c in chunks]))

    def put(self, chunks: Sequence[StoredChunk], vectors: Sequence[Sequence[float]]) -> None:
        """Store chunks with their vectors, computed already by this index's model (an upsert).

        Also how a benchmark grows an index without embedding the same texts again."""
        if len(chunks) != len(vectors):
            raise ValueError(f"{len(chunks)} chunks but {len(vectors)} vectors")
        if not chunks:
            return
        self._changes([c.id for c in chunks])
        with self.guard():
            self._stamp(len(vectors[0]))
            self.collection.upsert(
                ids=[c.id for c in chunks],
                embeddings=vectors,  # type: ignore[arg-type]
                metadatas=[c.metadata for c in chunks],
                documents=[c.text for c in chunks],
            )

    def refresh_metadata(self, chunks: Sequence[StoredChunk]) -> None:
        """Give stored chunks their new metadata where it differs (text and vector are kept)."""
        for i in range(0, len(chunks), _PAGE):
            page = chunks[i : i + _PAGE]
            with self.guard():
                got = self.collection.get(ids=[c.id for c in page], include=["metadatas"])
            before = dict(zip(got["ids"], got["metadatas"] or [], strict=True))
            ids, metadatas = [], []
            for c in page:
                old = dict(before.get(c.id) or {})
                if old != c.metadata:
                    ids.append(c.id)
                    # subtle: Chroma merges metadata on update; None removes a key.
                    metadatas.append(
                        {**dict.fromkeys(old.keys() - c.metadata.keys()), **c.metadata}
                    )
            if ids:
                self._changes(ids)
                with self.guard():
                    self.collection.update(ids=ids, metadatas=metadatas)  # type: ignore[arg-type]

    def delete_ids(self, ids: Sequence[str]) -> None:
        ids = list(ids)
        if not ids:
            return
        self._changes(ids)
        with self.guard():
            for i in range(0, len(ids), _PAGE):
                self.collection.delete(ids=ids[i : i + _PAGE])

    def delete_document(self, source: str) -> int:
        """Remove a document's chunks, then its record; returns how many chunks went."""
        ids = self.chunk_ids(source)
        self.delete_ids(sorted(ids))
        with self.guard():
            self.records.delete(source)
        return len(ids)

    def stored_sources(self) -> dict[str, int]:
        """Chunks per source in Chroma, recorded or not (unrecorded: orphans of a crash)."""
        sources: dict[str, int] = {}
        for _, _, metadatas, _ in self._pages(["metadatas"]):
            for m in metadatas:
                if m and "source" in m:
                    sources[str(m["source"])] = sources.get(str(m["source"]), 0) + 1
        return sources

    def _pages(self, include: list[str]) -> Iterator[tuple[list[str], list[str], list[Any], Any]]:
        """Every chunk, a page at a time: (ids, documents, metadatas, embeddings) as far as
        included."""
        offset = 0
        while True:
            with self.guard():
                page = self.collection.get(include=include, limit=_PAGE, offset=offset)  # type: ignore[arg-type]
            if not page["ids"]:
                return
            vectors = page["embeddings"]
            yield (
                page["ids"],
                page["documents"] or [],
                page["metadatas"] or [],
                [] if vectors is None else vectors,  # an array of rows
            )
            offset += len(page["ids"])

    def reset(self) -> None:
        """Drop every chunk and record: the start of a rebuild with another model."""
        with self.guard():
            self.vectorstore.reset_collection()
            self.records.clear()
            self.records.set_meta("collection_id", str(self.collection.id))
        self._changing = False
        self._changes([])  # a new collection: whoever keeps a search index rebuilds it

    def close(self, *, refresh: bool = True) -> None:
        """Commit this object's changes and bring the search index up to date (unless
        ``refresh`` is false, e.g. after a failure: the next user brings it up to date)."""
        try:
            if self._changing:
                self._changing = False
                if refresh:
                    self._commit()
                    self.search_index()  # brought up to date on disk, for every process
                    self._trim_log()
                else:
                    with contextlib.suppress(Exception):  # the failure itself is what counts
                        self._commit()
        finally:
            self.records.close()
            # The search index maps every array of every segment, a file descriptor each: a
            # closed index its caller still holds lets them go now (reopened if searched).
            with self._search_lock:
                self._search_index = None

    def __enter__(self) -> Index:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.close(refresh=exc_type is None)


class IndexChroma(Chroma):
    """langchain's Chroma, checking the query vector's size and the server's reachability."""

    def __init__(self, index: Index, **kwargs: Any):
        super().__init__(**kwargs)
        # A weak reference: the index owns this store, and a cycle would keep a dropped
        # index (its maps, a descriptor each) until the garbage collector runs.
        self._index = weakref.proxy(index)

    def similarity_search_by_vector_with_relevance_scores(
        self,
        embedding: list[float],
        k: int = 4,
        filter: dict[str, str] | None = None,
        where_document: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> list[tuple[Document, float]]:
        self._index.check_dimension(len(embedding))
        with self._index.guard():
            return super().similarity_search_by_vector_with_relevance_scores(
                embedding, k, filter, where_document, **kwargs
            )
