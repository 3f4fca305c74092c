"""The search index (BM25 and vectors) stays consistent with Chroma through every change."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

import ingest
from ingest.search_files import build, open_index
from ingest.settings import IndexSettings
from qa import Assistant, Settings

from .conftest import SEED_FILE
from .consistency import assert_search_index_matches_chroma


def _docs(folder: Path) -> None:
    folder.mkdir(exist_ok=True)
    shutil.copy(SEED_FILE, folder / "seed.txt")
    (folder / "volcano.md").write_text(
        "---\ntitle: Etna erupts\nsource: Island Times\npublished: 2023-10-05\n---\n"
        "Mount Etna erupted again on Thursday. Ash closed Catania airport for a day.\n",
        encoding="utf-8",
    )
    (folder / "tide.txt").write_text(
        "Tide tables\nHigh tide in Venice came at noon. The square flooded.\n"
    )


def test_consistent_after_ingest_update_prune_and_delete(tmp_path: Path, embeddings) -> None:  # type: ignore[no-untyped-def]
    folder, index = tmp_path / "docs", tmp_path / "idx"
    settings = IndexSettings(index_dir=index)
    _docs(folder)
    ingest.ingest([folder], settings=settings, embeddings=embeddings)
    assert_search_index_matches_chroma(index)

    (folder / "tide.txt").write_text(
        "Tide tables\nLow tide in Venice came at dawn. Boats waited.\n"
    )
    assert ingest.ingest([folder], settings=settings, embeddings=embeddings).updated == ["tide.txt"]
    assert_search_index_matches_chroma(index)

    (folder / "volcano.md").unlink()
    report = ingest.ingest([folder], settings=settings, embeddings=embeddings, prune=True)
    assert report.deleted == ["volcano.md"]
    assert_search_index_matches_chroma(index)

    assert ingest.delete_documents(["tide.txt"], settings, embeddings)[0] == {"tide.txt": 1}
    assert_search_index_matches_chroma(index)
    search = open_index(index / "search-documents")
    assert search is not None
    assert set(search.sources_at(np.flatnonzero(search.alive))) == {"seed.txt"}


def test_unchanged_rerun_keeps_the_search_index_as_it_is(tmp_path: Path, embeddings) -> None:  # type: ignore[no-untyped-def]
    folder, index = tmp_path / "docs", tmp_path / "idx"
    _docs(folder)
    settings = IndexSettings(index_dir=index)
    ingest.ingest([folder], settings=settings, embeddings=embeddings)
    before = _files(index / "search-documents")
    assert ingest.ingest([folder], settings=settings, embeddings=embeddings).chunks_embedded == 0
    assert _files(index / "search-documents") == before


def _files(folder: Path) -> dict[str, int]:
    """Every file under the folder with its modification time."""
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*")}


def test_a_failed_ingestion_leaves_a_stale_index_that_the_next_search_rebuilds(
    tmp_path: Path,
    embeddings,  # type: ignore[no-untyped-def]
) -> None:
    folder, index = tmp_path / "docs", tmp_path / "idx"
    _docs(folder)
    ingest.ingest([folder], settings=IndexSettings(index_dir=index), embeddings=embeddings)
    (folder / "more.txt").write_text("Ferries to Capri ran late. The harbour was crowded.\n")
    (folder / "later.txt").write_text("Snow fell on the Alps. Passes closed at night.\n")

    class Crashing(type(embeddings)):  # type: ignore[misc]
        calls = 0

        def embed_documents(self, texts):  # type: ignore[no-untyped-def]
            Crashing.calls += 1
            if Crashing.calls > 1:
                raise RuntimeError("simulated crash")
            return super().embed_documents(texts)

    settings = IndexSettings(index_dir=index, embedding_batch_size=1)
    with pytest.raises(RuntimeError, match="simulated crash"):
        ingest.ingest([folder], settings=settings, embeddings=Crashing())
    with pytest.raises(AssertionError, match="built before the last change"):
        assert_search_index_matches_chroma(index)
    # A reader notices and rebuilds: the chunk stored before the crash is found by its words.
    assistant = Assistant(Settings(index_dir=index), embeddings=embeddings)
    assert assistant.retrieve("snow on the Alps, passes closed", k=1)[0].source == "later.txt"
    assert_search_index_matches_chroma(index)


def test_a_missing_search_index_folder_is_rebuilt_on_first_search(
    tmp_path: Path, embeddings
) -> None:  # type: ignore[no-untyped-def]
    folder, index = tmp_path / "docs", tmp_path / "idx"
    _docs(folder)
    ingest.ingest([folder], settings=IndexSettings(index_dir=index), embeddings=embeddings)
    shutil.rmtree(index / "search-documents")
    assistant = Assistant(Settings(index_dir=index), embeddings=embeddings)
    assert assistant.retrieve("Etna ash Catania", k=1)[0].source == "volcano.md"
    assert_search_index_matches_chroma(index)


def test_chunks_stored_with_their_own_vectors_are_found_by_both_searches(
    tmp_path: Path,
    embeddings,  # type: ignore[no-untyped-def]
) -> None:
    """Index.put stores vectors computed elsewhere (no embedding); the collection's stamp
    moves on, so the search index takes the new chunks in, and the dense side uses the
    vectors as given."""
    from ingest.store import Index, StoredChunk

    folder, index_dir = tmp_path / "docs", tmp_path / "idx"
    _docs(folder)
    settings = IndexSettings(index_dir=index_dir)
    ingest.ingest([folder], settings=settings, embeddings=embeddings)
    text = "Glacier\nThe glacier calved into the fjord at dawn."
    vector = embeddings.embed_documents([text])[0]
    chunk = StoredChunk("glacier-1", text, {"source": "glacier.txt", "start": 0, "end": 40})
    with (
        Index(settings, embeddings, create=False) as index,
        pytest.raises(ValueError, match="1 chunks but 2 vectors"),  # our message, not Chroma's
    ):
        index.put([chunk], [vector, vector])
    assert_search_index_matches_chroma(index_dir)
    with Index(settings, embeddings, create=False) as index:
        index.put([chunk], [vector])
        stored = index.collection.get(ids=["glacier-1"], include=["embeddings"])
        assert list(stored["embeddings"][0]) == pytest.approx(vector)
    assert_search_index_matches_chroma(index_dir)
    passages = Assistant(Settings(index_dir=index_dir), embeddings=embeddings).retrieve(
        "glacier fjord", k=1
    )
    assert [p.id for p in passages] == ["glacier-1"]
    assert passages[0].similarity == pytest.approx(
        float(sum(a * b for a, b in zip(vector, embeddings.embed_query("glacier fjord"))))  # noqa: B905
    )


def test_indexes_of_earlier_versions_are_rebuilt_and_their_files_removed(
    tmp_path: Path,
    embeddings,  # type: ignore[no-untyped-def]
) -> None:
    """Earlier versions kept BM25 alone in keyword-<collection>/, then a bm25s index with
    the vectors in search-<collection>/ (fields.json, vectors.npy, words/, pairs/), then
    segments over a shared vocabulary (state.json of format 3, terms files): each is rebuilt
    on first search, and its files go."""
    folder, index = tmp_path / "docs", tmp_path / "idx"
    _docs(folder)
    ingest.ingest([folder], settings=IndexSettings(index_dir=index), embeddings=embeddings)
    search = index / "search-documents"
    shutil.rmtree(search)
    (index / "keyword-documents" / "words").mkdir(parents=True)
    (search / "words").mkdir(parents=True)
    (search / "fields.json").write_text('{"stamp": "x", "ids": []}')
    np.save(search / "vectors.npy", np.zeros((0, 384), dtype=np.float32))
    (search / "words-0123.terms").write_text("rare\nearth\n")
    (search / "state.json").write_text('{"format": 3, "token": "t", "stamp": "x", "segments": []}')
    assert open_index(search) is None  # not an index of this version
    assistant = Assistant(Settings(index_dir=index), embeddings=embeddings)
    assert assistant.retrieve("Etna ash Catania", k=1)[0].source == "volcano.md"
    assert not (index / "keyword-documents").exists()
    old = ("fields.json", "vectors.npy", "words", "words-0123.terms")
    assert not any((search / name).exists() for name in old)
    assert_search_index_matches_chroma(index)


def test_similarities_are_cosines_and_masks_pick_their_chunks(tmp_path: Path) -> None:
    """Vectors of any length are stored as unit rows, so a dot product is the cosine; the
    publisher and source masks compare codes, and a name the index lacks matches nothing."""
    index = build(
        tmp_path,
        ["a", "b", "c"],
        ["apples and pears", "boats in the harbour", "apples on boats"],
        [
            {"source": "x.txt", "publisher": "Daily"},
            {"source": "y.txt", "publisher": "Weekly"},
            {"source": "x.txt"},
        ],
        np.array([[3.0, 4.0], [0.0, 2.0], [0.0, 0.0]]),
    )
    at = index.positions_of(["a", "b", "c"])
    np.testing.assert_allclose(index.similarities(np.array([10.0, 0.0]))[at], [0.6, 0.0, 0.0])  # type: ignore[index]
    np.testing.assert_allclose(index.similarities(np.array([0.0, 0.5]))[at], [0.8, 1.0, 0.0])  # type: ignore[index]
    assert index.publisher_names() == ["Daily", "Weekly"]
    assert index.publisher_mask("Weekly")[at].tolist() == [False, True, False]
    assert index.publisher_mask("Monthly")[at].tolist() == [False, False, False]
    assert index.source_mask(["x.txt", "z.txt"])[at].tolist() == [True, False, True]
    assert index.ids_at(at) == ["a", "b", "c"]
    assert index.positions_of(["b", "nope"]).tolist() == [at[1], -1]


def test_an_index_opens_when_the_interpreter_cannot_parse_array_headers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CPython before 3.11.8 can raise "AST constructor recursion depth mismatch" from any ast
    parse after an unrelated error (gh-106905); numpy parses every array file's header so."""
    texts = ["apples and pears", "boats in the harbour", "apples on boats", ""]
    metas = [{"source": "x.txt", "publisher": "Daily"}, {"source": "y.txt"}, {}, {}]
    vectors = np.array([[3.0, 4.0], [0.0, 2.0], [1.0, 0.0], [0.0, 1.0]])
    build(tmp_path, ["a", "b", "c", "d"], texts, metas, vectors)
    expected = open_index(tmp_path)
    assert expected is not None

    def broken(*args: object, **kwargs: object) -> None:
        raise SystemError("AST constructor recursion depth mismatch (before=159, after=179)")

    monkeypatch.setattr(np, "load", broken)
    index = open_index(tmp_path)
    assert index is not None
    at, same = index.positions_of(["a", "b", "c", "d"]), expected.positions_of(["a", "b", "c", "d"])
    np.testing.assert_array_equal(at, same)
    query = np.array([1.0, 1.0])
    np.testing.assert_allclose(index.similarities(query), expected.similarities(query))  # type: ignore[arg-type]
    assert index.publisher_mask("Daily")[at].tolist() == [True, False, False, False]
    assert index.ids_at(at) == ["a", "b", "c", "d"]


