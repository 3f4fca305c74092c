"""Files built to exhaust memory or time (issue 15, item 1): every format bounds what it
expands, the risky ones are read in a capped worker, and the process that ingests (the chat
server, for uploads) keeps its memory. Each bomb is real and small on disk; the tests prove
the bound without letting anything expand: a refusal comes before the expansion, and the
test process's peak memory (ru_maxrss) does not move."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import ingest
from ingest.formats import LoadError
from ingest.formats.isolated import Reader
from ingest.load import read_path
from ingest.settings import IndexSettings
from qa import Assistant, Settings
from qa.ui.documents import Documents

from .conftest import ROOT
from .files import declare_smaller, make_docx, make_docx_bomb, make_pdf_streams

GOOD_HTML = (
    b"<html><head><title>Dues</title></head><body><article><p>Harbour dues rose by three "
    b"percent this year, the port authority said.</p></article></body></html>"
)
DENSE_HTML = b"<html><body>" + b"<p>a</p>" * 125_000 + b"</body></html>"  # 1 MB, ~200 MB parsed


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _workers() -> list[int]:
    """This process's reader workers still running."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == os.getpid() and b"ingest.formats.isolated" in cmdline:
            found.append(int(entry.name))
    return found


@pytest.fixture(scope="module")
def docx_bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The issue's bomb: about 400 KB on disk, 240 MB of document.xml (python-docx took it
    to 5.1 GB)."""
    return make_docx_bomb(tmp_path_factory.mktemp("bomb") / "minutes.docx", 240)


def test_a_docx_bomb_is_refused_before_it_is_expanded(docx_bomb: Path) -> None:
    assert docx_bomb.stat().st_size < 500_000
    before, started = _peak_mb(), time.monotonic()
    with pytest.raises(LoadError, match=r"document.xml unpacks to 2\d\d MB .* a zip bomb"):
        read_path(docx_bomb)
    assert time.monotonic() - started < 30
    assert _peak_mb() - before < 50


def test_a_large_repetitive_document_is_not_taken_for_a_bomb(tmp_path: Path) -> None:
    """An empty form of 3,000 rows: 1.3 MB of XML packed 134 fold, read as a document."""
    import docx

    document = docx.Document()
    document.add_paragraph("Inspection form")
    document.add_table(rows=3000, cols=6)
    document.save(str(tmp_path / "form.docx"))
    assert read_path(tmp_path / "form.docx").text == "Inspection form"


def test_a_zip_that_lies_about_its_sizes_is_not_inflated_past_them(
    docx_bomb: Path, tmp_path: Path
) -> None:
    liar = tmp_path / "liar.docx"
    liar.write_bytes(docx_bomb.read_bytes())
    declare_smaller(liar, "word/document.xml", 1000)
    before = _peak_mb()
    with pytest.raises(LoadError, match="Bad CRC-32"):
        read_path(liar)
    assert _peak_mb() - before < 50


def test_pdf_streams_and_pages_are_bounded(tmp_path: Path) -> None:
    # One 150 KB stream that inflates past pypdf's 75 MB per stream.
    flate = make_pdf_streams(
        tmp_path / "flate.pdf", [b"BT /F1 11 Tf 72 700 Td " + b"(a) Tj " * 12_000_000 + b"ET"]
    )
    # One small stream drawn by 2,000 pages: more text than any file may hold.
    shared = make_pdf_streams(
        tmp_path / "shared.pdf",
        [],
        shared=b"BT /F1 11 Tf 72 700 Td " + b"(Repeated words on every page.) Tj T* " * 300 + b"ET",
        pages=2000,
    )
    good = make_pdf_streams(tmp_path / "good.pdf", [b"BT /F1 11 Tf 72 700 Td (Dues rose.) Tj ET"])
    assert flate.stat().st_size < 200_000 and shared.stat().st_size < 400_000
    before = _peak_mb()
    with Reader() as reader:
        with pytest.raises(LoadError, match=r"page 1 of 1 cannot be read .*Limit"):
            reader.extract(".pdf", flate.read_bytes(), 100_000_000)
        with pytest.raises(LoadError, match=r"first 1\d\d pages hold 1,00\d,\d+ characters"):
            reader.extract(".pdf", shared.read_bytes(), 1_000_000)
        assert reader.extract(".pdf", good.read_bytes(), 1_000_000).text == "Dues rose."
    assert _peak_mb() - before < 50


def test_a_page_over_the_html_bound_is_refused_unparsed(tmp_path: Path) -> None:
    page = tmp_path / "huge.html"
    page.write_bytes(b"<html><body>" + b"<p>a</p>" * 1_100_000 + b"</body></html>")  # 8.8 MB
    started = time.monotonic()
    with pytest.raises(LoadError, match=r"8\.8 MB of HTML; pages over 8 MB are not read"):
        read_path(page)
    assert time.monotonic() - started < 30


def test_front_matter_aliases_cannot_expand(tmp_path: Path) -> None:
    """Nine lines of YAML anchors stand for 9**9 values, which writing the field out as
    JSON would expand (the billion laughs)."""
    lines = ["---", "a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    lines += ["---", "# Laughs", "Body text."]
    path = tmp_path / "laughs.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    started = time.monotonic()
    with pytest.raises(LoadError, match="front matter holds more than 10,000 values"):
        read_path(path)
    assert time.monotonic() - started < 5


def test_front_matter_is_bounded_before_yaml_reads_it(tmp_path: Path) -> None:
    """PyYAML builds every node in Python: 12 MB of front matter took 1.3 GB and 140 s."""
    path = tmp_path / "fields.md"
    path.write_text("---\ntitle: x\nitems:\n" + "  - a\n" * 2_000_000 + "---\nBody.\n")
    before, started = _peak_mb(), time.monotonic()
    with pytest.raises(LoadError, match=r"front matter of 12,000,\d+ characters; at most 100,000"):
        read_path(path)
    assert time.monotonic() - started < 10
    assert _peak_mb() - before < 150  # the file's text itself: 12 MB, decoded


def test_the_worker_is_capped_in_memory_and_time_and_replaced_after(tmp_path: Path) -> None:
    before = _peak_mb()
    with Reader(memory_mb=64, timeout=120) as reader:
        with pytest.raises(LoadError, match=r"needs more than 64 MB of memory"):
            reader.extract(".html", DENSE_HTML, 100_000_000)
        assert "Harbour dues rose" in reader.extract(".html", GOOD_HTML, 10**6).text
    with Reader(timeout=5) as reader:  # the dense page takes about 20 s
        started = time.monotonic()
        with pytest.raises(LoadError, match=r"took longer than 5 s \(QA_PARSE_TIMEOUT\)"):
            reader.extract(".html", DENSE_HTML, 100_000_000)
        assert time.monotonic() - started < 15
        assert _workers() == []  # the one that took too long is gone
        assert "Harbour dues rose" in reader.extract(".html", GOOD_HTML, 10**6).text
        assert len(_workers()) == 1
    assert _workers() == []
    assert _peak_mb() - before < 50


def test_a_process_holding_many_files_still_starts_and_reads_with_a_worker() -> None:
    """The chat server (or a long test session) may hold over a thousand descriptors when a
    worker starts; its pipes then lie past select()'s limit of 1023, which once made every
    upload of a PDF fail with "the file reader could not start"."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 1200
    if soft < want <= hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= want, "cannot open enough files"
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        assert max(held) > 1023
        with Reader() as reader:
            assert "Harbour dues rose" in reader.extract(".html", GOOD_HTML, 10**6).text
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_ingestion_reports_the_bomb_and_ingests_the_rest(
    docx_bomb: Path, tmp_path: Path, embeddings: Any
) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / docx_bomb.name).write_bytes(docx_bomb.read_bytes())
    make_docx(folder / "dues.docx", ["Harbour dues rose by three percent."])
    settings = IndexSettings(index_dir=tmp_path / "idx")
    warm = tmp_path / "warm.txt"  # the model and Chroma loaded before measuring
    warm.write_text("Warming up.\n", encoding="utf-8")
    ingest.ingest([warm], settings=settings, embeddings=embeddings)
    before = _peak_mb()
    report = ingest.ingest([folder], settings=settings, embeddings=embeddings)
    assert report.added == ["dues.docx"]
    [(path, reason)] = report.failed
    assert path.endswith("minutes.docx") and "zip bomb" in reason
    assert _peak_mb() - before < 100
    assert _workers() == []


