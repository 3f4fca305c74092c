"""Documents' names in the index (issue 15, items 2-4): a file name that is not UTF-8, the same
name in two folders, and --prune kept to the folders it is given."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import ingest
from ingest.settings import IndexSettings
from qa import Assistant, Settings

from .conftest import ROOT

BAD_NAME = os.fsdecode(b"caf\xe9.txt")  # the bytes a Latin-1 system writes for "café.txt"


def _run(*args: str, index: Path, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "QA_INDEX_DIR": str(index)}
    return subprocess.run(
        [*prefix, sys.executable, "-m", "ingest", "-q", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _sources(settings: IndexSettings) -> list[str]:
    return [d.source for d in ingest.list_documents(settings).documents]


def test_a_file_name_that_is_not_utf8_is_ingested_beside_the_others(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / BAD_NAME).write_text("The Gannet Rock lamp was lit in 1923.\n", encoding="utf-8")
    (folder / "good.txt").write_text("The harbour dues rose by 3 percent.\n", encoding="utf-8")
    index = tmp_path / "idx"
    done = _run(str(folder), index=index)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("2 added"), done.stdout
    listed = _run("--list", index=index)
    assert listed.returncode == 0, listed.stderr
    assert "caf\\xe9.txt" in listed.stdout and "good.txt" in listed.stdout
    again = _run(str(folder), index=index)  # the same name, the same document
    assert again.stdout.startswith("0 added, 0 updated, 2 unchanged"), again.stdout
    deleted = _run("--delete", "caf\\xe9.txt", index=index)
    assert deleted.returncode == 0 and "deleted: caf\\xe9.txt (1 chunks)" in deleted.stdout
    assert _run(str(folder), index=index).stdout.startswith("1 added")
    # The name as the shell passes it (its raw bytes) names the same document.
    deleted = _run("--delete", BAD_NAME, index=index)
    assert deleted.returncode == 0 and "deleted: caf\\xe9.txt (1 chunks)" in deleted.stdout


def _notes(folder: Path, fact: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "notes.md"
    path.write_text(f"# Notes\n\n{fact}\n", encoding="utf-8")
    return path


A_FACT = "The Kestrel Bay pilot service was founded in 1887 by Marguerite Olsson."
B_FACT = "The Gannet Rock lighthouse keeper in 1923 was Ingrid Halvorsen."


@pytest.mark.parametrize("together", [False, True])
def test_the_same_name_in_two_folders_makes_two_documents(
    tmp_path: Path, embeddings: Any, together: bool
) -> None:
    a, b = tmp_path / "A", tmp_path / "B"
    _notes(a, A_FACT)
    _notes(b, B_FACT)
    settings = Settings(index_dir=tmp_path / "idx")
    if together:
        report = ingest.ingest([a, b], settings=settings, embeddings=embeddings)
        assert report.ok and sorted(report.added) == ["B/notes.md", "notes.md"]
    else:
        first = ingest.ingest([a], settings=settings, embeddings=embeddings)
        second = ingest.ingest([b], settings=settings, embeddings=embeddings)
        assert first.added == ["notes.md"] and second.added == ["B/notes.md"]
        assert second.ok and not second.updated
    assert _sources(settings) == ["B/notes.md", "notes.md"]
    paths = {d.source: d.path for d in ingest.list_documents(settings).documents}
    assert paths == {"notes.md": str(a / "notes.md"), "B/notes.md": str(b / "notes.md")}

    # Each keeps its name, whichever is ingested again, alone or with the other.
    again = ingest.ingest([b, a], settings=settings, embeddings=embeddings)
    assert sorted(again.unchanged) == ["B/notes.md", "notes.md"] and not again.added
    assistant = Assistant(settings, embeddings=embeddings)
    answer = assistant.ask("Who was the Gannet Rock lighthouse keeper in 1923?")
    assert "Ingrid Halvorsen" in answer.text
    assert answer.citations[0].source == "B/notes.md"
    answer = assistant.ask("Who founded the Kestrel Bay pilot service?")
    assert answer.citations[0].source == "notes.md"
    assistant.index.close()

    deleted, missing = ingest.delete_documents(["B/notes.md"], settings, embeddings)
    assert deleted == {"B/notes.md": 1} and not missing
    assert _sources(settings) == ["notes.md"]


def test_a_third_copy_is_qualified_further_and_a_moved_folder_keeps_its_documents(
    tmp_path: Path, embeddings: Any
) -> None:
    settings = IndexSettings(index_dir=tmp_path / "idx")
    x, y = tmp_path / "x" / "B", tmp_path / "y" / "B"
    _notes(tmp_path / "A", A_FACT)
    _notes(x, B_FACT)
    _notes(y, "A third file of the same name.")
    report = ingest.ingest([tmp_path / "A", x, y], settings=settings, embeddings=embeddings)
    assert sorted(report.added) == ["B/notes.md", "notes.md", "y/B/notes.md"]
    # A folder moved (its old path gone): its documents are the same, not new ones.
    shutil.move(tmp_path / "A", tmp_path / "A2")
    moved = ingest.ingest([tmp_path / "A2"], settings=settings, embeddings=embeddings)
    assert moved.unchanged == ["notes.md"] and not moved.added
    record = next(d for d in ingest.list_documents(settings).documents if d.source == "notes.md")
    assert record.path == str(tmp_path / "A2" / "notes.md")


def test_prune_deletes_only_below_the_folders_it_is_given(tmp_path: Path, embeddings: Any) -> None:
    settings = IndexSettings(index_dir=tmp_path / "idx")
    docs, other = tmp_path / "docs", tmp_path / "other"
    _notes(docs / "sub", A_FACT)
    (docs / "gone.txt").parent.mkdir(parents=True, exist_ok=True)
    (docs / "gone.txt").write_text("This file will be deleted.\n", encoding="utf-8")
    (other / "kept.txt").parent.mkdir()
    (other / "kept.txt").write_text("Ingested from another folder.\n", encoding="utf-8")
    ingest.ingest([docs, other], settings=settings, embeddings=embeddings)
    (docs / "gone.txt").unlink()
    report = ingest.ingest([docs], settings=settings, embeddings=embeddings, prune=True)
    assert report.deleted == ["gone.txt"]
    assert _sources(settings) == ["kept.txt", "sub/notes.md"]
    # Another folder, given alone, prunes nothing that was not under it.
    (tmp_path / "third").mkdir()
    (tmp_path / "third" / "new.txt").write_text("A third folder.\n", encoding="utf-8")
    report = ingest.ingest(
        [tmp_path / "third"], settings=settings, embeddings=embeddings, prune=True
    )
    assert report.added == ["new.txt"] and report.deleted == []
    assert _sources(settings) == ["kept.txt", "new.txt", "sub/notes.md"]
    # A folder that does not exist is an error, and prunes nothing.
    report = ingest.ingest(
        [tmp_path / "nope"], settings=settings, embeddings=embeddings, prune=True
    )
    assert report.failed and report.deleted == []


def test_an_unreadable_folder_is_an_error_and_its_documents_stay(tmp_path: Path) -> None:
    """As root, the ingestion runs without the capability to override file permissions."""
    prefix: tuple[str, ...] = ()
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("root without setpriv: cannot make a folder unreadable")
        prefix = ("setpriv", "--bounding-set=-dac_override,-dac_read_search")
    docs, index = tmp_path / "docs", tmp_path / "idx"
    _notes(docs / "locked", A_FACT)
    (docs / "open.txt").write_text("An open file.\n", encoding="utf-8")
    first = _run(str(docs), index=index)
    assert first.returncode == 0 and first.stdout.startswith("2 added"), first.stderr
    (docs / "locked").chmod(0)
    try:
        pruned = _run(str(docs), "--prune", index=index, prefix=prefix)
    finally:
        (docs / "locked").chmod(0o755)
    assert pruned.returncode == 1, pruned.stderr
    assert f"failed: {docs / 'locked'}: cannot read this folder" in pruned.stderr
    assert "0 deleted" in pruned.stdout
    listed = _run("--list", index=index)
    assert "locked/notes.md" in listed.stdout and "open.txt" in listed.stdout


def test_an_index_folder_that_is_not_utf8_is_a_one_line_error(tmp_path: Path) -> None:
    """Chroma cannot open such a path: said before anything is written, not as a traceback."""
    index = tmp_path / os.fsdecode(b"idx\xe9")
    (tmp_path / "a.txt").write_text("Some text.\n", encoding="utf-8")
    done = _run(str(tmp_path / "a.txt"), "--index-dir", str(index), index=tmp_path / "unused")
    assert done.returncode == 2
    assert (
        done.stderr.startswith("error: invalid settings: QA_INDEX_DIR: ") and "UTF-8" in done.stderr
    )
    assert len(done.stderr.strip().splitlines()) == 1 and not index.exists()
