"""Finding the files to ingest and reading them into documents.

Handles UTF-8 text and Markdown, either with YAML front matter (its fields become document
metadata). Not handled yet: other encodings, PDF, HTML, DOCX (each is reported as a failure
with its reason, never a traceback).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

SUPPORTED_SUFFIXES = frozenset({".txt", ".md", ".markdown"})
_TITLE_MAX_CHARS = 150
_ATX_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$")
_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.DOTALL)


@dataclass(frozen=True)
class SourceFile:
    path: Path  # absolute
    source: str  # path relative to the ingested root, with forward slashes


@dataclass(frozen=True)
class Document:
    source: str
    path: Path
    text: str  # the whole file: offsets of chunks and citations point into it
    title: str
    sha256: str  # of the file's bytes
    content_start: int = 0  # where the content begins, after any front matter
    metadata: dict[str, str | int | float | bool] = field(default_factory=dict)  # front matter


class LoadError(Exception):
    """A file that cannot be ingested; the message is the reason shown to the user."""


def discover(
    paths: Iterable[str | os.PathLike[str]],
) -> tuple[list[SourceFile], list[tuple[str, str]]]:
    """Supported files under ``paths`` (recursive, hidden ones skipped), and paths that failed."""
    files: dict[str, SourceFile] = {}
    failed: list[tuple[str, str]] = []

    def add(path: Path, root: Path) -> None:
        source = path.relative_to(root).as_posix()
        other = files.get(source)
        if other is not None and other.path != path:
            failed.append(
                (str(path), f"same source name {source!r} as {other.path}; ingest it separately")
            )
        else:
            files[source] = SourceFile(path, source)

    for raw in paths:
        path = Path(raw).expanduser().resolve()
        if not path.exists():
            failed.append((str(raw), "no such file or folder"))
        elif path.is_file():
            if path.suffix.lower() in SUPPORTED_SUFFIXES:
                add(path, path.parent)
            else:
                supported = ", ".join(sorted(SUPPORTED_SUFFIXES))
                failed.append(
                    (
                        str(raw),
                        f"unsupported file type {path.suffix or '(none)'!r} "
                        f"(supported: {supported})",
                    )
                )
        else:
            for folder, dirs, names in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(names):
                    if not name.startswith(".") and Path(name).suffix.lower() in SUPPORTED_SUFFIXES:
                        add(Path(folder) / name, path)
    return sorted(files.values(), key=lambda f: f.source), failed


def file_sha256(path: Path) -> tuple[bytes, str]:
    data = path.read_bytes()
    return data, hashlib.sha256(data).hexdigest()


def read_document(file: SourceFile, data: bytes, sha256: str) -> Document:
    """Decode a file's bytes into a document, or raise LoadError with the reason."""
    if not data.strip():
        raise LoadError("empty file")
    if b"\x00" in data[:8192]:
        raise LoadError("binary content (NUL bytes) in a text file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise LoadError(
            f"not UTF-8 text (byte {err.start}: {data[err.start : err.start + 1]!r})"
        ) from None
    metadata, content_start = front_matter(text)
    if not text[content_start:].strip():
        raise LoadError("no text after the front matter")
    title = str(metadata.pop("title", "")).strip() or title_of(text[content_start:], file.path)
    return Document(file.source, file.path, text, title, sha256, content_start, metadata)


def front_matter(text: str) -> tuple[dict[str, str | int | float | bool], int]:
    """YAML front matter as flat metadata, and the offset where the content starts."""
    m = _FRONT_MATTER.match(text)
    if not m:
        return {}, 0
    try:
        data = yaml.safe_load(m.group(1))
    except yaml.YAMLError as err:
        raise LoadError(f"invalid YAML front matter: {str(err).splitlines()[0]}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise LoadError("front matter is not a mapping of field: value")
    return {str(k): _scalar(v) for k, v in data.items() if v is not None}, m.end()


def _scalar(value: Any) -> str | int | float | bool:
    """A value Chroma can store: scalars as they are, dates as ISO text, the rest as JSON."""
    if isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        return ", ".join(str(v) for v in value)
    return json.dumps(value, default=str, ensure_ascii=False)


def title_of(text: str, path: Path) -> str:
    """A Markdown file's first heading, else a short first line, else the file name."""
    lines = [ln.strip() for ln in text.splitlines()[:40] if ln.strip()]
    if path.suffix.lower() in (".md", ".markdown"):
        for line in lines:
            m = _ATX_HEADING.match(line)
            if m:
                return m.group(1)[:_TITLE_MAX_CHARS]
    if lines and len(lines[0]) <= _TITLE_MAX_CHARS:
        return lines[0].lstrip("#").strip()
    return path.stem.replace("_", " ").replace("-", " ").strip() or path.name
