"""Server mode against a real ``chroma run`` on 127.0.0.1: ingest, answer, list, delete; then
the server goes away, stops answering or refuses the token, and the user gets a clear error
quickly: no hang, no traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

import ingest
from qa import Assistant, Settings

from .conftest import ROOT, SEED_FILE, SEEDS
from .netguard import loopback_guard

pytestmark = pytest.mark.slow

QUESTION = "What share of global rare earth processing does China control?"


@dataclass
class Server:
    url: str
    proc: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def chroma_server(tmp_path: Path) -> Iterator[Server]:
    """A real Chroma server (the ``chroma`` command of the installed chromadb)."""
    port = _free_port()
    log = (tmp_path / "chroma.log").open("wb")
    guard_report = tmp_path / "guard-report"
    guard_report.mkdir()
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "chroma"),
            "run",
            "--path",
            str(tmp_path / "server-data"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env={**os.environ, loopback_guard.REPORT: str(guard_report)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = Server(f"http://127.0.0.1:{port}", proc)
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{server.url}/api/v2/heartbeat", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert proc.poll() is None and time.monotonic() < deadline, "chroma run did not start"
        time.sleep(0.2)
    try:
        # The console script's Python installed the tests' network guard (tests/netguard/).
        assert (guard_report / str(proc.pid)).read_text() == "guarded\n"
        yield server
    finally:
        server.stop()
        log.close()


def _run(*args: str, env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    run = subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,  # a hang fails the test here
    )
    return run, time.monotonic() - started


def test_ingest_answer_list_and_delete_through_a_chroma_server(
    chroma_server: Server,
    tmp_path: Path,
    embeddings,  # type: ignore[no-untyped-def]
) -> None:
    local = tmp_path / "local"
    settings = Settings(chroma_url=chroma_server.url, index_dir=local)
    report = ingest.ingest([SEEDS], settings=settings, embeddings=embeddings)
    assert report.added == [SEED_FILE.name] and report.ok
    # Chunks and records live on the server: locally only the writer lock, and the search
    # index as a cache (stamped with the server's change stamp, rebuilt when it moves on).
    assert sorted(p.name for p in local.iterdir()) == ["ingest.lock", "search-documents"]

    assistant = Assistant(settings, embeddings=embeddings)
    answer = assistant.ask(QUESTION)
    assert "70 percent" in answer.text and answer.citations[0].source == SEED_FILE.name
    c = answer.citations[0]
    assert SEED_FILE.read_text(encoding="utf-8")[c.start : c.end] == c.quote

    # Another machine (another local folder) sees the same records: nothing to redo.
    elsewhere = Settings(chroma_url=chroma_server.url, index_dir=tmp_path / "other-machine")
    again = ingest.ingest([SEEDS], settings=elsewhere, embeddings=embeddings)
    assert again.unchanged == [SEED_FILE.name] and again.chunks_embedded == 0
    listing = ingest.list_documents(elsewhere, embeddings)
    assert [(d.source, d.chunks) for d in listing.documents] == [
        (SEED_FILE.name, report.chunks_embedded)
    ]
    assert listing.where == f"collection 'documents' on the Chroma server at {chroma_server.url}"

    env = {"QA_CHROMA_URL": chroma_server.url, "QA_INDEX_DIR": str(tmp_path / "cli")}
    asked, _ = _run("-m", "qa", "ask", QUESTION, env=env)
    assert asked.returncode == 0 and "70 percent" in asked.stdout, asked.stderr
    deleted, _ = _run("-m", "ingest", "--delete", SEED_FILE.name, env=env)
    assert deleted.returncode == 0, deleted.stderr
    assert ingest.list_documents(settings, embeddings).documents == []
    assert assistant.ask(QUESTION).refused

    # The server stops: the open assistant and new processes say so at once.
    chroma_server.stop()
    started = time.monotonic()
    with pytest.raises(ingest.IndexUnavailableError, match="cannot reach the Chroma server at"):
        assistant.ask(QUESTION)
    assert time.monotonic() - started < 10
    for args in (("-m", "qa", "ask", QUESTION), ("-m", "ingest", "-q", str(SEEDS))):
        run, _ = _run(*args, env=env)
        assert run.returncode == 2, run.stderr
        assert "Traceback" not in run.stderr
        assert run.stderr.strip().endswith(
            f"error: cannot reach the Chroma server at {chroma_server.url} ([Errno 111] "
            "Connection refused); start it (`chroma run --path DIR --host HOST --port PORT`) "
            "or fix QA_CHROMA_URL"
        )


def test_a_server_gives_the_passages_an_embedded_index_of_the_same_documents_gives(
    chroma_server: Server,
    tmp_path: Path,
    embeddings,  # type: ignore[no-untyped-def]
) -> None:
    """The same documents ingested into a server and into an embedded index: every question
    (publishers, a date, clauses, filters) gets the same passages in the same order, the
    server's client searching with the server's own nearest-neighbour search and keeping no
    vector, the embedded one with the vectors in memory."""
    from .test_retrieval import QUESTIONS, write_articles

    folder = tmp_path / "news"
    folder.mkdir()
    write_articles(folder)
    served = Settings(chroma_url=chroma_server.url, index_dir=tmp_path / "client")
    embedded = Settings(index_dir=tmp_path / "embedded")
    for settings in (served, embedded):
        assert ingest.ingest([folder], settings=settings, embeddings=embeddings).ok
    client = Assistant(served, embeddings=embeddings)
    local = Assistant(embedded, embeddings=embeddings)
    assert client.index.search_index().dimension == 0  # no vector kept
    assert local.index.search_index().dimension > 0
    for question, filters in QUESTIONS:
        a = client.retrieve(question, k=5, filters=filters)
        b = local.retrieve(question, k=5, filters=filters)
        assert b and [(p.id, p.text) for p in a] == [(p.id, p.text) for p in b], question
        assert [p.score for p in a] == pytest.approx([p.score for p in b], abs=1e-5)


def test_a_keyword_candidate_beyond_the_servers_nearest_is_taken_as_near_as_the_farthest(
    chroma_server: Server,
    tmp_path: Path,
    embeddings,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A server's client fetches no vector, so a chunk found by its words but not among the
    ``DENSE_POOL`` nearest gets the farthest of those as its similarity: an upper bound (a
    nearer chunk would have been returned). The nearest keep their exact cosines."""
    import numpy as np

    from qa import retrieval

    from .test_retrieval import write_articles

    monkeypatch.setattr(retrieval, "DENSE_POOL", 2)
    folder = tmp_path / "news"
    folder.mkdir()
    write_articles(folder)
    settings = Settings(chroma_url=chroma_server.url, index_dir=tmp_path / "client")
    ingest.ingest([folder], settings=settings, embeddings=embeddings)
    client = Assistant(settings, embeddings=embeddings)
    question = "Part ZX-4471, and the bridge repair crews"
    found = client.retrieve(question, k=6)
    every = client.index.collection.get(include=["documents"])
    texts = dict(zip(every["ids"], every["documents"] or [], strict=True))
    q = np.array(embeddings.embed_query(question))
    vectors = np.array(embeddings.embed_documents(list(texts.values())))
    norms = np.linalg.norm(vectors, axis=1) * np.linalg.norm(q)
    cosines = dict(zip(texts, vectors @ q / norms, strict=True))
    nearest = sorted(cosines, key=cosines.__getitem__)[-2:]
    floor = min(cosines[i] for i in nearest)
    assert len({p.id for p in found} - set(nearest)) >= 2  # found by their words alone
    for p in found:
        assert p.similarity is not None
        if p.id in nearest:
            assert p.similarity == pytest.approx(cosines[p.id], abs=1e-4)
        else:
            assert p.similarity == pytest.approx(floor, abs=1e-4) and p.similarity >= cosines[p.id]


