"""Bringing the saved search index up to a writer's change without loading it: a *delta*.

A writer holding no search index in memory (``python -m ingest``, a deletion, an upload by
another process) used to load the whole saved index to take in its own few chunks and save
it again: over a second at 100k chunks, most of it reading vectors and term lists it does
not change. Instead it now appends to the saved state a delta: the chunks logged since the
state's position, fetched from the collection, as a segment of their own, and the ids they
replace or delete. Two things a delta does without, so that nothing else is read:

- the shared vocabulary: a delta numbers its terms in a list of its own (``terms.json``);
- where the dropped chunks are: it names their ids (``drop``), and a load, which reads every
  segment's ids anyway, marks them dead in the segments before it, in order.

Loading takes a delta's terms into the vocabulary, and its first save (the loading process
saves at once) writes it back as an ordinary segment: the deltas are compacted by whoever
next loads the index. After ``MAX_DELTAS`` of them, a writer loads and saves the whole index
as before, so that a folder nobody reads does not pile them up. Crash safety is the save's:
the delta's folder is complete before the state file naming it is swapped in.

Not handled: a delta does not compare its chunk count with the collection's (the check a
catch-up makes for chunks an older version wrote without logging them); the next process that
catches up from the log makes it.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from . import search_files as files
from .postings import Postings, Vocabulary
from .search_index import Page, _publication_day, pairs, unit_rows, words

MAX_DELTAS = 16  # deltas a saved state may hold before a writer loads and compacts it
_TERMS = "terms.json"

# (position in the change log) -> (ids changed since, the stored chunks among them)
Changes = Callable[[int], tuple[set[str], Page]]


def is_delta(entry: dict[str, Any]) -> bool:
    """Whether a state's segment entry is a delta (its own terms, a drop list)."""
    return "drop" in entry


def own_terms(segment: Path) -> dict[str, list[str]]:
    """A delta's term lists: kind -> terms in the order its postings number them."""
    terms = json.loads((segment / _TERMS).read_text(encoding="utf-8"))
    return {kind: [str(t) for t in terms[kind]] for kind in ("words", "pairs")}


def extend(
    folder: Path, *, stamp: str, seq: int, floor: int, collection: str, changes: Changes
) -> bool:
    """Bring the saved index in ``folder`` to ``stamp`` (log position ``seq``) with a delta.

    False, leaving the folder as it was, when a delta cannot do it: no saved index, one of
    another collection or behind the log's ``floor``, ``MAX_DELTAS`` deltas already, or
    vectors of another size. The caller then loads the index (and compacts it)."""
    with files._locked(folder, exclusive=True) as got:
        state = files._read_state(folder) if got else None
        if state is None or state["collection"] != collection:
            return False
        if state["stamp"] == stamp:
            return True
        after = int(state["seq"])
        deltas = sum(is_delta(e) for e in state["segments"])
        if after < floor or after > seq or deltas >= MAX_DELTAS:
            return False
        touched, (ids, texts, metas, vectors) = changes(after)
        rows = unit_rows(vectors) if ids else np.zeros((0, state["dimension"]), np.float32)
        if rows.shape[1] != int(state["dimension"]):
            return False
        entry: dict[str, Any] = {"rows": len(ids), "dead": [], "drop": sorted(touched)}
        if ids:
            entry["name"] = _write(folder, ids, texts, metas, rows)
        token = uuid.uuid4().hex
        new_state = {
            **state,
            "format": files.FORMAT,
            "token": token,
            "stamp": stamp,
            "seq": seq,
            "segments": [*state["segments"], entry],
        }
        tmp = folder / f".state-{token}.tmp"
        tmp.write_text(json.dumps(new_state), encoding="utf-8")
        os.replace(tmp, folder / files.STATE)
        return True


def _write(
    folder: Path, ids: list[str], texts: list[str], metas: list[dict[str, Any]], rows: np.ndarray
) -> str:
    """The delta's folder, complete before it is named (a rename): its name."""
    name = f"seg-{uuid.uuid4().hex[:12]}"
    tmp = folder / f".{name}.tmp"
    tmp.mkdir()
    chunks = {
        "ids": ids,
        "sources": [str(m.get("source", "")) for m in metas],
        "publishers": [str(m.get("publisher") or "") for m in metas],
        "days": [_publication_day(m) for m in metas],
    }
    (tmp / "chunks.json").write_text(json.dumps(chunks), encoding="utf-8")
    np.save(tmp / "vectors.npy", rows, allow_pickle=False)
    tokens = words(texts)
    own = {"words": Vocabulary(), "pairs": Vocabulary()}
    postings = {
        "words": Postings.build([own["words"].numbers(t) for t in tokens]),
        "pairs": Postings.build([own["pairs"].numbers(pairs(t)) for t in tokens]),
    }
    for kind, p in postings.items():
        np.savez(tmp / f"{kind}.npz", **{a: getattr(p, a) for a in files.POSTINGS})
    (tmp / _TERMS).write_text(json.dumps({k: v.terms for k, v in own.items()}), encoding="utf-8")
    os.replace(tmp, folder / name)
    return name
