"""Run many ICMP probes at once on the shared socket (inside a test namespace); print what happened as JSON.

``icmp_shared_run.py SPEC``: SPEC (JSON) has ``answering`` and ``silent`` address lists (a target each,
probed concurrently), ``count`` and ``timeout_s``, and ``forge``: while the silent targets wait, send
echo replies that carry their identifier, sequence and nonce but come from another address (127.0.0.1),
which the shared socket must not take for their answers.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import sys
from typing import Any


def _checksum(data: bytes) -> int:
    total = sum(struct.unpack(f"!{len(data) // 2}H", data + b"\0" * (len(data) % 2)))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    """Probe every target concurrently; report results, when each ended, and the shared socket's counters."""
    from probes import REGISTRY
    from probes.icmp import SOCKETS_KEY
    from watchdog.agent.runner import run_probe
    from watchdog.model import Role, Target
    from watchdog.probe import ProbeContext

    probe = REGISTRY["icmp"]
    ctx = ProbeContext()
    assert probe.setup is not None and await probe.setup(ctx, []) == []
    addresses = [(ip, True) for ip in spec["answering"]] + [(ip, False) for ip in spec["silent"]]
    targets = [
        Target(
            key=f"t/{i}",
            name=str(i),
            kind="icmp",
            address=ip,
            role=Role.PROVIDER,
            provider="t",
            interval_s=60.0,
            timeout_s=spec["timeout_s"],
            options=probe.options.model_validate({"count": spec["count"], "packet_interval": "20ms"}),
        )
        for i, (ip, _) in enumerate(addresses)
    ]
    loop = asyncio.get_running_loop()
    t0 = loop.time()

    async def one(target: Target) -> tuple[Any, float]:
        result = await run_probe(probe, target, ctx)
        return result, loop.time() - t0

    tasks = [asyncio.create_task(one(t)) for t in targets]
    forged = 0
    if spec.get("forge"):
        await asyncio.sleep(0.1)  # the answering targets are done; the silent ones wait for replies
        shared = ctx.resources[SOCKETS_KEY][socket.AF_INET]
        with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as raw:
            for seq, echo in list(shared._pending.items()):
                body = struct.pack("!HH", shared.ident, seq) + echo.nonce + bytes(56 - len(echo.nonce))
                packet = struct.pack("!BBH", 0, 0, _checksum(b"\0\0\0\0" + body)) + body
                raw.sendto(packet, ("127.0.0.1", 0))
                forged += 1
    done = await asyncio.gather(*tasks)
    shared = ctx.resources[SOCKETS_KEY][socket.AF_INET]
    out = {
        "results": [
            {
                "address": t.address,
                "ok": r.ok,
                "failure": r.failure,
                "detail": r.detail,
                "metrics": dict(r.metrics),
                "ended_s": s,
            }
            for t, (r, s) in zip(targets, done, strict=True)
        ],
        "sockets": len(ctx.resources[SOCKETS_KEY]),
        "in_flight": shared.in_flight,
        "replies": shared.replies,
        "strays": shared.strays,
        "forged": forged,
    }
    await ctx.aclose()
    return out


if __name__ == "__main__":
    print(json.dumps(asyncio.run(run(json.loads(sys.argv[1]))), default=str))
