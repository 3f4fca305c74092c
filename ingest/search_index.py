"""The search index beside Chroma, as one search sees it: BM25 over words and word pairs, the
few metadata fields filters need, and (embedded mode) the stored vectors.

Chroma's local mode has no sparse index ("Sparse vector indexing is not enabled in local"),
so this one lives in the index folder (``search-<collection>/``, ``ingest/search_files.py``).
It is derived data, made from the collection's own contents (the embedded text: header +
body), and it follows the collection change by change. A ``SearchIndex`` is one saved state
of it, opened: its segments (``ingest/search_segment.py``) are mapped from disk, so a
process reads the pages its searches touch, not the index; in memory are only a few small
columns per chunk (publication day, publisher and source codes, 4 bytes each) to mask by.

Chunks have *positions*: a segment's rows follow the segments before it, deleted rows
included (they are masked out, ``alive``). A filter or a named publisher is a mask over
positions, and a search's keyword scores are arrays over positions, so masks and scores
combine as arrays.
"""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from functools import cached_property

import numpy as np

from .postings import KINDS, Contribution, Part, contributions, length_norm
from .search_segment import Segment
from .tokens import pairs, query_keys, words

__all__ = ["Scorer", "SearchIndex", "pairs", "words"]

# A term in more chunks than this keeps its part of every chunk's score from one search to
# the next, up to COMMON_BYTES in all: a few common words ("company", "report") recur in most
# questions, and at a million chunks each is hundreds of thousands of postings to score.
COMMON_ROWS = 10_000
COMMON_BYTES = 64 * 2**20


class SearchIndex:
    """One saved state of the index, opened; it does not change once made (a change is a new
    state, opened anew), so a search in another thread keeps a consistent view."""

    def __init__(
        self,
        segments: Sequence[Segment],
        dead: Sequence[np.ndarray],
        *,
        stamp: str,
        seq: int,
        collection: str,
        dimension: int,
        vectors: bool,
        token: str = "",
    ):
        self.stamp = stamp  # the collection's change stamp this index is as of
        self.seq = seq  # the last entry of the collection's change log it has taken in
        self.collection = collection  # the id of the Chroma collection it was made from
        self.vectors = vectors  # whether it keeps the vectors (embedded mode)
        self.dimension = dimension  # of the vectors it keeps (0: none, or no chunk yet)
        self.token = token  # the state file's own id ("" when not saved)
        self.segments = list(segments)
        self.dead = [np.asarray(d, dtype=bool) for d in dead]  # per segment: row -> deleted
        self.offsets = list(itertools.accumulate((len(s) for s in segments), initial=0))
        self.size = self.offsets[-1]  # positions, deleted ones included
        self.alive = np.concatenate([~d for d in self.dead]) if self.dead else np.zeros(0, bool)
        self.days = _concat([s.days for s in segments], np.int32)  # position -> YYYYMMDD, 0
        self._live = int(np.count_nonzero(self.alive))
        self.common = _Common()
        self._totals = {
            kind: sum(
                int(np.asarray(lengths)[~d].sum())
                for lengths, d in zip(self._lengths(kind), self.dead, strict=True)
            )
            for kind in KINDS
        }

    def __len__(self) -> int:
        """Live chunks."""
        return self._live

    def _lengths(self, kind: str) -> list[np.ndarray]:
        return [s.lengths if kind == "words" else s.pair_lengths() for s in self.segments]

    # -- chunks and where they are

    def _rows(self, at: np.ndarray) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """(segment, rows in it, where they are in ``at``) for each segment of positions."""
        segment = np.searchsorted(self.offsets, at, side="right") - 1
        for n in np.unique(segment):
            where = np.flatnonzero(segment == n)
            yield int(n), at[where] - self.offsets[n], where

    def ids_at(self, positions: Iterable[int]) -> list[str]:
        at = np.fromiter(positions, np.int64)
        out: list[str] = [""] * len(at)
        for n, rows, where in self._rows(at):
            for w, i in zip(where, np.asarray(self.segments[n].ids)[rows], strict=True):
                out[w] = i.decode()
        return out

    def positions_of(self, ids: Sequence[str]) -> np.ndarray:
        """The live position of each id, -1 for ids the index does not hold."""
        wanted = np.array([i.encode() for i in ids], dtype=bytes) if ids else np.zeros(0, "S1")
        found = np.full(len(ids), -1, np.int64)
        for s, d, offset in zip(self.segments, self.dead, self.offsets, strict=False):
            rows = s.rows_of(wanted)
            hit = rows >= 0
            hit[hit] = ~d[rows[hit]]
            found[hit] = offset + rows[hit]
        return found

    def live_ids(self) -> list[str]:
        """Every live chunk's id, in position order."""
        return self.ids_at(np.flatnonzero(self.alive))

    def sources_at(self, positions: np.ndarray) -> list[str]:
        names, codes = self._source_codes
        return [names[c] for c in codes[positions]]

    def publishers_at(self, positions: np.ndarray) -> list[str]:
        names, codes = self._publisher_codes
        return [names[c] for c in codes[positions]]

    def vectors_at(self, positions: Iterable[int]) -> np.ndarray:
        """The stored (unit) vectors at these positions, (n, dimension)."""
        at = np.fromiter(positions, np.int64)
        out = np.zeros((len(at), self.dimension), np.float32)
        for n, rows, where in self._rows(at):
            out[where] = np.asarray(self.segments[n].vectors)[rows]
        return out

    # -- searching

    def scorer(self) -> Scorer:
        return Scorer(self)

    def scores(self, query: str) -> tuple[np.ndarray, np.ndarray]:
        """See ``Scorer.scores``."""
        return self.scorer().scores(query)

    def parts(self, kind: str) -> list[Part]:
        return self._parts[kind]

    @cached_property
    def _parts(self) -> dict[str, list[Part]]:
        out = {}
        for kind in KINDS:
            average = self._totals[kind] / self._live if self._live else 0.0
            out[kind] = [
                Part(s.postings[kind], offset, d, bool(d.any()), length_norm(lengths, average))
                for s, lengths, offset, d in zip(
                    self.segments, self._lengths(kind), self.offsets, self.dead, strict=False
                )
            ]
        return out

    def similarities(self, vector: np.ndarray) -> np.ndarray | None:
        """Cosine similarity of every position to the (query) vector; None when the index
        keeps no vectors."""
        if not self.dimension:
            return None
        norm = float(np.linalg.norm(vector))
        unit = (vector / norm if norm > 0 else vector).astype(np.float32)
        parts = [np.asarray(s.vectors) @ unit for s in self.segments if s.vectors is not None]
        return _concat(parts, np.float32)

    @cached_property
    def _publisher_codes(self) -> tuple[list[str], np.ndarray]:
        return _codes([(s.publishers, s.publisher) for s in self.segments])

    @cached_property
    def _source_codes(self) -> tuple[list[str], np.ndarray]:
        return _codes([(s.sources, s.source) for s in self.segments])

    def publisher_names(self) -> list[str]:
        """The publishers of live chunks, sorted (asked by every search: worked out once)."""
        return list(self._publisher_names)

    @cached_property
    def _publisher_names(self) -> tuple[str, ...]:
        names, codes = self._publisher_codes
        return tuple(n for n in (names[c] for c in np.unique(codes[self.alive])) if n)

    def publisher_mask(self, name: str) -> np.ndarray:
        """Which positions this publisher published (deleted ones too: mask them)."""
        return self._mask(self._publisher_codes, [name])

    def source_mask(self, sources: Iterable[str]) -> np.ndarray:
        """Which positions come from these files."""
        return self._mask(self._source_codes, sources)

    @staticmethod
    def _mask(codes: tuple[list[str], np.ndarray], wanted: Iterable[str]) -> np.ndarray:
        names, column = codes
        number = {n: i for i, n in enumerate(names)}
        return np.isin(column, [number[w] for w in wanted if w in number])


