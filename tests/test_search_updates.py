"""The search index follows the collection change by change, and stays equal to one built from
scratch: scores (bm25s's), after any sequence of changes, after a change cut short at any of
its writes, after a kill -9 of a real ingestion, and in server mode, where a client fetches
only the texts that changed and never a vector."""

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
import ingest.search_files as search_files
import ingest.search_segment as search_segment
from ingest import store
from ingest.search_files import Target, build, open_index, update
from ingest.search_index import words
from ingest.settings import IndexSettings
from ingest.store import Index, StoredChunk
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


def test_scores_are_those_of_bm25s(tmp_path: Path) -> None:
    """Known answer: bm25s ("lucene", k1 1.5, b 0.75), which the index used before it could
    grow, gives the same scores, a repeated query word counting twice; an empty chunk counts
    in the average length."""
    rng = random.Random(1)
    texts = [_text(rng) for _ in range(200)] + [""]
    ids = [str(i) for i in range(201)]
    index = build(tmp_path, ids, texts, [{}] * 201, np.eye(201))
    at = index.positions_of(ids)
    tokens = words(texts)
    vocab: dict[str, int] = {}
    numbers = [[vocab.setdefault(t, len(vocab)) for t in doc] for doc in tokens]
    reference = bm25s.BM25()
    reference.index(bm25s.tokenization.Tokenized(ids=numbers, vocab=vocab), show_progress=False)
    for query in ["rare earth rare earth", "Etna ash at Catania airport", "ferries to Capri"]:
        raw = np.asarray(reference.get_scores(words([query])[0]), dtype=np.float32)
        np.testing.assert_allclose(index.scores(query)[0][at], raw / raw.max(), rtol=2e-6)


class _Collection:
    """Chunks and a change log, as the store keeps them, for ``update`` to follow."""

    def __init__(self) -> None:
        self.stored: dict[str, tuple[str, dict[str, Any], np.ndarray]] = {}
        self.log: list[set[str]] = []

    def change(
        self, put: dict[str, tuple[str, dict[str, Any], np.ndarray]], drop: list[str]
    ) -> None:
        self.log.append(set(put) | set(drop))
        for i in drop:
            self.stored.pop(i, None)
        self.stored.update(put)

    def target(self, stamp: str = "") -> Target:
        return Target(stamp or f"s{len(self.log)}", len(self.log), 0, "c", vectors=True)

    def changes(self, after: int) -> tuple[set[str], search_files.Page]:
        touched = set().union(*self.log[after:])
        return touched, self.page(sorted(i for i in touched if i in self.stored))

    def page(self, ids: list[str] | None = None) -> search_files.Page:
        ids = sorted(self.stored) if ids is None else ids
        vectors = np.array([self.stored[i][2] for i in ids]).reshape(len(ids), -1)
        return ids, [self.stored[i][0] for i in ids], [self.stored[i][1] for i in ids], vectors

    def update(self, folder: Path) -> Any:
        return update(folder, self.target(), self.changes, lambda: [self.page()])[0]


def test_changes_one_by_one_equal_a_rebuild(tmp_path: Path) -> None:
    """Adds, replacements (an id stored again with another text) and deletions in random
    order, each written to disk as the store writes it: every score equals a rebuild's, the
    segments stay few, and each change wrote only its own chunks (no rebuild)."""
    rng = random.Random(0)
    collection = _Collection()
    folder = tmp_path / "search"
    for step in range(120):
        ids = list(dict.fromkeys(f"c{rng.randrange(400)}" for _ in range(rng.randint(1, 12))))
        vectors = np.random.default_rng(step).normal(size=(len(ids), 6))
        put = {i: (_text(rng), _meta(rng), v) for i, v in zip(ids, vectors, strict=True)}
        collection.change(put, [i for i in collection.stored if rng.random() < 0.03])
        index, rebuilt = update(
            folder, collection.target(), collection.changes, lambda: [collection.page()]
        )
        assert not rebuilt or step == 0
    rebuilt = build(tmp_path / "rebuilt", *collection.page())
    assert len(index.segments) <= 1 + int(np.log2(len(index)))
    assert_same_as_rebuilt(index, rebuilt, [t for t, _, _ in collection.stored.values()])


