"""HTML through trafilatura: the main text of a page, without menus, footers or scripts.

The document text is what trafilatura extracts (one paragraph, heading or table row a line),
so citation offsets point into that text, not into the HTML. The page's title is kept.
Not handled: pages whose content is built by JavaScript (the HTML has no text to find).
"""

from __future__ import annotations

import logging
import warnings

from .base import Extracted, LoadError, Metadata


def read(data: bytes) -> Extracted:
    if not data.strip():
        raise LoadError("empty file")
    if b"\x00" in data[:8192] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise LoadError("binary content (NUL bytes) in an HTML file")
    logger = logging.getLogger("trafilatura")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _read(data)
    finally:
        logger.setLevel(level)


def _read(data: bytes) -> Extracted:
    import trafilatura

    try:
        doc = trafilatura.bare_extraction(
            data,
            with_metadata=True,
            include_comments=False,
            include_tables=True,
            include_images=False,
            include_links=False,
            deduplicate=False,
        )
    except Exception as err:  # lxml and friends fail in many ways on broken markup
        raise LoadError(f"not readable HTML ({type(err).__name__}: {err})") from None
    if isinstance(doc, dict):  # only with as_dict=True, which is not asked for
        raise TypeError("trafilatura returned a dict")
    text = (doc.text or "").strip() if doc is not None else ""
    if not text:
        raise LoadError("no main text found in the HTML page")
    metadata: Metadata = {}
    for key in ("author", "url", "sitename"):
        value = getattr(doc, key, None)
        if value:
            metadata[key] = str(value)
    return Extracted(text, str(getattr(doc, "title", "") or "").strip(), 0, metadata)
