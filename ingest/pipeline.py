"""Ingestion: files -> documents -> chunks -> embeddings -> Chroma, doing only what changed.

A file whose bytes and chunking fingerprint match its record is skipped without being read
further (so a re-run embeds nothing and never loads the model). A changed file is chunked
again; only chunks whose deterministic id is not stored yet are embedded, and its old chunks
are deleted once the new ones are in.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from langchain_core.embeddings import Embeddings

from .context import header_for, publication_day, publisher_of
from .embeddings import make_embeddings, token_facts
from .formats.isolated import Reader
from .load import Document, Found, LoadError, SourceFile, file_sha256, find, read_document
from .lock import writer_lock
from .settings import IndexSettings
from .sources import is_under, name_sources, shown
from .split import SentenceChunker
from .store import DocRecord, Index, StoredChunk

# (stage, done, total): stage is "reading" (files) or "embedding" (chunks).
ProgressFn = Callable[[str, int, int], None]

_SORT_WINDOW_BATCHES = 16  # batches whose chunks are sorted by length together (_even_batches)
_HEADER_VERSION = "h2"  # bump when header_for changes: every chunk's embedded text changes
# Chunk metadata keys of our own; front matter fields of the same name get a "doc_" prefix.
RESERVED_KEYS = frozenset(
    {
        "source",
        "title",
        "start",
        "end",
        "body_start",
        "seq",
        "sha256",
        "doc_sha256",
        "page",
        "publisher",
        "published_day",
    }
)


@dataclass
class Report:
    """What an ingestion did, by document source; ``failed`` holds (path, reason)."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    chunks_embedded: int = 0
    chunks_deleted: int = 0
    seconds: float = 0.0
    embedding_seconds: float = 0.0  # spent embedding and storing chunks

    @property
    def chunks_per_second(self) -> float:
        return self.chunks_embedded / self.embedding_seconds if self.embedding_seconds else 0.0

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        rate = f" at {self.chunks_per_second:.1f} chunks/s" if self.chunks_embedded else ""
        return (
            f"{len(self.added)} added, {len(self.updated)} updated, "
            f"{len(self.unchanged)} unchanged, "
            f"{len(self.deleted)} deleted, {len(self.failed)} failed "
            f"({self.chunks_embedded} chunks embedded{rate}, {self.chunks_deleted} removed, "
            f"{self.seconds:.1f} s)"
        )


@dataclass
class _Plan:
    doc: Document
    status: Literal["added", "updated"]
    new: list[StoredChunk]  # chunks not stored yet: the only ones embedded
    kept: list[StoredChunk]  # chunks stored already: their metadata may still need refreshing
    stale: set[str]  # stored ids of the old version that the new one does not have
    chunks: int  # of the new version, stored or not
    pending: int  # of ``new``, not stored yet


def fingerprint(settings: IndexSettings, model_id: str) -> str:
    """Changes whenever the same file would be chunked or embedded differently."""
    return f"{model_id}|{settings.chunk_tokens}|{settings.chunk_overlap_tokens}|{_HEADER_VERSION}"


def chunk_document(doc: Document, chunker: SentenceChunker) -> list[StoredChunk]:
    """A document's chunks; a paged one (PDF) is chunked page by page.

    ``start``/``end`` in a chunk's metadata point into ``doc.source_text(page)``: the whole
    text, or for a paged document the text of its ``page`` (1-based), counted from the start
    of that page. Either way the body is ``source_text[start:end]``.
    """
    header = header_for(doc.title, doc.metadata)
    doc_meta = {(f"doc_{k}" if k in RESERVED_KEYS else k): v for k, v in doc.metadata.items()}
    doc_meta["publisher"] = publisher_of(doc.metadata)
    day = publication_day(doc.metadata)
    if day is not None:
        doc_meta["published_day"] = day
    chunks = []
    seq = 0
    for page, first, last in doc.sections():
        for start, end in chunker.split(doc.text, header, first, last):
            body = doc.text[start:end]
            text = header + body
            # Offsets in doc.text keep ids unique across pages (and unchanged for unpaged docs).
            key = f"{doc.source}\x00{start}\x00{end}\x00{text}".encode()
            origin = first if page is not None else 0
            metadata = {
                **doc_meta,
                "source": doc.source,
                "title": doc.title,
                "start": start - origin,
                "end": end - origin,
                "body_start": len(header),  # text[body_start:] is the body
                "seq": seq,
                "sha256": hashlib.sha256(body.encode()).hexdigest(),
                "doc_sha256": doc.sha256,
            }
            if page is not None:
                metadata["page"] = page
            chunks.append(StoredChunk(hashlib.sha256(key).hexdigest()[:32], text, metadata))
            seq += 1
    return chunks


