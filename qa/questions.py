"""What a question and its conversation must be before anything is searched.

A question is text (``str``), not empty, at most ``limit`` characters, and encodable: a lone
surrogate (``"\\ud800"``, or the escaped byte of a command-line argument that is not UTF-8)
cannot reach the tokenizer, the index or the model, so it is refused here with the reason.
A history is a list of ``{"role", "content"}`` messages; messages of other roles, or without
text, are dropped (a chat log may carry system messages), anything that is not a message is
refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

Message = dict[str, str]  # {"role": "user" | "assistant", "content": str}

_SURROGATE = re.compile("[\ud800-\udfff]")
_MESSAGE = '{"role": "user"|"assistant", "content": str}'


def check_question(question: object, limit: int) -> str:
    """The question, stripped; ValueError with the reason when it cannot be asked."""
    if question is None or (isinstance(question, str) and not question.strip()):
        raise ValueError("the question is empty: ask something about the documents")
    if not isinstance(question, str):
        raise ValueError(f"the question must be text (str), not {type(question).__name__}")
    question = question.strip()
    if len(question) > limit:
        raise ValueError(
            f"the question is {len(question)} characters long; the limit is {limit} "
            "(QA_MAX_QUESTION_CHARS)"
        )
    check_text(question, "the question")
    return question


def check_text(text: str, what: str) -> None:
    """ValueError when ``text`` holds a lone surrogate, which no encoding can carry."""
    bad = _SURROGATE.search(text)
    if bad is not None:
        raise ValueError(
            f"{what} is not valid Unicode text: character {bad.start() + 1} is a lone "
            f"surrogate (U+{ord(bad.group()):04X}); send the text as UTF-8"
        )


def check_history(history: object) -> list[Message]:
    """The conversation's user and assistant messages with text (others are dropped);
    ValueError when ``history`` is not a list of messages."""
    if history is None:
        return []
    if not isinstance(history, list | tuple):
        raise ValueError(
            f"history must be a list of {_MESSAGE} messages, not {type(history).__name__}"
        )
    turns: list[Message] = []
    for n, m in enumerate(history):
        if not isinstance(m, Mapping):
            raise ValueError(f"history[{n}] is not a message {_MESSAGE}: {type(m).__name__}")
        role, content = m.get("role"), m.get("content")
        if role in ("user", "assistant") and isinstance(content, str) and content.strip():
            check_text(content, f"history[{n}]")
            turns.append({"role": role, "content": content})
    return turns
