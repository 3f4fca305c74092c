"""The local model's queue: first come, first served, each waiter seeing its place."""

from __future__ import annotations

import threading
import time

import pytest

from qa.faults import Deadline, LLMUnavailable
from qa.local.model_queue import ModelQueue


def _hold(queue: ModelQueue, started: threading.Event, release: threading.Event) -> None:
    for _ in queue.wait(Deadline(30)):
        pass
    started.set()
    release.wait(30)
    queue.leave()


def test_waiters_are_served_in_order_and_see_how_many_are_ahead() -> None:
    queue = ModelQueue(slots=1)
    first_in, first_out = threading.Event(), threading.Event()
    threading.Thread(target=_hold, args=(queue, first_in, first_out), daemon=True).start()
    assert first_in.wait(5)

    order: list[str] = []
    places: dict[str, list[int]] = {"b": [], "c": []}

    def wait(name: str) -> None:
        for ahead in queue.wait(Deadline(30)):
            places[name].append(ahead)
        order.append(name)
        queue.leave()

    b = threading.Thread(target=wait, args=("b",))
    b.start()
    while queue.busy < 2:
        time.sleep(0.01)
    c = threading.Thread(target=wait, args=("c",))
    c.start()
    while queue.busy < 3:
        time.sleep(0.01)
    time.sleep(0.3)  # both have looked at their place at least once
    assert order == []  # the first holds the model: nobody else is served
    first_out.set()
    b.join(5)
    c.join(5)
    assert order == ["b", "c"]
    assert places["b"][0] == 1 and places["c"][0] == 2  # one, then two questions ahead
    assert places["c"] == sorted(set(places["c"]), reverse=True)  # only ever closer
    assert queue.busy == 0


def test_a_waiter_gives_up_at_its_deadline_and_leaves_the_queue() -> None:
    queue = ModelQueue(slots=1)
    held, release = threading.Event(), threading.Event()
    threading.Thread(target=_hold, args=(queue, held, release), daemon=True).start()
    assert held.wait(5)
    began = time.monotonic()
    with pytest.raises(LLMUnavailable, match=r"busy with 1 other question for 0\.5 s"):
        for _ in queue.wait(Deadline(0.5)):
            pass
    assert 0.45 < time.monotonic() - began < 2
    assert queue.busy == 1  # only the holder: the one who gave up is gone
    release.set()


def test_a_waiter_that_stops_listening_leaves_the_queue() -> None:
    queue = ModelQueue(slots=1)
    held, release = threading.Event(), threading.Event()
    threading.Thread(target=_hold, args=(queue, held, release), daemon=True).start()
    assert held.wait(5)
    waiting = queue.wait(Deadline(30))
    assert next(waiting) == 1
    assert queue.busy == 2
    waiting.close()  # the page's stop button closes the answer's generator
    assert queue.busy == 1
    release.set()
    for _ in queue.wait(Deadline(5)):
        pass
    queue.leave()
