"""Ingestion end to end on a real Chroma: exact offsets, idempotence, updates, prune, failures."""

from __future__ import annotations

import shutil
from pathlib import Path

import chromadb
import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding

import ingest
from ingest.embeddings import SentenceTransformerEmbeddings
from ingest.settings import IndexSettings

from .conftest import SEED_FILE, SEEDS


class CountingEmbeddings(SentenceTransformerEmbeddings):
    """The real model, counting the texts it embeds (and failing on demand, to simulate a crash)."""

    def __init__(self, fail_after: int | None = None):
        super().__init__()
        self.embedded = 0
        self.fail_after = fail_after

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if self.fail_after is not None and self.embedded + len(texts) > self.fail_after:
            raise RuntimeError("simulated crash in the middle of ingestion")
        self.embedded += len(texts)
        return super().embed_documents(texts)


def _stored(index_dir: Path) -> dict[str, dict]:
    collection = chromadb.PersistentClient(str(index_dir / "chroma")).get_collection("documents")
    got = collection.get(include=["documents", "metadatas"])
    return {
        i: {"text": d, **m}
        for i, d, m in zip(got["ids"], got["documents"], got["metadatas"], strict=True)
    }


def _assert_exact(index_dir: Path, folder: Path) -> None:
    for chunk in _stored(index_dir).values():
        source_text = (folder / chunk["source"]).read_text(encoding="utf-8")
        body = chunk["text"][chunk["body_start"] :]
        assert body == source_text[chunk["start"] : chunk["end"]]


def test_seed_chunks_keep_exact_offsets_and_metadata(tmp_path: Path) -> None:
    settings = IndexSettings(index_dir=tmp_path / "idx")
    report = ingest.ingest([SEEDS], settings=settings, embeddings=CountingEmbeddings())
    assert report.added == [SEED_FILE.name] and report.ok
    chunks = _stored(tmp_path / "idx")
    assert len(chunks) == report.chunks_embedded >= 2
    _assert_exact(tmp_path / "idx", SEEDS)
    for chunk in chunks.values():
        assert chunk["title"] == "U.S. Strikes Strategic Mineral Deals in Asia"
        assert chunk["text"].startswith(chunk["title"] + "\n")
        assert len(chunk["sha256"]) == 64


def test_rerun_on_unchanged_files_embeds_nothing(tmp_path: Path) -> None:
    settings = IndexSettings(index_dir=tmp_path / "idx")
    ingest.ingest([SEEDS], settings=settings, embeddings=CountingEmbeddings())
    before = set(_stored(tmp_path / "idx"))
    counter = CountingEmbeddings()
    report = ingest.ingest([SEEDS], settings=settings, embeddings=counter)
    assert report.unchanged == [SEED_FILE.name]
    assert (report.added, report.updated, report.chunks_embedded, counter.embedded) == (
        [],
        [],
        0,
        0,
    )
    assert set(_stored(tmp_path / "idx")) == before


