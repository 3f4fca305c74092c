"""Candidate sentences of the retrieved passages, and the features the extractive model weighs.

A candidate is a sentence of a passage, once each (overlapping chunks repeat sentences); it is
quoted with the sentence before it when it opens with a pronoun that points back ("These are
..."). Headings, fragments and sentences addressed to an assistant (qa/injection.py) are not
candidates, and are never quoted.

Each candidate is described by numbers about the question and it (``FEATURES``): its
passage's place in the retrieval (rank, fused score, embedding similarity), the share of the
question's words it covers, each weighted by its rarity among the candidates (in the
sentence, its heading, its passage, the document's title), and its length. How much each
counts is fitted (bench/fit_extractive.py), not set here. Features whose loss moved no
held-out figure were dropped (docs/calibration.md): answer-type cues ("how many" wants a
number, English word lists), the question's word pairs, the neighbours' coverage, the
sentence's position, its coverage's gap to the best in its passage.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ingest.text import is_heading, sentence_spans, terms

from .injection import is_instruction
from .types import Passage

_MIN_WORDS = 4  # shorter segments are headings, datelines or captions, not answers
# A sentence opening like this needs the one before it to be understood ("These are ...",
# "However, ...").
_ANAPHORIC = re.compile(
    r"(?:these|this|those|that|it|its|they|their|them|he|she|his|her|such|however|but|yet|still)\b",
    re.I,
)
# Coverage is measured against the question's most telling words only: a long, multi-part
# question cannot be covered by any one sentence.
_COVER_TERMS = 6
_HEADING_WEIGHT = 0.5  # a question word found only in the sentence's heading counts this much
# Words that point at the document rather than at its content.
_META_TERMS = frozenset(terms("article document text passage mention mentioned quoted quote"))

FEATURES = (
    "question_terms",  # log(1 + number of the question's content words)
    "top_similarity",  # the best passage's embedding similarity to the question
    "passage_similarity",
    "passage_similarity_gap",  # minus the best passage's
    "passage_score_ratio",  # fused retrieval score over the best passage's
    "passage_rank",  # log(1 + rank), 0 for the best passage
    "passage_coverage",  # of the question's words, by the whole passage and its title
    "title_coverage",
    "coverage",  # of the question's most telling words, by the sentence (heading: half)
    "coverage_gap",  # minus the best candidate's
    "density",  # share of the sentence's words that are the question's
    "length",  # log(words)
    "anaphoric",  # quoted with the sentence before it
)


@dataclass(frozen=True)
class Candidate:
    passage: Passage
    rank: int  # of its passage among those retrieved, 0 = the best
    start: int  # offsets of the quote in the source text: the sentence, with the one before
    end: int  # it when it opens with a pronoun that points back ("These are ...")
    text: str  # the quote
    sentence: str  # the sentence alone
    terms: frozenset[str]  # of the sentence
    context: frozenset[str] = frozenset()  # terms of the heading the sentence stands under
    anaphoric: bool = False  # quoted with the sentence before it


@dataclass(frozen=True)
class Candidates:
    items: list[Candidate]
    skipped: int  # sentences addressed to an assistant or reader, left out


def candidates(passages: Sequence[Passage]) -> Candidates:
    """The sentences of the passages that could be quoted as an answer, once each."""
    seen: set[tuple[str, int | None, int]] = set()  # offsets count within a PDF's page
    out = []
    skipped = 0
    for rank, p in enumerate(passages):
        spans = sentence_spans(p.text)
        texts = [p.text[a:b] for a, b in spans]
        words = [terms(t) for t in texts]
        headings = [is_heading(t) for t in texts]
        instructions = [is_instruction(t) for t in texts]
        heading: frozenset[str] = frozenset()
        for i, (a, b) in enumerate(spans):
            if headings[i]:
                heading = frozenset(words[i])
                continue
            if instructions[i]:
                skipped += 1
                continue
            key = (p.source, p.page, p.start + a)
            if key in seen or len(texts[i].split()) < _MIN_WORDS:
                continue
            seen.add(key)
            joined = (
                i > 0
                and not headings[i - 1]
                and not instructions[i - 1]
                and _ANAPHORIC.match(p.text, a) is not None
            )
            quote_start = spans[i - 1][0] if joined else a
            out.append(
                Candidate(
                    passage=p,
                    rank=rank,
                    start=p.start + quote_start,
                    end=p.start + b,
                    text=p.text[quote_start:b],
                    sentence=texts[i],
                    terms=frozenset(words[i]),
                    context=heading,
                    anaphoric=joined,
                )
            )
    return Candidates(out, skipped)


def question_terms(question: str) -> list[str]:
    return [t for t in terms(question) if t not in _META_TERMS]


@dataclass(frozen=True)
class _Asked:
    """What every candidate's features are measured against: the question's words, their
    rarity among the candidates, and the passages' best similarity and score."""

    terms: frozenset[str]
    idf: dict[str, float]
    cover_total: float  # of the question's most telling words
    all_total: float  # of all its words
    passage_terms: dict[int, set[str]]  # id(passage) -> its words and headings'
    titles: dict[int, set[str]]
    top_similarity: float
    top_score: float

    def cover(self, found: set[str] | frozenset[str], total: float | None = None) -> float:
        weight = self.cover_total if total is None else total
        return min(1.0, sum(self.idf[t] for t in found) / weight)


