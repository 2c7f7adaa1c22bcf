"""A small NTP server on 127.0.0.1 for tests: answers client packets with a chosen clock offset.

It is a real UDP server speaking the NTP wire format (RFC 5905 server mode), so the agent's client is
tested against real packets; no public server is ever asked.
"""

from __future__ import annotations

import asyncio
import struct
import time
from dataclasses import dataclass

NTP_UNIX_DELTA_S = 2_208_988_800
NS = 1_000_000_000
_PACKET = struct.Struct("!BBbb II 4s 8s 8s 8s 8s")


def ntp_bytes(ts_ns: int) -> bytes:
    seconds, rest = divmod(ts_ns, NS)
    return struct.pack("!II", seconds + NTP_UNIX_DELTA_S, (rest << 32) // NS)


@dataclass
class NtpResponder(asyncio.DatagramProtocol):
    """``mode``: ok | silent | kod | unsynced | wrong-origin. ``offset_s`` is added to the true time."""

    offset_s: float = 0.0
    stratum: int = 2
    root_delay_s: float = 1024 / 65536  # 16.16 fixed point values that convert exactly
    root_dispersion_s: float = 512 / 65536
    mode: str = "ok"
    requests: int = 0
    transport: asyncio.DatagramTransport | None = None
    port: int = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> NtpResponder:
        loop = asyncio.get_running_loop()
        self.transport, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=("127.0.0.1", 0))
        self.port = self.transport.get_extra_info("sockname")[1]
        return self

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.requests += 1
        if self.mode == "silent" or len(data) < 48:
            return
        now = time.time_ns() + round(self.offset_s * NS)
        origin = data[40:48] if self.mode != "wrong-origin" else b"\x01" * 8
        leap = 3 if self.mode == "unsynced" else 0
        stratum = 0 if self.mode == "kod" else self.stratum
        ref_id = b"RATE" if self.mode == "kod" else b"\x7f\x00\x00\x01"
        packet = _PACKET.pack(
            (leap << 6) | (4 << 3) | 4,
            stratum,
            6,
            -20,
            round(self.root_delay_s * 65536),
            round(self.root_dispersion_s * 65536),
            ref_id,
            ntp_bytes(now - 10 * NS),
            origin,
            ntp_bytes(now),
            ntp_bytes(now),
        )
        assert self.transport is not None
        self.transport.sendto(packet, addr)
