"""Slowing down password guessing at the login (``QA_AUTH``).

Gradio answers every login at once, so a script could try thousands of passwords a minute.
Here each client address may try ``FREE_ATTEMPTS`` times freely; after that, each attempt
must wait twice as long as the one before (1 s, 2 s, 4 s ... at most ``MAX_DELAY``), and one
that comes early is answered 429 with ``Retry-After``, without checking the password. An
attempt counts when it arrives (so guesses sent all at once do not slip through together);
a successful login starts over, and failures are forgotten after ``FORGET_AFTER``. Nobody is
locked out for good: the right user waits at most ``MAX_DELAY`` for the next try.

Not handled: behind a reverse proxy every client has the proxy's address, so they share one
count (the proxy's own rate limits are the place for more).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

FREE_ATTEMPTS = 3
MAX_DELAY = 60  # seconds
FORGET_AFTER = 15 * 60  # seconds after the last attempt
_MAX_CLIENTS = 10_000  # clients remembered at once: past this, the oldest are forgotten
_LOGIN_PATHS = frozenset({"/login", "/login/"})

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass
class _Count:
    attempts: int
    last: float  # when the last attempt came
    next_at: float  # when the next one may come


class Attempts:
    """Login attempts per client, and how long each must wait for its next one."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._counts: dict[str, _Count] = {}

    def wait(self, client: str) -> float:
        """Seconds until ``client`` may try again (0: now)."""
        count = self._current(client)
        return 0.0 if count is None else max(0.0, count.next_at - self._clock())

    def start(self, client: str) -> None:
        """An attempt is let through: count it now, as if it fails."""
        now = self._clock()
        count = self._current(client) or _Count(0, now, now)
        count.attempts += 1
        count.last = now
        extra = count.attempts - FREE_ATTEMPTS
        count.next_at = now + (0 if extra < 0 else min(2**extra, MAX_DELAY))
        self._counts.pop(client, None)
        self._counts[client] = count  # most recent last
        while len(self._counts) > _MAX_CLIENTS:
            del self._counts[next(iter(self._counts))]

    def succeeded(self, client: str) -> None:
        self._counts.pop(client, None)

    def _current(self, client: str) -> _Count | None:
        count = self._counts.get(client)
        if count is not None and self._clock() - count.last > FORGET_AFTER:
            del self._counts[client]
            return None
        return count


class LoginThrottle:
    """ASGI middleware in front of Gradio's ``POST /login``: see the module docstring."""

    def __init__(self, app: ASGIApp, attempts: Attempts | None = None):
        self.app = app
        self.attempts = attempts or Attempts()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope.get("method") != "POST"
            or scope.get("path", "").removeprefix(scope.get("root_path", "")) not in _LOGIN_PATHS
        ):
            await self.app(scope, receive, send)
            return
        client = (scope.get("client") or ("unknown", 0))[0]
        wait = self.attempts.wait(client)
        if wait > 0:
            await _too_many(send, math.ceil(wait))
            return
        self.attempts.start(client)

        async def watched(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 200:
                self.attempts.succeeded(client)
            await send(message)

        await self.app(scope, receive, watched)


async def _too_many(send: Send, seconds: int) -> None:
    body = json.dumps(
        {"detail": f"too many failed logins from this address: try again in {seconds} s"}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 429,
            "headers": [
                (b"content-type", b"application/json"),
                (b"retry-after", str(seconds).encode()),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