class Scorer:
    """The keyword scores of one search's texts (the question, its parts and clauses): a term
    they share is looked up once."""

    def __init__(self, index: SearchIndex):
        self.index = index
        self._terms: dict[tuple[str, int], Contribution] = {}

    def scores(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """BM25 of every position for the text's words and for its word pairs, each scaled
        to at most 1 (so they blend with cosine similarities); 0 at deleted positions."""
        keys = query_keys(text)
        return self._scaled("words", keys["words"]), self._scaled("pairs", keys["pairs"])

    def _scaled(self, kind: str, keys: np.ndarray) -> np.ndarray:
        out = np.zeros(self.index.size, np.float32)
        for key in keys:  # in query order, repeats again: a chunk's sum is the same whatever
            for offset, rows, values in self._term(kind, key):  # its segment
                out[offset:][rows] += values
        top = float(out.max()) if len(out) else 0.0
        return out / np.float32(top) if top > 0 else out

    def _term(self, kind: str, key: np.uint64) -> Contribution:
        memo = (kind, int(key))
        found = self._terms.get(memo) or self.index.common.get(memo)
        if found is None:
            found = contributions(key, self.index.parts(kind), len(self.index))
            if sum(len(rows) for _, rows, _ in found) > COMMON_ROWS:
                self.index.common.put(memo, found)
        self._terms[memo] = found
        return found


class _Common:
    """Common terms' parts of the score, kept from one search to the next (least recently
    used first out, within ``COMMON_BYTES``)."""

    def __init__(self) -> None:
        self._items: OrderedDict[tuple[str, int], Contribution] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()  # the web app searches from several threads

    def get(self, memo: tuple[str, int]) -> Contribution | None:
        with self._lock:
            found = self._items.get(memo)
            if found is not None:
                self._items.move_to_end(memo)
            return found

    def put(self, memo: tuple[str, int], value: Contribution) -> None:
        size = sum(rows.nbytes + values.nbytes for _, rows, values in value)
        with self._lock:
            if memo in self._items or size > COMMON_BYTES:
                return
            self._items[memo] = value
            self._bytes += size
            while self._bytes > COMMON_BYTES:
                _, old = self._items.popitem(last=False)
                self._bytes -= sum(rows.nbytes + values.nbytes for _, rows, values in old)


def _concat(arrays: Sequence[np.ndarray], dtype: type) -> np.ndarray:
    return np.concatenate([np.zeros(0, dtype), *(np.asarray(a) for a in arrays)]).astype(dtype)


def _codes(columns: Sequence[tuple[list[str], np.ndarray]]) -> tuple[list[str], np.ndarray]:
    """Segments' (names, codes) as one column over positions, coded by one list of names."""
    names = sorted({n for own, _ in columns for n in own})
    number = {n: i for i, n in enumerate(names)}
    recoded = [
        np.array([number[n] for n in own], np.int32)[np.asarray(codes)] if len(own) else codes
        for own, codes in columns
    ]
    return names, _concat(recoded, np.int32)
