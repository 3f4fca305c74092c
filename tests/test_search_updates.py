"""The search index follows the collection change by change, and stays equal to one built from
scratch: scores (bm25s's), after any sequence of changes, saved and loaded, after a save cut
short, after a kill -9 of a real ingestion, and in server mode, fetching only what changed."""

from __future__ import annotations

import json
import os
import random
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import bm25s
import chromadb
import numpy as np
import pytest
from chromadb.api.shared_system_client import SharedSystemClient

import ingest
import ingest.search_delta as search_delta
import ingest.search_files as search_files
from ingest import store
from ingest.search_index import SearchIndex, words
from ingest.settings import IndexSettings
from ingest.store import Index
from qa import Assistant, Settings

from .conftest import SEED_FILE
from .consistency import assert_same_as_rebuilt, assert_search_index_matches_chroma
from .test_crash import _ingest, _ingest_and_kill, _write_corpus
from .test_server import Server, chroma_server  # noqa: F401 (the fixture)

_WORDS = (
    "rare earth processing china lynas malaysia plant protest tide venice flood square ash etna "
    "airport catania boat harbour ferry capri snow alps pass closed glacier fjord"
).split()


def _text(rng: random.Random) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(rng.randint(0, 40)))


def _meta(rng: random.Random) -> dict[str, Any]:
    return {
        "source": f"doc{rng.randrange(9)}.txt",
        "publisher": rng.choice(["", "Island Times", "Harbour News"]),
        "published_day": 20231000 + rng.randint(1, 28),
    }


def test_scores_are_those_of_bm25s() -> None:
    """Known answer: bm25s ("lucene", k1 1.5, b 0.75), which the index used before it could
    grow, gives the same scores, a repeated query word counting twice; an empty chunk counts
    in the average length."""
    rng = random.Random(1)
    texts = [_text(rng) for _ in range(200)] + [""]
    index = SearchIndex.build("s", [str(i) for i in range(201)], texts, [{}] * 201, np.eye(201))
    tokens = words(texts)
    vocab: dict[str, int] = {}
    ids = [[vocab.setdefault(t, len(vocab)) for t in doc] for doc in tokens]
    reference = bm25s.BM25()
    reference.index(bm25s.tokenization.Tokenized(ids=ids, vocab=vocab), show_progress=False)
    for query in ["rare earth rare earth", "Etna ash at Catania airport", "ferries to Capri"]:
        raw = np.asarray(reference.get_scores(words([query])[0]), dtype=np.float32)
        np.testing.assert_allclose(index.scores(query)[0], raw / raw.max(), rtol=2e-6)


def test_changes_one_by_one_equal_a_rebuild(tmp_path: Path) -> None:
    """Adds, replacements (an id stored again with another text) and deletions in random
    order, saved and loaded again now and then: every score equals a rebuild's, and the
    segments stay few."""
    rng = random.Random(0)
    stored: dict[str, tuple[str, dict[str, Any], np.ndarray]] = {}
    index = SearchIndex.empty("s0")
    for step in range(120):
        ids = [f"c{rng.randrange(400)}" for _ in range(rng.randint(1, 12))]
        ids = list(dict.fromkeys(ids))
        texts, metas = [_text(rng) for _ in ids], [_meta(rng) for _ in ids]
        vectors = np.random.default_rng(step).normal(size=(len(ids), 6))
        drop = [i for i in stored if rng.random() < 0.03]
        index = index.apply(ids, texts, metas, vectors, drop, stamp=f"s{step}", seq=step)
        for i in drop:
            del stored[i]
        stored.update(zip(ids, zip(texts, metas, vectors, strict=True), strict=True))
        if step % 25 == 24:
            assert index.save(tmp_path / "search")
            loaded = SearchIndex.load(tmp_path / "search")
            assert loaded is not None and loaded.stamp == f"s{step}" and loaded.seq == step
            index = loaded
    order = sorted(stored)
    rebuilt = SearchIndex.build(
        "s",
        order,
        [stored[i][0] for i in order],
        [stored[i][1] for i in order],
        np.array([stored[i][2] for i in order]),
    )
    assert len(index.segments) <= 1 + int(np.log2(len(index)))
    assert_same_as_rebuilt(index, rebuilt, [stored[i][0] for i in order])


