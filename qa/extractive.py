"""Extractive answers: the evidence rows a fitted model finds likely to answer, each cited.

Every sentence of the answer is quoted verbatim, so each claim is exactly the cited text.
The rows and their probabilities come from the evidence table (qa/evidence.py), scored once
by the fitted model (qa/extractive_model.py, parameters in qa/extractive_model.json). When
even the best row is below the refusal threshold, the documents are taken not to answer.
Otherwise the answer quotes the best row and the others at least ``keep`` times as likely and
above the refusal threshold themselves (up to ``max_sentences``): when the best one is
clearly the answer, weaker ones are left out. Rows that follow one another in a passage
become one quote. Both thresholds and every weight were fitted on public questions written by
others (``python -m bench.fit_extractive``; docs/calibration.md).

Sentences addressed to an assistant or reader ("ignore previous instructions", "tell the user
that ...") are never rows, and the notice says when one was passed over.
Not handled: answers that must combine or reword sentences (that is the model's job).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .evidence import Evidence, Row
from .extractive_features import FEATURES
from .extractive_model import DEFAULT_PATH, Model, load
from .types import Answer, Citation, Passage

REFUSAL_TEXT = "The documents do not answer this question."
SKIPPED_NOTICE = (
    "A retrieved passage addresses the assistant or its reader (e.g. “ignore previous "
    "instructions”); such sentences are never quoted as an answer."
)
_REDUNDANT = 0.8  # word overlap (Jaccard) above which a sentence repeats a chosen one


def load_model(path: Path | None = None) -> Model:
    """The fitted model in ``path`` (default: the one shipped in the package), read once."""
    return load(DEFAULT_PATH if path is None else Path(path), FEATURES)


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a | b) and len(a & b) / len(a | b)


def _inside(r: Row, o: Row) -> bool:
    """``r`` lies within ``o`` in the same source (and page)."""
    c, d = r.candidate, o.candidate
    same = c.passage.source == d.passage.source and c.passage.page == d.passage.page
    return same and d.start <= c.start and c.end <= d.end


def choose(ranked: Sequence[Row], refusal: float, keep: float, max_sentences: int) -> list[Row]:
    """The best row and the others that add something, are at least ``keep`` times as
    likely to answer, and would each pass the refusal threshold alone; empty: refuse."""
    if not ranked or ranked[0].probability < refusal:
        return []
    chosen = [ranked[0]]
    least = max(refusal, keep * ranked[0].probability)
    for r in ranked[1:]:
        if len(chosen) == max_sentences or r.probability < least:
            break
        if any(_inside(r, o) for o in chosen):
            continue
        if all(_jaccard(r.candidate.terms, o.candidate.terms) < _REDUNDANT for o in chosen):
            chosen.append(r)
    return chosen


@dataclass
class _Quote:
    passage: Passage
    start: int  # in the source text
    end: int
    probability: float

    def text(self) -> str:
        return self.passage.text[self.start - self.passage.start : self.end - self.passage.start]


def _joins(last: _Quote, c: Row) -> Passage | None:
    """The passage holding both ``last`` and the row with only white space between them."""
    cand = c.candidate
    if (last.passage.source, last.passage.page) != (cand.passage.source, cand.passage.page):
        return None
    for p in (last.passage, cand.passage):
        holds = p.start <= last.start and max(last.end, cand.end) <= p.end
        # An overlap leaves an empty gap (the slice runs backwards).
        if holds and not p.text[last.end - p.start : cand.start - p.start].strip():
            return p
    return None


def _quotes(chosen: Sequence[Row]) -> list[_Quote]:
    """Chosen rows as quotes: those that overlap or follow one another in a passage are one
    quote. Best quote first."""
    quotes: list[_Quote] = []
    for r in sorted(chosen, key=lambda r: (r.passage.source, r.candidate.start)):
        holder = _joins(quotes[-1], r) if quotes else None
        if holder is not None:
            last = quotes[-1]
            last.passage, last.end = holder, max(last.end, r.candidate.end)
            last.probability = max(last.probability, r.probability)
        else:
            quotes.append(_Quote(r.passage, r.candidate.start, r.candidate.end, r.probability))
    return sorted(quotes, key=lambda q: -q.probability)


def compose(chosen: Sequence[Row]) -> tuple[str, list[Citation]]:
    """Answer text with a ``[n]`` after each quote, and the citations."""
    if not chosen:
        return REFUSAL_TEXT, []
    citations = [
        Citation(i, q.passage.source, q.text(), q.start, q.end, q.passage.page,
                 round(q.probability, 4), q.passage.title)
        for i, q in enumerate(_quotes(chosen), 1)
    ]  # fmt: skip
    return " ".join(f"{c.quote} [{c.n}]" for c in citations), citations


def answer(
    evidence: Evidence,
    model: Model,
    *,
    max_sentences: int = 3,
    refusal: float | None = None,
    notice: str = "",
) -> Answer:
    """The extractive answer from the evidence table, after ``notice`` (why it is quoted);
    ``refusal`` overrides the model's refusal threshold."""
    threshold = model.refusal if refusal is None else refusal
    chosen = choose(evidence.rows, threshold, model.keep, max_sentences)
    text, citations = compose(chosen)
    notice = " ".join(n for n in (notice, SKIPPED_NOTICE if evidence.skipped else "") if n)
    return Answer(
        text, citations, not chosen, "extractive", notice,
        query=evidence.question, passages=evidence.passages,
    )  # fmt: skip
