"""The local model's server: one llama-cpp-python process on 127.0.0.1, supervised.

Why a child process and not llama-cpp in ours: the model then runs behind the same
OpenAI-compatible path as any other endpoint (streaming, deadlines, retries and their tests),
and whatever happens to it — a file that makes llama.cpp abort, the kernel killing it for
memory, a generation that will not stop — ends that process, never the chat page or the
caller; the next question starts it again and this one gets the quoted answer with a notice.
The price is a second process (~1 s to start, overlapping our own start-up) and a port.

The listening socket is ours: bound once on 127.0.0.1, handed to each child, so the address
never changes and no other program can take it. Each request carries a random key, so other
users of the machine cannot use the model. The child exits when we do (it watches its stdin).
Not handled: sharing one model process between several of our processes (each loads its own).
"""

from __future__ import annotations

import collections
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..faults import LLMUnavailable

_SCRIPT = Path(__file__).with_name("serve_model.py")
_EXCEPTION = re.compile(r"^[\w.]*(?:Error|Exception|Exit)\b.*:")
_STDERR_LINES = 40  # kept from the child, for the reason it gives when it fails
_RETRY_LOAD_AFTER = 60.0  # seconds before a model that failed to load is tried again
_MEMORY_MARGIN = 400 * 1024 * 1024  # bytes beyond the file: context, buffers, the process


@dataclass(frozen=True)
class ServerConfig:
    alias: str  # the model name requests carry
    threads: int
    n_ctx: int
    n_batch: int
    chat_format: str | None = None


class ModelServer:
    """Starts the model's process on demand and restarts it when it has died.

    ``model_file`` is called when the process is first needed: assembling and verifying the
    file is part of starting, and its failure is a reason like any other.
    """

    def __init__(self, model_file: Callable[[], Path], config: ServerConfig):
        self._model_file = model_file
        self.config = config
        self.key = secrets.token_urlsafe(24)
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = self._listener.getsockname()[1]
        self._proc: subprocess.Popen[bytes] | None = None
        self._ready = threading.Event()
        self._stderr: collections.deque[str] = collections.deque(maxlen=_STDERR_LINES)
        self._failure: tuple[float, str] | None = None  # (when, why) the last start failed
        self._lock = threading.Lock()
        self.starts = 0  # processes started (a restart after a crash counts)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    @property
    def is_ready(self) -> bool:
        proc = self._proc
        return proc is not None and proc.poll() is None and self._ready.is_set()

    def start(self) -> None:
        """Begin loading in the background (returns at once); ``ready`` waits for it."""
        with self._lock:
            self._start_locked()

    def ready(self, timeout: float) -> None:
        """Return when the model answers requests; ``LLMUnavailable`` saying why it cannot."""
        with self._lock:
            self._start_locked()
            proc = self._proc
        if proc is None:
            assert self._failure is not None
            raise LLMUnavailable(self._failure[1])
        end = time.monotonic() + timeout
        while not self._ready.wait(min(0.05, max(0.0, end - time.monotonic()))):
            if proc.poll() is not None:
                raise LLMUnavailable(self._died(proc))
            if time.monotonic() >= end:
                raise LLMUnavailable(f"the local model did not load within {timeout:g} s")
        if proc.poll() is not None:
            raise LLMUnavailable(self._died(proc))

    def describe_exit(self, wait: float = 0.0) -> str | None:
        """Why the process is gone, when it is (for a notice after a failed request); ``wait``
        seconds for it to finish dying (its connections close a moment before it can be
        reaped)."""
        proc = self._proc
        if proc is None:
            return None
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            return None
        return self._died(proc)

    def close(self) -> None:
        with self._lock:
            proc, self._proc = self._proc, None
            if proc is not None:
                _stop(proc)
            self._listener.close()

    def __enter__(self) -> ModelServer:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _start_locked(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            return  # running (or loading)
        if self._failure and time.monotonic() - self._failure[0] < _RETRY_LOAD_AFTER:
            return  # failed a moment ago: the same reason holds
        self._failure = None
        if self._proc is not None:
            _stop(self._proc)  # gone already: its pipe is closed, its status collected
        self._proc = None
        try:
            path = self._model_file()
            _check_memory(path)
        except (OSError, RuntimeError) as err:
            self._failure = (time.monotonic(), f"the local model cannot be used: {err}")
            return
        self._ready.clear()
        self._stderr.clear()
        config = {
            "model": str(path),
            "alias": self.config.alias,
            "n_ctx": self.config.n_ctx,
            "n_batch": self.config.n_batch,
            "n_threads": self.config.threads,
            "chat_format": self.config.chat_format,
            "fd": self._listener.fileno(),
        }
        # subtle: llama.cpp's OpenMP threads spin while they wait for each other; on cores
        # shared with other work (the embedding model, other users) a preempted spinner stalls
        # the rest: 2 threads wrote 0.6 tokens/s on a loaded machine, 5.1 once they sleep.
        env = {"OMP_WAIT_POLICY": "PASSIVE", **os.environ, "QA_MODEL_SERVER_KEY": self.key}
        self._proc = subprocess.Popen(
            # -P: the script's folder is not put on sys.path (its modules are not libraries)
            [sys.executable, "-P", str(_SCRIPT), json.dumps(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=(self._listener.fileno(),),
            env=env,
        )
        self.starts += 1
        proc = self._proc
        threading.Thread(target=self._watch_stdout, args=(proc,), daemon=True).start()
        threading.Thread(target=self._watch_stderr, args=(proc,), daemon=True).start()

    def _watch_stdout(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        with proc.stdout:  # closed at EOF: the process has gone
            for line in proc.stdout:
                if line.strip() == b"ready" and proc is self._proc:
                    self._ready.set()

    def _watch_stderr(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stderr is not None
        with proc.stderr:
            for line in proc.stderr:
                text = line.decode(errors="replace").rstrip()
                if text and proc is self._proc:
                    self._stderr.append(text)

    def _died(self, proc: subprocess.Popen[bytes]) -> str:
        code = proc.wait()
        if not self._ready.is_set():  # it never loaded: keep the reason for a while
            reason = f"the local model failed to load ({_last_error(self._stderr, code)})"
            with self._lock:
                if self._proc is proc:
                    self._failure = (time.monotonic(), reason)
            return reason
        if code < 0:
            how = "killed, perhaps for lack of memory" if code == -9 else f"signal {-code}"
            return f"the local model's process stopped ({how}); it restarts with the next question"
        return f"the local model's process exited ({_last_error(self._stderr, code)})"


def _last_error(lines: collections.deque[str], code: int) -> str:
    """The child's last exception, e.g. 'ValueError: Failed to load model from file: …'."""
    for line in reversed(lines):
        if _EXCEPTION.match(line):
            return line.strip()[:300]
    for line in reversed(lines):
        if "error" in line.lower():
            return line.strip()[:300]
    return f"exit status {code}"


def _check_memory(path: Path) -> None:
    """Refuse to start when the machine lacks the memory to hold the model."""
    needed = path.stat().st_size + _MEMORY_MARGIN
    available = _available_memory()
    if available is not None and available < needed:
        raise RuntimeError(
            f"it needs about {needed / 2**30:.1f} GiB of memory and {available / 2**30:.1f} GiB "
            "is available"
        )


def _available_memory() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.stdin and not proc.stdin.closed:
        proc.stdin.close()  # the child exits on EOF
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
