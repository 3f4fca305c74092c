"""MultiHop-RAG data (Tang & Yang, COLM 2024): the articles as files, the queries, the dev split.

The data lives outside the repository, in ``../shared/bench/multihop-rag`` by default
(``QA_BENCH_DATA`` overrides). Only the dev split may be used for tuning.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from functools import cache
from pathlib import Path
from typing import Any

import yaml

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "bench" / "multihop-rag"


def data_dir() -> Path:
    path = Path(os.environ.get("QA_BENCH_DATA", DEFAULT_DATA))
    if not (path / "corpus.json").exists():
        raise SystemExit(f"MultiHop-RAG data not found in {path}; set QA_BENCH_DATA to its folder")
    return path


@cache
def corpus() -> list[dict[str, Any]]:
    return json.loads((data_dir() / "corpus.json").read_text(encoding="utf-8"))


@cache
def queries() -> list[dict[str, Any]]:
    return json.loads((data_dir() / "MultiHopRAG.json").read_text(encoding="utf-8"))


def is_dev(query: str) -> bool:
    """The README's split: dev when the first byte of the query's sha256 is even."""
    return hashlib.sha256(query.encode("utf-8")).digest()[0] % 2 == 0


def dev_queries(*, include_null: bool = False) -> list[dict[str, Any]]:
    return [
        q
        for q in queries()
        if is_dev(q["query"]) and (include_null or q["question_type"] != "null_query")
    ]


def file_name(i: int, article: dict[str, Any]) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", article["title"].lower()).strip("-")[:60]
    return f"{i:03d}-{slug}.md"


def write_articles(folder: Path, articles: list[dict[str, Any]] | None = None) -> dict[str, str]:
    """Each article as Markdown with YAML front matter; returns url -> source file name."""
    folder.mkdir(parents=True, exist_ok=True)
    by_url = {}
    for i, a in enumerate(corpus() if articles is None else articles):
        meta = {
            "title": a["title"],
            "source": a["source"],
            "published": a["published_at"],
            "url": a["url"],
            "author": a["author"],
            "category": a["category"],
        }
        front = yaml.safe_dump(
            {k: v for k, v in meta.items() if v}, allow_unicode=True, sort_keys=False
        )
        name = file_name(i, a)
        (folder / name).write_text(f"---\n{front}---\n{a['body']}\n", encoding="utf-8")
        by_url[a["url"]] = name
    return by_url


def squash(text: str) -> str:
    """The README's matching rule: spaces and newlines removed before substring tests."""
    return text.replace(" ", "").replace("\n", "")
