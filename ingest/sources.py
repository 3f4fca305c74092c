"""A document's source: its name in the index, unique, and the same every time it is ingested.

A document is a file (its absolute path); its source is how citations, ``--list`` and
``--delete`` name it. The source is the path relative to the folder it was ingested from
(``notes.md``, ``2024/minutes.pdf``), or for a file named on its own its file name. When that
name is already another file's, the source is qualified by the folders above it, as few as
tell them apart (``B/notes.md``, then ``x/B/notes.md``, at worst the absolute path). A file
keeps the source it was first given for as long as it is recorded, whatever else is ingested
later, so nothing already indexed is renamed (and indexes made before this rule keep working:
their sources are their records' sources).

A recorded file that no longer exists at its path is taken to have moved: a new file of the
same name takes its source over (and so its document is updated, not duplicated). With a
Chroma server, a path recorded by another machine does not exist on this one, so the same
name ingested on two machines is one document there, as before.

Names that are not UTF-8 on disk (``caf\\xe9.txt``) are shown with the undecodable bytes
escaped, which keeps them printable, storable and distinct.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path, PurePosixPath
from typing import Protocol


class _Named(Protocol):  # a load.SourceFile
    @property
    def path(self) -> Path: ...
    @property
    def source(self) -> str: ...  # its name below its root
    @property
    def root(self) -> Path: ...


class _Recorded(Protocol):  # a records.DocRecord
    @property
    def source(self) -> str: ...
    @property
    def path(self) -> str: ...


def shown(path: str | os.PathLike[str]) -> str:
    """A path as text that any store can keep: bytes that are not UTF-8 escaped (\\xe9)."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def is_under(path: str, folder: str) -> bool:
    """Whether ``path`` (as recorded) is ``folder`` or inside it."""
    return PurePosixPath(path).is_relative_to(PurePosixPath(folder))


def name_sources(
    files: Sequence[_Named],
    records: Iterable[_Recorded],
    exists: Callable[[str], bool] = os.path.exists,
) -> list[str]:
    """The files' sources, in order (see the module's docstring), given the index's records."""
    recorded = {r.path: r.source for r in records}
    owners = {source: path for path, source in recorded.items()}
    taken: dict[str, str] = {}  # source -> path, in this run
    for f in files:  # recorded files keep their sources: no new file may take them
        known = recorded.get(shown(f.path))
        if known is not None:
            taken[known] = shown(f.path)
    named = []
    for f in files:
        path = shown(f.path)
        source = recorded.get(path)
        if source is None:
            for candidate in _candidates(f):
                here, owner = taken.get(candidate), owners.get(candidate)
                if here is None and (owner is None or owner == path or not exists(owner)):
                    source = candidate
                    break
            else:  # subtle: cannot happen, the last candidate is the path itself
                raise AssertionError(path)
            taken[source] = path
        named.append(source)
    return named


def _candidates(f: _Named) -> Iterator[str]:
    """The file's name below its root, then qualified by each folder above, then its path."""
    yield f.source
    folders = [shown(part) for part in f.root.parts[1:]]
    for n in range(1, len(folders) + 1):
        yield "/".join([*folders[-n:], f.source])
    yield shown(f.path)
