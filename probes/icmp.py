"""ICMP echo probe: do echo requests to a host come back, how fast, and how many are lost?

All ICMP targets share one socket per address family (:class:`EchoSocket`), opened with icmplib's
socket classes: raw when this process may (CAP_NET_RAW), else the kernel's unprivileged "ping"
datagram socket. One socket is what keeps the cost per probe near fping's: with a socket per probe
(``icmplib.async_ping``) every raw socket gets a copy of every ICMP packet on the host, and each
probe pays for opening and closing its own. Replies are matched to their request by (identifier,
sequence), then checked against the destination and a nonce in the payload, so a late reply to a
reused sequence number is never taken for a new one.

Round-trip times come from the kernel's receive timestamp (``SO_TIMESTAMPNS``) minus the wall clock
read just before ``sendto``, so a busy event loop does not inflate them; when the wall clock stepped in
between (the kernel's figure is negative or longer than the monotonic one) the monotonic time to the
read is used instead. A failed send is a connect failure with the OS's reason, and an ICMP error
reply (raw sockets see it directly, ping sockets through ``IP_RECVERR``) is reported by name.

Packets of one probe go out ``packet_interval`` apart; each waits for its reply for at most a share
of the target's timeout, so a probe where every packet is lost still ends on its own, with the loss
metrics, just before the runner's timeout would cut it short. A lost reply holds up only its own
probe: every other target's replies are delivered by the same reader.
"""

from __future__ import annotations

import asyncio
import heapq
import ipaddress
import itertools
import logging
import re
import socket
import struct
import sys
import time
from dataclasses import dataclass
from typing import Protocol

from icmplib import ICMPReply, ICMPv4Socket, ICMPv6Socket, async_ping  # type: ignore[import-untyped]
from icmplib.exceptions import ICMPError, ICMPSocketError, SocketPermissionError  # type: ignore[import-untyped]
from icmplib.utils import unique_identifier  # type: ignore[import-untyped]
from pydantic import Field

from probes._net import is_ip, os_reason, resolve_ip
from watchdog.errors import CannotProbe, ConnectError, ProbeError, ProbeTimeout, UnexpectedAnswer
from watchdog.model import Target
from watchdog.probe import Measurement, ProbeContext, ProbeOptions
from watchdog.units import Duration

_LOGGER = logging.getLogger(__name__)

MODE_KEY = "icmp.privileged"
"""``ctx.resources`` key: True = raw sockets, False = unprivileged datagram sockets, None = neither works."""
SOCKETS_KEY = "icmp.sockets"
"""``ctx.resources`` key: the shared :class:`EchoSocket` of each address family."""
LITERALS_KEY = "icmp.literals"
"""``ctx.resources`` key: which target addresses are IP literals (names are resolved on every probe)."""

NO_PERMISSION = (
    "ICMP probes cannot run: raw sockets need CAP_NET_RAW (under systemd: AmbientCapabilities=CAP_NET_RAW) "
    "and unprivileged ping sockets need this process's group in `sysctl net.ipv4.ping_group_range`"
)

_HOST_RE = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,251}[A-Za-z0-9_.])?")
_MIN_REPLY_WAIT_S = 0.05
_SHARE_OF_TIMEOUT = 0.9  # leave the runner's timeout a margin so a total loss ends here, with metrics

# Linux constants the socket module does not export (asm-generic values: x86, arm, arm64, riscv).
_SO_TIMESTAMPNS = 35
_SO_RCVBUF_BYTES = 1 << 20  # a burst of thousands of replies must not overflow the default ~200 KiB
_SOL_IP, _IP_RECVERR = 0, 11
_IPV6_RECVERR = 25
_SOL_RAW, _ICMP_FILTER = 255, 1
_ICMP6_FILTER = 1
_MSG_ERRQUEUE = 0x2000
_READS_PER_WAKEUP = 256  # then yield to the loop; the reader is called again while data is waiting
_KERNEL_TS_SLACK_NS = 20_000  # NTP slewing between the two clocks over one RTT is far below this
_SWEEP_S = 0.005  # how often expired requests are swept while any is in flight


