"""File formats: each reader turns a file's bytes into text (and pages), or raises LoadError.

The heavy parsers (pypdf, trafilatura, python-docx) are imported on first use, so importing
``ingest`` (as ``qa`` does) stays cheap. Every reader bounds what it expands: no file yields
more text than the largest text file allowed (``max_bytes`` characters), and ``isolated``
reads the risky formats in a worker with capped memory and time.
"""

from __future__ import annotations

import re
from dataclasses import replace

from .base import Extracted, LoadError, Metadata, Span

TEXT_SUFFIXES = frozenset({".txt", ".text", ".md", ".markdown"})
HTML_SUFFIXES = frozenset({".html", ".htm", ".xhtml"})
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | {".pdf", ".docx"}
MARKDOWN_SUFFIXES = frozenset({".md", ".markdown"})


_SURROGATE = re.compile("[\ud800-\udfff]")


def extract(suffix: str, data: bytes, max_bytes: int) -> Extracted:
    """The text of a file of the given type (its lower-cased suffix, as ".pdf")."""
    got = _extract(suffix, data, max_bytes)
    if len(got.text) > max_bytes:
        raise LoadError(
            f"it holds {len(got.text):,} characters of text, more than the largest text file "
            f"allowed ({max_bytes:,} bytes, QA_MAX_FILE_MB)"
        )
    return _encodable(got)


def _extract(suffix: str, data: bytes, max_bytes: int) -> Extracted:
    if suffix in TEXT_SUFFIXES:
        from . import plain

        return plain.read(data)
    if not data.strip():
        raise LoadError("empty file")
    if suffix == ".pdf":
        from . import pdf

        return pdf.read(data, max_bytes)
    if suffix in HTML_SUFFIXES:
        from . import web

        return web.read(data, max_bytes)
    if suffix == ".docx":
        from . import word

        return word.read(data, max_bytes)
    raise LoadError(f"unsupported file type {suffix or '(none)'!r}")


def _encodable(got: Extracted) -> Extracted:
    """Lone surrogates (from a PDF's broken character map, say) become U+FFFD: no store or
    encoder takes them, and one character for one keeps every offset."""

    def fix(text: str) -> str:
        return _SURROGATE.sub("\ufffd", text)

    if not any(
        _SURROGATE.search(t)
        for t in (got.text, got.title, *(v for v in got.metadata.values() if isinstance(v, str)))
    ):
        return got
    metadata: Metadata = {k: fix(v) if isinstance(v, str) else v for k, v in got.metadata.items()}
    return replace(got, text=fix(got.text), title=fix(got.title), metadata=metadata)


__all__ = [
    "MARKDOWN_SUFFIXES",
    "SUPPORTED_SUFFIXES",
    "Extracted",
    "LoadError",
    "Metadata",
    "Span",
    "extract",
]
