"""Helpers the netns tests run inside their namespaces with ``ip netns exec``; prints JSON on stdout.

``probe_nsrun.py run SPEC`` runs probes through the runner and prints their results. SPEC (JSON):
``targets`` (kind, address, options, timeout_s), ``setup`` (kinds whose setup to run first),
``drop_net_raw`` (lose CAP_NET_RAW before anything else: root without raw sockets, to test the
unprivileged paths; changing uid instead would lock us out of a Python installed under /root) and
``resolver`` (serve DNS on 127.0.0.1:53 inside the namespace, answering NXDOMAIN to everything), ``wheel``
(run the ICMP targets through the agent's timer wheel instead of the runner, one probe each, ``gap_s``
apart).

``probe_nsrun.py echo MODE`` answers ICMP echo requests itself on a raw socket (run it in a namespace
whose kernel ignores echo requests): MODE ``even`` answers even sequence numbers only (an exact,
repeatable 50% loss, which the kernel cannot be made to do without tc actions), ``unreachable``
answers every request with an ICMP "destination host unreachable".
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import os
import socket
import struct
import sys
from pathlib import Path
from typing import Any

_PR_CAPBSET_DROP = 24  # <linux/prctl.h>
_CAP_NET_RAW = 13  # <linux/capability.h>


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def _icmp(kind: int, code: int, rest: bytes) -> bytes:
    header = struct.pack("!BBH", kind, code, 0)
    return struct.pack("!BBH", kind, code, _checksum(header + rest)) + rest


def echo(mode: str) -> None:
    """Answer echo requests on a raw socket until killed."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    print("ready", flush=True)
    while True:
        packet, (source, _) = sock.recvfrom(65535)
        ihl = (packet[0] & 0x0F) * 4
        icmp = packet[ihl:]
        if len(icmp) < 8 or icmp[0] != 8:  # not an echo request (our own replies come back here too)
            continue
        sequence = struct.unpack("!H", icmp[6:8])[0]
        if mode == "even" and sequence % 2 == 0:
            sock.sendto(_icmp(0, 0, icmp[4:]), (source, 0))
        elif mode == "unreachable":
            sock.sendto(_icmp(3, 1, b"\0\0\0\0" + packet[: ihl + 8]), (source, 0))


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    """Run the spec's probes in this process; return what happened."""
    from probes import REGISTRY
    from watchdog.agent.runner import run_probe
    from watchdog.model import Role, Target
    from watchdog.probe import ProbeContext

    out: dict[str, Any] = {"setup": {}, "resources": {}, "results": []}
    responder = None
    if spec.get("resolver"):
        sys.path.insert(0, str(Path(__file__).parent))
        from probe_servers import DnsResponder

        responder = DnsResponder()
        await responder.start("127.0.0.1", 53)
    ctx = ProbeContext()
    try:
        targets = [
            Target(
                key=f"ns/{i}",
                name=str(i),
                kind=t["kind"],
                address=t["address"],
                role=Role.PROVIDER,
                provider="ns",
                interval_s=60.0,
                timeout_s=t.get("timeout_s", 2.0),
                options=REGISTRY[t["kind"]].options.model_validate(t.get("options", {})),
            )
            for i, t in enumerate(spec.get("targets", []))
        ]
        for kind in spec.get("setup", []):
            setup = REGISTRY[kind].setup
            assert setup is not None
            out["setup"][kind] = await setup(ctx, [t for t in targets if t.kind == kind])
        out["resources"] = {k: v for k, v in ctx.resources.items() if v is None or isinstance(v, bool)}
        if spec.get("wheel"):
            results = await _on_the_wheel(ctx, targets, float(spec.get("gap_s", 1.0)))
        else:
            results = [await run_probe(REGISTRY[target.kind], target, ctx) for target in targets]
        for result in results:
            out["results"].append(
                {
                    "ok": result.ok,
                    "failure": None if result.failure is None else result.failure.value,
                    "detail": result.detail,
                    "metrics": dict(result.metrics),
                    "latency_s": result.latency_s,
                }
            )
    finally:
        await ctx.aclose()
        if responder is not None:
            await responder.stop()
    return out


async def _on_the_wheel(ctx: Any, targets: list[Any], gap_s: float) -> list[Any]:
    """One probe of each target through the agent's ICMP timer wheel, ``gap_s`` apart (one at a time)."""
    from probes import REGISTRY
    from watchdog.agent.icmp_driver import IcmpDriver, wheel_targets

    assert wheel_targets(targets, REGISTRY, ctx) == targets, "every target must be one the wheel runs"
    got: dict[str, Any] = {}
    every = asyncio.Event()

    async def on_result(target: Any, result: Any) -> None:
        got.setdefault(target.key, result)
        if len(got) == len(targets):
            every.set()

    offsets = {t.key: i * gap_s for i, t in enumerate(targets)}
    task = asyncio.create_task(IcmpDriver(targets, ctx, on_result, offsets=offsets, stats={}).run())
    try:
        await asyncio.wait_for(every.wait(), 20 + gap_s * len(targets))
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return [got[t.key] for t in targets]


def main() -> None:
    """Entry point: ``run SPEC`` or ``echo MODE``."""
    command, argument = sys.argv[1], sys.argv[2]
    if command == "echo":
        echo(argument)
        return
    spec = json.loads(argument)
    if spec.pop("drop_net_raw", False):
        _drop_net_raw_and_reexec(spec)
    print(json.dumps(asyncio.run(run(spec))))


def _drop_net_raw_and_reexec(spec: dict[str, Any]) -> None:
    """Take CAP_NET_RAW out of the bounding set and exec again: the new image never gets it back."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_CAPBSET_DROP, _CAP_NET_RAW, 0, 0, 0) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))
    os.execv(sys.executable, [sys.executable, __file__, "run", json.dumps(spec)])


if __name__ == "__main__":
    main()