@dataclass(frozen=True, slots=True)
class _IcmpTypes:
    request: int
    reply: int
    errors: frozenset[int]  # error types that quote the request they answer


_V4 = _IcmpTypes(8, 0, frozenset({3, 4, 11, 12}))
_V6 = _IcmpTypes(128, 129, frozenset({1, 2, 3, 4}))


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
    _LOGGER.info("icmp sockets=%s shared=1 targets=%d", "raw" if mode else "datagram", len(targets))
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


def _checksum(data: bytes) -> int:
    """RFC 1071 checksum in the machine's byte order (the sum is byte-order independent; store it with "=H")."""
    if len(data) % 2:
        data += b"\0"
    total = sum(memoryview(data).cast("H"))
    total = (total & 0xFFFF) + (total >> 16)
    total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


Answer = float | Exception | None
"""What an echo request came to: its RTT in seconds, the ICMP error sent back, or None (no reply in time)."""


class InFlight(Protocol):
    """An echo request in ``EchoSocket._pending``: where it went, its nonce, when it left, and who hears the answer."""

    dest: str
    nonce: bytes
    sent_wall_ns: int
    sent_mono: float

    def answer(self, answer: Answer) -> None:
        """What came back (called once, after the request left the socket's table)."""


@dataclass(slots=True)
class _Echo:
    """One echo request in flight, awaited by :meth:`EchoSocket.ping`.

    Anything in ``EchoSocket._pending`` needs these four fields and ``answer``: the agent's ICMP driver
    (``watchdog.agent.icmp_driver``) puts its own per-target objects there, without a Future.
    """

    dest: str
    nonce: bytes
    future: asyncio.Future[Answer]
    sent_wall_ns: int = 0
    sent_mono: float = 0.0

    def answer(self, answer: Answer) -> None:
        """What came back (called once, after the request left ``_pending``)."""
        if not self.future.done():
            self.future.set_result(answer)