def test_answering_before_anything_was_ingested_names_the_missing_collection(
    chroma_server: Server,
    tmp_path: Path,
    embeddings,  # type: ignore[no-untyped-def]
) -> None:
    settings = Settings(chroma_url=chroma_server.url, index_dir=tmp_path / "local")
    with pytest.raises(ingest.IndexNotFoundError, match="no collection 'documents' on the Chroma"):
        Assistant(settings, embeddings=embeddings).ask(QUESTION)


def test_a_server_that_does_not_answer_times_out_with_a_clear_error(tmp_path: Path) -> None:
    """A socket that accepts connections and never replies, as a stuck server would."""
    with socket.socket() as stuck:
        stuck.bind(("127.0.0.1", 0))
        stuck.listen(8)
        url = f"http://127.0.0.1:{stuck.getsockname()[1]}"
        env = {"QA_CHROMA_URL": url, "QA_CHROMA_TIMEOUT": "1", "QA_INDEX_DIR": str(tmp_path)}
        run, _ = _run("-m", "ingest", "--list", env=env)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert f"the Chroma server at {url} did not answer within 1 s (QA_CHROMA_TIMEOUT)" in run.stderr


class _Refusing(BaseHTTPRequestHandler):
    """An auth proxy in front of Chroma that rejects every request, noting its headers."""

    seen: list[dict[str, str]] = []  # noqa: RUF012 (shared with the test on purpose)

    def do_GET(self) -> None:
        _Refusing.seen.append(dict(self.headers))
        self.send_response(401)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize(
    ("header", "sent"),
    [("Authorization", "Bearer s3cret"), ("X-Chroma-Token", "s3cret")],
)
def test_the_token_is_sent_and_a_refusal_is_explained(
    tmp_path: Path, header: str, sent: str
) -> None:
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    _Refusing.seen.clear()
    url = f"http://127.0.0.1:{proxy.server_address[1]}"
    try:
        settings = ingest.IndexSettings(
            chroma_url=url, chroma_token="s3cret", chroma_auth_header=header, index_dir=tmp_path
        )
        with pytest.raises(ingest.IndexUnavailableError) as err:
            ingest.list_documents(settings)
    finally:
        proxy.shutdown()
        proxy.server_close()
        thread.join()
    assert str(err.value) == (
        f"the Chroma server at {url} refused the request (HTTP 401): check QA_CHROMA_TOKEN "
        "and QA_CHROMA_AUTH_HEADER"
    )
    assert _Refusing.seen and _Refusing.seen[0].get(header) == sent
