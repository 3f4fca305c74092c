"""Finding the passages for a question: dense and keyword (BM25) search, fused.

Each chunk's score blends its cosine similarity to the question with its keyword match
(BM25 over words and over word pairs, scaled to the best match). When the question names
publishers the index knows ("as reported by The Verge and TechCrunch"), the same search also
runs within each one's documents (and on the named day, when one is given), and the top k
take turns from those lists before the overall list fills the rest: a multi-part question then
gets evidence from every document it needs, not the ten best chunks of one of them. A clause
that names one date is searched on that day. Two chunks of a document that overlap and both
make the top k become one passage (``_joined``), which frees a place for the next one.

The weights were tuned on the MultiHop-RAG dev split (``bench/multihop_rag.py``); per-document
caps and diversity across documents were tried there and lost evidence (a relevant article
often holds several of the facts, and a fact cut at one chunk's edge is whole in the next), so
the top k is not capped per document; so were dropping overlapping chunks (lost too),
reciprocal-rank or score fusion of the lists instead of taking turns, and a document-level
keyword score (each lower).
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace

import numpy as np
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.retrievers import BaseRetriever

from ingest.search_index import SearchIndex
from ingest.store import Index, IndexMismatchError

from .query import Part, clauses, parts
from .types import Passage

DENSE_WEIGHT = 0.35  # of the fused score; the rest is the keyword match
PAIR_WEIGHT = 0.3  # of the keyword match; the rest is single words
POOL = 100  # candidates each side (dense, keyword) brings to the fusion
_DAY_SLACK = 1  # a named date also matches the day before and after (time zones)
_RERANK_DEPTH = 30  # candidates a cross-encoder reorders
JOINED_CHARS = 1800  # the longest passage overlapping chunks join into: about two chunks
SPLIT_CLAUSES = True  # search each clause of a multi-part question on its own (qa.query)


@dataclass(frozen=True)
class Filters:
    """Restrict a search to some documents (file sources) and/or a range of publication days."""

    sources: tuple[str, ...] = ()
    date_from: dt.date | None = None
    date_to: dt.date | None = None

    def __bool__(self) -> bool:
        return bool(self.sources or self.date_from or self.date_to)

    def mask(self, si: SearchIndex) -> np.ndarray:
        keep = np.ones(len(si), dtype=bool)
        if self.sources:
            keep &= si.source_mask(self.sources)
        if self.date_from:
            keep &= si.days >= _day_number(self.date_from)
        if self.date_to:
            keep &= (si.days <= _day_number(self.date_to)) & (si.days > 0)
        return keep


def _day_number(day: dt.date) -> int:
    return day.year * 10000 + day.month * 100 + day.day


def _near_days(day: int) -> tuple[int, int]:
    d = dt.date(day // 10000, day // 100 % 100, day % 100)
    slack = dt.timedelta(days=_DAY_SLACK)
    return _day_number(d - slack), _day_number(d + slack)


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
        si = self.index.search_index()
        if not len(si) or k <= 0:
            return []
        vector = np.asarray(self.embeddings.embed_query(query), dtype=np.float32)
        if len(vector) != si.vectors.shape[1]:
            self.index.check_dimension(len(vector))  # names the model the index was built with
            raise IndexMismatchError(
                f"{self.index.where} holds {si.vectors.shape[1]}-dimensional vectors, but the "
                f"embedding model makes {len(vector)}-dimensional ones"
            )
        dense = si.similarities(vector)
        words, pairs_ = si.scores(query)
        keyword = (1 - PAIR_WEIGHT) * words + PAIR_WEIGHT * pairs_
        base = filters.mask(si)
        overall = self._ranked(query, dense, keyword, base, si)
        names = si.publisher_names()
        named = parts(query, names)
        lists = [self._part(part, query, dense, keyword, base, si) for part in named]
        if SPLIT_CLAUSES:
            lists += [
                self._clause(
                    c.text,
                    query,
                    dense,
                    _on_day(c.day, _scope(c.publishers or named, base, si), si),
                    si,
                )
                for c in clauses(query, names)
            ]
        order = _take_turns([lst for lst in lists if lst], overall)
        return self._passages(list(itertools.islice(order, 2 * k)), k)

    def _part(
        self,
        part: Part,
        query: str,
        dense: np.ndarray,
        keyword: np.ndarray,
        base: np.ndarray,
        si: SearchIndex,
    ) -> list[_Ranked]:
        """The search within one named publisher's documents (on the named day, if any): the
        words around the mention count as much as the whole question."""
        mask = base & si.publisher_mask(part.publisher)
        if part.day is not None:
            low, high = _near_days(part.day)
            on_day = mask & (si.days >= low) & (si.days <= high)
            if on_day.any():  # a date the index does not have is ignored, not obeyed
                mask = on_day
        if not mask.any():
            return []
        local_words, local_pairs = si.scores(part.text)
        local = (1 - PAIR_WEIGHT) * local_words + PAIR_WEIGHT * local_pairs
        return self._ranked(query, dense, _scaled(local, mask) + _scaled(keyword, mask), mask, si)

    def _clause(
        self, clause: str, query: str, dense: np.ndarray, mask: np.ndarray, si: SearchIndex
    ) -> list[_Ranked]:
        """The search for one clause: its own words, and the question's meaning.

        Measured on the MultiHop-RAG dev split, the clause's words alone did better than
        blended with the whole question's (evidence recall@10 0.734 against 0.732 and 0.723 at
        weights 1 and 2), and encoding each clause for a dense score of its own added nothing
        (0.731) for a model call per clause."""
        clause_words, clause_pairs = si.scores(clause)
        keyword = (1 - PAIR_WEIGHT) * clause_words + PAIR_WEIGHT * clause_pairs
        return self._ranked(query, dense, keyword, mask, si)

    def _ranked(
        self,
        query: str,
        dense: np.ndarray,
        keyword: np.ndarray,
        mask: np.ndarray,
        si: SearchIndex,
    ) -> list[_Ranked]:
        """The best ``POOL`` chunks of each kind within ``mask``, best first by fused score."""
        keyword = _scaled(keyword, mask)
        by_words = _best(keyword, POOL)
        by_meaning = _best(np.where(mask, dense, -np.inf), POOL)
        # Keyword candidates first: a tie in the fused score goes to the better keyword match.
        candidates = np.array(
            list(dict.fromkeys([*by_words[keyword[by_words] > 0], *by_meaning])), dtype=np.int64
        )
        fused = DENSE_WEIGHT * dense[candidates] + (1 - DENSE_WEIGHT) * keyword[candidates]
        order = np.argsort(-fused, kind="stable")
        ranked = [
            _Ranked(si.ids[c], float(fused[o]), float(dense[c]))
            for o, c in zip(order, candidates[order], strict=True)
        ]
        return self._reranked(query, ranked) if self.reranker else ranked

    def _reranked(self, query: str, ranked: list[_Ranked]) -> list[_Ranked]:
        assert self.reranker is not None
        head = ranked[:_RERANK_DEPTH]
        texts = self.index.chunks([r.id for r in head])
        scores = self.reranker(query, [(r.id, texts[r.id][0]) for r in head if r.id in texts])
        rescored = [_Ranked(r.id, s, r.similarity) for r, s in zip(head, scores, strict=True)]
        return sorted(rescored, key=lambda r: -r.score) + ranked[_RERANK_DEPTH:]

    def _passages(self, ranked: list[_Ranked], k: int) -> list[Passage]:
        """The first ``k`` passages of the ranked chunks, a chunk that overlaps one already
        taken from its document joining it (see ``_joined``)."""
        stored = self.index.chunks([r.id for r in ranked])
        out: list[Passage] = []
        for r in ranked:
            if r.id not in stored:
                continue
            p = Passage.from_stored(r.id, *stored[r.id], score=r.score, similarity=r.similarity)
            joined = next(((n, j) for n, q in enumerate(out) if (j := _joined(q, p))), None)
            if joined is not None:
                out[joined[0]] = joined[1]
            elif len(out) < k:
                out.append(p)
            else:
                break
        return out


def _best(scores: np.ndarray, n: int) -> np.ndarray:
    """Positions of the ``n`` highest finite scores, best first."""
    top = np.argpartition(-scores, n - 1)[:n] if len(scores) > n else np.arange(len(scores))
    top = top[np.isfinite(scores[top])]
    return top[np.lexsort((top, -scores[top]))]  # ties by position: the same order every time


def _scaled(scores: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Scores within the mask divided by their best; zero outside it."""
    inside = np.where(mask, scores, 0.0)
    top = float(inside.max()) if inside.size else 0.0
    return inside / top if top > 0 else inside


