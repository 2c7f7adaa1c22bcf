"""Speed probe: download (and upload) throughput against a server the user names, bounded by bytes and seconds.

Three kinds of server (``speed: {server: ...}``):

* ``http``       the address is a plain URL of a large file: download only;
* ``librespeed`` the address is a LibreSpeed-compatible backend's base URL: ``GET <base>/garbage?ckSize=N``
  streams N MiB of junk (download), ``POST <base>/empty`` swallows a body (upload);
* ``iperf3``     the address is an iperf3 server's ``host:port``: the ``iperf3`` client (Debian ``iperf3``)
  runs ``-R`` for download, plain for upload, ``-J`` for its JSON figures.

Each direction stops at ``max_bytes`` or ``max_seconds``, whichever comes first (iperf3 takes one bound:
its ``-t`` is ``max_seconds``); throughput is the bytes
of the body over the time from its first byte to its last (the answer's latency is not the line's speed).
While a download runs, one TCP connect to the same server measures the latency under load. Only one
speed test runs at a time in an agent (a shared lock), so two never measure each other. While the line
or the target's provider is down the test is *skipped*: the agent sets a gate in the probe context
(``SPEED_GATE_KEY``); a skipped test is journaled as ``internal`` with ``metrics.skipped = 1``, so it
counts neither as up nor as down, and reports count it apart.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import time
from collections.abc import AsyncIterator, Callable
from typing import Literal
from urllib.parse import urlsplit

import aiohttp
from pydantic import Field

from probes._net import os_reason
from probes.http import check_address as check_url
from watchdog.errors import CannotProbe, ConnectError, ResolveError, UnexpectedAnswer
from watchdog.model import Target
from watchdog.probe import Measurement, ProbeContext, ProbeOptions, split_host_port
from watchdog.units import Duration

LOCK_KEY = "speed.lock"
SPEED_GATE_KEY = "speed.gate"
"""``ctx.resources`` key: ``Callable[[Target], str | None]`` set by the agent; a reason to skip, or None."""
_CHUNK = 256 * 1024
_UPLOAD_BLOCK = b"\0" * _CHUNK
_BUFFER = 4 * 1024 * 1024  # one reused buffer the socket reads the rest of a body into
# SO_RCVLOWAT while counting: be woken for about 20 ms of data (at the speed measured so far), not for every
# segment; fewer, larger reads (and fewer ACKs) are most of what a read costs. Between 16 KiB and 512 KiB.
_LOWAT_S, _LOWAT_MIN, _LOWAT_MAX, _LOWAT_START = 0.02, 16 * 1024, 512 * 1024, 64 * 1024


class SpeedOptions(ProbeOptions):
    """Which server, how much to move at most, and in which directions."""

    server: Literal["http", "librespeed", "iperf3"] = "http"
    max_bytes: int = Field(default=100 * 1024 * 1024, ge=64 * 1024, le=10 * 1024**3)
    max_seconds: Duration = 10.0
    upload: bool = False  # librespeed and iperf3 only
    iperf3: str = "iperf3"  # the client binary


class SpeedSkipped(CannotProbe):
    """The line or the target's provider is down: no test now (journaled as internal, skipped)."""


def check_address(address: str) -> str | None:
    """A URL for http/librespeed, ``host:port`` for iperf3 (which one is known only with the options)."""
    if "://" in address:
        return check_url(address)
    try:
        split_host_port(address)
    except ValueError as exc:
        return str(exc)
    return None


def _lock(ctx: ProbeContext) -> asyncio.Lock:
    lock: asyncio.Lock | None = ctx.resources.get(LOCK_KEY)
    if lock is None:
        lock = ctx.resources[LOCK_KEY] = asyncio.Lock()
    return lock


