"""One writer per index: an exclusive lock held while an ingestion (or a delete) runs.

``fcntl.flock`` on ``<index_dir>/ingest.lock``: the kernel releases it when its holder exits,
however it exits (SIGKILL included), so a crashed run never leaves a stale lock behind. The
file names its holder, for the message a second writer gets. Readers (answering) do not lock.
Not handled: in server mode the lock only keeps out writers on this machine (using this index
folder); Chroma offers no lock shared by every client.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import IndexBusyError
from .settings import IndexSettings

LOCK_FILE = "ingest.lock"


@contextmanager
def writer_lock(settings: IndexSettings) -> Iterator[None]:
    """Hold the index's writer lock, or raise IndexBusyError at once naming who holds it."""
    folder = Path(settings.index_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode(errors="replace").strip() or "another process"
            raise IndexBusyError(
                f"another ingestion is writing to the index in {folder} ({holder}); wait for it "
                "to finish and run this again"
            ) from None
        os.ftruncate(fd, 0)
        started = time.strftime("%Y-%m-%d %H:%M:%S")
        os.pwrite(fd, f"pid {os.getpid()}, started {started}\n".encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