def _asked(question: str, cands: Sequence[Candidate]) -> _Asked:
    words = question_terms(question)
    df = Counter(t for c in cands for t in c.terms)
    idf = {t: math.log(1 + len(cands) / (1 + df[t])) for t in set(words)}
    top = sorted(idf.values(), reverse=True)
    passages = {id(c.passage): c.passage for c in cands}
    passage_terms: dict[int, set[str]] = {}
    for c in cands:
        passage_terms.setdefault(id(c.passage), set()).update(c.terms | c.context)
    return _Asked(
        terms=frozenset(words),
        idf=idf,
        cover_total=sum(top[:_COVER_TERMS]) or 1.0,
        all_total=sum(top) or 1.0,
        passage_terms=passage_terms,
        titles={k: set(terms(p.title)) for k, p in passages.items()},
        top_similarity=max(p.closeness for p in passages.values()),
        top_score=max(p.score for p in passages.values()),
    )


def features(question: str, cands: Sequence[Candidate]) -> np.ndarray:
    """One row per candidate, one column per name in ``FEATURES``."""
    x = np.zeros((len(cands), len(FEATURES)))
    if not cands:
        return x
    q = _asked(question, cands)
    coverage = np.minimum(
        [q.cover(q.terms & c.terms) + _HEADING_WEIGHT * q.cover((q.terms & c.context) - c.terms)
         for c in cands],
        1.0,
    )  # fmt: skip
    for row, (c, cov) in enumerate(zip(cands, coverage, strict=True)):
        values = _values(q, c, float(cov), float(coverage.max()))
        x[row] = [values[name] for name in FEATURES]
    return x


def _values(q: _Asked, c: Candidate, cov: float, best: float) -> dict[str, float]:
    p = c.passage
    found = q.terms & c.terms
    mentioned = q.passage_terms[id(p)]
    return {
        "question_terms": math.log1p(len(q.terms)),
        "top_similarity": q.top_similarity,
        "passage_similarity": p.closeness,
        "passage_similarity_gap": p.closeness - q.top_similarity,
        "passage_score_ratio": p.score / q.top_score if q.top_score > 0 else 0.0,
        "passage_rank": math.log1p(c.rank),
        "passage_coverage": q.cover(q.terms & (mentioned | q.titles[id(p)]), q.all_total),
        "title_coverage": q.cover(q.terms & q.titles[id(p)], q.all_total),
        "coverage": cov,
        "coverage_gap": cov - best,
        "density": len(found) / len(c.terms) if c.terms else 0.0,
        "length": math.log(max(1, len(c.sentence.split()))),
        "anaphoric": float(c.anaphoric),
    }
