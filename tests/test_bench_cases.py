"""bench.multihop_cases: MultiHop-RAG queries become cases that qa.eval loads and can score."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench import multihop_cases, multihop_data
from qa.eval import load_cases


def _dev_query(stem: str, dev: bool = True) -> str:
    """A query text that falls in the wanted split (the split hashes the text)."""
    return next(q for i in range(100) if multihop_data.is_dev(q := f"{stem} ({i})?") == dev)


ARTICLES = [
    {
        "title": "Altman leaves OpenAI",
        "author": "A. Writer",
        "source": "Fortune",
        "published_at": "2023-11-18T15:33:09+00:00",
        "category": "business",
        "url": "https://example.org/a",
        "body": "Altman’s exit is shocking. The board was not told.",
    },
    {
        "title": "Theories",
        "author": "",
        "source": "TechCrunch",
        "published_at": "2023-11-18T00:09:53+00:00",
        "category": "technology",
        "url": "https://example.org/b",
        "body": "This is the prevailing theory right now.",
    },
]


def _evidence(i: int, fact: str) -> dict[str, Any]:
    return {**{k: ARTICLES[i][k] for k in ("title", "url", "source")}, "fact": fact}


QUERIES = [
    {
        "query": _dev_query("Who left OpenAI"),
        "answer": "Sam Altman.",
        "question_type": "inference_query",
        "evidence_list": [
            _evidence(0, "Altman’s exit is shocking."),
            _evidence(1, "This is the prevailing theory right now."),
        ],
    },
    {
        "query": _dev_query("Do both agree"),
        "answer": "Yes",
        "question_type": "comparison_query",
        "evidence_list": [_evidence(0, "The board was not told."), _evidence(0, "Altman’s exit")],
    },
    {
        "query": _dev_query("Who won the cup"),
        "answer": "Insufficient information.",
        "question_type": "null_query",
        "evidence_list": [],
    },
    {
        "query": _dev_query("A test query", dev=False),
        "answer": "Consistent",
        "question_type": "temporal_query",
        "evidence_list": [_evidence(1, "This is the prevailing theory right now.")],
    },
]


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "corpus.json").write_text(json.dumps(ARTICLES))
    (folder / "MultiHopRAG.json").write_text(json.dumps(QUERIES))
    monkeypatch.setenv("QA_BENCH_DATA", str(folder))
    multihop_data.corpus.cache_clear()
    multihop_data.queries.cache_clear()
    yield folder
    multihop_data.corpus.cache_clear()
    multihop_data.queries.cache_clear()


def test_dev_queries_become_cases_with_their_evidence(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert multihop_cases.build(out) == 3
    cases, warnings = load_cases(out / "cases.jsonl")
    assert warnings == []
    names = sorted(p.name for p in (out / "articles").iterdir())
    assert names == ["000-altman-leaves-openai.md", "001-theories.md"]
    inference, comparison, null = cases
    assert inference.expected == ("Sam Altman",) and inference.tags == ("inference", "2-evidence")
    assert inference.expected_sources == tuple(names)
    assert inference.expected_quotes == (
        "Altman’s exit is shocking.",
        "This is the prevailing theory right now.",
    )
    assert comparison.expected == () and comparison.tags == ("comparison", "2-evidence", "judgment")
    assert comparison.expected_sources == ("000-altman-leaves-openai.md",)
    assert null.unanswerable and null.tags == ("null",) and null.expected_quotes == ()
    text = (out / "articles" / names[0]).read_text(encoding="utf-8")
    assert all(q in text for q in inference.expected_quotes[:1] + comparison.expected_quotes)


def test_test_split_and_no_null(data: Path, tmp_path: Path) -> None:
    assert multihop_cases.build(tmp_path / "t", split="test") == 1
    (case,), _ = load_cases(tmp_path / "t" / "cases.jsonl")
    assert case.expected == () and "judgment" in case.tags and case.tags[0] == "temporal"
    assert multihop_cases.build(tmp_path / "d", null=False, limit=1) == 1
