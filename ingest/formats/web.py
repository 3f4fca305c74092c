"""HTML through trafilatura: the main text of a page, without menus, footers or scripts.

The document text is what trafilatura extracts (one paragraph, heading or table row a line),
so citation offsets point into that text, not into the HTML. The page's title is kept.
Not handled: pages whose content is built by JavaScript (the HTML has no text to find).
"""

from __future__ import annotations

import logging
import re
import warnings

from .base import Extracted, LoadError, Metadata
from .plain import decode

# A page that declares its encoding is decoded by trafilatura as declared.
_DECLARED = re.compile(rb"<meta[^>]+charset\s*=", re.IGNORECASE)
# lxml and trafilatura hold a tree of the page and copies of it: dense markup takes about
# 200 times its size in memory, and time (1 MB of "<p>a</p>": 206 MB and 22 s; 4 MB: 742 MB
# and 87 s, on 2 busy cores), so pages are bounded well below the file limit. Saved articles
# are far smaller (a news page: 50-500 KB; a long Wikipedia article: 1-3 MB).
MAX_HTML_BYTES = 8_000_000


def read(data: bytes, max_bytes: int = MAX_HTML_BYTES) -> Extracted:
    limit = min(max_bytes, MAX_HTML_BYTES)
    if len(data) > limit:
        raise LoadError(
            f"the page is {len(data) / 1e6:.1f} MB of HTML; pages over {limit / 1e6:g} MB are "
            "not read (their parse tree would take many times that in memory)"
        )
    # Undeclared: decode as plain text is (BOM, UTF-8, else the best guess preferring
    # Windows-1252), which reads a Latin-1 page right where trafilatura's own guess does not.
    markup: str | bytes = data if _DECLARED.search(data[:4096]) else decode(data)
    logger = logging.getLogger("trafilatura")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _read(markup)
    finally:
        logger.setLevel(level)


def _read(markup: str | bytes) -> Extracted:
    import trafilatura

    try:
        doc = trafilatura.bare_extraction(
            markup,
            with_metadata=True,
            include_comments=False,
            include_tables=True,
            include_images=False,
            include_links=False,
            deduplicate=False,
        )
    except MemoryError:
        raise
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
