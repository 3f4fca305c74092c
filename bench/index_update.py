"""What one change costs a large index: adding a document, deleting one, and a reader catching up.

    python -m bench.index_update [--chunks 100000] [--repeats 5] [--work-dir DIR]

The index is made of MultiHop-RAG chunks, as ingestion cuts them (header included), copied
under new ids and document names up to ``--chunks``, each with a random unit vector: what is
timed is everything but the embedding model, which a new document pays for its own chunks
whatever the index. Then, ``--repeats`` times each:

- add: a new ``Index`` stores one held-out article's chunks with their vectors (``Index.put``,
  what ``ingest.ingest`` does after embedding) and closes, which brings the search index on
  disk up to date (as a ``python -m ingest`` run does: a segment of its own chunks);
- reader: an ``Index`` that has the search index open (a running chat) opens the changed
  state on its next search;
- delete: a new ``Index`` deletes that document and closes; then the reader again;
- and opening the saved search index (a new process's first search), and ``qa.retrieve`` p50
  over dev questions.

Prints medians in milliseconds. The same script runs against an older checkout of the code
(run it from that checkout with ``python -m bench.index_update``) for the before figures.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from .multihop_data import corpus, dev_queries, write_articles

DIMENSION = 384
HELD_OUT = 20  # articles kept out of the index: the documents added and deleted
_PUT_BATCH = 5000


def _chunks(folder: Path, embeddings: Any) -> list[Any]:
    """Each article's chunks as ingestion makes them (split only: nothing is embedded)."""
    from ingest.embeddings import token_facts
    from ingest.load import read_path
    from ingest.pipeline import chunk_document
    from ingest.settings import IndexSettings
    from ingest.split import SentenceChunker

    s = IndexSettings()
    chunker = SentenceChunker(token_facts(embeddings), s.chunk_tokens, s.chunk_overlap_tokens)
    return [chunk_document(read_path(f), chunker) for f in sorted(folder.iterdir())]


def _unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.normal(size=(n, DIMENSION)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _timed(fn: Any) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


def main(argv: list[str] | None = None) -> None:
    import ingest  # first: keeps Chroma's telemetry off

    from ingest.embeddings import SentenceTransformerEmbeddings  # isort: skip
    from ingest.store import Index, StoredChunk

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--questions", type=int, default=100)
    parser.add_argument("--work-dir", type=Path)
    args = parser.parse_args(argv)
    print(f"code: {Path(ingest.__file__).parent}")
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="index-update-"))
    shutil.rmtree(work / "index", ignore_errors=True)
    write_articles(work / "articles", corpus())
    embeddings = SentenceTransformerEmbeddings()
    docs = _chunks(work / "articles", embeddings)
    base, held = [c for d in docs[:-HELD_OUT] for c in d], docs[-HELD_OUT:]
    settings = ingest.IndexSettings(index_dir=work / "index")
    rng = np.random.default_rng(0)

    started = time.perf_counter()
    made = 0
    index = Index(settings, embeddings)
    while made < args.chunks:
        batch = []
        for c in base[: min(_PUT_BATCH, args.chunks - made)]:
            copy = made // len(base)
            meta = {**c.metadata, "source": f"copy{copy}/{c.metadata['source']}"}
            batch.append(StoredChunk(f"{c.id}-{copy}-{made}", c.text, meta))
            made += 1
        index.put(batch, _unit(rng, len(batch)))
    stored = time.perf_counter() - started
    first = _timed(index.close)  # the search index of everything, made on closing
    print(f"{made} chunks stored in {stored:.0f} s; search index made on closing: {first:.0f} ms")

    reader = Index(settings, embeddings, create=False)
    load = _timed(reader.search_index)
    times: dict[str, list[float]] = {k: [] for k in ("add", "read_add", "delete", "read_delete")}
    sizes = []
    for doc in held[: args.repeats]:
        vectors = _unit(rng, len(doc))
        sizes.append(len(doc))

        def add(doc: list[Any] = doc, vectors: np.ndarray = vectors) -> None:
            with Index(settings, embeddings) as writer:
                writer.put(doc, vectors)

        def delete(source: str = doc[0].metadata["source"]) -> None:
            with Index(settings, embeddings) as writer:
                writer.delete_document(source)

        times["add"].append(_timed(add))
        times["read_add"].append(_timed(reader.search_index))
        assert len(reader.search_index()) == made + len(doc)
        times["delete"].append(_timed(delete))
        times["read_delete"].append(_timed(reader.search_index))
        assert len(reader.search_index()) == made
    loads = [load] + [_timed(lambda: Index(settings, embeddings).search_index()) for _ in range(2)]

    from qa import Assistant, Settings

    assistant = Assistant(Settings(index_dir=work / "index", answer_mode="extractive"))
    asked = [q["query"] for q in dev_queries()[: args.questions]]
    for q in asked[:3]:
        assistant.retrieve(q, k=10)
    retrieve = [_timed(lambda q=q: assistant.retrieve(q, k=10)) for q in asked]

    def med(values: list[float]) -> str:
        spread = f"{min(values):.0f}-{max(values):.0f}"
        return f"{statistics.median(values):.0f} ms (of {len(values)}: {spread})"

    print(f"index of {made} chunks; documents added and deleted: {sizes} chunks")
    print(f"add one document (Index.put + close), beyond embedding: {med(times['add'])}")
    print(f"a reader opens the state after the addition (next search): {med(times['read_add'])}")
    print(f"delete one document (delete_document + close): {med(times['delete'])}")
    print(f"a reader opens the state after the deletion (next search): {med(times['read_delete'])}")
    print(f"open the saved search index (a new process's first search): {med(loads)}")
    print(f"qa.retrieve k=10, p50 over {len(retrieve)} dev questions: {med(retrieve)}")
    folder = work / "index" / "search-documents"
    size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 1e6
    print(f"search index on disk: {size:.0f} MB")


if __name__ == "__main__":
    main()
