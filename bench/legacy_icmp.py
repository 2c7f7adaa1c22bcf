"""The ICMP probe as it was before the shared socket: one icmplib socket per probe (a reference point only).

Kept so the ICMP benchmark can show, in the same run, what the shared socket changed. This is the
sending loop of ``probes/icmp.py`` at commit 199cfe4, unchanged except for its imports.
"""

from __future__ import annotations

import asyncio
import time

from icmplib import AsyncSocket, ICMPRequest, ICMPv4Socket, ICMPv6Socket  # type: ignore[import-untyped]
from icmplib.exceptions import ICMPError, ICMPSocketError, TimeoutExceeded  # type: ignore[import-untyped]
from icmplib.utils import unique_identifier  # type: ignore[import-untyped]

from probes._net import os_reason, resolve_ip
from probes.icmp import IcmpOptions, _metrics, _privileged, reply_wait_s
from watchdog.errors import ConnectError, ProbeTimeout, UnexpectedAnswer
from watchdog.model import Target
from watchdog.probe import Measurement, Probe, ProbeContext


async def probe_icmp_socket_per_probe(ctx: ProbeContext, target: Target) -> Measurement:
    """Send ``count`` echo requests on a socket of this probe's own; latency is the average RTT."""
    options: IcmpOptions = target.options or IcmpOptions()
    privileged = await _privileged(ctx)
    ip = await resolve_ip(target.address)
    who = ip if ip == target.address else f"{target.address} ({ip})"
    wait_s = reply_wait_s(target.timeout_s, options)
    ident = unique_identifier()
    socket_cls = ICMPv6Socket if ":" in ip else ICMPv4Socket
    rtts: list[float] = []
    errors: list[str] = []
    sent = 0
    with AsyncSocket(socket_cls(None, privileged)) as sock:
        for sequence in range(options.count):
            if sequence:
                await asyncio.sleep(options.packet_interval)
            request = ICMPRequest(ip, id=ident, sequence=sequence, payload_size=options.payload_size)
            try:
                t0 = time.monotonic()
                sock.send(request)
                sent += 1
                reply = await sock.receive(request, wait_s)
                rtt = time.monotonic() - t0
                reply.raise_for_status()
            except TimeoutExceeded:
                continue
            except ICMPError as exc:
                errors.append(str(exc))
                continue
            except ICMPSocketError as exc:
                cause = exc.__context__
                reason = os_reason(cause) if isinstance(cause, OSError) else str(exc)
                raise ConnectError(f"ping {who}: {reason}", metrics=_metrics(sent, rtts)) from exc
            rtts.append(rtt)
    metrics = _metrics(sent, rtts)
    if not rtts:
        if errors:
            raise ConnectError(f"ping {who}: {errors[-1]} ({len(errors)} of {sent} requests)", metrics=metrics)
        raise ProbeTimeout(f"no reply to {sent} ICMP echo requests to {who}", metrics=metrics)
    if metrics["loss_ratio"] > options.max_loss_ratio:
        raise UnexpectedAnswer(f"{sent - len(rtts)} of {sent} ICMP echo requests to {who} lost", metrics=metrics)
    return Measurement(latency_s=metrics["rtt_avg_s"], detail=f"{len(rtts)} of {sent} replies", metrics=metrics)


LEGACY_ICMP = Probe(IcmpOptions, probe_icmp_socket_per_probe)
"""The old probe, registered like the others so the scheduler and runner treat it the same way."""
