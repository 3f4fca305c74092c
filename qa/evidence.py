"""The evidence table: the retrieved passages' sentences, split once, scored once, numbered.

Every step of an answer reads this one table. The extractive model (qa/extractive_model.py)
gives each row the probability that it answers the question, once; the refusal gate reads the
best of them; the model is shown the rows that matter under ids 1..n (``shown``); the check
scores each answer sentence against the rows it cites; a quoted answer is made of rows; a
citation is a row's exact span, so the page highlights what was cited. The sentence vectors
the check needs are remembered here too (``SentenceVectors``).

A row is a candidate of qa/extractive_features.py: a sentence of a passage, once (overlapping
chunks repeat sentences), with the sentence before it when it opens by pointing back ("These
are …"); headings, fragments and sentences addressed to an assistant are not rows.
Not handled: evidence the sentence splitter cuts wrongly (a quote spanning a line break).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from langchain_core.embeddings import Embeddings

from .extractive_features import FEATURES, Candidate, candidates, features
from .extractive_model import Model
from .types import Citation, Passage


@dataclass(frozen=True)
class Row:
    candidate: Candidate
    probability: float  # that it answers the question (the extractive model)

    @property
    def text(self) -> str:
        return self.candidate.text  # exactly source_text[start:end]

    @property
    def passage(self) -> Passage:
        return self.candidate.passage

    def citation(self, n: int, score: float) -> Citation:
        p = self.passage
        return Citation(
            n, p.source, self.text, self.candidate.start, self.candidate.end, p.page,
            round(score, 4), p.title,
        )  # fmt: skip


@dataclass(frozen=True)
class Evidence:
    question: str
    passages: list[Passage]
    rows: list[Row]  # every row, most likely to answer first
    shown: list[Row]  # what the model reads, in the passages' order; a row's id is its place + 1
    skipped: int  # sentences addressed to an assistant or reader, left out

    @property
    def best(self) -> float:
        """How likely the best row is to answer: what the refusal gate reads."""
        return self.rows[0].probability if self.rows else 0.0


def build(question: str, passages: Sequence[Passage], model: Model, budget: int) -> Evidence:
    """The table of ``passages`` for ``question``, showing rows up to ``budget`` characters."""
    found = candidates(passages)
    rows = _scored(question, found.items, model)
    return Evidence(question, list(passages), rows, _shown(rows, budget), found.skipped)


def _scored(question: str, cands: Sequence[Candidate], model: Model) -> list[Row]:
    if not cands:
        return []
    x = features(question, cands)
    columns = [FEATURES.index(f) for f in model.features]
    p = model.probabilities(x[:, columns])
    return [Row(cands[i], float(p[i])) for i in np.argsort(-p, kind="stable")]


def _shown(rows: Sequence[Row], budget: int) -> list[Row]:
    """Each passage's most likely row, then the most likely of the rest, within ``budget``
    characters (every passage says something: a question joining two documents needs both),
    in the order the passages were retrieved and the rows stand in them. A row overlapping
    one already shown (a sentence quoted with the one before it) is not shown twice."""
    chosen: dict[int, Row] = {}
    for row in rows:  # most likely first
        chosen.setdefault(row.candidate.rank, row)
    picked = sorted(chosen.values(), key=lambda r: -r.probability)
    kept: list[Row] = []
    used = 0
    for row in picked + [r for r in rows if r not in picked]:
        if (kept and used + len(row.text) > budget) or any(overlaps(row, k) for k in kept):
            continue
        kept.append(row)
        used += len(row.text)
    return sorted(kept, key=lambda r: (r.candidate.rank, r.candidate.start))


def overlaps(a: Row, b: Row) -> bool:
    """The two rows share text of one source (and page)."""
    c, d = a.candidate, b.candidate
    same = (c.passage.source, c.passage.page) == (d.passage.source, d.passage.page)
    return same and c.start < d.end and d.start < c.end


class SentenceVectors:
    """Normalized embeddings of sentences, remembered: the same passages come back often."""

    def __init__(self, embeddings: Embeddings, size: int = 4096):
        self.embeddings = embeddings
        self.size = size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:  # embedded outside the lock: one slow batch should not block the others
            m = np.asarray(self.embeddings.embed_documents(missing), dtype=np.float32)
            fresh = m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-12)
            with self._lock:
                self._cache.update(zip(missing, fresh, strict=True))
        with self._lock:
            out = []
            for t in texts:
                self._cache.move_to_end(t)
                out.append(self._cache[t])
            while len(self._cache) > self.size:
                self._cache.popitem(last=False)
        return np.stack(out) if out else np.zeros((0, 0), dtype=np.float32)
