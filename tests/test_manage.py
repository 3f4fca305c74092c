"""Looking after an index: --list, --delete, metadata refresh on update, model mismatches."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import chromadb
import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding

import ingest
from ingest.settings import IndexSettings
from qa import Assistant, Settings

from .conftest import ROOT


class Fake(DeterministicFakeEmbedding):
    """Same model id whatever its size: a model whose vectors changed size under one name."""


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text("Alpha document. It talks about apples and pears.")
    (folder / "sub").mkdir()
    (folder / "sub" / "b.md").write_text("# Beta\nBeta document about boats and harbours.")
    return folder


def _run(*args: str, index: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "QA_INDEX_DIR": str(index)}
    return subprocess.run(
        [sys.executable, "-m", "ingest", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_list_and_delete_from_the_command_line(tmp_path: Path) -> None:
    index = tmp_path / "idx"
    assert _run("-q", str(_folder(tmp_path)), index=index).returncode == 0
    listed = _run("--list", index=index)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["SOURCE", "CHUNKS", "INGESTED"]
    assert [ln.split()[:2] for ln in lines[1:3]] == [["a.txt", "1"], ["sub/b.md", "1"]]
    assert lines[3].startswith(f"2 documents, 2 chunks in the index in {index}")
    assert "all-MiniLM-L6-v2 (384 dimensions)" in lines[3]
    data = json.loads(_run("--list", "--json", index=index).stdout)
    assert [(d["source"], d["chunks"], d["title"]) for d in data["documents"]] == [
        ("a.txt", 1, "Alpha document. It talks about apples and pears."),
        ("sub/b.md", 1, "Beta"),
    ]
    assert data["dimension"] == 384 and data["incomplete"] == {}

    deleted = _run("--delete", "sub/b.md", index=index)
    assert deleted.returncode == 0 and deleted.stdout.strip() == "deleted: sub/b.md (1 chunks)"
    missing = _run("--delete", "sub/b.md", "--delete", "a.txt", index=index)
    assert missing.returncode == 1
    assert "failed: sub/b.md: not in the index (see --list)" in missing.stderr
    assert "deleted: a.txt (1 chunks)" in missing.stdout
    assert _run("--list", index=index).stdout.splitlines()[1].startswith("0 documents, 0 chunks")

    nowhere = _run("--list", index=tmp_path / "none")
    assert nowhere.returncode == 2 and "no index in" in nowhere.stderr
    both = _run("--list", "docs", index=index)
    assert both.returncode == 2 and "take no PATHs" in both.stderr


def test_unrecorded_chunks_show_as_incomplete_until_the_next_run(
    tmp_path: Path, embeddings
) -> None:  # type: ignore[no-untyped-def]
    folder = _folder(tmp_path)
    settings = IndexSettings(index_dir=tmp_path / "idx")
    ingest.ingest([folder], settings=settings, embeddings=embeddings)
    # What a crash between storing a document's chunks and recording it leaves behind.
    db = sqlite3.connect(tmp_path / "idx" / "records.sqlite")
    with db:
        db.execute("DELETE FROM documents WHERE source = 'a.txt'")
    db.close()
    listing = ingest.list_documents(settings)
    assert [d.source for d in listing.documents] == ["sub/b.md"]
    assert listing.incomplete == {"a.txt": 1}
    report = ingest.ingest([folder], settings=settings, embeddings=embeddings)
    assert report.updated == ["a.txt"] and report.chunks_embedded == 0
    assert ingest.list_documents(settings).incomplete == {}


def test_a_changed_front_matter_reaches_the_chunks_it_did_not_move(
    tmp_path: Path, embeddings
) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "docs"
    folder.mkdir()
    doc = folder / "n.md"
    doc.write_text("---\nauthor: Anna\nyear: 1\n---\n# Notes\nSome notes on rivers.\n")
    settings = IndexSettings(index_dir=tmp_path / "idx")
    ingest.ingest([folder], settings=settings, embeddings=embeddings)
    # Same length: the chunk keeps its offsets and id, so it is not embedded again.
    doc.write_text("---\nauthor: Olga\nyeaR: 2\n---\n# Notes\nSome notes on rivers.\n")
    report = ingest.ingest([folder], settings=settings, embeddings=embeddings)
    assert report.updated == ["n.md"] and report.chunks_embedded == 0
    got = (
        chromadb.PersistentClient(str(tmp_path / "idx" / "chroma"))
        .get_collection("documents")
        .get(include=["metadatas"])
    )
    (meta,) = got["metadatas"]
    assert meta["author"] == "Olga" and meta["yeaR"] == 2 and "year" not in meta


def test_another_model_is_refused_for_ingesting_and_for_querying(
    tmp_path: Path, embeddings
) -> None:  # type: ignore[no-untyped-def]
    folder = _folder(tmp_path)
    index = tmp_path / "idx"
    ingest.ingest([folder], settings=IndexSettings(index_dir=index), embeddings=embeddings)
    meta = chromadb.PersistentClient(str(index / "chroma")).get_collection("documents").metadata
    assert meta == {
        "embedding_model": "sentence-transformers:all-MiniLM-L6-v2",
        "embedding_dimension": 384,
    }
    before = _contents(index)
    other_model = DeterministicFakeEmbedding(size=384)  # same size: only the model tells
    (folder / "c.txt").write_text("A third document arrives.")
    with pytest.raises(
        ingest.IndexMismatchError, match=r"built with sentence-transformers.*--reindex"
    ):
        ingest.ingest([folder], settings=IndexSettings(index_dir=index), embeddings=other_model)
    assert _contents(index) == before  # nothing written with the other model
    other = Assistant(Settings(index_dir=index), embeddings=other_model)
    with pytest.raises(
        ingest.IndexMismatchError, match=r"built with sentence-transformers.*--reindex"
    ):
        other.ask("What about apples?")


def _contents(index: Path) -> tuple[object, ...]:
    """The chunks (ids, texts, vectors) and document records of an index."""
    got = (
        chromadb.PersistentClient(str(index / "chroma"))
        .get_collection("documents")
        .get(include=["documents", "embeddings"])
    )
    db = sqlite3.connect(index / "records.sqlite")
    records = sorted(db.execute("SELECT source, sha256, fingerprint, chunks FROM documents"))
    db.close()
    vectors = [[round(float(x), 6) for x in v] for v in got["embeddings"]]
    return got["ids"], got["documents"], vectors, records


def test_vectors_of_another_size_are_refused_for_ingesting_and_for_querying(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    index = tmp_path / "idx"
    ingest.ingest([folder], settings=IndexSettings(index_dir=index), embeddings=Fake(size=384))
    (folder / "c.txt").write_text("A third document arrives.")
    resized = Fake(size=16)
    with pytest.raises(
        ingest.IndexMismatchError, match=r"384-dimensional vectors .* 16-dimensional.*--reindex"
    ):
        ingest.ingest([folder], settings=IndexSettings(index_dir=index), embeddings=resized)
    assistant = Assistant(Settings(index_dir=index), embeddings=resized)
    with pytest.raises(ingest.IndexMismatchError, match=r"16-dimensional.*--reindex"):
        assistant.retrieve("apples")
    report = ingest.ingest(
        [folder], settings=IndexSettings(index_dir=index), embeddings=resized, reindex=True
    )
    assert sorted(report.added) == ["a.txt", "c.txt", "sub/b.md"]
    rebuilt = Assistant(Settings(index_dir=index), embeddings=resized)
    assert len(rebuilt.retrieve("apples")) == 3
