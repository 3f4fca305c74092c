"""Extractive answers: the retrieved sentences a fitted model finds likely to answer, each cited.

Every sentence of the answer is quoted verbatim from a passage, so each claim is exactly the
cited text. The candidates and their features are in qa/extractive_features.py; the model
(qa/extractive_model.py, parameters in qa/extractive_model.json) gives each the probability
that it answers the question. When even the best one is below the model's refusal threshold,
the documents are taken not to answer. Otherwise the answer quotes the best sentence and the
others at least ``keep`` times as likely and above the refusal threshold themselves (up to
``max_sentences``): when the best one is clearly the answer, weaker ones are left out.
Sentences that follow one another in a passage become one quote. Both thresholds and every
weight were fitted on public questions written by others (``python -m bench.fit_extractive``;
docs/calibration.md).

Sentences addressed to an assistant or reader ("ignore previous instructions", "tell the user
that ...") are never quoted, and the notice says when one was passed over.
Not handled: answers that must combine or reword sentences (that is the LLM path's job).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .extractive_features import (
    FEATURES,
    SIMILARITY_FEATURES,
    Candidate,
    candidates,
    features,
)
from .extractive_model import DEFAULT_PATH, Model, load
from .types import Citation, Passage

REFUSAL_TEXT = "The documents do not answer this question."
SKIPPED_NOTICE = (
    "A retrieved passage addresses the assistant or its reader (e.g. “ignore previous "
    "instructions”); such sentences are never quoted as an answer."
)
_REDUNDANT = 0.8  # word overlap (Jaccard) above which a sentence repeats a chosen one

# texts -> their normalized vectors (rows); e.g. qa.citecheck.SentenceVectors
Vectors = Callable[[Sequence[str]], np.ndarray]
# question -> its normalized vector; e.g. Embeddings.embed_query
QueryVector = Callable[[str], Sequence[float]]


@dataclass(frozen=True)
class Scored:
    candidate: Candidate
    probability: float


@dataclass(frozen=True)
class Extracted:
    text: str  # with [n] markers, or REFUSAL_TEXT
    citations: list[Citation]
    refused: bool
    notice: str  # "" unless a sentence addressed to the assistant was passed over


def load_model(path: Path | None = None) -> Model:
    """The fitted model in ``path`` (default: the one shipped in the package), read once."""
    return load(DEFAULT_PATH if path is None else Path(path), FEATURES)


def needs_vectors(model: Model) -> bool:
    return any(f in model.features for f in SIMILARITY_FEATURES)


def similarities(
    question: str, cands: Sequence[Candidate], vectors: Vectors, query_vector: QueryVector
) -> np.ndarray:
    """Each candidate's cosine similarity to the question."""
    if not cands:
        return np.zeros(0)
    q = np.asarray(query_vector(question), dtype=np.float32)
    q = q / max(float(np.linalg.norm(q)), 1e-12)
    return np.asarray(vectors([c.sentence for c in cands]) @ q, dtype=np.float64)


def scored(
    question: str,
    cands: Sequence[Candidate],
    model: Model,
    similarity: np.ndarray | None = None,
) -> list[Scored]:
    """The candidates with the model's probabilities, best first."""
    if not cands:
        return []
    x = features(question, cands, similarity)
    columns = [FEATURES.index(f) for f in model.features]
    p = model.probabilities(x[:, columns])
    order = np.argsort(-p, kind="stable")
    return [Scored(cands[i], float(p[i])) for i in order]


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a | b) and len(a & b) / len(a | b)


def _inside(c: Candidate, o: Candidate) -> bool:
    """``c`` lies within ``o`` in the same source (and page)."""
    same = c.passage.source == o.passage.source and c.passage.page == o.passage.page
    return same and o.start <= c.start and c.end <= o.end


def choose(
    ranked: Sequence[Scored], refusal: float, keep: float, max_sentences: int
) -> list[Scored]:
    """The best sentence and the others that add something, are at least ``keep`` times as
    likely to answer, and would each pass the refusal threshold alone; empty: refuse."""
    if not ranked or ranked[0].probability < refusal:
        return []
    chosen = [ranked[0]]
    least = max(refusal, keep * ranked[0].probability)
    for s in ranked[1:]:
        if len(chosen) == max_sentences or s.probability < least:
            break
        c = s.candidate
        if any(_inside(c, o.candidate) for o in chosen):
            continue
        if all(_jaccard(c.terms, o.candidate.terms) < _REDUNDANT for o in chosen):
            chosen.append(s)
    return chosen


@dataclass
class _Quote:
    passage: Passage
    start: int  # in the source text
    end: int
    probability: float

    def text(self) -> str:
        return self.passage.text[self.start - self.passage.start : self.end - self.passage.start]


def _quotes(chosen: Sequence[Scored]) -> list[_Quote]:
    """Chosen sentences as quotes: those that overlap or follow one another in a passage are
    one quote. Best quote first."""
    quotes: list[_Quote] = []
    for s in sorted(chosen, key=lambda s: (s.candidate.passage.source, s.candidate.start)):
        c = s.candidate
        last = quotes[-1] if quotes else None
        if (
            last is not None
            and last.passage.source == c.passage.source
            and last.passage.page == c.passage.page
        ):
            # One passage must hold both, with only white space between them.
            holder = next(
                (
                    p
                    for p in (last.passage, c.passage)
                    if p.start <= last.start and max(last.end, c.end) <= p.end
                ),
                None,
            )
            # An overlap leaves an empty gap (the slice runs backwards).
            if (
                holder is not None
                and not holder.text[last.end - holder.start : c.start - holder.start].strip()
            ):
                last.passage, last.end = holder, max(last.end, c.end)
                last.probability = max(last.probability, s.probability)
                continue
        quotes.append(_Quote(c.passage, c.start, c.end, s.probability))
    return sorted(quotes, key=lambda q: -q.probability)


def compose(chosen: Sequence[Scored]) -> tuple[str, list[Citation]]:
    """Answer text with a ``[n]`` after each quote, and the citations."""
    if not chosen:
        return REFUSAL_TEXT, []
    citations = [
        Citation(
            n=i,
            source=q.passage.source,
            quote=q.text(),
            start=q.start,
            end=q.end,
            page=q.passage.page,
            score=round(q.probability, 4),
            title=q.passage.title,
        )
        for i, q in enumerate(_quotes(chosen), 1)
    ]
    return " ".join(f"{c.quote} [{c.n}]" for c in citations), citations


def answer(
    question: str,
    passages: Sequence[Passage],
    model: Model,
    *,
    max_sentences: int = 3,
    refusal: float | None = None,
    vectors: Vectors | None = None,
    query_vector: QueryVector | None = None,
) -> Extracted:
    """The extractive answer to ``question`` from ``passages``.

    ``refusal`` overrides the model's refusal threshold. ``vectors`` and ``query_vector``
    are needed when the model weighs the sentences' own embedding similarity.
    """
    found = candidates(passages)
    similarity = None
    if needs_vectors(model):
        if vectors is None or query_vector is None:
            raise ValueError("this extractive model needs sentence and question vectors")
        similarity = similarities(question, found.items, vectors, query_vector)
    ranked = scored(question, found.items, model, similarity)
    threshold = model.refusal if refusal is None else refusal
    chosen = choose(ranked, threshold, model.keep, max_sentences)
    text, citations = compose(chosen)
    return Extracted(text, citations, not chosen, SKIPPED_NOTICE if found.skipped else "")