class _Cut(Exception):
    """A change stopped here, as by kill -9."""


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


def _cut_writes(monkeypatch: pytest.MonkeyPatch, cut_at: int) -> None:
    """Every write of a change to the search index (a segment's files, its rename, the state
    file and its rename) counts, and those past ``cut_at`` fail."""
    cutting = _cut_after(cut_at)
    monkeypatch.setattr(search_segment.np, "save", cutting(np.save))
    monkeypatch.setattr(search_segment.os, "replace", cutting(os.replace))
    monkeypatch.setattr(Path, "write_text", cutting(Path.write_text))


@pytest.mark.parametrize("cut_at", range(0, 44, 2))
def test_a_change_cut_short_anywhere_leaves_the_last_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cut_at: int
) -> None:
    """Every write of a change (a new segment's files, a merged segment's, the state) can be
    the last: the folder then opens as the state before, and the next change completes it
    and clears what was left."""
    rng = random.Random(cut_at)
    folder = tmp_path / "search"
    collection = _Collection()
    vector = np.ones(2)
    collection.change({"a": ("rare earth", {}, vector), "b": ("tide", {}, vector)}, [])
    collection.update(folder)
    collection.change({"c": (_text(rng), {}, vector), "d": ("glacier fjord", {}, vector)}, ["a"])
    _cut_writes(monkeypatch, cut_at)
    try:
        collection.update(folder)
        completed = True
    except _Cut:
        completed = False
    monkeypatch.undo()
    loaded = open_index(folder)
    assert loaded is not None
    assert loaded.stamp == ("s2" if completed else "s1")
    assert sorted(loaded.live_ids()) == (["b", "c", "d"] if completed else ["a", "b"])
    loaded = collection.update(folder)  # the next change (by anyone) completes it
    assert sorted(loaded.live_ids()) == ["b", "c", "d"]
    state = json.loads((folder / "state.json").read_text())
    named = {".lock", "state.json", *(s["name"] for s in state["segments"])}
    assert {p.name for p in folder.iterdir()} == named


def test_an_open_index_keeps_its_view_while_another_process_changes_it(tmp_path: Path) -> None:
    """A search holds the segments of the state it opened: a change that merges them away
    (and removes their folders) leaves its scores as they were; the next open sees the
    change."""
    folder = tmp_path / "search"
    collection = _Collection()
    vector = np.ones(2)
    collection.change({"a": ("rare earth plant", {}, vector)}, [])
    before = collection.update(folder)
    scores = before.scores("rare earth")[0].copy()
    collection.change({"b": ("rare earth protest", {}, vector)}, ["a"])  # merged: "a" goes
    after = collection.update(folder)
    assert not (folder / before.segments[0].name).exists()
    np.testing.assert_array_equal(before.scores("rare earth")[0], scores)
    assert before.live_ids() == ["a"] and after.live_ids() == ["b"]


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
    """The writer fetches the new document's chunks only and writes them as a segment of their
    own (the old segment files stay as they were), so a reader finds the index current on
    disk and fetches nothing; a deletion fetches nothing either."""
    folder, index_dir = tmp_path / "docs", tmp_path / "idx"
    settings = IndexSettings(index_dir=index_dir)
    _docs(folder, 6)
    ingest.ingest([folder], settings=settings, embeddings=embeddings)
    search = index_dir / "search-documents"
    before = {str(p.relative_to(search)): p.stat().st_mtime_ns for p in search.glob("seg-*/*")}
    reader = Index(settings, embeddings, create=False)
    total = len(reader.search_index())

    text = "Late news\nFerries to Capri ran late. Harbours filled."
    with Index(settings, embeddings) as writer:
        writer.add([StoredChunk("late-1", text, {"source": "late.txt", "start": 0, "end": 9})])
    assert writer.chunks_fetched == 1
    assert len(reader.search_index()) == total + 1
    after = {str(p.relative_to(search)): p.stat().st_mtime_ns for p in search.glob("seg-*/*")}
    assert {k: v for k, v in after.items() if k in before} == before
    assert len(list(search.glob("seg-*"))) == 2
    assert_search_index_matches_chroma(index_dir)

    assert ingest.delete_documents(["note2.md"], settings, embeddings)[0] == {"note2.md": 1}
    assert len(reader.search_index()) == total
    assert reader.chunks_fetched == 0  # every change was on disk before it searched
    assert_search_index_matches_chroma(index_dir)
    reader.close()


