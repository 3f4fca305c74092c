"""Sentences with exact character offsets, and the word terms used for lexical matching.

Sentence boundaries come from blingfire (a compiled rule model that ships in its wheel, so no
download); this module decides which newlines are boundaries, which blingfire does not know.
Not handled: languages without spaces between words get sentences but poor terms.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import blingfire

Span = tuple[int, int]  # (start, end) character offsets, text[start:end]

_TERMINAL = tuple(".!?:;…\"”’')]")
# A line starting like this is its own block (list item, heading, quote, table, attribution).
_BLOCK_START = re.compile(r"\s*(?:[-*+•—–>#|]|\d{1,3}[.)]\s|```)")
_SOFT_WRAP_RATIO = 0.6  # a wrapped line is at least this share of the paragraph's longest line
_MIN_WRAP_WIDTH = 40


def _lines(text: str, start: int, end: int) -> Iterator[Span]:
    """Spans of the lines in text[start:end], without their newline."""
    pos = start
    while pos < end:
        nl = text.find("\n", pos, end)
        stop = end if nl == -1 else nl
        yield pos, stop
        pos = stop + 1


def _blocks(text: str, start: int, end: int) -> Iterator[Span]:
    """Runs of lines that belong to one piece of prose.

    A newline is a boundary unless it looks like a hard wrap inside a paragraph: the line before
    it is long (near the paragraph's widest line), does not end a sentence, and the next line does
    not start a list item or heading. Plain-text news (one paragraph per line, short headings)
    and hard-wrapped Markdown both come out right.
    """
    para: list[Span] = []
    for line in (*_lines(text, start, end), None):
        if line is not None and text[line[0] : line[1]].strip():
            para.append(line)
            continue
        if not para:
            continue
        widest = max(len(text[a:b].rstrip()) for a, b in para)
        block_start = para[0][0]
        for (a, b), nxt in zip(para, [*para[1:], None], strict=True):
            content = text[a:b].rstrip()
            soft = (
                nxt is not None
                and widest >= _MIN_WRAP_WIDTH
                and len(content) >= _SOFT_WRAP_RATIO * widest
                and not content.endswith(_TERMINAL)
                and not _BLOCK_START.match(text, nxt[0], nxt[1])
            )
            if not soft:
                yield block_start, b
                if nxt is not None:
                    block_start = nxt[0]
        para = []


_HEADING_MAX_WORDS = 12


def is_heading(segment: str) -> bool:
    """A short line with no closing punctuation: a title or section heading, not a sentence."""
    return (
        len(segment.split()) <= _HEADING_MAX_WORDS
        and not segment.rstrip().endswith(_TERMINAL)
        and "\n" not in segment.strip()
    )


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[Span]:
    """Sentences of text[start:end] as offsets into ``text``, stripped of surrounding space."""
    end = len(text) if end is None else end
    spans: list[Span] = []
    for a, b in _blocks(text, start, end):
        # Same length as the block, so blingfire's offsets map back one to one.
        block = text[a:b].replace("\n", " ").replace("\r", " ").replace("\t", " ")
        if not block.strip():
            continue
        _, offsets = blingfire.text_to_sentences_and_offsets(block)
        for s, e in offsets:
            piece = text[a + s : a + e]
            lead = len(piece) - len(piece.lstrip())
            trail = len(piece) - len(piece.rstrip())
            if e - s - lead - trail > 0:
                spans.append((a + s + lead, a + e - trail))
    return spans


# Function words and question words: they say how a question is asked, not what it is about.
STOP_WORDS = frozenset(
    """
    a about above after again against all also am an and any are as at be because been
    before being below between both but by can could did do does doing done down during each
    either else ever few for from further had has have having he her here hers herself him
    himself his how however i if in into is it its itself just least less let like made make
    many may me might more most much must my myself neither no nor not now of off often on
    once one only or other others ought our ours ourselves out over own per rather same say
    said says shall she should since so some such than that the their theirs them themselves
    then there these they this those though through thus to too under until up upon us very
    was we were what whatever when where whether which while who whom whose why will with
    within without would yet you your yours yourself yourselves according tell know get got
    give given
    """.split()
)
_WORD = re.compile(r"\w+(?:[.'’]\w+)*", re.UNICODE)


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    import Stemmer  # PyStemmer: the Snowball stemmers in C

    return Stemmer.Stemmer("english")


def terms(text: str) -> list[str]:
    """Lower-cased, stemmed content words: the units of lexical matching."""
    words = [w.replace("’", "'") for w in _WORD.findall(text.lower())]
    return _stemmer().stemWords([w for w in words if w not in STOP_WORDS])
