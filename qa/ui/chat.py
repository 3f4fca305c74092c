"""The chat's event handlers: asking (streamed), clearing, and rating an answer.

A session's conversation is a list of ``Turn`` (held by the page's ``gr.State``); what the chat
and the source panel show is drawn from it, never read back from the page.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import closing
from typing import Any

import gradio as gr

from ingest.store import IndexMismatchError, IndexNotFoundError

from ..assistant import Assistant, Message
from ..feedback import FeedbackLog, feedback_case
from ..types import Answer, Retrieved, Status
from .render import (
    Turn,
    answer_html,
    error_html,
    found_html,
    pending_html,
    question_html,
    sources_html,
)

ChatMessages = list[dict[str, str]]


def messages(turns: Sequence[Turn], pending: tuple[str, str, str] | None = None) -> ChatMessages:
    """The chat's messages: two per turn (question, answer), then the one being answered
    (``pending``: its question, the text so far, and what the assistant is doing)."""
    out: ChatMessages = []
    for number, t in enumerate(turns, 1):
        out.append({"role": "user", "content": question_html(t.question)})
        shown = answer_html(number, t.question, t.answer) if t.answer else error_html(t.error)
        out.append({"role": "assistant", "content": shown})
    if pending is not None:
        question, shown, status = pending
        out.append({"role": "user", "content": question_html(question)})
        out.append({"role": "assistant", "content": pending_html(shown, status)})
    return out


def history(turns: Sequence[Turn]) -> list[Message]:
    """The conversation as the assistant takes it: questions and the answers' plain text."""
    out: list[Message] = []
    for t in turns:
        if t.answer is not None:
            out.append({"role": "user", "content": t.question})
            out.append({"role": "assistant", "content": t.answer.text})
    return out


# chat messages, source panel, turns, question box, the question being answered
Update = tuple[Any, Any, Any, Any, Any]
STOPPED = "Stopped before the answer was complete."


class Stops:
    """The stop button's word to the answer its session is streaming.

    Gradio's cancel only stops reading an answer's generator: left suspended, it would keep
    the model's stream open (and its turn at the local model) until garbage collection. So
    the answer looks here after each part and, when stopped, closes its stream at once.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flags: dict[str, threading.Event] = {}

    def start(self, session: str) -> threading.Event:
        with self._lock:
            flag = self._flags[session] = threading.Event()
        return flag

    def stop(self, session: str) -> None:
        with self._lock:
            flag = self._flags.pop(session, None)
        if flag is not None:
            flag.set()

    def end(self, session: str, flag: threading.Event) -> None:
        with self._lock:
            if self._flags.get(session) is flag:
                del self._flags[session]


def respond(
    assistant: Assistant,
    question: str,
    turns: list[Turn],
    mode: str,
    passages: float,
    stop: threading.Event | None = None,
) -> Iterator[Update]:
    """The answer as it streams (what the assistant is doing, the text, a cursor), then
    rendered with its sources. Once ``stop`` is set (the stop button, see ``Stops``) the
    model's stream is closed and the chat is left as ``stopped`` draws it."""
    turns = list(turns)
    before = history(turns)
    turn = Turn(uuid.uuid4().hex[:16], (question or "").strip(), before)
    skip = gr.skip()
    yield messages(turns, (turn.question, "", "")), skip, skip, "", turn.question
    try:
        chosen = assistant.configured(mode, int(passages))
        shown = ""
        with closing(chosen.events(question, history=before)) as parts:
            for part in parts:
                if stop is not None and stop.is_set():
                    break
                if isinstance(part, Answer):
                    turn.answer = part
                    continue
                if isinstance(part, Retrieved):  # the sources panel shows them at once
                    found = found_html(turns, turn.question, part.passages)
                    yield messages(turns, (turn.question, shown, "")), found, skip, skip, skip
                    continue
                if isinstance(part, Status):
                    pending = (turn.question, shown, part.text)
                else:
                    shown += part
                    pending = (turn.question, shown, "")
                yield messages(turns, pending), skip, skip, skip, skip
    except (ValueError, IndexNotFoundError, IndexMismatchError) as err:
        turn.error = str(err)
    if stop is not None and stop.is_set():
        # The stream is closed. Gradio may still show this generator's last update after
        # the stop button's: make that the same stopped chat.
        yield stopped(turns, turn.question)
        return
    turns.append(turn)
    yield messages(turns), sources_html(turns), turns, skip, ""


def stopped(turns: list[Turn], asking: str) -> tuple[Any, Any, Any, Any, Any]:
    """The chat after the stop button: the question kept, with a note instead of an answer."""
    if not asking:
        return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
    turns = [*turns, Turn(uuid.uuid4().hex[:16], asking, history(turns), error=STOPPED)]
    return messages(turns), sources_html(turns), turns, gr.skip(), ""


def clear() -> Update:
    return [], sources_html([]), [], "", ""


def rate(log: FeedbackLog, turns: Sequence[Turn], data: gr.LikeData) -> None:
    """Keep a thumbs up or down as an evaluation case (see qa/feedback.py)."""
    index = data.index if isinstance(data.index, int) else data.index[0]
    number = index // 2  # two messages a turn
    if not 0 <= number < len(turns) or turns[number].answer is None:
        return
    turn = turns[number]
    answer = turn.answer
    assert answer is not None
    if data.liked is True or data.liked is False:
        log.put(feedback_case(turn.id, turn.question, turn.history, answer, data.liked))
        gr.Info("Thanks: your rating is kept as a test case.")
    else:  # the rating was withdrawn
        log.remove(turn.id)
