"""Helpers for the InfluxDB export tests: a journal to export, stand-in servers, and comparisons.

The stand-in servers exist only for what a real server here cannot do on demand: answer 429/500/401,
hang, or speak the 2.x API (Debian's influxd is 1.6.7, which has no /api/v2/write). Everything that can
run against the real influxd does (see influx_server.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from influx_server import InfluxServer

from watchdog.agent.core import Agent
from watchdog.agent.sinks import AgentContext, AgentEvent, Sink
from watchdog.agent.state import Board
from watchdog.agent.writer import JournalWriter
from watchdog.config import Config, loads
from watchdog.influx.exporter import InfluxExporter
from watchdog.journal.store import Journal
from watchdog.model import NS, FailureKind, Result

TOKEN = "canary-token-3f9a"  # must never show up in logs or events


def config_text(data_dir: Path, influx: str, *, targets: dict[str, str] | None = None) -> str:
    """A config with two providers' worth of tcp targets (never probed here) and an ``influxdb`` block."""
    targets = targets or {"broker": "trading", "bank": "web"}
    providers = "\n".join(
        f"  - {{id: {p}, kind: other, targets: [{{name: {n}, kind: tcp, address: '127.0.0.1:9'}}, "
        f"{{name: bad, kind: tcp, address: '127.0.0.1:9'}}]}}"
        for p, n in targets.items()
    )
    return f"""
agent: {{id: test-agent, timezone: Europe/Moscow, data_dir: "{data_dir}"}}
controls:
  lan: [{{name: router, kind: tcp, address: "127.0.0.1:9"}}]
providers:
{providers}
influxdb: {{{influx}}}
"""


class Recorder(Sink):
    """A sink that keeps every AgentEvent it is handed (through the agent's real fan-out)."""

    name = "recorder"

    def __init__(self) -> None:
        self.events: list[AgentEvent] = []

    async def on_agent(self, event: AgentEvent) -> None:
        self.events.append(event)


@dataclass
class Harness:
    """A real journal with ``rows`` results, written through the real JournalWriter, and an exporter."""

    config: Config
    writer: JournalWriter
    events: list[AgentEvent] = field(default_factory=list)
    seqs: list[int] = field(default_factory=list)
    exporter: InfluxExporter | None = None

    @classmethod
    async def create(cls, tmp_path: Path, influx: str, *, rows: int = 20) -> Harness:
        """Open the journal and write ``rows`` results spread over the config's targets."""
        config = loads(config_text(tmp_path, influx), env={"INFLUX_TOKEN": TOKEN})
        writer = JournalWriter(config.journal_path)
        await writer.open()
        await writer.call(lambda j: j.register_targets(config.targets))
        harness = cls(config, writer)
        await harness.write_results(rows)
        return harness

    async def write_results(self, rows: int, *, t0_ns: int | None = None) -> list[int]:
        """Write ``rows`` results (every 4th one failed), round-robin over the targets."""
        keys = [t.key for t in self.config.targets]
        start = t0_ns if t0_ns is not None else time.time_ns() - rows * NS
        seqs = []
        for i in range(rows):
            ok = i % 4 != 3
            result = Result(
                target=keys[i % len(keys)],
                ts_ns=start + i * NS,
                ok=ok,
                latency_s=0.000123 + i * 1e-6,
                failure=None if ok else FailureKind.CONNECT,
                detail="" if ok else "connect 127.0.0.1:9: Connection refused",
                metrics={"status_code": 200} if ok and i % 2 == 0 else {},
            )
            seq = await self.writer.write(result)
            assert seq is not None
            seqs.append(seq)
        self.seqs.extend(seqs)
        return seqs

    def context(self) -> AgentContext:
        """The context a sink gets, with AgentEvents captured in ``events``."""
        return AgentContext(
            self.config, Board.for_targets(self.config.targets, 0), self.writer, "test-run", self.events.append
        )

    async def start(self, **kwargs: Any) -> InfluxExporter:
        """Start an exporter on this journal."""
        assert self.config.model.influxdb is not None
        self.exporter = InfluxExporter(self.context(), self.config.model.influxdb, **kwargs)
        await self.exporter.start()
        return self.exporter

    def cursor(self) -> int:
        """The exporter's cursor as the journal holds it (what survives a restart)."""
        assert self.exporter is not None
        with Journal.open(self.config.journal_path, create=False, readonly=True) as j:
            return j.cursor(self.exporter.cursor_name)

    def exported(self) -> bool:
        """Every row is exported and the exporter is done with it: the journal's cursor is at the last row, and so is
        the exporter's own, which moves (with its state) only after the journal's commit returns — reading the
        journal alone raced the exporter's bookkeeping under load."""
        assert self.exporter is not None
        return self.exporter.cursor == self.seqs[-1] and self.cursor() == self.seqs[-1]

    def last_seq(self) -> int:
        """The newest row of the journal."""
        return last_seq(self.config.journal_path)

    async def close(self) -> None:
        """Stop the exporter and close the journal."""
        if self.exporter is not None:
            await self.exporter.aclose()
        await self.writer.aclose()


