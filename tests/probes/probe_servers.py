"""Real servers on loopback for the probe tests: a DNS responder, raw TCP servers, target builders."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset

from probes import REGISTRY
from watchdog.agent.runner import run_probe
from watchdog.model import Result, Role, Target
from watchdog.probe import ProbeContext


def make_target(kind: str, address: str, *, timeout_s: float = 2.0, **options: Any) -> Target:
    """A provider target of ``kind`` whose options are validated by the probe's own model, as config does."""
    return Target(
        key=f"test/{kind}",
        name=kind,
        kind=kind,
        address=address,
        role=Role.PROVIDER,
        provider="test",
        interval_s=60.0,
        timeout_s=timeout_s,
        options=REGISTRY[kind].options.model_validate(options),
    )


async def probe(ctx: ProbeContext, target: Target) -> Result:
    """Run the target's probe through the runner, as the agent does."""
    return await run_probe(REGISTRY[target.kind], target, ctx)


def free_udp_port(host: str = "127.0.0.1") -> int:
    """A UDP port nothing listens on (bound, then released): datagrams to it draw ICMP port unreachable."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def refusing_tcp_socket(host: str = "127.0.0.1") -> socket.socket:
    """A TCP socket bound but not listening: connections to its port are refused, and no one can take it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((host, 0))
    return sock


async def start_tcp_server(
    handler: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
    host: str = "127.0.0.1",
    **kwargs: Any,
) -> tuple[asyncio.Server, int]:
    """An asyncio TCP server on an ephemeral port; returns it and the port."""
    server = await asyncio.start_server(handler, host, 0, **kwargs)
    return server, int(server.sockets[0].getsockname()[1])


@dataclass
class DnsResponder:
    """A small authoritative-style DNS server on UDP and TCP (same port), built with dnspython.

    ``records`` maps ``(name, type)`` to record texts; an unknown name gets NXDOMAIN, a known name with
    another type an empty NOERROR. ``rcodes`` forces an rcode, ``silent`` names get no answer at all (over
    TCP the connection is held open; ``hangup`` names get it closed instead) and ``truncate_udp`` names get
    an empty truncated (TC) answer over UDP and the full one over TCP.
    """

    records: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    rcodes: dict[str, str] = field(default_factory=dict)
    silent: set[str] = field(default_factory=set)
    hangup: set[str] = field(default_factory=set)
    truncate_udp: set[str] = field(default_factory=set)
    queries: list[tuple[str, str, str]] = field(default_factory=list)  # (transport, name, type) as received
    port: int = 0
    _udp: asyncio.DatagramTransport | None = None
    _tcp: asyncio.Server | None = None

    def answer(self, wire: bytes, transport: str) -> bytes | None:
        """The reply to one query, or None to stay silent."""
        query = dns.message.from_wire(wire)
        question = query.question[0]
        name = question.name.to_text(omit_final_dot=True).lower()
        rdtype = dns.rdatatype.to_text(question.rdtype)
        self.queries.append((transport, name, rdtype))
        if name in self.silent or name in self.hangup:
            return None
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if name in self.rcodes:
            response.set_rcode(dns.rcode.from_text(self.rcodes[name]))
        elif name in self.truncate_udp and transport == "udp":
            response.flags |= dns.flags.TC
        elif not any(known == name for known, _ in self.records):
            response.set_rcode(dns.rcode.NXDOMAIN)
        elif texts := self.records.get((name, rdtype)):
            response.answer.append(dns.rrset.from_text_list(question.name, 60, "IN", rdtype, texts))
        return response.to_wire()

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen on UDP and TCP on one port (ephemeral unless given); returns the port."""
        loop = asyncio.get_running_loop()
        responder = self

        class Udp(asyncio.DatagramProtocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                self.transport = transport

            def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                reply = responder.answer(data, "udp")
                if reply is not None:
                    self.transport.sendto(reply, addr)  # type: ignore[attr-defined]

        for _attempt in range(20):  # the TCP side needs the UDP side's port; rarely it is taken
            transport, _ = await loop.create_datagram_endpoint(Udp, local_addr=(host, port))
            chosen = transport.get_extra_info("sockname")[1]
            try:
                self._tcp = await asyncio.start_server(self._serve_tcp, host, chosen)
            except OSError:
                transport.close()
                if port:
                    raise
                continue
            self._udp = transport
            self.port = chosen
            return chosen
        raise RuntimeError("no port free on both UDP and TCP")

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                (size,) = struct.unpack("!H", await reader.readexactly(2))
                wire = await reader.readexactly(size)
                reply = self.answer(wire, "tcp")
                if reply is None:
                    if dns.message.from_wire(wire).question[0].name.to_text(True).lower() not in self.hangup:
                        await reader.read()  # silent: hold the connection until the client gives up
                    return
                writer.write(struct.pack("!H", len(reply)) + reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def stop(self) -> None:
        """Stop both listeners."""
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
            await self._tcp.wait_closed()
