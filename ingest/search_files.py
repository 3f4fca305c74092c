"""The search index on disk, written change by change.

    search-<collection>/
      state.json          what the index is: stamp, change-log position, segments, dead rows
      words-<id>.terms    the vocabularies, one term a line, only ever appended to
      pairs-<id>.terms
      seg-<id>/           one segment, written once: chunks.json (ids, sources, publishers,
                          days), vectors.npy, words.npz, pairs.npz (postings)
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

from .postings import Postings, Vocabulary
from .search_index import Saved, SearchIndex, Segment, _merge, _Rows

_STATE = "state.json"
_LOCK = ".lock"
_FORMAT = 2  # format 1 (a bm25s index and vectors.npy, rebuilt whole) is read as no index
_KINDS = ("words", "pairs")
_POSTINGS = ("indptr", "rows", "counts", "lengths")
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
        state = json.loads((folder / _STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) and state.get("format") == _FORMAT else None


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
            "format": _FORMAT,
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
        os.replace(tmp, folder / _STATE)
        index.relayout(segments)
        index.saved = Saved(token, terms)
        keep = {_STATE, _LOCK, *(e["name"] for e in entries), *(t[0] for t in terms.values())}
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
        np.savez(tmp / f"{kind}.npz", **{a: getattr(postings, a) for a in _POSTINGS})
    os.replace(tmp, folder / name)
    return Segment(segment.words, segment.pairs, segment.dead, name)


def load(folder: Path) -> SearchIndex | None:
    if not (folder / _STATE).is_file():
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
    live = sum(int(e["rows"]) - len(e["dead"]) for e in state["segments"])
    matrix = np.empty((live + live // 4, dimension), np.float32)  # room to grow
    filled = 0
    ids: list[str] = []
    columns: dict[str, list[Any]] = {"sources": [], "publishers": [], "days": []}
    segments = []
    for entry in state["segments"]:
        seg = folder / entry["name"]
        chunks = json.loads((seg / "chunks.json").read_text(encoding="utf-8"))
        rows = int(entry["rows"])
        dead = np.zeros(rows, dtype=bool)
        dead[np.asarray(entry["dead"], dtype=np.int64)] = True
        alive = ~dead
        vectors = np.load(seg / "vectors.npy", allow_pickle=False)
        if vectors.shape != (rows, dimension) or len(chunks["ids"]) != rows:
            return None
        kinds = {}
        for kind in _KINDS:
            with np.load(seg / f"{kind}.npz", allow_pickle=False) as z:
                postings = Postings(*(z[a] for a in _POSTINGS))
            if not _fits(postings, rows, len(vocabularies[kind])):
                return None
            kinds[kind] = postings
        segments.append(Segment(kinds["words"], kinds["pairs"], dead, str(entry["name"])))
        ids += [i for i, a in zip(chunks["ids"], alive, strict=True) if a]
        for key, values in columns.items():
            if len(chunks[key]) != rows:
                return None
            values += [v for v, a in zip(chunks[key], alive, strict=True) if a]
        n = int(np.count_nonzero(alive))
        if filled + n > live:
            return None
        np.compress(alive, vectors, axis=0, out=matrix[filled : filled + n])
        filled += n
    return SearchIndex(
        str(state["stamp"]),
        ids,
        np.array(columns["sources"], dtype=object),
        np.array(columns["publishers"], dtype=object),
        np.array(columns["days"], dtype=np.int64),
        _Rows(matrix, filled),
        segments,
        vocabularies,
        seq=int(state["seq"]),
        collection=str(state["collection"]),
        saved=Saved(str(state["token"]), terms),
    )


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
