"""The search index beside Chroma: BM25 over words and word pairs, and the vectors.

Chroma's local mode has no sparse index, so this one lives in the index folder
(``search-<collection>/``, see ``ingest/search_files.py``). It is derived data, made from the
collection's own contents (the embedded text: header + body, and its vector), and it follows
the collection change by change (``Index.search_index`` replays the collection's change log):
a new document costs its own chunks, not a rebuild. Word pairs matter: "class action",
"Caroline Ellison" or "$14 billion" say more together than apart.

Per chunk it keeps, as arrays in one order (a chunk's *position*): the few metadata fields
that filters and query handling need (file source, publisher, publication day) and the stored
vector, normalized. A filter or a named publisher is then a mask over scores, and the dense
score of every chunk is one matrix product. Why not Chroma's own nearest-neighbour query: a
filtered query took 40-160 ms at 100k chunks (metadata filter in SQLite, then the search)
where the product takes a few ms, and a search needs one dense query per publisher the
question names.

The keyword side is kept in *segments* (``ingest/postings.py``): the chunks added together
form one, a deleted chunk is only marked dead in its segment, and a segment merges into the one
before it once that one is no larger (so a few segments of falling size hold everything, and a
chunk is rewritten only a logarithmic number of times). Scores do not depend on the segments.
A writer that holds no index in memory does not load it to save its change: it appends a delta
to the saved one (``ingest/search_delta.py``), which the next load takes in.
Not handled: collections whose vectors do not fit in memory (4 bytes a dimension a chunk:
150 MB for 100k MiniLM vectors).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import bm25s
import numpy as np

from .postings import Postings, Vocabulary, bm25

# A segment merges into the one before it while that one holds at most this many times its
# live chunks: sizes then fall by half or more from one segment to the next (a binary counter).
_MERGE_RATIO = 1.0


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")


def words(texts: Sequence[str]) -> list[list[str]]:
    """Lower-cased, stemmed words without English stop words, in text order."""
    return bm25s.tokenize(
        list(texts), stopwords="en", stemmer=_stemmer(), return_ids=False, show_progress=False
    )


def pairs(tokens: Sequence[str]) -> list[str]:
    """Adjacent word pairs (stop words already gone, so "rare earth" and "earth process")."""
    return [f"{a}_{b}" for a, b in itertools.pairwise(tokens)]


def _publication_day(meta: dict[str, Any]) -> int:
    day = meta.get("published_day")
    return int(day) if isinstance(day, int | float) else 0


@dataclass(frozen=True)
class _Codes:
    """A column of strings as numbers. Every search masks by publisher: comparing 100k
    strings took 10 ms a question, comparing their numbers 0.05 ms."""

    number: dict[str, int]  # name -> its code, in order of first appearance
    codes: np.ndarray  # position -> code

    @classmethod
    def of(cls, column: np.ndarray) -> _Codes:
        number: dict[str, int] = {}
        codes = np.fromiter(
            (number.setdefault(str(v), len(number)) for v in column), np.int32, len(column)
        )
        return cls(number, codes)

    def mask(self, wanted: Iterable[str]) -> np.ndarray:
        return np.isin(self.codes, [self.number[w] for w in wanted if w in self.number])


@dataclass(frozen=True)
class Segment:
    """Chunks added together: their words and word pairs, and which of them are deleted."""

    words: Postings
    pairs: Postings
    dead: np.ndarray  # row -> deleted (bool); replaced, never changed in place
    name: str = ""  # its folder once saved ("" = in memory only)

    @property
    def live(self) -> int:
        return len(self.dead) - int(np.count_nonzero(self.dead))


@dataclass(frozen=True)
class Saved:
    """What is on disk of an index: the state it was loaded from or saved as."""

    token: str  # the state file's own id: another process saving changes it
    terms: dict[str, tuple[str, int, int]]  # kind -> (file, terms, bytes) as saved


class _Rows:
    """A matrix with room to grow: an index appends its new vectors in place, while the
    index before it (still in use by a search in another thread) sees only its own rows."""

    def __init__(self, matrix: np.ndarray, used: int):
        self.matrix = matrix
        self.used = used
        self._lock = threading.Lock()  # two indexes made from one at once: one appends here

    @classmethod
    def of(cls, vectors: np.ndarray, room: int = 0, keep: np.ndarray | None = None) -> _Rows:
        """A copy of the vectors (only the ``keep`` rows, when given) with room for more."""
        used = len(vectors) if keep is None else int(np.count_nonzero(keep))
        matrix = np.empty((used + room, vectors.shape[1]), np.float32)
        if keep is None:
            matrix[:used] = vectors
        else:
            np.compress(keep, vectors, axis=0, out=matrix[:used])
        return cls(matrix, used)

    def appended(self, used: int, new: np.ndarray) -> _Rows:
        """The first ``used`` rows with ``new`` after them: in place when there is room and
        nothing was appended after them yet, else in a copy with a quarter more room."""
        total = used + len(new)
        if used == 0:
            return _Rows.of(new, len(new) // 4)
        if new.shape[1] != self.matrix.shape[1]:
            raise ValueError(
                f"{new.shape[1]}-dimensional vectors for an index of {self.matrix.shape[1]}"
            )
        with self._lock:
            if used == self.used and total <= len(self.matrix):
                self.matrix[used:total] = new
                self.used = total
                return self
        grown = _Rows.of(self.matrix[:used], total // 4 + len(new))
        return grown.appended(used, new)


class SearchIndex:
    """The chunks of one collection as of one change stamp; see the module docstring.

    An index is not changed once made: ``apply`` returns the next one, so a search running in
    another thread keeps a consistent view."""

    def __init__(
        self,
        stamp: str,
        ids: list[str],
        sources: np.ndarray,
        publishers: np.ndarray,
        days: np.ndarray,
        rows: _Rows,
        segments: list[Segment],
        vocabularies: dict[str, Vocabulary],
        *,
        seq: int = 0,
        collection: str = "",
        saved: Saved | None = None,
    ):
        self.stamp = stamp  # the collection's change stamp this index is as of
        self.seq = seq  # the last entry of the collection's change log it has taken in
        self.collection = collection  # the id of the Chroma collection it was made from
        self.ids = ids  # position -> chunk id
        self.sources = sources  # position -> file source (str)
        self.publishers = publishers  # position -> publisher or "" (str)
        self.days = days  # position -> publication day as YYYYMMDD, 0 when unknown
        self._rows = rows
        self.vectors = rows.matrix[: len(ids)]  # (position, dimension), rows of unit length
        self.vocabularies = vocabularies  # "words"/"pairs" -> shared, append-only
        self.saved = saved
        if any(len(c) != len(ids) for c in (sources, publishers, days)):
            raise ValueError(f"columns of other lengths than the {len(ids)} ids")
        self._layout = _layout(segments, len(ids))
        self._totals = {
            kind: sum(int(getattr(s, kind).lengths[~s.dead].sum()) for s in segments)
            for kind in ("words", "pairs")
        }
        self._position: dict[str, int] | None = None
        self._publisher_codes: _Codes | None = None
        self._source_codes: _Codes | None = None
        self._publisher_names: tuple[str, ...] | None = None

    # -- building and changing

    @classmethod
    def build(
        cls,
        stamp: str,
        ids: list[str],
        texts: list[str],
        metadatas: list[dict[str, Any]],
        vectors: Sequence[Sequence[float]] | np.ndarray,
        *,
        seq: int = 0,
        collection: str = "",
    ) -> SearchIndex:
        empty = cls.empty(stamp, seq=seq, collection=collection)
        return empty.apply(ids, texts, metadatas, vectors, (), stamp=stamp, seq=seq)

    @classmethod
    def empty(cls, stamp: str, *, seq: int = 0, collection: str = "") -> SearchIndex:
        none = np.array([], dtype=object)
        return cls(
            stamp,
            [],
            none,
            none,
            np.zeros(0, np.int64),
            _Rows(np.zeros((0, 0), np.float32), 0),
            [],
            {"words": Vocabulary(), "pairs": Vocabulary()},
            seq=seq,
            collection=collection,
        )

    def apply(
        self,
        ids: Sequence[str],
        texts: Sequence[str],
        metadatas: Sequence[dict[str, Any]],
        vectors: Sequence[Sequence[float]] | np.ndarray,
        drop: Iterable[str],
        *,
        stamp: str,
        seq: int,
    ) -> SearchIndex:
        """The next index: the given chunks added (replacing any stored under their ids) and
        the ``drop`` ids removed (ids it does not hold are ignored)."""
        if not (len(ids) == len(texts) == len(metadatas) == len(vectors)):
            raise ValueError(
                f"{len(ids)} ids, {len(texts)} texts, {len(metadatas)} metadatas and "
                f"{len(vectors)} vectors"
            )
        gone = sorted({self.position[i] for i in itertools.chain(drop, ids) if i in self.position})
        segments, kept_ids = self.segments, self.ids
        sources, publishers, days, rows = self.sources, self.publishers, self.days, self._rows
        if gone:
            keep = np.ones(len(self), dtype=bool)
            keep[gone] = False
            segments = [
                _without(s, (p >= 0) & ~keep[np.maximum(p, 0)])
                for s, p in zip(*self._layout, strict=True)
            ]
            kept_ids = list(itertools.compress(self.ids, keep))
            sources, publishers, days = sources[keep], publishers[keep], days[keep]
            rows = _Rows.of(self.vectors, len(ids), keep)
        if len(ids):
            new = unit_rows(vectors)
            rows = rows.appended(len(kept_ids), new)
            tokens = words(texts)
            vocab = self.vocabularies
            segments = [
                *segments,
                Segment(
                    Postings.build([vocab["words"].numbers(t) for t in tokens]),
                    Postings.build([vocab["pairs"].numbers(pairs(t)) for t in tokens]),
                    np.zeros(len(ids), dtype=bool),
                ),
            ]
            kept_ids = [*kept_ids, *ids]
            column = np.array([str(m.get("source", "")) for m in metadatas], dtype=object)
            sources = np.concatenate([sources, column])
            column = np.array([str(m.get("publisher") or "") for m in metadatas], dtype=object)
            publishers = np.concatenate([publishers, column])
            days = np.concatenate([days, [_publication_day(m) for m in metadatas]]).astype(np.int64)
        return SearchIndex(
            stamp,
            kept_ids,
            sources,
            publishers,
            days,
            rows,
            _merged(segments),
            self.vocabularies,
            seq=seq,
            collection=self.collection,
            saved=self.saved,
        )

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def segments(self) -> list[Segment]:
        return self._layout[0]

    @property
    def unsaved(self) -> bool:
        """Whether it holds segments that no save has written (yet)."""
        return any(not s.name for s in self.segments)

    def relayout(self, segments: list[Segment]) -> None:
        """Hold the same chunks in other segments (as saved: named, or without dead rows)."""
        self._layout = _layout(segments, len(self))  # one assignment: searches see either

    @property
    def position(self) -> dict[str, int]:
        """Chunk id -> its position in the arrays."""
        if self._position is None:
            self._position = {i: n for n, i in enumerate(self.ids)}
        return self._position

    def offsets(self) -> list[int]:
        """The position of each segment's first live chunk (positions follow the segments)."""
        if not self.segments:  # every chunk deleted: no segment, no offset
            return []
        return list(itertools.accumulate((s.live for s in self.segments[:-1]), initial=0))

    # -- searching

    def scores(self, query: str) -> tuple[np.ndarray, np.ndarray]:
        """BM25 of every chunk for the query's words and for its word pairs, each scaled to
        at most 1 (so they blend with cosine similarities)."""
        tokens = words([query])[0]
        return self._scaled("words", tokens), self._scaled("pairs", pairs(tokens))

    def _scaled(self, kind: str, tokens: list[str]) -> np.ndarray:
        number = self.vocabularies[kind].number
        known = [n for t in tokens if (n := number.get(t)) is not None]
        segments, positions = self._layout
        parts = [(getattr(s, kind), p) for s, p in zip(segments, positions, strict=True)]
        raw = bm25(known, parts, len(self), self._totals[kind]).astype(np.float32)
        top = float(raw.max()) if len(raw) else 0.0
        return raw / top if top > 0 else raw

    def similarities(self, vector: np.ndarray) -> np.ndarray:
        """Cosine similarity of every chunk to the (query) vector."""
        norm = float(np.linalg.norm(vector))
        return self.vectors @ (vector / norm if norm > 0 else vector)

    def publisher_names(self) -> list[str]:
        if self._publisher_names is None:  # asked by every search: sorted once, not per question
            self._publisher_names = tuple(sorted(n for n in self._publishers().number if n))
        return list(self._publisher_names)

    def publisher_mask(self, name: str) -> np.ndarray:
        """Which chunks this publisher published."""
        return self._publishers().mask([name])

    def source_mask(self, sources: Iterable[str]) -> np.ndarray:
        """Which chunks come from these files."""
        if self._source_codes is None:
            self._source_codes = _Codes.of(self.sources)
        return self._source_codes.mask(sources)

    def _publishers(self) -> _Codes:
        if self._publisher_codes is None:
            self._publisher_codes = _Codes.of(self.publishers)
        return self._publisher_codes

    # -- persistence (ingest/search_files.py)

    def save(self, folder: Path) -> bool:
        """Write what the folder lacks of this index; False when another process holds or
        has moved on the folder (it is then left as it is)."""
        from .search_files import save

        return save(self, folder)

    @classmethod
    def load(cls, folder: Path) -> SearchIndex | None:
        """The saved index, or None when there is none (or only part of one)."""
        from .search_files import load

        return load(folder)