class EchoSocket:
    """One ICMP socket shared by every ICMP probe of an address family; a reader hands each reply to its request."""

    def __init__(self, family: int, privileged: bool) -> None:
        self.family = family
        self.privileged = privileged
        self.v6 = family == socket.AF_INET6
        self._types = _V6 if self.v6 else _V4
        self._loop = asyncio.get_running_loop()
        try:
            self._icmp = (ICMPv6Socket if self.v6 else ICMPv4Socket)(None, privileged)
        except SocketPermissionError as exc:
            raise CannotProbe(NO_PERMISSION) from exc
        except ICMPSocketError as exc:
            raise CannotProbe(f"cannot open an ICMP socket: {exc}") from exc
        self.sock: socket.socket = self._icmp.sock
        self.sock.setblocking(False)
        self.kernel_timestamps = self._try_setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
        self._try_setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _SO_RCVBUF_BYTES)
        if privileged:
            # A raw socket sees every ICMP packet on the host (our own requests too, on loopback):
            # let the kernel pass only echo replies and the errors that can answer a request.
            self._install_type_filter()
            self.ident = int(unique_identifier())
        else:
            # The kernel sets the identifier of a ping socket (its "port") and routes only our replies here;
            # ICMP errors about our requests arrive on the error queue.
            if self.v6:
                self._try_setsockopt(socket.IPPROTO_IPV6, _IPV6_RECVERR, 1)
            else:
                self._try_setsockopt(_SOL_IP, _IP_RECVERR, 1)
            self.ident = 0
        self._pending: dict[int, InFlight] = {}
        self._next_seq = 0
        self._nonces = itertools.count(1)
        self._deadlines: list[tuple[float, int, int, InFlight]] = []
        self._order = itertools.count()
        self._sweeper: asyncio.TimerHandle | None = None
        self._canonical: dict[str, str] = {}
        self._buffer = bytearray(65_536)
        self._view = memoryview(self._buffer)
        self._ancsize = socket.CMSG_SPACE(16)
        self._loop.add_reader(self.sock.fileno(), self._on_readable)
        self.closed = False
        self.replies = 0
        self.strays = 0  # our identifier, but no request in flight matches (late, duplicated, or forged)
        self.foreign = 0  # echo replies to other programs' pings (another identifier; raw sockets only)

    def _try_setsockopt(self, level: int, option: int, value: int | bytes) -> bool:
        if not sys.platform.startswith("linux") and level != socket.SOL_SOCKET:
            return False
        try:
            self.sock.setsockopt(level, option, value)
        except OSError as exc:
            _LOGGER.info("icmp socket option not set level=%d option=%d error=%s", level, option, exc)
            return False
        return True

    def _install_type_filter(self) -> None:
        passed = {self._types.reply, *self._types.errors}
        if self.v6:
            words = [0xFFFFFFFF] * 8  # a set bit blocks that type
            for kind in passed:
                words[kind >> 5] &= ~(1 << (kind & 31))
            self._try_setsockopt(socket.IPPROTO_ICMPV6, _ICMP6_FILTER, struct.pack("=8I", *words))
        else:
            mask = 0xFFFFFFFF
            for kind in passed:
                mask &= ~(1 << kind)
            self._try_setsockopt(_SOL_RAW, _ICMP_FILTER, struct.pack("=I", mask))

    @property
    def in_flight(self) -> int:
        """Echo requests waiting for their reply."""
        return len(self._pending)

    def _canonical_ip(self, ip: str) -> str:
        canon = self._canonical.get(ip)
        if canon is None:
            canon = self._canonical[ip] = str(ipaddress.ip_address(ip.split("%")[0]))
        return canon

    def _allocate(self) -> int:
        for _ in range(65_536):
            seq = self._next_seq
            self._next_seq = (seq + 1) & 0xFFFF
            if seq not in self._pending:
                return seq
        raise CannotProbe("65536 ICMP echo requests in flight on one socket: too many ICMP targets at once")

    def _packet(self, seq: int, payload: bytes) -> bytes:
        header = struct.pack("!BBHHH", self._types.request, 0, 0, self.ident, seq)
        if self.privileged and not self.v6:  # the kernel fills in the checksum everywhere else
            header = header[:2] + struct.pack("=H", _checksum(header + payload)) + header[4:]
        return header + payload

    def register(self, echo: InFlight) -> int:
        """Put ``echo`` in flight under a free sequence number (raises CannotProbe when none is free)."""
        seq = self._allocate()
        self._pending[seq] = echo
        return seq

    def unregister(self, seq: int, echo: InFlight) -> None:
        """Take ``echo`` out of flight without an answer (it was never sent, or its probe was abandoned)."""
        if self._pending.get(seq) is echo:
            del self._pending[seq]

    def next_nonce(self) -> int:
        """The next payload nonce (shared by every request on this socket)."""
        return next(self._nonces)

    async def ping(self, ip: str, payload_size: int, wait_s: float) -> Answer:
        """Send one echo request to ``ip`` and wait at most ``wait_s`` for what comes back.

        Raises OSError when the request could not be sent (no route, network down).
        """
        if self.closed:
            raise CannotProbe("the shared ICMP socket was closed (the agent is stopping)")
        seq = self._allocate()
        nonce = next(self._nonces).to_bytes(8, "big")[: min(8, payload_size)]
        packet = self._packet(seq, nonce + bytes(payload_size - len(nonce)) if payload_size > 8 else nonce)
        echo = _Echo(self._canonical_ip(ip), nonce, self._loop.create_future())
        self._pending[seq] = echo
        try:
            echo.sent_mono = time.monotonic()
            echo.sent_wall_ns = time.time_ns()
            try:
                self.sock.sendto(packet, (ip, 0))
            except BlockingIOError:  # the send buffer is full: wait for room (rare; the RTT includes the wait)
                await self._loop.sock_sendto(self.sock, packet, (ip, 0))
            self._expire_at(echo.sent_mono + wait_s, seq, echo)
            return await echo.future
        finally:
            if self._pending.get(seq) is echo:
                del self._pending[seq]

    def _expire_at(self, deadline: float, seq: int, echo: InFlight) -> None:
        # One sweep timer for all requests instead of a timer each: a heap push is far cheaper than a
        # TimerHandle created and cancelled per packet. A loss is declared at most _SWEEP_S late.
        heapq.heappush(self._deadlines, (deadline, next(self._order), seq, echo))
        if self._sweeper is None:
            self._sweeper = self._loop.call_at(deadline, self._sweep)

    def _sweep(self) -> None:
        now = self._loop.time()
        deadlines = self._deadlines
        while deadlines and deadlines[0][0] <= now:
            _, _, seq, echo = heapq.heappop(deadlines)
            if self._pending.get(seq) is echo:
                self._resolve(seq, echo, None)
        self._sweeper = self._loop.call_at(max(deadlines[0][0], now + _SWEEP_S), self._sweep) if deadlines else None

    def read_ready(self) -> None:
        """Read whatever answers are waiting now (the agent's ICMP driver, right after a burst of requests)."""
        self._on_readable()

    def _on_readable(self) -> None:
        sock, view, buffer = self.sock, self._view, self._buffer
        for _ in range(_READS_PER_WAKEUP):
            try:
                size, ancdata, _flags, source = sock.recvmsg_into([view], self._ancsize)
            except BlockingIOError:
                if not self.privileged:
                    self._drain_errors()
                return
            except OSError:  # a ping socket reports a pending ICMP error this way: read the error queue
                if not self._drain_errors():
                    return
                continue
            read_mono = time.monotonic()
            offset = (buffer[0] & 0x0F) * 4 if self.privileged and not self.v6 else 0
            if size < offset + 8:
                continue
            if buffer[offset] != self._types.reply:
                if buffer[offset] in self._types.errors and self.privileged:
                    self._handle_error(bytes(view[offset:size]), source[0])
                continue
            ident, seq = struct.unpack_from("!HH", buffer, offset + 4)
            if self.privileged and ident != self.ident:
                self.foreign += 1  # another program's ping (a raw socket sees every reply on the host)
                continue
            echo = self._pending.get(seq)
            if (
                echo is None
                or echo.dest != (self._canonical_ip(source[0]) if self.v6 else source[0])
                or view[offset + 8 : offset + 8 + len(echo.nonce)] != echo.nonce
            ):
                self.strays += 1
                continue
            rtt = read_mono - echo.sent_mono
            for level, kind, data in ancdata:
                if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS:
                    seconds, nanos = struct.unpack("=qq" if len(data) >= 16 else "=ii", data[:16])
                    rtt_kernel_ns = seconds * 1_000_000_000 + nanos - echo.sent_wall_ns
                    if 0 <= rtt_kernel_ns <= rtt * 1e9 + _KERNEL_TS_SLACK_NS:
                        rtt = rtt_kernel_ns / 1e9
            self.replies += 1
            self._resolve(seq, echo, rtt)

    def _handle_error(self, icmp: bytes, source: str) -> None:
        """An ICMP error quoting one of our requests: the original IP header, then its first 8 bytes."""
        inner = icmp[8:]
        if self.v6:
            if len(inner) < 48:
                return
            dest, original = socket.inet_ntop(socket.AF_INET6, inner[24:40]), inner[40:48]
        else:
            if len(inner) < 20:
                return
            ihl = (inner[0] & 0x0F) * 4
            if len(inner) < ihl + 8:
                return
            dest, original = socket.inet_ntop(socket.AF_INET, inner[16:20]), inner[ihl : ihl + 8]
        kind, _, _, ident, seq = struct.unpack("!BBHHH", original)
        echo = self._pending.get(seq)
        if kind != self._types.request or ident != self.ident or echo is None or echo.dest != dest:
            self.strays += 1
            return
        self._resolve(seq, echo, _icmp_error(source, self.v6, ident, seq, icmp[0], icmp[1], len(icmp)))

    def _drain_errors(self) -> bool:
        """Read a ping socket's error queue (``IP_RECVERR``); True if anything was there."""
        found = False
        for _ in range(_READS_PER_WAKEUP):
            try:
                size, ancdata, _flags, dest = self.sock.recvmsg_into([self._view], 512, _MSG_ERRQUEUE)
            except OSError:  # EAGAIN: the queue is empty
                return found
            found = True
            original = bytes(self._view[: min(size, 8)])
            for level, option, data in ancdata:
                if (level, option) not in ((_SOL_IP, _IP_RECVERR), (socket.IPPROTO_IPV6, _IPV6_RECVERR)):
                    continue
                _errno, origin, kind, code = struct.unpack("=IBBB", data[:7])
                if origin not in (2, 3) or len(original) < 8:  # SO_EE_ORIGIN_ICMP / _ICMP6 only
                    continue
                seq = struct.unpack("!H", original[6:8])[0]
                echo = self._pending.get(seq)
                if echo is None or echo.dest != self._canonical_ip(dest[0]):
                    self.strays += 1
                    continue
                offender = _offender(data[16:], self.v6) or dest[0]
                self._resolve(seq, echo, _icmp_error(offender, self.v6, 0, seq, kind, code, size))
        return found

    def _resolve(self, seq: int, echo: InFlight, answer: Answer) -> None:
        del self._pending[seq]
        echo.answer(answer)

    def expire(self, seq: int, echo: InFlight) -> None:
        """No reply in time: ``echo`` (still in flight as ``seq``) ends as lost; nothing if it already ended."""
        if self._pending.get(seq) is echo:
            self._resolve(seq, echo, None)

    async def aclose(self) -> None:
        """Stop reading and close the socket; requests still in flight end as lost."""
        if self.closed:
            return
        self.closed = True
        self._loop.remove_reader(self.sock.fileno())
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for seq, echo in list(self._pending.items()):
            self._resolve(seq, echo, None)
        self._icmp.close()