async def probe_speed(ctx: ProbeContext, target: Target) -> Measurement:
    """Run one speed test (one at a time per agent), or skip it while the line or provider is down."""
    options: SpeedOptions = target.options or SpeedOptions()
    gate: Callable[[Target], str | None] | None = ctx.resources.get(SPEED_GATE_KEY)
    reason = gate(target) if gate is not None else None
    if reason:
        raise SpeedSkipped(f"speed test skipped: {reason}", metrics={"skipped": 1.0})
    async with _lock(ctx):
        if options.server == "iperf3":
            metrics = await _iperf3(target, options)
        else:
            metrics = await _http(target, options)
    parts = [f"download {metrics['download_bps'] / 1e6:.1f} Mbit/s"]
    if "upload_bps" in metrics:
        parts.append(f"upload {metrics['upload_bps'] / 1e6:.1f} Mbit/s")
    if "loaded_latency_s" in metrics:
        parts.append(f"latency under load {metrics['loaded_latency_s'] * 1e3:.0f} ms")
    moved = metrics["download_bytes"] + metrics.get("upload_bytes", 0.0)
    parts.append(f"{moved / 1e6:.1f} MB moved")
    return Measurement(latency_s=metrics.get("ttfb_s"), detail=", ".join(parts), metrics=metrics)


# ----------------------------------------------------------------------------------------------- HTTP


def _session() -> aiohttp.ClientSession:
    timeout = aiohttp.ClientTimeout(total=None, connect=None, sock_read=None, sock_connect=None)
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True), timeout=timeout)


async def _connect_time(host: str, port: int) -> float | None:
    t0 = time.monotonic()
    try:
        _reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 5.0)
    except (OSError, TimeoutError):
        return None
    elapsed = time.monotonic() - t0
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass
    return elapsed


