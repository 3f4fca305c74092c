"""The figure groups of ``bench/perf.py``; each runs in a process of its own, returns a dict.

- ``ingestion``: the first N MultiHop-RAG articles through ``ingest.ingest`` (twice, into
  fresh indexes, around the others); the floor (the model's raw ``encode`` of the very chunk
  texts we stored); the peer (LangChain's tutorial: ``RecursiveCharacterTextSplitter(1000,
  200)`` + ``Chroma.from_documents``, the same MiniLM) and the floor of its texts; then the
  unchanged corpus again, in this process and as a CLI run.
- ``queries``: ``qa.retrieve`` (k = 10) and ``qa.ask`` (extractive) over the dev questions,
  interleaved per question with the floor (encoding the question alone, with the torch threads
  ``embed_query`` uses, and with torch's default count) and the peer's retriever, so that a
  burst of load on the shared cores hits them all alike.
- ``startup``: ``python -m qa ask`` from process start to its answer on stdout; peak memory.
- ``scale``: the seed index grown to each size by storing its chunks again (their vectors with
  a little noise, under new ids and document names), measured by a fresh process per size
  (``point``), so that memory is that size's own.

The model is loaded before any clock starts, except in ``startup``, whose figure it is.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .multihop_data import corpus, dev_queries, write_articles
from .multihop_rag import K, peer_chunks

ARTICLES, SEED, PEER, SCALED = "articles", "index", "peer-chroma", "scale-index"
AGAIN = "index-again"  # the second timed ingestion; deleted after
PEER_COLLECTION = "tutorial"
NOISE = 0.005  # per dimension: a copy keeps a cosine of about 0.995 to its original
_PUT_BATCH = 5000  # chunks per Chroma upsert, below its maximum batch size


def rss_mb() -> float:
    """Resident memory of this process now, in MB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise OSError("no VmRSS in /proc/self/status")


def folder_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def latency(seconds: list[float]) -> dict[str, float]:
    ms = np.array(seconds) * 1000
    return {"p50_ms": float(np.percentile(ms, 50)), "p95_ms": float(np.percentile(ms, 95))}


def questions(n: int) -> list[str]:
    return [q["query"] for q in dev_queries()[:n]]


def _embeddings(*, warm: bool = True) -> Any:
    from ingest.embeddings import SentenceTransformerEmbeddings
    from ingest.settings import IndexSettings

    embeddings = SentenceTransformerEmbeddings(batch_size=IndexSettings().embedding_batch_size)
    if warm:
        embeddings.embed_query("warm up")  # loads the model: start-up is a figure of its own
    return embeddings


def _assistant(index_dir: Path) -> Any:
    """What ``qa.retrieve`` and ``qa.ask`` use (``qa.default_assistant()``), built for
    ``index_dir`` instead of from the environment."""
    import qa  # first: it keeps Chroma's telemetry and the hub off

    return qa.Assistant(qa.Settings(index_dir=index_dir, answer_mode="extractive"))


def _floor(embeddings: Any, texts: list[str]) -> float:
    """Seconds the model alone takes to encode these texts, as ingestion batches them."""
    started = time.perf_counter()
    embeddings.model.encode(
        texts,
        batch_size=embeddings.batch_size,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=False,
    )
    return time.perf_counter() - started


def _encode_one(model: Any, question: str) -> None:
    """The floor of a query: the model encoding the question, with the torch threads that
    ``embed_query`` uses (the default count is timed beside it, as ``floor_default_threads``)."""
    from ingest.embeddings import QUERY_THREADS, torch_threads

    with torch_threads(QUERY_THREADS):
        model.encode([question], normalize_embeddings=True, show_progress_bar=False)


def _mean_tokens(embeddings: Any, texts: list[str]) -> float:
    cap = embeddings.max_tokens - embeddings.special_tokens  # the model truncates the rest
    return float(np.mean([min(n, cap) for n in embeddings.count_tokens(texts)]))


def _ingest_timed(folder: Path, index_dir: Path, embeddings: Any, expected: int) -> float:
    import ingest

    settings = ingest.IndexSettings(index_dir=index_dir)
    started = time.perf_counter()
    report = ingest.ingest([folder], settings=settings, embeddings=embeddings)
    seconds = time.perf_counter() - started
    if not report.ok or len(report.added) != expected:
        raise RuntimeError(f"ingestion failed: {report.summary()} {report.failed}")
    return seconds


