"""The keyword index, two ways: SQLite FTS5 with its bm25(), or our postings read from disk.

    python -m bench.keyword_choice [--sizes 10000,100000] [--work-dir out/scale] [--questions 100]

Both index the same terms: bm25s's stemmed words without stop words in one column, the
adjacent word pairs ("rare_earth") in another (FTS5: a contentless table, tokenized on spaces
only, so its terms are ours). Then:

- quality: on MultiHop-RAG's chunks as ingestion cuts them, the dev split's questions ranked
  by the keyword match alone (words 0.7, pairs 0.3, each scaled to its best, as
  ``qa/retrieval.py`` blends them), evidence recall@10 and Hits@10 of each scoring: FTS5's
  bm25() (k1 1.2, b 0.75, idf log((N - n + 0.5) / (n + 0.5)), floored near zero) against
  ours (bm25s's lucene variant: k1 1.5, idf log(1 + (N - n + 0.5) / (n + 0.5)));
- speed and memory, on the synthetic collections of ``bench/scale_data.py`` (their texts,
  regenerated): the best 100 chunks for each dev question's words and for its pairs, p50 and
  p95 ms, and what the process holds beyond what it held before opening the index, each
  engine in a process of its own.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from .multihop_data import dev_queries
from .multihop_rag import score
from .scale_curve import memory
from .scale_data import DEFAULT_WORK, base, synthetic

POOL = 100
_BATCH = 5000


def fts_build(path: Path, texts: Iterable[str]) -> None:
    from ingest.tokens import pairs, words

    db = sqlite3.connect(path)
    db.execute(
        "CREATE VIRTUAL TABLE terms USING fts5(words, pairs, content='', "
        "tokenize=\"ascii tokenchars '_'\")"
    )
    batch: list[str] = []
    row = 0
    for text in [*texts, None]:
        if text is not None:
            batch.append(text)
        if len(batch) == _BATCH or (text is None and batch):
            rows = [(row + i, " ".join(t), " ".join(pairs(t))) for i, t in enumerate(words(batch))]
            with db:
                db.executemany("INSERT INTO terms(rowid, words, pairs) VALUES (?, ?, ?)", rows)
            row += len(batch)
            batch = []
    db.close()


def _match(column: str, tokens: list[str]) -> str:
    return "{" + column + "}: (" + " OR ".join(f'"{t}"' for t in tokens) + ")"


def fts_scores(db: sqlite3.Connection, column: str, tokens: list[str], size: int) -> np.ndarray:
    """FTS5's bm25() of every row (0 where no term matches), higher better."""
    out = np.zeros(size)
    if tokens:
        query = "SELECT rowid, -bm25(terms) FROM terms WHERE terms MATCH ?"
        for rowid, value in db.execute(query, (_match(column, tokens),)):
            out[rowid] = value
    return out


def fts_top(db: sqlite3.Connection, column: str, tokens: list[str]) -> list[tuple[int, float]]:
    if not tokens:
        return []
    query = "SELECT rowid, bm25(terms) FROM terms WHERE terms MATCH ? ORDER BY rank LIMIT ?"
    return list(db.execute(query, (_match(column, tokens), POOL)))


