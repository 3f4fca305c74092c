"""Test documents made on the spot (no binary fixtures): PDF, DOCX, HTML and broken files."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


def _escape(line: str) -> str:
    return line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def make_pdf(
    path: Path,
    pages: Sequence[Sequence[str]],
    *,
    title: str | None = None,
    user_password: str | None = None,
    owner_password: str | None = None,
) -> Path:
    """A PDF whose page n shows the lines pages[n-1] in Helvetica (a page may be blank)."""
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    writer = PdfWriter()
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
            NameObject("/Encoding"): NameObject("/WinAnsiEncoding"),
        }
    )
    for lines in pages:
        page = writer.add_blank_page(612, 792)
        page[NameObject("/Resources")] = DictionaryObject(
            {NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})}
        )
        ops = ["BT", "/F1 11 Tf", "14 TL", "72 740 Td"]
        ops += [f"({_escape(line)}) Tj T*" for line in lines]
        ops.append("ET")
        content = DecodedStreamObject()
        content.set_data("\n".join(ops).encode("cp1252"))
        page.replace_contents(content)
    if title:
        writer.add_metadata({"/Title": title})
    if user_password is not None or owner_password is not None:
        writer.encrypt(
            user_password=user_password or "", owner_password=owner_password, algorithm="AES-128"
        )
    with path.open("wb") as f:
        writer.write(f)
    return path


def make_docx(
    path: Path,
    paragraphs: Sequence[str],
    *,
    heading: str | None = None,
    title: str | None = None,
    table: Sequence[Sequence[str]] = (),
) -> Path:
    import docx

    document = docx.Document()
    if title is not None:
        document.core_properties.title = title
    if heading:
        document.add_heading(heading, level=1)
    for text in paragraphs:
        document.add_paragraph(text)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, cell in enumerate(row):
                grid.cell(r, c).text = cell
    document.save(str(path))
    return path


MENU_WORDS = ("Home", "About us", "Shop our store", "Subscribe to our newsletter")
SCRIPT_WORDS = ("MENU-SCRIPT-TEXT", "FOOTER-SCRIPT-TEXT", "color:red")


def make_html(path: Path, title: str, heading: str, paragraphs: Sequence[str]) -> Path:
    """A saved web page: the article among a menu, a footer, scripts and a style sheet."""
    body = "\n".join(f"<p>{p}</p>" for p in paragraphs)
    path.write_text(
        f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{title}</title>
<script>var tracking = "MENU-SCRIPT-TEXT";</script><style>.x {{ color:red }}</style></head>
<body>
<header><nav><ul><li><a href="/">Home</a></li><li><a href="/about">About us</a></li>
<li><a href="/shop">Shop our store</a></li></ul></nav></header>
<main><article><h1>{heading}</h1>
{body}
</article></main>
<footer><p>Copyright Coast Journal. Subscribe to our newsletter.</p></footer>
<script>document.write("FOOTER-SCRIPT-TEXT")</script>
</body></html>
""",
        encoding="utf-8",
    )
    return path
