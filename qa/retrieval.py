"""Finding the passages for a question: dense and keyword (BM25) search, fused.

Each chunk's score blends its cosine similarity to the question with its keyword match
(BM25 over words and over word pairs, scaled to the best match). When the question names
publishers the index knows ("as reported by The Verge and TechCrunch"), the same search also
runs within each one's documents (and on the named day, when one is given), and the top k
take turns from those lists before the overall list fills the rest: a multi-part question then
gets evidence from every document it needs, not the ten best chunks of one of them. A clause
that names one date is searched on that day. Two chunks of a document that overlap and both
make the top k become one passage (``_joined``), which frees a place for the next one.

Where the cosine similarities come from (``HybridSearch._dense``): embedded, up to
``QA_MATRIX_MAX_CHUNKS`` chunks, from the stored vectors (mapped from the search index's
files), exact for every chunk; above it, and with a Chroma server, from Chroma's own
nearest-neighbour search: the ``DENSE_POOL`` nearest within the filters, each list taking its
best in its mask from those. A filtered Chroma query per list was not used: Chroma's filtered
(and id-restricted) queries cost time in proportion to the collection (about 130 ms for 50
ids at 100k chunks, 8 ms at 10k, on these busy cores), its plain nearest-neighbour query a few
milliseconds.

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
from typing import Any

import numpy as np
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.retrievers import BaseRetriever

from ingest.search_index import Scorer, SearchIndex
from ingest.store import Index, IndexMismatchError

from .query import Part, clauses, parts
from .types import Passage

DENSE_WEIGHT = 0.35  # of the fused score; the rest is the keyword match
PAIR_WEIGHT = 0.3  # of the keyword match; the rest is single words
POOL = 100  # candidates each side (dense, keyword) brings to the fusion
# Dense candidates from Chroma's nearest-neighbour search (large or remote collections): the
# nearest this many within the filters, of which each list takes its best POOL in its mask.
DENSE_POOL = 1000
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
        """The live positions the filters allow."""
        keep = si.alive.copy()
        if self.sources:
            keep &= si.source_mask(self.sources)
        if self.date_from:
            keep &= si.days >= _day_number(self.date_from)
        if self.date_to:
            keep &= (si.days <= _day_number(self.date_to)) & (si.days > 0)
        return keep

    def where(self) -> dict[str, Any] | None:
        """The filters as a Chroma ``where`` (None: none)."""
        terms: list[dict[str, Any]] = []
        if self.sources:
            terms.append({"source": {"$in": list(self.sources)}})
        if self.date_from:
            terms.append({"published_day": {"$gte": _day_number(self.date_from)}})
        if self.date_to:
            terms.append({"published_day": {"$lte": _day_number(self.date_to)}})
        return None if not terms else terms[0] if len(terms) == 1 else {"$and": terms}


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


@dataclass(frozen=True)
class _List:
    """One ranked list in the making: keyword scores scaled within its mask, and its best
    keyword candidates (positions)."""

    keyword: np.ndarray
    mask: np.ndarray
    by_words: np.ndarray

    @classmethod
    def of(cls, keyword: np.ndarray, mask: np.ndarray) -> _List:
        keyword = _scaled(keyword, mask)
        by_words = _best(keyword, POOL)
        return cls(keyword, mask, by_words[keyword[by_words] > 0])


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
        if si.dimension and len(vector) != si.dimension:
            self.index.check_dimension(len(vector))  # names the model the index was built with
            raise IndexMismatchError(
                f"{self.index.where} holds {si.dimension}-dimensional vectors, but the "
                f"embedding model makes {len(vector)}-dimensional ones"
            )
        scorer = si.scorer()
        keyword = _blend(scorer.scores(query))
        base = filters.mask(si)
        names = si.publisher_names()
        named = parts(query, names)
        lists = [_List.of(keyword, base)]
        lists += [x for part in named if (x := self._part(part, scorer, keyword, base, si))]
        if SPLIT_CLAUSES:
            lists += [
                _List.of(
                    _blend(scorer.scores(c.text)),
                    _on_day(c.day, _scope(c.publishers or named, base, si), si),
                )
                for c in clauses(query, names)
            ]
        dense = self._dense(si, vector, filters, lists)
        overall, *others = [self._ranked(query, dense, x, si) for x in lists]
        order = _take_turns([lst for lst in others if lst], overall)
        return self._passages(list(itertools.islice(order, 2 * k)), k)

    def _dense(
        self, si: SearchIndex, vector: np.ndarray, filters: Filters, lists: list[_List]
    ) -> np.ndarray:
        """Cosine similarity to the question by position (-inf: not known).

        Embedded, up to ``QA_MATRIX_MAX_CHUNKS`` chunks: of every chunk, from the stored
        vectors. Above it, and with a Chroma server: of the ``DENSE_POOL`` nearest within the
        filters by Chroma's own search, and of every list's keyword candidates: from the
        stored vectors when embedded; with a server, which would have to send them, each is
        taken to be as near as the farthest of the pool (an upper bound: a nearer one would
        be in it)."""
        exact = (
            si.similarities(vector) if len(si) <= self.index.settings.matrix_max_chunks else None
        )
        if exact is not None:
            return exact
        dense = np.full(si.size, -np.inf, np.float32)
        ids, near = self.index.nearest(vector, DENSE_POOL, filters.where())
        at = si.positions_of(ids)
        dense[at[at >= 0]] = near[at >= 0]
        wanted = np.unique(np.concatenate([x.by_words for x in lists]))
        wanted = wanted[~np.isfinite(dense[wanted])]
        if si.dimension:
            dense[wanted] = si.vectors_at(wanted) @ _unit(vector)
        else:
            dense[wanted] = float(near.min()) if len(near) else 0.0
        return dense

    def _part(
        self,
        part: Part,
        scorer: Scorer,
        keyword: np.ndarray,
        base: np.ndarray,
        si: SearchIndex,
    ) -> _List | None:
        """The search within one named publisher's documents (on the named day, if any): the
        words around the mention count as much as the whole question."""
        mask = base & si.publisher_mask(part.publisher)
        if part.day is not None:
            low, high = _near_days(part.day)
            on_day = mask & (si.days >= low) & (si.days <= high)
            if on_day.any():  # a date the index does not have is ignored, not obeyed
                mask = on_day
        if not mask.any():
            return None
        local = _blend(scorer.scores(part.text))
        return _List.of(_scaled(local, mask) + _scaled(keyword, mask), mask)

    def _ranked(self, query: str, dense: np.ndarray, lst: _List, si: SearchIndex) -> list[_Ranked]:
        """The best ``POOL`` chunks of each kind within the list's mask, best first by fused
        score.

        A clause's list is searched by its own words, with the question's meaning: measured on
        the MultiHop-RAG dev split, the clause's words alone did better than blended with the
        whole question's (evidence recall@10 0.734 against 0.732 and 0.723 at weights 1 and 2),
        and encoding each clause for a dense score of its own added nothing (0.731) for a model
        call per clause."""
        by_meaning = _best(np.where(lst.mask, dense, -np.inf), POOL)
        # Keyword candidates first: a tie in the fused score goes to the better keyword match.
        candidates = np.array(list(dict.fromkeys([*lst.by_words, *by_meaning])), dtype=np.int64)
        fused = DENSE_WEIGHT * dense[candidates] + (1 - DENSE_WEIGHT) * lst.keyword[candidates]
        order = np.argsort(-fused, kind="stable")
        ids = si.ids_at(candidates[order])
        ranked = [
            _Ranked(i, float(fused[o]), float(dense[c]))
            for i, o, c in zip(ids, order, candidates[order], strict=True)
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


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


def _blend(scores: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """A text's keyword match: its words' and its word pairs' scores, weighed."""
    return (1 - PAIR_WEIGHT) * scores[0] + PAIR_WEIGHT * scores[1]


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
