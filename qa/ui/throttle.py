"""Slowing down password guessing at the login (``QA_AUTH``).

Gradio answers every login at once, so a script could try thousands of passwords a minute.
Here each client address may try ``FREE_ATTEMPTS`` times freely; after that, each attempt
must wait twice as long as the one before (1 s, 2 s, 4 s ... at most ``MAX_DELAY``), and one
that comes early is answered 429 with ``Retry-After``, without checking the password. The
checks run one at a time (each takes a few milliseconds, once its form has arrived), so
guesses sent all at once are judged in turn and cannot slip through together, while many
right logins at once (a load test's sessions) all get in. A successful login starts over,
and failures are forgotten after ``FORGET_AFTER``. Nobody is locked out for good: the right
user waits at most ``MAX_DELAY`` for the next try.

Not handled: behind a reverse proxy every client has the proxy's address, so they share one
count (the proxy's own rate limits are the place for more).
"""

from __future__ import annotations

import asyncio
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
_MAX_FORM = 64 * 1024  # bytes of a login form

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

    def failed(self, client: str) -> None:
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
        self._turn = asyncio.Lock()  # one check at a time

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope.get("method") != "POST"
            or scope.get("path", "").removeprefix(scope.get("root_path", "")) not in _LOGIN_PATHS
        ):
            await self.app(scope, receive, send)
            return
        # The form is read before taking a turn: a client sending it slowly holds up no one.
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            body += message.get("body", b"")
            more = bool(message.get("more_body"))
            if len(body) > _MAX_FORM:
                await _answer(send, 413, "the login form is too large")
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        status = 0

        async def watched(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        client = (scope.get("client") or ("unknown", 0))[0]
        async with self._turn:
            wait = self.attempts.wait(client)
            if wait > 0:
                seconds = math.ceil(wait)
                await _answer(
                    send,
                    429,
                    f"too many failed logins from this address: try again in {seconds} s",
                    [(b"retry-after", str(seconds).encode())],
                )
                return
            await self.app(scope, replay, watched)
            if status == 200:
                self.attempts.succeeded(client)
            else:
                self.attempts.failed(client)


async def _answer(
    send: Send, status: int, detail: str, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
