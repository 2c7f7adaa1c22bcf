"""The InfluxDB schema: exact line protocol for each measurement, escaping, and fixed field types."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

from watchdog.config import loads
from watchdog.influx.exporter import exporter_name
from watchdog.influx.schema import Schema, identity_tags
from watchdog.journal.readers import Event, TargetInfo
from watchdog.model import NS, AttributedOutage, Attribution, FailureKind, Outage, Role, Segment

TS = 1795317800123456789
SCHEMA = Schema({"agent": "home 1", "city": "Moscow,RU", "x": "a=b"})
TAGS = r"agent=home\ 1,city=Moscow\,RU"
TRADING = TargetInfo(3, "broker/trading", "tcp", "10.0.0.5:443", "provider", "broker", 10.0, 5.0, 3, 2)
ROUTER = TargetInfo(1, "lan/router", "icmp", "192.168.1.1", "lan", None, 10.0, 5.0, 3, 2)


def test_probe_ok_with_metrics_as_floats_and_bad_metric_names_left_out() -> None:
    metrics = '{"status_code":200,"days_left":12.5,"ok":1,"bad name":3,"flag":true}'
    assert SCHEMA.probe(TRADING, TS, 1234, None, None, metrics) == (
        rf"probe,{TAGS},kind=tcp,provider=broker,role=provider,target=broker/trading,x=a\=b "
        f"days_left=12.5,latency_s=0.001234,ok=1i,status_code=200 {TS}"
    )


def test_probe_failure_of_a_control_escapes_quotes_backslashes_and_newlines() -> None:
    detail = 'no answer "in" 5s\nreally, c:\\x'
    assert SCHEMA.probe(ROUTER, TS, 5_000_001, "timeout", detail, None) == (
        rf"probe,{TAGS},kind=icmp,provider=line,role=lan,target=lan/router,x=a\=b "
        rf'detail="no answer \"in\" 5s really, c:\\x",failure="timeout",latency_s=5.000001,ok=0i {TS}'
    )


def test_outage_open_then_closed_is_the_same_series_and_timestamp_with_more_fields() -> None:
    start = 1795317800 * NS
    opened = Outage(4711, "broker/trading", start, (start - 10 * NS, start), start + 20 * NS)
    a = AttributedOutage(opened, "broker", Role.PROVIDER, (Segment(start, start + 30 * NS, Attribution.PROVIDER),))
    series = rf"outage,{TAGS},kind=tcp,provider=broker,role=provider,target=broker/trading,x=a\=b"
    assert SCHEMA.outage(a, TRADING, start + 30 * NS) == (
        f'{series} attribution="provider",confirmed_ns={start + 20 * NS}i,customer_line_s=0,detail="",'
        f'duration_s=30,failure="",id=4711i,inconclusive_s=0,no_data_s=0,open=1i,provider_s=30,'
        f"start_lo_ns={start - 10 * NS}i,start_ns={start}i {start}"
    )
    closed = dataclasses.replace(
        opened,
        end_ns=start + 312 * NS,
        end_bounds=(start + 302 * NS, start + 312 * NS),
        failure=FailureKind.CONNECT,
        detail="connect refused",
    )
    segments = (
        Segment(start, start + 300 * NS, Attribution.PROVIDER),
        Segment(start + 300 * NS, start + 312 * NS, Attribution.INCONCLUSIVE),
    )
    b = AttributedOutage(closed, "broker", Role.PROVIDER, segments)
    assert SCHEMA.outage(b, TRADING, start + 999 * NS) == (
        f'{series} attribution="provider",confirmed_ns={start + 20 * NS}i,customer_line_s=0,'
        f'detail="connect refused",duration_s=312,end_lo_ns={start + 302 * NS}i,end_ns={start + 312 * NS}i,'
        f'failure="connect",id=4711i,inconclusive_s=12,no_data_s=0,open=0i,provider_s=300,'
        f"start_lo_ns={start - 10 * NS}i,start_ns={start}i {start}"
    )


def test_agent_events() -> None:
    def event(type_: str, data: dict) -> Event:
        return Event(1, TS, type_, None, None, data)

    base = rf"agent,{TAGS}"
    assert SCHEMA.agent_event(event("agent_start", {"run": "r1", "version": "0.1.0"})) == (
        rf'{base},event=start,x=a\=b run="r1",value=1i,version="0.1.0" {TS}'
    )
    assert SCHEMA.agent_event(event("agent_stop", {"run": "r1", "reason": "stop requested"})) == (
        rf'{base},event=stop,x=a\=b reason="stop requested",run="r1",value=1i {TS}'
    )
    assert SCHEMA.agent_event(event("stall", {"from_ns": 1, "to_ns": 7 * NS + 1, "reason": "suspended"})) == (
        rf'{base},event=stall,x=a\=b duration_s=7,reason="suspended",value=1i {TS}'
    )
    assert SCHEMA.agent_event(event("clock_sample", {"offset_s": -0.0123, "error_s": 0.004, "server": "ntp1"})) == (
        rf'{base},event=clock,x=a\=b clock_error_s=0.004,clock_offset_s=-0.0123,server="ntp1",value=1i {TS}'
    )
    assert SCHEMA.agent_event(event("clock_sample", {"offset_ns": 2_500_000})) == (
        rf"{base},event=clock,x=a\=b clock_offset_s=0.0025,value=1i {TS}"
    )
    assert SCHEMA.agent_event(event("clock_sample", {"server": "no offset"})) is None
    assert SCHEMA.agent_event(event("contact", {"note": "called support"})) is None
    assert SCHEMA.agent_event(event("target", {})) is None


def test_export_heartbeat() -> None:
    line = SCHEMA.export_status(backlog_rows=5, lag_s=1.5, dead_letters=0, exported_rows=10, state="ok", ts_ns=TS)
    assert line == (
        rf"agent,{TAGS},event=export,x=a\=b "
        f'backlog_rows=5i,dead_letters=0i,exported_rows=10i,lag_s=1.5,state="ok",value=1i {TS}'
    )


def test_identity_tags_come_from_the_config_and_our_tags_win() -> None:
    config = loads(
        'agent: {id: home-msk-1, tags: {agent: spoof, household: "flat 7", empty: ""}}\n'
        "influxdb: {url: 'http://127.0.0.1:8086', database: wd}\n",
        env={},
    )
    assert identity_tags(config) == {"agent": "home-msk-1", "household": "flat 7"}
    assert config.model.influxdb is not None
    assert exporter_name(config.model.influxdb) == "influxdb:http://127.0.0.1:8086/wd"
    schema = Schema({**identity_tags(config), "target": "spoof"})
    assert ",target=lan/router" in schema.probe(ROUTER, TS, 1, None, None, None)


def test_the_exporter_is_wired_in_only_when_configured(tmp_path: Path) -> None:
    from watchdog.agent.sinks import AgentContext
    from watchdog.agent.state import Board
    from watchdog.agent.writer import JournalWriter
    from watchdog.influx.exporter import InfluxExporter
    from watchdog.outputs import default_sink_factories

    writer = JournalWriter(tmp_path / "journal.sqlite3")  # never opened: the factories only read the config

    def sinks(text: str) -> list[object]:
        ctx = AgentContext(loads(text, env={}), Board.for_targets((), 0), writer)
        return [s for s in (f(ctx) for f in default_sink_factories()) if s is not None]

    assert not any(isinstance(s, InfluxExporter) for s in sinks("agent: {id: a}\n"))
    with_influx = sinks("influxdb: {url: 'http://127.0.0.1:8086', database: wd}\n")
    assert len([s for s in with_influx if isinstance(s, InfluxExporter)]) == 1


def test_an_agent_without_influxdb_does_not_load_the_client(tmp_path: Path) -> None:
    """The InfluxDB client loads numpy: about 22 MB of an agent's RSS, a third of it on a Raspberry Pi."""
    script = """
import sys
from watchdog.cli import build_parser
from watchdog.config import loads
from watchdog.outputs import default_sink_factories
from watchdog.agent.sinks import AgentContext
from watchdog.agent.state import Board
from watchdog.agent.writer import JournalWriter

build_parser()  # every command registered (`watchdog run` imports only its own module)
ctx = AgentContext(loads("agent: {id: a}\\n", env={}), Board.for_targets((), 0), JournalWriter(sys.argv[1]))
sinks = [f(ctx) for f in default_sink_factories()]
print(sorted(m for m in ("influxdb_client", "numpy", "apprise") if m in sys.modules))
"""
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "j.sqlite3")], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]", out.stderr


def test_degraded_window_is_its_own_measurement_with_a_limit_tag() -> None:
    start = 1795317800 * NS
    window = Outage(
        4712,
        "broker/trading",
        start,
        (start - 10 * NS, start),
        start + 20 * NS,
        end_ns=start + 60 * NS,
        end_bounds=(start + 50 * NS, start + 60 * NS),
        detail="latency 812 ms > 500 ms",
        limit="latency",
    )
    a = AttributedOutage(window, "broker", Role.PROVIDER, (Segment(start, start + 60 * NS, Attribution.PROVIDER),))
    assert SCHEMA.outage(a, TRADING, start + 99 * NS) == (
        rf"degraded,{TAGS},kind=tcp,limit=latency,provider=broker,role=provider,target=broker/trading,x=a\=b "
        f'attribution="provider",confirmed_ns={start + 20 * NS}i,customer_line_s=0,'
        f'detail="latency 812 ms > 500 ms",duration_s=60,end_lo_ns={start + 50 * NS}i,end_ns={start + 60 * NS}i,'
        f'failure="",id=4712i,inconclusive_s=0,no_data_s=0,open=0i,provider_s=60,'
        f"start_lo_ns={start - 10 * NS}i,start_ns={start}i {start}"
    )
