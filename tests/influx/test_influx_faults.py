"""The exporter against servers that misbehave: 500, 429 with Retry-After, 401, 404, and one that hangs.

A real influxd cannot be made to answer 429/500/401 or to hang on demand, so these use small scripted
stand-ins on 127.0.0.1 (tests/influx_helpers.py); the journal, the writer and the exporter are real.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import random
import time
from pathlib import Path

import pytest
from aiohttp import web
from helpers import Switch
from influx_helpers import TOKEN, FakeInflux, Harness, HungServer, Request, wait_until

from watchdog.agent.core import Agent
from watchdog.agent.sinks import AgentContext
from watchdog.config import loads
from watchdog.influx.client import ServerInfo, parse_retry_after, predates_v2
from watchdog.influx.exporter import InfluxExporter, backoff_s

FAST = "max_backoff: 400ms, timeout: 2s, flush_interval: 100ms"


def accept(_req: Request, _n: int) -> web.Response:
    return web.Response(status=204)


def probe_lines(requests: list[Request]) -> list[str]:
    return [ln for r in requests for ln in r.body.decode().splitlines() if ln.startswith("probe,")]


async def test_5xx_is_retried_and_the_cursor_moves_only_once_accepted(tmp_path: Path) -> None:
    refused: list[Request] = []

    def script(req: Request, n: int) -> web.Response:
        if probe_lines([req]) and len(refused) < 2:
            refused.append(req)
            return web.json_response({"error": "engine: cache maximum memory size exceeded"}, status=503)
        return web.Response(status=204)

    fake = FakeInflux(script)
    await fake.start()
    harness = await Harness.create(tmp_path, f'url: "{fake.url}", database: db, {FAST}', rows=20)
    try:
        exporter = await harness.start()
        await wait_until(lambda: len(refused) >= 1)
        assert harness.cursor() == 0  # refused: nothing moved
        await wait_until(harness.exported)
        batches = [w for w in fake.writes if probe_lines([w])]
        assert [len(probe_lines([w])) for w in batches] == [20, 20, 20]  # the same batch, re-sent whole, once
        assert batches[0].body == batches[1].body == batches[2].body
        assert exporter.state == "ok" and exporter.attempts == 0
        assert [e.type for e in harness.events] == ["influx_export_failing", "influx_export_recovered"]
        assert "503" in harness.events[0].data["error"]
    finally:
        await harness.close()
        await fake.stop()


async def test_429_waits_as_long_as_retry_after_says(tmp_path: Path) -> None:
    def script(req: Request, n: int) -> web.Response:
        if n == 0:  # the first write (the heartbeat) is told to come back in two seconds
            return web.json_response({"error": "too many requests"}, status=429, headers={"Retry-After": "2"})
        return web.Response(status=204)

    fake = FakeInflux(script)
    await fake.start()
    harness = await Harness.create(tmp_path, f'url: "{fake.url}", database: db, {FAST}', rows=5)
    try:
        await harness.start()
        await wait_until(harness.exported)
        first, second = fake.writes[0], fake.writes[1]
        gap = second.at - first.at
        assert 2.0 <= gap < 3.0, gap  # max_backoff is 400ms: only Retry-After explains the wait
    finally:
        await harness.close()
        await fake.stop()


async def test_401_alerts_stops_exporting_and_keeps_the_backlog(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def script(req: Request, n: int) -> web.Response:
        return web.json_response({"code": "unauthorized", "message": "unauthorized access"}, status=401)

    fake = FakeInflux(script, version="v2.7.10")
    await fake.start()
    caplog.set_level(logging.DEBUG)
    harness = await Harness.create(
        tmp_path, f'url: "{fake.url}", org: home, bucket: b, token: "${{INFLUX_TOKEN}}", {FAST}', rows=12
    )
    try:
        exporter = await harness.start()
        await wait_until(lambda: exporter.state == "auth_failed")
        await asyncio.sleep(1.5)  # several backoff periods: no further attempt
        assert len(fake.writes) == 1
        assert harness.cursor() == 0
        (event,) = [e for e in harness.events if e.type == "influx_auth_failed"]
        assert event.data["status"] == 401 and event.data["url"] == fake.url
        assert "unauthorized access" in event.data["error"]
        assert fake.writes[0].headers["Authorization"] == f"Token {TOKEN}"  # it was sent, but never shown:
        assert TOKEN not in caplog.text and TOKEN not in repr(harness.events)
        errors = [r for r in caplog.records if r.levelno == logging.ERROR and r.name == "watchdog.influx.exporter"]
        assert len(errors) == 1 and "exporting stopped" in errors[0].getMessage()
    finally:
        await harness.close()
        await fake.stop()
    # the backlog is still there for the next start, with fixed credentials
    assert harness.last_seq() == harness.seqs[-1]


async def test_v1_password_goes_in_basic_auth_and_nowhere_else(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeInflux(accept)
    await fake.start()
    caplog.set_level(logging.DEBUG)
    harness = await Harness.create(
        tmp_path,
        f'url: "{fake.url}", database: db, retention_policy: "two weeks", username: watchdog, '
        f'password: "${{INFLUX_TOKEN}}", {FAST}',
        rows=3,
    )
    try:
        await harness.start()
        await wait_until(harness.exported)
        write = fake.writes[0]
        assert write.path == "/write"
        assert write.query == {"db": "db", "rp": "two weeks", "precision": "ns"}
        import base64

        assert write.headers["Authorization"] == "Basic " + base64.b64encode(f"watchdog:{TOKEN}".encode()).decode()
        assert TOKEN not in caplog.text
    finally:
        await harness.close()
        await fake.stop()


async def test_missing_database_is_created_once_on_v1(tmp_path: Path) -> None:
    created: list[str] = []

    def script(req: Request, n: int) -> web.Response:
        if not created:
            return web.json_response({"error": 'database not found: "db"'}, status=404)
        return web.Response(status=204)

    fake = FakeInflux(script)
    original = fake._handle

    async def handle(request: web.Request) -> web.StreamResponse:
        if request.path == "/query":
            created.append((await request.post())["q"])
        return await original(request)

    fake._handle = handle  # type: ignore[method-assign]
    await fake.start()
    harness = await Harness.create(tmp_path, f'url: "{fake.url}", database: db, {FAST}', rows=4)
    try:
        await harness.start()
        await wait_until(harness.exported)
        assert created == ['CREATE DATABASE "db"']
        assert not [e for e in harness.events if e.type == "influx_destination_missing"]
    finally:
        await harness.close()
        await fake.stop()


async def test_missing_bucket_alerts_and_keeps_trying(tmp_path: Path) -> None:
    state = {"exists": False}

    def script(req: Request, n: int) -> web.Response:
        if not state["exists"]:
            return web.json_response({"code": "not found", "message": 'bucket "b" not found'}, status=404)
        return web.Response(status=204)

    fake = FakeInflux(script, version="v2.7.10")
    await fake.start()
    harness = await Harness.create(
        tmp_path, f'url: "{fake.url}", org: home, bucket: b, token: "${{INFLUX_TOKEN}}", {FAST}', rows=4
    )
    try:
        exporter = await harness.start()
        await wait_until(lambda: exporter.state == "destination_missing")
        assert harness.cursor() == 0
        state["exists"] = True  # the user creates the bucket
        await wait_until(harness.exported)
        types = [e.type for e in harness.events]
        assert types == ["influx_destination_missing", "influx_export_recovered"]
    finally:
        await harness.close()
        await fake.stop()


def test_retry_after_forms() -> None:
    now = dt.datetime(2026, 11, 20, 10, 0, 0, tzinfo=dt.UTC)
    assert parse_retry_after("7", now) == 7.0
    assert parse_retry_after("Fri, 20 Nov 2026 10:00:30 GMT", now) == 30.0
    assert parse_retry_after("Fri, 20 Nov 2026 09:00:00 GMT", now) == 0.0
    assert parse_retry_after("86400", now) == 3600.0  # believed for an hour at most
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


def test_backoff_doubles_is_capped_jittered_and_yields_to_retry_after() -> None:
    rng = random.Random(5)
    waits = [backoff_s(n, 60.0, rng) for n in range(1, 10)]
    bases = [1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert all(b / 2 <= w <= b for w, b in zip(waits, bases, strict=True)), waits
    assert backoff_s(1, 60.0, rng, retry_after_s=90.0) == 90.0
    assert backoff_s(9, 60.0, random.Random(1), retry_after_s=1.0) >= 30.0


def open_sockets() -> int:
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith("socket:"):
                count += 1
        except OSError:
            pass
    return count


@pytest.mark.slow
async def test_hung_server_leaks_nothing_and_probing_goes_on(tmp_path: Path) -> None:
    hung = HungServer()
    await hung.start()
    services = [Switch() for _ in range(3)]
    for s in services:
        await s.up()
    targets = ", ".join(f'{{name: t{i}, kind: tcp, address: "{s.address}"}}' for i, s in enumerate(services))
    config = loads(
        f"""
