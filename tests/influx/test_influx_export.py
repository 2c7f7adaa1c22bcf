"""The InfluxDB exporter against a real InfluxDB (Debian's influxd 1.6.7, started by the test on loopback).

What the agent journals is read back with InfluxQL and must equal the journal row for row — also after
the server was stopped for a while mid-run and started again on the same port and data directory.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import T0, Switch
from influx_helpers import (
    TOKEN,
    Harness,
    V2StandIn,
    build_agent,
    influx_probe_rows,
    journal_probe_rows,
    last_seq,
    wait_until,
)
from influx_server import InfluxServer, available

from watchdog.analysis.outages import analyse
from watchdog.influx.tail import DEAD_LETTERS_TABLE
from watchdog.journal.store import Journal
from watchdog.model import NS, ProviderKind

pytestmark = pytest.mark.skipif(not available(), reason="influxd not installed (apt-get install influxdb)")


@pytest.fixture(scope="module")
def influxd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxServer]:
    """One real influxd for this module; every test writes to its own database."""
    server = InfluxServer(tmp_path_factory.mktemp("influxd"))
    server.start()
    yield server
    server.stop()


def agent_config(data_dir: Path, influx_url: str, db: str, provider: Switch, lan: Switch, nets: list[Switch]) -> str:
    internet = ", ".join(f'{{name: n{i}, kind: tcp, address: "{s.address}"}}' for i, s in enumerate(nets))
    return f"""
agent: {{id: home-test, timezone: Europe/Moscow, data_dir: "{data_dir}", tags: {{household: "flat 7, Tverskaya"}}}}
defaults: {{interval: 1s, timeout: 500ms, failure_threshold: 3, success_threshold: 2}}
controls:
  lan: [{{name: router, kind: tcp, address: "{lan.address}"}}]
  internet: [{internet}]
  quorum: 2
providers:
  - id: broker
    kind: broker
    sla: {{availability: 99.9}}
    targets: [{{name: trading, kind: tcp, address: "{provider.address}"}}]
influxdb:
  url: "{influx_url}"
  database: {db}
  heartbeat_interval: 1s
  sla_interval: 2s
  max_backoff: 1s
  timeout: 2s
