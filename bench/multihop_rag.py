"""Retrieval on MultiHop-RAG (dev split): this tool against two peers, on the same corpus.

    python -m bench.multihop_rag [--work-dir DIR] [--limit N]

Writes each article as Markdown with front matter, ingests the folder through the public API
(``ingest.ingest``), runs ``qa.retrieve(query, k=10)`` for every non-null dev query, and prints
Hits@4, Hits@10, MRR@10, evidence recall@10, all-evidence@10 and the mean passage length,
beside the same figures, in the same run, for:

- LangChain's tutorial pipeline: ``RecursiveCharacterTextSplitter(1000, 200)``, the same MiniLM,
  ``Chroma.from_documents`` and ``similarity_search``;
- BM25 alone (bm25s, English stop words, Snowball stemmer) over those same chunks.

Peer chunks carry a title/source/date header, as in the data's README. Metrics follow the
README: spaces and newlines are stripped from passages and facts before substring tests.
With --work-dir the articles, both indexes and the peer's Chroma are kept for the next run
(the two embeddings of the corpus take about 6 minutes each on 2 cores); without it all goes
into a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .multihop_data import corpus, dev_queries, squash, write_articles

K = 10
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


def ours(work: Path, queries: list[dict[str, Any]]) -> Figures:
    import ingest
    import qa

    articles = work / "articles"
    if not articles.exists():
        write_articles(articles)
    os.environ["QA_INDEX_DIR"] = str(work / "index")
    qa._default = None  # the module functions read QA_INDEX_DIR when first used
    started = time.perf_counter()
    report = ingest.ingest([articles], settings=qa.Settings())
    print(f"ours: {report.summary()} ({time.perf_counter() - started:.0f} s)", flush=True)
    qa.retrieve(queries[0]["query"], k=K)  # load the model and the search index first
    return score("this tool (hybrid)", queries, lambda q: [p.text for p in qa.retrieve(q, k=K)])


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
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work-dir", type=Path, help="keep articles and indexes here")
    parser.add_argument("--limit", type=int, help="only the first N dev queries")
    parser.add_argument("--only-ours", action="store_true", help="skip the peers")
    args = parser.parse_args()
    queries = dev_queries()[: args.limit]
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work_dir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        results = [ours(work, queries)]
        if not args.only_ours:
            docs = peer_chunks()
            results += [tutorial(work, queries, docs), bm25_alone(queries, docs)]
    print(f"\nMultiHop-RAG dev split: {len(queries)} queries with evidence, k = {K}\n")
    print(table(results))
    for f in results:
        print(f"{f.name}: {f.seconds / len(queries) * 1000:.1f} ms per query")


if __name__ == "__main__":
    main()
