"""MultiHop-RAG queries as evaluation cases, so that ``python -m qa eval`` runs the benchmark.

    python -m bench.multihop_cases out/multihop            # dev split: articles/ + cases.jsonl
    python -m ingest out/multihop/articles --index-dir out/multihop/index     # ~6 min, 2 cores
    python -m qa eval out/multihop/cases.jsonl --index-dir out/multihop/index --report out/mh

Each query becomes a case: its evidence facts are ``expected_quotes`` (verbatim in the
articles), their articles ``expected_sources``, a null query is ``unanswerable``. The answer
is a key fact (``expected``) only when it names something ("Sam Altman"); a judgment ("Yes",
"no", "Consistent") cannot be found in a quoted answer, so those cases are tagged
``judgment`` and measured on retrieval and citations only. Tags: the question type, the
number of evidence facts.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path
from typing import Any

from qa.eval import Case, write_cases

from .multihop_data import is_dev, queries, write_articles

# First words of answers that judge rather than name (comparison and temporal queries).
JUDGMENTS = frozenset(
    "yes no true false agree agreement align aligned same different consistent consistently "
    "consistency inconsistent contradictory superior before after smaller larger "
    "unsuccessful".split()
)


def to_case(query: dict[str, Any], source_of: dict[str, str]) -> Case:
    """One MultiHop-RAG query as a case; ``source_of`` maps an article url to its file name."""
    text = query["query"]
    kind = query["question_type"].removesuffix("_query")
    case_id = f"mh-{hashlib.sha256(text.encode('utf-8')).hexdigest()[:10]}"
    if kind == "null":
        return Case(case_id, text, unanswerable=True, tags=("null",))
    evidence = query["evidence_list"]
    answer = query["answer"].strip().rstrip(".").strip()
    judgment = kind != "inference" and answer.lower().split()[0] in JUDGMENTS
    tags = [kind, f"{len(evidence)}-evidence"] + (["judgment"] if judgment else [])
    return Case(
        case_id,
        text,
        expected=() if judgment else (answer,),
        expected_sources=tuple(dict.fromkeys(source_of[e["url"]] for e in evidence)),
        expected_quotes=tuple(dict.fromkeys(e["fact"].strip() for e in evidence)),
        tags=tuple(tags),
    )


def build(folder: Path, *, split: str = "dev", null: bool = True, limit: int | None = None) -> int:
    """Write ``folder``/articles/*.md and ``folder``/cases.jsonl; returns the number of cases."""
    source_of = write_articles(folder / "articles")
    chosen = [
        q
        for q in queries()
        if is_dev(q["query"]) == (split == "dev") and (null or q["question_type"] != "null_query")
    ][:limit]
    write_cases(folder / "cases.jsonl", [to_case(q, source_of) for q in chosen])
    return len(chosen)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder", type=Path, help="where articles/ and cases.jsonl are written")
    p.add_argument(
        "--split", choices=["dev", "test"], default="dev", help="tune on dev only (default)"
    )
    p.add_argument(
        "--no-null", action="store_true", help="leave out the null (unanswerable) queries"
    )
    p.add_argument("--limit", type=int, help="only the first N queries of the split")
    args = p.parse_args()
    n = build(args.folder, split=args.split, null=not args.no_null, limit=args.limit)
    print(f"{n} cases in {args.folder / 'cases.jsonl'}; articles in {args.folder / 'articles'}")


if __name__ == "__main__":
    main()