class EchoPacket:
    """One target's echo request built once: each send patches the sequence number, the nonce and the checksum.

    :meth:`fill` gives the same bytes as :meth:`EchoSocket.ping` builds for the same sequence and nonce.
    """

    __slots__ = ("_base_sum", "_buf", "_checksum", "_shared", "_size")

    def __init__(self, shared: EchoSocket, payload_size: int) -> None:
        self._shared = shared
        self._size = payload_size
        self._buf = bytearray(struct.pack("!BBHHH", shared._types.request, 0, 0, shared.ident, 0) + bytes(payload_size))
        self._checksum = shared.privileged and not shared.v6  # the kernel fills it in everywhere else
        self._base_sum = (shared._types.request << 8) + shared.ident

    def fill(self, seq: int, nonce: int) -> tuple[bytes | bytearray, bytes]:
        """The packet to send (valid until the next call) and the nonce its reply must carry."""
        if self._size < 8:
            short = nonce.to_bytes(8, "big")[: self._size]
            return self._shared._packet(seq, short), short
        buf = self._buf
        nonce_bytes = nonce.to_bytes(8, "big")
        buf[6] = seq >> 8
        buf[7] = seq & 0xFF
        buf[8:16] = nonce_bytes
        if self._checksum:
            total = (
                self._base_sum
                + seq
                + (nonce >> 48)
                + ((nonce >> 32) & 0xFFFF)
                + ((nonce >> 16) & 0xFFFF)
                + (nonce & 0xFFFF)
            )
            total = (total & 0xFFFF) + (total >> 16)
            total = (total & 0xFFFF) + (total >> 16)
            total = ~total & 0xFFFF
            buf[2] = total >> 8
            buf[3] = total & 0xFF
        return buf, nonce_bytes


