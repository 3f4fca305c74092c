"""Document context given to every chunk: who published it and when, and the header.

A chunk is embedded and keyword-indexed with a header naming its document (title, publisher,
publication day), as the MultiHop-RAG paper does: "the TechCrunch article of October 7" then
finds chunks that never say so themselves. ``Passage.text`` and the offsets stay the body's.
The publisher and day come from front matter or the format's own fields, under any of a few
common names; the first one present wins.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

PUBLISHER_KEYS = ("source", "publisher", "site", "sitename")
DATE_KEYS = ("published", "published_at", "date", "created", "creation_date")
_ISO_DAY = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


def publisher_of(meta: Mapping[str, object]) -> str:
    return next(
        (str(meta[k]).strip() for k in PUBLISHER_KEYS if str(meta.get(k) or "").strip()), ""
    )


def publication_day(meta: Mapping[str, object]) -> int | None:
    """The publication day as YYYYMMDD (a number, so that date ranges can be filtered)."""
    for key in DATE_KEYS:
        m = _ISO_DAY.search(str(meta.get(key) or ""))
        if m:
            year, month, day = (int(g) for g in m.groups())
            if 1 <= month <= 12 and 1 <= day <= 31:
                return year * 10000 + month * 100 + day
    return None


def header_for(title: str, meta: Mapping[str, object]) -> str:
    """The lines embedded before every chunk of a document."""
    facts = [publisher_of(meta)]
    day = publication_day(meta)
    if day is not None:
        facts.append(f"{day // 10000:04d}-{day // 100 % 100:02d}-{day % 100:02d}")
    line = " · ".join(f for f in facts if f)
    return f"{title}\n{line}\n" if line else f"{title}\n"
