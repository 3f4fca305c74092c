"""The conversation a question comes with: its turns, and follow-ups made to stand alone.

Whether a question leans on the conversation is decided without the model: a short question
with a word that points back ("What about Australia?", "Why does that matter?"). Only such a
question is rewritten by the model, and its rewrite is kept only when it is a question that
holds every content word of the follow-up: a model that answers instead ("The 2022 FIFA World
Cup was won by France.") or drops what was asked never speaks for the user. Without a model,
a question that leans is searched together with the one before it.
Not handled: pointing words of languages other than English.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ingest.text import terms

from .questions import Message, check_history

_FOLLOW_UP_MAX_TERMS = 6  # a longer question stands on its own
_LEAD_IN = re.compile(r"^\s*(?:standalone question|rewritten question|question)\s*:\s*", re.I)
# Openings and pronouns by which a short question leans on the conversation before it.
_REFERRING = re.compile(
    r"^\s*(and|but|also|so|what about|how about)\b"
    r"|\b(it|its|they|them|their|this|that|these|those|he|she|him|her|there)\b",
    re.IGNORECASE,
)


def turns(history: Sequence[Message] | None) -> list[Message]:
    """The conversation's user and assistant messages with text; anything else is dropped,
    and what is not a list of messages is a ValueError (``questions.check_history``)."""
    return check_history(history)


def leans_on(question: str, history: Sequence[Message]) -> bool:
    """The question needs the conversation to be understood: there is one, the question is
    short and has a word that points back."""
    if not any(m.get("role") == "user" for m in history):
        return False
    return len(set(terms(question))) <= _FOLLOW_UP_MAX_TERMS and bool(_REFERRING.search(question))


def accepted_rewrite(reply: str, question: str, limit: int) -> str | None:
    """The model's rewrite of ``question`` when it is one question (its first line, ending in
    a question mark) that keeps all of the question's own words; else None."""
    lines = [line.strip() for line in reply.strip().splitlines() if line.strip()]
    if not lines:
        return None
    rewritten = _LEAD_IN.sub("", lines[0]).strip().strip("\"'“”").strip()
    if not rewritten.endswith(("?", "？")) or len(rewritten) > limit:
        return None
    return rewritten if set(terms(question)) <= set(terms(rewritten)) else None


def standalone_question(question: str, history: Sequence[Message]) -> str:
    """Without an LLM to rewrite follow-ups, prefix a short referring question with the last one.

    "What about Australia?" after "How much did Japan invest?" searches for both; a question
    that does not lean on the conversation is searched as it is.
    """
    if not leans_on(question, history):
        return question
    previous = [m["content"] for m in history if m.get("role") == "user" and m.get("content")]
    return f"{previous[-1]} {question}" if previous else question
