"""Finding the files to ingest and reading them into documents.

Formats (``ingest/formats``): text and Markdown in any common encoding, with optional YAML
front matter (its fields become document metadata); PDF (page by page); HTML (main text
only); DOCX. A file that cannot be read raises LoadError with the reason, never a traceback.
Hidden files and folders (name starting with ".") are skipped.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .formats import MARKDOWN_SUFFIXES, SUPPORTED_SUFFIXES, LoadError, Metadata, Span
from .formats.isolated import Reader, read_isolated
from .formats.plain import front_matter
from .sources import shown

__all__ = [
    "SUPPORTED_SUFFIXES",
    "Document",
    "LoadError",
    "PathFilter",
    "SourceFile",
    "discover",
    "file_sha256",
    "front_matter",
    "read_document",
    "read_path",
    "title_of",
]

_TITLE_MAX_CHARS = 150
_ATX_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$")
_DEFAULT_MAX_BYTES = 100_000_000


@dataclass(frozen=True)
class SourceFile:
    path: Path  # absolute
    source: str  # its name in the index (ingest/sources.py): below its root, unless taken
    root: Path  # the folder it was found in (its own folder when named alone)


@dataclass(frozen=True)
class Document:
    source: str
    path: Path
    text: str  # the file's text (decoded, or extracted from PDF/HTML/DOCX)
    title: str
    sha256: str  # of the file's bytes
    content_start: int = 0  # where the content begins, after any front matter
    metadata: Metadata = field(default_factory=dict)  # front matter, or the format's fields
    pages: tuple[Span, ...] = ()  # PDF: page n is text[pages[n-1][0]:pages[n-1][1]]

    def sections(self) -> list[tuple[int | None, int, int]]:
        """(page, start, end) of the parts chunked separately: the pages, or the content."""
        if not self.pages:
            return [(None, self.content_start, len(self.text))]
        return [(n, a, b) for n, (a, b) in enumerate(self.pages, 1)]

    def source_text(self, page: int | None = None) -> str:
        """What chunk and citation offsets point into: a page's text, or the whole text."""
        if page is None:
            return self.text
        a, b = self.pages[page - 1]
        return self.text[a:b]


class PathFilter:
    """Include/exclude globs for the files found in folders.

    A pattern without "/" matches a file's name or the name of any folder on its path
    (``*.pdf``, ``drafts``); a pattern with "/" matches the whole path below the ingested
    folder (``reports/2024/*.pdf``, ``**/old/**``). ``*`` and ``?`` stay within one name,
    ``**`` spans folders. Files must match an include pattern (when any is given) and no
    exclude pattern.
    """

    def __init__(self, include: Sequence[str] = (), exclude: Sequence[str] = ()):
        self.include = [_Glob(p) for p in include]
        self.exclude = [_Glob(p) for p in exclude]

    def wants(self, source: str) -> bool:
        if any(g.matches(source) for g in self.exclude):
            return False
        return not self.include or any(g.matches(source) for g in self.include)

    def skips_folder(self, rel: str) -> bool:
        return any(g.matches(rel) for g in self.exclude)


class _Glob:
    def __init__(self, pattern: str):
        self.pattern = pattern.strip().strip("/")
        self.by_name = "/" not in self.pattern
        self.regex = re.compile(_translate(self.pattern))

    def matches(self, rel: str) -> bool:
        if self.by_name:
            return any(self.regex.fullmatch(part) for part in rel.split("/"))
        return self.regex.fullmatch(rel) is not None


def _translate(pattern: str) -> str:
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return "".join(out)


@dataclass
class Found:
    """What ``find`` found: the files, the paths that failed, and the folders read in full."""

    files: list[SourceFile] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    # The paths given that exist (files and folders), and the folders that could not be read:
    # --prune deletes only below the first, and never below the second.
    roots: list[Path] = field(default_factory=list)
    unreadable: list[Path] = field(default_factory=list)


def discover(
    paths: Iterable[str | os.PathLike[str]],
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
) -> tuple[list[SourceFile], list[tuple[str, str]]]:
    """Supported files under ``paths`` (recursive, hidden ones skipped), and paths that failed.

    ``include``/``exclude`` globs (see PathFilter) filter the files found in folders; a file
    named on its own is always taken. Sources are named below their roots only (see ``find``).
    """
    found = find(paths, include, exclude)
    return found.files, found.failed


