"""Text and Markdown in any common encoding, with optional YAML front matter.

Decoding: a byte-order mark wins, then strict UTF-8, then charset-normalizer's guess. Offsets
count characters of the decoded text. Not handled: files mixing encodings (they fail with the
reason rather than come out garbled).
"""

from __future__ import annotations

import codecs
import datetime as dt
import json
import re
from typing import Any

import yaml

from .base import Extracted, LoadError, Metadata

_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.DOTALL)
# Longest first: the UTF-32 LE mark starts with the UTF-16 LE one.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_BINARY_SNIFF = 8192  # bytes looked at for NULs, which no 8-bit text contains


def read(data: bytes) -> Extracted:
    text = decode(data)
    if not text.strip():
        raise LoadError("empty file")
    metadata, content_start = front_matter(text)
    if not text[content_start:].strip():
        raise LoadError("no text after the front matter")
    title = str(metadata.pop("title", "")).strip()
    return Extracted(text, title, content_start, metadata)


def decode(data: bytes) -> str:
    """The text of a file's bytes, or LoadError saying why they are not text."""
    if not data.strip():
        raise LoadError("empty file")
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError as err:
                raise LoadError(
                    f"invalid {encoding} text after its byte-order mark: {err}"
                ) from None
    if b"\x00" in data[:_BINARY_SNIFF]:
        raise LoadError("binary content (NUL bytes) in a text file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    return _guess(data)


# The legacy encodings text files are actually written in. Asked first, because among all
# code pages charset-normalizer's ranking can prefer a rare one (cp775, cp1006) that happens
# to read the bytes as plausibly; only when none of these fits is every code page considered.
_COMMON = [
    "cp1252", "cp1250", "cp1251", "cp1253", "cp1254", "cp1255", "cp1256", "cp1257", "cp1258",
    "koi8_r", "koi8_u", "iso8859_2", "iso8859_5", "iso8859_7", "iso8859_15", "cp874",
    "shift_jis", "cp932", "euc_jp", "gb18030", "big5", "euc_kr", "cp949",
]  # fmt: skip


def _guess(data: bytes) -> str:
    from charset_normalizer import from_bytes

    matches = list(from_bytes(data, cp_isolation=_COMMON)) or list(from_bytes(data))
    if not matches:
        raise LoadError("not text in any known encoding (binary content?)")
    best = matches[0]
    # subtle: on Western European text several code pages read the bytes alike (cp1250,
    # cp1257 for "café"), and charset-normalizer takes the first. Windows-1252, the most
    # common of them (a superset of Latin-1's letters), wins when it is among the plausible
    # readings and reads at least as much like a language as the first one (coherence).
    try:
        western = data.decode("cp1252")
    except UnicodeDecodeError:
        return str(best)
    for m in matches:
        if (m.encoding == "cp1252" or str(m) == western) and m.coherence >= best.coherence:
            return western
    return str(best)


def front_matter(text: str) -> tuple[Metadata, int]:
    """YAML front matter as flat metadata, and the offset where the content starts."""
    m = _FRONT_MATTER.match(text)
    if not m:
        return {}, 0
    if len(m.group(1)) > _MAX_FRONT_MATTER_CHARS:
        # PyYAML builds every node in Python: 12 MB of front matter took 1.3 GB and 140 s.
        raise LoadError(
            f"front matter of {len(m.group(1)):,} characters; at most "
            f"{_MAX_FRONT_MATTER_CHARS:,} are read (it holds a document's fields, not its text)"
        )
    try:
        data = yaml.safe_load(m.group(1))
    except yaml.YAMLError as err:
        raise LoadError(f"invalid YAML front matter: {str(err).splitlines()[0]}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise LoadError("front matter is not a mapping of field: value")
    if _size(data, _MAX_FRONT_MATTER_NODES) > _MAX_FRONT_MATTER_NODES:
        # subtle: YAML aliases share one object, so a few lines of anchors can stand for
        # billions of values, which writing the fields out (as JSON) would expand.
        raise LoadError(
            f"front matter holds more than {_MAX_FRONT_MATTER_NODES:,} values (YAML aliases "
            "nested to expand?)"
        )
    return {str(k): scalar(v) for k, v in data.items() if v is not None}, m.end()


_MAX_FRONT_MATTER_NODES = 10_000
_MAX_FRONT_MATTER_CHARS = 100_000


def _size(value: Any, budget: int) -> int:
    """How many values ``value`` holds, counting shared ones each time, stopping past ``budget``."""
    count = 0
    stack = [value]
    while stack and count <= budget:
        item = stack.pop()
        count += 1
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set):
            stack.extend(item)
    return count


def scalar(value: Any) -> str | int | float | bool:
    """A value Chroma can store: scalars as they are, dates as ISO text, the rest as JSON."""
    if isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        return ", ".join(str(v) for v in value)
    return json.dumps(value, default=str, ensure_ascii=False)
