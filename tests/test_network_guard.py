"""The conftest guard: loopback is allowed, anything else fails before a packet leaves."""

from __future__ import annotations

import socket

import pytest

from .conftest import NetworkBlocked


@pytest.mark.parametrize(
    "address", [("10.255.255.1", 80), ("93.184.216.34", 443), ("example.com", 80)]
)
def test_outside_addresses_are_blocked(address: tuple[str, int]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s, pytest.raises(NetworkBlocked):
        s.connect(address)


def test_loopback_is_allowed() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.create_connection(server.getsockname(), timeout=5):
            pass
