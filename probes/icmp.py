"""ICMP echo probe: do echo requests to a host come back, how fast, and how many are lost?

The sending loop is built from icmplib's socket and packet classes rather than ``icmplib.async_ping``,
because ``async_ping`` swallows every error: when the local route is gone it reports 0 packets sent and
a loss of 0.0, and an ICMP "destination unreachable" looks like silence. Here a failed send is a
connect failure with the OS's reason, an ICMP error reply is reported by name, and round-trip times
are taken on the monotonic clock (icmplib uses the wall clock, which a clock step corrupts).

Replies are awaited one at a time, like icmplib does: each request waits for its reply for at most a
share of the target's timeout, so a probe where every packet is lost still ends on its own, with the
loss metrics, just before the runner's timeout would cut it short.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time

from icmplib import AsyncSocket, ICMPRequest, ICMPv4Socket, ICMPv6Socket, async_ping  # type: ignore[import-untyped]
from icmplib.exceptions import (  # type: ignore[import-untyped]
    ICMPError,
    ICMPSocketError,
    SocketPermissionError,
    TimeoutExceeded,
)
from icmplib.utils import unique_identifier  # type: ignore[import-untyped]
from pydantic import Field

from probes._net import is_ip, os_reason, resolve_ip
from watchdog.errors import CannotProbe, ConnectError, ProbeTimeout, UnexpectedAnswer
from watchdog.model import Target
from watchdog.probe import Measurement, ProbeContext, ProbeOptions
from watchdog.units import Duration

_LOGGER = logging.getLogger(__name__)

MODE_KEY = "icmp.privileged"
"""``ctx.resources`` key: True = raw sockets, False = unprivileged datagram sockets, None = neither works."""

NO_PERMISSION = (
    "ICMP probes cannot run: raw sockets need CAP_NET_RAW (under systemd: AmbientCapabilities=CAP_NET_RAW) "
    "and unprivileged ping sockets need this process's group in `sysctl net.ipv4.ping_group_range`"
)

_HOST_RE = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,251}[A-Za-z0-9_.])?")
_MIN_REPLY_WAIT_S = 0.05
_SHARE_OF_TIMEOUT = 0.9  # leave the runner's timeout a margin so a total loss ends here, with metrics


class IcmpOptions(ProbeOptions):
    """How many echo requests to send, how far apart, and how much loss is still a pass."""

    count: int = Field(default=3, ge=1, le=100)
    packet_interval: Duration = 0.2
    max_loss_ratio: float = Field(default=0.5, ge=0.0, le=1.0)
    payload_size: int = Field(default=56, ge=0, le=65_000)


def check_address(address: str) -> str | None:
    """ICMP needs a bare host name or IP address (no port, no brackets)."""
    if is_ip(address):
        return None
    if ":" in address or "/" in address or "[" in address:
        return f"expected a host name or IP address without a port, got {address!r}"
    if not _HOST_RE.fullmatch(address) or ".." in address:
        return f"not a valid host name: {address!r}"
    return None


async def detect_privileged() -> bool | None:
    """Ping 127.0.0.1 with a raw socket, then with a datagram socket; which one the OS allows (None: neither)."""
    for privileged in (True, False):
        try:
            await async_ping("127.0.0.1", count=1, timeout=1, privileged=privileged)
        except SocketPermissionError:
            continue
        return privileged
    return None


async def setup_icmp(ctx: ProbeContext, targets: list[Target]) -> list[str]:
    """Detect once which ICMP sockets this process may open; a problem if none."""
    mode = await detect_privileged()
    ctx.resources[MODE_KEY] = mode
    if mode is None:
        return [NO_PERMISSION]
    _LOGGER.info("icmp sockets=%s targets=%d", "raw" if mode else "datagram", len(targets))
    return []


async def _privileged(ctx: ProbeContext) -> bool:
    if MODE_KEY not in ctx.resources:  # setup was not run (one-off checks, tests): detect now
        ctx.resources[MODE_KEY] = await detect_privileged()
    mode = ctx.resources[MODE_KEY]
    if mode is None:
        # Not the target's fault: recorded as an internal failure, never blamed on the target (and no traceback).
        raise CannotProbe(NO_PERMISSION)
    return bool(mode)


def reply_wait_s(timeout_s: float, options: IcmpOptions) -> float:
    """How long each request waits for its reply so that a total loss still ends before the timeout."""
    budget = _SHARE_OF_TIMEOUT * timeout_s - (options.count - 1) * options.packet_interval
    return max(budget / options.count, _MIN_REPLY_WAIT_S)


async def probe_icmp(ctx: ProbeContext, target: Target) -> Measurement:
    """Send ``count`` echo requests; pass if enough replies come back; latency is the average RTT."""
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
            except ICMPError as exc:  # an ICMP error came back instead of an echo reply
                errors.append(str(exc))
                continue
            except ICMPSocketError as exc:  # the OS refused to send (no route, network down)
                raise ConnectError(f"ping {who}: {_socket_reason(exc)}", metrics=_metrics(sent, rtts)) from exc
            rtts.append(rtt)

    metrics = _metrics(sent, rtts)
    lost = sent - len(rtts)
    if not rtts:
        if errors:
            raise ConnectError(f"ping {who}: {errors[-1]} ({len(errors)} of {sent} requests)", metrics=metrics)
        raise ProbeTimeout(f"no reply to {sent} ICMP echo requests to {who}", metrics=metrics)
    if metrics["loss_ratio"] > options.max_loss_ratio:
        raise UnexpectedAnswer(
            f"{lost} of {sent} ICMP echo requests to {who} lost "
            f"(loss {metrics['loss_ratio']:.0%} > max_loss_ratio {options.max_loss_ratio:g})",
            metrics=metrics,
        )
    return Measurement(
        latency_s=metrics["rtt_avg_s"],
        detail=(
            f"{len(rtts)} of {sent} ICMP echo replies from {who}, rtt min/avg/max "
            f"{metrics['rtt_min_s'] * 1e3:.3f}/{metrics['rtt_avg_s'] * 1e3:.3f}/{metrics['rtt_max_s'] * 1e3:.3f} ms"
        ),
        metrics=metrics,
    )


def _metrics(sent: int, rtts: list[float]) -> dict[str, float]:
    metrics: dict[str, float] = {
        "sent": sent,
        "received": len(rtts),
        "loss_ratio": (sent - len(rtts)) / sent if sent else 1.0,
    }
    if rtts:
        metrics.update(rtt_min_s=min(rtts), rtt_max_s=max(rtts), rtt_avg_s=sum(rtts) / len(rtts))
    return metrics


def _socket_reason(exc: ICMPSocketError) -> str:
    # icmplib re-raises the OSError as ICMPSocketError(str(err)); the original keeps the OS's words.
    cause = exc.__context__
    if isinstance(cause, OSError):
        return os_reason(cause)
    return str(exc)
