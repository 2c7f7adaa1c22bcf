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


def test_every_benchmark_that_runs_the_agent_switches_ntp_off() -> None:
    """Benchmarks run outside the suite's guard: one that starts ``watchdog run`` with the default NTP servers
    (public pool.ntp.org) would break the network rule unseen (bench/footprint.py did, until issue 16's B5q)."""
    from pathlib import Path

    bench = Path(__file__).resolve().parent.parent / "bench"
    runs_agent = [p for p in sorted(bench.glob("*.py")) if '"watchdog", "run"' in p.read_text(encoding="utf-8")]
    assert "footprint.py" in [p.name for p in runs_agent]
    for path in runs_agent:
        text = path.read_text(encoding="utf-8")
        assert "ntp: {enabled: false}" in text or "ntp: {{enabled: false}}" in text, path.name