def _tutorial(chosen: list[dict[str, Any]], folder: Path, embeddings: Any) -> list[Any]:
    """LangChain's tutorial pipeline, split to stored; returns its chunks."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings
    from langchain_chroma import Chroma

    docs = peer_chunks(chosen)
    client = chromadb.PersistentClient(
        str(folder), settings=ChromaSettings(anonymized_telemetry=False)
    )
    Chroma.from_documents(
        docs,
        embeddings,
        client=client,
        collection_name=PEER_COLLECTION,
        collection_configuration={"hnsw": {"space": "cosine"}},
    )
    return docs


def ingestion(work: Path, articles: int) -> dict[str, Any]:
    """Ours, the floor, the peer, ours again (into a fresh index): the mean of our two runs
    sits between the floor and the peer in time, so load that drifts during the group counts
    for all three alike. Then the peer's own floor, and the re-runs on the unchanged corpus."""
    import ingest  # first: it keeps Chroma's telemetry and the hub off
    from ingest.store import Index

    chosen = corpus()[:articles]
    for name in (ARTICLES, SEED, PEER, AGAIN):
        shutil.rmtree(work / name, ignore_errors=True)
    write_articles(work / ARTICLES, chosen)
    embeddings = _embeddings()

    ours = [_ingest_timed(work / ARTICLES, work / SEED, embeddings, len(chosen))]
    settings = ingest.IndexSettings(index_dir=work / SEED)
    with Index(settings, embeddings, create=False) as index:
        texts = index.collection.get(include=["documents"])["documents"] or []
    floor = _floor(embeddings, texts)
    started = time.perf_counter()
    docs = _tutorial(chosen, work / PEER, embeddings)  # its splitting counts, as ours does
    peer = time.perf_counter() - started
    ours.append(_ingest_timed(work / ARTICLES, work / AGAIN, embeddings, len(chosen)))
    shutil.rmtree(work / AGAIN)
    peer_texts = [d.page_content for d in docs]
    peer_floor = _floor(embeddings, peer_texts)

    started = time.perf_counter()
    again = ingest.ingest([work / ARTICLES], settings=settings, embeddings=embeddings)
    rerun = time.perf_counter() - started
    if again.chunks_embedded or len(again.unchanged) != len(chosen):
        raise RuntimeError(f"the unchanged corpus was ingested again: {again.summary()}")
    started = time.perf_counter()
    cli = [sys.executable, "-m", "ingest", "-q", str(work / ARTICLES)]
    subprocess.run([*cli, "--index-dir", str(work / SEED)], check=True, stdout=subprocess.DEVNULL)
    rerun_cli = time.perf_counter() - started
    return {
        "articles": len(chosen),
        "chunks": len(texts),
        "ours_s": float(np.mean(ours)),
        "ours_runs_s": ours,
        "floor_s": floor,
        "peer_chunks": len(docs),
        "peer_s": peer,
        "peer_floor_s": peer_floor,
        "tokens": _mean_tokens(embeddings, texts),
        "peer_tokens": _mean_tokens(embeddings, peer_texts),
        "rerun_s": rerun,
        "rerun_cli_s": rerun_cli,
    }


def queries(work: Path, n: int) -> dict[str, Any]:
    assistant = _assistant(work / SEED)
    from chromadb.config import Settings as ChromaSettings
    from langchain_chroma import Chroma

    embeddings = assistant.embeddings
    model = embeddings.model
    asked = questions(n)
    for q in asked[:3]:  # warm-up: model, keyword index, Chroma's segments
        assistant.retrieve(q, k=K)
        assistant.ask(q)
    memory = rss_mb()  # before the peer's index is opened
    peer = Chroma(
        collection_name=PEER_COLLECTION,
        embedding_function=embeddings,
        persist_directory=str(work / PEER),
        client_settings=ChromaSettings(anonymized_telemetry=False),
    ).as_retriever(search_kwargs={"k": K})
    steps: dict[str, Callable[[str], object]] = {
        "floor": lambda q: _encode_one(model, q),
        "floor_default_threads": lambda q: model.encode([q], show_progress_bar=False),
        "retrieve": lambda q: assistant.retrieve(q, k=K),
        "ask": assistant.ask,
        "peer": peer.invoke,
    }
    for q in asked[:3]:
        for step in steps.values():
            step(q)
    times = _in_turn(steps, asked)
    return {"questions": len(asked), "rss_mb": memory} | {
        name: latency(values) for name, values in times.items()
    }


def _in_turn(steps: dict[str, Callable[[str], object]], asked: list[str]) -> dict[str, list[float]]:
    """Seconds of every step on every question. Each question takes the steps in another
    order: what one step leaves behind (a thread pool still spinning, warm caches) must not
    always favour the same next one."""
    times: dict[str, list[float]] = {name: [] for name in steps}
    order = list(steps)
    for i, q in enumerate(asked):
        for name in order[i % len(order) :] + order[: i % len(order)]:
            started = time.perf_counter()
            steps[name](q)
            times[name].append(time.perf_counter() - started)
    return times


