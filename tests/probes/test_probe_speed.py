"""Speed probe against real servers: a throttled aiohttp server on loopback (plain file and LibreSpeed-style
``/garbage``/``/empty``), and an iperf3 server in a network namespace behind a kernel ``tbf`` shaper.

Known truth: the server's throttle (or the qdisc's rate); the measured speed must be within 10 % of it.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from conftest import NetnsPair

from probes import REGISTRY
from probes.speed import SPEED_GATE_KEY, SpeedOptions
from watchdog.agent.runner import run_probe
from watchdog.model import FailureKind, Result, Role, Target
from watchdog.probe import ProbeContext

RATE_BPS = 40e6  # the throttle: 40 Mbit/s = 5 MB/s
CHUNK = 64 * 1024


class Throttled:
    """An aiohttp server on 127.0.0.1 that sends and receives at most ``rate_bps`` (a token bucket in time)."""

    def __init__(self, rate_bps: float) -> None:
        self.rate = rate_bps / 8  # bytes per second
        self.runner: web.AppRunner | None = None
        self.port = 0
        self.uploaded = 0
        self.requests: list[str] = []

    async def _send(self, request: web.Request, total: int, sized: bool = False) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        if sized:  # a Content-Length body (a file server's); without it aiohttp sends it chunked
            response.content_length = total
        await response.prepare(request)
        t0, sent = time.monotonic(), 0
        block = b"x" * CHUNK
        while sent < total:
            await response.write(block)
            sent += CHUNK
            ahead = t0 + sent / self.rate - time.monotonic()
            if ahead > 0:
                await asyncio.sleep(ahead)
        await response.write_eof()
        return response

    async def big(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(request.path_qs)
        return await self._send(request, 200 * 1024 * 1024)

    async def sized(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(request.path_qs)
        return await self._send(request, 200 * 1024 * 1024, sized=True)

    async def garbage(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(request.path_qs)
        return await self._send(request, int(request.query.get("ckSize", "4")) * 1024 * 1024)

    async def empty(self, request: web.Request) -> web.Response:
        self.requests.append(request.path_qs)
        t0 = time.monotonic()
        while True:
            chunk = await request.content.read(CHUNK)
            if not chunk:
                break
            self.uploaded += len(chunk)
            ahead = t0 + self.uploaded / self.rate - time.monotonic()
            if ahead > 0:
                await asyncio.sleep(ahead)
        return web.Response(text="")

    async def start(self) -> None:
        app = web.Application(client_max_size=1024**3)
        app.router.add_get("/big.bin", self.big)
        app.router.add_get("/sized.bin", self.sized)
        app.router.add_get("/backend/garbage", self.garbage)
        app.router.add_post("/backend/empty", self.empty)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]


@pytest.fixture
async def throttled() -> AsyncIterator[Throttled]:
    server = Throttled(RATE_BPS)
    await server.start()
    yield server
    assert server.runner is not None
    await server.runner.cleanup()


def speed_target(address: str, timeout_s: float = 20.0, provider: str | None = "isp", **options: object) -> Target:
    return Target(
        key="isp/speed",
        name="speed",
        kind="speed",
        address=address,
        role=Role.PROVIDER,
        provider=provider,
        interval_s=3600.0,
        timeout_s=timeout_s,
        options=SpeedOptions.model_validate(options),
    )


async def measure(target: Target) -> Result:
    """One speed test of ``target`` through the runner, in a context of its own."""
    ctx = ProbeContext()
    try:
        return await run_probe(REGISTRY["speed"], target, ctx)
    finally:
        await ctx.aclose()


def within(measured: float, truth: float, share: float = 0.10) -> bool:
    return abs(measured - truth) <= share * truth


async def test_plain_file_download_is_within_10_percent_of_the_throttle(throttled: Throttled) -> None:
    target = speed_target(f"http://127.0.0.1:{throttled.port}/big.bin", max_seconds="2s", max_bytes=64 * 1024**2)
    result = await measure(target)
    assert result.ok, result.detail
    m = result.metrics
    assert within(m["download_bps"], RATE_BPS), m
    assert 1.9 <= m["download_s"] <= 2.3 and m["download_bytes"] < 64 * 1024**2  # the time bound stopped it
    assert "upload_bps" not in m and 0 < m["loaded_latency_s"] < 1.0
    assert result.detail.startswith("download ") and " Mbit/s, latency under load " in result.detail


@pytest.mark.parametrize(("bound", "options"), [("time", {"max_seconds": "2s"}), ("bytes", {"max_bytes": 6 * 1024**2})])
async def test_a_sized_body_is_counted_from_the_socket_within_10_percent(
    throttled: Throttled, bound: str, options: dict[str, object]
) -> None:
    """A Content-Length body (a plain file server's) is counted straight from the socket (the probe's cheap
    path, probes.speed._Counter): the same figures, the same bounds, the byte bound exact."""
    target = speed_target(f"http://127.0.0.1:{throttled.port}/sized.bin", **({"max_bytes": 64 * 1024**2} | options))
    result = await measure(target)
    assert result.ok, result.detail
    m = result.metrics
    assert within(m["download_bps"], RATE_BPS), m
    if bound == "time":
        assert 1.9 <= m["download_s"] <= 2.3 and m["download_bytes"] < 64 * 1024**2
    else:
        assert m["download_bytes"] == 6 * 1024**2 and m["download_s"] < 2.0
    assert 0 < m["loaded_latency_s"] < 1.0


class RawServer:
    """An HTTP/1.1 server on 127.0.0.1 that promises ``body`` bytes and sends ``sent`` of them, then closes or
    keeps the connection open (a keep-alive server: only the Content-Length says the body is over)."""

    def __init__(self, body: int, sent: int, then_close: bool, trickle: bool = False) -> None:
        self.body, self.sent, self.then_close, self.trickle = body, sent, then_close, trickle
        self.release = asyncio.Event()
        self.handlers: list[asyncio.Task[None]] = []
        self.server: asyncio.Server | None = None
        self.port = 0

    async def answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.handlers.append(asyncio.current_task())  # type: ignore[arg-type]
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n")
            writer.write(f"Content-Length: {self.body}\r\n\r\n".encode())
            left = self.sent
            while left > 0:
                writer.write(b"z" * min(left, CHUNK))
                left -= min(left, CHUNK)
                await writer.drain()
            while self.trickle and not self.release.is_set():  # then a byte every 50 ms: a line gone to a trickle
                writer.write(b"t")
                await writer.drain()
                await asyncio.sleep(0.05)
            if not self.then_close:
                await self.release.wait()
        finally:
            writer.close()

    async def __aenter__(self) -> RawServer:
        self.server = await asyncio.start_server(self.answer, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release.set()
        await asyncio.gather(*self.handlers, return_exceptions=True)
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


@pytest.mark.parametrize(
    ("sent", "then_close", "ok", "detail"),
    [
        (3 * 1024**2, False, True, "download "),  # all of it, the connection kept open: the length ends it
        (1024**2, True, False, "the body ended after 1048576 of 3145728 bytes"),  # cut short
    ],
)
async def test_a_sized_body_ends_at_its_length_or_fails_when_cut_short(
    sent: int, then_close: bool, ok: bool, detail: str
) -> None:
    async with RawServer(3 * 1024**2, sent, then_close) as server:
        target = speed_target(f"http://127.0.0.1:{server.port}/file", timeout_s=10.0, max_bytes=64 * 1024**2)
        ctx = ProbeContext()
        t0 = time.monotonic()
        try:
            result = await run_probe(REGISTRY["speed"], target, ctx)
        finally:
            await ctx.aclose()
    assert time.monotonic() - t0 < 5.0  # not held until the server gives up
    assert result.ok is ok and detail in result.detail, result.detail
    if ok:
        assert result.metrics["download_bytes"] == 3 * 1024**2
    else:
        assert result.failure is FailureKind.CONNECT


async def test_librespeed_download_and_upload_bounded_by_bytes(throttled: Throttled) -> None:
    target = speed_target(
        f"http://127.0.0.1:{throttled.port}/backend/",
        server="librespeed",
        max_seconds="10s",
        max_bytes=8 * 1024**2,
        upload=True,
    )
    result = await measure(target)
    assert result.ok, result.detail
    m = result.metrics
    assert throttled.requests[:2] == ["/backend/garbage?ckSize=8", "/backend/empty"]
    assert m["download_bytes"] == 8 * 1024**2 and m["upload_bytes"] == 8 * 1024**2  # the byte bound stopped it
    assert throttled.uploaded == 8 * 1024**2
    assert within(m["download_bps"], RATE_BPS), m
    assert within(m["upload_bps"], RATE_BPS), m


async def test_a_test_is_skipped_not_failed_while_the_line_is_down(throttled: Throttled) -> None:
    target = speed_target(f"http://127.0.0.1:{throttled.port}/big.bin", max_seconds="1s")
    ctx = ProbeContext()
    ctx.resources[SPEED_GATE_KEY] = lambda t: "the internet line is down (0 of 3 controls up)"
    try:
        result = await run_probe(REGISTRY["speed"], target, ctx)
    finally:
        await ctx.aclose()
    assert (result.ok, result.failure, result.counts) == (False, FailureKind.INTERNAL, False)
    assert result.detail == "speed test skipped: the internet line is down (0 of 3 controls up)"
    assert dict(result.metrics) == {"skipped": 1.0}
    assert throttled.requests == []  # nothing was sent


async def test_never_two_at_once(throttled: Throttled) -> None:
    url = f"http://127.0.0.1:{throttled.port}/big.bin"
    ctx = ProbeContext()
    try:
        results = await asyncio.gather(
            *(run_probe(REGISTRY["speed"], speed_target(url, max_seconds="1s"), ctx) for _ in range(2))
        )
    finally:
        await ctx.aclose()
    # had they overlapped, each would have had half the throttle's bandwidth
    assert all(r.ok and within(r.metrics["download_bps"], RATE_BPS) for r in results), [r.metrics for r in results]
    first, second = sorted(results, key=lambda r: r.ts_ns)
    assert second.ts_ns - first.ts_ns < 0.5e9  # both started together; the second waited for the lock


@pytest.mark.netns
@pytest.mark.slow
@pytest.mark.skipif(shutil.which("iperf3") is None, reason="needs the iperf3 binary (Debian iperf3)")
def test_iperf3_through_a_tbf_shaper_in_a_namespace(netns: NetnsPair) -> None:
    rate = 50e6
    # the server's side shapes what it sends (download, iperf3 -R) and the client's what it sends (upload)
    for ns, dev in ((netns.server, netns.server_dev), (netns.client, netns.client_dev)):
        netns.in_ns(ns, "tc", "qdisc", "add", "dev", dev, "root", "tbf", "rate", "50mbit", "burst", "32kb",
                    "latency", "100ms")  # fmt: skip
    server = subprocess.Popen(
        ["ip", "netns", "exec", netns.server, "iperf3", "-s", "-B", netns.server_ip, "-p", "5299"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    netns.helpers.append(server)  # type: ignore[arg-type]
    time.sleep(0.5)
    spec = {
        "targets": [
            {
                "kind": "speed",
                "address": f"{netns.server_ip}:5299",
                "timeout_s": 15.0,
                "options": {"server": "iperf3", "max_seconds": "3s", "upload": True},
            }
        ]
    }
    (result,) = netns.run(spec)["results"]
    assert result["ok"], result
    m = result["metrics"]
    assert within(m["download_bps"], rate), m
    assert within(m["upload_bps"], rate), m
    assert m["download_bytes"] > 0.8 * rate / 8 * 3


async def test_a_line_gone_to_a_trickle_still_ends_at_the_time_bound() -> None:
    """8 MiB at once, then a byte every 50 ms: the read that waits for a low-water mark set at the first speed
    is let go at the time bound (any byte will do then), so the test ends there with its figures, not at the
    timeout as a failure."""
    async with RawServer(64 * 1024**2, 8 * 1024**2, False, trickle=True) as server:
        target = speed_target(f"http://127.0.0.1:{server.port}/file", timeout_s=10.0, max_seconds="1s")
        result = await measure(target)
    assert result.ok, result.detail
    m = result.metrics
    assert 8 * 1024**2 <= m["download_bytes"] < 8 * 1024**2 + 100 and 1.0 <= m["download_s"] < 1.5, m
