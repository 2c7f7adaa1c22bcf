"""The network rule, enforced: only loopback may be reached by in-process code during the tests.

Wraps the socket calls that connect or send, and name resolution. Anything else raises
``NetworkRuleViolation`` (a BaseException, so no probe or sink can swallow it as a failed probe) and
is recorded in ``VIOLATIONS``; conftest fails the run if any were recorded.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

VIOLATIONS: list[str] = []


class NetworkRuleViolation(BaseException):
    """A test tried to reach something other than loopback."""


def loopback_host(host: Any) -> bool:
    """True for loopback names and addresses (and the unspecified address, which stays local)."""
    if host is None or host == "":
        return True
    if isinstance(host, bytes):
        host = host.decode()
    if not isinstance(host, str):
        return False
    name = host.strip("[]").split("%")[0].lower()
    if name in ("localhost", "localhost.localdomain", "ip6-localhost", "0.0.0.0", "::") or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def _refuse(message: str) -> None:
    VIOLATIONS.append(message)
    raise NetworkRuleViolation(message)


def _check(family: int, address: Any, what: str) -> None:
    if family == getattr(socket, "AF_UNIX", -1) or family == getattr(socket, "AF_NETLINK", -2):
        return
    host = address[0] if isinstance(address, tuple) and address else address
    if not loopback_host(host):
        _refuse(f"{what} to {address!r}: tests may only reach loopback")


@contextmanager
def guarded() -> Iterator[None]:
    """Install the guard for the duration of the block."""
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex
    original_sendto = socket.socket.sendto
    original_getaddrinfo = socket.getaddrinfo

    def connect(self: socket.socket, address: Any) -> None:
        _check(self.family, address, "connect")
        return original_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        _check(self.family, address, "connect")
        return original_connect_ex(self, address)

    def sendto(self: socket.socket, data: Any, *args: Any) -> int:
        _check(self.family, args[-1], "sendto")
        return original_sendto(self, data, *args)  # type: ignore[arg-type]

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not loopback_host(host):
            _refuse(f"name lookup of {host!r}: tests may only reach loopback")
        return original_getaddrinfo(host, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", connect)
        mp.setattr(socket.socket, "connect_ex", connect_ex)
        mp.setattr(socket.socket, "sendto", sendto)
        mp.setattr(socket, "getaddrinfo", getaddrinfo)
        yield
