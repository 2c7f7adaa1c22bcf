"""Notification delivery figures: does sending keep the event loop free, and how fast does a backlog drain?

Runs on loopback only: an Apprise ``json://`` receiver (aiohttp) in its own thread and loop, answering
after ``--delay`` seconds. Prints, per way of sending, the event loop's worst lateness while notifications
go out (a 5 ms ticker measures it):

* ``notify() on the loop``     Apprise's blocking call made straight from a coroutine (what not to do);
* ``async_notify()``           Apprise's own async API (its send() runs in Apprise's shared thread pool);
* ``courier thread``           what the notifier does: plain notify() in the channel's own daemon thread.

Then the time the full notifier (outbox in a real journal, one channel) needs to drain a backlog.

    .venv/bin/python bench/bench_notify.py [--messages 20] [--delay 0.2] [--backlog 200]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import apprise
from aiohttp import web

from watchdog.agent.sinks import AgentContext
from watchdog.agent.state import Board
from watchdog.agent.writer import JournalWriter
from watchdog.config import loads
from watchdog.notify.channels import Channel, Courier, asset
from watchdog.notify.outbox import Message
from watchdog.notify.sink import NotifySink


class ThreadedReceiver:
    """A json:// receiver with its own loop in its own thread, so a blocked agent loop cannot starve it."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self.count = 0
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        sock.close()
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        threading.Thread(target=self._run, daemon=True).start()
        self._ready.wait(5)

    def _run(self) -> None:
        async def handle(request: web.Request) -> web.Response:
            await request.read()
            self.count += 1
            await asyncio.sleep(self.delay_s)
            return web.Response(text="ok")

        async def serve() -> None:
            app = web.Application()
            app.router.add_post("/{tail:.*}", handle)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", self.port).start()
            self._ready.set()
            await asyncio.Event().wait()

        self._loop = asyncio.new_event_loop()
        self._loop.run_until_complete(serve())

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.port}/bench"


async def loop_lag(work: Callable[[], Awaitable[None]]) -> tuple[list[float], float]:
    """Run ``work`` while a 5 ms ticker measures how late the loop wakes it; return (sorted lags, seconds)."""
    loop = asyncio.get_running_loop()
    lags: list[float] = []
    done = False

    async def ticker() -> None:
        while not done:
            expected = loop.time() + 0.005
            await asyncio.sleep(0.005)
            lags.append(loop.time() - expected)

    tick = asyncio.create_task(ticker())
    await asyncio.sleep(0.02)  # the ticker is now waiting: a blocked loop wakes it late
    started = time.monotonic()
    await work()
    took = time.monotonic() - started
    done = True
    await tick
    return sorted(lags), took


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20)
    parser.add_argument("--delay", type=float, default=0.2, help="receiver answers after this many seconds")
    parser.add_argument("--backlog", type=int, default=200)
    args = parser.parse_args()
    rx = ThreadedReceiver(args.delay)
    shared = asset()
    service = apprise.Apprise.instantiate(rx.url, asset=shared)
    apobj = apprise.Apprise(asset=shared)
    apobj.add(service)

    async def blocking() -> None:
        for i in range(args.messages):
            apobj.notify(body=f"m{i}", title="bench")  # deliberately on the loop

    async def native_async() -> None:
        for i in range(args.messages):
            await apobj.async_notify(body=f"m{i}", title="bench")

    channel = Channel("bench", (), "", service, apobj, Courier("bench"))

    async def courier() -> None:
        for i in range(args.messages):
            await channel.courier.call(lambda i=i: channel.send("bench", f"m{i}", "info", 10.0))

    print(f"apprise {apprise.__version__}; {args.messages} messages, receiver answers after {args.delay:g}s")
    ways = (("notify() on the loop", blocking), ("async_notify()", native_async), ("courier thread", courier))
    for name, work in ways:
        lags, took = await loop_lag(work)
        p99 = lags[min(len(lags) - 1, int(len(lags) * 0.99))]
        print(
            f"  {name:22s} loop lag p50 {lags[len(lags) // 2] * 1000:6.1f} ms  p99 {p99 * 1000:7.1f} ms  "
            f"max {lags[-1] * 1000:7.1f} ms   ({took:.2f}s for all)"
        )
    channel.courier.close()

    rx.delay_s = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        text = f"""
agent: {{id: bench, data_dir: "{tmp}"}}
providers: [{{id: p, targets: [{{name: t, kind: tcp, address: "127.0.0.1:9"}}]}}]
notify: {{urls: ["{rx.url}"], digest_at: null}}
"""
        config = loads(text, env={})
        writer = JournalWriter(Path(tmp) / "journal.sqlite3")
        await writer.open()
        sink = NotifySink(AgentContext(config, Board.for_targets(config.targets, 1), writer), tick_s=3600)
        await sink.start()
        before = rx.count
        for i in range(args.backlog):
            now = time.time_ns()
            await sink.outbox.add(Message(f"bench/{i}", "agent", "info", "bench", f"message {i}", now), ["url1"])
        started = time.monotonic()
        assert sink.channels is not None
        sink.channels.channels[0].wake.set()
        # the receiver counts in another thread and loop: polling is the simple way to watch it
        while rx.count - before < args.backlog:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        took = time.monotonic() - started
        rate = args.backlog / took
        print(f"  backlog of {args.backlog} drained by the notifier in {took:.2f}s ({rate:.0f} msg/s)")
        await sink.aclose()
        await writer.aclose()


if __name__ == "__main__":
    asyncio.run(main())
