"""The conversation a question comes with: its turns, and follow-ups made to stand alone.

Without a model to rewrite a follow-up, a short question that leans on the one before
("What about Australia?") is searched together with it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ingest.text import terms

from .questions import Message, check_history

_FOLLOW_UP_MAX_TERMS = 6  # a longer question stands on its own
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


def standalone_question(question: str, history: Sequence[Message]) -> str:
    """Without an LLM to rewrite follow-ups, prefix a short referring question with the last one.

    "What about Australia?" after "How much did Japan invest?" searches for both; a question
    that does not lean on the conversation is searched as it is.
    """
    if len(set(terms(question))) > _FOLLOW_UP_MAX_TERMS or not _REFERRING.search(question):
        return question
    previous = [m["content"] for m in history if m.get("role") == "user" and m.get("content")]
    return f"{previous[-1]} {question}" if previous else question
