"""File formats: each reader turns a file's bytes into text (and pages), or raises LoadError.

The heavy parsers (pypdf, trafilatura, python-docx) are imported on first use, so importing
``ingest`` (as ``qa`` does) stays cheap.
"""

from __future__ import annotations

from .base import Extracted, LoadError, Metadata, Span

TEXT_SUFFIXES = frozenset({".txt", ".text", ".md", ".markdown"})
HTML_SUFFIXES = frozenset({".html", ".htm", ".xhtml"})
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | {".pdf", ".docx"}
MARKDOWN_SUFFIXES = frozenset({".md", ".markdown"})


def extract(suffix: str, data: bytes, max_bytes: int) -> Extracted:
    """The text of a file of the given type (its lower-cased suffix, as ".pdf")."""
    if suffix in TEXT_SUFFIXES:
        from . import plain

        return plain.read(data)
    if not data.strip():
        raise LoadError("empty file")
    if suffix == ".pdf":
        from . import pdf

        return pdf.read(data)
    if suffix in HTML_SUFFIXES:
        from . import web

        return web.read(data)
    if suffix == ".docx":
        from . import word

        return word.read(data, max_bytes)
    raise LoadError(f"unsupported file type {suffix or '(none)'!r}")


__all__ = [
    "MARKDOWN_SUFFIXES",
    "SUPPORTED_SUFFIXES",
    "Extracted",
    "LoadError",
    "Metadata",
    "Span",
    "extract",
]
