"""The search index on disk, written change by change.

    search-<collection>/
      state.json   what the index is: stamp, change-log position, collection, vector size,
                   its segments and their deleted rows
      seg-<id>/    one segment (``ingest/search_segment.py``), written once
      .lock        changing is exclusive, opening shared (flock)

Whoever finds the index behind the collection brings it up to date on disk, under the lock: a
writer as it closes (``python -m ingest``, an upload, a deletion), a reader as it searches;
the next process to open it finds it current. A change writes the chunks logged since the
state's position as a new segment, marks the rows they replace or delete dead, merges small
segments (so a few segments of falling size hold everything, and a chunk is rewritten only a
logarithmic number of times), and swaps in ``state.json`` whole by rename. So a change cut
short anywhere (kill -9) leaves the previous state intact: segment folders it does not name
are ignored, and cleared by the next change. An index of another collection, of an earlier
format, or behind the log's floor is rebuilt from the collection.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .search_index import SearchIndex
from .search_segment import Segment, merge, open_segment, unit_rows, write_chunks

STATE = "state.json"
_LOCK = ".lock"
# Format 4: segments mapped from disk, terms by key. 3 and earlier (a shared vocabulary,
# deltas) are read as no index, and rebuilt.
FORMAT = 4
MAX_SEGMENT = 100_000  # chunks: no merge makes a larger segment (a merge holds it in memory)
_MERGE_RATIO = 1.0  # a segment merges into the one before while that one is no larger

# (ids, texts, metadatas, vectors or None): stored chunks, as fetched from Chroma
Page = tuple[list[str], list[str], list[dict[str, Any]], Any]
# log position -> (ids changed since, the stored chunks among them)
Changes = Callable[[int], tuple[set[str], Page]]


@dataclass(frozen=True)
class Target:
    """The collection as the index must follow it."""

    stamp: str  # its change stamp
    seq: int  # the log position up to which every change has landed
    floor: int  # log entries up to here are forgotten: an index behind them is rebuilt
    collection: str  # the Chroma collection's id
    vectors: bool  # keep the vectors (embedded mode)


@contextlib.contextmanager
def _locked(folder: Path, exclusive: bool) -> Iterator[None]:
    fd = os.open(folder / _LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # releases the lock


def _read_state(folder: Path) -> dict[str, Any] | None:
    try:
        state = json.loads((folder / STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) and state.get("format") == FORMAT else None


def open_index(folder: Path) -> SearchIndex | None:
    """The saved index, or None when there is none (or only part of one)."""
    if not (folder / STATE).is_file():
        return None
    with _locked(folder, exclusive=False):  # its segments are not removed while mapped
        state = _read_state(folder)
        return _opened(folder, state) if state is not None else None


def _opened(folder: Path, state: dict[str, Any]) -> SearchIndex | None:
    try:
        dimension = int(state["dimension"])
        segments, dead = [], []
        for entry in state["segments"]:
            segment = open_segment(folder, entry["name"], dimension)
            rows = np.zeros(len(segment), bool)
            rows[np.asarray(entry["dead"], dtype=np.int64)] = True
            segments.append(segment)
            dead.append(rows)
        return SearchIndex(
            segments,
            dead,
            stamp=str(state["stamp"]),
            seq=int(state["seq"]),
            collection=str(state["collection"]),
            dimension=dimension,
            vectors=bool(state["vectors"]),
            token=str(state["token"]),
        )
    except (OSError, EOFError, ValueError, KeyError, TypeError, IndexError):
        return None  # EOFError: a truncated .npy; the others: parts that do not fit


def update(
    folder: Path,
    target: Target,
    changes: Changes,
    everything: Callable[[], Iterable[Page]],
    *,
    rebuild: bool = False,
) -> tuple[SearchIndex, bool]:
    """The index in ``folder`` brought to ``target`` on disk (or ``rebuild`` whole), and
    opened; with whether it was rebuilt. ``changes`` fetches what changed after a log
    position, ``everything`` the whole collection page by page."""
    folder.mkdir(parents=True, exist_ok=True)
    with _locked(folder, exclusive=True):
        state = _read_state(folder)
        current = _opened(folder, state) if state is not None else None
        if current is not None and current.stamp == target.stamp and not rebuild:
            return current, False
        parts = None
        if current is not None and not rebuild:
            parts = _caught_up(folder, current, target, changes)
        rebuilt = parts is None
        if parts is None:
            parts = _rebuilt(folder, target, everything())
        dimension = next((s.vectors.shape[1] for s, _ in parts if s.vectors is not None), 0)
        new_state = {
            "format": FORMAT,
            "token": uuid.uuid4().hex,
            "stamp": target.stamp,
            "seq": target.seq,
            "collection": target.collection,
            "vectors": target.vectors,
            "dimension": dimension if target.vectors else 0,
            "segments": [{"name": s.name, "dead": np.flatnonzero(d).tolist()} for s, d in parts],
        }
        tmp = folder / f".state-{new_state['token']}.tmp"
        tmp.write_text(json.dumps(new_state), encoding="utf-8")
        os.replace(tmp, folder / STATE)
        _clear(folder, {STATE, _LOCK, *(s.name for s, _ in parts)})
        opened = _opened(folder, new_state)
        if opened is None:
            raise OSError(f"the search index in {folder} could not be read back")
        return opened, rebuilt


def _caught_up(
    folder: Path, current: SearchIndex, target: Target, changes: Changes
) -> list[tuple[Segment, np.ndarray]] | None:
    """The segments of ``current`` with the changes logged since it applied; None when it
    cannot follow the log (another collection, behind the floor, a log begun anew, another
    vector size)."""
    if (
        current.collection != target.collection
        or not target.floor <= current.seq <= target.seq
        or current.vectors != target.vectors
    ):
        return None
    touched, (ids, texts, metas, vectors) = changes(current.seq)
    dead = [d.copy() for d in current.dead]
    gone = np.array([i.encode() for i in touched], dtype=bytes) if touched else np.zeros(0, "S1")
    for s, d in zip(current.segments, dead, strict=True):
        rows = s.rows_of(gone)
        d[rows[rows >= 0]] = True
    parts = list(zip(current.segments, dead, strict=True))
    if ids:
        unit = _rows(vectors, target)
        if unit is not None and current.dimension and unit.shape[1] != current.dimension:
            return None  # vectors of another size: a new model
        new = open_segment(folder, write_chunks(folder, ids, texts, metas, unit), _dim(unit))
        parts.append((new, np.zeros(len(new), bool)))
    return _merged(folder, parts, {s.name for s in current.segments})


def _rebuilt(
    folder: Path, target: Target, pages: Iterable[Page]
) -> list[tuple[Segment, np.ndarray]]:
    """Segments of every chunk, written a page at a time and merged as they come."""
    parts: list[tuple[Segment, np.ndarray]] = []
    for ids, texts, metas, vectors in pages:
        if not ids:
            continue
        rows = _rows(vectors, target)
        new = open_segment(folder, write_chunks(folder, ids, texts, metas, rows), _dim(rows))
        parts = _merged(folder, [*parts, (new, np.zeros(len(new), bool))], set())
    return parts


def _rows(vectors: Any, target: Target) -> np.ndarray | None:
    return unit_rows(vectors) if target.vectors else None


def _dim(rows: np.ndarray | None) -> int:
    return 0 if rows is None else int(rows.shape[1])


def _live(part: tuple[Segment, np.ndarray]) -> int:
    return len(part[1]) - int(np.count_nonzero(part[1]))


def _merged(
    folder: Path, parts: list[tuple[Segment, np.ndarray]], saved: set[str]
) -> list[tuple[Segment, np.ndarray]]:
    """Merge the last segment into the one before while that one is no larger (by
    ``_MERGE_RATIO``) and the two fit in ``MAX_SEGMENT``; a segment more than half dead is
    rewritten without its dead rows, one with no live row dropped. ``saved``: the segments
    the saved state names (kept until the new state replaces it)."""
    out: list[tuple[Segment, np.ndarray]] = []
    for part in parts:
        if not _live(part):
            continue
        if 2 * _live(part) < len(part[1]):
            part = _merge(folder, [part], saved)
        out.append(part)
        while (
            len(out) > 1
            and _live(out[-2]) <= _MERGE_RATIO * _live(out[-1])
            and _live(out[-2]) + _live(out[-1]) <= MAX_SEGMENT
        ):
            out[-2:] = [_merge(folder, out[-2:], saved)]
    return out


def _merge(
    folder: Path, parts: list[tuple[Segment, np.ndarray]], saved: set[str]
) -> tuple[Segment, np.ndarray]:
    """One segment of these; those written by this change go (a rebuild would otherwise hold
    every chunk several times over on disk until it ends)."""
    dimension = next((s.vectors.shape[1] for s, _ in parts if s.vectors is not None), 0)
    merged = open_segment(folder, merge(folder, parts, dimension), dimension)
    for s, _ in parts:
        if s.name not in saved:
            shutil.rmtree(folder / s.name, ignore_errors=True)  # mapped pages stay readable
    return merged, np.zeros(len(merged), bool)


def _clear(folder: Path, keep: set[str]) -> None:
    """Remove what the state does not name: segments of states before, and what a change
    cut short left."""
    for path in folder.iterdir():
        if path.name not in keep:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def build(
    folder: Path,
    ids: list[str],
    texts: list[str],
    metadatas: list[dict[str, Any]],
    vectors: Any,
    *,
    stamp: str = "",
    collection: str = "",
) -> SearchIndex:
    """An index of these chunks alone, made from scratch in ``folder`` (vectors None: kept
    without them)."""
    target = Target(stamp, 0, 0, collection, vectors is not None)
    page = (ids, texts, metadatas, vectors)
    built, _ = update(folder, target, lambda _: (set(), page), lambda: [page], rebuild=True)
    return built
