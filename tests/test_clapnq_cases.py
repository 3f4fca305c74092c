"""bench.clapnq_cases: CLAP NQ questions become cases qa.eval loads, and reports are scored."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench import clapnq_cases, clapnq_data
from qa.eval import load_cases

PASSAGES = [
    {
        "id": "p000",
        "title": "Mount Logan",
        "text": "Mount Logan is the highest mountain in Canada .",
    },
    {"id": "p001", "title": "Dada", "text": "Dada was an art movement of the avant - garde ."},
]
QUESTIONS = [
    {
        "id": "11",
        "question": "highest mountain in canada",
        "unanswerable": False,
        "passages": ["p000"],
        "answer": "Mount Logan is the highest mountain in Canada.",
    },
    {"id": "-22", "question": "who painted dada", "unanswerable": True, "passages": ["p001"]},
]


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    folder = tmp_path / "clapnq"
    folder.mkdir()
    for name, rows in (("passages.jsonl", PASSAGES), ("questions-tune.jsonl", QUESTIONS)):
        (folder / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
    monkeypatch.setenv("QA_CLAPNQ_DATA", str(folder))
    clapnq_data.passages.cache_clear()
    clapnq_data.questions.cache_clear()
    yield folder
    clapnq_data.passages.cache_clear()
    clapnq_data.questions.cache_clear()


def test_token_f1_is_squad_style() -> None:
    """Case, punctuation, articles and [n] markers do not count; a shared word does."""
    assert clapnq_data.token_f1("The Mount Logan! [1]", "mount logan") == 1.0
    assert clapnq_data.token_f1("Logan peak", "Mount Logan") == pytest.approx(0.5)
    assert clapnq_data.token_f1("nothing alike", "Mount Logan") == 0.0


def test_folds_depend_on_the_id_only() -> None:
    assert clapnq_data.fold("11") == clapnq_data.fold("11")
    assert {clapnq_data.fold(str(i)) for i in range(200)} == set(range(clapnq_data.FOLDS))


def test_build_writes_documents_cases_and_answers(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert clapnq_cases.build(out) == 2
    doc = (out / "docs" / "p000.md").read_text()
    assert doc.startswith("---\ntitle: Mount Logan\n---\n") and "highest mountain" in doc
    cases, _ = load_cases(out / "cases.jsonl")
    answerable, unanswerable = cases
    assert answerable.expected_sources == ("p000.md",) and not answerable.unanswerable
    assert unanswerable.unanswerable and unanswerable.id == "clapnq--22"
    assert answerable.tags == (f"fold-{clapnq_data.fold('11')}",)
    answers = [json.loads(line) for line in (out / "answers.jsonl").read_text().splitlines()]
    assert answers == [{"id": "clapnq-11", "answer": QUESTIONS[0]["answer"]}]


def _case(case_id: str, unanswerable: bool, answer: str, refused: bool, relevant: bool) -> Any:
    citations = [] if refused else [{"relevant": relevant}]
    return {
        "id": case_id,
        "tags": ["fold-1"],
        "unanswerable": unanswerable,
        "answer": answer,
        "refused": refused,
        "citations": citations,
    }


def test_a_report_is_scored_as_the_readme_says() -> None:
    report = {
        "cases": [
            _case("a", False, "Mount Logan [1]", False, True),
            _case("b", False, "The documents do not answer this question.", True, False),
            _case("c", True, "The documents do not answer this question.", True, False),
            _case("d", True, "Something [1]", False, False),
        ]
    }
    answers = {"a": "Mount Logan is tall", "b": "anything"}
    figures = clapnq_cases.score(report, answers)
    assert figures["all"] == figures["fold-1"]
    f = figures["all"]
    assert f["token_f1"] == pytest.approx((2 * 1 * 0.5 / 1.5 + 0.0) / 2)  # a refusal scores 0
    assert (f["false_refusals"], f["refusal"], f["gold_cited"]) == (0.5, 0.5, 1.0)
