"""Clock accuracy: an asyncio SNTP client and the sink that journals every measurement (summary: analysis.clock).

The agent asks each configured NTP server for the time at start and every ``ntp.interval`` (RFC 4330
client mode, one 48-byte packet each way) and journals a ``clock_sample`` event per server with the
offset, round-trip delay, stratum, the server's root delay and dispersion, and an error bound:

    error_bound = |offset| + delay / 2 + root_delay / 2 + root_dispersion

that is the measured offset plus the synchronisation distance of the measurement (RFC 5905 §11.2: half
our round trip, half the server's own path to its reference, and its dispersion) — the bound chrony
documents for ``chronyc tracking``. A failed query is journaled too (``ok: false`` with the reason), so
a report can say when the clock could not be checked. Wall-clock steps are journaled separately by the
agent's monitor (``clock_step``).

Why our own client and not ntplib: ntplib is blocking (it would need a thread per query), checks
neither the originate timestamp nor kiss-o'-death packets, and the packet is 48 bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
import statistics
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from watchdog.agent.sinks import AgentContext, Sink
from watchdog.config import NtpSection
from watchdog.errors import WatchdogError
from watchdog.journal.schema import EV_CLOCK_SAMPLE
from watchdog.model import NS
from watchdog.units import split_server

_LOGGER = logging.getLogger(__name__)

NTP_UNIX_DELTA_S = 2_208_988_800  # seconds from 1900-01-01 (NTP era 0) to 1970-01-01
OFFSET_WARN_S = 1.0  # an offset past this is logged (a report states every sample anyway)
_PACKET = struct.Struct("!BBbb II 4s 8s 8s 8s 8s")


class NtpError(WatchdogError):
    """An NTP query got no usable answer (timeout, kiss-o'-death, unsynchronised server, bad packet)."""


@dataclass(frozen=True, slots=True)
class ClockSample:
    """One successful measurement of the local clock against one server (all times in ns)."""

    server: str
    address: str
    ts_ns: int  # local wall clock when the answer arrived
    offset_ns: int  # server time − local time: positive means the local clock is behind
    delay_ns: int  # round trip minus the server's processing time
    stratum: int
    root_delay_ns: int
    root_dispersion_ns: int
    leap: int
    ref_id: str

    @property
    def error_bound_ns(self) -> int:
        """|offset| + delay/2 + root_delay/2 + root_dispersion: how wrong the local clock could have been."""
        return abs(self.offset_ns) + self.delay_ns // 2 + self.root_delay_ns // 2 + self.root_dispersion_ns

    def as_data(self) -> dict[str, Any]:
        """The ``clock_sample`` event data."""
        return {
            "ok": True,
            "server": self.server,
            "address": self.address,
            "offset_ns": self.offset_ns,
            "delay_ns": self.delay_ns,
            "error_bound_ns": self.error_bound_ns,
            "stratum": self.stratum,
            "root_delay_ns": self.root_delay_ns,
            "root_dispersion_ns": self.root_dispersion_ns,
            "leap": self.leap,
            "ref_id": self.ref_id,
        }


def _ntp_bytes(ts_ns: int) -> bytes:
    seconds, rest = divmod(ts_ns, NS)
    return struct.pack("!II", (seconds + NTP_UNIX_DELTA_S) & 0xFFFFFFFF, (rest << 32) // NS)


def _ntp_ns(raw: bytes) -> int:
    seconds, fraction = struct.unpack("!II", raw)
    return (int(seconds) - NTP_UNIX_DELTA_S) * NS + (int(fraction) * NS >> 32)


def _short_ns(value: int) -> int:
    """NTP short format (16.16 fixed point seconds) → ns."""
    return (value * NS) >> 16


def build_request(transmit: bytes) -> bytes:
    """A client-mode packet (LI 0, version 4, mode 3) whose transmit timestamp the server must echo."""
    return _PACKET.pack(0x23, 0, 0, 0, 0, 0, b"\0" * 4, b"\0" * 8, b"\0" * 8, b"\0" * 8, transmit)


def parse_response(packet: bytes, transmit: bytes, t1_ns: int, t4_ns: int, server: str, address: str) -> ClockSample:
    """Check a server's answer and compute offset and delay from t1 (sent) and t4 (received), local wall ns."""
    if len(packet) < _PACKET.size:
        raise NtpError(f"short packet ({len(packet)} bytes)")
    first, stratum, _poll, _prec, root_delay, root_disp, ref_id, _ref, origin, receive, xmit = _PACKET.unpack(
        packet[: _PACKET.size]
    )
    leap, mode = first >> 6, first & 0x7
    if origin != transmit:
        raise NtpError("answer does not echo our request (stale or spoofed)")
    if mode != 4:
        raise NtpError(f"not a server answer (mode {mode})")
    if stratum == 0:
        code = ref_id.decode("ascii", "replace").strip("\0")
        raise NtpError(f"kiss-o'-death {code!r} (the server refuses to answer)")
    if leap == 3 or stratum > 15:
        raise NtpError(f"the server is not synchronised (leap {leap}, stratum {stratum})")
    if xmit == b"\0" * 8:
        raise NtpError("answer has no transmit timestamp")
    t2, t3 = _ntp_ns(receive), _ntp_ns(xmit)
    offset = ((t2 - t1_ns) + (t3 - t4_ns)) // 2
    delay = max(0, (t4_ns - t1_ns) - (t3 - t2))
    ref = ref_id.hex() if stratum > 1 else ref_id.decode("ascii", "replace").strip("\0")
    return ClockSample(
        server, address, t4_ns, offset, delay, stratum, _short_ns(root_delay), _short_ns(root_disp), leap, ref
    )


class _Client(asyncio.DatagramProtocol):
    def __init__(self, transmit: bytes) -> None:
        self.transmit = transmit
        self.answer: asyncio.Future[tuple[bytes, int, int]] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        # only a packet echoing our transmit timestamp counts; anything else is ignored, not an error
        if not self.answer.done() and data[24:32] == self.transmit:
            self.answer.set_result((data, time.time_ns(), time.monotonic_ns()))

    def error_received(self, exc: Exception) -> None:
        if not self.answer.done():
            self.answer.set_exception(exc)


async def query(server: str, timeout_s: float = 5.0) -> ClockSample:
    """Ask one server once; raise NtpError with a one-line reason when there is no usable answer."""
    loop = asyncio.get_running_loop()
    host, port = split_server(server)
    try:
        async with asyncio.timeout(timeout_s):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
            family, _, _, _, sockaddr = infos[0]
            ip, ip_port = str(sockaddr[0]), int(sockaddr[1])
            address = f"[{ip}]:{ip_port}" if family == socket.AF_INET6 else f"{ip}:{ip_port}"
            # t1 goes out as the transmit timestamp with random low bits, so a forged answer must guess it
            t1 = time.time_ns()
            mono1 = time.monotonic_ns()
            transmit = _ntp_bytes(t1)[:6] + secrets.token_bytes(2)
            transport, protocol = await loop.create_datagram_endpoint(
                lambda: _Client(transmit), remote_addr=(ip, ip_port), family=family
            )
            try:
                transport.sendto(build_request(transmit))
                packet, _wall4, mono4 = await protocol.answer
            finally:
                transport.close()
    except TimeoutError:
        raise NtpError(f"no answer within {timeout_s:g}s") from None
    except OSError as exc:
        raise NtpError(f"{type(exc).__name__}: {exc.strerror or exc}") from exc
    # t4 from the monotonic clock, so a wall-clock step during the exchange cannot distort the delay
    return parse_response(packet, transmit, t1, t1 + (mono4 - mono1), server, address)


QueryFn = Callable[[str, float], Any]


class ClockSink(Sink):
    """Measures the clock against every configured server at start and every ``ntp.interval``."""

    name = "clock"

    def __init__(self, ctx: AgentContext, section: NtpSection, *, query_fn: QueryFn = query) -> None:
        self.ctx = ctx
        self.section = section
        self.query_fn = query_fn
        self._task: asyncio.Task[None] | None = None
        self.synced: bool | None = None  # last round: did any server answer?
        self.large_offset = False
        self.rounds = 0

    async def start(self) -> None:
        """Launch the measuring task (the first round runs at once)."""
        self._task = asyncio.create_task(self._loop(), name="clock")

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        failing = False
        while True:
            try:
                await self.measure_round()
            except Exception:
                # a bug here must not end clock checks for good: log once, try again next round
                if not failing:
                    _LOGGER.exception("clock measurement round failed (retrying every interval)")
                failing = True
            else:
                if failing:
                    _LOGGER.info("clock measurement works again")
                failing = False
            due += self.section.interval
            await asyncio.sleep(max(0.0, due - loop.time()))

    async def measure_round(self) -> list[ClockSample]:
        """Query every server at once, journal one event per server, log when the sync state changes."""
        servers = list(self.section.servers)
        outcomes = await asyncio.gather(
            *(self.query_fn(s, self.section.timeout) for s in servers), return_exceptions=True
        )
        writer = self.ctx.writer
        samples: list[ClockSample] = []
        for server, outcome in zip(servers, outcomes, strict=True):
            data: dict[str, Any]
            ts = None
            if isinstance(outcome, ClockSample):
                samples.append(outcome)
                data, ts = outcome.as_data(), outcome.ts_ns
            elif isinstance(outcome, NtpError):
                data = {"ok": False, "server": server, "error": str(outcome)}
            elif isinstance(outcome, Exception):
                _LOGGER.error("NTP query crashed server=%s", server, exc_info=outcome)
                data = {"ok": False, "server": server, "error": f"internal: {type(outcome).__name__}: {outcome}"}
            else:
                raise outcome  # a BaseException (cancellation) is not ours to swallow
            data["interval_s"] = self.section.interval
            await writer.write(writer.event(EV_CLOCK_SAMPLE, data, ts_ns=ts))
        self.rounds += 1
        synced = bool(samples)
        if synced != self.synced:
            if synced:
                offset = statistics.median(s.offset_ns for s in samples) / NS
                _LOGGER.info("clock checked against NTP servers=%d offset_s=%.6f", len(samples), offset)
            else:
                _LOGGER.warning("clock cannot be checked: no NTP server answered servers=%s", ",".join(servers))
        self.synced = synced
        large = any(abs(s.offset_ns) > OFFSET_WARN_S * NS for s in samples)
        if large != self.large_offset and samples:
            worst = max(samples, key=lambda s: abs(s.offset_ns))
            if large:
                _LOGGER.warning("clock offset is large offset_s=%.3f server=%s", worst.offset_ns / NS, worst.server)
            else:
                _LOGGER.info("clock offset back within %.1fs offset_s=%.6f", OFFSET_WARN_S, worst.offset_ns / NS)
            self.large_offset = large
        return samples

    async def aclose(self) -> None:
        """Stop measuring."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def clock_sink_factory(ctx: AgentContext) -> Sink | None:
    """The clock sink, unless ``ntp.enabled`` is false or no server is configured."""
    section = ctx.config.model.ntp
    if not section.enabled or not section.servers:
        return None
    return ClockSink(ctx, section)
