"""A folder as users have them: PDF, saved web page, Word, Markdown, Latin-1 text and broken
files, ingested in one run from the command line, then answered from every good file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import chromadb
import pytest

import ingest

from .conftest import ROOT
from .files import MENU_WORDS, SCRIPT_WORDS, make_docx, make_html, make_pdf

pytestmark = pytest.mark.slow

BROKEN = {
    "locked.pdf": "encrypted PDF: it needs a password to open",
    "truncated.pdf": "not a readable PDF",
    "empty.txt": "empty file",
    "image.txt": "binary content (NUL bytes) in a text file",
    "fake.docx": "not a DOCX file (not a zip archive; legacy .doc is not supported)",
    "huge.md": "over the 0.5 MB limit (QA_MAX_FILE_MB)",
}


def build_collection(folder: Path) -> None:
    folder.mkdir()
    make_pdf(
        folder / "lighthouse.pdf",
        [
            [
                "The Cape Vell Lighthouse Society",
                "The society looks after the lighthouse and its archive of logbooks.",
                "Members meet every spring on the headland.",
            ],
            [
                "Keepers of the light",
                "The last keeper of the Cape Vell lighthouse, Ida Marsh, retired in 1962",
                "after thirty years of service.",
                "Her logbooks record every ship that passed the cape.",
            ],
            [
                "The lamp",
                "The Cape Vell lamp was converted to electricity in 1931.",
                "Before that it burned paraffin and had to be trimmed each night.",
            ],
        ],
        title="Cape Vell Lighthouse",
    )
    make_html(
        folder / "mills.html",
        "Tide Mills of Brittany | Coast Journal",
        "Tide Mills of Brittany",
        [
            "The tide mill at Pen Castel grinds grain using water trapped at high tide.",
            "Each tide gives the Pen Castel mill about five hours of grinding work.",
            "The village association restored the mill in 2004.",
        ],
    )
    make_docx(
        folder / "orchard.docx",
        [
            "The Bramley apple tree in the north orchard was planted in 1921.",
            "It still bears about two hundred kilograms of apples each autumn.",
        ],
        heading="Orchard Notes",
    )
    (folder / "glacier.md").write_text(
        "---\ntitle: Glacier Survey\nauthor: R. Okafor\nyear: 2021\n---\n"
        "# Glacier Survey\n\n"
        "The glacier above Saint-Ours retreated 400 metres between 1990 and 2020.\n"
        "Its meltwater now feeds two new lakes.\n",
        encoding="utf-8",
    )
    (folder / "cafe.txt").write_bytes(
        (
            "Café Ségur\n"
            "The Café Ségur in Lyon has served crème brûlée since 1898.\n"
            "Its owner, Amélie Roche, still bakes the pastries herself.\n"
        ).encode("latin-1")
    )
    make_pdf(folder / "locked.pdf", [["Secret minutes."]], user_password="s3cret")
    (folder / "truncated.pdf").write_bytes((folder / "lighthouse.pdf").read_bytes()[:300])
    (folder / "empty.txt").write_bytes(b"")
    (folder / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (folder / "fake.docx").write_bytes(b"\xd0\xcf\x11\xe0 an old binary .doc")
    (folder / "huge.md").write_text("# Huge\n" + "Filler sentence number one. " * 25_000)


@pytest.fixture(scope="module")
def collection(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str, int]:
    base = tmp_path_factory.mktemp("collection")
    folder, index = base / "docs", base / "idx"
    build_collection(folder)
    env = {**os.environ, "QA_INDEX_DIR": str(index), "QA_MAX_FILE_MB": "0.5"}
    run = subprocess.run(
        [sys.executable, "-m", "ingest", "-q", str(folder)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return folder, index, run.stdout + run.stderr, run.returncode


def test_one_run_ingests_the_good_files_and_reports_each_broken_one(collection) -> None:  # type: ignore[no-untyped-def]
    folder, _, output, returncode = collection
    assert returncode == 1, output
    assert "Traceback" not in output
    assert output.count("failed: ") == len(BROKEN)
    for name, reason in BROKEN.items():
        assert f"failed: {folder / name}: " in output and reason in output, name
    assert "5 added, 0 updated, 0 unchanged, 0 deleted, 6 failed" in output


def test_html_chunks_hold_no_menu_footer_or_script_text(collection) -> None:  # type: ignore[no-untyped-def]
    _, index, _, _ = collection
    got = chromadb.PersistentClient(str(index / "chroma")).get_collection("documents").get()
    html = [
        d
        for d, m in zip(got["documents"], got["metadatas"], strict=True)
        if m["source"] == "mills.html"
    ]
    assert html and any("Pen Castel" in d for d in html)
    for text in html:
        for word in (*MENU_WORDS, *SCRIPT_WORDS):
            assert word not in text


@pytest.fixture(scope="module")
def assistant(collection, embeddings):  # type: ignore[no-untyped-def]
    from qa import Assistant, Settings

    a = Assistant(Settings(index_dir=collection[1]), embeddings=embeddings)
    yield a
    a.index.close()


@pytest.mark.parametrize(
    ("question", "source", "page", "fact"),
    [
        (
            "When did the last keeper of the Cape Vell lighthouse retire?",
            "lighthouse.pdf",
            2,
            "1962",
        ),
        ("When was the Cape Vell lamp converted to electricity?", "lighthouse.pdf", 3, "1931"),
        (
            "How many hours of work does each tide give the Pen Castel mill?",
            "mills.html",
            None,
            "five hours",
        ),
        (
            "When was the Bramley apple tree in the north orchard planted?",
            "orchard.docx",
            None,
            "1921",
        ),
        ("How far did the glacier above Saint-Ours retreat?", "glacier.md", None, "400 metres"),
        ("Since when has the Café Ségur served crème brûlée?", "cafe.txt", None, "1898"),
    ],
)
def test_answers_cite_the_right_file_and_page_with_exact_quotes(  # type: ignore[no-untyped-def]
    collection, assistant, question: str, source: str, page: int | None, fact: str
) -> None:
    folder = collection[0]
    answer = assistant.ask(question)
    assert not answer.refused, answer.text
    first = answer.citations[0]
    assert (first.source, first.page) == (source, page)
    assert fact in first.quote
    for c in answer.citations:
        # The quote is exactly its source text at the offsets: a PDF's page text, the
        # extracted text of HTML and DOCX, the decoded text of the rest.
        assert ingest.read_path(folder / c.source).source_text(c.page)[c.start : c.end] == c.quote
