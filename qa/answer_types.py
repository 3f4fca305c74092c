"""Whether a question asks for a yes or a no: its answer then opens with a verdict.

Not handled: questions in other languages (the auxiliaries are English ones); such a question
is answered without a verdict.
"""

from __future__ import annotations

import re

_AUXILIARY = frozenset(
    "is are was were am do does did has have had can could will would should shall may might "
    "must isn't aren't wasn't weren't doesn't don't didn't hasn't haven't".split()
)
_WH = frozenset("who whom whose what which when where why how".split())
_SEGMENT = re.compile(r"[,;:]")


def asks_yes_or_no(question: str) -> bool:
    """A question answered by yes or no: "Does the report say …?", "After X reported Y, was
    the reporting consistent?". Not when it asks who, what, which, … anywhere it starts a
    clause ("Who is the person that, according to X, is accused …?")."""
    firsts = [
        seg.split()[0].lower().replace("’", "'") for seg in _SEGMENT.split(question) if seg.split()
    ]
    if not firsts or any(w in _WH for w in firsts):
        return False
    return any(w in _AUXILIARY for w in firsts)