def _offender(sockaddr: bytes, v6: bool) -> str | None:
    """The address of the host that sent the ICMP error, from the sockaddr after ``sock_extended_err``."""
    try:
        if v6 and len(sockaddr) >= 24:
            return socket.inet_ntop(socket.AF_INET6, sockaddr[8:24])
        if not v6 and len(sockaddr) >= 8:
            return socket.inet_ntop(socket.AF_INET, sockaddr[4:8])
    except (OSError, ValueError):
        pass
    return None


def _icmp_error(source: str, v6: bool, ident: int, seq: int, kind: int, code: int, size: int) -> ICMPError:
    """icmplib's exception for this ICMP type and code, for its wording ("Destination host unreachable")."""
    reply = ICMPReply(source, 6 if v6 else 4, ident, seq, kind, code, size, time.time())
    try:
        reply.raise_for_status()
    except ICMPError as exc:
        return exc
    return ICMPError(f"Error type: {kind}, code: {code}", reply)


def echo_socket(ctx: ProbeContext, ip: str, privileged: bool) -> EchoSocket:
    """The context's shared socket for ``ip``'s address family, opened on first use and closed with the context."""
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    sockets: dict[int, EchoSocket] = ctx.resources.setdefault(SOCKETS_KEY, {})
    shared = sockets.get(family)
    if shared is None or shared.closed:
        shared = sockets[family] = EchoSocket(family, privileged)
        ctx.closers.append(shared.aclose)
        _LOGGER.info(
            "icmp shared socket opened family=%s mode=%s kernel_timestamps=%s",
            "ipv6" if family == socket.AF_INET6 else "ipv4",
            "raw" if privileged else "datagram",
            shared.kernel_timestamps,
        )
    return shared


