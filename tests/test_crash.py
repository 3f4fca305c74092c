"""Crash safety, for real: the ingestion process is SIGKILLed mid-way and run again, and the
index must equal the one a clean run builds (no duplicate chunks, no orphans, same records).
Two ingestions at once on one index: the second is turned away with a clear message."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import chromadb
import pytest

import ingest
from ingest.lock import writer_lock
from ingest.settings import IndexSettings

from .conftest import ROOT, SEED_FILE
from .consistency import assert_search_index_matches_chroma

pytestmark = pytest.mark.slow

_EMBEDDED = re.compile(r"embedding:\s+\d+%\|[^|]*\|\s*(\d+)/(\d+)")


def _write_corpus(folder: Path, version: int = 1, copies: int = 6) -> None:
    """Copies of the seed article, each made distinct, so there are many chunks to embed."""
    folder.mkdir(exist_ok=True)
    seed = SEED_FILE.read_text(encoding="utf-8")
    for i in range(copies):
        text = f"Briefing {i}: {seed}"
        if version == 2 and i % 2 == 0:
            text = text.replace("Long Road Ahead", f"Long Road Ahead\nRevision {i} adds a line.")
        (folder / f"brief{i:02d}.txt").write_text(text, encoding="utf-8")
    if version == 2:
        (folder / "brief01.txt").unlink()
        (folder / "new.md").write_text("# New\nA document that arrived with the update.\n")


def _env(index: Path) -> dict[str, str]:
    return {**os.environ, "QA_INDEX_DIR": str(index), "QA_EMBEDDING_BATCH_SIZE": "2"}


def _ingest(folder: Path, index: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ingest", "-q", str(folder), *extra],
        cwd=ROOT,
        env=_env(index),
        capture_output=True,
        text=True,
        timeout=600,
    )


def _ingest_and_kill(folder: Path, index: Path, after_chunks: int, *extra: str) -> bool:
    """Run an ingestion and SIGKILL it once it has embedded ``after_chunks`` chunks (by its
    progress bar); False when it finished before that."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "ingest", str(folder), *extra],
        cwd=ROOT,
        env=_env(index),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None
    seen = b""
    killed = False
    while chunk := proc.stderr.read1(4096):  # type: ignore[attr-defined]
        seen += chunk
        done = [int(d) for d, _ in _EMBEDDED.findall(seen.decode(errors="replace"))]
        if done and max(done) >= after_chunks:
            os.kill(proc.pid, signal.SIGKILL)
            killed = True
            break
    proc.wait(timeout=60)
    proc.stderr.close()
    return killed


def snapshot(index: Path) -> dict[str, Any]:
    """Everything an index holds that does not depend on when it was built."""
    collection = chromadb.PersistentClient(str(index / "chroma")).get_collection("documents")
    got = collection.get(include=["documents", "metadatas"])
    chunks = {
        i: (d, tuple(sorted(m.items())))
        for i, d, m in zip(got["ids"], got["documents"], got["metadatas"], strict=True)
    }
    db = sqlite3.connect(index / "records.sqlite")
    records = {
        row[0]: row[1:]
        for row in db.execute(
            "SELECT source, path, sha256, fingerprint, title, chunks, chars FROM documents"
        )
    }
    db.close()
    # No duplicates: one chunk per place in a document; no orphans: every chunk's document is
    # recorded with exactly as many chunks as are stored.
    places = [(m["source"], m.get("page"), m["start"], m["end"]) for m in got["metadatas"]]
    assert len(places) == len(set(places)) == collection.count()
    per_source: dict[str, int] = {}
    for source, *_ in places:
        per_source[source] = per_source.get(source, 0) + 1
    assert per_source == {s: r[4] for s, r in records.items()}
    return {"chunks": chunks, "records": records}


def assert_same_index(index: Path, clean: Path) -> None:
    assert_search_index_matches_chroma(index)
    got, want = snapshot(index), snapshot(clean)
    assert got["records"] == want["records"]
    assert sorted(got["chunks"]) == sorted(want["chunks"]), "different chunk ids"
    for i, value in want["chunks"].items():
        assert got["chunks"][i] == value, i


def _clean(folder: Path, index: Path, embeddings: Any) -> None:
    report = ingest.ingest([folder], settings=IndexSettings(index_dir=index), embeddings=embeddings)
    assert report.ok and not report.unchanged


def _recorded(index: Path) -> int:
    db = sqlite3.connect(index / "records.sqlite")
    (n,) = db.execute("SELECT count(*) FROM documents").fetchone()
    db.close()
    return int(n)