def _scope(publishers: Sequence[str | Part], base: np.ndarray, si: SearchIndex) -> np.ndarray:
    """Where a clause's evidence may be: the documents of the publishers it names, else of any
    publisher the question names, else everything the filters allow."""
    union = np.zeros(len(si), dtype=bool)
    for p in publishers:
        union |= si.publisher_mask(p.publisher if isinstance(p, Part) else p)
    return union & base if (union & base).any() else base


def _on_day(day: int | None, mask: np.ndarray, si: SearchIndex) -> np.ndarray:
    """The mask narrowed to the named day (±1), unless no chunk of it is from then."""
    if day is None:
        return mask
    low, high = _near_days(day)
    on_day = mask & (si.days >= low) & (si.days <= high)
    return on_day if on_day.any() else mask


def _take_turns(lists: list[list[_Ranked]], overall: list[_Ranked]) -> Iterator[_Ranked]:
    """Round-robin over the per-publisher and per-clause lists, then the overall list,
    without repeats."""
    seen: set[str] = set()
    depth = 0
    while any(depth < len(lst) for lst in lists):
        for lst in lists:
            if depth < len(lst) and lst[depth].id not in seen:
                seen.add(lst[depth].id)
                yield lst[depth]
        depth += 1
    for r in overall:
        if r.id not in seen:
            seen.add(r.id)
            yield r


def _joined(first: Passage, other: Passage) -> Passage | None:
    """One passage of two chunks of a document that overlap, when it stays within
    ``JOINED_CHARS``; else None.

    Chunks overlap (``QA_CHUNK_OVERLAP_TOKENS``), so a fact cut at one's edge is whole in its
    neighbour, and a document that holds the evidence often puts both in the top k: joined,
    they leave room for another document's evidence."""
    if (other.source, other.page) != (first.source, first.page):  # offsets count from the page
        return None
    if other.start >= first.end or first.start >= other.end:
        return None
    a, b = sorted((first, other), key=lambda p: p.start)
    if max(a.end, b.end) - a.start > JOINED_CHARS:
        return None
    text = a.text + b.text[a.end - b.start :] if b.end > a.end else a.text
    return replace(first, text=text, start=a.start, end=max(a.end, b.end))


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