def ingest(
    paths: Iterable[str | os.PathLike[str]] = ("seeds",),
    *,
    settings: IndexSettings | None = None,
    embeddings: Embeddings | None = None,
    prune: bool = False,
    reindex: bool = False,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    on_progress: ProgressFn | None = None,
) -> Report:
    """Bring the index up to date with the files under ``paths``.

    ``prune`` deletes the documents recorded below ``paths`` that this run did not find (never
    below a folder that could not be read, nor anywhere else); ``reindex`` first
    empties the index (needed after changing the embedding model). ``include``/``exclude``
    globs filter the files found in folders (``ingest.load.PathFilter``). Raises IndexBusyError
    when another ingestion is writing to the same index.
    """
    started = time.perf_counter()
    settings = settings or IndexSettings.load()
    embeddings = embeddings or make_embeddings(settings)
    report = Report()
    found = find(paths, include, exclude)
    report.failed = found.failed
    max_bytes = int(settings.max_file_mb * 1_000_000)
    with writer_lock(settings), Index(settings, embeddings, check_model=not reindex) as index:
        if reindex:
            index.reset()
        records = {r.source: r for r in index.records.all()}
        names = name_sources(found.files, records.values())
        files = sorted(
            (replace(f, source=name) for f, name in zip(found.files, names, strict=True)),
            key=lambda f: f.source,
        )
        chunker = SentenceChunker(
            token_facts(embeddings), settings.chunk_tokens, settings.chunk_overlap_tokens
        )
        fp = fingerprint(settings, index.model_id)
        # The reader's worker lives while files are read, and is gone before embedding.
        with Reader(settings.parse_memory_mb, settings.parse_timeout) as reader:
            plans = _plan(
                files, records, index, chunker, fp, max_bytes, reader, report, on_progress
            )
        embedding_started = time.perf_counter()
        _store(plans, index, fp, settings.embedding_batch_size, report, on_progress)
        report.embedding_seconds = time.perf_counter() - embedding_started
        if prune:
            _prune(index, found, {f.source for f in files}, report)
    report.seconds = time.perf_counter() - started
    return report


def _plan(
    files: Sequence[SourceFile],
    records: dict[str, DocRecord],
    index: Index,
    chunker: SentenceChunker,
    fp: str,
    max_bytes: int,
    reader: Reader,
    report: Report,
    on_progress: ProgressFn | None,
) -> list[_Plan]:
    plans = []
    for i, file in enumerate(files, 1):
        try:
            data, sha = file_sha256(file.path, max_bytes)
            record = records.get(file.source)
            if record and record.sha256 == sha and record.fingerprint == fp:
                if record.path != shown(file.path):  # the same file, moved
                    index.records.put(replace(record, path=shown(file.path)))
                report.unchanged.append(file.source)
                continue
            doc = read_document(file, data, sha, max_bytes, reader)
            chunks = chunk_document(doc, chunker)
        except (LoadError, OSError) as err:
            report.failed.append((shown(file.path), str(err)))
            continue
        finally:
            if on_progress:
                on_progress("reading", i, len(files))
        stored = index.chunk_ids(file.source)
        new = [c for c in chunks if c.id not in stored]
        kept = [c for c in chunks if c.id in stored]
        stale = stored - {c.id for c in chunks}
        status: Literal["added", "updated"] = "updated" if record or stored else "added"
        plans.append(_Plan(doc, status, new, kept, stale, len(chunks), len(new)))
    return plans


def _store(
    plans: list[_Plan],
    index: Index,
    fp: str,
    batch_size: int,
    report: Report,
    on_progress: ProgressFn | None,
) -> None:
    todo = _even_batches([(p, c) for p in plans for c in p.new], batch_size)
    for plan in plans:
        if plan.pending == 0:
            _finish(plan, index, fp, report)
    for start in range(0, len(todo), batch_size):
        batch = todo[start : start + batch_size]
        index.add([c for _, c in batch])
        report.chunks_embedded += len(batch)
        if on_progress:
            on_progress("embedding", start + len(batch), len(todo))
        for plan, _ in batch:
            plan.pending -= 1
            if plan.pending == 0:
                _finish(plan, index, fp, report)
    # Documents finish in the order their chunks were embedded; report them in file order.
    order = {p.doc.source: n for n, p in enumerate(plans)}
    for done in (report.added, report.updated):
        done.sort(key=lambda source: order[source])


def _even_batches(
    todo: list[tuple[_Plan, StoredChunk]], batch_size: int
) -> list[tuple[_Plan, StoredChunk]]:
    """The chunks sorted by length within windows of a few batches.

    The model pads a batch to its longest text, and a document's last chunk is often short:
    in document order, 9% of the tokens it saw were padding (100 MultiHop-RAG articles,
    batches of 64; 2% sorted in windows of 16 batches). A document is recorded once its last
    chunk is stored, at the latest at the end of its window; sorting within windows rather
    than across the whole run bounds how many documents an interruption leaves unrecorded
    (their stored chunks are not embedded again, but until the next run they are searchable
    without a record, old and new chunks of an updated file side by side).
    """
    window = batch_size * _SORT_WINDOW_BATCHES
    return [
        item
        for start in range(0, len(todo), window)
        for item in sorted(todo[start : start + window], key=lambda pc: len(pc[1].text))
    ]


def _finish(plan: _Plan, index: Index, fp: str, report: Report) -> None:
    """All of a document's new chunks are stored: refresh the metadata of the chunks it kept
    (front matter, file hash), drop its old ones, then record it."""
    index.refresh_metadata(plan.kept)
    index.delete_ids(sorted(plan.stale))
    report.chunks_deleted += len(plan.stale)
    doc = plan.doc
    index.records.put(
        DocRecord(
            doc.source,
            shown(doc.path),
            doc.sha256,
            fp,
            doc.title,
            plan.chunks,
            len(doc.text),
            time.time(),
        )
    )
    getattr(report, plan.status).append(doc.source)


def _prune(index: Index, found: Found, present: set[str], report: Report) -> None:
    """Delete the recorded documents below the paths given that were not found there.

    Only below them: a document ingested from elsewhere is not this run's to judge. Never
    below a folder that could not be read: its files may all still be there. Chunks without
    a record (an interrupted run) have no known path and are left to the next run or to
    ``--delete``.
    """
    roots = [shown(p) for p in found.roots]
    unreadable = [shown(p) for p in found.unreadable]
    for record in index.records.all():
        if (
            record.source not in present
            and any(is_under(record.path, root) for root in roots)
            and not any(is_under(record.path, folder) for folder in unreadable)
        ):
            report.chunks_deleted += index.delete_document(record.source)
            report.deleted.append(record.source)
