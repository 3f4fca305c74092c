"""DOCX through python-docx: paragraphs and table rows in document order, one a line.

The document text is built here (so citation offsets point into it, not into the XML): each
paragraph is a line, each table row a line of its cells joined by " | " (a merged cell is
repeated for each column it spans), with a blank line between blocks. The title is the
document's title property, else its first Title or Heading paragraph.
Not handled: legacy .doc files, text boxes, headers and footers, footnotes, comments.
"""

from __future__ import annotations

import io
import zipfile

from .base import Extracted, LoadError

_EXPANSION_LIMIT = 20  # an unzipped DOCX this many times its limit is a zip bomb, not a document


def read(data: bytes, max_bytes: int) -> Extracted:
    import docx
    from docx.table import Table

    _check_archive(data, max_bytes)
    try:
        document = docx.Document(io.BytesIO(data))
        blocks: list[str] = []
        heading = ""
        for item in document.iter_inner_content():
            if isinstance(item, Table):
                for row in item.rows:
                    cells = [c.text.strip() for c in row.cells]
                    if any(cells):
                        blocks.append(" | ".join(cells))
                continue
            text = item.text.strip()
            if not text:
                continue
            style = (item.style.name if item.style is not None else "") or ""
            if not heading and style.startswith(("Title", "Heading")):
                heading = text
            blocks.append(text)
        title = (document.core_properties.title or "").strip() or heading
    except Exception as err:  # a damaged package can fail anywhere inside python-docx
        raise LoadError(f"not a readable DOCX ({type(err).__name__}: {err})") from None
    if not blocks:
        raise LoadError("DOCX has no text")
    return Extracted("\n\n".join(blocks), title)


def _check_archive(data: bytes, max_bytes: int) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            unpacked = sum(i.file_size for i in z.infolist())
    except zipfile.BadZipFile:
        raise LoadError(
            "not a DOCX file (not a zip archive; legacy .doc is not supported)"
        ) from None
    if unpacked > _EXPANSION_LIMIT * max_bytes:
        raise LoadError(f"DOCX unpacks to {unpacked / 1e6:.0f} MB, too much to read")
