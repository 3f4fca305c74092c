"""The tests' network guard: a connection (or datagram) to anything but loopback fails at once.

It replaces ``socket.socket.connect``, ``connect_ex`` and ``sendto``; the check runs before the
real call, so a blocked attempt never sends a packet. Each blocked attempt is also written to
the file named by ``CITED_QA_TEST_NETGUARD_LOG``, so that one the code under test catches and
ignores (as it would a network error) is still seen: tests/conftest.py fails the test then.
tests/conftest.py installs the guard in pytest and sets the environment (``child_env``) under
which ``sitecustomize.py`` beside this file installs it in every Python process the tests start:
``python -m ingest``, ``python -m qa``, ``bench.perf``, ``chroma run`` and their children.

Not covered: connections made below Python (the Rust core of ``chroma run``, Chromium; the
browser tests watch the page's requests themselves), and name lookups (``getaddrinfo``).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
from collections.abc import Mapping
from pathlib import Path

FOLDER = Path(__file__).resolve().parent
ENABLE = "CITED_QA_TEST_NETGUARD"  # "1": sitecustomize.py installs the guard
REPORT = "CITED_QA_TEST_NETGUARD_REPORT"  # a folder: each guarded process writes <pid> in it
LOG = "CITED_QA_TEST_NETGUARD_LOG"  # a file: one line per blocked attempt, from any process


class NetworkBlocked(OSError):
    """A test tried to reach beyond this machine."""


def is_loopback(address: object) -> bool:
    host = address[0] if isinstance(address, tuple) else address
    if isinstance(host, bytes):
        host = host.decode()
    if not isinstance(host, str):
        return False
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False  # a host name other than localhost would need DNS: outside world


def _check(sock: socket.socket, address: object) -> None:
    if sock.family in (socket.AF_INET, socket.AF_INET6) and not is_loopback(address):
        if log := os.environ.get(LOG):
            with open(log, "a", encoding="utf-8") as f:
                f.write(f"pid {os.getpid()} ({' '.join(sys.argv)[:200]}): {address!r}\n")
        raise NetworkBlocked(f"test tried to reach {address!r}; only loopback is allowed")


def blocked(log: Path) -> list[str]:
    """The attempts logged since the last call (the log is emptied)."""
    if not log.exists():
        return []
    with log.open("r+", encoding="utf-8") as f:
        lines = f.read().splitlines()
        f.truncate(0)
    return lines


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_sendto = socket.socket.sendto


def guarded_connect(self: socket.socket, address: object) -> None:
    _check(self, address)
    return _real_connect(self, address)  # type: ignore[arg-type]


def guarded_connect_ex(self: socket.socket, address: object) -> int:
    _check(self, address)
    return _real_connect_ex(self, address)  # type: ignore[arg-type]


def guarded_sendto(self: socket.socket, data: object, *rest: object) -> int:
    _check(self, rest[-1] if rest else None)  # sendto(data, address) or (data, flags, address)
    return _real_sendto(self, data, *rest)  # type: ignore[arg-type, call-overload]


def install() -> None:
    socket.socket.connect = guarded_connect  # type: ignore[method-assign, assignment]
    socket.socket.connect_ex = guarded_connect_ex  # type: ignore[method-assign, assignment]
    socket.socket.sendto = guarded_sendto  # type: ignore[method-assign, assignment]


def installed() -> bool:
    return (
        socket.socket.connect is guarded_connect  # type: ignore[comparison-overlap]
        and socket.socket.connect_ex is guarded_connect_ex  # type: ignore[comparison-overlap]
        and socket.socket.sendto is guarded_sendto  # type: ignore[comparison-overlap]
    )


def child_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process's environment) with the variables that make a Python
    child install the guard: this folder first on PYTHONPATH, ENABLE, and this process's LOG."""
    env = dict(os.environ if base is None else base)
    if LOG in os.environ:
        env[LOG] = os.environ[LOG]
    rest = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != str(FOLDER)]
    env["PYTHONPATH"] = os.pathsep.join([str(FOLDER), *rest])
    env[ENABLE] = "1"
    return env


def guards(env: Mapping[str, str]) -> bool:
    """Whether a Python child started with ``env`` installs the guard."""
    return env.get(ENABLE) == "1" and str(FOLDER) in env.get("PYTHONPATH", "").split(os.pathsep)
