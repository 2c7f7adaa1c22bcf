"""The suite's own guard refuses anything but loopback (the rule every other test relies on)."""

from __future__ import annotations

import socket

import pytest
from netguard import VIOLATIONS, NetworkRuleViolation


def test_loopback_is_allowed() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    client = socket.socket()
    try:
        client.connect(server.getsockname())
        assert socket.getaddrinfo("localhost", 80)
    finally:
        client.close()
        server.close()


@pytest.mark.parametrize("host", ["10.255.255.53", "192.168.1.1"])
def test_anything_else_is_refused_before_a_packet_leaves(host: str) -> None:
    before = len(VIOLATIONS)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        with pytest.raises(NetworkRuleViolation):
            sock.sendto(b"x", (host, 9))
    finally:
        sock.close()
    with pytest.raises(NetworkRuleViolation):
        socket.getaddrinfo("pool.ntp.org", 123)
    del VIOLATIONS[before:]  # these two were on purpose
