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

# What a DOCX may unpack to, checked in the zip's directory before anything is inflated
# (zipfile never inflates a member past the size the directory gives, so a lying directory
# makes a CRC error, not a bomb). python-docx parses every XML part into a tree of about 20
# times its size (a 240 MB document.xml took 5.1 GB), so the XML is bounded hard; pictures
# are only held as bytes. Real documents: document.xml of a 500-page book is about 10 MB,
# and prose XML compresses 5-20 fold; even an empty 12,000-row table only 143 fold, while
# empty paragraphs (the bomb) pack 686 fold, and deflate's limit is about 1,030.
MAX_XML_BYTES = 64_000_000  # all XML parts together
MAX_RATIO = 300  # a member over 1 MB unpacking to more than this many times its packed size
_RATIO_FROM = 1_000_000
MAX_MEMBERS = 10_000


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
        if isinstance(err, MemoryError):
            raise
        raise LoadError(f"not a readable DOCX ({type(err).__name__}: {err})") from None
    if not blocks:
        raise LoadError("DOCX has no text")
    return Extracted("\n\n".join(blocks), title)


def _check_archive(data: bytes, max_bytes: int) -> None:
    """Refuse a zip bomb from the zip's directory, before anything is inflated."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            members = z.infolist()
    except zipfile.BadZipFile:
        raise LoadError(
            "not a DOCX file (not a zip archive; legacy .doc is not supported)"
        ) from None
    if len(members) > MAX_MEMBERS:
        raise LoadError(f"DOCX holds {len(members):,} parts; a document has far fewer")
    for m in members:
        if m.file_size > _RATIO_FROM and m.file_size > MAX_RATIO * max(m.compress_size, 1):
            raise LoadError(
                f"DOCX part {m.filename} unpacks to {m.file_size / 1e6:.0f} MB from "
                f"{m.compress_size / 1e3:.0f} KB ({m.file_size // max(m.compress_size, 1):,} "
                "times): a zip bomb, not a document"
            )
    xml = sum(m.file_size for m in members if m.filename.endswith((".xml", ".rels")))
    if xml > MAX_XML_BYTES:
        raise LoadError(
            f"DOCX holds {xml / 1e6:.0f} MB of XML, over the {MAX_XML_BYTES / 1e6:g} MB "
            "that is read"
        )
    unpacked = sum(m.file_size for m in members)
    if unpacked > max_bytes + MAX_XML_BYTES:
        raise LoadError(
            f"DOCX unpacks to {unpacked / 1e6:.0f} MB, over the {max_bytes / 1e6:g} MB file "
            "limit (QA_MAX_FILE_MB)"
        )