@pytest.mark.parametrize("damage", ["truncated", "other rows"])
def test_a_damaged_vectors_file_is_rebuilt_on_first_search(
    tmp_path: Path,
    damage: str,
    embeddings,  # type: ignore[no-untyped-def]
) -> None:
    """A vectors file cut short (a power loss before it reached the disk) or of another build
    than the fields beside it is no index: the next search rebuilds it instead of failing."""
    folder, index = tmp_path / "docs", tmp_path / "idx"
    _docs(folder)
    ingest.ingest([folder], settings=IndexSettings(index_dir=index), embeddings=embeddings)
    (vectors,) = (index / "search-documents").glob("seg-*/vectors.npy")
    if damage == "truncated":
        vectors.write_bytes(b"")
    else:
        np.save(vectors, np.ones((2, 384), dtype=np.float32))
    assert open_index(index / "search-documents") is None
    assistant = Assistant(Settings(index_dir=index), embeddings=embeddings)
    assert assistant.retrieve("Etna ash Catania", k=1)[0].source == "volcano.md"
    assert_search_index_matches_chroma(index)


def test_common_terms_kept_between_searches_give_the_same_scores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A term in many chunks keeps its part of the scores for the next search: the next
    search (sharing some terms, words and pairs alike) scores exactly as an index with nothing
    kept; the memory kept stays within its budget, the least recently used going first."""
    import ingest.search_index as search_index
    from ingest.postings import term_keys

    texts = ["rare earth plant in malaysia", "rare earth protest", "tide in venice", "earth"]
    ids = [f"c{i}" for i in range(len(texts))]
    monkeypatch.setattr(search_index, "COMMON_ROWS", 0)  # every term counts as common
    kept = build(tmp_path / "kept", ids, texts, [{}] * 4, None)
    for query in ["rare earth", "earth tide", "rare earth plant", "venice tide"]:
        fresh = build(tmp_path / query.replace(" ", "-"), ids, texts, [{}] * 4, None)
        for got, want in zip(kept.scores(query), fresh.scores(query), strict=True):
            np.testing.assert_array_equal(got, want, err_msg=query)
    assert kept.common.get(("words", int(term_keys(["earth"])[0]))) is not None
    monkeypatch.setattr(search_index, "COMMON_BYTES", 40)  # room for about one term
    small = build(tmp_path / "small", ids, texts, [{}] * 4, None)
    small.scores("rare earth tide")
    assert small.common._bytes <= 40 and len(small.common._items) >= 1
    assert small.common.get(("words", int(term_keys(["rare"])[0]))) is None


def _maps_of(folder: Path) -> int:
    """This process's open descriptors on the search index's files under ``folder`` (a
    mapped array holds one; Chroma's own files are Chroma's business)."""
    fds = Path("/proc/self/fd")
    held = 0
    for fd in fds.iterdir():
        try:
            held += str(folder / "search-documents") in str(fd.readlink())
        except OSError:
            continue  # closed while listed
    return held


def test_ingestion_and_a_dropped_assistant_let_the_search_index_maps_go(
    tmp_path: Path,
    embeddings,  # type: ignore[no-untyped-def]
) -> None:
    """The search index maps each array of each segment (a descriptor each). A busy server
    once held the maps of every index it had dropped until the garbage collector ran, and
    ran past select()'s 1,023 descriptors."""
    import gc

    folder, index = tmp_path / "docs", tmp_path / "idx"
    settings = Settings(index_dir=index, answer_mode="extractive")
    _docs(folder)
    gc.disable()  # what is let go must go when dropped, not when collected
    try:
        for n in range(3):
            (folder / "tide.txt").write_text(f"Tide tables\nHigh tide {n} came at noon.\n")
            ingest.ingest([folder], settings=settings, embeddings=embeddings)
            assert _maps_of(index) == 0, f"ingestion {n} left its maps open"
        assistant = Assistant(settings, embeddings=embeddings)
        assert assistant.ask("When did Mount Etna erupt?").citations
        assert _maps_of(index) > 0  # the one index in use keeps its maps
        del assistant
        assert _maps_of(index) == 0
    finally:
        gc.enable()
