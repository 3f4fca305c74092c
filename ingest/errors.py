"""What can stop an index from being used; each message says what to do about it."""

from __future__ import annotations


class IndexNotFoundError(RuntimeError):
    """There is no index where the settings point."""


class IndexUnavailableError(IndexNotFoundError):
    """The Chroma server cannot be reached or refused us.

    A kind of IndexNotFoundError on purpose: every caller that tells the user about a missing
    index (the CLIs, the web chat) tells them about an unreachable one the same way.
    """


class IndexMismatchError(RuntimeError):
    """The index was built with another embedding model than the one configured."""


class IndexBusyError(RuntimeError):
    """Another ingestion holds the index's lock."""
