"""Reading each format: PDF pages, HTML main text, DOCX blocks, encodings, broken files."""

from __future__ import annotations

import codecs
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from ingest.load import LoadError, discover, file_sha256, read_path

from .files import MENU_WORDS, SCRIPT_WORDS, make_docx, make_html, make_pdf


def test_pdf_pages_are_kept_apart_with_their_numbers(tmp_path: Path) -> None:
    path = make_pdf(
        tmp_path / "report.pdf",
        [["Annual report", "The lighthouse was built in 1887."], [], ["The keeper retired."]],
        title="Lighthouse Report",
    )
    doc = read_path(path)
    assert doc.title == "Lighthouse Report"
    assert len(doc.pages) == 3 and doc.metadata["pages"] == 3
    assert doc.source_text(1).splitlines() == ["Annual report", "The lighthouse was built in 1887."]
    assert doc.source_text(2) == ""
    assert doc.source_text(3).strip() == "The keeper retired."
    # Each page is chunked on its own: the sections are the pages, in order.
    assert [(n, doc.text[a:b]) for n, a, b in doc.sections()] == [
        (n, doc.source_text(n)) for n in (1, 2, 3)
    ]


def test_pdf_without_title_takes_its_first_line(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "untitled.pdf", [["Tide Tables for 2024", "High water at noon."]])
    assert read_path(path).title == "Tide Tables for 2024"


def test_pdf_locked_for_editing_only_is_read_but_a_password_protected_one_is_reported(
    tmp_path: Path,
) -> None:
    owner_only = make_pdf(tmp_path / "o.pdf", [["Readable text."]], owner_password="owner")
    assert read_path(owner_only).source_text(1).strip() == "Readable text."
    locked = make_pdf(tmp_path / "l.pdf", [["Secret text."]], user_password="secret")
    with pytest.raises(LoadError, match="encrypted PDF: it needs a password"):
        read_path(locked)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog", "not a readable PDF"),
        (b"this is not a pdf at all", "not a readable PDF"),
        (b"", "empty file"),
    ],
)
def test_broken_pdfs_are_reported(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "broken.pdf"
    path.write_bytes(content)
    with pytest.raises(LoadError, match=reason):
        read_path(path)


def test_pdf_without_text_layer_is_reported(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "scan.pdf", [[], []])
    with pytest.raises(LoadError, match="no text layer"):
        read_path(path)


def test_html_keeps_the_article_and_its_title_but_no_menu_footer_or_script(
    tmp_path: Path,
) -> None:
    path = make_html(
        tmp_path / "mills.html",
        "Tide Mills of Brittany | Coast Journal",
        "Tide Mills of Brittany",
        [
            "The tide mill at Pen Castel grinds grain using water trapped at high tide.",
            "Each cycle of the tide gives the mill about five hours of work.",
        ],
    )
    doc = read_path(path)
    assert doc.title.startswith("Tide Mills of Brittany")
    assert "The tide mill at Pen Castel grinds grain" in doc.text
    assert "about five hours of work." in doc.text
    for word in (*MENU_WORDS, *SCRIPT_WORDS):
        assert word not in doc.text


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"<html><head><title>x</title></head><body></body></html>", "no main text"),
        (b"   ", "empty file"),
    ],
)
def test_html_without_text_is_reported(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "blank.html"
    path.write_bytes(content)
    with pytest.raises(LoadError, match=reason):
        read_path(path)


def test_docx_paragraphs_and_table_rows_in_order_with_title(tmp_path: Path) -> None:
    path = make_docx(
        tmp_path / "orchard.docx",
        ["The Bramley tree was planted in 1921.", "It bears fruit each autumn."],
        heading="Orchard Notes",
        table=[["Variety", "Yield"], ["Bramley", "200 kg"]],
    )
    doc = read_path(path)
    assert doc.title == "Orchard Notes"
    assert doc.text.split("\n\n") == [
        "Orchard Notes",
        "The Bramley tree was planted in 1921.",
        "It bears fruit each autumn.",
        "Variety | Yield",
        "Bramley | 200 kg",
    ]
    titled = make_docx(tmp_path / "t.docx", ["Body text here."], title="From Properties")
    assert read_path(titled).title == "From Properties"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"PK\x03\x04 truncated zip", "not a DOCX file"),
        (b"\xd0\xcf\x11\xe0 legacy word", "not a DOCX file"),
    ],
)
def test_broken_docx_is_reported(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "broken.docx"
    path.write_bytes(content)
    with pytest.raises(LoadError, match=reason):
        read_path(path)


def test_docx_that_is_a_zip_but_not_a_document_is_reported(tmp_path: Path) -> None:
    import zipfile

    path = tmp_path / "fake.docx"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("hello.txt", "not a word document")
    with pytest.raises(LoadError, match="not a readable DOCX"):
        read_path(path)


FRENCH = "Le café de la Place Ségur sert une crème brûlée très appréciée. À côté, des éclairs."
GERMAN = "Über die Straße gehen Bären. Größere Häuser stehen dort, schön und groß."
RUSSIAN = "Привет, как дела? Это тестовый документ на русском языке, он довольно короткий."


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        (FRENCH, "latin-1"),
        ("Short café.", "latin-1"),
        (GERMAN + " “Quoted” – €5", "cp1252"),
        (RUSSIAN, "cp1251"),
        ("Türkçe öğrenmek güzeldir. Şu anda İstanbul'da yaşıyorum ve çalışıyorum.", "cp1254"),
        ("Zażółć gęślą jaźń. Pchnąć w tę łódź jeża lub ośm skrzyń fig.", "cp1250"),
        (RUSSIAN, "koi8-r"),
        ("日本語のテキストです。これはテストです。東京は大きな都市です。", "shift_jis"),
        ("这是一个中文测试文件。北京是中国的首都。", "gb18030"),
        (FRENCH, "utf-8"),
        (FRENCH, "utf-8-sig"),
        (GERMAN, "utf-16"),
        (RUSSIAN, "utf-32"),
    ],
)
def test_text_in_common_encodings_is_decoded(tmp_path: Path, text: str, encoding: str) -> None:
    path = tmp_path / "doc.txt"
    path.write_bytes(text.encode(encoding))
    assert read_path(path).text == text