def _layout(segments: list[Segment], size: int) -> tuple[list[Segment], list[np.ndarray]]:
    """The segments with, for each, row -> position (-1: deleted): positions run through the
    live rows of the segments in order."""
    positions, offset = [], 0
    for s in segments:
        alive = ~s.dead
        positions.append(np.where(alive, offset + np.cumsum(alive) - 1, -1))
        offset += s.live
    if offset != size:
        raise ValueError(f"segments hold {offset} chunks, the columns {size}")
    return segments, positions


def _without(segment: Segment, gone: np.ndarray) -> Segment:
    """The segment with these rows (a mask) dead too. One never saved is rewritten without
    them, so that a segment is written whole or, once written, only gains dead rows."""
    if not gone.any():
        return segment
    dead = replace(segment, dead=segment.dead | gone)
    return dead if segment.name else _merge([dead])


def _merged(segments: list[Segment]) -> list[Segment]:
    """Merge the last segment into the one before while that one is no larger (by
    ``_MERGE_RATIO``); a segment more than half dead is rewritten without its dead rows."""
    out: list[Segment] = []
    for s in segments:
        if not s.live:
            continue
        if 2 * s.live < len(s.dead):
            s = _merge([s])
        out.append(s)
        while len(out) > 1 and out[-2].live <= _MERGE_RATIO * out[-1].live:
            out[-2:] = [_merge(out[-2:])]
    return out


