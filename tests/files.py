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


def make_docx_bomb(path: Path, xml_mb: int) -> Path:
    """A real DOCX whose document.xml is ``xml_mb`` MB of empty paragraphs: a few hundred KB
    on disk (deflate packs them about a thousandfold), written without holding them."""
    import zipfile

    plain = make_docx(path.with_name("plain-" + path.name), ["Seed text."])
    head = (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<w:document '
        b'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>'
    )
    with (
        zipfile.ZipFile(plain) as src,
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as out,
    ):
        for item in src.infolist():
            if item.filename != "word/document.xml":
                out.writestr(item, src.read(item.filename))
        with out.open("word/document.xml", "w") as xml:
            xml.write(head)
            block = b"<w:p/>" * (1 << 17)  # 768 KB
            for _ in range(xml_mb * 2**20 // len(block)):
                xml.write(block)
            xml.write(b"</w:body></w:document>")
    plain.unlink()
    return path


def declare_smaller(path: Path, member: str, size: int) -> None:
    """Make a zip's headers claim that ``member`` unpacks to ``size`` bytes (a lying zip)."""
    import struct
    import zipfile

    with zipfile.ZipFile(path) as z:
        info = z.getinfo(member)
    data = bytearray(path.read_bytes())
    name = member.encode()
    central = data.find(b"PK\x01\x02")
    while central != -1:
        n = struct.unpack_from("<H", data, central + 28)[0]
        if bytes(data[central + 46 : central + 46 + n]) == name:
            struct.pack_into("<I", data, central + 24, size)
        central = data.find(b"PK\x01\x02", central + 4)
    struct.pack_into("<I", data, info.header_offset + 22, size)
    path.write_bytes(bytes(data))


def make_pdf_streams(
    path: Path, page_ops: Sequence[bytes], *, shared: bytes | None = None, pages: int = 1
) -> Path:
    """A PDF of Flate-compressed content streams, built by hand: ``page_ops`` one per page,
    or ``shared`` drawn by ``pages`` pages (one stream object, referenced by each)."""
    import zlib

    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    def stream(ops: bytes) -> int:
        packed = zlib.compress(ops, 9)
        return add(
            b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(packed)
            + packed
            + b"\nendstream"
        )

    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    contents = [stream(ops) for ops in page_ops]
    if shared is not None:
        contents += [stream(shared)] * pages
    pages_id = len(objects) + len(contents) + 1
    kids = [
        add(
            b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] /Contents %d 0 R "
            b"/Resources << /Font << /F1 %d 0 R >> >> >>" % (pages_id, c, font)
        )
        for c in contents
    ]
    assert (
        add(
            b"<< /Type /Pages /Kids [%s] /Count %d >>"
            % (b" ".join(b"%d 0 R" % k for k in kids), len(kids))
        )
        == pages_id
    )
    catalog = add(b"<< /Type /Catalog /Pages %d 0 R >>" % pages_id)
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        catalog,
        xref,
    )
    path.write_bytes(bytes(out))
    return path