def startup(work: Path, runs: int) -> dict[str, Any]:
    """``python -m qa ask`` as a user runs it: seconds to the answer's first line, peak memory."""
    env = {**os.environ, "QA_INDEX_DIR": str(work / SEED), "QA_ANSWER_MODE": "extractive"}
    question = questions(1)[0]
    seconds, peaks = [], []
    for _ in range(runs):
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "qa", "ask", question],
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )
        assert proc.stdout is not None
        first = proc.stdout.readline()
        seconds.append(time.perf_counter() - started)
        proc.stdout.read()
        proc.stdout.close()
        _, status, usage = os.wait4(proc.pid, 0)  # wait4: this child's own peak memory
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode or not first.strip():
            raise RuntimeError(f"python -m qa ask failed (exit {proc.returncode})")
        peaks.append(usage.ru_maxrss / 1024)
    return {
        "runs": runs,
        "first_answer_s": float(np.median(seconds)),
        "first_answer_max_s": max(seconds),
        "peak_rss_mb": float(np.median(peaks)),
    }


def _copies(base: dict[str, Any], done: int, rng: np.random.Generator) -> Iterator[Any]:
    """Copies of the base chunks, numbered on from ``done``: new ids and document names, the
    same text and metadata otherwise, each vector nudged by noise and normalized again."""
    from ingest.store import StoredChunk

    ids, texts, metas, vectors = base["ids"], base["documents"], base["metadatas"], base["vectors"]
    m = done
    while True:
        copy, j = divmod(m, len(ids))
        copy += 1
        vector = vectors[j] + rng.normal(0.0, NOISE, vectors.shape[1])
        meta = {**metas[j], "source": f"copy{copy}/{metas[j]['source']}"}
        yield StoredChunk(f"{ids[j]}-{copy}", texts[j], meta), vector / np.linalg.norm(vector)
        m += 1


def grow(index_dir: Path, target: int, base: dict[str, Any], rng: np.random.Generator) -> float:
    """Add copies until the index holds ``target`` chunks; returns the seconds its keyword
    index took to rebuild (on closing)."""
    from ingest.settings import IndexSettings
    from ingest.store import Index

    index = Index(IndexSettings(index_dir=index_dir), _embeddings(warm=False), create=False)
    try:
        count = index.count()
        made = _copies(base, count - len(base["ids"]), rng)
        while count < target:
            batch = [next(made) for _ in range(min(_PUT_BATCH, target - count))]
            index.put([c for c, _ in batch], np.array([v for _, v in batch], dtype=np.float32))
            count += len(batch)
    except BaseException:
        index.close(refresh=False)
        raise
    started = time.perf_counter()
    index.close()
    return time.perf_counter() - started


def scale(work: Path, sizes: list[int], n: int, result_dir: Path) -> dict[str, Any]:
    from ingest.settings import IndexSettings
    from ingest.store import Index

    index_dir = work / SCALED
    shutil.rmtree(index_dir, ignore_errors=True)
    shutil.copytree(work / SEED, index_dir)
    embeddings = _embeddings(warm=False)
    with Index(IndexSettings(index_dir=index_dir), embeddings, create=False) as index:
        got = index.collection.get(include=["documents", "metadatas", "embeddings"])
    base = {
        "ids": got["ids"],
        "documents": got["documents"],
        "metadatas": got["metadatas"],
        "vectors": np.asarray(got["embeddings"], dtype=np.float32),
    }
    rng = np.random.default_rng(0)
    points = []
    for size in sorted(sizes):
        rebuild = grow(index_dir, size, base, rng) if size > len(base["ids"]) else None
        out = result_dir / f"point-{size}.json"
        run_group("point", ["--index", str(index_dir), "--queries", str(n)], out)
        points.append(read_result(out) | {"keyword_rebuild_s": rebuild})
    return {"points": points}


def point(index_dir: Path, n: int) -> dict[str, Any]:
    """Retrieval at one size of the index, in a process that has loaded nothing else."""
    assistant = _assistant(index_dir)
    model = assistant.embeddings.model
    asked = questions(n)
    for q in asked[:3]:
        assistant.retrieve(q, k=K)  # loads the model, the keyword index and Chroma's segments
    memory = rss_mb()
    times = _in_turn(
        {
            "floor": lambda q: _encode_one(model, q),
            "retrieve": lambda q: assistant.retrieve(q, k=K),
        },
        asked,
    )
    return {
        "chunks": assistant.index.count(),
        "retrieve": latency(times["retrieve"]),
        "floor": latency(times["floor"]),
        "rss_mb": memory,
        "index_mb": folder_mb(index_dir),
    }


def run_group(group: str, args: list[str], out: Path) -> None:
    """Run one group in a fresh Python process; its figures land in ``out`` (JSON)."""
    subprocess.run(
        [sys.executable, "-m", "bench.perf", "--group", group, "--result", str(out), *args],
        check=True,
    )


def read_result(path: Path) -> dict[str, Any]:
    import json

    return dict(json.loads(path.read_text(encoding="utf-8")))