async def _http(target: Target, options: SpeedOptions) -> dict[str, float]:
    url = target.probe_address
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    base = url.rstrip("/")
    if options.server == "librespeed":
        mib = max(1, -(-options.max_bytes // (1024 * 1024)))
        down_url = f"{base}/garbage?ckSize={mib}"
    else:
        down_url = url
    metrics: dict[str, float] = {}
    async with _session() as session:
        loaded: asyncio.Task[float | None] | None = None
        t0 = time.monotonic()
        try:
            async with session.get(down_url) as response:
                if response.status != 200:
                    raise UnexpectedAnswer(f"HTTP {response.status} from {target.address} (expected 200)")
                first = await response.content.read(_CHUNK)
                t_first = time.monotonic()
                metrics["ttfb_s"] = round(t_first - t0, 6)
                loaded = asyncio.create_task(_connect_time(host, port))
                got = len(first)
                t_last = t_first
                counter = _Counter.take_over(response, options.max_bytes - got, t_first + options.max_seconds)
                if counter is not None:  # a plain body: the socket reads straight into one buffer from here
                    await counter.done
                    got += counter.drained + counter.got
                    t_last = counter.t_last if counter.got else t_last
                    if counter.short:  # as aiohttp's "payload is not completed" was
                        raise ConnectError(
                            f"{target.address}: the body ended after {got} of {response.content_length} bytes"
                        )
                while counter is None and got < options.max_bytes and t_last - t_first < options.max_seconds:
                    chunk = await response.content.read(min(_CHUNK, options.max_bytes - got))
                    if not chunk:
                        break
                    got += len(chunk)
                    t_last = time.monotonic()
        except aiohttp.ClientConnectorError as exc:
            raise ConnectError(f"connect {host}:{port}: {os_reason(exc.os_error)}") from exc
        except aiohttp.ClientError as exc:
            raise ConnectError(f"{target.address}: {exc}") from exc
        seconds = max(t_last - t_first, 1e-6)
        body = got - len(first)  # the first chunk's time is not measured (it came with the answer)
        if body <= 0:
            raise UnexpectedAnswer(f"{target.address}: the body ended after {got} bytes: nothing to measure")
        metrics["download_bps"] = round(body * 8 / seconds, 1)
        metrics["download_bytes"] = float(got)
        metrics["download_s"] = round(seconds, 6)
        if loaded is not None:
            latency = await loaded
            if latency is not None:
                metrics["loaded_latency_s"] = round(latency, 6)
        if options.upload and options.server == "librespeed":
            metrics.update(await _upload(session, f"{base}/empty", options, target))
    return metrics


class _Counter(asyncio.BufferedProtocol):
    """The rest of a plain body (http, ``Content-Length`` or ended by the close, not chunked, not encoded) counted
    straight from the socket: the transport reads into one reused buffer and only the byte count and the
    clock are kept, where aiohttp would make, parse, queue and hand over a bytes object per read; and the
    socket's low-water mark (SO_RCVLOWAT) asks to be woken for about 20 ms of data at the speed so far, not for
    every segment (on loopback most of a read's cost is per wake-up, not per byte: measured, the buffer alone
    saved nothing, the low-water mark about half; bench/RESULTS-degraded.md). The speed
    probe's own CPU per Gbit is what this saves (bench/bench_speed.py); the figures are the same: bytes of the
    body, the time of the last one, at most ``limit`` bytes, stopping at the first read at or past ``deadline``.

    aiohttp keeps the connection (and closes it when the answer is released); its protocol is told when the
    connection is lost, as it would have been.
    """

    def __init__(self, previous: asyncio.BaseProtocol, limit: int, deadline: float, length: int | None) -> None:
        self.previous = previous
        self.limit = limit
        self.deadline = deadline
        self.length = length  # what is left of the Content-Length (None: the body ends with the connection)
        self.buffer = memoryview(bytearray(_BUFFER))
        self.drained = 0
        self.got = 0
        self.t_last = 0.0
        self.short = False
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.BaseTransport | None = None
        self.sock: socket.socket | None = None
        self.lowat = 1
        self.t_first = 0.0
        self.timer: asyncio.TimerHandle | None = None

    @classmethod
    def take_over(cls, response: aiohttp.ClientResponse, limit: int, deadline: float) -> _Counter | None:
        """Count the rest of ``response``'s body from its socket, or None when aiohttp must decode it."""
        connection = response.connection
        transport = None if connection is None else connection.transport
        encoded = response.headers.get("Content-Encoding", "identity").strip().lower() not in ("", "identity")
        chunked = "chunked" in response.headers.get("Transfer-Encoding", "").lower()
        if transport is None or connection is None or connection.protocol is None or encoded or chunked:
            return None
        if response.content.is_eof() or not isinstance(transport, asyncio.Transport):
            return None
        if transport.get_extra_info("sslcontext") is not None:  # https: aiohttp's reader (no local test for it)
            return None
        transport.pause_reading()
        buffered = response.content.read_nowait() if limit > 0 else b""  # what aiohttp holds already
        drained = min(len(buffered), limit)
        length = response.content_length
        left = None if length is None else length - response.content.total_bytes  # not yet read from the socket
        counter = cls(connection.protocol, limit - drained, deadline, left)
        counter.drained = drained
        if counter.limit <= 0 or left == 0:
            counter.done.set_result(None)
            return counter
        transport.set_protocol(counter)
        counter.transport = transport
        counter.t_first = counter.t_last = time.monotonic()
        counter.sock = transport.get_extra_info("socket")
        counter._lowat(_LOWAT_START)
        # at the time bound any byte will do again (as a plain read would): a line that slowed to a trickle
        # must not hold the test past it waiting for a low-water mark set at the earlier speed
        counter.timer = asyncio.get_running_loop().call_at(deadline, counter._lowat, 1)  # the loop's clock is monotonic
        transport.resume_reading()
        return counter

    def _lowat(self, nbytes: int) -> None:
        """Be woken only once ``nbytes`` are waiting (or at the close); never for more than the body has left."""
        nbytes = max(1, min(nbytes, self._want()))
        if self.sock is None or nbytes == self.lowat:
            return
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, nbytes)
        except OSError:
            self.sock = None  # not on this platform: every read wakes, as before
            return
        self.lowat = nbytes

    def _want(self) -> int:
        return self.limit - self.got if self.length is None else min(self.limit, self.length) - self.got

    def get_buffer(self, sizehint: int) -> memoryview:
        """Never more than the bytes still wanted: what the socket reads past them stays unread."""
        return self.buffer[: max(1, min(_BUFFER, self._want()))]

    def buffer_updated(self, nbytes: int) -> None:
        """``nbytes`` more of the body."""
        self.got += nbytes
        self.t_last = time.monotonic()
        if self.got >= self.limit or self.t_last >= self.deadline or self.got == self.length:
            self._finish()
        elif self.sock is not None:
            lowat = self.lowat
            if self.t_last > self.t_first:
                wanted = min(_LOWAT_MAX, max(_LOWAT_MIN, int(self.got / (self.t_last - self.t_first) * _LOWAT_S)))
                if not lowat // 2 <= wanted <= lowat * 2:  # a setsockopt only when the speed moved much
                    lowat = wanted
            self._lowat(lowat)  # and never more than the body has left: its last bytes must wake us

    def eof_received(self) -> bool | None:
        """The server closed: the body ended (short when a Content-Length promised more)."""
        self._finish(short=self.length is not None and self.got < min(self.limit, self.length))
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        """Lost (or closed by aiohttp at release): finish, and tell aiohttp's protocol."""
        self._finish(short=self.length is not None and self.got < min(self.limit, self.length))
        self.previous.connection_lost(exc)

    def _finish(self, *, short: bool = False) -> None:
        if self.done.done():
            return
        self.short = short
        self.done.set_result(None)
        if self.timer is not None:
            self.timer.cancel()
        if isinstance(self.transport, asyncio.Transport) and not self.transport.is_closing():
            self.transport.pause_reading()


async def _upload(session: aiohttp.ClientSession, url: str, options: SpeedOptions, target: Target) -> dict[str, float]:
    sent = 0
    started: list[float] = []

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        started.append(time.monotonic())
        while sent < options.max_bytes and time.monotonic() - started[0] < options.max_seconds:
            block = _UPLOAD_BLOCK[: min(_CHUNK, options.max_bytes - sent)]
            sent += len(block)
            yield block

    try:
        async with session.post(url, data=body(), headers={"Content-Type": "application/octet-stream"}) as response:
            await response.read()
            done = time.monotonic()
            if response.status != 200:
                raise UnexpectedAnswer(f"HTTP {response.status} from {url} (expected 200)")
    except aiohttp.ClientError as exc:
        raise ConnectError(f"upload to {target.address}: {exc}") from exc
    seconds = max(done - (started[0] if started else done), 1e-6)
    return {"upload_bps": round(sent * 8 / seconds, 1), "upload_bytes": float(sent), "upload_s": round(seconds, 6)}


# --------------------------------------------------------------------------------------------- iperf3


async def _iperf3_run(binary: str, host: str, port: int, options: SpeedOptions, reverse: bool) -> dict[str, float]:
    # iperf3 takes either a time (-t) or a byte count (-n), not both: the time bounds it here
    args = [binary, "-c", host, "-p", str(port), "-J", "-t", f"{max(1, round(options.max_seconds))}"]
    if reverse:
        args.append("-R")
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env={**os.environ, "LC_ALL": "C"}
    )
    try:
        out, _err = await proc.communicate()
    except BaseException:  # cancelled by the runner's timeout: never leave the client running
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        raise
    try:
        report = json.loads(out or b"{}")
    except ValueError as exc:
        raise UnexpectedAnswer(f"iperf3 printed no JSON (exit {proc.returncode})") from exc
    if report.get("error"):
        raise ConnectError(f"iperf3 {host}:{port}: {report['error']}")
    received = report.get("end", {}).get("sum_received", {})
    if not received.get("bytes"):
        raise UnexpectedAnswer(f"iperf3 {host}:{port}: no bytes received")
    return {
        "bps": round(float(received["bits_per_second"]), 1),
        "bytes": float(received["bytes"]),
        "seconds": round(float(received.get("seconds", 0.0)), 6),
    }


async def _iperf3(target: Target, options: SpeedOptions) -> dict[str, float]:
    binary = shutil.which(options.iperf3)
    if binary is None:
        raise CannotProbe(f"no {options.iperf3!r} binary on this machine (Debian: apt install iperf3)")
    host, port = split_host_port(target.address, 5201)
    try:
        socket.getaddrinfo(host, port)
    except OSError as exc:
        raise ResolveError(f"resolve {host}: {os_reason(exc)}") from exc
    # no latency-under-load connect here: an iperf3 server takes one client at a time
    down = await _iperf3_run(binary, host, port, options, reverse=True)
    metrics = {"download_bps": down["bps"], "download_bytes": down["bytes"], "download_s": down["seconds"]}
    if options.upload:
        up = await _iperf3_run(binary, host, port, options, reverse=False)
        metrics |= {"upload_bps": up["bps"], "upload_bytes": up["bytes"], "upload_s": up["seconds"]}
    return metrics