class _Cut(Exception):
    """A save stopped here, as by kill -9."""


def _cut_after(cut_at: int) -> Callable[[Any], Any]:
    """Wraps write functions so that, counted together, every write past ``cut_at`` fails."""
    writes = 0

    def cutting(real: Any) -> Any:
        def write(*args: Any, **kwargs: Any) -> Any:
            nonlocal writes
            writes += 1
            if writes > cut_at:
                raise _Cut
            return real(*args, **kwargs)

        return write

    return cutting


@pytest.mark.parametrize("cut_at", range(12))
def test_a_save_cut_short_anywhere_leaves_the_last_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cut_at: int
) -> None:
    """Every write of a save (terms, segment files, state) can be the last: the folder then
    loads as the state before, and the next save completes it and clears what was left."""
    rng = random.Random(cut_at)
    folder = tmp_path / "search"
    first = SearchIndex.build("old", ["a", "b"], ["rare earth", "tide"], [{}, {}], np.eye(2))
    assert first.save(folder)
    second = first.apply(
        ["c", "d"], [_text(rng), "glacier fjord"], [{}, {}], np.eye(2), ["a"], stamp="new", seq=1
    )
    cutting = _cut_after(cut_at)
    for name in ("save", "savez"):
        monkeypatch.setattr(search_files.np, name, cutting(getattr(np, name)))
    monkeypatch.setattr(search_files.os, "replace", cutting(search_files.os.replace))
    monkeypatch.setattr(Path, "write_text", cutting(Path.write_text))
    monkeypatch.setattr(search_files, "_save_terms", cutting(search_files._save_terms))
    try:
        second.save(folder)
        completed = True
    except _Cut:
        completed = False
    monkeypatch.undo()
    loaded = SearchIndex.load(folder)
    assert loaded is not None
    assert loaded.stamp == ("new" if completed else "old")
    assert sorted(loaded.ids) == (["b", "c", "d"] if completed else ["a", "b"])
    # The next save (by a process that made the index anew) leaves only what it names.
    assert second.apply([], [], [], [], [], stamp="new", seq=1).save(folder) or completed
    loaded = SearchIndex.load(folder)
    assert loaded is not None and sorted(loaded.ids) == ["b", "c", "d"]
    state = json.loads((folder / "state.json").read_text())
    named = {".lock", "state.json", *(s["name"] for s in state["segments"])}
    named |= {t[0] for t in state["terms"].values()}
    assert {p.name for p in folder.iterdir()} == named


def _docs(folder: Path, n: int) -> None:
    folder.mkdir(exist_ok=True)
    shutil.copy(SEED_FILE, folder / "seed.txt")
    rng = random.Random(n)
    for i in range(n):
        body = ". ".join(_text(rng).capitalize() for _ in range(4))
        (folder / f"note{i}.md").write_text(
            f"---\ntitle: Note {i}\nsource: {rng.choice(['Island Times', 'Harbour News'])}\n"
            f"published: 2023-10-{i % 28 + 1:02d}\n---\n{body}.\n",
            encoding="utf-8",
        )


