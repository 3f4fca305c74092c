"""Extractive answers: the retrieved sentences that best answer the question, each cited.

Every sentence of the answer is quoted verbatim from a passage, so each claim is exactly the
cited text. A sentence's support score blends its passage's similarity to the question with
the share of the question's content words the sentence (or, at half weight, its heading)
contains, each word weighted by how rare it is among the candidate sentences: a word every
sentence has tells little. A sentence without the quantity or time the question asks for
keeps only part of its score. When no sentence reaches the refusal threshold, the documents
are taken not to answer.

On the MultiHop-RAG dev split, a sentence's own embedding similarity to the question added
nothing beyond these features, so no sentence is embedded at question time. The threshold is
calibrated by bench/calibrate_refusal.py on questions written for that purpose.
Not handled: answers that must combine or reword sentences (that is the LLM path's job).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from ingest.text import is_heading, sentence_spans, terms

from .answer_types import answer_pattern
from .types import Citation, Passage

REFUSAL_TEXT = "The documents do not answer this question."
PASSAGE_WEIGHT = 0.3  # of the support score; the rest is weighted word coverage
_MIN_WORDS = 4  # shorter segments are headings, datelines or captions, not answers
_KEEP_RATIO = 0.85  # further sentences must score within this share of the best one
_REDUNDANT = 0.8  # word overlap (Jaccard) above which a sentence repeats a chosen one
# A sentence opening like this needs the one before it to be understood ("These are ...",
# "However, ...").
_ANAPHORIC = re.compile(
    r"(?:these|this|those|that|it|its|they|their|them|he|she|his|her|such|however|but|yet|still)\b",
    re.I,
)
# A sentence is measured against the question's most telling words only: a long, multi-part
# question cannot be covered by any one sentence, and should not be refused for that.
_COVER_TERMS = 6
_TYPE_MISMATCH = 0.8  # support kept by a sentence without the quantity or time asked for
_HEADING_WEIGHT = 0.5  # a question word found only in the sentence's heading counts this much

# Words that point at the document rather than at its content.
_META_TERMS = frozenset(terms("article document text passage mention mentioned quoted quote"))


@dataclass(frozen=True)
class Candidate:
    passage: Passage
    start: int  # offsets in the source text; the quote is one sentence, or two when the
    end: int  # second opens with a pronoun that points back to the first
    text: str
    terms: frozenset[str]
    context: frozenset[str] = frozenset()  # terms of the heading the sentence stands under


@dataclass(frozen=True)
class Scored:
    candidate: Candidate
    score: float


def candidates(passages: Sequence[Passage]) -> list[Candidate]:
    """The sentences of the passages, once each (overlapping chunks repeat sentences)."""
    seen: set[tuple[str, int | None, int, int]] = set()  # offsets count within a PDF's page
    out = []
    for p in passages:
        spans = sentence_spans(p.text)
        heading: frozenset[str] = frozenset()
        for i, (a, b) in enumerate(spans):
            if is_heading(p.text[a:b]):
                heading = frozenset(terms(p.text[a:b]))
                continue
            if i > 0 and _ANAPHORIC.match(p.text, a):
                a = spans[i - 1][0]
            key = (p.source, p.page, p.start + a, p.start + b)
            text = p.text[a:b]
            if key in seen or len(text.split()) < _MIN_WORDS:
                continue
            seen.add(key)
            out.append(
                Candidate(p, p.start + a, p.start + b, text, frozenset(terms(text)), heading)
            )
    return out


def score(question: str, cands: Sequence[Candidate]) -> list[Scored]:
    """Support scores of the candidates for the question, best first."""
    q_terms = set(terms(question)) - _META_TERMS
    if not cands or not q_terms:
        return []
    df = Counter(t for c in cands for t in c.terms)
    idf = {t: math.log(1 + len(cands) / (1 + df[t])) for t in q_terms}
    total = sum(sorted(idf.values(), reverse=True)[:_COVER_TERMS])
    wanted = answer_pattern(question)
    scored = []
    for c in cands:
        found = q_terms & c.terms
        covered = sum(idf[t] for t in found) + _HEADING_WEIGHT * sum(
            idf[t] for t in (q_terms & c.context) - found
        )
        support = PASSAGE_WEIGHT * c.passage.closeness + (1 - PASSAGE_WEIGHT) * min(
            1.0, covered / total
        )
        if wanted is not None and not wanted.search(c.text):
            support *= _TYPE_MISMATCH
        scored.append(Scored(c, support))
    return sorted(scored, key=lambda s: -s.score)


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


def select(scored: Sequence[Scored], threshold: float, max_sentences: int) -> list[Scored]:
    """The best sentence and the near-best ones that add something; empty means refuse."""
    if not scored or scored[0].score < threshold:
        return []
    floor = max(threshold, _KEEP_RATIO * scored[0].score)
    chosen = [scored[0]]
    for s in scored[1:]:
        if len(chosen) == max_sentences or s.score < floor:
            break
        c = s.candidate
        overlaps = any(
            c.passage.source == o.candidate.passage.source
            and c.passage.page == o.candidate.passage.page
            and c.start < o.candidate.end
            and o.candidate.start < c.end
            for o in chosen
        )
        if not overlaps and all(_jaccard(c.terms, o.candidate.terms) < _REDUNDANT for o in chosen):
            chosen.append(s)
    return chosen


def compose(chosen: Sequence[Scored]) -> tuple[str, list[Citation]]:
    """Answer text with a ``[n]`` after each quoted sentence, and the citations."""
    if not chosen:
        return REFUSAL_TEXT, []
    citations = [
        Citation(
            n=i,
            source=s.candidate.passage.source,
            quote=s.candidate.text,
            start=s.candidate.start,
            end=s.candidate.end,
            page=s.candidate.passage.page,
            score=round(s.score, 4),
            title=s.candidate.passage.title,
        )
        for i, s in enumerate(chosen, 1)
    ]
    return " ".join(f"{c.quote} [{c.n}]" for c in citations), citations