@pytest.mark.parametrize("cut_at", range(0, 40, 4))
def test_an_ingestion_cut_short_in_its_search_index_change_is_caught_up(
    tmp_path: Path,
    embeddings,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
    cut_at: int,
) -> None:
    """Every write of the change an ingestion makes to the search index as it closes can be
    the last: the folder then opens as the state before, and the next search catches up
    from the log."""
    folder, index_dir = tmp_path / "docs", tmp_path / "idx"
    settings = IndexSettings(index_dir=index_dir)
    _docs(folder, 3)
    ingest.ingest([folder], settings=settings, embeddings=embeddings)
    search = index_dir / "search-documents"
    old = (open_index(search) or pytest.fail("no index")).stamp
    (folder / "late.txt").write_text("Late news\nFerries to Capri ran late.\n", encoding="utf-8")
    real_update = search_files.update

    def cut_update(*args: Any, **kwargs: Any) -> Any:  # the cut starts with the change
        _cut_writes(monkeypatch, cut_at)
        return real_update(*args, **kwargs)

    monkeypatch.setattr(store.search_files, "update", cut_update)
    try:
        ingest.ingest([folder], settings=settings, embeddings=embeddings)
        completed = True
    except _Cut:
        completed = False
    monkeypatch.undo()
    loaded = open_index(search)
    assert loaded is not None and (loaded.stamp != old) == completed
    reader = Index(settings, embeddings, create=False)
    at = reader.search_index().positions_of(sorted(reader.chunk_ids("late.txt")))
    assert len(at) == 1 and at[0] >= 0
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
    search = index_dir / "search-documents"
    shutil.copytree(search, tmp_path / "old-search")
    reader = Index(settings, embeddings, create=False)
    total = len(reader.search_index())
    monkeypatch.setattr(store, "_LOG_SLACK", -(10**6))  # the log is trimmed at every close
    for i in range(3):
        (folder / f"more{i}.txt").write_text(f"More {i}\nSnow fell on the Alps {i} times.\n")
        ingest.ingest([folder], settings=settings, embeddings=embeddings)
    assert not reader.records.changes(0)[0], "the log was not trimmed"
    shutil.rmtree(search)
    shutil.copytree(tmp_path / "old-search", search)  # as of before the three changes
    fresh = Index(settings, embeddings, create=False)
    assert len(fresh.search_index()) == total + 3
    assert fresh.chunks_fetched == total + 3  # behind the floor: rebuilt
    assert_search_index_matches_chroma(index_dir)

    # Chunks an older version stored (no log entry, only a new stamp): counted, rebuilt.
    chroma = chromadb.PersistentClient(str(index_dir / "chroma")).get_collection("documents")
    got = chroma.get(ids=fresh.search_index().live_ids()[:1], include=["documents", "embeddings"])
    meta = {"source": "by-hand.txt", "start": 0, "end": 5}
    chroma.add(
        ids=["by-hand"], documents=got["documents"], embeddings=got["embeddings"], metadatas=[meta]
    )
    reader.records.set_meta("changed", "by an older version")
    assert fresh.search_index().positions_of(["by-hand"])[0] >= 0
    assert_search_index_matches_chroma(index_dir)
    reader.close()
    fresh.close()


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
    total = len(open_index(index_dir / "search-documents") or [])

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


