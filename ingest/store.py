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
"""

from __future__ import annotations

import contextlib
import shutil
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chromadb.api.models.Collection import Collection
from chromadb.errors import NotFoundError
from langchain_chroma import Chroma
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

from .client import make_client, server_errors
from .embeddings import token_facts
from .errors import IndexMismatchError, IndexNotFoundError, IndexUnavailableError
from .records import ChromaRecords, DocRecord, Records, SqliteRecords
from .search_index import SearchIndex, build_from
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
        self._search_index: SearchIndex | None = None
        self._search_lock = threading.Lock()
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
        return self.dir / f"search-{self.settings.collection}"

    def stamp(self) -> str:
        """The collection's change stamp: it moves on with every change."""
        with self.guard():
            return self.records.meta(_CHANGED_KEY) or _NEVER_CHANGED

    def _changes(self) -> None:
        """Called before every change to the collection."""
        if not self._changing:
            with self.guard():
                self.records.set_meta(_CHANGED_KEY, uuid.uuid4().hex)
            self._changing = True

    def search_index(self) -> SearchIndex:
        """The search index of the collection as it is now: loaded, or rebuilt when stale."""
        stamp = self.stamp()
        with self._search_lock:
            current = self._search_index
            if current is None or current.stamp != stamp:
                current = SearchIndex.load(self.search_dir)
                if current is None or current.stamp != stamp:
                    current = build_from(
                        stamp, self._pages(["documents", "metadatas", "embeddings"])
                    )
                    # A read-only index folder: keep it in memory only.
                    with contextlib.suppress(OSError):
                        current.save(self.search_dir)
                        # Where earlier versions kept BM25 alone, without the vectors.
                        legacy = self.dir / f"keyword-{self.settings.collection}"
                        for folder in (legacy, legacy.with_name(legacy.name + ".old")):
                            shutil.rmtree(folder, ignore_errors=True)
                self._search_index = current
            return current

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
        self._changes()
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
                self._changes()
                with self.guard():
                    self.collection.update(ids=ids, metadatas=metadatas)  # type: ignore[arg-type]

    def delete_ids(self, ids: Sequence[str]) -> None:
        ids = list(ids)
        if not ids:
            return
        self._changes()
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
        self._changes()

    def close(self, *, refresh: bool = True) -> None:
        """Stamp the end of this object's changes and bring the search index up to date
        (unless ``refresh`` is false, e.g. after a failure: the next user rebuilds it)."""
        try:
            if self._changing:
                self._changing = False
                if refresh:
                    self._changes()
                    self.search_index()
                else:
                    with contextlib.suppress(Exception):  # the failure itself is what counts
                        self._changes()
                self._changing = False
        finally:
            self.records.close()

    def __enter__(self) -> Index:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.close(refresh=exc_type is None)


class IndexChroma(Chroma):
    """langchain's Chroma, checking the query vector's size and the server's reachability."""

    def __init__(self, index: Index, **kwargs: Any):
        super().__init__(**kwargs)
        self._index = index

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