async def probe_icmp(ctx: ProbeContext, target: Target) -> Measurement:
    """Send ``count`` echo requests; pass if enough replies come back; latency is the average RTT."""
    options: IcmpOptions = target.options or IcmpOptions()
    privileged = await _privileged(ctx)
    # Parsing an address literal costs more than the rest of sending a packet: remember which are literals.
    literals: dict[str, bool] = ctx.resources.setdefault(LITERALS_KEY, {})
    literal = literals.get(target.address)
    if literal is None:
        literal = literals[target.address] = is_ip(target.address)
    ip = target.address if literal else await resolve_ip(target.address)
    who = ip if ip == target.address else f"{target.address} ({ip})"
    shared = echo_socket(ctx, ip, privileged)
    wait_s = reply_wait_s(target.timeout_s, options)
    rtts: list[float] = []
    errors: list[str] = []
    sent = 0
    for sequence in range(options.count):
        if sequence:
            await asyncio.sleep(options.packet_interval)
        try:
            answer = await shared.ping(ip, options.payload_size, wait_s)
        except OSError as exc:  # the OS refused to send (no route, network down)
            raise send_failed(who, sent, rtts, exc) from exc
        sent += 1
        if isinstance(answer, float):
            rtts.append(answer)
        elif isinstance(answer, ICMPError):  # an ICMP error came back instead of an echo reply
            errors.append(str(answer))

    outcome = verdict(who, sent, rtts, errors, options)
    if isinstance(outcome, ProbeError):
        raise outcome
    return outcome


def send_failed(who: str, sent: int, rtts: list[float], exc: OSError) -> ConnectError:
    """The verdict when the OS refused to send an echo request (no route, network down)."""
    return ConnectError(f"ping {who}: {os_reason(exc)}", metrics=_metrics(sent, rtts))


def verdict(
    who: str, sent: int, rtts: list[float], errors: list[str], options: IcmpOptions
) -> Measurement | ProbeError:
    """What ``sent`` echo requests came to: the measurement, or the error to raise (not raised here)."""
    metrics = _metrics(sent, rtts)
    lost = sent - len(rtts)
    if not rtts:
        if errors:
            return ConnectError(f"ping {who}: {errors[-1]} ({len(errors)} of {sent} requests)", metrics=metrics)
        return ProbeTimeout(f"no reply to {sent} ICMP echo requests to {who}", metrics=metrics)
    if metrics["loss_ratio"] > options.max_loss_ratio:
        return UnexpectedAnswer(
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
        # to the microsecond, like latency_us: every extra digit is journaled with every run
        metrics.update(
            rtt_min_s=round(min(rtts), 6), rtt_max_s=round(max(rtts), 6), rtt_avg_s=round(sum(rtts) / len(rtts), 6)
        )
    return metrics