def _blend(words: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    def scaled(x: np.ndarray) -> np.ndarray:
        return x / x.max() if len(x) and x.max() > 0 else x

    return 0.7 * scaled(words) + 0.3 * scaled(pairs)


def quality(work: Path) -> list[Any]:
    """Keyword-alone evidence recall on the dev split, FTS5's bm25() against ours."""
    from ingest.search_files import build
    from ingest.tokens import pairs, words

    chunks = [c for d in base(work).docs for c in d]
    bodies = [c.text[c.metadata["body_start"] :] for c in chunks]
    texts = [c.text for c in chunks]
    queries = dev_queries()
    with tempfile.TemporaryDirectory() as tmp:
        ours = build(Path(tmp) / "ours", [c.id for c in chunks], texts, [{}] * len(texts), None)
        order = ours.positions_of([c.id for c in chunks])
        fts_build(Path(tmp) / "fts.sqlite", texts)
        db = sqlite3.connect(Path(tmp) / "fts.sqlite")

        def ranked(scores: np.ndarray) -> list[str]:
            return [bodies[i] for i in np.argsort(-scores, kind="stable")[:10]]

        def by_ours(q: str) -> list[str]:
            w, p = ours.scores(q)
            return ranked(_blend(w, p)[order])

        def by_fts(q: str) -> list[str]:
            tokens = words([q])[0]
            w = fts_scores(db, "words", tokens, len(texts))
            return ranked(_blend(w, fts_scores(db, "pairs", pairs(tokens), len(texts))))

        results = [score("ours (bm25s scores)", queries, by_ours)]
        results.append(score("FTS5 bm25()", queries, by_fts))
        db.close()
    return results


def speed_point(engine: str, folder: Path, questions: int) -> dict[str, Any]:
    """One engine's figures on one prepared index, in this (fresh) process."""
    from ingest.search_files import open_index
    from ingest.tokens import pairs, words

    asked = [q["query"] for q in dev_queries()[:questions]]
    words([asked[0]])  # loads the stemmer: not the index's
    before = memory()
    started = time.perf_counter()
    if engine == "fts5":
        db = sqlite3.connect(folder / "fts.sqlite")

        def top(q: str) -> None:
            tokens = words([q])[0]
            fts_top(db, "words", tokens)
            fts_top(db, "pairs", pairs(tokens))
    else:
        index = open_index(folder / "ours")
        assert index is not None

        def top(q: str) -> None:
            for scores in index.scores(q):
                np.argpartition(-scores, POOL)[:POOL]

    top(asked[0])
    first = time.perf_counter() - started
    times = []
    for q in asked[1:]:
        started = time.perf_counter()
        top(q)
        times.append(time.perf_counter() - started)
    ms = np.array(times) * 1000
    after = memory()
    return {
        "engine": engine,
        "first_s": first,
        "p50_ms": float(np.percentile(ms, 50)),
        "p95_ms": float(np.percentile(ms, 95)),
        "held_mb": after["rss"] - before["rss"],
        "anon_mb": after["anon"] - before["anon"],
    }


def prepare(work: Path, size: int) -> tuple[Path, dict[str, float]]:
    """Both indexes of the first ``size`` synthetic chunks (made once, kept)."""
    from ingest.search_files import build

    folder = work / f"keywords-{size}"
    built = folder / "built.json"
    if built.exists():
        return folder, dict(json.loads(built.read_text()))
    folder.mkdir(parents=True, exist_ok=True)
    made = synthetic(base(work))
    chunks = [next(made)[0] for _ in range(size)]
    texts = [c.text for c in chunks]
    started = time.perf_counter()
    fts_build(folder / "fts.sqlite", texts)
    figures = {"fts5_build_s": time.perf_counter() - started}
    started = time.perf_counter()
    build(folder / "ours", [c.id for c in chunks], texts, [c.metadata for c in chunks], None)
    figures["ours_build_s"] = time.perf_counter() - started
    figures["fts5_mb"] = (folder / "fts.sqlite").stat().st_size / 1e6
    figures["ours_mb"] = sum(f.stat().st_size for f in (folder / "ours").rglob("*")) / 1e6
    built.write_text(json.dumps(figures))
    return folder, figures


def _worker(args: list[str]) -> dict[str, Any]:
    run = subprocess.run(
        [sys.executable, "-m", "bench.keyword_choice", *args], capture_output=True, text=True
    )
    if run.returncode:
        raise SystemExit(run.stderr[-3000:])
    return dict(json.loads(run.stdout.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--work-dir", type=Path, default=DEFAULT_WORK)
    parser.add_argument("--questions", type=int, default=100)
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--worker", choices=("fts5", "ours"), help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(speed_point(args.worker, args.folder, args.questions)))
        return
    if not args.skip_quality:
        for f in quality(args.work_dir):
            print(f"{f.name}: evidence recall@10 {f.evidence_recall:.3f}, Hits@10 {f.hits10:.3f}")
    print("| chunks | engine | build s | on disk MB | first s | p50 / p95 ms | held MB (anon) |")
    print("|---|---|---|---|---|---|---|")
    for size in [int(s) for s in args.sizes.split(",")]:
        folder, built = prepare(args.work_dir, size)
        for engine in ("ours", "fts5"):
            p = _worker(
                ["--worker", engine, "--folder", str(folder), "--questions", str(args.questions)]
            )
            print(
                f"| {size:,} | {engine} | {built[engine + '_build_s']:.0f} "
                f"| {built[engine + '_mb']:.0f} "
                f"| {p['first_s']:.2f} | {p['p50_ms']:.1f} / {p['p95_ms']:.1f} "
                f"| {p['held_mb']:.0f} ({p['anon_mb']:.0f}) |",
                flush=True,
            )


if __name__ == "__main__":
    main()
