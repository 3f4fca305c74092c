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
Before it serves, the child runs one real completion on a long prompt (``serve_model.py``). A
runtime that crashes there does not run on this CPU: the model is marked unusable, with a
reason a user can act on (what crashed, the CPU's features, the command that rebuilds the
runtime), and is not started again, in this process or, through a verdict file in the cache,
in later ones, until the runtime, the model file or the CPU changes.
Not handled: sharing one model process between several of our processes (each loads its own).
"""

from __future__ import annotations

import collections
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..faults import LLMUnavailable
from . import runtime

_SCRIPT = Path(__file__).with_name("serve_model.py")
_EXCEPTION = re.compile(r"^[\w.]*(?:Error|Exception|Exit)\b.*:")
_STDERR_LINES = 40  # kept from the child, for the reason it gives when it fails
_RETRY_LOAD_AFTER = 60.0  # seconds before a model that failed to load is tried again
_MEMORY_MARGIN = 400 * 1024 * 1024  # bytes beyond the file: context, buffers, the process
VERDICTS_FILE = "local-model-unusable.json"  # in the cache folder: {key: reason}


@dataclass(frozen=True)
class ServerConfig:
    alias: str  # the model name requests carry
    threads: int
    n_ctx: int
    n_batch: int
    chat_format: str | None = None
    system: str = ""  # the answer prompt's system message: the self-test leaves it cached


class ModelServer:
    """Starts the model's process on demand and restarts it when it has died.

    ``model_file`` is called when the process is first needed: assembling and verifying the
    file is part of starting, and its failure is a reason like any other.
    """

    def __init__(
        self,
        model_file: Callable[[], Path],
        config: ServerConfig,
        verdicts: Path | None = None,
        script: Path = _SCRIPT,
    ):
        """``verdicts``: where to remember a runtime that crashed on this CPU (a JSON file);
        ``script``: the child's program (a test's may crash on purpose)."""
        self._model_file = model_file
        self.config = config
        self._verdicts = verdicts
        self._script = script
        self.key = secrets.token_urlsafe(24)
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = self._listener.getsockname()[1]
        self._proc: subprocess.Popen[bytes] | None = None
        self._ready = threading.Event()
        self._stderr: collections.deque[str] = collections.deque(maxlen=_STDERR_LINES)
        self._failure: tuple[float, str] | None = None  # (when, why) the last start failed
        self.unusable: str | None = None  # why the model cannot run on this CPU: never retried
        self._testing = threading.Event()  # the child began its self-test
        self._built: list[str] = []  # the child's runtime features ("AVX2", …)
        self._key = ""  # of the runtime, model file and CPU the current child runs
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
        if self.unusable:
            raise LLMUnavailable(self.unusable)
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
        if self.unusable:
            return  # crashed on this CPU: starting it again would crash again
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
        self._key = _verdict_key(path)
        if known := _read_verdicts(self._verdicts).get(self._key):
            self.unusable = known
            return
        self._ready.clear()
        self._testing.clear()
        self._built = []
        self._stderr.clear()
        config = {
            "model": str(path),
            "alias": self.config.alias,
            "n_ctx": self.config.n_ctx,
            "n_batch": self.config.n_batch,
            "n_threads": self.config.threads,
            "chat_format": self.config.chat_format,
            "system": self.config.system,
            "fd": self._listener.fileno(),
        }
        # subtle: llama.cpp's OpenMP threads spin while they wait for each other; on cores
        # shared with other work (the embedding model, other users) a preempted spinner stalls
        # the rest: 2 threads wrote 0.6 tokens/s on a loaded machine, 5.1 once they sleep.
        env = {"OMP_WAIT_POLICY": "PASSIVE", **os.environ, "QA_MODEL_SERVER_KEY": self.key}
        self._proc = subprocess.Popen(
            # -P: the script's folder is not put on sys.path (its modules are not libraries)
            [sys.executable, "-P", str(self._script), json.dumps(config)],
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
                said = line.decode(errors="replace").split()
                if not said or proc is not self._proc:
                    continue
                if said[0] == "runtime":
                    self._built = runtime.features(" ".join(said[1:]))
                elif said[0] == "self-test":
                    self._testing.set()
                elif said[0] == "ready":
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
        if self._testing.is_set() and not self._ready.is_set():
            return self._crashed_on_self_test(proc, code)
        if not self._ready.is_set():  # it never loaded: keep the reason for a while
            reason = f"the local model failed to load ({_last_error(self._stderr, code)})"
            with self._lock:
                if self._proc is proc:
                    self._failure = (time.monotonic(), reason)
            return reason
        if code < 0:
            how = "killed, perhaps for lack of memory" if code == -9 else _signal(code)
            return f"the local model's process stopped ({how}); it restarts with the next question"
        return f"the local model's process exited ({_last_error(self._stderr, code)})"

    def _crashed_on_self_test(self, proc: subprocess.Popen[bytes], code: int) -> str:
        """The runtime cannot run this model on this CPU: say so once and for all."""
        how = _signal(code) if code < 0 else _last_error(self._stderr, code)
        cpu = ", ".join(runtime.cpu_flags()) or "unknown"
        built = ", ".join(self._built) or "unknown"
        reason = (
            f"the local model crashed on its start-up test ({how}): llama.cpp as built here does "
            f"not run on this CPU (its features: {cpu}; the runtime was built for: {built}). "
            f"Rebuild the runtime with `{runtime.REBUILD_COMMAND}`, or set QA_LOCAL_MODEL=off"
        )
        with self._lock:
            if self._proc is proc:
                self.unusable = reason
                _write_verdict(self._verdicts, self._key, reason)
        return reason


def _signal(code: int) -> str:
    """ "a segmentation fault (SIGSEGV)" for -11: what a user can search for."""
    try:
        name = signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"
    what = {
        "SIGSEGV": "a segmentation fault",
        "SIGILL": "an illegal instruction",
        "SIGBUS": "a bus error",
        "SIGABRT": "an abort",
        "SIGFPE": "an arithmetic fault",
    }
    return f"{what[name]} ({name})" if name in what else name


def _verdict_key(model: Path) -> str:
    """The runtime, model file and CPU a verdict is about: a change to any undoes it."""
    try:
        stat = model.stat()
        file = f"{model.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
    except OSError:
        file = str(model)
    return f"{runtime.library_stamp()}|{file}|{','.join(runtime.cpu_flags())}"


def _read_verdicts(path: Path | None) -> dict[str, str]:
    if path is None:
        return {}
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # none yet, or unreadable: the self-test will tell again
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


def _write_verdict(path: Path | None, key: str, reason: str) -> None:
    if path is None:
        return
    verdicts = _read_verdicts(path) | {key: reason}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(verdicts, indent=1), encoding="utf-8")
        temporary.replace(path)
    except OSError:
        pass  # remembered in this process only: the next one runs the self-test again


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
