"""PDF through pypdf: the text of each page, kept apart so that citations carry page numbers.

The document text is the pages' text (pypdf ``extract_text``) joined by form feeds; chunks
never cross a page, and their offsets count from the start of their page, so a citation's
quote is ``page_text[start:end]``. An encrypted PDF opens when it needs no password to read
(only to edit or print). Not handled: scanned pages without a text layer (no OCR), reading
order of complex multi-column layouts beyond what pypdf gives.
"""

from __future__ import annotations

import io
import logging
import warnings

from .base import Extracted, LoadError, Metadata, Span

PAGE_BREAK = "\f"
_TITLE_MAX_CHARS = 150


def read(data: bytes, max_chars: int) -> Extracted:
    # pypdf reports what it repairs through logging and warnings; the user only needs to know
    # whether the file could be read, which the result or the LoadError says.
    logger = logging.getLogger("pypdf")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _read(data, max_chars)
    finally:
        logger.setLevel(level)


def _read(data: bytes, max_chars: int) -> Extracted:
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise LoadError("encrypted PDF: it needs a password to open")
        texts = []
        chars = 0
        for n, page in enumerate(reader.pages, 1):
            try:
                texts.append(page.extract_text() or "")
            except MemoryError:
                raise
            except Exception as err:
                raise LoadError(
                    f"page {n} of {len(reader.pages)} cannot be read ({type(err).__name__}: {err})"
                ) from None
            # subtle: a few KB of streams can draw the same text a million times; stop as
            # soon as there is more text than any file may hold, not after the last page.
            chars += len(texts[-1])
            if chars > max_chars:
                raise LoadError(
                    f"its first {n} pages hold {chars:,} characters of text, more than the "
                    f"largest text file allowed ({max_chars:,} bytes, QA_MAX_FILE_MB)"
                )
        info = reader.metadata
        title = str(info.title or "").strip() if info else ""
    except (LoadError, MemoryError):
        raise
    except (FileNotDecryptedError, DependencyError) as err:
        raise LoadError(f"encrypted PDF: {err}") from None
    except Exception as err:  # a damaged file can make a parser fail in any way at all
        raise LoadError(f"not a readable PDF ({type(err).__name__}: {err})") from None
    if not texts:
        raise LoadError("PDF has no pages")
    if not any(t.strip() for t in texts):
        raise LoadError("PDF has no text layer (scanned pages? OCR is not supported)")
    pages: list[Span] = []
    pos = 0
    for t in texts:
        pages.append((pos, pos + len(t)))
        pos += len(t) + len(PAGE_BREAK)
    metadata: Metadata = {"pages": len(texts)}
    if len(title) > _TITLE_MAX_CHARS:
        title = ""
    return Extracted(PAGE_BREAK.join(texts), title, 0, metadata, tuple(pages))
