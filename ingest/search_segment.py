"""One segment of the search index: chunks written together, as arrays in a folder of their own.

    seg-<id>/
      ids.npy                     chunk ids, by row
      sorted.npy, order.npy       the same ids sorted, and the row of each
      days.npy, lengths.npy       publication day (YYYYMMDD, 0 unknown), words per chunk
      publisher.npy, source.npy   codes into publishers.json and sources.json
      words.*.npy, pairs.*.npy    postings (``ingest/postings.py``)
      vectors.npy                 the stored vectors, normalized (embedded mode only)

A segment is written whole into a temporary folder and renamed, and never changed after: a
deletion marks its rows dead in the index's state file (``ingest/search_files.py``). Opening
one maps its arrays; nothing is read until a search touches it.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .postings import KINDS, Postings, mapped, pair_keys
from .tokens import word_keys

_COLUMNS = ("ids", "sorted", "order", "days", "lengths", "publisher", "source")


@dataclass(frozen=True)
class Segment:
    name: str  # its folder
    ids: np.ndarray  # row -> chunk id (bytes, UTF-8)
    sorted: np.ndarray  # the ids, sorted
    order: np.ndarray  # sorted[i] is the id of row order[i]
    days: np.ndarray  # row -> publication day, int32
    lengths: np.ndarray  # row -> words (the pairs are one fewer)
    publisher: np.ndarray  # row -> index into publishers
    source: np.ndarray  # row -> index into sources
    publishers: list[str]  # "" for none
    sources: list[str]
    postings: dict[str, Postings]  # kind -> its postings
    vectors: np.ndarray | None  # (row, dimension) unit rows; None: not kept (server mode)

    def __len__(self) -> int:
        return len(self.ids)

    def rows_of(self, ids: np.ndarray) -> np.ndarray:
        """The row of each id (bytes), -1 for ids the segment does not hold."""
        if not len(self):
            return np.full(len(ids), -1, np.int64)
        at = np.minimum(np.searchsorted(self.sorted, ids), len(self) - 1)
        return np.where(self.sorted[at] == ids, self.order[at], -1).astype(np.int64)

    def pair_lengths(self) -> np.ndarray:
        return np.maximum(np.asarray(self.lengths) - 1, 0)


def open_segment(folder: Path, name: str, dimension: int) -> Segment:
    """The segment in ``folder/name``, mapped; ValueError when its parts do not fit."""
    path = folder / name
    cols = {c: mapped(path / f"{c}.npy") for c in _COLUMNS}
    names = json.loads((path / "names.json").read_text(encoding="utf-8"))
    postings = {kind: Postings.open(path, kind) for kind in KINDS}
    vectors = mapped(path / "vectors.npy") if dimension else None
    rows = len(cols["ids"])
    if any(len(c) != rows for c in cols.values()) or (
        vectors is not None and vectors.shape != (rows, dimension)
    ):
        raise ValueError(f"segment {name}: parts of other lengths")
    for p in postings.values():
        if len(p.indptr) != len(p.keys) + 1 or int(p.indptr[-1]) != len(p.rows) != len(p.counts):
            raise ValueError(f"segment {name}: postings of another build")
    return Segment(
        name,
        publishers=list(names["publishers"]),
        sources=list(names["sources"]),
        postings=postings,
        vectors=vectors,
        **cols,
    )


def publication_day(meta: dict[str, Any]) -> int:
    day = meta.get("published_day")
    return int(day) if isinstance(day, int | float) else 0


def unit_rows(vectors: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
    """The vectors as float32 rows of unit length (a zero row stays zero)."""
    rows = np.array(vectors, dtype=np.float32)  # a copy of our own, normalized in place
    if rows.ndim != 2:
        return np.zeros((len(rows), 0), dtype=np.float32)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    rows /= np.where(norms > 0, norms, 1.0)
    return rows


def write_chunks(
    folder: Path,
    ids: Sequence[str],
    texts: Sequence[str],
    metadatas: Sequence[dict[str, Any]],
    vectors: np.ndarray | None,
) -> str:
    """A new segment of these chunks (vectors: unit rows, or None); returns its name."""
    keys = word_keys(texts)
    columns = {
        "ids": _id_array(ids),
        "days": np.array([publication_day(m) for m in metadatas], np.int32),
        "lengths": np.array([len(k) for k in keys], np.int32),
    }
    codes = {}
    for field, default in (("publisher", ""), ("source", "")):
        values = [str(m.get(field) or default) for m in metadatas]
        names, code = np.unique(np.array(values, dtype=object), return_inverse=True)
        codes[field] = (list(names), code.astype(np.int32))
    postings = {
        "words": Postings.build(keys),
        "pairs": Postings.build([pair_keys(k) for k in keys]),
    }
    return _write(folder, columns, codes, postings, vectors)


def merge(folder: Path, parts: Sequence[tuple[Segment, np.ndarray]], dimension: int) -> str:
    """One segment of the live rows of these (segment, dead rows), in order; its name."""
    kept = [(s, ~dead) for s, dead in parts]

    def joined(column: str) -> np.ndarray:
        return np.concatenate([np.asarray(getattr(s, column))[keep] for s, keep in kept])

    columns = {c: joined(c) for c in ("ids", "days", "lengths")}
    codes = {}
    for field, names_of in (("publisher", "publishers"), ("source", "sources")):
        names = sorted({n for s, _ in kept for n in getattr(s, names_of)})
        number = {n: i for i, n in enumerate(names)}
        recoded = [
            np.array([number[n] for n in getattr(s, names_of)], np.int32)[
                np.asarray(getattr(s, field))[keep]
            ]
            for s, keep in kept
        ]
        codes[field] = (names, np.concatenate([np.zeros(0, np.int32), *recoded]))
    postings = {
        kind: _merged_postings([(s.postings[kind], keep) for s, keep in kept]) for kind in KINDS
    }
    vectors = None
    if dimension:
        vectors = np.concatenate(
            [np.zeros((0, dimension), np.float32), *(np.asarray(s.vectors)[k] for s, k in kept)]
        )
    return _write(folder, columns, codes, postings, vectors)


def _merged_postings(parts: Sequence[tuple[Postings, np.ndarray]]) -> Postings:
    """The kept rows of each part's postings, renumbered to follow one another."""
    keys, rows, counts, first = [], [], [], 0
    for postings, keep in parts:
        k, r, c = postings.entries()
        live = keep[r]
        renumbered = np.cumsum(keep, dtype=np.int64) - 1 + first
        keys.append(k[live])
        rows.append(renumbered[r[live]].astype(np.int32))
        counts.append(c[live])
        first += int(keep.sum())
    empty = (np.zeros(0, np.uint64), np.zeros(0, np.int32), np.zeros(0, np.int32))
    return Postings.of_entries(
        *(np.concatenate([e, *x]) for e, x in zip(empty, (keys, rows, counts), strict=True))
    )


