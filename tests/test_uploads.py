"""Uploads from the page: safe names, type and size limits, then ingestion, listing, deletion."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

import ingest
from qa import Assistant, Settings
from qa.ui.documents import Documents
from qa.ui.uploads import UPLOADS_DIR, safe_name, store

from .files import make_pdf
from .webapp import serving


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("report.pdf", "report.pdf"),
        ("../../etc/passwd.txt", "passwd.txt"),
        ("..\\..\\windows\\win.ini.md", "win.ini.md"),
        ("/abs/path/notes.md", "notes.md"),
        (".hidden.txt", "hidden.txt"),
        ("Résumé <script>.docx", "Resume_script.docx"),
        ("a b;rm -rf ~.txt", "a_b_rm_-rf.txt"),
        ("...", ""),
        ("..txt", "txt"),  # no suffix left: refused as a type
        ("x" * 300 + ".pdf", "x" * 96 + ".pdf"),
    ],
)
def test_upload_names_are_made_safe(name: str, safe: str) -> None:
    assert safe_name(name) == safe


def test_store_keeps_supported_files_under_safe_names_and_says_why_others_fail(
    tmp_path: Path,
) -> None:
    incoming = tmp_path / "incoming"
    incoming.mkdir()

    def upload(name: str, data: bytes) -> tuple[str, Path]:
        temp = incoming / f"{len(list(incoming.iterdir()))}.bin"
        temp.write_bytes(data)
        return name, temp

    folder = tmp_path / "index" / UPLOADS_DIR
    stored = store(
        [
            upload("../../escape.md", b"# Escape\nText."),
            upload("tool.exe", b"MZ"),
            upload("big.txt", b"x" * 2600),
            upload("empty.txt", b""),
            upload("noext", b"text"),
            upload("sub/escape.md", b"# Another file of the same safe name"),
        ],
        folder,
        max_bytes=2000,
    )
    assert stored.paths == [folder.resolve() / "escape.md"]
    assert not (tmp_path / "escape.md").exists()
    reasons = dict(stored.failed)
    assert "unsupported file type '.exe'" in reasons["tool.exe"]
    assert reasons["big.txt"] == "file is 2.6 kB, over the 2.0 kB limit per upload"
    assert reasons["empty.txt"] == "empty file"
    assert "unsupported file type '(none)'" in reasons["noext"]
    assert "same name as another file of this upload" in reasons["sub/escape.md"]
    assert (folder / "escape.md").read_bytes() == b"# Escape\nText."


def test_uploaded_documents_are_ingested_listed_answered_and_deleted(
    tmp_path: Path, embeddings: object
) -> None:
    assistant = Assistant(Settings(index_dir=tmp_path / "index"), embeddings=embeddings)  # type: ignore[arg-type]
    documents = Documents(assistant)
    assert "no index in" in documents.listing()[0]  # nothing uploaded yet
    gradio_dir = tmp_path / "gradio"
    gradio_dir.mkdir()
    note = gradio_dir / "pilots <1>.md"
    note.write_text(
        "# Harbour pilots\n\nThe Kestrel Bay pilot service was founded in 1887 by Marguerite "
        "Olsson.\n",
        encoding="utf-8",
    )
    broken = gradio_dir / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4 this is not really a PDF")
    good_pdf = make_pdf(gradio_dir / "ships.pdf", [["Pilots guide 4,200 ships a year."]])
    steps: list[tuple[object, str]] = []

    def progress(value: object, desc: str = "") -> None:
        steps.append((value, desc))

    report, listing, menu, cleared = documents.upload(
        [str(note), str(broken), str(good_pdf)],
        progress,  # type: ignore[arg-type]
    )
    assert "2 added" in report and "broken.pdf" in report and "PDF" in report
    assert "pilots_1.md" in listing and "ships.pdf" in listing and cleared is None
    assert menu["choices"] == ["pilots_1.md", "ships.pdf"]
    assert any("embedding" in desc for _, desc in steps)
    assert not note.exists()  # Gradio's copy is gone; ours is in the index folder
    assert (tmp_path / "index" / UPLOADS_DIR / "pilots_1.md").exists()
    answer = assistant.ask("Who founded the Kestrel Bay pilot service?")
    assert "Marguerite Olsson" in answer.text and answer.citations[0].source == "pilots_1.md"

    note_shown, listing, _ = documents.delete("pilots_1.md")
    assert "Deleted pilots_1.md (1 chunks)" in note_shown and "pilots_1.md" not in listing
    assert not (tmp_path / "index" / UPLOADS_DIR / "pilots_1.md").exists()
    assert "is not in the index" in documents.delete("pilots_1.md")[0]
    assert "Choose a document" in documents.delete(None)[0]
    assistant.index.close()


def _documents(tmp_path: Path, embeddings: object) -> tuple[Documents, Path]:
    assistant = Assistant(Settings(index_dir=tmp_path / "index"), embeddings=embeddings)  # type: ignore[arg-type]
    incoming = tmp_path / "gradio"
    incoming.mkdir()
    return Documents(assistant), incoming


def test_an_upload_named_like_an_ingested_document_is_kept_beside_it(
    tmp_path: Path, embeddings: object
) -> None:
    """issue 15, item 5: uploading notes.md must not replace the notes.md ingested from a
    folder; both stay, named apart, and deleting one leaves the other (and its file)."""
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "notes.md").write_text(
        "# Notes\n\nThe Kestrel Bay pilot service was founded in 1887.\n", encoding="utf-8"
    )
    documents, incoming = _documents(tmp_path, embeddings)
    ingest.ingest([folder], settings=documents.settings, embeddings=embeddings)  # type: ignore[arg-type]
    upload = incoming / "notes.md"
    upload.write_text(
        "# Notes\n\nThe Gannet Rock lighthouse keeper in 1923 was Ingrid Halvorsen.\n",
        encoding="utf-8",
    )
    report, _, menu, _ = documents.upload([str(upload)])
    assert "1 added" in report and "updated" not in report
    assert menu["choices"] == ["notes.md", "uploads/notes.md"]
    kept = documents.folder / "notes.md"
    assert kept.exists()
    documents.delete("notes.md")  # the folder's document: the uploaded file stays
    assert kept.exists() and (folder / "notes.md").exists()
    note, _, _ = documents.delete("uploads/notes.md")
    assert "Deleted uploads/notes.md" in note and not kept.exists()
    documents.assistant.index.close()


def test_refused_uploads_leave_nothing_on_disk_and_a_bad_copy_keeps_the_good_one(
    tmp_path: Path, embeddings: object
) -> None:
    """issue 15, item 5: a rejected upload does not stay in uploads/, where the page cannot
    list or delete it; a broken file uploaded over a good one of the same name leaves the
    good one (file and document) as it was."""
    documents, incoming = _documents(tmp_path, embeddings)
    good = make_pdf(incoming / "ships.pdf", [["Pilots guide 4,200 ships a year."]])
    documents.upload([str(good)])
    kept = documents.folder / "ships.pdf"
    before = kept.read_bytes()
    broken = incoming / "ships.pdf"
    broken.write_bytes(b"%PDF-1.4 this is not really a PDF")
    other = incoming / "minutes.pdf"
    other.write_bytes(b"%PDF-1.4 nor is this")
    exe = incoming / "tool.exe"
    exe.write_bytes(b"MZ")
    report, _, menu, _ = documents.upload([str(broken), str(other), str(exe)])
    assert "ships.pdf" in report and "minutes.pdf" in report and "tool.exe" in report
    assert sorted(p.name for p in documents.folder.iterdir()) == ["ships.pdf"]
    assert kept.read_bytes() == before
    assert menu["choices"] == ["ships.pdf"]
    answer = documents.assistant.ask("How many ships do the pilots guide a year?")
    assert "4,200" in answer.text
    documents.assistant.index.close()


def test_files_posted_without_the_page_do_not_stay_on_disk(seed_assistant: Assistant) -> None:
    """Gradio keeps whatever is posted to its upload route; the app clears them (hourly,
    and when it stops)."""
    with serving(seed_assistant) as url:
        posted = httpx.post(f"{url}gradio_api/upload", files={"files": ("stray.txt", b"hello")})
        assert posted.status_code == 200, posted.text
        path = Path(posted.json()[0])
        assert path.exists()
    assert not path.exists()
