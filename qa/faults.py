"""Calling the model within a deadline: bounded retries with backoff, ``Retry-After`` honoured.

Each attempt runs in a worker thread that is read through a queue with a timeout, so a hung
server cannot hold the caller past the deadline, whatever the chat model. An abandoned worker
ends on its own: it stops at its next chunk, or on its HTTP timeout (the time that was left,
see ``llm.with_timeout``). Retried: timeouts, connection errors, 408/409/429 and 5xx, as the
OpenAI client itself would. A wait the deadline cannot afford is not waited: the caller falls
back at once.

Not handled: a failure after text has been streamed is not retried (the caller has shown that
text); it is reported like any other, and the caller falls back.
"""

from __future__ import annotations

import email.utils
import json
import queue
import random
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

_BACKOFF_FIRST = 0.5  # seconds before the first retry; doubled each time, with jitter
_BACKOFF_MAX = 8.0
_RETRY_AFTER_MAX = 60.0  # a server asking for longer is not waited for
_HTTP_GRACE = 0.5  # seconds


class LLMUnavailable(Exception):
    """The model gave no usable answer in time; ``reason`` says why in plain words."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Deadline:
    def __init__(self, seconds: float):
        self.seconds = seconds
        self.at = time.monotonic() + seconds

    def remaining(self) -> float:
        return self.at - time.monotonic()


class _Expired(Exception):
    pass


def retryable(err: BaseException) -> bool:
    if getattr(err, "is_retryable", False):  # LangChain's ModelError kinds say so themselves
        return True
    import openai  # here: an answer without an LLM need not load it (1 s of start-up)

    if isinstance(err, openai.APIConnectionError):  # includes timeouts
        return True
    if isinstance(err, openai.APIStatusError):
        return err.status_code in (408, 409, 429) or err.status_code >= 500
    return isinstance(err, TimeoutError | ConnectionError)


def lost_connection(err: BaseException | None) -> bool:
    """The server could not be reached, or dropped the connection (not a timeout)."""
    if err is None:
        return False
    import openai

    if isinstance(err, openai.APITimeoutError | TimeoutError):
        return False
    return isinstance(err, openai.APIConnectionError | ConnectionError)


def retry_after(err: BaseException) -> float | None:
    """Seconds the server asked us to wait (``retry-after-ms`` or ``Retry-After``), if any."""
    headers = getattr(getattr(err, "response", None), "headers", None)
    if headers is None:
        return None
    try:
        if headers.get("retry-after-ms"):
            return float(headers["retry-after-ms"]) / 1000
        value = headers.get("retry-after")
        if not value:
            return None
        try:
            return float(value)
        except ValueError:
            when = email.utils.parsedate_to_datetime(value)  # an HTTP date
            return when.timestamp() - time.time()
    except (TypeError, ValueError):
        return None


def describe(err: BaseException) -> str:
    """Why the model failed, for a notice a user can read."""
    import openai

    status = getattr(err, "status_code", None)
    if isinstance(err, openai.APITimeoutError | TimeoutError):
        return "it did not reply in time"
    if isinstance(err, openai.APIConnectionError | ConnectionError):
        return "its server could not be reached"
    if status == 429:
        return "it is rate-limited (HTTP 429)"
    if isinstance(status, int):
        return f"its server answered HTTP {status}"
    if isinstance(err, json.JSONDecodeError):
        return "its reply was not valid JSON"
    return f"it failed ({type(err).__name__})"


def _backoff(attempt: int) -> float:
    return min(_BACKOFF_MAX, _BACKOFF_FIRST * 2**attempt) * random.uniform(1.0, 1.25)


def _attempt(make: Callable[[float], Iterator[str]], deadline: Deadline) -> Iterator[str]:
    """One call in a worker thread; its chunks as they come, until the deadline."""
    chunks: queue.Queue[tuple[str, Any]] = queue.Queue()
    cancelled = threading.Event()

    def work() -> None:
        stream = None
        try:
            # A little longer than we wait, so that our deadline, not the HTTP timeout, ends it.
            stream = make(max(0.0, deadline.remaining()) + _HTTP_GRACE)
            for chunk in stream:
                if cancelled.is_set():
                    return
                chunks.put(("chunk", chunk))
            chunks.put(("done", None))
        except Exception as err:  # handed to the reader, who decides
            chunks.put(("error", err))
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()  # ends the HTTP response of a stream left early

    threading.Thread(target=work, name="llm-call", daemon=True).start()
    try:
        while True:
            try:
                kind, value = chunks.get(timeout=max(0.0, deadline.remaining()))
            except queue.Empty:
                raise _Expired from None
            if kind == "chunk":
                yield value
            elif kind == "done":
                return
            else:
                raise value
    finally:
        cancelled.set()


def within_deadline(
    make: Callable[[float], Iterator[str]], deadline: Deadline, retries: int
) -> Iterator[str]:
    """The text of ``make(timeout)``, retried on transient faults; else ``LLMUnavailable``."""
    for attempt in range(retries + 1):
        started = False
        try:
            for chunk in _attempt(make, deadline):
                started = True
                yield chunk
            return
        except _Expired:
            raise LLMUnavailable(f"it did not answer within {deadline.seconds:g} s") from None
        except Exception as err:
            if started or not retryable(err) or attempt == retries:
                raise LLMUnavailable(describe(err)) from err
            asked = retry_after(err)
            wait = max(0.0, asked) if asked is not None else _backoff(attempt)
            if wait > _RETRY_AFTER_MAX or wait >= deadline.remaining():
                raise LLMUnavailable(
                    f"{describe(err)}, and retrying would pass the {deadline.seconds:g} s limit"
                ) from err
            time.sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover
