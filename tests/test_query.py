"""Splitting a multi-part question into the clauses that each need their own evidence
(qa/query.py ``clauses``), and retrieval giving each clause its share of the top k."""

from __future__ import annotations

from pathlib import Path

import pytest

import ingest
from qa import Assistant, Settings
from qa.query import Clause, clauses

PUBLISHERS = ["TechCrunch", "The Verge", "Fortune", "The Independent - Life and Style"]


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        # One thing asked: no clauses.
        ("What share of global rare earth processing does China control?", []),
        ("Did TechCrunch report on the trial before The Verge did?", []),
        (
            # The head and the attribution are too short to search on: they join the first
            # clause, which then names the publishers; framing words ("reported", "is") go.
            "Which company, reported by both The Verge and TechCrunch, invests billions to be "
            "the default search engine on various platforms, and is accused by news publishers "
            "of harming their revenue?",
            [
                Clause(
                    "company by and invests billions to be the default search engine on "
                    "various platforms",
                    ("The Verge", "TechCrunch"),
                ),
                Clause("and accused by news publishers of harming their revenue"),
            ],
        ),
        (
            # A list of nouns stays whole; "while" opens a clause; numbers and dates keep
            # their commas (the date leaves the words: it is the clause's day).
            "Who, according to TechCrunch on October 7, 2023, took $14 billion from customers "
            "to pay lenders, was once the richest person under 30, and sought wealth, power and "
            "influence while Fortune says it was all built on lies?",
            [
                Clause(
                    "to on took $14 billion from customers to pay lenders",
                    ("TechCrunch",),
                    20231007,
                ),
                Clause("once the richest person under 30"),
                Clause("and sought wealth power and influence"),
                Clause("while says it all built on lies", ("Fortune",)),
            ],
        ),
        (
            # A name holding "and" or a dash is taken out whole, not split.
            "Does The Independent - Life and Style say Swift hides nothing about Kelce, while "
            "Fortune says the couple stays private?",
            [
                Clause("say Swift hides nothing about Kelce", (PUBLISHERS[3],)),
                Clause("while says the couple stays private", ("Fortune",)),
            ],
        ),
    ],
)
def test_clauses_of_a_question(question: str, expected: list[Clause]) -> None:
    assert clauses(question, PUBLISHERS) == expected


def test_a_clause_naming_one_date_has_it_as_its_day() -> None:
    """Two reports of one publisher on two days: each clause is searched on its own day
    (``parts`` cannot bind either date: the publisher is named once)."""
    found = clauses(
        "Did Sporting News report on the Jaguars beating the Saints on October 19, 2023, and "
        "on the Chiefs losing to the Packers on December 3, 2023?",
        PUBLISHERS,
    )
    assert [c.day for c in found] == [20231019, 20231203]


def test_thousands_separators_are_not_breaks() -> None:
    assert clauses("Did Hill need 2,000 receiving yards in his final three games?") == []


_COMMON = ["news", "publishers", "class action", "ad revenue", "accused", "taking"]
ARTICLES = [
    # (file, publisher, title, body): the evidence of the question's second clause is one
    # article, in words that many others use too; a dozen notes match the first and third
    # clauses word for word.
    (
        "suit.md",
        "Daily Ledger",
        "Publishers sue",
        "Quillsoft is accused in a class action of taking news publishers' readers and ad "
        "revenue. The publishers want damages.",
    ),
    *[
        (
            f"note-{i}.md",
            "Tech Wire",
            f"Quillsoft note {i}",
            f"Quillsoft, note {i}: the company paid billions to be the default search engine, "
            f"and showed new tablet hardware at its autumn event {i} days ago.",
        )
        for i in range(12)
    ],
    *[
        (
            f"other-{i}.md",
            "Tech Wire",
            f"Other story {i}",
            f"In other {_COMMON[i % 6]} and {_COMMON[(i + 1) % 6]}, a story number {i}.",
        )
        for i in range(30)
    ],
]


@pytest.fixture(scope="module")
def company(tmp_path_factory: pytest.TempPathFactory, embeddings) -> Assistant:  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp("company")
    for name, publisher, title, body in ARTICLES:
        (folder / name).write_text(
            f"---\ntitle: {title}\nsource: {publisher}\npublished: 2023-10-01\n---\n{body}\n",
            encoding="utf-8",
        )
    index: Path = tmp_path_factory.mktemp("company-index")
    ingest.ingest([folder], settings=Settings(index_dir=index), embeddings=embeddings)
    return Assistant(Settings(index_dir=index), embeddings=embeddings)


def test_each_clause_gets_its_evidence_into_the_top_k(company: Assistant) -> None:
    """Searched as a whole, the question's top three are notes that match two of its three
    clauses; its second clause, searched on its own, brings the one article about it in."""
    question = (
        "Which company paid billions to be the default search engine, is accused by news "
        "publishers in a class action of taking their ad revenue, and showed new tablet "
        "hardware at an autumn event?"
    )
    top = [p.source for p in company.retrieve(question, k=3)]
    assert "suit.md" in top, top
