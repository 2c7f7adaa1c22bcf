"""Probe implementations, one module per protocol. REGISTRY maps a target's ``kind`` to its Probe."""

from __future__ import annotations

from probes import tcp
from watchdog.probe import Probe

REGISTRY: dict[str, Probe] = {
    "tcp": Probe(tcp.TcpOptions, tcp.probe_tcp, check_address=tcp.check_address),
}

__all__ = ["REGISTRY"]