def test_sigkill_at_any_point_then_rerun_equals_a_clean_run(tmp_path: Path, embeddings) -> None:  # type: ignore[no-untyped-def]
    """Chunks are embedded in windows of 16 batches (32 chunks here), and documents finish
    at the end of a window: the first kill comes in the second window, after the first
    window's documents were recorded; the third window's documents are never touched."""
    folder, index, clean = tmp_path / "docs", tmp_path / "idx", tmp_path / "clean"
    _write_corpus(folder, copies=20)  # 80 chunks
    # Killed twice, at different points, before a run is let finish.
    assert _ingest_and_kill(folder, index, after_chunks=40)
    assert 0 < _recorded(index) < 20
    assert _ingest_and_kill(folder, index, after_chunks=2)
    assert _recorded(index) < 20, "the kills came too late to test anything"
    settings = IndexSettings(index_dir=index, embedding_batch_size=2)
    rerun = ingest.ingest([folder], settings=settings, embeddings=embeddings)
    assert rerun.ok and rerun.unchanged and rerun.added
    _clean(folder, clean, embeddings)
    assert_same_index(index, clean)


def test_sigkill_during_an_update_with_prune_then_rerun_equals_a_clean_run(
    tmp_path: Path,
    embeddings,  # type: ignore[no-untyped-def]
) -> None:
    folder, index, clean = tmp_path / "docs", tmp_path / "idx", tmp_path / "clean"
    _write_corpus(folder, version=1)
    assert _ingest(folder, index).returncode == 0
    _write_corpus(folder, version=2)  # three files changed, one gone, one new
    assert _ingest_and_kill(folder, index, 2, "--prune")
    settings = IndexSettings(index_dir=index, embedding_batch_size=2)
    rerun = ingest.ingest([folder], settings=settings, embeddings=embeddings, prune=True)
    assert rerun.ok
    _clean(folder, clean, embeddings)
    assert_same_index(index, clean)


def test_a_second_ingestion_is_turned_away_while_one_runs(tmp_path: Path, embeddings) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text("Some text. More text.")
    index = tmp_path / "idx"
    settings = IndexSettings(index_dir=index)
    assert ingest.ingest([folder], settings=settings, embeddings=embeddings).added == ["a.txt"]
    (folder / "b.txt").write_text("Another text. It waits.")
    with writer_lock(settings):
        run = _ingest(folder, index)
        with pytest.raises(ingest.IndexBusyError, match=f"pid {os.getpid()}"):
            ingest.ingest([folder], settings=settings, embeddings=embeddings)
        with pytest.raises(ingest.IndexBusyError):
            ingest.delete_documents(["a.txt"], settings, embeddings)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert f"another ingestion is writing to the index in {index} (pid {os.getpid()}" in (
        run.stderr
    )
    # The lock is free again, and nothing was written while it was held.
    report = ingest.ingest([folder], settings=settings, embeddings=embeddings)
    assert (report.added, report.unchanged) == (["b.txt"], ["a.txt"])
    assert ingest.delete_documents(["a.txt"], settings, embeddings) == ({"a.txt": 1}, [])


def test_two_ingestions_started_together_are_kept_apart(tmp_path: Path, embeddings) -> None:  # type: ignore[no-untyped-def]
    """Both start at once. The first to embed holds the lock: it is paused there (SIGSTOP), so
    the other cannot merely come after it: it must be turned away, naming the holder (a lock
    that does nothing lets it ingest meanwhile). Resumed, the first completes a clean index."""
    folder, index, clean = tmp_path / "docs", tmp_path / "idx", tmp_path / "clean"
    _write_corpus(folder)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "ingest", str(folder)],  # with progress bars, on stderr
            cwd=ROOT,
            env=_env(index),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    errors = [b"", b""]
    paused: list[int] = []  # which one was paused while embedding
    choosing = threading.Lock()
    embedding = threading.Event()

    def watch(i: int) -> None:
        stream = procs[i].stderr
        assert stream is not None
        while chunk := stream.read1(4096):  # type: ignore[attr-defined]
            errors[i] += chunk
            if _EMBEDDED.search(errors[i].decode(errors="replace")):
                with choosing:
                    if not paused:
                        os.kill(procs[i].pid, signal.SIGSTOP)
                        paused.append(i)
                        embedding.set()

    threads = [threading.Thread(target=watch, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    try:
        assert embedding.wait(600), f"neither run reached embedding: {errors}"
        holder, other = procs[paused[0]], procs[1 - paused[0]]
        try:
            code = other.wait(timeout=120)  # turned away at once; not left waiting
        except subprocess.TimeoutExpired:
            code = None
        threads[1 - paused[0]].join(timeout=60)
        said = errors[1 - paused[0]].decode(errors="replace")
        assert code == 2, (
            f"the second run was not turned away while the first held the lock: {said}"
        )
        assert f"another ingestion is writing to the index in {index} (pid {holder.pid}, " in said
        assert "Traceback" not in said
        os.kill(holder.pid, signal.SIGCONT)
        assert holder.wait(timeout=600) == 0, errors[paused[0]].decode(errors="replace")
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()  # also a paused one
                proc.wait()
        for t in threads:
            t.join()
        for proc in procs:
            assert proc.stderr is not None
            proc.stderr.close()
    assert "Traceback" not in errors[paused[0]].decode(errors="replace")
    _clean(folder, clean, embeddings)
    assert_same_index(index, clean)
