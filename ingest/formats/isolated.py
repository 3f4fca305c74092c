"""Reading PDF, HTML and DOCX in a child process with bounded memory and time.

A 200 KB file can expand to gigabytes inside a parser (a zip bomb in a DOCX, a page of a
billion nested elements, a PDF whose streams inflate a thousandfold). The format readers
refuse what they can see coming before they expand it (``word``, ``web``, ``pdf``); this is
the bound on everything else. Each of those files is read by a worker process whose address
space is capped (``RLIMIT_AS``: its size after loading the parsers plus ``memory_mb``) and
whose every read has ``timeout`` seconds. A file that needs more, or crashes the parser, is a
LoadError with the reason, and the worker is replaced, so the memory comes back: the process
that ingests (the chat server, for uploads) never holds a parser's tree. The worker also
restarts when a good but large file left it big, and ends with the ``Reader``.

Text and Markdown are read in this process: decoding grows a file at most fourfold and their
front matter is bounded (``plain``). Not handled: Windows (the replies are awaited with
``poll`` on a pipe, and the cap is ``RLIMIT_AS``; both are POSIX only).

The worker is started without ``ingest/__init__`` (which loads the index and the model): it
imports ``ingest.formats`` alone, and the messages are length-prefixed JSON, never pickles.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

from . import TEXT_SUFFIXES, extract
from .base import Extracted, LoadError

_LENGTH = struct.Struct("!Q")
_RECYCLE_GROWTH = 256 * 2**20  # a worker this much bigger than when it started is replaced
# Imports ingest.formats without running ingest/__init__ (see the module docstring).
_BOOT = (
    "import sys, types; pkg = types.ModuleType('ingest'); pkg.__path__ = [sys.argv[1]]; "
    "sys.modules['ingest'] = pkg; from ingest.formats.isolated import serve; "
    "serve(int(sys.argv[2]))"
)


class Reader:
    """Reads files as ``formats.extract`` does, the risky formats in a bounded worker."""

    def __init__(self, memory_mb: float = 2048, timeout: float = 300):
        self.memory = int(memory_mb * 2**20)
        self.timeout = timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None  # the worker's, kept to say why it failed
        self._started_rss = 0

    def extract(self, suffix: str, data: bytes, max_bytes: int) -> Extracted:
        if suffix in TEXT_SUFFIXES:
            return extract(suffix, data, max_bytes)
        proc = self._worker()
        assert proc.stdin is not None and proc.stdout is not None
        header = json.dumps(
            {
                "suffix": suffix,
                "max_bytes": max_bytes,
                "size": len(data),
                "cpu": int(self.timeout) + 30,
            }
        )
        try:
            _send(proc.stdin, header.encode())
            proc.stdin.write(data)
            proc.stdin.flush()
            reply = json.loads(_receive(proc.stdout, time.monotonic() + self.timeout))
        except TimeoutError:
            self.close()
            raise LoadError(
                f"reading it took longer than {self.timeout:g} s (QA_PARSE_TIMEOUT); "
                "a file built to exhaust the parser?"
            ) from None
        except (OSError, EOFError, ValueError):
            code = self._stop()
            raise LoadError(self._crash_reason(code)) from None
        if reply.get("memory") or reply.get("rss", 0) > self._started_rss + _RECYCLE_GROWTH:
            self.close()  # the memory of a big file comes back now, not at the end
        if "error" in reply:
            raise LoadError(str(reply["error"]))
        got = reply["ok"]
        return Extracted(
            got["text"],
            got["title"],
            got["content_start"],
            got["metadata"],
            tuple((a, b) for a, b in got["pages"]),
        )

    def _crash_reason(self, code: int | None) -> str:
        if code is not None and code < 0:
            how = f"was killed by signal {-code}"
        else:
            how = f"stopped (exit status {code})"
        return (
            f"the parser {how} while reading it: it may need more than "
            f"{self.memory / 2**20:g} MB of memory (QA_PARSE_MEMORY_MB)"
        )

    def _worker(self) -> subprocess.Popen[bytes]:
        if self._proc is None or self._proc.poll() is not None:
            self._stop()
            package = Path(__file__).resolve().parent.parent
            # A file, not a pipe: a parser's warnings must never fill it and block the worker.
            self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed in _stop)
            self._proc = subprocess.Popen(
                [sys.executable, "-c", _BOOT, str(package), str(self.memory)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._stderr,
                env={**os.environ, "PYTHONSAFEPATH": "1"},
            )
            assert self._proc.stdout is not None
            try:
                hello = json.loads(_receive(self._proc.stdout, time.monotonic() + 120))
            except (OSError, EOFError, ValueError, TimeoutError):
                said = self._said()
                code = self._stop()
                raise LoadError(
                    f"the file reader could not start (exit status {code})"
                    + (f": {said}" if said else "")
                ) from None
            self._started_rss = int(hello["rss"])
        return self._proc

    def _said(self, limit: int = 2000) -> str:
        """The end of what the worker wrote to stderr (a traceback's last lines)."""
        if self._stderr is None:
            return ""
        with contextlib.suppress(OSError):
            self._stderr.flush()
            size = self._stderr.seek(0, os.SEEK_END)
            self._stderr.seek(max(0, size - limit))
            return self._stderr.read().decode("utf-8", "replace").strip()
        return ""

    def _stop(self) -> int | None:
        proc, self._proc = self._proc, None
        stderr, self._stderr = self._stderr, None
        if stderr is not None:
            stderr.close()
        if proc is None:
            return None
        if proc.poll() is None:
            proc.kill()
        code = proc.wait()
        for pipe in (proc.stdin, proc.stdout):
            with contextlib.suppress(OSError):
                if pipe is not None:
                    pipe.close()
        return code

    def close(self) -> None:
        self._stop()

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_isolated(suffix: str, data: bytes, max_bytes: int, **limits: Any) -> Extracted:
    """One file read as ``Reader`` reads it, with a worker of its own."""
    with Reader(**limits) as reader:
        return reader.extract(suffix, data, max_bytes)


def _send(out: IO[bytes], payload: bytes) -> None:
    out.write(_LENGTH.pack(len(payload)))
    out.write(payload)


def _receive(stream: IO[bytes], deadline: float) -> bytes:
    """One length-prefixed message; TimeoutError past ``deadline``, EOFError when the other
    side is gone."""
    fd = stream.fileno()
    # poll, not select: select fails on descriptors past 1023, and a long-lived process (the
    # chat server, a test session) may well hold that many files when it starts a worker.
    waiting = select.poll()
    waiting.register(fd, select.POLLIN)
    buffer = bytearray()
    need = _LENGTH.size
    length: int | None = None
    while True:
        while len(buffer) < need:
            left = deadline - time.monotonic()
            if left <= 0 or not waiting.poll(left * 1000):
                raise TimeoutError
            chunk = os.read(fd, min(need - len(buffer), 1 << 20))
            if not chunk:
                raise EOFError
            buffer += chunk
        if length is not None:
            return bytes(buffer[_LENGTH.size :])
        (length,) = _LENGTH.unpack(buffer[: _LENGTH.size])
        need = _LENGTH.size + length


# The worker's side.


def serve(memory: int) -> None:
    """Read requests from stdin until it closes: a header, then the file's bytes."""
    from . import pdf, plain, web, word  # noqa: F401 (loaded before the cap is measured)

    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a parser that prints must not corrupt the replies
    _cap_memory(memory)
    _reply(stdout, {"rss": _rss()})
    while True:
        size = stdin.read(_LENGTH.size)
        if len(size) < _LENGTH.size:
            return  # the parent is done (or gone)
        (length,) = _LENGTH.unpack(size)
        header = json.loads(stdin.read(length))
        data = stdin.read(header["size"])
        _cap_cpu(header["cpu"])
        reply = _read(header["suffix"], data, header["max_bytes"], memory)
        del data
        _reply(stdout, {**reply, "rss": _rss()})


def _read(suffix: str, data: bytes, max_bytes: int, memory: int) -> dict[str, Any]:
    too_big = (
        f"reading it needs more than {memory / 2**20:g} MB of memory (QA_PARSE_MEMORY_MB): "
        "a decompression bomb?"
    )
    try:
        got = extract(suffix, data, max_bytes)
    except MemoryError:
        return {"error": too_big, "memory": True}
    except LoadError as err:
        # subtle: short of memory, libxml2 fails quietly and the parsers blame the file
        # ("no main text", "XPathEvalError"); the worker's peak says what really happened.
        if _hit_cap():
            return {"error": too_big, "memory": True}
        return {"error": str(err)}
    return {
        "ok": {
            "text": got.text,
            "title": got.title,
            "content_start": got.content_start,
            "metadata": got.metadata,
            "pages": got.pages,
        },
        "memory": _hit_cap(),  # a worker that came close is replaced
    }


def _reply(out: IO[bytes], message: dict[str, Any]) -> None:
    _send(out, json.dumps(message, ensure_ascii=False).encode("utf-8", "surrogatepass"))
    out.flush()


def _rss() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


_cap = 0  # the worker's address-space limit, bytes (0: none)
_CAP_MARGIN = 64 * 2**20  # a peak this close to the cap means the cap was hit


def _hit_cap() -> bool:
    """Whether this worker's address space ever came within reach of its cap."""
    if not _cap:
        return False
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmPeak:"):
                    return int(line.split()[1]) * 1024 >= _cap - _CAP_MARGIN
    except (OSError, ValueError, IndexError):
        pass
    return False


def _cap_memory(memory: int) -> None:
    global _cap
    try:
        import resource
    except ImportError:  # not POSIX
        return
    try:
        with open("/proc/self/statm") as f:
            size = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        size = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    limit = size + memory
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    _cap = limit


def _cap_cpu(seconds: int) -> None:
    """A worker left behind by a killed parent stops by itself: a read gets so much CPU."""
    try:
        import resource
    except ImportError:  # not POSIX
        return
    used = resource.getrusage(resource.RUSAGE_SELF)
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    limit = int(used.ru_utime + used.ru_stime) + seconds
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (limit, hard))