async def wait_until(predicate: Callable[[], bool], limit_s: float = 20.0, step_s: float = 0.05) -> None:
    """Poll until ``predicate()`` holds (AssertionError after ``limit_s``)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if predicate():
            return
        await asyncio.sleep(step_s)
    raise AssertionError(f"timed out after {limit_s}s waiting for {predicate}")


@dataclass
class Request:
    """One request a stand-in server received."""

    at: float  # time.monotonic()
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


Script = Callable[[Request, int], Awaitable[web.StreamResponse] | web.StreamResponse]


class FakeInflux:
    """A scripted InfluxDB stand-in on 127.0.0.1: ``/ping`` answers with version headers, writes go to
    ``script(request, n)`` (n = 0, 1, ... per write), ``/query`` answers like 1.x to CREATE DATABASE."""

    def __init__(self, script: Script, *, version: str = "1.6.7~rc0") -> None:
        self.script = script
        self.version = version
        self.requests: list[Request] = []
        self.runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        """The base URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def writes(self) -> list[Request]:
        """The write requests, in order."""
        return [r for r in self.requests if r.path in ("/write", "/api/v2/write")]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        req = Request(time.monotonic(), request.method, request.path, dict(request.query), dict(request.headers), body)
        self.requests.append(req)
        if request.path == "/ping":
            return web.Response(status=204, headers={"X-Influxdb-Version": self.version, "X-Influxdb-Build": "OSS"})
        if request.path == "/query":
            return web.json_response({"results": [{"statement_id": 0}]})
        n = len(self.writes) - 1
        answer = self.script(req, n)
        if asyncio.iscoroutine(answer):
            answer = await answer
        return answer  # type: ignore[return-value]

    async def start(self) -> None:
        """Listen on a free loopback port."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        """Stop listening."""
        if self.runner is not None:
            await self.runner.cleanup()


class V2StandIn(FakeInflux):
    """Stands in for an InfluxDB 2.x server (none can be had here). It checks what 2.x checks — the path
    ``/api/v2/write``, ``org``/``bucket``/``precision=ns``, ``Authorization: Token <token>`` — and has the
    line protocol parsed by the real influxd (1.x ``/write`` into database ``<bucket>``), answering 204,
    or influxd's own 400 with its error, as 2.x does."""

    def __init__(self, real: InfluxServer, *, org: str, token: str) -> None:
        super().__init__(self._write, version="v2.7.10")
        self.real = real
        self.org = org
        self.token = token

    async def _write(self, req: Request, n: int) -> web.StreamResponse:
        import urllib.error
        import urllib.parse
        import urllib.request

        if req.path != "/api/v2/write":
            return web.json_response({"code": "not found", "message": "path not found"}, status=404)
        if req.headers.get("Authorization") != f"Token {self.token}":
            return web.json_response({"code": "unauthorized", "message": "unauthorized access"}, status=401)
        if req.query.get("org") != self.org:
            return web.json_response(
                {"code": "not found", "message": f'organization name "{req.query.get("org")}" not found'}, status=404
            )
        if req.query.get("precision") != "ns" or not req.query.get("bucket"):
            return web.json_response({"code": "invalid", "message": "bad precision or bucket"}, status=400)
        url = f"{self.real.url}/write?" + urllib.parse.urlencode({"db": req.query["bucket"], "precision": "ns"})

        def forward() -> tuple[int, bytes]:
            try:
                with urllib.request.urlopen(urllib.request.Request(url, data=req.body, method="POST"), timeout=10) as r:
                    return r.status, r.read()
            except urllib.error.HTTPError as exc:
                return exc.code, exc.read()

        status, body = await asyncio.to_thread(forward)
        if status == 204:
            return web.Response(status=204)
        return web.json_response({"code": "invalid", "message": body.decode(errors="replace")}, status=status)


