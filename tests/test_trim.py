"""Passages cut to the sentences nearest the question before the model reads them."""

from __future__ import annotations

from typing import Any

import pytest

from qa import Passage
from qa.citecheck import SentenceVectors
from qa.trim import GAP, trimmed

TEXT = (
    "The Etna volcano stands on the east coast of Sicily. It last erupted in 2021. "
    "Tourists climb it every summer. The port of Catania lies south of the volcano. "
    "Its fish market opens at dawn. Ferries leave for Malta twice a day."
)


def _passage(n: int, start: int, end: int) -> Passage:
    return Passage(f"p{n}", TEXT[start:end], "sicily.txt", start, end, None, 0.5, {})


@pytest.fixture(scope="module")
def vectors(embeddings: Any) -> SentenceVectors:
    return SentenceVectors(embeddings)


def test_whole_passages_when_they_fit_or_no_budget(vectors: SentenceVectors) -> None:
    p = _passage(1, 0, len(TEXT))
    assert trimmed("When does the fish market open?", [p], vectors, 10_000) == [TEXT]
    assert trimmed("When does the fish market open?", [p], vectors, 0) == [TEXT]


def test_the_sentences_nearest_the_question_are_kept_in_order(vectors: SentenceVectors) -> None:
    p = _passage(1, 0, len(TEXT))
    [text] = trimmed("When does the fish market in Catania open?", [p], vectors, 90)
    assert "Its fish market opens at dawn." in text and "Tourists" not in text
    assert text.startswith(GAP) and len(text) < len(TEXT)
    parts = [s for s in text.split(GAP) if s.strip()]
    assert all(s.strip() in TEXT for s in parts)  # verbatim sentences, nothing rewritten


def test_every_passage_keeps_its_best_sentence_and_repeats_are_shown_once(
    vectors: SentenceVectors,
) -> None:
    cut = TEXT.index("The port")
    first = _passage(1, 0, cut)
    overlap = _passage(2, TEXT.index("Tourists"), len(TEXT))  # repeats "Tourists climb …"
    texts = trimmed("When does the fish market open?", [first, overlap], vectors, 60)
    # The first passage says nothing of the market, yet keeps one sentence of its own.
    assert texts[0].replace(GAP, "").strip() in TEXT[:cut] and texts[0].strip(GAP + " ")
    assert "fish market opens at dawn" in texts[1]
    assert (
        texts[0].count("Tourists climb it every summer.")
        + texts[1].count("Tourists climb it every summer.")
        <= 1
    )