def _id_array(ids: Sequence[str]) -> np.ndarray:
    return np.array([i.encode() for i in ids], dtype=bytes) if ids else np.zeros(0, "S1")


def _write(
    folder: Path,
    columns: dict[str, np.ndarray],
    codes: dict[str, tuple[list[str], np.ndarray]],
    postings: dict[str, Postings],
    vectors: np.ndarray | None,
) -> str:
    """The segment's folder, complete before it is named (a rename): its name."""
    name = f"seg-{uuid.uuid4().hex[:12]}"
    tmp = folder / f".{name}.tmp"
    tmp.mkdir()
    order = np.argsort(columns["ids"], kind="stable").astype(np.int32)
    columns = {**columns, "sorted": columns["ids"][order], "order": order}
    columns |= {field: code for field, (_, code) in codes.items()}
    for column, values in columns.items():
        np.save(tmp / f"{column}.npy", values, allow_pickle=False)
    names = {"publishers": codes["publisher"][0], "sources": codes["source"][0]}
    (tmp / "names.json").write_text(json.dumps(names), encoding="utf-8")
    for kind, p in postings.items():
        p.save(tmp, kind)
    if vectors is not None:
        np.save(tmp / "vectors.npy", vectors, allow_pickle=False)
    os.replace(tmp, folder / name)
    return name