class _Wire:
    """What Chroma's replies to this process carried, as counted on the wire."""

    def __init__(self) -> None:
        self.vectors = 0  # in any reply
        self.texts: dict[str, int] = {}  # collection id -> chunk texts read with get

    def clear(self) -> None:
        self.vectors, self.texts = 0, {}


@pytest.fixture
def wire(chroma_server: Server) -> Iterator[_Wire]:  # noqa: F811
    import httpx

    counts = _Wire()
    real = httpx.Client.send

    def send(self: httpx.Client, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        response = real(self, request, **kwargs)
        path = request.url.path
        if path.endswith(("/get", "/query")) and response.status_code == 200:
            response.read()
            got = response.json()
            rows = got.get("embeddings") or []
            counts.vectors += sum(map(len, rows)) if path.endswith("/query") else len(rows)
            if path.endswith("/get"):
                collection = path.rsplit("/", 2)[-2]
                texts = len(got.get("documents") or [])
                counts.texts[collection] = counts.texts.get(collection, 0) + texts
        return response

    httpx.Client.send = send  # type: ignore[method-assign]
    try:
        yield counts
    finally:
        httpx.Client.send = real  # type: ignore[method-assign]


@pytest.mark.slow
def test_a_client_of_a_server_downloads_no_vector_and_only_the_texts_that_changed(
    chroma_server: Server,  # noqa: F811
    wire: _Wire,
    tmp_path: Path,
    embeddings,  # type: ignore[no-untyped-def]
) -> None:
    """Two machines share a Chroma server: the one asking questions reads every chunk's text
    once for its keyword index, then after the other adds a document only that document's
    text, and after a deletion none (beside the passages it returns); the dense side is the
    server's own search, so no vector ever comes back. Its search index equals one built
    from the server's collection."""
    folder = tmp_path / "docs"
    _docs(folder, 8)
    writer = Settings(chroma_url=chroma_server.url, index_dir=tmp_path / "writer")
    ingest.ingest([folder], settings=writer, embeddings=embeddings)
    reader = Assistant(
        Settings(chroma_url=chroma_server.url, index_dir=tmp_path / "reader"), embeddings=embeddings
    )
    chunks = str(reader.index.collection.id)
    wire.clear()
    found = reader.retrieve("Ferries to Capri", k=1)
    total = len(reader.index.search_index())
    assert found and total > 10 and wire.vectors == 0
    assert wire.texts[chunks] == total + 2  # every text once, and the two best candidates

    (folder / "late.txt").write_text("Late news\nFerries to Capri ran late. Harbours filled.\n")
    assert ingest.ingest([folder], settings=writer, embeddings=embeddings).added == ["late.txt"]
    wire.clear()
    assert reader.retrieve("Ferries to Capri ran late", k=1)[0].source == "late.txt"
    assert wire.vectors == 0 and wire.texts[chunks] == 1 + 2  # its one chunk

    ingest.delete_documents(["note3.md"], writer, embeddings)
    wire.clear()
    reader.retrieve("Ferries to Capri", k=1)
    assert wire.vectors == 0 and wire.texts[chunks] == 2
    assert len(reader.index.search_index()) == total

    got = (
        chromadb.HttpClient(port=int(chroma_server.url.rsplit(":", 1)[1]))
        .get_collection("documents")
        .get(include=["documents", "metadatas"])
    )
    rebuilt = build(tmp_path / "rebuilt", got["ids"], got["documents"], got["metadatas"], None)
    assert_same_as_rebuilt(reader.index.search_index(), rebuilt, got["documents"])
