"""Issue 13 item 2: a flood of half-sent requests to the status page must not fake an outage.

A real ``watchdog run`` in a subprocess with the open-files limit of the shipped unit before the fix (1,024),
probing tcp and http services this test runs on 127.0.0.1, is flooded with 1,500 slow clients that each
send half a request head and trickle a header byte now and then (slowloris). Nothing here is mocked.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from web_helpers import free_port

from watchdog.errors import ConnectError
from watchdog.journal.store import Journal
from watchdog.model import FailureKind

ROOT = str(Path(__file__).resolve().parents[2])
FDS = 1024
FLOOD = 1500
HOLD_S = 13.0  # longer than the page's 10 s head timeout


async def _tcp_service() -> tuple[asyncio.Server, str]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, f"127.0.0.1:{server.sockets[0].getsockname()[1]}"


@contextlib.asynccontextmanager
async def services() -> AsyncIterator[dict[str, str]]:
    """Four tcp services and one http service on loopback."""
    servers = [await _tcp_service() for _ in range(4)]

    async def ok(_request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/", ok)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield {
            "router": servers[0][1],
            "a": servers[1][1],
            "b": servers[2][1],
            "trading": servers[3][1],
            "web": f"http://127.0.0.1:{port}/",
        }
    finally:
        await runner.cleanup()
        for server, _ in servers:
            server.close()
            await server.wait_closed()


def config_text(data_dir: Path, port: int, a: dict[str, str]) -> str:
    return f"""
agent: {{id: flood-test, timezone: Europe/Moscow, data_dir: "{data_dir}"}}
defaults: {{interval: 1s, timeout: 800ms, failure_threshold: 2, success_threshold: 2}}
controls:
  lan: [{{name: router, kind: tcp, address: "{a["router"]}"}}]
  internet:
    - {{name: anchor-a, kind: tcp, address: "{a["a"]}"}}
    - {{name: anchor-b, kind: tcp, address: "{a["b"]}"}}
  quorum: 1
providers:
  - id: broker
    name: Broker
    kind: broker
    targets:
      - {{name: trading, kind: tcp, address: "{a["trading"]}"}}
      - {{name: site, kind: http, address: "{a["web"]}"}}
    sla: {{availability: 99.5}}
web: {{listen: "127.0.0.1:{port}", refresh: 5s}}
"""


def _limit_fds() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (FDS, FDS))


async def _slow_client(port: int, stop: asyncio.Event, opened: list[int]) -> None:
    """Half a request head, then a header byte every 2 s until told to stop (or the server closes)."""
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return
    opened[0] += 1
    try:
        writer.write(f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Slow: ".encode())
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2.0):
                    if await reader.read(1) == b"":
                        opened[1] += 1  # the server closed us
                        return
                continue
            writer.write(b"a")
            await writer.drain()
    except OSError:
        opened[1] += 1
    finally:
        writer.close()


async def _timed_get(url: str) -> tuple[int, float]:
    t0 = time.monotonic()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        async with session.get(url) as response:
            await response.read()
            return response.status, (time.monotonic() - t0) * 1000


@pytest.mark.slow
async def test_a_slow_client_flood_fakes_no_outage(tmp_path: Path) -> None:
    port = free_port()
    log_path = tmp_path / "agent.log"
    async with services() as addresses:
        cfg = tmp_path / "watchdog.yaml"
        cfg.write_text(config_text(tmp_path / "data", port, addresses))
        with log_path.open("wb") as log:
            agent = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "watchdog",
                "run",
                "-c",
                str(cfg),
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONPATH": ROOT},
                preexec_fn=_limit_fds,  # the open-files limit of the shipped unit before the fix
            )
        stop = asyncio.Event()
        clients: list[asyncio.Task[None]] = []
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 20
            while True:
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    if (await _timed_get(base + "/healthz"))[0] == 200:
                        break
                assert time.monotonic() < deadline, log_path.read_text()
                await asyncio.sleep(0.2)
            await asyncio.sleep(1.5)  # every target has answered
            log_before = len(log_path.read_text().splitlines())
            flood_start_ns = time.time_ns()

            opened = [0, 0]
            for _ in range(FLOOD):
                clients.append(asyncio.create_task(_slow_client(port, stop, opened)))
                if len(clients) % 100 == 0:
                    await asyncio.sleep(0.05)
            answers: list[tuple[int, float]] = []
            flood_until = time.monotonic() + HOLD_S
            while time.monotonic() < flood_until:
                await asyncio.sleep(1.0)
                try:
                    answers.append(await _timed_get(base + "/healthz"))
                except (aiohttp.ClientError, TimeoutError) as exc:
                    answers.append((0, float("nan")))
                    print("page did not answer:", type(exc).__name__, exc)
            flood_end_ns = time.time_ns()
            stop.set()
            await asyncio.gather(*clients)
            after = await _timed_get(base + "/healthz")
            await asyncio.sleep(1.5)
        finally:
            stop.set()
            for task in clients:
                task.cancel()
            await asyncio.gather(*clients, return_exceptions=True)
            agent.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(agent.wait(), 20)
            except TimeoutError:
                agent.kill()
                await agent.wait()

    lines = log_path.read_text().splitlines()
    flood_lines = len(lines) - log_before
    with Journal.open(tmp_path / "data" / "journal.sqlite3", create=False, readonly=True) as j:
        during = [r for _, r in j.iter_results(flood_start_ns, flood_end_ns)]
        outages = j.outages()
    failed = [r for r in during if not r.ok]
    counted = [r for r in failed if r.failure is not FailureKind.INTERNAL]
    worst = max(ms for _, ms in answers)
    print(
        f"\n{FLOOD:,} slow clients ({opened[0]:,} connected, {opened[1]:,} closed by the page) for {HOLD_S:g} s "
        f"under ulimit -n {FDS}: {len(during)} probe results, {len(counted)} failures recorded against anyone, "
        f"{len(failed) - len(counted)} internal, {len(outages)} outages; page answered {len(answers)} of "
        f"{len(answers)} checks during the flood, slowest {worst:.0f} ms, {after[1]:.0f} ms after; "
        f"{flood_lines} log lines during the flood"
    )
    assert [s for s, _ in answers] == [200] * len(answers) and after[0] == 200
    assert worst < 1000
    assert counted == [] and outages == []
    assert len(during) >= 5 * 10  # five targets every second for 13 s: probing went on
    assert opened[0] == FLOOD  # every slow client got in (and was then closed by the cap or the head timeout)
    assert opened[1] == FLOOD  # the page closed every one of them before the flood ended
    assert flood_lines <= 5


def test_local_resource_errors_are_internal() -> None:
    from watchdog.agent.runner import local_error

    for code in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM, errno.EACCES, errno.EPERM):
        try:
            try:
                raise OSError(code, os.strerror(code))
            except OSError as exc:
                raise ConnectError(f"connect 127.0.0.1:9: {os.strerror(code)}") from exc
        except ConnectError as exc:
            found = local_error(exc)
            assert found is not None and found.errno == code
    try:
        try:
            raise ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")
        except OSError as exc:
            raise ConnectError("connect 127.0.0.1:9: Connection refused") from exc
    except ConnectError as exc:
        assert local_error(exc) is None  # the target's fault stays the target's


def test_emfile_in_a_real_probe_is_internal_and_logged_once(tmp_path: Path) -> None:
    """Probe a listening loopback port 50 times in a subprocess whose descriptors are all taken."""
    script = f"""
