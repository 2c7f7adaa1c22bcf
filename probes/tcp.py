"""TCP connect probe: can we open host:port, and how long does the handshake take?

An IP address is connected to with a bare non-blocking socket (``loop.sock_connect``): no transport,
protocol or stream objects are built for a connection that is closed at once, which makes the probe
about a quarter cheaper. A host name goes through ``asyncio.open_connection``, which resolves it and
tries each address in turn.
"""

from __future__ import annotations

import asyncio
import socket
import time

from probes._net import host_port, is_ip, os_reason
from watchdog.errors import ConnectError, ResolveError
from watchdog.model import Target
from watchdog.probe import Measurement, ProbeContext, ProbeOptions, split_host_port

LITERALS_KEY = "tcp.literals"
"""``ctx.resources`` key: which target hosts are IP literals (names are resolved on every probe)."""


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
    literals: dict[str, bool] = ctx.resources.setdefault(LITERALS_KEY, {})
    literal = literals.get(host)
    if literal is None:
        literal = literals[host] = is_ip(host)
    if literal:
        return await _connect_ip(host, port)
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


async def _connect_ip(ip: str, port: int) -> Measurement:
    """Connect a bare socket to an IP address; closed whatever happens (also when the runner's timeout cancels)."""
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        t0 = time.monotonic()
        try:
            await asyncio.get_running_loop().sock_connect(sock, (ip, port))
        except OSError as exc:
            raise ConnectError(f"connect {host_port(ip, port)}: {os_reason(exc)}") from exc
        connect_s = time.monotonic() - t0
        peer = sock.getpeername()
    finally:
        sock.close()
    return Measurement(latency_s=connect_s, detail=f"connected to {host_port(peer[0], peer[1])}")
