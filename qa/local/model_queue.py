"""Questions take turns at a model that answers one at a time, first come, first served.

A model on two CPU cores writes one answer at a time; several at once would each be slower
and all late. So callers wait here, each able to see how many questions are ahead of it, and
give up when their deadline passes (their question is then answered from quotes).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator

from ..faults import Deadline, LLMUnavailable

_POLL = 0.25  # seconds between checks of a waiting caller's place


class ModelQueue:
    def __init__(self, slots: int = 1):
        self.slots = slots
        self._cond = threading.Condition()
        self._waiting: list[int] = []  # tickets, first come first
        self._serving = 0
        self._tickets = itertools.count()

    def wait(self, deadline: Deadline) -> Iterator[int]:
        """Yields the number of questions ahead whenever it changes (0 included) and ends
        when the caller holds a turn, which it must give back with ``leave``.

        ``LLMUnavailable`` when the deadline passes first; a caller that stops iterating
        (closes this generator) leaves the queue.
        """
        with self._cond:
            ticket = next(self._tickets)
            self._waiting.append(ticket)
        admitted = False
        try:
            shown = None
            while True:
                with self._cond:
                    place = self._waiting.index(ticket)
                    if place == 0 and self._serving < self.slots:
                        self._waiting.pop(0)
                        self._serving += 1
                        admitted = True
                        self._cond.notify_all()
                        return
                    ahead = place + self._serving
                if ahead != shown:
                    shown = ahead
                    yield ahead
                left = deadline.remaining()
                if left <= 0:
                    raise LLMUnavailable(
                        f"it was busy with {ahead} other question{'s' if ahead != 1 else ''} "
                        f"for {deadline.seconds:g} s"
                    )
                with self._cond:
                    self._cond.wait(min(_POLL, left))
        finally:
            if not admitted:
                with self._cond:
                    if ticket in self._waiting:
                        self._waiting.remove(ticket)
                    self._cond.notify_all()

    def leave(self) -> None:
        with self._cond:
            self._serving -= 1
            self._cond.notify_all()

    @property
    def busy(self) -> int:
        """Questions being answered or waiting."""
        with self._cond:
            return self._serving + len(self._waiting)
