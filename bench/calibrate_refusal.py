"""Calibrate the refusal threshold (QA_REFUSAL_THRESHOLD) on data that is not the seed's.

Two question sets over MultiHop-RAG articles, neither of them the evaluation cases:

- ``short``: bench/calibration/short_questions.jsonl, chat-style questions we wrote about four
  articles that dev queries use as evidence (35 answerable, 20 not: near-topic and off-topic),
  asked of an index of those four articles. The default threshold comes from this set.
- ``multihop`` (with --multihop): the dev split's long multi-hop queries over the whole corpus.
  Positives are asked as they are; negatives are the same queries with their evidence articles
  removed from the retrieved passages, plus the split's null queries.

For each question the best extractive support score is computed as ``qa.ask`` does; the script
prints the distributions, the ROC AUC and the threshold with the best balanced accuracy.

    python -m bench.calibrate_refusal [--multihop] [--index-dir DIR]

The multihop set needs the whole corpus indexed (about 6 minutes on 2 cores); --index-dir keeps
that index for later runs.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

import ingest
from qa import Assistant, Settings, extractive
from qa.retrieval import search_by_vector

from .multihop_data import corpus, dev_queries, file_name, write_articles

_POOL = 40  # passages retrieved before the evidence articles are filtered out
SHORT_CASES = Path(__file__).with_name("calibration") / "short_questions.jsonl"


def build_index(index_dir: Path, articles: list[dict[str, Any]] | None = None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        write_articles(Path(tmp), articles)
        report = ingest.ingest([tmp], settings=Settings(index_dir=index_dir))
        print(report.summary())


def best_score(assistant: Assistant, question: str) -> float:
    """The support score of the best sentence, as ``Assistant.ask`` computes it."""
    vector = assistant.embeddings.embed_query(question)
    passages = search_by_vector(assistant.index.vectorstore, vector, assistant.settings.top_k)
    scored = extractive.score(question, extractive.candidates(passages))
    return scored[0].score if scored else 0.0


def short_scores(index_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    cases = [json.loads(line) for line in SHORT_CASES.read_text(encoding="utf-8").splitlines()]
    articles = sorted({c["article"] for c in cases if c.get("article") is not None})
    build_index(index_dir, [corpus()[i] for i in articles])
    assistant = Assistant(Settings(index_dir=index_dir))
    pos = [best_score(assistant, c["question"]) for c in cases if not c.get("unanswerable")]
    neg = [best_score(assistant, c["question"]) for c in cases if c.get("unanswerable")]
    return np.array(pos), np.array(neg)


def multihop_scores(assistant: Assistant, limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    source_of = {a["url"]: file_name(i, a) for i, a in enumerate(corpus())}
    k = assistant.settings.top_k
    pos: list[float] = []
    neg: list[float] = []
    for q in dev_queries(include_null=True)[:limit]:
        vector = assistant.embeddings.embed_query(q["query"])
        pool = search_by_vector(assistant.index.vectorstore, vector, _POOL)

        def best(passages: list, query: str = q["query"]) -> float:
            scored = extractive.score(query, extractive.candidates(passages))
            return scored[0].score if scored else 0.0

        if q["question_type"] == "null_query":
            neg.append(best(pool[:k]))
            continue
        evidence = {source_of[e["url"]] for e in q["evidence_list"]}
        pos.append(best(pool[:k]))
        neg.append(best([p for p in pool if p.source not in evidence][:k]))
    return np.array(pos), np.array(neg)


def report(name: str, pos: np.ndarray, neg: np.ndarray, current: float) -> None:
    values = np.concatenate([pos, neg])
    ranks = values.argsort().argsort() + 1
    auc = (ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg))
    print(f"== {name}")
    print(f"answerable:   n={len(pos)}  quartiles {np.percentile(pos, [25, 50, 75]).round(3)}")
    print(f"unanswerable: n={len(neg)}  quartiles {np.percentile(neg, [25, 50, 75]).round(3)}")
    print(f"ROC AUC of the best support score: {auc:.3f}")
    print("threshold  answered(answerable)  refused(unanswerable)  balanced accuracy")
    grid = np.round(np.arange(0.20, 0.81, 0.025), 3)
    best_t, best_acc = current, -1.0
    for t in grid:
        tpr, tnr = float((pos >= t).mean()), float((neg < t).mean())
        acc = (tpr + tnr) / 2
        if acc > best_acc:
            best_t, best_acc = float(t), acc
        mark = " <- current" if abs(t - current) < 1e-9 else ""
        print(f"  {t:.3f}    {tpr:.3f}                 {tnr:.3f}                  {acc:.3f}{mark}")
    print(f"best balanced accuracy {best_acc:.3f} at threshold {best_t:.3f} (current {current})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--multihop", action="store_true", help="also the long multi-hop queries")
    parser.add_argument("--index-dir", type=Path, help="whole-corpus index (built when missing)")
    parser.add_argument("--limit", type=int, help="only the first N dev queries")
    args = parser.parse_args()
    current = Settings().refusal_threshold
    with tempfile.TemporaryDirectory() as tmp:
        report("short questions", *short_scores(Path(tmp) / "short"), current)
        if args.multihop:
            index_dir = args.index_dir or Path(tmp) / "index"
            if not (index_dir / "records.sqlite").exists():
                build_index(index_dir)
            assistant = Assistant(Settings(index_dir=index_dir))
            report("multi-hop dev queries", *multihop_scores(assistant, args.limit), current)


if __name__ == "__main__":
    main()
