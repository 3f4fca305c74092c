"""The search index on disk, written change by change.

    search-<collection>/
      state.json          what the index is: stamp, change-log position, segments, dead rows
      words-<id>.terms    the vocabularies, one term a line, only ever appended to
      pairs-<id>.terms
      seg-<id>/           one segment, written once: chunks.json (ids, sources, publishers,
                          days), vectors.npy, words.npz, pairs.npz (postings); a delta's
                          (``ingest/search_delta.py``) also its own terms.json
      .lock               saving is exclusive, loading shared (flock)

A save writes only what the folder lacks: the new segments and the new terms, then
``state.json`` whole, swapped in by rename. The state file names everything that belongs to the
index (term files with their length at that state), so a save cut short anywhere (kill -9)
leaves the previous state intact: extra bytes at the end of a term file and unnamed segment
folders are ignored, and cleared by the next save. A save builds on the state it was loaded
from; when another process has saved since, this one leaves the folder to it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from . import search_delta as delta
from .postings import Postings, Vocabulary
from .search_index import Saved, SearchIndex, Segment, _merge, _merged, _Rows

STATE = "state.json"
_LOCK = ".lock"
# Format 3 adds deltas (``ingest/search_delta.py``), which a reader of format 2 would misread;
# format 1 (a bm25s index and vectors.npy, rebuilt whole) is read as no index.
FORMAT = 3
_READ = (2, FORMAT)
_KINDS = ("words", "pairs")
POSTINGS = ("indptr", "rows", "counts", "lengths")
_LOCK_WAIT = 30.0


@contextlib.contextmanager
def _locked(folder: Path, exclusive: bool) -> Iterator[bool]:
    """Hold the folder's lock: True, or False when no exclusive lock came within
    ``_LOCK_WAIT`` seconds (a load holds it a second or two at 100k chunks)."""
    try:
        fd = os.open(folder / _LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:  # a read-only folder: nothing can change it either
        yield not exclusive
        return
    try:
        if not exclusive:
            fcntl.flock(fd, fcntl.LOCK_SH)
            yield True
            return
        deadline = time.monotonic() + _LOCK_WAIT
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    yield False
                    return
                time.sleep(0.05)
        yield True
    finally:
        os.close(fd)  # releases the lock


def _read_state(folder: Path) -> dict[str, Any] | None:
    try:
        state = json.loads((folder / STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) and state.get("format") in _READ else None


def save(index: SearchIndex, folder: Path) -> bool:
    folder.mkdir(parents=True, exist_ok=True)
    with _locked(folder, exclusive=True) as got:
        if not got:
            return False
        state = _read_state(folder)
        ours = index.saved is not None and state is not None
        if ours and state["token"] != index.saved.token:  # type: ignore[union-attr,index]
            return False  # another process saved since: its state stands
        # Not ours: made from scratch, or the folder holds no index: write it all anew.
        terms = dict(index.saved.terms) if ours else {}  # type: ignore[union-attr]
        for kind in _KINDS:
            terms[kind] = _save_terms(folder, kind, index.vocabularies[kind], terms.get(kind))
        segments = list(index.segments)
        entries = []
        for n, (segment, start) in enumerate(zip(segments, index.offsets(), strict=True)):
            if not (ours and segment.name):
                if segment.dead.any():  # written without its dead rows
                    segment = _merge([segment])
                segment = segments[n] = _save_segment(folder, index, segment, start)
            entries.append(
                {
                    "name": segment.name,
                    "rows": len(segment.dead),
                    "dead": np.flatnonzero(segment.dead).tolist(),
                }
            )
        token = uuid.uuid4().hex
        new_state = {
            "format": FORMAT,
            "token": token,
            "stamp": index.stamp,
            "seq": index.seq,
            "collection": index.collection,
            "dimension": int(index.vectors.shape[1]),
            "terms": {k: list(v) for k, v in terms.items()},
            "segments": entries,
        }
        tmp = folder / f".state-{token}.tmp"
        tmp.write_text(json.dumps(new_state), encoding="utf-8")
        os.replace(tmp, folder / STATE)
        index.relayout(segments)
        index.saved = Saved(token, terms)
        keep = {STATE, _LOCK, *(e["name"] for e in entries), *(t[0] for t in terms.values())}
        for path in folder.iterdir():
            if path.name not in keep:
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
        return True


def _save_terms(
    folder: Path, kind: str, vocabulary: Vocabulary, saved: tuple[str, int, int] | None
) -> tuple[str, int, int]:
    """Append the terms the file lacks (after cutting what a broken save left at its end)."""
    if saved is None:
        name, count, size = f"{kind}-{uuid.uuid4().hex[:12]}.terms", 0, 0
        (folder / name).write_bytes(b"")
    else:
        name, count, size = saved
    new = "".join(f"{t}\n" for t in vocabulary.terms[count:]).encode()
    with open(folder / name, "r+b") as f:
        f.truncate(size)
        f.seek(size)
        f.write(new)
    return name, len(vocabulary), size + len(new)


def _save_segment(folder: Path, index: SearchIndex, segment: Segment, start: int) -> Segment:
    name = f"seg-{uuid.uuid4().hex[:12]}"
    tmp = folder / f".{name}.tmp"
    tmp.mkdir()
    end = start + len(segment.dead)
    chunks = {
        "ids": index.ids[start:end],
        "sources": [str(s) for s in index.sources[start:end]],
        "publishers": [str(p) for p in index.publishers[start:end]],
        "days": [int(d) for d in index.days[start:end]],
    }
    (tmp / "chunks.json").write_text(json.dumps(chunks), encoding="utf-8")
    np.save(tmp / "vectors.npy", index.vectors[start:end], allow_pickle=False)
    for kind in _KINDS:
        postings = getattr(segment, kind)
        np.savez(tmp / f"{kind}.npz", **{a: getattr(postings, a) for a in POSTINGS})
    os.replace(tmp, folder / name)
    return Segment(segment.words, segment.pairs, segment.dead, name)


def load(folder: Path) -> SearchIndex | None:
    if not (folder / STATE).is_file():
        return None
    with _locked(folder, exclusive=False):
        state = _read_state(folder)
        if state is None:
            return None
        try:
            return _load(folder, state)
        except (OSError, EOFError, ValueError, KeyError, TypeError, IndexError):
            return None  # EOFError: a truncated .npy; the others: parts that do not fit


def _load(folder: Path, state: dict[str, Any]) -> SearchIndex | None:
    vocabularies, terms = {}, {}
    for kind in _KINDS:
        name, count, size = state["terms"][kind]
        with open(folder / name, "rb") as f:
            text = f.read(size).decode()
        lines = text.split("\n")
        if len(lines) != count + 1 or lines[-1]:
            return None
        vocabularies[kind] = Vocabulary(lines[:-1])
        terms[kind] = (str(name), int(count), int(size))
    dimension = int(state["dimension"])
    entries = state["segments"]
    columns = _columns(folder, entries)
    if columns is None:
        return None
    chunks, deads = columns
    live = sum(len(d) - int(np.count_nonzero(d)) for d in deads)
    matrix = np.empty((live + live // 4, dimension), np.float32)  # room to grow
    filled = 0
    ids: list[str] = []
    kept: dict[str, list[Any]] = {"sources": [], "publishers": [], "days": []}
    segments = []
    for entry, rows_of, dead in zip(entries, chunks, deads, strict=True):
        rows = len(dead)
        if not rows:
            continue  # a delta that only deletes
        seg = folder / entry["name"]
        alive = ~dead
        vectors = np.load(seg / "vectors.npy", allow_pickle=False)
        if vectors.shape != (rows, dimension):
            return None
        own = delta.own_terms(seg) if delta.is_delta(entry) else None
        kinds = {}
        for kind in _KINDS:
            with np.load(seg / f"{kind}.npz", allow_pickle=False) as z:
                postings = Postings(*(z[a] for a in POSTINGS))
            width = len(vocabularies[kind]) if own is None else len(own[kind])
            if not _fits(postings, rows, width):
                return None
            if own is not None:
                numbers = vocabularies[kind].numbers(own[kind])
                postings = postings.renumbered(np.asarray(numbers, dtype=np.int64))
            kinds[kind] = postings
        # A delta is written again as an ordinary segment by the next save (compaction).
        name = "" if own is not None else str(entry["name"])
        segments.append(Segment(kinds["words"], kinds["pairs"], dead, name))
        ids += [i for i, a in zip(rows_of["ids"], alive, strict=True) if a]
        for key, values in kept.items():
            values += [v for v, a in zip(rows_of[key], alive, strict=True) if a]
        n = int(np.count_nonzero(alive))
        np.compress(alive, vectors, axis=0, out=matrix[filled : filled + n])
        filled += n
    if any(not s.name for s in segments):
        segments = _merged(segments)  # deltas: small segments merge as changes do
    return SearchIndex(
        str(state["stamp"]),
        ids,
        np.array(kept["sources"], dtype=object),
        np.array(kept["publishers"], dtype=object),
        np.array(kept["days"], dtype=np.int64),
        _Rows(matrix, filled),
        segments,
        vocabularies,
        seq=int(state["seq"]),
        collection=str(state["collection"]),
        saved=Saved(str(state["token"]), terms),
    )


def _columns(
    folder: Path, entries: list[dict[str, Any]]
) -> tuple[list[dict[str, list[Any]]], list[np.ndarray]] | None:
    """Each entry's chunk columns and dead rows, a delta's drop list applied to the entries
    before it (by chunk id: its writer did not know where they were)."""
    located = any(delta.is_delta(e) for e in entries)
    where: dict[str, tuple[int, int]] = {}  # live chunk id -> (entry, row), when deltas drop
    chunks: list[dict[str, list[Any]]] = []
    deads: list[np.ndarray] = []
    for n, entry in enumerate(entries):
        rows = int(entry["rows"])
        if rows:
            rows_of = json.loads((folder / entry["name"] / "chunks.json").read_text("utf-8"))
        else:
            rows_of = {key: [] for key in ("ids", "sources", "publishers", "days")}
        if any(len(rows_of[key]) != rows for key in ("ids", "sources", "publishers", "days")):
            return None
        dead = np.zeros(rows, dtype=bool)
        dead[np.asarray(entry["dead"], dtype=np.int64)] = True
        for i in entry.get("drop", ()):
            if (at := where.pop(i, None)) is not None:
                deads[at[0]][at[1]] = True
        if located:
            where.update((i, (n, r)) for r, i in enumerate(rows_of["ids"]) if not dead[r])
        chunks.append(rows_of)
        deads.append(dead)
    return chunks, deads


def _fits(p: Postings, rows: int, terms: int) -> bool:
    """Arrays of one build and within bounds (a damaged or mismatched file is no index)."""
    return (
        p.indptr.ndim == p.rows.ndim == p.counts.ndim == 1
        and len(p.lengths) == rows
        and len(p.indptr) >= 1
        and len(p.indptr) - 1 <= terms
        and int(p.indptr[-1]) == len(p.rows) == len(p.counts)
        and (not len(p.rows) or (int(p.rows.min()) >= 0 and int(p.rows.max()) < rows))
    )
