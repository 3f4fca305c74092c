"""A scripted OpenAI-compatible chat server on 127.0.0.1, for tests, benchmarks and demos.

    with LLMServer() as server:
        server.script(Reply("China controls about 70 percent [1]."), Status(500), Hang())
        ChatOpenAI(base_url=server.base_url, api_key="unused", model="scripted")

It serves ``POST /v1/chat/completions`` (a JSON reply, or server-sent events when the request
says ``"stream": true``) and ``GET /v1/models``. Each request takes the next scripted reply; a
reply may be a function of the request body. With the script empty, ``default`` answers (by
default ``grounded``: the evidence sentence sharing most words with the question, cited by its
id, or NOT_IN_DOCUMENTS). Every request is recorded with its timings (``time.perf_counter``).

By hand, for a demo (then point the chat at it, see README):

    python -m tests.llm_server [--port 8001] [--first-token-delay 0.3] [--chunk-delay 0.05]

Not handled: tools, images, n > 1, the Responses API.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass(frozen=True)
class Reply:
    """A 200 answer with ``text``; streamed in pieces of ``words_per_chunk`` words."""

    text: str
    first_token_delay: float = 0.0  # seconds before the first piece (the model "thinking")
    chunk_delay: float = 0.0  # seconds between pieces
    words_per_chunk: int = 2
    stall_after: int | None = None  # streaming: hang after this many pieces


@dataclass(frozen=True)
class Status:
    """An HTTP error such as 500, or 429 with ``headers={"Retry-After": "1"}``."""

    code: int
    headers: dict[str, str] = field(default_factory=dict)
    message: str = "scripted error"


@dataclass(frozen=True)
class Hang:
    """No reply at all: the request waits ``seconds`` (None: until the server stops)."""

    seconds: float | None = None


@dataclass(frozen=True)
class Malformed:
    """A 200 whose body (or first event) is not valid JSON."""


Scripted = Reply | Status | Hang | Malformed
Responder = Callable[[dict[str, Any]], Scripted]


@dataclass
class Request:
    body: dict[str, Any]
    received: float  # time.perf_counter() when the request arrived
    first_token: float | None = None  # when the first piece of text was sent
    done: float | None = None
    dropped: bool = False  # the client closed the stream before its end

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages", []))

    def content(self, role: str) -> str:
        """All messages of ``role``, joined."""
        return "\n".join(str(m.get("content", "")) for m in self.messages if m.get("role") == role)

    @property
    def model_ttft(self) -> float | None:
        """The server's own time to first token, in seconds."""
        return None if self.first_token is None else self.first_token - self.received


# ---- reading our prompts back (the answer prompt fences evidence rows as "[n] text") ----

_ROW = re.compile(r"^\[(\d+)\] (.*)$", re.M)


def last_user(body: dict[str, Any]) -> str:
    users = [m for m in body.get("messages", []) if m.get("role") == "user"]
    return str(users[-1].get("content", "")) if users else ""


def evidence_in(body: dict[str, Any]) -> dict[int, str]:
    """The numbered evidence rows of an answer request: {id: text}."""
    text = last_user(body)
    start, end = text.find("<<<EVIDENCE"), text.rfind("EVIDENCE>>>")
    if start < 0 or end < 0:
        return {}
    return {int(m.group(1)): m.group(2).strip() for m in _ROW.finditer(text[start:end])}


def question_in(body: dict[str, Any]) -> str:
    """The question of an answer request, or the last question of a condense request."""
    # The last one: the answer prompt states the question before the passages and after them.
    match = re.search(r".*(?:Last question|Question):\s*(.*)\Z", last_user(body), re.S)
    return match.group(1).strip() if match else ""


def is_condense(body: dict[str, Any]) -> bool:
    return "Last question:" in last_user(body)


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if len(w) > 3}


def grounded(body: dict[str, Any]) -> Scripted:
    """A stand-in model: quotes and cites the evidence row sharing most words with the
    question. A condense request gets the last question, with the previous one before it
    when it is short (and a question mark, as the rewrite must end with one)."""
    question = question_in(body)
    if is_condense(body):
        earlier = re.findall(r"^user: (.*)$", last_user(body), re.M)
        short = len(question.split()) < 8
        return Reply(f"{earlier[-1].rstrip('?')}: {question}" if earlier and short else question)
    best, where, overlap = "", 0, 0
    for n, text in evidence_in(body).items():
        shared = len(_words(text) & _words(question))
        if shared > overlap:
            best, where, overlap = text, n, shared
    return Reply(f"{best.rstrip('.')} [{where}]." if overlap >= 2 else "NOT_IN_DOCUMENTS")


# ---- the server ----


