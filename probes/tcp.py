"""TCP connect probe: can we open host:port, and how long does the handshake take?"""

from __future__ import annotations

import asyncio
import socket
import time

from probes._net import host_port, os_reason
from watchdog.errors import ConnectError, ResolveError
from watchdog.model import Target
from watchdog.probe import Measurement, ProbeContext, ProbeOptions, split_host_port


class TcpOptions(ProbeOptions):
    """TCP has no options yet; the block exists so every kind is written the same way."""


def check_address(address: str) -> str | None:
    """TCP needs ``host:port``."""
    try:
        split_host_port(address)
    except ValueError as exc:
        return str(exc)
    return None


async def probe_tcp(ctx: ProbeContext, target: Target) -> Measurement:
    """Open a connection, time it, close it."""
    host, port = split_host_port(target.address)
    t0 = time.monotonic()
    try:
        _reader, writer = await asyncio.open_connection(host, port)
    except socket.gaierror as exc:
        raise ResolveError(f"resolve {host}: {os_reason(exc)}") from exc
    except OSError as exc:
        raise ConnectError(f"connect {host_port(host, port)}: {os_reason(exc)}") from exc
    connect_s = time.monotonic() - t0
    peer = writer.get_extra_info("peername")
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass  # a reset while closing says nothing about reachability
    return Measurement(latency_s=connect_s, detail=f"connected to {host_port(peer[0], peer[1])}" if peer else "")