def _merge(segments: list[Segment]) -> Segment:
    """One segment of the live rows of these, in order."""
    kinds = {
        kind: Postings.merge([(getattr(s, kind), ~s.dead) for s in segments])
        for kind in ("words", "pairs")
    }
    return Segment(kinds["words"], kinds["pairs"], np.zeros(sum(s.live for s in segments), bool))


def unit_rows(vectors: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
    """The vectors as float32 rows of unit length (a zero row stays zero)."""
    rows = np.array(vectors, dtype=np.float32)  # a copy of our own, normalized in place
    if rows.ndim != 2:
        return np.zeros((len(rows), 0), dtype=np.float32)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    rows /= np.where(norms > 0, norms, 1.0)
    return rows


Page = tuple[list[str], list[str], list[dict[str, Any]], Sequence[Sequence[float]]]


def build_from(
    stamp: str, pages: Iterable[Page], *, seq: int = 0, collection: str = ""
) -> SearchIndex:
    """An index of every chunk given page by page as (ids, texts, metadatas, vectors)."""
    ids: list[str] = []
    texts: list[str] = []
    metas: list[dict[str, Any]] = []
    vectors: list[np.ndarray] = []
    for page_ids, page_texts, page_metas, page_vectors in pages:
        if len(page_vectors) != len(page_ids):
            raise ValueError(
                f"Chroma returned {len(page_vectors)} vectors for {len(page_ids)} chunks"
            )
        ids += page_ids
        texts += page_texts
        metas += page_metas
        vectors.append(np.asarray(page_vectors, dtype=np.float32))
    return SearchIndex.build(
        stamp,
        ids,
        texts,
        metas,
        np.concatenate(vectors) if ids else np.zeros((0, 0), np.float32),
        seq=seq,
        collection=collection,
    )
