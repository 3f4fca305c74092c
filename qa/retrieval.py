"""Finding the passages for a question: dense (Chroma) and keyword (BM25) search, fused.

Each chunk's score blends its cosine similarity to the question with its keyword match
(BM25 over words and over word pairs, scaled to the best match). When the question names
publishers the index knows ("as reported by The Verge and TechCrunch"), the same search also
runs within each one's documents (and on the named day, when one is given), and the top k
take turns from those lists before the overall list fills the rest: a multi-part question then
gets evidence from every document it needs, not the ten best chunks of one of them.

The weights were tuned on the MultiHop-RAG dev split (``bench/multihop_rag.py``); per-document
caps and diversity across documents were tried there and lost evidence (a relevant article
often holds several of the facts), so the top k is not capped per document.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.retrievers import BaseRetriever

from ingest.keyword import KeywordIndex
from ingest.store import Index

from .query import Part, parts
from .types import Passage

DENSE_WEIGHT = 0.3  # of the fused score; the rest is the keyword match
PAIR_WEIGHT = 0.3  # of the keyword match; the rest is single words
POOL = 100  # candidates each side (dense, keyword) brings to the fusion
_DAY_SLACK = 1  # a named date also matches the day before and after (time zones)
_RERANK_DEPTH = 30  # candidates a cross-encoder reorders


@dataclass(frozen=True)
class Filters:
    """Restrict a search to some documents (file sources) and/or a range of publication days."""

    sources: tuple[str, ...] = ()
    date_from: dt.date | None = None
    date_to: dt.date | None = None

    def __bool__(self) -> bool:
        return bool(self.sources or self.date_from or self.date_to)

    def where(self) -> dict[str, Any] | None:
        """The same restriction as a Chroma metadata filter."""
        clauses: list[dict[str, Any]] = []
        if self.sources:
            clauses.append({"source": {"$in": list(self.sources)}})
        if self.date_from:
            clauses.append({"published_day": {"$gte": _day_number(self.date_from)}})
        if self.date_to:
            clauses.append({"published_day": {"$lte": _day_number(self.date_to)}})
        return _all_of(clauses)

    def mask(self, kw: KeywordIndex) -> np.ndarray:
        keep = np.ones(len(kw), dtype=bool)
        if self.sources:
            keep &= np.isin(kw.sources, list(self.sources))
        if self.date_from:
            keep &= kw.days >= _day_number(self.date_from)
        if self.date_to:
            keep &= (kw.days <= _day_number(self.date_to)) & (kw.days > 0)
        return keep


def _day_number(day: dt.date) -> int:
    return day.year * 10000 + day.month * 100 + day.day


def _near_days(day: int) -> tuple[int, int]:
    d = dt.date(day // 10000, day // 100 % 100, day % 100)
    slack = dt.timedelta(days=_DAY_SLACK)
    return _day_number(d - slack), _day_number(d + slack)


def _all_of(clauses: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


@dataclass(frozen=True)
class _Ranked:
    id: str
    score: float
    similarity: float


# (query, [(chunk id, embedded text)]) -> one relevance score per chunk
Reranker = Callable[[str, list[tuple[str, str]]], list[float]]


class HybridSearch:
    """Dense + keyword search over one index, fused; see the module docstring."""

    def __init__(self, index: Index, embeddings: Embeddings, reranker: Reranker | None = None):
        self.index = index
        self.embeddings = embeddings
        self.reranker = reranker

    def search(self, query: str, k: int, filters: Filters | None = None) -> list[Passage]:
        filters = filters or Filters()
        kw = self.index.keyword()
        if not len(kw) or k <= 0:
            return []
        vector = np.asarray(self.embeddings.embed_query(query), dtype=np.float32)
        words, pairs_ = kw.scores(query)
        keyword = (1 - PAIR_WEIGHT) * words + PAIR_WEIGHT * pairs_
        base = filters.mask(kw)
        overall = self._ranked(query, vector, keyword, base, filters.where(), kw)
        lists = [
            self._part(part, query, vector, keyword, base, filters, kw)
            for part in parts(query, kw.publisher_names())
        ]
        chosen = _take_turns([lst for lst in lists if lst], overall, k)
        return self._passages(chosen)

    def _part(
        self,
        part: Part,
        query: str,
        vector: np.ndarray,
        keyword: np.ndarray,
        base: np.ndarray,
        filters: Filters,
        kw: KeywordIndex,
    ) -> list[_Ranked]:
        """The search within one named publisher's documents (on the named day, if any): the
        words around the mention count as much as the whole question."""
        mask = base & (kw.publishers == part.publisher)
        clauses: list[dict[str, Any]] = [{"publisher": part.publisher}]
        if part.day is not None:
            low, high = _near_days(part.day)
            on_day = mask & (kw.days >= low) & (kw.days <= high)
            if on_day.any():  # a date the index does not have is ignored, not obeyed
                mask = on_day
                clauses += [{"published_day": {"$gte": low}}, {"published_day": {"$lte": high}}]
        if not mask.any():
            return []
        outer = filters.where()
        where = _all_of([*clauses, outer] if outer else clauses)
        local_words, local_pairs = kw.scores(part.text)
        local = (1 - PAIR_WEIGHT) * local_words + PAIR_WEIGHT * local_pairs
        return self._ranked(
            query, vector, _scaled(local, mask) + _scaled(keyword, mask), mask, where, kw
        )

    def _ranked(
        self,
        query: str,
        vector: np.ndarray,
        keyword: np.ndarray,
        mask: np.ndarray,
        where: dict[str, Any] | None,
        kw: KeywordIndex,
    ) -> list[_Ranked]:
        """Candidates of both kinds within ``mask``/``where``, best first by fused score."""
        keyword = _scaled(keyword, mask)
        top = np.argsort(-keyword)[:POOL]
        similarity: dict[str, float | None] = {kw.ids[i]: None for i in top if keyword[i] > 0}
        dense = self.index.vectorstore.similarity_search_by_vector_with_relevance_scores(
            vector.tolist(), k=POOL, filter=where
        )
        similarity |= {str(doc.id): 1.0 - distance for doc, distance in dense}
        missing = [i for i, s in similarity.items() if s is None]
        if missing:
            for i, v in self.index.vectors(missing).items():
                similarity[i] = float(np.dot(vector, np.asarray(v, dtype=np.float32)))
        position = kw.position
        ranked = sorted(
            (
                _Ranked(i, DENSE_WEIGHT * s + (1 - DENSE_WEIGHT) * float(keyword[position[i]]), s)
                for i, s in similarity.items()
                if s is not None and i in position  # a chunk added since the keyword index
            ),
            key=lambda r: -r.score,
        )
        return self._reranked(query, ranked) if self.reranker else ranked

    def _reranked(self, query: str, ranked: list[_Ranked]) -> list[_Ranked]:
        assert self.reranker is not None
        head = ranked[:_RERANK_DEPTH]
        texts = self.index.chunks([r.id for r in head])
        scores = self.reranker(query, [(r.id, texts[r.id][0]) for r in head if r.id in texts])
        rescored = [_Ranked(r.id, s, r.similarity) for r, s in zip(head, scores, strict=True)]
        return sorted(rescored, key=lambda r: -r.score) + ranked[_RERANK_DEPTH:]

    def _passages(self, chosen: list[_Ranked]) -> list[Passage]:
        stored = self.index.chunks([r.id for r in chosen])
        return [
            Passage.from_stored(r.id, *stored[r.id], score=r.score, similarity=r.similarity)
            for r in chosen
            if r.id in stored
        ]


def _scaled(scores: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Scores within the mask divided by their best; zero outside it."""
    inside = np.where(mask, scores, 0.0)
    top = float(inside.max()) if inside.size else 0.0
    return inside / top if top > 0 else inside


def _take_turns(lists: list[list[_Ranked]], overall: list[_Ranked], k: int) -> list[_Ranked]:
    """Round-robin over the per-publisher lists, then the overall list, without repeats."""
    chosen: dict[str, _Ranked] = {}
    depth = 0
    while len(chosen) < k and any(depth < len(lst) for lst in lists):
        for lst in lists:
            if depth < len(lst) and len(chosen) < k:
                chosen.setdefault(lst[depth].id, lst[depth])
        depth += 1
    for r in overall:
        if len(chosen) >= k:
            break
        chosen.setdefault(r.id, r)
    return list(chosen.values())


class PassageRetriever(BaseRetriever):
    """The assistant's retrieval as a LangChain retriever, to compose into other chains.

    ``page_content`` is the passage body (the header used for indexing is dropped); the
    metadata holds the chunk's fields plus ``score`` and ``similarity``.
    """

    search: Callable[[str, int], Sequence[Passage]]
    k: int = 10

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, k: int | None = None
    ) -> list[Document]:
        return [
            Document(
                page_content=p.text,
                id=p.id,
                metadata={**p.metadata, "score": p.score, "similarity": p.similarity},
            )
            for p in self.search(query, self.k if k is None else k)
        ]