def find(
    paths: Iterable[str | os.PathLike[str]],
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
) -> Found:
    """``discover``, also saying which folders were read in full and which could not be read.

    A file's ``source`` here is its name below its root; ``sources.name_sources`` makes it
    unique in the index. A file found twice (named, and in a folder) is taken once.
    """
    found = Found()
    seen: set[Path] = set()
    wanted = PathFilter(include, exclude)

    def add(path: Path, root: Path) -> None:
        if path not in seen:
            seen.add(path)
            found.files.append(SourceFile(path, shown(path.relative_to(root)), root))

    for raw in paths:
        first = len(found.files)
        path = Path(raw).expanduser().resolve()
        if not path.exists():
            found.failed.append((shown(raw), "no such file or folder"))
        elif path.is_file():
            if path.suffix.lower() in SUPPORTED_SUFFIXES:
                add(path, path.parent)
                found.roots.append(path)
            else:
                supported = ", ".join(sorted(SUPPORTED_SUFFIXES))
                found.failed.append(
                    (
                        shown(raw),
                        f"unsupported file type {path.suffix or '(none)'!r} "
                        f"(supported: {supported})",
                    )
                )
        else:
            errors: list[OSError] = []
            for folder, dirs, names in os.walk(path, onerror=errors.append):
                rel = Path(folder).relative_to(path).as_posix()
                prefix = "" if rel == "." else rel + "/"
                dirs[:] = sorted(
                    d for d in dirs if not d.startswith(".") and not wanted.skips_folder(prefix + d)
                )
                for name in sorted(names):
                    if (
                        not name.startswith(".")
                        and Path(name).suffix.lower() in SUPPORTED_SUFFIXES
                        and wanted.wants(prefix + name)
                    ):
                        add(Path(folder) / name, path)
            for err in errors:
                # An unreadable folder is an error, never an empty one: its documents stay.
                where = Path(err.filename) if err.filename else path
                found.unreadable.append(where)
                found.failed.append((shown(where), f"cannot read this folder ({err.strerror})"))
            found.roots.append(path)
            found.files[first:] = sorted(found.files[first:], key=lambda f: f.source)
    return found


def file_sha256(path: Path, max_bytes: int | None = None) -> tuple[bytes, str]:
    """A file's bytes and their hash; LoadError when it is larger than ``max_bytes``."""
    if max_bytes is not None:
        size = path.stat().st_size
        if size > max_bytes:
            raise LoadError(
                f"file is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:g} MB limit "
                "(QA_MAX_FILE_MB)"
            )
    data = path.read_bytes()
    return data, hashlib.sha256(data).hexdigest()


def read_document(
    file: SourceFile,
    data: bytes,
    sha256: str,
    max_bytes: int = _DEFAULT_MAX_BYTES,
    reader: Reader | None = None,
) -> Document:
    """Read a file's bytes into a document, or raise LoadError with the reason.

    PDF, HTML and DOCX are read by ``reader`` (a worker process with bounded memory and time;
    one of its own when none is given): see ``ingest/formats/isolated.py``.
    """
    suffix = file.path.suffix.lower()
    if reader is not None:
        got = reader.extract(suffix, data, max_bytes)
    else:
        got = read_isolated(suffix, data, max_bytes)
    title = got.title.strip()[:_TITLE_MAX_CHARS] or title_of(
        got.text[got.content_start :], file.path
    )
    return Document(
        file.source,
        file.path,
        got.text,
        title,
        sha256,
        got.content_start,
        dict(got.metadata),
        got.pages,
    )


def read_path(path: str | os.PathLike[str], reader: Reader | None = None) -> Document:
    """One file as ingestion reads it: the text that offsets point into, its pages, its title.

    PDF, HTML and DOCX are read in a bounded worker: ``reader``'s, else one started for this
    file (pass a ``formats.isolated.Reader`` to read many files with one worker).
    """
    p = Path(path).expanduser().resolve()
    data, sha = file_sha256(p)
    return read_document(SourceFile(p, p.name, p.parent), data, sha, reader=reader)


def title_of(text: str, path: Path) -> str:
    """A Markdown file's first heading, else a short first line, else the file name."""
    lines = [ln.strip() for ln in text.splitlines()[:40] if ln.strip()]
    if path.suffix.lower() in MARKDOWN_SUFFIXES:
        for line in lines:
            m = _ATX_HEADING.match(line)
            if m:
                return m.group(1)[:_TITLE_MAX_CHARS]
    if lines and len(lines[0]) <= _TITLE_MAX_CHARS:
        return lines[0].lstrip("#").strip()
    return shown(path.stem).replace("_", " ").replace("-", " ").strip() or shown(path.name)