"""


@pytest.fixture
async def services() -> tuple[Switch, Switch, list[Switch]]:
    """A provider service, a LAN control and three internet controls, all up; closed after the test."""
    provider, lan, nets = Switch(), Switch(), [Switch(), Switch(), Switch()]
    for s in (provider, lan, *nets):
        await s.up()
    yield provider, lan, nets
    for s in (provider, lan, *nets):
        await s.down()


def cursor_of(journal_path: Path, name: str) -> int:
    with Journal.open(journal_path, create=False, readonly=True) as j:
        return j.cursor(name)


@pytest.mark.slow
async def test_agent_run_reads_back_equal_to_the_journal(
    tmp_path: Path, influxd: InfluxServer, services: tuple[Switch, Switch, list[Switch]]
) -> None:
    provider, lan, nets = services
    agent, exporters, recorder = build_agent(agent_config(tmp_path, influxd.url, "e2e", provider, lan, nets))
    task = asyncio.create_task(agent.run())
    await asyncio.wait_for(agent.handle.started.wait(), 10)
    await asyncio.sleep(2.3)
    await provider.down()
    await asyncio.sleep(4.5)
    await provider.up()
    await asyncio.sleep(3.2)
    agent.handle.stop.set()
    assert await asyncio.wait_for(task, 20) == 0

    journal_path = tmp_path / "journal.sqlite3"
    (exporter,) = exporters
    assert exporter.server is not None and exporter.server.version == "1.6.7~rc0"  # api auto → v1, db created
    assert cursor_of(journal_path, exporter.cursor_name) == last_seq(journal_path)  # the stop row went out too

    expected = journal_probe_rows(journal_path)
    assert len(expected) >= 40
    assert influx_probe_rows(influxd, "e2e") == expected

    tags = influxd.query('SHOW TAG VALUES FROM "probe" WITH KEY IN ("agent", "household")', "e2e")
    assert sorted(tuple(v) for v in tags[0]["values"]) == [("agent", "home-test"), ("household", "flat 7, Tverskaya")]

    with Journal.open(journal_path, create=False, readonly=True) as j:
        analysis = analyse(j, provider_kinds={"broker": ProviderKind.BROKER}, quorum=2)
        starts = [e.ts_ns for e in j.events(["agent_start"])]
        stops = [e.ts_ns for e in j.events(["agent_stop"])]
    (a,) = analysis.for_provider("broker")
    o = a.outage
    assert o.end_ns is not None and o.end_bounds is not None
    (point,) = influxd.rows('SELECT * FROM "outage"', "e2e")
    assert {k: point[k] for k in ("time", "start_ns", "start_lo_ns", "end_ns", "end_lo_ns", "open", "id")} == {
        "time": o.start_ns,
        "start_ns": o.start_ns,
        "start_lo_ns": o.start_bounds[0],
        "end_ns": o.end_ns,
        "end_lo_ns": o.end_bounds[0],
        "open": 0,
        "id": o.id,
    }
    assert (point["provider"], point["target"], point["role"], point["attribution"]) == (
        "broker",
        "broker/trading",
        "provider",
        "provider",
    )
    assert point["duration_s"] == pytest.approx((o.end_ns - o.start_ns) / NS, abs=1e-9)

    assert [r["time"] for r in influxd.rows('SELECT * FROM "agent" WHERE "event" = \'start\'', "e2e")] == starts
    assert [r["time"] for r in influxd.rows('SELECT * FROM "agent" WHERE "event" = \'stop\'', "e2e")] == stops
    heartbeats = influxd.rows('SELECT * FROM "agent" WHERE "event" = \'export\'', "e2e")
    assert len(heartbeats) >= 5 and heartbeats[-1]["state"] == "ok"
    sla = influxd.rows('SELECT * FROM "sla"', "e2e")
    assert sla and sla[-1]["provider"] == "broker" and sla[-1]["target"] == 99.9
    assert sla[-1]["breached"] == 1 and sla[-1]["incidents"] == 1 and sla[-1]["availability"] < 99.9
    assert not [e for e in recorder.events if e.type.startswith("influx_")]  # nothing went wrong


@pytest.mark.slow
async def test_server_stopped_mid_run_loses_nothing_and_drains_in_order(
    tmp_path: Path, services: tuple[Switch, Switch, list[Switch]]
) -> None:
    server = InfluxServer(tmp_path / "influxd")
    server.start()
    try:
        provider, lan, nets = services
        agent, exporters, recorder = build_agent(
            agent_config(tmp_path / "data", server.url, "fault", provider, lan, nets)
        )
        journal_path = tmp_path / "data" / "journal.sqlite3"
        task = asyncio.create_task(agent.run())
        await asyncio.wait_for(agent.handle.started.wait(), 10)
        (exporter,) = exporters
        await wait_until(lambda: exporter.cursor > 5, 10)

        server.stop()
        stopped_at = time.monotonic()
        await wait_until(lambda: exporter.state == "failing", 10)
        held = cursor_of(journal_path, exporter.cursor_name)
        await asyncio.sleep(12.0 - (time.monotonic() - stopped_at))
        assert cursor_of(journal_path, exporter.cursor_name) == held  # nothing moved while nobody accepted
        backlog_before_restart = last_seq(journal_path) - held
        assert backlog_before_restart >= 40  # 5 targets at 1 s for ~12 s

        server.start()
        positions = [held]
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and positions[-1] < last_seq(journal_path) - 10:
            await asyncio.sleep(0.05)
            positions.append(cursor_of(journal_path, exporter.cursor_name))
        assert positions == sorted(positions)  # the backlog drained forward only, in journal order
        assert positions[-1] > held

        agent.handle.stop.set()
        assert await asyncio.wait_for(task, 20) == 0
        assert cursor_of(journal_path, exporter.cursor_name) == last_seq(journal_path)
        assert influx_probe_rows(server, "fault") == journal_probe_rows(journal_path)  # zero rows lost

        types = [e.type for e in recorder.events if e.type.startswith("influx_")]
        assert types == ["influx_export_failing", "influx_export_recovered"]
        recovered = next(e for e in recorder.events if e.type == "influx_export_recovered")
        assert recovered.data["backlog_rows"] >= 40 and recovered.data["down_s"] >= 11
        # the heartbeats queued while the server was away arrive too, showing the backlog and lag of that time
        lag = server.rows('SELECT max("lag_s"), max("backlog_rows") FROM "agent" WHERE "event" = \'export\'', "fault")
        assert lag[0]["max"] >= 10 and lag[0]["max_1"] >= 40
    finally:
        server.stop()


async def test_v2_dialect_through_a_stand_in_for_influxdb_2(tmp_path: Path, influxd: InfluxServer) -> None:
    """No 2.x server can be had here: V2StandIn checks what 2.x checks and has the real influxd parse the lines."""
    stand_in = V2StandIn(influxd, org="home", token=TOKEN)
    await stand_in.start()
    influxd.create_database("v2bucket")
    harness = await Harness.create(
        tmp_path, f'url: "{stand_in.url}", org: home, bucket: v2bucket, token: "${{INFLUX_TOKEN}}"', rows=30
    )
    try:
        exporter = await harness.start()
        await wait_until(harness.exported)
        assert exporter.server is not None and exporter.server.version == "v2.7.10"  # auto → v2
        writes = stand_in.writes
        assert writes and all(w.path == "/api/v2/write" for w in writes)
        assert {(w.query["org"], w.query["bucket"], w.query["precision"]) for w in writes} == {
            ("home", "v2bucket", "ns")
        }
        assert {w.headers["Authorization"] for w in writes} == {f"Token {TOKEN}"}
        assert influx_probe_rows(influxd, "v2bucket") == journal_probe_rows(harness.config.journal_path)
    finally:
        await harness.close()
        await stand_in.stop()


async def test_points_the_server_refuses_go_to_dead_letters_and_the_rest_arrives(
    tmp_path: Path, influxd: InfluxServer
) -> None:
    """A real 400: influxd refuses a field whose type differs from what the measurement already holds."""
    influxd.create_database("conflict")
    seed = f'probe,target=seed status_code="was a string" {T0}'
    influxd.write("conflict", seed)
    harness = await Harness.create(tmp_path, f'url: "{influxd.url}", database: conflict', rows=0)
    await harness.write_results(16, t0_ns=T0 + NS)
    try:
        exporter = await harness.start()
        await wait_until(harness.exported)
        # rows 0, 2, 4, ... carry the metric status_code (a float): exactly those are refused
        refused = harness.seqs[0::2]
        with Journal.open(harness.config.journal_path, create=False, readonly=True) as j:
            dead = j.conn.execute(f"SELECT seq, status, error FROM {DEAD_LETTERS_TABLE} ORDER BY seq").fetchall()
            results = sum(1 for _ in j.iter_results())
        assert [row[0] for row in dead] == refused
        assert {row[1] for row in dead} == {400}
        assert all("field type conflict" in row[2] for row in dead)
        assert exporter.dead_letters == 8
        assert results == 16  # the refused rows are still in the journal
        stored = influxd.rows('SELECT * FROM "probe" WHERE "target" != \'seed\'', "conflict")
        assert len(stored) == 8
        (event,) = [e for e in harness.events if e.type == "influx_dead_letters"]
        assert (event.data["points"], event.data["status"], event.data["seqs"]) == (8, 400, refused)
    finally:
        await harness.close()


async def test_a_v2_style_config_writes_to_influxdb_1_6_through_the_1x_endpoint(
    tmp_path: Path, influxd: InfluxServer, caplog: pytest.LogCaptureFixture
) -> None:
    """1.6/1.7 have no /api/v2/write: org/bucket/token against the real influxd 1.6.7 go to /write?db=&rp=."""
    caplog.set_level(logging.INFO, logger="watchdog.influx")
    harness = await Harness.create(
        tmp_path, f'url: "{influxd.url}", org: home, bucket: "old16/autogen", token: "${{INFLUX_TOKEN}}"', rows=24
    )
    try:
        exporter = await harness.start()
        await wait_until(harness.exported)
        assert exporter.server is not None and exporter.server.version.startswith("1.6.")
        assert exporter.state == "ok"
        assert influx_probe_rows(influxd, "old16") == journal_probe_rows(harness.config.journal_path)
        assert len(influxd.rows('SELECT * FROM "autogen"."probe"', "old16")) == 24
        notes = [r.getMessage() for r in caplog.records if "before 1.8" in r.getMessage()]
        assert notes == [
            f"InfluxDB {exporter.server.version} at {influxd.url} is older than 1.8 and has no /api/v2/write: "
            "writing the bucket 'old16/autogen' to /write?db=old16&rp=autogen instead; the token is not sent "
            "(1.x before 1.8 has no tokens: set username and password if its auth is on, or nothing)"
        ]
        assert not [e for e in harness.events if e.type == "influx_destination_missing"]
        assert TOKEN not in caplog.text
    finally:
        await harness.close()