class LLMServer:
    """The scripted server, running in its own thread and event loop."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, default: Responder = grounded):
        self.default = default
        self._initial_default = default
        self.requests: list[Request] = []
        self._script: deque[Scripted | Responder] = deque()
        self._lock = threading.Lock()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self.host, self.port = self._sock.getsockname()[:2]
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self._stopping: asyncio.Event | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def script(self, *replies: Scripted | Responder) -> None:
        """Queue replies for the next requests, in order."""
        with self._lock:
            self._script.extend(replies)

    def reset(self) -> None:
        """Forget the script, the requests and any change of ``default``."""
        with self._lock:
            self._script.clear()
            self.requests.clear()
            self.default = self._initial_default

    def start(self) -> LLMServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
        self._sock.close()

    def __enter__(self) -> LLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _start(self) -> None:
        self._stopping = asyncio.Event()
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5, access_log=None)
        await self._runner.setup()
        await web.SockSite(self._runner, self._sock).start()

    async def _stop(self) -> None:
        assert self._stopping is not None and self._runner is not None
        self._stopping.set()  # releases hanging requests
        await self._runner.cleanup()

    async def _wait(self, seconds: float | None) -> None:
        assert self._stopping is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    def _next(self, body: dict[str, Any]) -> Scripted:
        with self._lock:
            reply = self._script.popleft() if self._script else self.default
        return reply(body) if callable(reply) else reply

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"object": "list", "data": [{"id": "scripted", "object": "model"}]}
        )

    async def _chat(self, http: web.Request) -> web.StreamResponse:
        received = time.perf_counter()
        try:
            body = await http.json()
        except ValueError:
            return web.json_response({"error": {"message": "body is not JSON"}}, status=400)
        record = Request(body=body, received=received)
        with self._lock:
            self.requests.append(record)
        reply = self._next(body)
        if isinstance(reply, Status):
            error = {"error": {"message": reply.message, "type": "scripted", "code": reply.code}}
            return web.json_response(error, status=reply.code, headers=reply.headers)
        if isinstance(reply, Hang):
            await self._wait(reply.seconds)
            return web.json_response({"error": {"message": "hung"}}, status=504)
        if body.get("stream"):
            return await self._stream(http, record, reply)
        if isinstance(reply, Malformed):
            return web.Response(text='{"choices": [{"message": ', content_type="application/json")
        await asyncio.sleep(reply.first_token_delay)
        record.first_token = record.done = time.perf_counter()
        return web.json_response(_completion(body, reply.text))

    async def _stream(
        self, http: web.Request, record: Request, reply: Scripted
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(http)
        model = str(record.body.get("model", "scripted"))
        try:
            if isinstance(reply, Malformed):
                await response.write(b'data: {"choices": [{"delta": \n\n')
                return response
            assert isinstance(reply, Reply)
            await response.write(_event(_chunk(model, {"role": "assistant", "content": ""})))
            await asyncio.sleep(reply.first_token_delay)
            for i, piece in enumerate(_pieces(reply.text, reply.words_per_chunk)):
                if reply.stall_after is not None and i == reply.stall_after:
                    await self._wait(None)
                    return response
                if i:
                    await asyncio.sleep(reply.chunk_delay)
                await response.write(_event(_chunk(model, {"content": piece})))
                if record.first_token is None:
                    record.first_token = time.perf_counter()
            await response.write(_event(_chunk(model, {}, finish="stop")))
            await response.write(b"data: [DONE]\n\n")
            record.done = time.perf_counter()
        except (ConnectionResetError, asyncio.CancelledError):
            record.dropped = True  # the client gave up (its deadline, a stop) or we stop
        return response


def _pieces(text: str, words: int) -> list[str]:
    tokens = re.findall(r"\S+\s*|\s+", text)
    return ["".join(tokens[i : i + words]) for i in range(0, len(tokens), max(1, words))] or [""]


def _completion(body: dict[str, Any], text: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-scripted",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": str(body.get("model", "scripted")),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }


def _chunk(model: str, delta: dict[str, str], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-scripted",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def _event(data: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(data)}\n\n".encode()


def main() -> None:
    parser = argparse.ArgumentParser(description="A scripted OpenAI-compatible chat server.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--first-token-delay", type=float, default=0.3, help="seconds")
    parser.add_argument("--chunk-delay", type=float, default=0.05, help="seconds between pieces")
    args = parser.parse_args()

    def paced(body: dict[str, Any]) -> Scripted:
        reply = grounded(body)
        if isinstance(reply, Reply):
            return Reply(reply.text, args.first_token_delay, args.chunk_delay)
        return reply

    server = LLMServer(args.host, args.port, default=paced).start()
    print(f"Scripted OpenAI-compatible server on {server.base_url} (Ctrl-C stops it). Try:")
    print(f"  OPENAI_BASE_URL={server.base_url} QA_LLM_MODEL=scripted make chat")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
