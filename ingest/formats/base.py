"""What a format reader returns, and the error it raises for a file it cannot read."""

from __future__ import annotations

from dataclasses import dataclass, field

Span = tuple[int, int]  # (start, end) character offsets, text[start:end]
Metadata = dict[str, str | int | float | bool]


class LoadError(Exception):
    """A file that cannot be ingested; the message is the reason shown to the user."""


@dataclass(frozen=True)
class Extracted:
    """A file's text as a reader found it; offsets of chunks and citations point into ``text``."""

    text: str
    title: str = ""  # "" when the format carries none: the loader falls back to the first line
    content_start: int = 0  # where the content begins (after YAML front matter)
    metadata: Metadata = field(default_factory=dict)
    # Paged formats (PDF): page n is text[pages[n-1][0]:pages[n-1][1]], and chunks never cross
    # a page boundary. Empty for everything else.
    pages: tuple[Span, ...] = ()
