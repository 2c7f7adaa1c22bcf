"""Loopback services for the benchmarks, in a process of their own so their CPU is nobody's figure.

``python -m bench.servers SPEC`` listens as SPEC asks and prints one JSON line with the addresses, then
serves until terminated. SPEC (JSON): ``tcp``, ``http`` and ``dns``: lists of host addresses (each
gets an ephemeral port). TCP listeners accept and close; HTTP answers every request with a small
``200 OK`` and closes (a fresh connection per probe, as both our probe and blackbox_exporter use);
DNS answers ``A example.test`` with 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from typing import Any

import dns.message
import dns.rcode
import dns.rrset

_HTTP_ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n"


class _Http(asyncio.Protocol):
    """Answer one request with 200 OK, then close."""

    def __init__(self) -> None:
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if b"\r\n\r\n" in self.buffer and self.transport is not None:
            self.transport.write(_HTTP_ANSWER)
            self.transport.close()


class _CloseAtOnce(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.close()


class _Dns(asyncio.DatagramProtocol):
    transport: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        query = dns.message.from_wire(data)
        response = dns.message.make_response(query)
        question = query.question[0]
        if question.name.to_text(omit_final_dot=True).lower() == "example.test":
            response.answer.append(dns.rrset.from_text(question.name, 60, "IN", "A", "127.0.0.1"))
        else:
            response.set_rcode(dns.rcode.NXDOMAIN)
        self.transport.sendto(response.to_wire(), addr)


async def serve(spec: dict[str, Any]) -> None:
    """Listen as asked, print the addresses, serve until SIGTERM."""
    loop = asyncio.get_running_loop()
    out: dict[str, list[str]] = {"tcp": [], "http": [], "dns": []}
    closers: list[Any] = []
    for host in spec.get("tcp", []):
        server = await loop.create_server(_CloseAtOnce, host, 0, backlog=4096)
        closers.append(server)
        out["tcp"].append(f"{host}:{server.sockets[0].getsockname()[1]}")
    for host in spec.get("http", []):
        server = await loop.create_server(_Http, host, 0, backlog=4096)
        closers.append(server)
        out["http"].append(f"http://{host}:{server.sockets[0].getsockname()[1]}/")
    for host in spec.get("dns", []):
        transport, _ = await loop.create_datagram_endpoint(_Dns, local_addr=(host, 0))
        closers.append(transport)
        out["dns"].append(f"{host}:{transport.get_extra_info('sockname')[1]}")
    print(json.dumps(out), flush=True)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    await stop.wait()
    for closer in closers:
        closer.close()


if __name__ == "__main__":
    asyncio.run(serve(json.loads(sys.argv[1])))
