"""BM25 that can grow: term counts kept per chunk, statistics taken at query time.

bm25s bakes each chunk's score for each term into its index, and those scores depend on the
number of chunks, the average chunk length and each term's document frequency: one new chunk
changes them all, so a bm25s index can only be rebuilt. Here each segment of chunks keeps its
raw term counts, term-major (the chunks holding a term, and how often), and the lengths of its
chunks; a query computes idf and the length norm from the statistics of the chunks alive now.
The scores are bm25s's ("lucene" variant, k1 = 1.5, b = 0.75, a query word counted as often as
it occurs), whatever the segments: equal to those of one index built from scratch.

Terms are numbered by a vocabulary shared by every segment and only ever appended to, so
segments merge without renumbering terms.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

K1 = 1.5  # bm25s's defaults, with which the retrieval weights were tuned
B = 0.75


class Vocabulary:
    """Term -> number, append-only."""

    def __init__(self, terms: Iterable[str] = ()):
        self.terms: list[str] = list(terms)
        self.number: dict[str, int] = {t: n for n, t in enumerate(self.terms)}
        self._lock = threading.Lock()  # indexes made in two threads number terms here

    def __len__(self) -> int:
        return len(self.terms)

    def numbers(self, tokens: Sequence[str]) -> list[int]:
        """The tokens' numbers, giving new terms the next ones."""
        out = []
        with self._lock:
            for t in tokens:
                n = self.number.get(t)
                if n is None:
                    n = self.number[t] = len(self.terms)
                    self.terms.append(t)
                out.append(n)
        return out


@dataclass(frozen=True)
class Postings:
    """One kind of term over one segment's rows: the rows holding term t are
    ``rows[indptr[t]:indptr[t + 1]]`` (ascending), ``counts`` how often; terms numbered past
    the end of ``indptr`` occur in no row."""

    indptr: np.ndarray  # int64, (terms + 1)
    rows: np.ndarray  # int32
    counts: np.ndarray  # int32
    lengths: np.ndarray  # int32, row -> number of terms (with repeats)

    @classmethod
    def build(cls, docs: Sequence[Sequence[int]]) -> Postings:
        """From each row's term numbers, in any order, repeats counted."""
        lengths = np.fromiter((len(d) for d in docs), np.int32, len(docs))
        terms = np.fromiter(itertools.chain.from_iterable(docs), np.int64, int(lengths.sum()))
        rows = np.repeat(np.arange(len(docs), dtype=np.int64), lengths)
        n = max(len(docs), 1)
        keys, counts = np.unique(terms * n + rows, return_counts=True)  # by term, then row
        key_terms = keys // n
        width = int(key_terms[-1]) + 1 if len(keys) else 0
        indptr = np.zeros(width + 1, np.int64)
        np.cumsum(np.bincount(key_terms, minlength=width), out=indptr[1:])
        return cls(indptr, (keys % n).astype(np.int32), counts.astype(np.int32), lengths)

    def of(self, term: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows, counts) of one term."""
        if term + 1 >= len(self.indptr):
            return self.rows[:0], self.counts[:0]
        start, end = self.indptr[term], self.indptr[term + 1]
        return self.rows[start:end], self.counts[start:end]

    def renumbered(self, numbers: np.ndarray) -> Postings:
        """The same postings with term t numbered ``numbers[t]`` (a delta's own term list
        taken into the shared vocabulary)."""
        local = np.repeat(np.arange(len(self.indptr) - 1, dtype=np.int64), np.diff(self.indptr))
        terms = numbers.astype(np.int64)[local]
        order = np.argsort(terms, kind="stable")  # rows stay ascending within a term
        width = int(terms.max()) + 1 if len(terms) else 0
        indptr = np.zeros(width + 1, np.int64)
        np.cumsum(np.bincount(terms, minlength=width), out=indptr[1:])
        return Postings(indptr, self.rows[order], self.counts[order], self.lengths)

    @staticmethod
    def merge(parts: Sequence[tuple[Postings, np.ndarray]]) -> Postings:
        """The kept rows of each part, in order, as one: no sorting, since every part lists
        its entries term by term already and a later part's rows come after an earlier's."""
        width = max(len(p.indptr) for p, _ in parts) - 1
        entries = []
        first_row = 0
        for p, keep in parts:
            terms = np.repeat(np.arange(len(p.indptr) - 1, dtype=np.int64), np.diff(p.indptr))
            live = keep[p.rows]
            renumbered = np.cumsum(keep, dtype=np.int64) - 1 + first_row
            entries.append((terms[live], renumbered[p.rows[live]], p.counts[live]))
            first_row += int(keep.sum())
        per_part = [np.bincount(t, minlength=width) for t, _, _ in entries]
        indptr = np.zeros(width + 1, np.int64)
        np.cumsum(np.sum(per_part, axis=0), out=indptr[1:])
        total = int(indptr[-1])
        rows, counts = np.empty(total, np.int32), np.empty(total, np.int32)
        before = np.zeros(width, np.int64)  # entries of earlier parts, per term
        for (terms, part_rows, part_counts), n in zip(entries, per_part, strict=True):
            starts = np.zeros(width, np.int64)
            np.cumsum(n[:-1], out=starts[1:])
            dest = indptr[terms] + before[terms] + np.arange(len(terms)) - starts[terms]
            rows[dest], counts[dest] = part_rows, part_counts
            before += n
        lengths = np.concatenate([p.lengths[keep] for p, keep in parts])
        return Postings(indptr, rows, counts, lengths)


def bm25(
    term_numbers: Sequence[int],
    parts: Sequence[tuple[Postings, np.ndarray]],
    size: int,
    total_length: int,
) -> np.ndarray:
    """BM25 of every chunk (``size`` of them) for the terms, float64.

    ``parts`` are the segments' postings with their row -> position arrays (-1: a deleted
    row). A chunk's score adds its terms' parts in query order, so it is the same number
    whatever segment holds the chunk and wherever."""
    if not size:
        return np.zeros(0)
    average = total_length / size
    positions: list[np.ndarray] = []
    values: list[np.ndarray] = []
    for term in term_numbers:
        where, counts, lengths = [], [], []
        for postings, position in parts:
            rows, tf = postings.of(term)
            if len(rows):
                at = position[rows]
                live = at >= 0
                where.append(at[live])
                counts.append(tf[live])
                lengths.append(postings.lengths[rows[live]])
        df = sum(len(w) for w in where)
        if not df:
            continue
        idf = np.log(1 + (size - df + 0.5) / (df + 0.5))
        tf64 = np.concatenate(counts).astype(np.float64)
        dl = np.concatenate(lengths)
        positions.append(np.concatenate(where))
        values.append(idf * tf64 / (tf64 + K1 * (1 - B + B * dl / average)))
    if not positions:
        return np.zeros(size)
    return np.bincount(np.concatenate(positions), np.concatenate(values), minlength=size)