def test_a_new_document_is_fetched_and_written_alone(tmp_path: Path, embeddings) -> None:  # type: ignore[no-untyped-def]
    """A reader holding the search index fetches the new document's chunks only, the writer
    saves them as a segment of their own (the old segment files stay as they were), and a
    deletion fetches nothing."""
    folder, index_dir = tmp_path / "docs", tmp_path / "idx"
    settings = IndexSettings(index_dir=index_dir)
    _docs(folder, 6)
    ingest.ingest([folder], settings=settings, embeddings=embeddings)
    search = index_dir / "search-documents"
    before = {str(p.relative_to(search)): p.stat().st_mtime_ns for p in search.glob("seg-*/*")}
    reader = Index(settings, embeddings, create=False)
    total = len(reader.search_index())
    assert reader.chunks_fetched == 0  # loaded from disk

    (folder / "late.txt").write_text("Late news\nFerries to Capri ran late. Harbours filled.\n")
    report = ingest.ingest([folder], settings=settings, embeddings=embeddings)
    assert report.added == ["late.txt"] and report.chunks_embedded == 1
    assert len(reader.search_index()) == total + 1
    assert reader.chunks_fetched == 1
    after = {str(p.relative_to(search)): p.stat().st_mtime_ns for p in search.glob("seg-*/*")}
    assert {k: v for k, v in after.items() if k in before} == before
    assert len(list(search.glob("seg-*"))) == 2
    assert_search_index_matches_chroma(index_dir)

    assert ingest.delete_documents(["note2.md"], settings, embeddings)[0] == {"note2.md": 1}
    assert len(reader.search_index()) == total
    assert reader.chunks_fetched == 1
    assert_search_index_matches_chroma(index_dir)
    reader.close()


def _deltas(search: Path) -> int:
    state = json.loads((search / "state.json").read_text())
    return sum("drop" in e for e in state["segments"])