class HungServer:
    """Answers ``GET /ping`` like InfluxDB 1.x, then accepts every other request and never answers it;
    counts the connections the client opened and closed."""

    def __init__(self) -> None:
        self.opened = 0
        self.closed = 0
        self.writes = 0
        self.server: asyncio.Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        """The base URL."""
        return f"http://127.0.0.1:{self.port}"

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.opened += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                if not head.startswith(b"GET /ping"):
                    self.writes += 1
                    while await reader.read(65536):  # swallow the request, say nothing, until the client hangs up
                        pass
                    return
                writer.write(b"HTTP/1.1 204 No Content\r\nX-Influxdb-Version: 1.6.7~rc0\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.closed += 1
            writer.close()

    async def start(self) -> None:
        """Listen on a free loopback port."""
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening."""
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


def last_seq(journal_path: Path) -> int:
    """The newest row (result or event) of a journal."""
    with Journal.open(journal_path, create=False, readonly=True) as j:
        results = j.conn.execute("SELECT coalesce(max(seq), 0) FROM results").fetchone()[0]
        events = j.conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]
    return int(max(results, events))


def journal_probe_rows(journal_path: Path) -> list[dict[str, Any]]:
    """Every result of the journal as the ``probe`` measurement should hold it."""
    with Journal.open(journal_path, create=False, readonly=True) as j:
        infos = {info.key: info for info in j.targets().values()}
        out = []
        for _, r in j.iter_results():
            info = infos[r.target]
            out.append(
                {
                    "time": r.ts_ns,
                    "target": r.target,
                    "provider": info.provider if info.role == "provider" else "line",
                    "role": info.role,
                    "kind": info.kind,
                    "ok": 1 if r.ok else 0,
                    "latency_s": r.latency_s,
                    "failure": r.failure.value if r.failure else None,
                    "detail": r.detail if r.failure else None,
                }
            )
    return sorted(out, key=lambda row: (row["target"], row["time"]))


def influx_probe_rows(server: InfluxServer, db: str) -> list[dict[str, Any]]:
    """The ``probe`` measurement, reduced to the columns the journal comparison uses."""
    keys = ("time", "target", "provider", "role", "kind", "ok", "latency_s", "failure", "detail")
    rows = server.rows('SELECT * FROM "probe"', db)
    return sorted(({k: row.get(k) for k in keys} for row in rows), key=lambda row: (row["target"], row["time"]))


def build_agent(config_text: str) -> tuple[Agent, list[InfluxExporter], Recorder]:
    """A real Agent from config text with its InfluxDB exporter (kept, to look at) and a Recorder sink."""
    config = loads(config_text, env={})
    exporters: list[InfluxExporter] = []
    recorder = Recorder()

    def influx(ctx: AgentContext) -> InfluxExporter:
        assert config.model.influxdb is not None
        exporters.append(InfluxExporter(ctx, config.model.influxdb))
        return exporters[-1]

    return Agent(config, sink_factories=[influx, lambda ctx: recorder]), exporters, recorder
