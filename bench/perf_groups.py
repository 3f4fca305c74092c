"""The figure groups of ``bench/perf.py``; each runs in a process of its own, returns a dict.

- ``ingestion``: the first N MultiHop-RAG articles, in rounds, through ``ingest.ingest``; the
  floor (the model's raw ``encode`` of the very chunk texts we store); the peer (LangChain's
  tutorial: ``RecursiveCharacterTextSplitter(1000, 200)`` + ``Chroma.from_documents``, the
  same MiniLM) and the floor of its texts; then the unchanged corpus again, in this process
  and as a CLI run.
- ``queries``: ``qa.retrieve`` (k = 10) and ``qa.ask`` (extractive) over the dev questions,
  interleaved per question with the floor (encoding the question alone, with the torch threads
  ``embed_query`` uses, and with torch's default count) and the peer's retriever, so that a
  burst of load on the shared cores hits them all alike.
- ``startup``: ``python -m qa ask`` from process start to its answer on stdout; peak memory.
- ``scale``: the seed index grown to each size by storing its chunks again (their vectors with
  a little noise, under new ids and document names); memory by a fresh process per size
  (``point``), so that it is that size's own; latency of all sizes in turn, in one process.

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
STAGED = "staged"  # articles waiting for their round
ROUNDS = 5  # the articles arrive in this many rounds (see ``ingestion``)
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


def _our_texts(files: list[Path], embeddings: Any) -> dict[str, list[str]]:
    """Each file's chunk texts as ingestion makes them (split only: nothing is embedded)."""
    from ingest.embeddings import token_facts
    from ingest.load import read_path
    from ingest.pipeline import chunk_document
    from ingest.settings import IndexSettings
    from ingest.split import SentenceChunker

    settings = IndexSettings()
    chunker = SentenceChunker(
        token_facts(embeddings), settings.chunk_tokens, settings.chunk_overlap_tokens
    )
    return {f.name: [c.text for c in chunk_document(read_path(f), chunker)] for f in files}


def ingestion(work: Path, articles: int) -> dict[str, Any]:
    """The articles arrive in rounds; each round is ingested by us (``ingest.ingest`` on the
    folder: only the new files are read), encoded by the floor, stored by the peer
    (``Chroma.from_documents``, its splitting included) and encoded as the peer's floor, the
    four in another order each round. Load that comes and goes on the shared cores then
    weighs on all four alike, as it cannot when each runs whole, minutes apart."""
    import ingest  # first: it keeps Chroma's telemetry and the hub off

    import chromadb  # isort: skip
    from chromadb.config import Settings as ChromaSettings
    from langchain_chroma import Chroma

    chosen = corpus()[:articles]
    for name in (STAGED, ARTICLES, SEED, PEER):
        shutil.rmtree(work / name, ignore_errors=True)
    write_articles(work / STAGED, chosen)
    files = sorted((work / STAGED).iterdir())  # named 000-…, 001-…: in corpus order
    (work / ARTICLES).mkdir()
    settings = ingest.IndexSettings(index_dir=work / SEED)
    embeddings = _embeddings()
    texts = _our_texts(files, embeddings)
    client = chromadb.PersistentClient(
        str(work / PEER), settings=ChromaSettings(anonymized_telemetry=False)
    )
    seconds = dict.fromkeys(("ours", "floor", "peer", "peer_floor"), 0.0)
    peer_texts: list[str] = []
    rounds = [r for r in np.array_split(np.arange(len(chosen)), ROUNDS) if len(r)]
    for n, numbers in enumerate(rounds):
        for i in numbers:
            files[i].rename(work / ARTICLES / files[i].name)
        batch = [chosen[i] for i in numbers]
        ours_texts = [t for i in numbers for t in texts[files[i].name]]
        theirs = [d.page_content for d in peer_chunks(batch, first=int(numbers[0]))]
        peer_texts += theirs

        def ours(expected: int = len(numbers)) -> None:
            report = ingest.ingest([work / ARTICLES], settings=settings, embeddings=embeddings)
            if not report.ok or len(report.added) != expected:
                raise RuntimeError(f"ingestion failed: {report.summary()} {report.failed}")

        def peer(batch: list[dict[str, Any]] = batch, first: int = int(numbers[0])) -> None:
            Chroma.from_documents(
                peer_chunks(batch, first=first),
                embeddings,
                client=client,
                collection_name=PEER_COLLECTION,
                collection_configuration={"hnsw": {"space": "cosine"}},
            )

        steps: dict[str, Callable[[], object]] = {
            "ours": ours,
            "floor": lambda t=ours_texts: _floor(embeddings, t),
            "peer": peer,
            "peer_floor": lambda t=theirs: _floor(embeddings, t),
        }
        order = list(steps)
        for name in order[n % len(order) :] + order[: n % len(order)]:
            started = time.perf_counter()
            steps[name]()
            seconds[name] += time.perf_counter() - started

    stored = _stored_texts(work / SEED, embeddings)
    expected = sorted(t for f in files for t in texts[f.name])
    if sorted(stored) != expected:
        raise RuntimeError("the floor did not encode the texts that ingestion stored")
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
        "rounds": len(rounds),
        "chunks": len(stored),
        "ours_s": seconds["ours"],
        "floor_s": seconds["floor"],
        "peer_chunks": len(peer_texts),
        "peer_stored": client.get_collection(PEER_COLLECTION).count(),
        "peer_s": seconds["peer"],
        "peer_floor_s": seconds["peer_floor"],
        "tokens": _mean_tokens(embeddings, stored),
        "peer_tokens": _mean_tokens(embeddings, peer_texts),
        "rerun_s": rerun,
        "rerun_cli_s": rerun_cli,
    }