def test_changed_file_replaces_its_chunks_embedding_only_new_ones(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    doc = folder / "seed.txt"
    shutil.copy(SEED_FILE, doc)
    settings = IndexSettings(index_dir=tmp_path / "idx")
    first = ingest.ingest([folder], settings=settings, embeddings=CountingEmbeddings())
    text = doc.read_text(encoding="utf-8")
    doc.write_text(
        text.replace("Long Road Ahead", "Long Road Ahead\nA new sentence about tariffs was added."),
        encoding="utf-8",
    )
    counter = CountingEmbeddings()
    report = ingest.ingest([folder], settings=settings, embeddings=counter)
    assert report.updated == ["seed.txt"]
    assert 0 < counter.embedded < first.chunks_embedded, "unchanged chunks were embedded again"
    assert report.chunks_deleted == counter.embedded
    _assert_exact(tmp_path / "idx", folder)
    assert any("tariffs" in c["text"] for c in _stored(tmp_path / "idx").values())


def test_prune_removes_only_vanished_files(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "keep.txt").write_text("Keep this document. It has two sentences.")
    (folder / "gone.md").write_text("# Gone\nThis one will be deleted from disk.")
    settings = IndexSettings(index_dir=tmp_path / "idx")
    emb = CountingEmbeddings()
    ingest.ingest([folder], settings=settings, embeddings=emb)
    (folder / "gone.md").unlink()
    assert ingest.ingest([folder], settings=settings, embeddings=emb).deleted == []
    assert {c["source"] for c in _stored(tmp_path / "idx").values()} == {"keep.txt", "gone.md"}
    report = ingest.ingest([folder], settings=settings, embeddings=emb, prune=True)
    assert report.deleted == ["gone.md"] and report.unchanged == ["keep.txt"]
    assert {c["source"] for c in _stored(tmp_path / "idx").values()} == {"keep.txt"}


def test_broken_files_are_reported_and_the_rest_ingested(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "good.txt").write_text("A good document with one sentence.")
    latin1 = "Un caf\u00e9 au lait, s'il vous pla\u00eet.".encode("latin-1")
    (folder / "latin1.txt").write_bytes(latin1)
    (folder / "empty.md").write_text("")
    (folder / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (folder / "big.md").write_text("# Big\n" + "A sentence of filler text. " * 50_000)
    report = ingest.ingest(
        [folder, tmp_path / "nope"],
        settings=IndexSettings(index_dir=tmp_path / "idx", max_file_mb=1),
        embeddings=CountingEmbeddings(),
    )
    assert report.added == ["good.txt", "latin1.txt"]
    reasons = {Path(p).name: r for p, r in report.failed}
    assert reasons == {
        "empty.md": "empty file",
        "binary.txt": "binary content (NUL bytes) in a text file",
        "big.md": "file is 1.4 MB, over the 1 MB limit (QA_MAX_FILE_MB)",
        "nope": "no such file or folder",
    }
    assert not report.ok and "4 failed" in report.summary()


def test_interrupted_ingestion_is_completed_by_the_next_run(tmp_path: Path) -> None:
    """Chunks are embedded sorted by length within windows of batches (_even_batches), so
    documents finish at the end of a window: a crash in the second window keeps the documents
    of the first, and the next run embeds only the chunks that were not stored."""
    from ingest.pipeline import _SORT_WINDOW_BATCHES

    folder = tmp_path / "docs"
    folder.mkdir()
    for i in range(8):
        shutil.copy(SEED_FILE, folder / f"copy{i}.txt")
    settings = IndexSettings(index_dir=tmp_path / "idx", embedding_batch_size=1)
    window = _SORT_WINDOW_BATCHES  # chunks, at one a batch
    stored = window + 1  # the first window and one chunk of the second
    with pytest.raises(RuntimeError, match="simulated crash"):
        ingest.ingest([folder], settings=settings, embeddings=CountingEmbeddings(fail_after=stored))
    report = ingest.ingest([folder], settings=settings, embeddings=CountingEmbeddings())
    # Documents finished before the crash are kept; the rest are done now.
    assert report.unchanged and report.added + report.updated
    assert sorted(report.unchanged + report.added + report.updated) == [
        f"copy{i}.txt" for i in range(8)
    ]
    clean = tmp_path / "clean"
    first = ingest.ingest(
        [folder], settings=IndexSettings(index_dir=clean), embeddings=CountingEmbeddings()
    )
    assert first.chunks_embedded > stored, "the crash must come in the second window"
    assert report.chunks_embedded == first.chunks_embedded - stored, "stored chunks redone"
    assert set(_stored(tmp_path / "idx")) == set(_stored(clean)), (
        "duplicates or orphans after the crash"
    )


def test_another_model_is_refused_until_reindex(tmp_path: Path) -> None:
    settings = IndexSettings(index_dir=tmp_path / "idx")
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text("Some text to index. Another sentence.")
    ingest.ingest([folder], settings=settings, embeddings=CountingEmbeddings())
    other = DeterministicFakeEmbedding(size=384)
    with pytest.raises(ingest.IndexMismatchError, match="--reindex"):
        ingest.ingest([folder], settings=settings, embeddings=other)
    report = ingest.ingest([folder], settings=settings, embeddings=other, reindex=True)
    assert report.added == ["a.txt"]


def test_progress_is_reported_per_stage(tmp_path: Path) -> None:
    seen: list[tuple[str, int, int]] = []
    ingest.ingest(
        [SEEDS],
        settings=IndexSettings(index_dir=tmp_path / "idx", embedding_batch_size=2),
        embeddings=CountingEmbeddings(),
        on_progress=lambda *a: seen.append(a),
    )
    assert ("reading", 1, 1) in seen
    embedding = [s for s in seen if s[0] == "embedding"]
    assert len(embedding) >= 2 and embedding[-1][1] == embedding[-1][2]


def test_a_question_is_encoded_on_query_threads_and_the_count_restored() -> None:
    """embed_query runs torch on QUERY_THREADS threads (far faster on busy shared cores), gives
    the vector embed_documents gives, and leaves the process's thread count as it found it,
    also when encoding fails. The process starts from another count than QUERY_THREADS,
    whatever the machine's cores (on one core torch's default would be QUERY_THREADS itself)."""
    import torch

    from ingest.embeddings import QUERY_THREADS, torch_threads

    seen: list[int] = []

    class Recording(SentenceTransformerEmbeddings):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            seen.append(torch.get_num_threads())
            return super().embed_documents(texts)

    default = torch.get_num_threads()
    before = QUERY_THREADS + 1
    torch.set_num_threads(before)
    try:
        model = Recording()
        question = "What share of rare earth processing does China control?"
        vector = model.embed_query(question)
        assert seen == [QUERY_THREADS] and torch.get_num_threads() == before
        assert vector == pytest.approx(model.embed_documents([question])[0], abs=1e-5)
        assert seen[-1] == before  # a batch keeps the process's count
        inside: list[int] = []

        def failing() -> None:
            with torch_threads(QUERY_THREADS):
                inside.append(torch.get_num_threads())
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError, match="boom"):
            failing()
        assert inside == [QUERY_THREADS] and torch.get_num_threads() == before
    finally:
        torch.set_num_threads(default)


def test_chunks_are_embedded_in_batches_of_like_length_and_every_document_recorded(
    tmp_path: Path,
) -> None:
    """The model pads a batch to its longest text, so chunks go to it sorted by length within
    windows of a few batches (not in document order); each chunk is embedded once, and every
    document is still recorded with its exact chunks."""
    from ingest.pipeline import _SORT_WINDOW_BATCHES

    batches: list[list[str]] = []

    class Recording(DeterministicFakeEmbedding):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            batches.append(list(texts))
            return super().embed_documents(texts)

    folder = tmp_path / "docs"
    folder.mkdir()
    for n in range(12):  # documents of 1 to 12 sentences of rising length: ragged chunks
        sentences = [f"Sentence {i} of file {n} says {'more ' * (i + n)}." for i in range(n + 1)]
        (folder / f"doc{n:02d}.txt").write_text(" ".join(sentences), encoding="utf-8")
    settings = IndexSettings(index_dir=tmp_path / "idx", embedding_batch_size=2, chunk_tokens=64)
    report = ingest.ingest([folder], settings=settings, embeddings=Recording(size=16))

    embedded = [t for batch in batches for t in batch]
    window = 2 * _SORT_WINDOW_BATCHES
    assert len(embedded) == report.chunks_embedded > window, "the test needs several windows"
    assert sorted(embedded) == sorted(c["text"] for c in _stored(tmp_path / "idx").values())
    for start in range(0, len(embedded), window):
        lengths = [len(t) for t in embedded[start : start + window]]
        assert lengths == sorted(lengths)
    assert embedded != sorted(embedded, key=len), "one window only: nothing was tested"
    assert len(report.added) == 12 and report.ok
    _assert_exact(tmp_path / "idx", folder)
