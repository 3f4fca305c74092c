"""Ingestion speed on a mixed collection: PDF, HTML, DOCX and text made from MultiHop-RAG
articles (real news prose), so the figures reflect real sentence lengths.

Prints, per format, the time to read a file (extraction only), then for a whole ingestion
with the bundled MiniLM: files/s, chunks/s and the time of a re-run that finds nothing
changed. With --server, the same ingestion into a ``chroma run`` server on 127.0.0.1, and how
long a user waits for the error once that server is stopped.

    QA_BENCH_DATA=/path/to/multihop-rag python -m bench.ingest_speed [--files 40] [--server]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from bench.multihop_data import corpus

FORMATS = ("pdf", "html", "docx", "txt")


def write_collection(folder: Path, n: int) -> dict[str, list[Path]]:
    from tests.files import make_docx, make_html, make_pdf

    folder.mkdir(parents=True, exist_ok=True)
    made: dict[str, list[Path]] = {f: [] for f in FORMATS}
    for i, article in enumerate(corpus()[:n]):
        fmt = FORMATS[i % len(FORMATS)]
        paragraphs = [p.strip() for p in article["body"].split("\n") if p.strip()]
        path = folder / f"{i:03d}.{fmt}"
        if fmt == "pdf":
            lines = [ln for p in paragraphs for ln in textwrap.wrap(p, 95)]
            pages = [lines[k : k + 50] for k in range(0, len(lines), 50)]
            # Helvetica in WinAnsi: characters outside cp1252 cannot be drawn.
            pages = [[ln.encode("cp1252", "replace").decode("cp1252") for ln in pg] for pg in pages]
            make_pdf(path, pages, title=article["title"])
        elif fmt == "html":
            make_html(path, article["title"], article["title"], paragraphs)
        elif fmt == "docx":
            make_docx(path, paragraphs, heading=article["title"])
        else:
            path.write_text(article["title"] + "\n\n" + "\n\n".join(paragraphs), encoding="utf-8")
        made[fmt].append(path)
    return made


def reading(made: dict[str, list[Path]]) -> None:
    import ingest
    from ingest.formats.isolated import Reader

    print("reading (extraction only, no embedding; PDF, HTML, DOCX in the reader's worker):")
    for fmt, paths in made.items():
        with Reader() as reader:  # started before the clock, as ingestion's is, once a run
            ingest.read_path(paths[0], reader)
            started = time.perf_counter()
            chars = sum(len(ingest.read_path(p, reader).text) for p in paths)
            took = time.perf_counter() - started
        print(
            f"  {fmt:>4}: {len(paths)} files, {took / len(paths) * 1000:6.1f} ms/file, "
            f"{chars / took / 1000:7.0f} k chars/s"
        )


def ingestion(folder: Path, settings: object, label: str) -> None:
    import ingest

    report = ingest.ingest([folder], settings=settings)  # type: ignore[arg-type]
    files = len(report.added) + len(report.updated)
    print(
        f"{label}: {files} files, {report.chunks_embedded} chunks in {report.seconds:.1f} s "
        f"({files / report.seconds:.2f} files/s; embedding and storing "
        f"{report.chunks_per_second:.1f} chunks/s), {len(report.failed)} failed"
    )
    again = ingest.ingest([folder], settings=settings)  # type: ignore[arg-type]
    print(f"{label} re-run, nothing changed: {again.seconds:.2f} s")


def server_mode(folder: Path, work: Path) -> None:
    import ingest
    from qa import Assistant, Settings

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    chroma = Path(sys.executable).parent / "chroma"
    proc = subprocess.Popen(
        [chroma, "run", "--path", str(work / "srv"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        time.sleep(3)
        settings = Settings(chroma_url=url, index_dir=work / "server-local")
        ingestion(folder, settings, "server mode")
        assistant = Assistant(settings)
        assistant.ask("What did the company announce?")
    finally:
        proc.terminate()
        proc.wait()
    started = time.perf_counter()
    try:
        assistant.ask("What did the company announce?")
    except ingest.IndexUnavailableError:
        print(f"server stopped, open assistant: error after {time.perf_counter() - started:.3f} s")
    started = time.perf_counter()
    run = subprocess.run(
        [sys.executable, "-m", "qa", "ask", "anything?"],
        env={**os.environ, "QA_CHROMA_URL": url},
        capture_output=True,
        text=True,
    )
    print(
        f"server stopped, `python -m qa ask`: exit {run.returncode} after "
        f"{time.perf_counter() - started:.1f} s (process start and model load included)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=40)
    parser.add_argument("--server", action="store_true", help="also measure server mode")
    args = parser.parse_args()
    import ingest

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        made = write_collection(work / "docs", args.files)
        reading(made)
        ingestion(work / "docs", ingest.IndexSettings(index_dir=work / "idx"), "embedded")
        if args.server:
            server_mode(work / "docs", work)


if __name__ == "__main__":
    main()
