"""Dead-man's switch (issue 17): the agent's heartbeat reaches a local receiver and stops when the agent dies.

The receiver is a real HTTP server on 127.0.0.1 standing in for Healthchecks / Uptime Kuma / ntfy. The
push URL holds a secret (a canary): it must never appear in the agent's log.
"""

from __future__ import annotations

import asyncio
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from faults import AgentProcess, TcpListener, wait_until
from helpers import Switch

from watchdog.agent.core import Agent
from watchdog.agent.heartbeat import HeartbeatSink
from watchdog.agent.sinks import AgentContext, Sink
from watchdog.config import loads
from watchdog.journal.store import Journal

SECRET = "hc-uuid-canary-5f1e9a"


class Receiver:
    """Records every push: (monotonic time, method, path, query, body)."""

    def __init__(self) -> None:
        self.pushes: list[tuple[float, str, str, dict[str, list[str]], str]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _record(self) -> None:
                parts = urllib.parse.urlsplit(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
                receiver.pushes.append(
                    (time.monotonic(), self.command, parts.path, urllib.parse.parse_qs(parts.query), body)
                )
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"OK")

            do_GET = _record
            do_POST = _record

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/ping/{SECRET}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


async def test_get_push_carries_the_chain_head(tmp_path: Path) -> None:
    receiver = Receiver()
    target = Switch()
    await target.up()
    text = f"""
agent: {{id: pi-home, data_dir: "{tmp_path / "data"}"}}
providers:
  - id: isp
    targets: [{{name: gw, kind: tcp, address: "{target.address}"}}]
heartbeat: {{url: "{receiver.url}?status=up&msg=OK", method: GET, interval: 200ms}}
ntp: {{enabled: false}}
web: {{enabled: false}}
"""
    cfg = loads(text)
    sinks: list[HeartbeatSink] = []

    def factory(ctx: AgentContext) -> Sink | None:
        sinks.append(HeartbeatSink(ctx, ctx.config.model.heartbeat))
        return sinks[-1]

    with Journal.open(cfg.journal_path) as journal:  # a journal with a sealed head (a fresh one seals after 1 min)
        journal.add_event("note", {"by": "test"})
        journal.seal()
    agent = Agent(cfg, sink_factories=[factory])
    task = asyncio.create_task(agent.run())
    await asyncio.wait_for(agent.handle.started.wait(), 10)
    loop = asyncio.get_running_loop()
    end = loop.time() + 15
    while sinks[0].pushed < 3:
        assert loop.time() < end
        await asyncio.sleep(0.05)
    agent.handle.stop.set()
    assert await task == 0
    await target.down()
    receiver.stop()
    with Journal.open(cfg.journal_path, create=False, readonly=True) as journal:
        heads = {
            (int(no), int(last), bytes(h).hex())
            for no, last, h in journal.conn.execute("SELECT no, last_seq, hash FROM blocks")
        }
    assert all(p[1] == "GET" and p[2] == f"/ping/{SECRET}" for p in receiver.pushes)
    assert all(p[3]["status"] == ["up"] for p in receiver.pushes)  # the URL's own query is kept, msg replaced
    messages = [p[3]["msg"][0] for p in receiver.pushes]
    for no, last, h in heads:
        if f"outage-watchdog pi-home: head block {no} rows 1..{last} {h}" in messages:
            break
    else:
        raise AssertionError(f"no push names a sealed head: {messages}")


def test_kill_9_stops_the_heartbeat(tmp_path: Path) -> None:
    receiver = Receiver()
    listener = TcpListener()
    config = tmp_path / "watchdog.yaml"
    config.write_text(
        f"""
agent: {{id: pi-home, timezone: UTC, data_dir: "{tmp_path / "data"}"}}
ntp: {{enabled: false}}  # the default servers are public: never asked from a test
web: {{enabled: false}}
providers:
  - id: isp
    targets: [{{name: gw, kind: tcp, address: "{listener.address}"}}]
heartbeat: {{url: "{receiver.url}", method: POST, interval: 300ms}}
"""
    )
    config.chmod(0o600)
    with Journal.open(tmp_path / "data" / "journal.sqlite3") as journal:  # a sealed head to carry
        journal.add_event("note", {"by": "test"})
        journal.seal()
    agent = AgentProcess(config, tmp_path / "agent.log")
    try:
        agent.start()
        wait_until(lambda: len(receiver.pushes) >= 4, 30, "four heartbeats")
        assert all(p[1] == "POST" and p[4].startswith("outage-watchdog pi-home: ") for p in receiver.pushes)
        assert any(" head block " in p[4] for p in receiver.pushes)
        gaps = [b[0] - a[0] for a, b in zip(receiver.pushes, receiver.pushes[1:], strict=False)]
        assert max(gaps) < 1.5  # every 300 ms, with room for a loaded machine
        agent.kill9()
        killed = time.monotonic()
        count = len(receiver.pushes)
        time.sleep(2.0)  # more than six intervals
        assert len(receiver.pushes) == count, "pushes went on after kill -9"
        assert all(p[0] <= killed for p in receiver.pushes)
        assert SECRET not in agent.text()  # the secret URL is never logged
    finally:
        agent.close()
        listener.stop()
        receiver.stop()
