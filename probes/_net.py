"""Small helpers the probes share: the OS's words for an error, and name resolution with our errors."""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import os
import socket
import ssl

from watchdog.errors import ResolveError

_ERRNO_OF: dict[type[OSError], int] = {
    ConnectionResetError: errno.ECONNRESET,
    ConnectionRefusedError: errno.ECONNREFUSED,
    ConnectionAbortedError: errno.ECONNABORTED,
    BrokenPipeError: errno.EPIPE,
}


def os_reason(exc: OSError) -> str:
    """The OS's words for an error ("Connection refused"), without the ``[Errno 111]`` prefix."""
    if isinstance(exc, ssl.SSLError):  # its errno is OpenSSL's, not the OS's
        return str(exc.reason or exc)
    if exc.errno and exc.errno > 0 and not isinstance(exc, socket.gaierror):
        return os.strerror(exc.errno)  # asyncio's strerror reads "Connect call failed ('127.0.0.1', 9)"
    if exc.strerror or str(exc):
        return exc.strerror or str(exc)
    for cls, code in _ERRNO_OF.items():  # asyncio raises some of these bare: ConnectionResetError()
        if isinstance(exc, cls):
            return os.strerror(code)
    return type(exc).__name__


def host_port(host: str, port: int | None) -> str:
    """``host:port`` as people write it: ``[::1]:443`` for IPv6."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def is_ip(host: str) -> bool:
    """True for an IPv4 or IPv6 literal (no brackets)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


async def resolve_ip(host: str, socktype: int = socket.SOCK_DGRAM) -> str:
    """The first address the system resolver gives for ``host`` (an IP literal is returned as is)."""
    if is_ip(host):
        return host
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, None, type=socktype)
    except socket.gaierror as exc:
        raise ResolveError(f"resolve {host}: {os_reason(exc)}") from exc
    if not infos:  # getaddrinfo promises at least one entry, but an empty answer must not crash a probe
        raise ResolveError(f"resolve {host}: no addresses")
    return str(infos[0][4][0])
