"""Hybrid retrieval: fusion finds what one side misses, filters restrict, and a question that
names publishers (and dates) gets passages from each of them."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

import pytest

import ingest
import qa
from qa import Assistant, Filters, Settings
from qa.query import Part, parts
from qa.retrieval import DENSE_POOL, JOINED_CHARS, _joined
from qa.types import Passage

from .conftest import SEED_FILE

ARTICLES = [
    # (file, publisher, day, title, body)
    (
        "hh-1.md",
        "Harbor Herald",
        "2023-10-01",
        "Bridge repair begins",
        "The Old Mill bridge repair began on Monday. Engineers said the bridge repair would cost "
        "4 million dollars. The bridge repair crews closed two lanes.",
    ),
    (
        "hh-2.md",
        "Harbor Herald",
        "2023-10-08",
        "Bridge repair halfway",
        "Halfway through the bridge repair, crews found rusted cables. The bridge repair budget "
        "rose to 5 million dollars after the cable discovery.",
    ),
    (
        "hh-3.md",
        "Harbor Herald",
        "2023-10-15",
        "Bridge repair delays",
        "Rain delayed the bridge repair again. Bridge repair crews now expect to finish in "
        "December, the Harbor Herald learned.",
    ),
    (
        "vv-1.md",
        "Valley Voice",
        "2023-10-20",
        "Commuters plan for reopening",
        "Commuters in the valley expect the Old Mill crossing to reopen before the holidays. "
        "Bus routes will return to their old schedule when it does.",
    ),
    (
        "ss-1.md",
        "Summit Standard",
        "2023-09-30",
        "Ski season outlook",
        "Resorts on the summit expect an early ski season. Snow makers started last week.",
    ),
    (
        "ss-2.md",
        "Summit Standard",
        "2023-10-02",
        "Part number recall",
        "A recall covers the heater part ZX-4471 sold last winter. Owners get a free replacement.",
    ),
]


def write_articles(folder: Path) -> None:
    for name, publisher, day, title, body in ARTICLES:
        (folder / name).write_text(
            f"---\ntitle: {title}\nsource: {publisher}\npublished: {day}\n---\n{body}\n",
            encoding="utf-8",
        )


# Questions that exercise every list a search makes: publishers, a date, clauses, filters.
QUESTIONS = [
    ("How much will the bridge repair cost?", Filters()),
    (
        "Did the Harbor Herald report a cost for the bridge repair, and what did the Valley "
        "Voice say about commuters?",
        Filters(),
    ),
    ("What did the Harbor Herald report on October 8, 2023 about the bridge repair?", Filters()),
    ("bridge repair", Filters(sources=("hh-3.md", "vv-1.md"))),
    ("news", Filters(date_from=dt.date(2023, 10, 2), date_to=dt.date(2023, 10, 15))),
    ("ZX-4471 heater recall; ski season snow makers", Filters()),
]


@pytest.fixture(scope="module")
def news(tmp_path_factory: pytest.TempPathFactory, embeddings) -> Assistant:  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp("news")
    write_articles(folder)
    index = tmp_path_factory.mktemp("news-index")
    ingest.ingest([folder], settings=Settings(index_dir=index), embeddings=embeddings)
    return Assistant(Settings(index_dir=index), embeddings=embeddings)


def test_a_rare_code_is_found_by_its_keyword(news: Assistant) -> None:
    assert news.retrieve("ZX-4471", k=1)[0].source == "ss-2.md"


def test_passages_are_exact_and_best_first_and_carry_both_scores(news: Assistant) -> None:
    found = news.retrieve("How much will the bridge repair cost?", k=4)
    assert found[0].source == "hh-1.md"
    assert [p.score for p in found] == sorted((p.score for p in found), reverse=True)
    for p in found:
        body = (Path(news.index.records.get(p.source).path)).read_text(encoding="utf-8")  # type: ignore[union-attr]
        assert body[p.start : p.end] == p.text
        assert p.similarity is not None and -1 <= p.similarity <= 1


def test_every_named_publisher_gets_a_share_of_the_passages(news: Assistant) -> None:
    question = (
        "Did the Harbor Herald report a cost for the bridge repair, "
        "and what did the Valley Voice say about commuters?"
    )
    found = news.retrieve(question, k=2)
    assert {p.metadata["publisher"] for p in found} == {"Harbor Herald", "Valley Voice"}
    # Without the names the bridge articles of one publisher fill the top two.
    anonymous = news.retrieve("a cost for the bridge repair, and what about commuters?", k=2)
    assert {p.metadata["publisher"] for p in anonymous} == {"Harbor Herald"}


def test_a_named_date_picks_that_day_of_the_publisher(news: Assistant) -> None:
    found = news.retrieve(
        "What did the Harbor Herald report on October 8, 2023 about the bridge repair?", k=1
    )
    assert found[0].source == "hh-2.md"


def test_filters_restrict_sources_and_days(news: Assistant) -> None:
    only = news.retrieve("bridge repair", k=5, filters=Filters(sources=("hh-3.md", "vv-1.md")))
    assert {p.source for p in only} == {"hh-3.md", "vv-1.md"}
    october = Filters(date_from=dt.date(2023, 10, 2), date_to=dt.date(2023, 10, 15))
    assert {p.metadata["published_day"] for p in news.retrieve("news", k=10, filters=october)} == {
        20231002,
        20231008,
        20231015,
    }
    assert news.retrieve("bridge", k=3, filters=Filters(sources=("nope.md",))) == []
    answer = news.ask(
        "How much did the bridge repair budget rise to?", filters=Filters(sources=("hh-2.md",))
    )
    assert {c.source for c in answer.citations} == {"hh-2.md"} and "5 million" in answer.text


def test_module_functions_take_filters(news: Assistant, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(qa, "_default", news)
    assert {p.source for p in qa.retrieve("bridge repair", k=5, sources=["hh-1.md"])} == {"hh-1.md"}
    late = qa.retrieve("season", k=10, date_from="2023-10-16")
    assert {p.source for p in late} == {"vv-1.md"}
    with pytest.raises(ValueError, match="date_to must be a date like 2023-10-01"):
        qa.retrieve("x", date_to="last week")


def test_front_matter_is_shown_and_embedded_with_each_chunk(news: Assistant) -> None:
    p = news.retrieve("heater recall", k=1)[0]
    assert p.metadata["title"] == "Part number recall"
    assert p.metadata["publisher"] == "Summit Standard" and p.metadata["published_day"] == 20231002
    stored = news.index.chunks([p.id])[p.id][0]
    assert stored.startswith("Part number recall\nSummit Standard · 2023-10-02\n")
    assert stored.endswith(p.text)


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("What did the weather say?", []),
        (
            "Does the TechCrunch article on October 7, 2023, about Flexport differ from "
            "The Verge report?",
            [
                Part(
                    "TechCrunch",
                    20231007,
                    "Does the article on October 7, 2023, about Flexport differ from",
                ),
                Part(
                    "The Verge",
                    None,
                    "article on October 7, 2023, about Flexport differ from report?",
                ),
            ],
        ),
        (
            "Compare the techcrunch report of 2023-12-15 and the TechCrunch one of 2023-12-15.",
            [
                Part(
                    "TechCrunch",
                    20231215,
                    "Compare the report of 2023-12-15 and the one of 2023-12-15.",
                )
            ],
        ),
        (
            # A possessive still names the publisher; a longer word does not.
            "Did TechCrunch's report agree with Verge Dailyish news?",
            [Part("TechCrunch", None, "Did 's report agree with Verge Dailyish news?")],
        ),
    ],
)
def test_question_parts_name_publishers_and_their_days(question: str, expected: list[Part]) -> None:
    assert parts(question, ["TechCrunch", "The Verge", "Verge Daily"]) == expected


def test_seed_retrieval_still_finds_the_china_share(seed_assistant: Assistant) -> None:
    top = seed_assistant.retrieve(
        "What share of global rare earth processing does China control?", k=1
    )[0]
    assert "70 percent" in top.text and top.source == SEED_FILE.name


def test_dense_scores_within_a_filter_are_exact(news: Assistant) -> None:
    """Dense scores are the exact cosine of the question and each stored chunk, computed for
    every chunk inside the filter: the chunk closest in meaning among the allowed ones is
    always a candidate, however far it ranks overall."""
    import numpy as np

    question = "When will the buses return to their old schedule?"
    allowed = ("hh-1.md", "ss-1.md")  # neither is about buses: they rank low overall
    passages = news.retrieve(question, k=2, filters=Filters(sources=allowed))
    stored = news.index.chunks([p.id for p in passages])
    q = np.array(news.embeddings.embed_query(question))
    cosines = {}
    for p in passages:
        v = np.array(news.embeddings.embed_documents([stored[p.id][0]])[0])
        cosines[p.source] = float(q @ v / np.linalg.norm(q) / np.linalg.norm(v))
        assert p.similarity == pytest.approx(cosines[p.source], abs=1e-5)
    assert set(cosines) == set(allowed)


def test_chromas_own_search_gives_the_passages_the_vectors_in_memory_give(
    news: Assistant,
    embeddings,  # type: ignore[no-untyped-def]
) -> None:
    """Above ``QA_MATRIX_MAX_CHUNKS`` the dense side is Chroma's nearest-neighbour search (its
    ``DENSE_POOL`` nearest within the filters, and the keyword candidates' similarities). On
    a collection smaller than the pool that is every chunk, so the passages are those of the
    vectors in memory, in the same order, with the same scores (to float32's precision)."""
    chroma = Assistant(
        news.settings.model_copy(update={"matrix_max_chunks": 0}), embeddings=embeddings
    )
    assert len(news.index.search_index()) < DENSE_POOL
    for question, filters in QUESTIONS:
        exact = news.retrieve(question, k=5, filters=filters)
        searched = chroma.retrieve(question, k=5, filters=filters)
        assert exact and [p.id for p in searched] == [p.id for p in exact], question
        assert [p.score for p in searched] == pytest.approx([p.score for p in exact], abs=1e-5)


def test_overlapping_chunks_of_a_document_join_into_one_passage() -> None:
    """Known answer: chunks overlap, so two of one document that both rank make one passage
    (its text still the document's, from the first start to the last end); chunks of other
    documents or pages, chunks that only touch, and a join longer than ``JOINED_CHARS`` stay
    apart."""
    doc = "".join(f"Sentence {i} of the report. " for i in range(200))

    def chunk(start: int, end: int, source: str = "a.md", page: int | None = None) -> Passage:
        return Passage("x", doc[start:end], source, start, end, page, score=1.0)

    joined = _joined(chunk(100, 900), chunk(700, 1500))
    assert joined is not None and (joined.start, joined.end) == (100, 1500)
    assert joined.text == doc[100:1500] and joined.score == 1.0
    assert _joined(chunk(700, 1500), chunk(100, 900)) == replace(joined, id="x")
    assert _joined(chunk(100, 900), chunk(300, 600)) == chunk(100, 900)  # within it
    assert _joined(chunk(100, 900), chunk(900, 1500)) is None  # touching only
    assert _joined(chunk(100, 900), chunk(700, 1500, "b.md")) is None
    assert _joined(chunk(100, 900, "c.pdf", 1), chunk(700, 1500, "c.pdf", 2)) is None
    assert _joined(chunk(0, 900), chunk(800, JOINED_CHARS + 1)) is None