import asyncio, logging, resource, socket, sys
sys.path.insert(0, {ROOT!r})
logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(levelname)s %(message)s")
from probes import REGISTRY
from watchdog.agent.runner import run_probe
from watchdog.model import Role, Target
from watchdog.probe import ProbeContext

async def main():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    ctx = ProbeContext()
    tcp = Target(key="broker/trading", provider="broker", name="trading", kind="tcp", role=Role.PROVIDER,
                 address=f"127.0.0.1:{{port}}", interval_s=1.0, timeout_s=1.0)
    web = Target(key="broker/site", provider="broker", name="site", kind="http", role=Role.PROVIDER,
                 address=f"http://127.0.0.1:{{port}}/", interval_s=1.0, timeout_s=1.0)
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
    hog = []
    try:
        while True:
            hog.append(socket.socket())
    except OSError:
        pass
    kinds = []
    for _ in range(25):
        for target in (tcp, web):
            result = await run_probe(REGISTRY[target.kind], target, ctx)
            kinds.append(result.failure.value if result.failure else "ok")
    print("KINDS", sorted(set(kinds)), len(kinds))
    for s in hog:
        s.close()
    for close in ctx.closers:
        await close()

asyncio.run(main())
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[-1] == "KINDS ['internal'] 50"
    assert len(lines) == 2, lines  # one ERROR line for 50 failed probes, then the result
    assert lines[0].startswith("ERROR probes cannot run: Too many open files (a local limit, not the targets' fault")


def test_a_low_open_files_limit_is_raised_or_named(tmp_path: Path) -> None:
    """The agent's start-up check, in a subprocess whose hard limit is 200: it warns with the numbers."""
    cfg = tmp_path / "watchdog.yaml"
    cfg.write_text(
        config_text(
            tmp_path / "data",
            8080,
            dict.fromkeys(("router", "a", "b", "trading"), "127.0.0.1:9") | {"web": "http://127.0.0.1:9/"},
        )
    )
    script = f"""
import logging, resource, sys
sys.path.insert(0, {ROOT!r})
logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(levelname)s %(message)s")
from watchdog.agent.limits import check_fd_limit
from watchdog.config import load
resource.setrlimit(resource.RLIMIT_NOFILE, (100, 200))
budget = check_fd_limit(load({str(cfg)!r}))
print("SOFT", resource.getrlimit(resource.RLIMIT_NOFILE)[0], budget.needed, budget.enough)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "WARNING open-files limit too low: soft=200 hard=200, needed 330 (probes 10 + status page 256 + reserve 64); "
        "raise LimitNOFILE (the shipped unit sets 65536) or lower web.max_connections or agent.concurrency",
        "SOFT 200 330 False",
    ]
