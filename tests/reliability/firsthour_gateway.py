"""The first-hour test's "rest of the internet", run inside the gateway namespace (``ip netns exec``).

    python firsthour_gateway.py DNS_ADDR TCP_ADDR:PORT [TCP_ADDR:PORT ...]

* DNS on ``DNS_ADDR`` UDP port 53: every A question is answered NOERROR with ``DNS_ADDR`` (the ISP's
  resolver the client's resolv.conf names);
* NTP on ``DNS_ADDR`` UDP port 123 (tests/ntp_responder.py, offset 0);
* a TCP listener on each ``TCP_ADDR:PORT`` that accepts and closes (the anchors, the broker).

Prints ``ready`` once everything listens. Every address is one the namespace itself holds.
"""

from __future__ import annotations

import asyncio
import ipaddress
import struct
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ntp_responder import NtpResponder


class Dns(asyncio.DatagramProtocol):
    """A one-answer DNS server."""

    def __init__(self, answer: str) -> None:
        self.answer = ipaddress.IPv4Address(answer).packed
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if len(data) < 17 or self.transport is None:
            return
        end = 12
        while end < len(data) and data[end]:
            end += data[end] + 1
        question = data[12 : end + 5]
        qtype = struct.unpack("!H", data[end + 1 : end + 3])[0]
        answers = b""
        if qtype == 1:
            answers = struct.pack("!HHHIH", 0xC00C, 1, 1, 60, 4) + self.answer
        header = struct.pack("!HHHHHH", struct.unpack("!H", data[:2])[0], 0x8180, 1, 1 if answers else 0, 0, 0)
        self.transport.sendto(header + question + answers, addr)


async def main() -> None:
    dns_addr, listeners = sys.argv[1], sys.argv[2:]
    loop = asyncio.get_running_loop()
    await loop.create_datagram_endpoint(lambda: Dns(dns_addr), local_addr=(dns_addr, 53))
    ntp = NtpResponder()
    ntp.transport, _ = await loop.create_datagram_endpoint(lambda: ntp, local_addr=(dns_addr, 123))

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    for item in listeners:
        host, _, port = item.rpartition(":")
        await asyncio.start_server(accept, host, int(port))
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