def test_the_command_line_names_the_bomb_and_exits_1(docx_bomb: Path, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / docx_bomb.name).write_bytes(docx_bomb.read_bytes())
    (folder / "ok.txt").write_text("A good file beside it.\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "ingest", "-q", str(folder)],
        cwd=ROOT,
        env={**os.environ, "QA_INDEX_DIR": str(tmp_path / "idx")},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1, done.stderr
    assert f"failed: {folder / 'minutes.docx'}: DOCX part word/document.xml" in done.stderr
    assert done.stdout.startswith("1 added")


@pytest.fixture
def uploads(tmp_path: Path, embeddings: Any) -> Iterator[tuple[Documents, Path]]:
    assistant = Assistant(Settings(index_dir=tmp_path / "index"), embeddings=embeddings)
    incoming = tmp_path / "gradio"
    incoming.mkdir()
    yield Documents(assistant), incoming
    assistant.index.close()


def test_an_uploaded_bomb_leaves_the_server_memory_where_it_was(
    docx_bomb: Path, uploads: tuple[Documents, Path]
) -> None:
    """The issue's server grew from 0.85 to 3.4 GB on such an upload, and stayed there."""
    documents, incoming = uploads
    bomb = incoming / "minutes.docx"
    bomb.write_bytes(docx_bomb.read_bytes())
    good = make_docx(incoming / "dues.docx", ["Harbour dues rose by three percent."])
    warm = incoming / "warm.txt"  # the model and Chroma loaded before measuring
    warm.write_text("Warming up.\n", encoding="utf-8")
    documents.upload([str(warm)])
    before = _peak_mb()
    report, listing, _, _ = documents.upload([str(bomb), str(good)])
    assert _peak_mb() - before < 100
    assert "1 added" in report and "minutes.docx" in report and "zip bomb" in report
    assert "dues.docx" in listing and "minutes.docx" not in listing
    assert _workers() == []
