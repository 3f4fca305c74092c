"""Retrieval on MultiHop-RAG (dev split): this tool against two peers, on the same corpus.

    python -m bench.multihop_rag [--work-dir DIR] [--limit N] [--models M1,M2] [--split test]

Writes each article as Markdown with front matter, ingests the folder through the public API
(``ingest.ingest``), runs ``qa.retrieve(query, k=10)`` for every non-null dev query, and prints
Hits@4, Hits@10, MRR@10, evidence recall@10, all-evidence@10 and the mean passage length,
per question type too, beside the same figures, in the same run, for:

- LangChain's tutorial pipeline: ``RecursiveCharacterTextSplitter(1000, 200)``, the same MiniLM,
  ``Chroma.from_documents`` and ``similarity_search``;
- BM25 alone (bm25s, English stop words, Snowball stemmer) over those same chunks.

Peer chunks carry a title/source/date header, as in the data's README. Metrics follow the
README: spaces and newlines are stripped from passages and facts before substring tests.
With --work-dir the articles, the indexes (one per embedding model, ``index-<model>``) and
the peer's Chroma are kept for the next run (embedding the corpus takes 6 minutes on 2 idle
cores with MiniLM, about four times as long with multilingual-e5-small, and far longer when
the cores are busy); without it all goes into a temporary folder. ``--models`` runs this tool
with each embedding model (default: the configured one, ``QA_EMBEDDING_MODEL``).

Latency: ``qa.retrieve`` p50/p95 over the first 300 queries, each timed in turn with its
floor, the same model encoding the question alone (``embed_query``), so that load from
other work on the machine weighs on both alike.

The test split (``--split test``) is for reporting a configuration tuned on dev, once.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .multihop_data import corpus, dev_queries, is_dev, squash, write_articles
from .multihop_data import queries as all_queries

K = 10
LATENCY_QUERIES = 300
PEER_CHUNK_CHARS, PEER_OVERLAP = 1000, 200  # the tutorial's splitter settings


@dataclass
class Figures:
    name: str
    hits4: float = 0.0
    hits10: float = 0.0
    mrr10: float = 0.0
    evidence_recall: float = 0.0
    all_evidence: float = 0.0
    passage_chars: float = 0.0
    by_type: dict[str, tuple[float, float, int]] | None = None  # type -> (recall, all, n)
    seconds: float = 0.0
    latency: dict[str, float] | None = None  # retrieve and floor p50/p95, ms


def score(
    name: str, queries: list[dict[str, Any]], retrieve: Callable[[str], list[str]]
) -> Figures:
    """Figures of a retriever that returns the texts of its top passages for a query."""
    f = Figures(name)
    lengths: list[int] = []
    per_type: dict[str, list[tuple[float, bool]]] = defaultdict(list)
    started = time.perf_counter()
    for q in queries:
        texts = retrieve(q["query"])[:K]
        lengths += [len(t) for t in texts]
        passages = [squash(t) for t in texts]
        facts = [squash(e["fact"]) for e in q["evidence_list"]]
        hits = [any(fact in p for fact in facts) for p in passages]
        f.hits4 += any(hits[:4])
        f.hits10 += any(hits)
        f.mrr10 += next((1 / (r + 1) for r, h in enumerate(hits) if h), 0.0)
        found = [any(fact in p for p in passages) for fact in facts]
        recall = sum(found) / len(found)
        f.evidence_recall += recall
        f.all_evidence += all(found)
        per_type[q["question_type"]].append((recall, all(found)))
    f.seconds = time.perf_counter() - started
    n = len(queries)
    f.hits4, f.hits10, f.mrr10 = f.hits4 / n, f.hits10 / n, f.mrr10 / n
    f.evidence_recall, f.all_evidence = f.evidence_recall / n, f.all_evidence / n
    f.passage_chars = statistics.mean(lengths) if lengths else 0.0
    f.by_type = {
        t: (statistics.mean(r for r, _ in v), statistics.mean(a for _, a in v), len(v))
        for t, v in sorted(per_type.items())
    }
    return f


def ours(work: Path, queries: list[dict[str, Any]], model: str) -> Figures:
    """This tool with one embedding model: its own index in the work folder, ingested through
    ``ingest.ingest`` (nothing to do when it is complete), searched as ``qa.retrieve`` does."""
    import ingest
    import qa

    articles = work / "articles"
    if not articles.exists():
        write_articles(articles)
    settings = qa.Settings(index_dir=work / f"index-{model}", embedding_model=model)
    started = time.perf_counter()
    report = ingest.ingest([articles], settings=settings)
    print(f"{model}: {report.summary()} ({time.perf_counter() - started:.0f} s)", flush=True)
    assistant = qa.Assistant(settings)
    assistant.retrieve(queries[0]["query"], k=K)  # load the model and the search index first
    f = score(
        f"this tool ({model})", queries, lambda q: [p.text for p in assistant.retrieve(q, k=K)]
    )
    f.latency = latency(assistant, [q["query"] for q in queries[:LATENCY_QUERIES]])
    assistant.index.close()
    return f


def latency(assistant: Any, questions: list[str]) -> dict[str, float]:
    """p50/p95 ms of ``retrieve`` and of its floor (the question encoded alone), in turn."""
    import numpy as np

    times: dict[str, list[float]] = {"retrieve": [], "floor": []}
    for q in questions:
        started = time.perf_counter()
        assistant.embeddings.embed_query(q)
        times["floor"].append(time.perf_counter() - started)
        started = time.perf_counter()
        assistant.retrieve(q, k=K)
        times["retrieve"].append(time.perf_counter() - started)
    return {
        f"{name}_{p}": float(np.percentile(np.array(t) * 1000, int(p[1:])))
        for name, t in times.items()
        for p in ("p50", "p95")
    }


def peer_chunks(articles: list[dict[str, Any]] | None = None, first: int = 0) -> list[Any]:
    """The tutorial's chunks: RecursiveCharacterTextSplitter(1000, 200), with a header.

    Ids are ``<article number>-<chunk number>``, articles numbered from ``first``."""
    from langchain_core.documents import Document
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(
        chunk_size=PEER_CHUNK_CHARS, chunk_overlap=PEER_OVERLAP
    )
    docs = []
    for i, a in enumerate(corpus() if articles is None else articles):
        header = f"{a['title']}\n{a['source']} {a['published_at'][:10]}\n"
        for piece in splitter.split_text(a["body"]):
            docs.append(
                Document(
                    page_content=header + piece,
                    id=f"{first + i}-{len(docs)}",
                    metadata={"body_start": len(header)},
                )
            )
    return docs


def tutorial(work: Path, queries: list[dict[str, Any]], docs: list[Any]) -> Figures:
    import chromadb
    from chromadb.config import Settings as ChromaSettings
    from langchain_chroma import Chroma

    from ingest.embeddings import SentenceTransformerEmbeddings

    client = chromadb.PersistentClient(
        str(work / "peer-chroma"), settings=ChromaSettings(anonymized_telemetry=False)
    )
    embeddings = SentenceTransformerEmbeddings()
    store = Chroma(
        client=client,
        collection_name="tutorial",
        embedding_function=embeddings,
        collection_configuration={"hnsw": {"space": "cosine"}},
    )
    if store._collection.count() != len(docs):
        store.reset_collection()
        started = time.perf_counter()
        for i in range(0, len(docs), 256):
            store.add_documents(docs[i : i + 256])
        print(
            f"tutorial: embedded {len(docs)} chunks ({time.perf_counter() - started:.0f} s)",
            flush=True,
        )

    def body(d: Any) -> str:
        return str(d.page_content[d.metadata["body_start"] :])

    return score(
        "LangChain tutorial (dense)",
        queries,
        lambda q: [body(d) for d in store.similarity_search(q, k=K)],
    )


def bm25_alone(queries: list[dict[str, Any]], docs: list[Any]) -> Figures:
    import bm25s
    import Stemmer

    stemmer = Stemmer.Stemmer("english")
    tokens = bm25s.tokenize(
        [d.page_content for d in docs], stopwords="en", stemmer=stemmer, show_progress=False
    )
    model = bm25s.BM25()
    model.index(tokens, show_progress=False)
    bodies = [d.page_content[d.metadata["body_start"] :] for d in docs]

    def retrieve(q: str) -> list[str]:
        query = bm25s.tokenize([q], stopwords="en", stemmer=stemmer, show_progress=False)
        found, _ = model.retrieve(query, k=K, show_progress=False)
        return [bodies[i] for i in found[0]]

    return score("BM25 alone", queries, retrieve)


def table(results: list[Figures]) -> str:
    rows = [
        "| pipeline | Hits@4 | Hits@10 | MRR@10 | evidence recall@10 | all-evidence@10 "
        "| mean passage chars |",
        "|---|---|---|---|---|---|---|",
    ]
    for f in results:
        rows.append(
            f"| {f.name} | {f.hits4:.3f} | {f.hits10:.3f} | {f.mrr10:.3f} | "
            f"{f.evidence_recall:.3f} | {f.all_evidence:.3f} | {f.passage_chars:.0f} |"
        )
    types = sorted({t for f in results for t in (f.by_type or {})})
    rows += [
        "",
        "| evidence recall@10 / all-evidence@10 by question type | "
        + " | ".join(f"{t} (n={(results[0].by_type or {}).get(t, (0, 0, 0))[2]})" for t in types)
        + " |",
        "|---|" + "---|" * len(types),
    ]
    for f in results:
        cells = [f"{(f.by_type or {})[t][0]:.3f} / {(f.by_type or {})[t][1]:.3f}" for t in types]
        rows.append(f"| {f.name} | " + " | ".join(cells) + " |")
    timed = [f for f in results if f.latency]
    if timed:
        rows += [
            "",
            "| `qa.retrieve`, k = 10 | p50 / p95 ms | floor p50 / p95 ms | p50 / floor |",
            "|---|---|---|---|",
        ]
        for f in timed:
            t = f.latency or {}
            rows.append(
                f"| {f.name} | {t['retrieve_p50']:.1f} / {t['retrieve_p95']:.1f} | "
                f"{t['floor_p50']:.1f} / {t['floor_p95']:.1f} | "
                f"{t['retrieve_p50'] / t['floor_p50']:.2f} |"
            )
    return "\n".join(rows)


def split_queries(split: str) -> list[dict[str, Any]]:
    if split == "dev":
        return dev_queries()
    return [
        q for q in all_queries() if not is_dev(q["query"]) and q["question_type"] != "null_query"
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work-dir", type=Path, help="keep articles and indexes here")
    parser.add_argument("--limit", type=int, help="only the first N dev queries")
    parser.add_argument("--only-ours", action="store_true", help="skip the peers")
    parser.add_argument(
        "--models", help="comma-separated embedding models for this tool (default: configured)"
    )
    parser.add_argument("--split", choices=("dev", "test"), default="dev")
    args = parser.parse_args()
    from ingest.settings import IndexSettings

    models = args.models.split(",") if args.models else [IndexSettings().embedding_model]
    chosen = split_queries(args.split)[: args.limit]
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work_dir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        results = [ours(work, chosen, model) for model in models]
        if not args.only_ours:
            docs = peer_chunks()
            results += [tutorial(work, chosen, docs), bm25_alone(chosen, docs)]
    print(f"\nMultiHop-RAG {args.split} split: {len(chosen)} queries with evidence, k = {K}\n")
    print(table(results))
    for f in results:
        print(f"{f.name}: {f.seconds / len(chosen) * 1000:.1f} ms per query")


if __name__ == "__main__":
    main()
