"""BM25 that can grow, read from disk: term counts kept per chunk, statistics taken at query time.

bm25s bakes each chunk's score for each term into its index, and those scores depend on the
number of chunks, the average chunk length and each term's document frequency: one new chunk
changes them all, so a bm25s index can only be rebuilt. Here each segment of chunks keeps its
raw term counts, term-major (the chunks holding a term, and how often); a query computes idf
and the length norm from the statistics of the chunks alive now. The scores are bm25s's
("lucene" variant, k1 = 1.5, b = 0.75, a query word counted as often as it occurs), whatever
the segments: equal to those of one index built from scratch.

A term is known by a 64-bit key, a hash of its text (a word pair's, of its two words' keys),
so a segment needs no shared vocabulary: its sorted keys are its dictionary, and a search
finds a term's postings by binary search in arrays it maps from disk, reading only the pages
it touches. Two terms of one key would share postings; with 64 bits that takes some 4 billion
distinct terms to become likely. Not handled: a segment whose arrays do not fit in memory
while it is written (one at most ``search_files.MAX_SEGMENT`` chunks).
"""

from __future__ import annotations

import hashlib
import re
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

K1 = 1.5  # bm25s's defaults, with which the retrieval weights were tuned
B = 0.75
KINDS = ("words", "pairs")
_ARRAYS = ("keys", "indptr", "rows", "counts")
_MIX = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB))


def term_keys(terms: Iterable[str]) -> np.ndarray:
    """Each term's 64-bit key (uint64)."""
    return np.fromiter(
        (
            int.from_bytes(hashlib.blake2b(t.encode(), digest_size=8).digest(), "little")
            for t in terms
        ),
        np.uint64,
    )


def pair_keys(word_keys: np.ndarray) -> np.ndarray:
    """The keys of a chunk's adjacent word pairs, from its words' keys in text order (one
    fewer): splitmix64 of (first * golden ratio + second), so order counts."""
    if len(word_keys) < 2:
        return np.zeros(0, np.uint64)
    with np.errstate(over="ignore"):
        z = word_keys[:-1] * _MIX[0] + word_keys[1:]
        z = (z ^ (z >> np.uint64(30))) * _MIX[1]
        z = (z ^ (z >> np.uint64(27))) * _MIX[2]
        return z ^ (z >> np.uint64(31))


