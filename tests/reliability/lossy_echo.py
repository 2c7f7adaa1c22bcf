"""An ICMP echo responder on a raw socket that drops a known share of requests (run inside a namespace
whose kernel ignores echo requests). Userspace, because this kernel has no netem qdisc.

``lossy_echo.py CONTROL``: before each request it reads CONTROL, ``N [D]``: N = 0 answers everything, N > 0
drops every N-th request (counted across requests, so 5 echoes a round and N = 5 lose exactly one per
round: 20 %); D (default 0) delays each answer by D milliseconds. Prints ``ready`` once listening.
"""

from __future__ import annotations

import socket
import struct
import sys
import threading


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def main() -> None:
    control = sys.argv[1]
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    print("ready", flush=True)
    count = 0
    while True:
        packet, (source, _) = sock.recvfrom(65535)
        ihl = (packet[0] & 0x0F) * 4
        icmp = packet[ihl:]
        if len(icmp) < 8 or icmp[0] != 8:  # only echo requests (our own replies come back here too)
            continue
        count += 1
        try:
            with open(control, encoding="ascii") as f:
                words = f.read().split()
            every, delay_ms = int(words[0]) if words else 0, int(words[1]) if len(words) > 1 else 0
        except (OSError, ValueError):
            every, delay_ms = 0, 0
        if every and count % every == 0:
            continue
        rest = icmp[4:]
        header = struct.pack("!BBH", 0, 0, 0)
        reply = struct.pack("!BBH", 0, 0, _checksum(header + rest)) + rest
        if delay_ms:
            threading.Timer(delay_ms / 1000, sock.sendto, (reply, (source, 0))).start()
        else:
            sock.sendto(reply, (source, 0))


if __name__ == "__main__":
    main()
