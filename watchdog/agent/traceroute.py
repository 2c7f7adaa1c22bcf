"""The path at the moment of failure: a bounded ICMP traceroute when an outage opens and when it closes.

With ``traceroute.enabled``, every outage notice (a provider's target or a control) starts one traceroute
to the target's host, run in a thread with icmplib's raw ICMP sockets (CAP_NET_RAW, as the ICMP probe
may have), and journals a chained ``traceroute`` event referring to the outage event: the hops
``[ttl, address or null, rtt_ms or null, kind]`` (``kind``: ``time_exceeded``, ``unreachable`` — a router
said there is no way on — ``reached``, or ``silent``) and where the path ended. Bounded: at most
``max_hops`` TTLs, one probe each with ``timeout``, and it stops after :data:`MAX_SILENT` silent hops in a
row, at the destination, or at a router's "unreachable". Rate-limited: one traceroute at a time, and at
most one opening per target every ``min_gap`` (default 10 min) is traced, with its close, so a flapping
target cannot start a flood.

A hop that does not answer is not evidence of loss on its own (routers rate-limit ICMP); the path's end
is: the last hop that answered, and whether the destination did.

Which AS a hop belongs to comes only from the user's ``traceroute.asn`` table (prefix → ``AS12389 Name``),
never from a lookup on the network: the event then carries ``asns`` (address → AS, for the hops in the
table) and ``ended_asn`` (the AS of ``ended_at``), which reports and letters state beside the address.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import time
import urllib.parse
from collections.abc import Mapping
from typing import Any

import icmplib  # type: ignore[import-untyped]

from watchdog.agent.sinks import AgentContext, OutageNotice, Sink
from watchdog.config import TracerouteSection
from watchdog.journal.schema import EV_TRACEROUTE
from watchdog.model import Target

_LOGGER = logging.getLogger(__name__)

MAX_SILENT = 3  # silent hops in a row after which the trace stops (the path ended before them)


def target_host(target: Target) -> str:
    """The host part of a target's address (``host:port``, ``[v6]:port``, a URL, a bare host)."""
    address = target.address
    if "://" in address:
        return urllib.parse.urlsplit(address).hostname or address
    if address.startswith("["):
        return address[1 : address.index("]")] if "]" in address else address
    if address.count(":") == 1:
        return address.split(":", 1)[0]
    return address


class AsnTable:
    """The user's prefix → AS table (``traceroute.asn``); the longest prefix holding an address wins."""

    def __init__(self, table: Mapping[str, str]) -> None:
        nets = [(ipaddress.ip_network(prefix), label) for prefix, label in table.items()]
        self._nets = sorted(nets, key=lambda n: n[0].prefixlen, reverse=True)

    def lookup(self, address: str | None) -> str | None:
        """The AS of ``address``, or None when no prefix holds it (or it is not an IP address)."""
        if address is None:
            return None
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return None
        return next((label for net, label in self._nets if ip.version == net.version and ip in net), None)

    def annotate(self, data: dict[str, Any]) -> dict[str, Any]:
        """``data`` (a ``traceroute`` event) with ``asns`` and ``ended_asn`` for the addresses the table knows."""
        asns = {h[1]: a for h in data.get("hops", []) if (a := self.lookup(h[1])) is not None}
        out = dict(data)
        if asns:
            out["asns"] = asns
        ended = self.lookup(data.get("ended_at"))
        if ended is not None:
            out["ended_asn"] = ended
        return out