@dataclass(frozen=True)
class Postings:
    """One kind of term over one segment's rows: the rows holding the term of key
    ``keys[i]`` are ``rows[indptr[i]:indptr[i + 1]]``, ``counts`` how often."""

    keys: np.ndarray  # uint64, sorted, unique
    indptr: np.ndarray  # int64, (terms + 1)
    rows: np.ndarray  # int32
    counts: np.ndarray  # int32

    @classmethod
    def build(cls, docs: Sequence[np.ndarray]) -> Postings:
        """From each row's term keys, in any order, repeats counted."""
        lengths = np.fromiter((len(d) for d in docs), np.int64, len(docs))
        keys = np.concatenate([*docs, np.zeros(0, np.uint64)])
        rows = np.repeat(np.arange(len(docs), dtype=np.int32), lengths)
        return cls.of_entries(keys, rows, np.ones(len(keys), np.int32))

    @classmethod
    def of_entries(cls, keys: np.ndarray, rows: np.ndarray, counts: np.ndarray) -> Postings:
        """From (key, row, count) entries, a (key, row) pair possibly repeated (counts add)."""
        order = np.lexsort((rows, keys))  # by key, then row
        keys, rows, counts = keys[order], rows[order], counts[order]
        new = np.ones(len(keys), bool)
        new[1:] = (keys[1:] != keys[:-1]) | (rows[1:] != rows[:-1])
        starts = np.flatnonzero(new)
        counts = np.add.reduceat(counts, starts) if len(starts) else counts[:0]
        keys, rows = keys[starts], rows[starts]
        first = np.ones(len(keys), bool)
        first[1:] = keys[1:] != keys[:-1]
        indptr = np.append(np.flatnonzero(first), len(keys)).astype(np.int64)
        return cls(keys[first], indptr, rows.astype(np.int32), counts.astype(np.int32))

    def of(self, key: np.uint64) -> tuple[np.ndarray, np.ndarray]:
        """(rows, counts) of one term; empty when the segment lacks it."""
        i = int(np.searchsorted(self.keys, key))
        if i == len(self.keys) or self.keys[i] != key:
            return self.rows[:0], self.counts[:0]
        start, end = int(self.indptr[i]), int(self.indptr[i + 1])
        return self.rows[start:end], self.counts[start:end]

    def entries(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every (key, row, count), term by term."""
        keys = np.repeat(np.asarray(self.keys), np.diff(self.indptr))
        return keys, np.asarray(self.rows), np.asarray(self.counts)

    def save(self, folder: Path, kind: str) -> None:
        for name in _ARRAYS:
            np.save(folder / f"{kind}.{name}.npy", getattr(self, name), allow_pickle=False)

    @classmethod
    def open(cls, folder: Path, kind: str) -> Postings:
        """The saved arrays, mapped (read as they are used)."""
        return cls(*(mapped(folder / f"{kind}.{a}.npy") for a in _ARRAYS))


def mapped(path: Path) -> np.ndarray:
    """A saved array, mapped from its file: pages are read as they are used, and shared with
    every process that maps the file. (A plain array over the map: numpy's memmap class costs
    a few microseconds on every slice.)"""
    try:
        array = np.load(path, mmap_mode="r")
    except SystemError:
        # CPython before 3.11.8 can fail an ast parse with "AST constructor recursion depth
        # mismatch" long after an unrelated error left its counter off (gh-106905), and numpy
        # reads a file's header with ast.literal_eval; these files are np.save's own.
        array = _mapped_without_ast(path)
    return np.asarray(array)


_HEADER = re.compile(r"'descr': '([^']+)', 'fortran_order': False, 'shape': \(([\d, ]*)\)")


def _mapped_without_ast(path: Path) -> np.ndarray:
    """The array of a file ``np.save`` wrote (C order), its header read without ast."""
    with path.open("rb") as f:
        major, _ = np.lib.format.read_magic(f)
        size = struct.unpack("<H" if major == 1 else "<I", f.read(2 if major == 1 else 4))[0]
        header = f.read(size).decode("latin1")
        offset = f.tell()
    if (m := _HEADER.search(header)) is None:
        raise ValueError(f"{path}: not an array file this index wrote ({header.strip()})")
    dtype, shape = np.dtype(m.group(1)), tuple(int(n) for n in m.group(2).split(",") if n.strip())
    if not np.prod(shape):
        return np.zeros(shape, dtype)  # an empty file part cannot be mapped
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape)


@dataclass(frozen=True)
class Part:
    """What BM25 needs of one segment: its postings of one kind, where its rows are among all
    (``offset`` + row), which are deleted, and each row's length norm,
    ``K1 * (1 - B + B * length / average length)`` (float32)."""

    postings: Postings
    offset: int
    dead: np.ndarray  # row -> deleted (bool)
    any_dead: bool
    norm: np.ndarray  # row -> length norm


def length_norm(lengths: np.ndarray, average: float) -> np.ndarray:
    """Each row's length norm (see ``Part``), float32."""
    scale = np.float32(K1 * B / average) if average else np.float32(0)
    return np.asarray(lengths, np.float32) * scale + np.float32(K1 * (1 - B))


# One term's part of the BM25 score, segment by segment: (offset, rows, values) of the live
# chunks holding it.
Contribution = list[tuple[int, np.ndarray, np.ndarray]]


def contributions(key: np.uint64, parts: Sequence[Part], size: int) -> Contribution:
    """One query term's part of the BM25 score of every live chunk holding it (``size`` live
    chunks in all): idf * tf / (tf + norm), float32."""
    found = []
    for p in parts:
        rows, tf = p.postings.of(key)
        if len(rows):
            if p.any_dead:
                live = ~p.dead[rows]
                rows, tf = rows[live], tf[live]
            found.append((p, rows, tf))
    df = sum(len(rows) for _, rows, _ in found)
    idf = np.float32(np.log(1 + (size - df + 0.5) / (df + 0.5)))
    out = []
    for p, rows, tf in found:
        tf32 = tf.astype(np.float32)
        out.append((p.offset, rows, idf * tf32 / (tf32 + p.norm[rows])))
    return out