@pytest.mark.parametrize("encoding", ["latin-1", "utf-16"])
def test_html_without_declared_encoding_is_decoded_like_text(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "page.html"
    article = f"<article><h1>Café</h1><p>{FRENCH}</p><p>{FRENCH}</p></article>"
    path.write_bytes(
        f"<html><head><title>Café</title></head><body>{article}</body></html>".encode(encoding)
    )
    doc = read_path(path)
    assert doc.title == "Café" and FRENCH in doc.text


def test_utf16_without_bom_reads_as_binary_not_garbage(tmp_path: Path) -> None:
    path = tmp_path / "doc.txt"
    path.write_bytes(codecs.encode(GERMAN, "utf-16-le"))
    with pytest.raises(LoadError, match="binary content"):
        read_path(path)


def test_random_bytes_in_a_text_file_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "noise.txt"
    path.write_bytes(bytes((i * 7919 + 13) % 256 for i in range(1, 4000) if (i * 7919 + 13) % 256))
    with pytest.raises(LoadError, match="not text in any known encoding"):
        read_path(path)


_never_opened: set[str] = set()  # paths whose opening fails the test (_refuse_opening)
_hook: list[bool] = []  # the audit hook is installed (once: hooks cannot be removed)


def _refuse_opening(event: str, args: tuple[Any, ...]) -> None:
    """Audit hook: any open of a watched path, by any API, raises before a byte is read."""
    path = args[0] if event == "open" and _never_opened else None
    if isinstance(path, str | bytes | os.PathLike) and os.fsdecode(path) in _never_opened:
        raise AssertionError(f"{os.fsdecode(path)} was opened")


@contextmanager
def never_opened(path: Path) -> Iterator[None]:
    if not _hook:
        sys.addaudithook(_refuse_opening)  # idle while no path is watched
        _hook.append(True)
    _never_opened.add(str(path))
    try:
        yield
    finally:
        _never_opened.discard(str(path))


def test_oversized_files_are_refused_before_being_read(tmp_path: Path) -> None:
    """A sparse 64 GB file (no disk used), larger than this machine's memory, is refused by its
    size without being opened; one under the limit is read."""
    big = tmp_path / "big.txt"
    with big.open("wb") as f:
        f.truncate(64 * 10**9)
    with (
        never_opened(big),
        pytest.raises(
            LoadError, match=r"file is 64000\.0 MB, over the 1 MB limit \(QA_MAX_FILE_MB\)"
        ),
    ):
        file_sha256(big, max_bytes=1_000_000)
    small = tmp_path / "small.txt"
    small.write_text("word " * 300_000)  # 1.5 MB
    with pytest.raises(LoadError, match=r"file is 1\.5 MB, over the 1 MB limit"):
        file_sha256(small, max_bytes=1_000_000)
    assert file_sha256(small, max_bytes=2_000_000)[0].startswith(b"word")


def test_include_and_exclude_globs(tmp_path: Path) -> None:
    for rel in [
        "a.pdf",
        "notes.md",
        "reports/2024/q1.pdf",
        "reports/2024/q1.md",
        "drafts/x.pdf",
        "deep/drafts/y.md",
        "web/page.html",
    ]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")

    def found(include: list[str] | None = None, exclude: list[str] | None = None) -> list[str]:
        files, failed = discover([tmp_path], include or [], exclude or [])
        assert not failed
        return [f.source for f in files]

    everything = found()
    assert everything == [
        "a.pdf",
        "deep/drafts/y.md",
        "drafts/x.pdf",
        "notes.md",
        "reports/2024/q1.md",
        "reports/2024/q1.pdf",
        "web/page.html",
    ]
    assert found(include=["*.pdf"]) == ["a.pdf", "drafts/x.pdf", "reports/2024/q1.pdf"]
    assert found(exclude=["drafts"]) == [
        "a.pdf",
        "notes.md",
        "reports/2024/q1.md",
        "reports/2024/q1.pdf",
        "web/page.html",
    ]
    assert found(include=["reports/**"]) == ["reports/2024/q1.md", "reports/2024/q1.pdf"]
    assert found(include=["reports/*.pdf"]) == []  # "*" stays within one folder
    assert found(include=["**/*.md"], exclude=["deep/**"]) == ["notes.md", "reports/2024/q1.md"]
    assert found(include=["*.pdf", "*.html"], exclude=["*.pdf"]) == ["web/page.html"]
