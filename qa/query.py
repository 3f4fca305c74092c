"""What a question says about where its answer is: the publishers it names, and their dates.

"Does the TechCrunch article on October 7, 2023 ... while The Verge reports ...?" names two
publishers and one date. Each named publisher becomes a part of the search restricted to its
documents (with the date, when one stands next to it), so that every document a multi-part
question needs gets its share of the passages. The words around a mention (up to the next
mention) describe what that publisher's article is about.
Not handled: relative dates ("last week"), and names the index does not hold as metadata.
"""

from __future__ import annotations

import bisect
import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from ingest.search_index import words

_MONTHS = (
    "january february march april may june july august september october november december"
).split()
_DATE = re.compile(
    r"\b(" + "|".join(_MONTHS) + r")\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})\b"
    r"|\b(\d{4})-(\d{2})-(\d{2})\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Part:
    """A part of the question bound to one publisher (and maybe one day)."""

    publisher: str
    day: int | None  # YYYYMMDD
    text: str  # the words of the question around the mention


@lru_cache(maxsize=8)
def _mention_pattern(names: tuple[str, ...]) -> re.Pattern[str] | None:
    if not names:
        return None
    # Longest first, so "The Independent - Sports" wins over "The Independent".
    alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    # A name may end in a possessive ("TechCrunch's report"), but not run on into a word.
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


def _day(m: re.Match[str]) -> int | None:
    """The date a ``_DATE`` match writes, as YYYYMMDD; None for no such day."""
    try:
        if m.group(1):
            day = dt.date(int(m.group(3)), _MONTHS.index(m.group(1).lower()) + 1, int(m.group(2)))
        else:
            day = dt.date(int(m.group(4)), int(m.group(5)), int(m.group(6)))
    except ValueError:
        return None
    return day.year * 10000 + day.month * 100 + day.day


def _dates(question: str) -> list[tuple[int, int]]:
    """(position, YYYYMMDD) of the calendar dates written out in the question."""
    return [(m.start(), day) for m in _DATE.finditer(question) if (day := _day(m)) is not None]


def parts(question: str, publishers: Iterable[str]) -> list[Part]:
    """The question's parts, one per mention of a known publisher (merged when repeated with
    the same day); empty when it names none."""
    pattern = _mention_pattern(tuple(sorted(set(publishers))))
    if pattern is None:
        return []
    by_lower = {p.lower(): p for p in publishers}
    mentions = list(pattern.finditer(question))
    dates = _dates(question)
    # A date belongs to the mention before it ("TechCrunch, on October 7"), or to the first
    # mention when it comes before them all ("On October 7, TechCrunch ...").
    starts = [m.start() for m in mentions]
    owner = [max(bisect.bisect_right(starts, pos) - 1, 0) for pos, _ in dates]
    spans: dict[tuple[str, int | None], dict[tuple[int, int], None]] = {}  # ordered sets
    for i, m in enumerate(mentions):
        before = mentions[i - 1].end() if i else 0
        after = mentions[i + 1].start() if i + 1 < len(mentions) else len(question)
        days = {d for (_, d), o in zip(dates, owner, strict=True) if o == i}
        key = (by_lower[m.group(0).lower()], days.pop() if len(days) == 1 else None)
        spans.setdefault(key, {}).update({(before, m.start()): None, (m.end(), after): None})
    return [
        Part(p, d, " ".join(" ".join(question[a:b] for a, b in sorted(s)).split()))
        for (p, d), s in spans.items()
    ]


# -- clauses: the parts of a question that each describe a different piece of evidence

# Where a question turns to its next part: a semicolon or colon, a comma (not one inside a
# number), or a contrasting conjunction. A bare "and" is not a break: it joins nouns ("wealth,
# power and influence") as often as clauses, and a clause it joins usually follows a comma.
_BREAK = re.compile(r"\s*(?:[;:]|,(?!\d))\s*|\s+(?=(?:while|whereas|but|yet)\s)", re.IGNORECASE)
# Words that frame a question rather than say what its evidence is about: they neither count
# towards a clause's length nor are searched.
_FRAME = frozenset(
    "which who whom whose what when where does did do is are was were has have had "
    "article articles report reports reported reporting according covered featured mentioned "
    "discussed published source sources also both analyses analysis piece pieces coverage".split()
)
MIN_CLAUSE_WORDS = 3  # a shorter fragment ("power", "as reported by") joins its neighbour
_MARK = re.compile(r"\x00(\d+)\x00")  # a publisher mention, numbered, while splitting
_DAY = re.compile(r"\x01(\d{8})\x01")  # a date (YYYYMMDD), while splitting
_EDGES = " ?.!\"'“”‘’"  # stripped from the ends of a fragment


@dataclass(frozen=True)
class Clause:
    """A clause of a multi-part question: its words, and the publishers it names."""

    text: str
    publishers: tuple[str, ...] = ()
    day: int | None = None  # YYYYMMDD: the one date the clause names, if it names one


def clauses(question: str, publishers: Iterable[str] = ()) -> list[Clause]:
    """The clauses of a question that asks about several things at once, each with words
    enough to search on; empty for a question of one part.

    "Which company, covered by The Verge, invests billions in default search deals, and is
    accused by news publishers of harming their revenue?" has two: what it invests in and what
    it is accused of. A fragment too short to search on joins the next one (the last joins
    the one before). Publisher mentions are taken out of the words (they say where, not what)
    and kept as the clause's publishers; dates and framing words ("article", "reported") are
    dropped, as ``parts`` binds dates to publishers."""
    names = sorted(set(publishers))
    by_lower = {n.lower(): n for n in names}
    pattern = _mention_pattern(tuple(names))
    mentioned: list[str] = []

    def mark(m: re.Match[str]) -> str:
        mentioned.append(by_lower[m.group(0).lower()])
        return f" \x00{len(mentioned) - 1}\x00 "

    text = pattern.sub(mark, question) if pattern is not None else question
    # A date says when, not what (and holds a comma): kept aside as the clause's day.
    text = _DATE.sub(lambda m: f" \x01{day}\x01 " if (day := _day(m)) else " ", text)
    merged: list[str] = []
    pending = ""
    for fragment in _BREAK.split(text):
        pending = f"{pending} {fragment.strip(_EDGES)}".strip()
        if _searchable(pending) >= MIN_CLAUSE_WORDS:
            merged.append(pending)
            pending = ""
    if pending and merged:
        merged[-1] = f"{merged[-1]} {pending}"
    if len(merged) < 2:
        return []
    found = []
    for m in merged:
        own = tuple(dict.fromkeys(mentioned[int(n)] for n in _MARK.findall(m)))
        days = set(_DAY.findall(m))
        words_ = _DAY.sub(" ", _MARK.sub(" ", m)).split()
        kept = [w for w in words_ if w.lower().strip("'’") not in _FRAME]
        found.append(Clause(" ".join(kept), own, int(days.pop()) if len(days) == 1 else None))
    return found


def _searchable(text: str) -> int:
    """How many words of the text a search would use: not stop words, not framing."""
    kept = [
        w
        for w in _DAY.sub(" ", _MARK.sub(" ", text)).lower().split()
        if w.strip("'’") not in _FRAME
    ]
    return len(words([" ".join(kept)])[0])
