"""The network guard (tests/netguard/): loopback is allowed, anything else fails before a
packet leaves, in pytest and in every process the tests start.

No test here reaches beyond loopback, even with the guard broken: every blocked attempt is made
on a closed socket with a numeric address, so that without the guard it ends in "bad file
descriptor" before anything is sent or looked up.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import ROOT, NetworkBlocked
from .netguard import loopback_guard

OUTSIDE = [("192.0.2.1", 80), ("10.255.255.1", 80), ("2001:db8::1", 443, 0, 0)]

# What a child reports: which function its socket.socket.connect is, and what a connection
# beyond loopback (on a closed socket: no packet either way) ends in.
PROBE = """
import json, socket
connect = socket.socket.connect
s = socket.socket()
s.close()
try:
    s.connect(("192.0.2.1", 80))
    outcome = "connected"
except OSError as err:
    outcome = f"{type(err).__name__}: {err}"
module = getattr(connect, "__module__", None)  # none on the C method itself
name = f"{module}.{connect.__qualname__}" if module else connect.__qualname__
print(json.dumps({"connect": name, "outcome": outcome}))
"""


def _closed(family: socket.AddressFamily, kind: socket.SocketKind) -> socket.socket:
    s = socket.socket(family, kind)
    s.close()
    return s


@pytest.mark.parametrize("address", OUTSIDE)
def test_outside_addresses_are_blocked_before_the_real_call(
    address: tuple[object, ...], blocked_attempts: Callable[[], list[str]]
) -> None:
    family = socket.AF_INET6 if ":" in str(address[0]) else socket.AF_INET
    tcp = _closed(family, socket.SOCK_STREAM)
    with pytest.raises(NetworkBlocked, match="only loopback is allowed"):
        tcp.connect(address)
    with pytest.raises(NetworkBlocked):
        tcp.connect_ex(address)
    with pytest.raises(NetworkBlocked):
        _closed(family, socket.SOCK_DGRAM).sendto(b"x", address)
    with pytest.raises(NetworkBlocked):
        _closed(family, socket.SOCK_DGRAM).sendto(b"x", 0, address)
    logged = blocked_attempts()  # each one logged too, so that one caught and ignored is seen
    assert len(logged) == 4 and all(line.endswith(f": {address!r}") for line in logged)
    assert all(line.startswith(f"pid {os.getpid()} (") for line in logged)


def test_only_loopback_counts_as_loopback() -> None:
    assert loopback_guard.is_loopback(("127.0.0.1", 80)) and loopback_guard.is_loopback("::1")
    assert loopback_guard.is_loopback(("localhost", 80)) and loopback_guard.is_loopback("127.9.9.9")
    for host in ("example.com", "192.0.2.1", "0.0.0.0", "10.0.0.1", "::ffff:192.0.2.1"):
        assert not loopback_guard.is_loopback((host, 80)), host


def test_loopback_is_allowed() -> None:
    assert loopback_guard.installed()
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.create_connection(server.getsockname(), timeout=5):
            pass
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", 0))
        assert udp.sendto(b"x", udp.getsockname()) == 1


def _probe(env: dict[str, str]) -> dict[str, str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_a_child_process_has_the_guard_installed(
    blocked_attempts: Callable[[], list[str]],
) -> None:
    """As the tests start their children (the environment inherited), and with a clean
    environment given the guard's variables; what a child blocks is logged where the tests'
    teardown looks."""
    guarded = {
        "connect": "loopback_guard.guarded_connect",
        "outcome": (
            "NetworkBlocked: test tried to reach ('192.0.2.1', 80); only loopback is allowed"
        ),
    }
    assert _probe(dict(os.environ)) == guarded
    assert _probe(loopback_guard.child_env({"PATH": os.environ.get("PATH", "")})) == guarded
    logged = blocked_attempts()
    assert len(logged) == 2 and all(line.endswith("(-c): ('192.0.2.1', 80)") for line in logged)
    assert not any(line.startswith(f"pid {os.getpid()} ") for line in logged)


def test_a_console_script_child_has_the_guard_installed(tmp_path: Path) -> None:
    """A console script of the venv (as ``chroma run`` is started) runs sitecustomize too."""
    report = tmp_path / "report"
    report.mkdir()
    done = subprocess.run(
        [str(Path(sys.executable).parent / "cited-qa"), "--help"],
        env={**os.environ, loopback_guard.REPORT: str(report)},
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert [p.read_text() for p in report.iterdir()] == ["guarded\n"]


def test_a_child_started_without_the_guard_is_refused() -> None:
    """Nothing else turns the guard on (a user's own runs never see it), so a test that starts
    a process with an environment of its own must add the guard's variables."""
    clean = {"PATH": os.environ.get("PATH", "")}
    assert not loopback_guard.guards(clean) and loopback_guard.guards(
        loopback_guard.child_env(clean)
    )
    no_switch = {
        k: v for k, v in loopback_guard.child_env(clean).items() if k != loopback_guard.ENABLE
    }
    assert not loopback_guard.guards(no_switch)
    with pytest.raises(RuntimeError, match="without the network guard"):
        subprocess.run([sys.executable, "-c", "pass"], env=no_switch)