def trace(host: str, *, max_hops: int, timeout_s: float) -> dict[str, Any]:
    """One bounded traceroute (blocking; needs raw sockets); the ``traceroute`` event data."""
    address = icmplib.resolve(host)[0] if icmplib.is_hostname(host) else host
    sock_class = icmplib.ICMPv6Socket if icmplib.is_ipv6_address(address) else icmplib.ICMPv4Socket
    ident = icmplib.utils.unique_identifier()
    hops: list[list[Any]] = []
    stopped = "max_hops"
    silent = 0
    started = time.monotonic()
    with sock_class(privileged=True) as sock:
        for ttl in range(1, max_hops + 1):
            request = icmplib.ICMPRequest(destination=address, id=ident, sequence=ttl, ttl=ttl)
            try:
                sock.send(request)
                reply = sock.receive(request, timeout_s)
            except icmplib.TimeoutExceeded:
                hops.append([ttl, None, None, "silent"])
                silent += 1
                if silent >= MAX_SILENT:
                    stopped = "silent"
                    break
                continue
            silent = 0
            rtt = round((reply.time - request.time) * 1000, 3)
            try:
                reply.raise_for_status()
            except icmplib.TimeExceeded:
                hops.append([ttl, reply.source, rtt, "time_exceeded"])
                continue
            except icmplib.DestinationUnreachable:
                hops.append([ttl, reply.source, rtt, "unreachable"])
                stopped = "unreachable"
                break
            except icmplib.ICMPError:
                hops.append([ttl, reply.source, rtt, "error"])
                stopped = "error"
                break
            hops.append([ttl, reply.source, rtt, "reached"])
            stopped = "reached"
            break
    answered = [h for h in hops if h[1] is not None]
    return {
        "host": host,
        "address": address,
        "hops": hops,
        "reached": stopped == "reached",
        "ended_at": answered[-1][1] if answered else None,
        "ended_ttl": answered[-1][0] if answered else None,
        "stopped": stopped,
        "seconds": round(time.monotonic() - started, 3),
    }


class TracerouteSink(Sink):
    """Traces the path to a target when its outage opens and closes."""

    name = "traceroute"

    def __init__(self, ctx: AgentContext, section: TracerouteSection) -> None:
        self.ctx = ctx
        self.section = section
        self._lock = asyncio.Semaphore(1)
        self._last: dict[str, float] = {}  # when each target's last opening was traced (monotonic)
        self._open_traced: set[str] = set()  # targets whose current outage's opening was traced
        self._tasks: set[asyncio.Task[None]] = set()
        self.disabled = ""
        self.traced = 0
        self.skipped = 0  # rate-limited
        self.asn = AsnTable(section.asn)

    async def on_outage(self, notice: OutageNotice) -> None:
        """Start a traceroute for this notice unless the target was traced within ``min_gap``."""
        if self.disabled:
            return
        key = notice.target.key
        now = time.monotonic()
        if notice.event == "opened":
            if now - self._last.get(key, -1e18) < self.section.min_gap:
                self.skipped += 1
                return
            self._last[key] = now
            self._open_traced.add(key)
        elif key in self._open_traced:  # the close of an outage whose opening was traced: the pair
            self._open_traced.discard(key)
        else:
            self.skipped += 1
            return
        task = asyncio.create_task(self._trace(notice), name=f"traceroute:{key}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _trace(self, notice: OutageNotice) -> None:
        host = target_host(notice.target)
        async with self._lock:
            data: dict[str, Any]
            try:
                data = await asyncio.to_thread(
                    trace, host, max_hops=self.section.max_hops, timeout_s=self.section.timeout
                )
                data = self.asn.annotate(data)
            except icmplib.SocketPermissionError:
                self.disabled = "raw ICMP sockets are not allowed (run with CAP_NET_RAW)"
                _LOGGER.warning("traceroute is off: %s", self.disabled)
                data = {"host": host, "error": self.disabled}
            except (icmplib.ICMPLibError, OSError) as exc:
                data = {"host": host, "error": f"{type(exc).__name__}: {exc}"}
        data["trigger"] = f"outage_{notice.event}"
        writer = self.ctx.writer
        await writer.write(writer.event(EV_TRACEROUTE, data, target=notice.target.key, ref=notice.seq))
        self.traced += 1
        _LOGGER.info(
            "traceroute target=%s trigger=%s ended_at=%s stopped=%s",
            notice.target.key,
            data["trigger"],
            data.get("ended_at"),
            data.get("stopped", data.get("error")),
        )

    async def aclose(self) -> None:
        """Cancel traces still running (their thread finishes within its bound)."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task


def traceroute_sink_factory(ctx: AgentContext) -> Sink | None:
    """The traceroute sink when ``traceroute.enabled``."""
    section = ctx.config.model.traceroute
    if not section.enabled:
        return None
    return TracerouteSink(ctx, section)