def _stored_texts(index_dir: Path, embeddings: Any) -> list[str]:
    from ingest.settings import IndexSettings
    from ingest.store import Index

    with Index(IndexSettings(index_dir=index_dir), embeddings, create=False) as index:
        return index.collection.get(include=["documents"])["documents"] or []


def queries(work: Path, n: int) -> dict[str, Any]:
    assistant = _assistant(work / SEED)
    from chromadb.config import Settings as ChromaSettings
    from langchain_chroma import Chroma

    embeddings = assistant.embeddings
    model = embeddings.model
    asked = questions(n)
    for q in asked[:3]:  # warm-up: model, search index, Chroma
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
    """Add copies until the index holds ``target`` chunks; returns the seconds its search
    index took to take them in (on closing: every new chunk fetched back and tokenized)."""
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
    """The seed index, then a copy grown to each larger size. Memory and size come from a
    fresh process per index (``point``); the latencies from this one, every question asked
    of each index in turn, so that all sizes meet the same load."""
    from ingest.settings import IndexSettings
    from ingest.store import Index

    embeddings = _embeddings(warm=False)
    with Index(IndexSettings(index_dir=work / SEED), embeddings, create=False) as index:
        got = index.collection.get(include=["documents", "metadatas", "embeddings"])
    base = {
        "ids": got["ids"],
        "documents": got["documents"],
        "metadatas": got["metadatas"],
        "vectors": np.asarray(got["embeddings"], dtype=np.float32),
    }
    rng = np.random.default_rng(0)
    folders, points = [], []
    folder, count = work / SEED, len(base["ids"])
    for size in sorted(sizes):
        rebuild = None
        if size > count:
            grown = work / f"{SCALED}-{size}"
            shutil.rmtree(grown, ignore_errors=True)
            shutil.copytree(folder, grown)
            rebuild = grow(grown, size, base, rng)
            folder, count = grown, size
        elif folders:
            continue  # no larger than the index before: nothing new to measure
        out = result_dir / f"point-{size}.json"
        run_group("point", ["--index", str(folder)], out)
        folders.append(folder)
        points.append(read_result(out) | {"index_rebuild_s": rebuild})

    assistants = [_assistant(f) for f in folders]
    model = assistants[0].embeddings.model
    asked = questions(n)
    steps: dict[str, Callable[[str], object]] = {"floor": lambda q: _encode_one(model, q)}
    for i, assistant in enumerate(assistants):
        steps[str(i)] = lambda q, a=assistant: a.retrieve(q, k=K)
    for q in asked[:3]:  # loads the model, the search indexes and Chroma
        for step in steps.values():
            step(q)
    times = _in_turn(steps, asked)
    for i, p in enumerate(points):
        p |= {"retrieve": latency(times[str(i)]), "floor": latency(times["floor"])}
    return {"points": points, "questions": len(asked)}


def point(index_dir: Path) -> dict[str, Any]:
    """Memory and size of one index, in a process that has loaded nothing else."""
    assistant = _assistant(index_dir)
    for q in questions(3):
        assistant.retrieve(q, k=K)  # loads the model, the search index and Chroma
    return {
        "chunks": assistant.index.count(),
        "rss_mb": rss_mb(),
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