def test_a_writer_appends_a_delta_without_loading_and_a_load_compacts_it(
    tmp_path: Path,
    embeddings,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Writers holding no search index (an addition, an update, a deletion) each append a
    delta: they load nothing and leave the saved segments as they were; the index loads equal
    to a rebuild, and the first process to load it writes the deltas back as ordinary
    segments. Past ``MAX_DELTAS`` a writer loads and compacts the index itself."""
    folder, index_dir = tmp_path / "docs", tmp_path / "idx"
    settings = IndexSettings(index_dir=index_dir)
    _docs(folder, 6)
    ingest.ingest([folder], settings=settings, embeddings=embeddings)
    search = index_dir / "search-documents"
    before = {str(p.relative_to(search)): p.stat().st_mtime_ns for p in search.glob("seg-*/*")}

    def no_load(*args: Any) -> None:
        raise AssertionError("a writer loaded the search index")

    monkeypatch.setattr(search_files, "_load", no_load)
    (folder / "late.txt").write_text("Late news\nFerries to Capri ran late. Harbours filled.\n")
    ingest.ingest([folder], settings=settings, embeddings=embeddings)
    (folder / "note1.md").write_text("---\ntitle: Note 1\n---\nSnow closed the pass.\n")
    ingest.ingest([folder], settings=settings, embeddings=embeddings)
    assert ingest.delete_documents(["note2.md"], settings, embeddings)[0] == {"note2.md": 1}
    (folder / "note2.md").unlink()
    monkeypatch.undo()
    assert _deltas(search) == 3
    after = {str(p.relative_to(search)): p.stat().st_mtime_ns for p in search.glob("seg-*/*")}
    assert {k: v for k, v in after.items() if k in before} == before
    assert_search_index_matches_chroma(index_dir)  # loaded with its deltas

    reader = Index(settings, embeddings, create=False)
    total = len(reader.search_index())
    assert reader.chunks_fetched == 0 and _deltas(search) == 0  # compacted, nothing fetched
    assert_search_index_matches_chroma(index_dir)
    reader.close()

    monkeypatch.setattr(search_delta, "MAX_DELTAS", 1)
    (folder / "later.txt").write_text("Later news\nThe glacier retreated.\n")
    ingest.ingest([folder], settings=settings, embeddings=embeddings)
    assert _deltas(search) == 1
    deleted = ingest.delete_documents(["later.txt", "late.txt"], settings, embeddings)[0]
    assert deleted == {"later.txt": 1, "late.txt": 1}
    assert _deltas(search) == 0  # the writer loaded it, took in its change and saved it whole
    assert_search_index_matches_chroma(index_dir)
    assert len(SearchIndex.load(search) or []) == total - 1


@pytest.mark.parametrize("cut_at", range(9))
def test_a_delta_cut_short_anywhere_leaves_the_last_state(
    tmp_path: Path,
    embeddings,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
    cut_at: int,
) -> None:
    """Every write of a delta (its files, the state) can be the last: the folder then loads
    as the state before, and the next search catches up from the log."""
    folder, index_dir = tmp_path / "docs", tmp_path / "idx"
    settings = IndexSettings(index_dir=index_dir)
    _docs(folder, 3)
    ingest.ingest([folder], settings=settings, embeddings=embeddings)
    search = index_dir / "search-documents"
    old = (SearchIndex.load(search) or SearchIndex.empty("")).stamp
    cutting = _cut_after(cut_at)
    for name in ("save", "savez"):
        monkeypatch.setattr(search_delta.np, name, cutting(getattr(np, name)))
    monkeypatch.setattr(search_delta.os, "replace", cutting(os.replace))
    (folder / "late.txt").write_text("Late news\nFerries to Capri ran late.\n", encoding="utf-8")
    monkeypatch.setattr(Path, "write_text", cutting(Path.write_text))
    try:
        ingest.ingest([folder], settings=settings, embeddings=embeddings)
        completed = True
    except _Cut:
        completed = False
    monkeypatch.undo()
    loaded = SearchIndex.load(search)
    assert loaded is not None and (loaded.stamp != old) == completed
    reader = Index(settings, embeddings, create=False)
    assert "late.txt" in set(reader.search_index().sources)
    reader.close()
    assert_search_index_matches_chroma(index_dir)


def test_a_reader_behind_the_trimmed_log_and_chunks_written_without_it_get_a_rebuild(
    tmp_path: Path,
    embeddings,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder, index_dir = tmp_path / "docs", tmp_path / "idx"
    settings = IndexSettings(index_dir=index_dir)
    _docs(folder, 3)
    ingest.ingest([folder], settings=settings, embeddings=embeddings)
    reader = Index(settings, embeddings, create=False)
    total = len(reader.search_index())
    monkeypatch.setattr(store, "_LOG_SLACK", -(10**6))  # the log is trimmed at every close
    for i in range(3):
        (folder / f"more{i}.txt").write_text(f"More {i}\nSnow fell on the Alps {i} times.\n")
        ingest.ingest([folder], settings=settings, embeddings=embeddings)
    assert not reader.records.changes(0)[0], "the log was not trimmed"
    assert len(reader.search_index()) == total + 3
    assert reader.chunks_fetched == total + 3  # behind the floor: rebuilt
    assert_search_index_matches_chroma(index_dir)

    # Chunks an older version stored (no log entry, only a new stamp): counted, rebuilt.
    chroma = chromadb.PersistentClient(str(index_dir / "chroma")).get_collection("documents")
    got = chroma.get(ids=[reader.search_index().ids[0]], include=["documents", "embeddings"])
    meta = {"source": "by-hand.txt", "start": 0, "end": 5}
    chroma.add(
        ids=["by-hand"], documents=got["documents"], embeddings=got["embeddings"], metadatas=[meta]
    )
    reader.records.set_meta("changed", "by an older version")
    assert "by-hand" in reader.search_index().position
    assert_search_index_matches_chroma(index_dir)
    reader.close()


@pytest.mark.slow
def test_adds_updates_deletes_and_kill_9_then_equal_to_a_rebuild(
    tmp_path: Path, embeddings
) -> None:  # type: ignore[no-untyped-def]
    """A real ingestion SIGKILLed half-way leaves logged changes the search index has not
    taken in: the next search replays them (fetching those chunks, not the collection) and
    equals a rebuild; so does every step around it. The changes run in other processes, as
    `python -m ingest` beside a chat would (each check opens Chroma afresh: a client keeps
    what it read of the files)."""
    folder, index_dir = tmp_path / "docs", tmp_path / "idx"

    def check() -> None:
        SharedSystemClient.clear_system_cache()
        assert_search_index_matches_chroma(index_dir)

    _write_corpus(folder, copies=8)
    assert _ingest(folder, index_dir).returncode == 0
    check()
    total = len(SearchIndex.load(index_dir / "search-documents") or [])

    _write_corpus(folder, version=2, copies=8)  # updates, a deletion, an addition
    assert _ingest_and_kill(folder, index_dir, 6, "--prune")
    SharedSystemClient.clear_system_cache()
    with pytest.raises(AssertionError, match="built before the last change"):
        assert_search_index_matches_chroma(index_dir)
    reader = Assistant(Settings(index_dir=index_dir), embeddings=embeddings)
    assert reader.retrieve("Revision 2 adds a line", k=1)  # catches up with the log
    assert 0 < reader.index.chunks_fetched < total
    check()
    reader.index.close()

    assert _ingest(folder, index_dir, "--prune").returncode == 0
    check()
    assert _ingest_and_kill(folder, index_dir, 4, "--reindex")
    assert _ingest(folder, index_dir).returncode == 0
    check()


@pytest.fixture
def wire(chroma_server: Server) -> Iterator[list[int]]:  # noqa: F811
    """Vectors in every Chroma reply to this process, as counted on the wire."""
    import httpx

    counts: list[int] = []
    real = httpx.Client.send

    def send(self: httpx.Client, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        response = real(self, request, **kwargs)
        if request.url.path.endswith("/get") and response.status_code == 200:
            response.read()
            counts.append(len(response.json().get("embeddings") or []))
        return response

    httpx.Client.send = send  # type: ignore[method-assign]
    try:
        yield counts
    finally:
        httpx.Client.send = real  # type: ignore[method-assign]


@pytest.mark.slow
def test_a_client_of_a_server_fetches_only_what_changed(
    chroma_server: Server,  # noqa: F811
    wire: list[int],
    tmp_path: Path,
    embeddings,  # type: ignore[no-untyped-def]
) -> None:
    """Two machines share a Chroma server: the one asking questions downloads every vector
    once, then after the other adds a document only that document's vectors, and after a
    deletion none; its search index equals one built from the server's collection."""
    folder = tmp_path / "docs"
    _docs(folder, 8)
    writer = Settings(chroma_url=chroma_server.url, index_dir=tmp_path / "writer")
    ingest.ingest([folder], settings=writer, embeddings=embeddings)
    reader = Assistant(
        Settings(chroma_url=chroma_server.url, index_dir=tmp_path / "reader"), embeddings=embeddings
    )
    wire.clear()
    assert reader.retrieve("Ferries to Capri", k=1)
    total = len(reader.index.search_index())
    assert sum(wire) == total > 10  # the first search: everything, once

    (folder / "late.txt").write_text("Late news\nFerries to Capri ran late. Harbours filled.\n")
    assert ingest.ingest([folder], settings=writer, embeddings=embeddings).added == ["late.txt"]
    wire.clear()
    assert reader.retrieve("Ferries to Capri ran late", k=1)[0].source == "late.txt"
    assert sum(wire) == 1  # its one chunk (and the passage returned carries no vector)

    ingest.delete_documents(["note3.md"], writer, embeddings)
    wire.clear()
    reader.retrieve("Ferries to Capri", k=1)
    assert sum(wire) == 0
    assert len(reader.index.search_index()) == total

    got = (
        chromadb.HttpClient(port=int(chroma_server.url.rsplit(":", 1)[1]))
        .get_collection("documents")
        .get(include=["documents", "metadatas", "embeddings"])
    )
    rebuilt = SearchIndex.build(
        "", got["ids"], got["documents"], got["metadatas"], np.asarray(got["embeddings"])
    )
    assert_same_as_rebuilt(reader.index.search_index(), rebuilt, got["documents"])