agent: {{id: hung, data_dir: "{tmp_path}"}}
defaults: {{interval: 1s, timeout: 500ms}}
providers: [{{id: broker, targets: [{targets}]}}]
influxdb: {{url: "{hung.url}", database: db, timeout: 500ms, max_backoff: 500ms, heartbeat_interval: 1s}}
""",
        env={},
    )
    exporters: list[InfluxExporter] = []

    def factory(ctx: AgentContext) -> InfluxExporter:
        assert config.model.influxdb is not None
        exporters.append(InfluxExporter(ctx, config.model.influxdb))
        return exporters[-1]

    tasks_before = {t for t in asyncio.all_tasks() if not t.done()}
    sockets_before = open_sockets()
    agent = Agent(config, sink_factories=[factory])
    run = asyncio.create_task(agent.run())
    await asyncio.wait_for(agent.handle.started.wait(), 10)
    started = time.monotonic()
    await asyncio.sleep(7.0)
    (exporter,) = exporters
    assert exporter.state == "failing" and "Timeout" in exporter.last_error
    assert hung.writes >= 3  # it kept trying (ping answered, write never), 500 ms each, then a short backoff
    assert hung.opened - hung.closed <= 1  # every timed-out attempt hung up; at most the current one is open
    agent.handle.stop.set()
    assert await asyncio.wait_for(run, 15) == 0
    elapsed = time.monotonic() - started

    for key, stats in agent.handle.stats.items():
        assert stats.missed_slots == 0, key
        assert stats.runs >= int(elapsed) - 1, (key, stats.runs, elapsed)
        assert stats.max_late_s < 0.25, (key, stats.max_late_s)
    await asyncio.sleep(0.2)
    assert hung.opened == hung.closed
    assert {t for t in asyncio.all_tasks() if not t.done()} - tasks_before == set()
    for s in services:
        await s.down()
    await hung.stop()
    assert open_sockets() <= sockets_before


async def test_a_user_password_token_is_basic_auth_on_influxdb_1_7(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """1.7 has no tokens; 1.8's convention token = "user:password" becomes Basic auth on /write."""
    import base64

    fake = FakeInflux(accept, version="1.7.11")
    await fake.start()
    caplog.set_level(logging.DEBUG)
    harness = await Harness.create(
        tmp_path, f'url: "{fake.url}", org: "-", bucket: telegraf, token: "admin:${{INFLUX_TOKEN}}", {FAST}', rows=3
    )
    try:
        await harness.start()
        await wait_until(harness.exported)
        assert {(w.path, tuple(sorted(w.query.items()))) for w in fake.writes} == {
            ("/write", (("db", "telegraf"), ("precision", "ns")))
        }
        assert {w.headers["Authorization"] for w in fake.writes} == {
            "Basic " + base64.b64encode(f"admin:{TOKEN}".encode()).decode()
        }
        assert (
            f"InfluxDB 1.7.11 at {fake.url} is older than 1.8 and has no /api/v2/write: writing the bucket "
            "'telegraf' to /write?db=telegraf instead; the token user:password goes in Basic auth as admin"
        ) in caplog.text
        assert TOKEN not in caplog.text
    finally:
        await harness.close()
        await fake.stop()


def test_which_servers_predate_the_v2_write_endpoint() -> None:
    versions = ["1.6.7~rc0", "1.7.11", "v1.7.0", "1.8.0", "1.8.10", "v2.7.10", "3.0.1", "", "OSS"]
    assert [predates_v2(ServerInfo(v, "")) for v in versions] == [True, True, True] + [False] * 6
