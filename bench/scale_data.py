"""Synthetic collections of 1k to 1M chunks, for the scale curve (``bench/scale_curve.py``).

    python -m bench.scale_data --sizes 1000,10000,100000,1000000 [--work-dir out/scale]

The base is MultiHop-RAG's articles, chunked as ingestion cuts them and embedded once with
MiniLM (``base.npz`` in the work folder; embedding 1M texts would take about 13 hours on 2
cores). A synthetic document copies one base article: each of its chunks keeps the header
(title, publisher, date) and the metadata of the chunk it copies, but its body is that chunk's
sentences re-shuffled, a third of them swapped for sentences drawn from the whole corpus, and
its vector is the base chunk's real one plus Gaussian noise (a cosine of about 0.9 to it),
normalized. So words and meaning still agree chunk by chunk, as in a real collection, and
every publisher and day of the corpus recurs.

Each size is an index folder of its own (``index-<size>``), grown from the next smaller one
(copied), and written through the real store path: ``Index.put`` (the change log, then
Chroma's upsert) in batches of 5,000, then ``Index.close``, which makes the search index as a
``python -m ingest`` run does, with whichever code is imported (run it from an older checkout
for the older design's index). The last ``HELD_OUT`` articles are in no collection: they are
the documents the curve adds and deletes, with their real vectors.

For server mode, ``--serve DIR --chroma-url URL`` turns a Chroma server started on a copy of
``DIR/chroma`` into a server-mode index of those chunks (see ``serve``).
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .multihop_data import write_articles

HELD_OUT = 20  # articles kept out of every collection: the documents added and deleted
SWAPPED = 1 / 3  # of a synthetic chunk's sentences, drawn from the whole corpus instead
COSINE = 0.9  # a synthetic vector's expected cosine to the base vector it is drawn around
_PUT_BATCH = 5000  # chunks per Index.put, below Chroma's largest batch
DEFAULT_WORK = Path(__file__).resolve().parents[1] / "out" / "scale"


@dataclass
class Base:
    """The real chunks: per article, its chunks (``StoredChunk``) and their MiniLM vectors."""

    docs: list[list[Any]]
    vectors: list[np.ndarray]  # per article, (chunks, 384)
    sentences: list[str]  # every sentence of every chunk body, the pool for swaps

    @property
    def kept(self) -> int:
        return len(self.docs) - HELD_OUT


def base(work: Path) -> Base:
    """The corpus chunked as ingestion does it, with vectors (embedded once, then cached)."""
    from ingest.embeddings import SentenceTransformerEmbeddings, token_facts
    from ingest.load import read_path
    from ingest.pipeline import chunk_document
    from ingest.settings import IndexSettings
    from ingest.split import SentenceChunker
    from ingest.text import sentence_spans

    articles = work / "articles"
    if not articles.exists():
        write_articles(articles)
    embeddings = SentenceTransformerEmbeddings()
    s = IndexSettings()
    chunker = SentenceChunker(token_facts(embeddings), s.chunk_tokens, s.chunk_overlap_tokens)
    docs = [chunk_document(read_path(f), chunker) for f in sorted(articles.iterdir())]
    cache = work / "base.npz"
    ids = [c.id for d in docs for c in d]
    if cache.exists() and list(np.load(cache)["ids"]) == ids:
        flat = np.load(cache)["vectors"]
    else:
        started = time.perf_counter()
        flat = np.asarray(embeddings.embed_documents([c.text for d in docs for c in d]), np.float32)
        np.savez(cache, ids=np.array(ids), vectors=flat)
        print(f"embedded {len(ids)} base chunks in {time.perf_counter() - started:.0f} s")
    bounds = np.cumsum([0, *(len(d) for d in docs)])
    vectors = [flat[a:b] for a, b in itertools.pairwise(bounds)]
    sentences = [
        body[a:b]
        for d in docs
        for c in d
        for body in [c.text[c.metadata["body_start"] :]]
        for a, b in sentence_spans(body)
    ]
    return Base(docs, vectors, sentences)


def synthetic(b: Base, start: int = 0) -> Iterator[tuple[Any, np.ndarray]]:
    """Synthetic chunks with their vectors, from the ``start``-th on: copy 1 of every kept
    article in order, then copy 2, and so on (the n-th chunk is the same whatever ``start``)."""
    offsets = np.cumsum([0, *(len(d) for d in b.docs[: b.kept])])
    copy, rest = divmod(start, int(offsets[-1]))
    article = int(np.searchsorted(offsets, rest, side="right") - 1)
    number, skip = copy * b.kept + article, rest - int(offsets[article])
    while True:
        yield from _document(b, number, skip)
        number, skip = number + 1, 0


def _document(b: Base, number: int, skip: int) -> Iterator[tuple[Any, np.ndarray]]:
    """The chunks of synthetic document ``number`` (past the first ``skip``), drawn from a
    generator seeded by that number."""
    from ingest.store import StoredChunk
    from ingest.text import sentence_spans

    copy, article = divmod(number, b.kept)
    rng = np.random.default_rng(number)
    noise = np.sqrt((1 / COSINE**2 - 1) / b.vectors[article].shape[1])
    for j, (c, v) in enumerate(zip(b.docs[article], b.vectors[article], strict=True)):
        cut = c.metadata["body_start"]
        header, body = c.text[:cut], c.text[cut:]
        parts = [body[x:y] for x, y in sentence_spans(body)] or [body]
        rng.shuffle(parts)
        swap = rng.random(len(parts)) < SWAPPED
        picks = rng.integers(len(b.sentences), size=len(parts))
        drawn = zip(parts, swap, picks, strict=True)
        text = " ".join(b.sentences[p] if s else t for t, s, p in drawn)
        vector = v + rng.normal(0.0, noise, v.shape).astype(np.float32)
        if j < skip:
            continue  # drawn all the same, so that the generator is where it would be
        meta = {**c.metadata, "source": f"synth{copy + 1}/{c.metadata['source']}"}
        meta["end"] = meta["start"] + len(text)
        chunk = StoredChunk(f"{c.id}-{copy + 1}", header + text, meta)
        yield chunk, vector / np.linalg.norm(vector)


def grow(index_dir: Path, target: int, b: Base) -> float:
    """Store synthetic chunks until the collection holds ``target``; returns the seconds the
    closing took (the search index made or brought up to date)."""
    import ingest  # first: keeps Chroma's telemetry off

    from ingest.embeddings import SentenceTransformerEmbeddings  # isort: skip
    from ingest.store import Index

    settings = ingest.IndexSettings(index_dir=index_dir)
    index = Index(settings, SentenceTransformerEmbeddings())
    count = index.count()
    # Marked as changing from the start, so that closing makes the search index even when a
    # stopped build had stored every chunk and stopped while making it.
    index._changes([])
    made = synthetic(b, count)
    started = time.perf_counter()
    while count < target:
        batch = [next(made) for _ in range(min(_PUT_BATCH, target - count))]
        index.put([c for c, _ in batch], np.array([v for _, v in batch]))
        count += len(batch)
    print(f"{index_dir.name}: {count} chunks stored ({time.perf_counter() - started:.0f} s)")
    started = time.perf_counter()
    index.close()
    return time.perf_counter() - started


def build(work: Path, sizes: list[int]) -> list[Path]:
    """One index folder per size, each grown from a copy of the one before; a stopped build
    resumes where it stopped."""
    b = base(work)
    folders, before = [], None
    for size in sorted(sizes):
        folder = work / f"index-{size}"
        done = folder / "done"
        if not done.exists() or done.read_text().strip() != str(size):
            # A folder without its own mark is a stopped build of this size: it grows on from
            # the chunks it holds (``grow`` counts them). A copy carries the smaller size's
            # mark, so the mark is dropped at once and names the size only when it is reached.
            if not folder.exists() and before is not None:
                copying = folder.with_name(folder.name + ".copying")  # a stopped copy: again
                shutil.rmtree(copying, ignore_errors=True)
                shutil.copytree(before, copying)
                copying.rename(folder)
            done.unlink(missing_ok=True)
            closing = grow(folder, size, b)
            (folder / "done").write_text(f"{size}\n")
            print(f"{folder.name}: search index made on closing in {closing:.0f} s", flush=True)
        folders.append(folder)
        before = folder
    return folders


def serve(index_dir: Path, url: str) -> None:
    """Make a Chroma server that serves a copy of ``index_dir/chroma`` (``chroma run --path``)
    a server-mode index of the same chunks: the records collections beside it, with the
    document records and the collection's change stamp. (The chunks themselves are the
    copy's: storing 1M chunks again over HTTP would take hours.)"""
    import tempfile

    import ingest  # first: keeps Chroma's telemetry off

    from ingest.embeddings import SentenceTransformerEmbeddings  # isort: skip
    from ingest.records import SqliteRecords
    from ingest.store import Index

    embedded = SqliteRecords(index_dir / "records.sqlite")
    with tempfile.TemporaryDirectory() as local:
        settings = ingest.IndexSettings(index_dir=Path(local), chroma_url=url)
        index = Index(settings, SentenceTransformerEmbeddings())
        for record in embedded.all():
            index.records.put(record)
        index.records.set_metas({"changed": embedded.meta("changed") or "copied"})
        embedded.close()
        print(f"{url}: {index.count()} chunks, {len(index.records.all())} documents")
        index.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000,1000000")
    parser.add_argument("--work-dir", type=Path, default=DEFAULT_WORK)
    parser.add_argument("--serve", type=Path, help="an index folder a Chroma server serves")
    parser.add_argument("--chroma-url", help="that server (with --serve)")
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.chroma_url)
        return
    args.work_dir.mkdir(parents=True, exist_ok=True)
    build(args.work_dir, [int(s) for s in args.sizes.split(",")])


if __name__ == "__main__":
    main()
