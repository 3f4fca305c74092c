"""Looking after an index: what is in it (``--list``) and removing documents (``--delete``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from langchain_core.embeddings import Embeddings

from .embeddings import make_embeddings
from .lock import writer_lock
from .records import DocRecord
from .settings import IndexSettings
from .sources import shown
from .store import Index


@dataclass
class Listing:
    where: str  # the index, as messages name it
    model: str | None  # embedding model the collection was built with (None: still empty)
    dimension: int | None
    documents: list[DocRecord] = field(default_factory=list)
    # Sources with chunks but no record: an ingestion was interrupted before finishing them,
    # and the next run completes them (or --prune / --delete removes them).
    incomplete: dict[str, int] = field(default_factory=dict)  # source -> chunks stored

    @property
    def chunks(self) -> int:
        return sum(d.chunks for d in self.documents)


def list_documents(
    settings: IndexSettings | None = None, embeddings: Embeddings | None = None
) -> Listing:
    """The documents of the index with their chunk counts and ingestion times."""
    settings = settings or IndexSettings.load()
    embeddings = embeddings or make_embeddings(settings)  # not loaded: only its name is used
    with Index(settings, embeddings, create=False, check_model=False) as index:
        records = index.records.all()
        recorded = {r.source for r in records}
        stored = index.stored_sources()
        model, dimension = index.built_with()
        return Listing(
            index.where,
            model,
            dimension,
            records,
            {s: n for s, n in sorted(stored.items()) if s not in recorded},
        )


def delete_documents(
    sources: Sequence[str],
    settings: IndexSettings | None = None,
    embeddings: Embeddings | None = None,
) -> tuple[dict[str, int], list[str]]:
    """Remove documents (chunks, then record); returns chunks removed per source, and the
    sources the index does not have. A source may be given as the shell passes a file name
    that is not UTF-8 (its raw bytes): it names the document ``--list`` shows escaped."""
    sources = [shown(s) for s in sources]
    settings = settings or IndexSettings.load()
    embeddings = embeddings or make_embeddings(settings)
    deleted: dict[str, int] = {}
    missing: list[str] = []
    # The index first: asking to delete from an index that does not exist creates nothing.
    with (
        Index(settings, embeddings, create=False, check_model=False) as index,
        writer_lock(settings),
    ):
        for source in sources:
            if index.records.get(source) is None and not index.chunk_ids(source):
                missing.append(source)
            else:
                deleted[source] = index.delete_document(source)
    return deleted, missing
