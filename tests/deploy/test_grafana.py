"""The Grafana dashboards: sound JSON, and every query answers with data from what the agent wrote.

Grafana itself cannot be installed here, so the dashboards are checked the way Grafana would use them:
each panel, annotation and variable query, with its template variables substituted as Grafana does
(regex-escaped values, ``$timeFilter``, ``$__interval``), runs against a real influxd that the agent
filled during a scripted outage, and must return data.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import Switch
from influx_server import InfluxServer, available

from watchdog.agent.core import Agent
from watchdog.config import loads
from watchdog.influx.exporter import influx_sink

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((ROOT / "grafana" / "dashboards").glob("*.json"))
DATASOURCES = ROOT / "grafana" / "provisioning" / "datasources" / "outage-watchdog.yaml"
AGENT_ID = "home-msk-1"
DB = "watchdog"


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def datasource_uid() -> str:
    (source,) = yaml.safe_load(DATASOURCES.read_text(encoding="utf-8"))["datasources"]
    assert source["type"] == "influxdb" and source["jsonData"]["version"] == "InfluxQL"
    return str(source["uid"])


def queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, InfluxQL) for every panel target, annotation and variable of a dashboard."""
    out = []
    for panel in dashboard["panels"]:
        for t in panel["targets"]:
            out.append((f"panel {panel['id']} {panel['title']!r} {t['refId']}", t["query"]))
    for a in dashboard["annotations"]["list"]:
        if not a.get("builtIn"):
            out.append((f"annotation {a['name']!r}", a["query"]))
    for v in dashboard["templating"]["list"]:
        out.append((f"variable ${v['name']}", v["query"]))
    return out


def substitute(query: str, variables: dict[str, str], window: tuple[int, int] | None = None) -> str:
    """As Grafana does for InfluxQL: values inside /regex/ are regex-escaped; the window (epoch ms, default the
    last hour) gives ``$timeFilter``, ``${__from}`` and ``${__to}``."""
    now_ms = time.time_ns() // 1_000_000
    start, end = window or (now_ms - 3_600_000, now_ms)
    text = query.replace("$timeFilter", f"time >= {start}ms and time <= {end}ms").replace("$__interval", "2s")
    text = text.replace("${__from}", str(start)).replace("${__to}", str(end))
    for name, value in variables.items():
        text = text.replace(f"${name}", re.escape(value))
    return text


@pytest.mark.parametrize("path", DASHBOARDS, ids=[p.name for p in DASHBOARDS])
def test_dashboard_json_is_sound(path: Path) -> None:
    dashboard = load(path)
    uid = datasource_uid()
    panels = dashboard["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    boxes = []
    for p in panels:
        g = p["gridPos"]
        assert g["x"] >= 0 and g["y"] >= 0 and g["w"] >= 1 and g["h"] >= 1, p["title"]
        assert g["x"] + g["w"] <= 24, f"{p['title']} is wider than the grid"
        boxes.append((p["title"], g["x"], g["y"], g["x"] + g["w"], g["y"] + g["h"]))
        assert p["datasource"] == {"type": "influxdb", "uid": uid}, p["title"]
        assert p["targets"], p["title"]
        for t in p["targets"]:
            assert t["datasource"] == {"type": "influxdb", "uid": uid} and t["rawQuery"] is True, p["title"]
    for i, (a, ax0, ay0, ax1, ay1) in enumerate(boxes):
        for b, bx0, by0, bx1, by1 in boxes[i + 1 :]:
            assert ax1 <= bx0 or bx1 <= ax0 or ay1 <= by0 or by1 <= ay0, f"{a!r} overlaps {b!r}"
    for a in dashboard["annotations"]["list"]:
        if not a.get("builtIn"):
            assert a["datasource"] == {"type": "influxdb", "uid": uid}, a["name"]
    for v in dashboard["templating"]["list"]:
        assert v["datasource"] == {"type": "influxdb", "uid": uid}, v["name"]
        assert f"${v['name']}" in json.dumps(dashboard["panels"]), f"variable {v['name']} is never used"


def test_dashboard_uids_are_unique_and_provisioned() -> None:
    uids = [load(p)["uid"] for p in DASHBOARDS]
    assert len(uids) == len(set(uids)) == 2
    provider = yaml.safe_load((ROOT / "grafana/provisioning/dashboards/outage-watchdog.yaml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards/outage-watchdog"


async def seed(root: Path, server: InfluxServer) -> None:
    """The agent fills ``server``: a broker outage while one internet control was also down (its failed
    rounds also open a loss window: a degraded point), and speed tests against the contract's speed."""
    from aiohttp import web

    provider, lan, nets = Switch(), Switch(), [Switch(), Switch(), Switch()]
    for s in (provider, lan, *nets):
        await s.up()

    async def big(request: web.Request) -> web.Response:
        return web.Response(body=b"x" * (1 << 20))

    app = web.Application()
    app.router.add_get("/big", big)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    speed_port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    internet = ", ".join(f'{{name: n{i}, kind: tcp, address: "{s.address}"}}' for i, s in enumerate(nets))
    config = loads(
        f"""
agent: {{id: {AGENT_ID}, timezone: Europe/Moscow, data_dir: "{root / "data"}"}}
defaults: {{interval: 1s, timeout: 500ms}}
controls:
  lan: [{{name: router, kind: tcp, address: "{lan.address}"}}]
  internet: [{internet}]
  quorum: 2
providers:
  - {{id: broker, kind: broker, sla: {{availability: 99.5, download: 500Mbit, minimum: 50%}},
     targets: [{{name: trading, kind: tcp, address: "{provider.address}",
                 quality: {{loss_max: 10%, window: 5, open: 2 of 3, close: 2}}}},
               {{name: speed, kind: speed, address: "http://127.0.0.1:{speed_port}/big",
                 speed: {{max_seconds: 200ms, max_bytes: 1048576}}}}]}}
influxdb: {{url: "{server.url}", database: {DB}, heartbeat_interval: 1s, sla_interval: 2s}}
""",
        env={},
    )
    agent = Agent(config, sink_factories=[influx_sink])
    task = asyncio.create_task(agent.run())
    await asyncio.wait_for(agent.handle.started.wait(), 10)
    await asyncio.sleep(2.3)
    await provider.down()
    await nets[0].down()
    await asyncio.sleep(4.5)
    await provider.up()
    await nets[0].up()
    await asyncio.sleep(3.2)
    agent.handle.stop.set()
    assert await asyncio.wait_for(task, 20) == 0
    for s in (provider, lan, *nets):
        await s.down()
    await runner.cleanup()


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxServer]:
    """A real influxd filled by the agent (see :func:`seed`)."""
    if not available():
        pytest.skip("influxd not installed (apt-get install influxdb)")
    root = tmp_path_factory.mktemp("grafana")
    server = InfluxServer(root / "influxd")
    server.start()
    try:
        asyncio.run(seed(root, server))
        yield server
    finally:
        server.stop()


CASES = [(p.name, where, q) for p in DASHBOARDS for where, q in queries(load(p))]


@pytest.mark.slow
@pytest.mark.parametrize(("board", "where", "query"), CASES, ids=[f"{b}: {w}" for b, w, _ in CASES])
def test_every_query_returns_data(seeded: InfluxServer, board: str, where: str, query: str) -> None:
    text = substitute(query, {"agent": AGENT_ID, "provider": "broker"})
    assert not re.search(r"\$[A-Za-z_]", text), f"unsubstituted variable in {text}"
    series = seeded.query(text, DB, epoch="ms")
    assert series and any(s.get("values") for s in series), f"{board} {where}: no data for {text}"


def run_panel(
    server: InfluxServer, board: str, title: str, *, db: str = DB, window: tuple[int, int] | None = None
) -> list[dict[str, Any]]:
    """The rows a panel (or annotation) of a dashboard shows, tags included."""
    dashboard = load(ROOT / "grafana" / "dashboards" / board)
    found = [t["query"] for p in dashboard["panels"] if p["title"] == title for t in p["targets"]]
    found += [a["query"] for a in dashboard["annotations"]["list"] if a["name"] == title]
    (query,) = found
    rows = []
    for s in server.query(substitute(query, {"agent": AGENT_ID, "provider": "broker"}, window), db, epoch="ms"):
        for values in s["values"]:
            rows.append({**s.get("tags", {}), **dict(zip(s["columns"], values, strict=True))})
    return rows


@pytest.mark.slow
def test_the_panels_tell_what_happened(seeded: InfluxServer) -> None:
    assert [(r["provider"], r["min"]) for r in run_panel(seeded, "overview.json", "Providers now")] == [("broker", 1)]
    (outage,) = run_panel(seeded, "overview.json", "Outages")
    assert (outage["target"], outage["attribution"], outage["open"], outage["failure"]) == (
        "broker/trading",
        "provider",
        0,
        "connect",
    )
    assert 4.0 <= outage["duration_s"] <= 6.0 and outage["end_ms"] > outage["time"]
    (control,) = run_panel(seeded, "provider.json", "Outages of your line's controls")
    assert control["target"] == "internet/n0"
    (split,) = run_panel(seeded, "provider.json", "Outage time by attribution")
    assert split["provider"] == pytest.approx(outage["duration_s"]) and split["customer_line"] == 0
    (degraded,) = run_panel(seeded, "provider.json", "Degraded windows of $provider")
    assert (degraded["target"], degraded["limit"], degraded["attribution"]) == ("broker/trading", "loss", "provider")
    (panel,) = [p for p in load(ROOT / "grafana/dashboards/provider.json")["panels"] if p["id"] == 11]
    speeds = [
        dict(zip(series["columns"], values, strict=True))
        for t in panel["targets"]
        for series in seeded.query(substitute(t["query"], {"agent": AGENT_ID, "provider": "broker"}), DB, epoch="ms")
        for values in series["values"]
    ]
    assert any((r.get("download") or 0) > 1e6 for r in speeds)  # loopback: far above a Mbit/s
    assert any(r.get("contract minimum (download)") == 250e6 for r in speeds)
    (sla,) = run_panel(seeded, "overview.json", "Availability this period vs SLA")
    assert (sla["provider"], sla["SLA"], sla["breached"], sla["incidents"]) == ("broker", 99.5, 1, 1)


OUTAGE_QUERIES = [(p.name, where, q) for p in DASHBOARDS for where, q in queries(load(p)) if 'FROM "outage"' in q]


def outage_point(number: int, start_s: int, end_s: int | None, *, role: str = "provider") -> str:
    """An ``outage`` point as the exporter writes it (watchdog/influx/schema.py), times in s since the epoch."""
    provider, target = ("broker", "broker/trading") if role == "provider" else ("line", "internet/n0")
    end = f",end_ns={end_s * 10**9}i,end_lo_ns={(end_s - 1) * 10**9}i" if end_s is not None else ""
    duration = (end_s if end_s is not None else int(time.time())) - start_s
    return (
        f"outage,agent={AGENT_ID},kind=tcp,provider={provider},role={role},target={target} id={number}i,"
        f"start_ns={start_s * 10**9}i,confirmed_ns={(start_s + 3) * 10**9}i,duration_s={float(duration)},"
        f'open={0 if end_s else 1}i,attribution="provider",provider_s={float(duration)},customer_line_s=0,'
        f'inconclusive_s=0,no_data_s=0,failure="connect",detail="outage {number}"{end} {start_s * 10**9}'
    )


_window_dbs = itertools.count()


@pytest.mark.slow
@pytest.mark.parametrize(("board", "where", "query"), OUTAGE_QUERIES, ids=[f"{b}: {w}" for b, w, _ in OUTAGE_QUERIES])
def test_outages_that_began_before_the_window_are_shown(
    seeded: InfluxServer, board: str, where: str, query: str
) -> None:
    """An outage's point sits at its start: one that began before the window but reaches into it counts."""
    assert len(OUTAGE_QUERIES) == 6
    now = int(time.time())
    role = "control" if "provider\" = 'line'" in query else "provider"
    db = f"window_{role}_{next(_window_dbs)}"  # its own database: a case a second later must not see these points
    seeded.create_database(db)
    seeded.write(
        db,
        "\n".join(
            [
                outage_point(1, now - 3 * 3600, now - 2 * 3600, role=role),  # over before the window: not shown
                outage_point(2, now - 3 * 3600, now - 1800, role=role),  # began before, ended inside: shown
                outage_point(3, now - 2 * 3600, None, role=role),  # began before, still open: shown
                outage_point(4, now - 600, now - 300, role=role),  # inside: shown
                outage_point(5, now + 600, now + 900, role=role),  # after the window: not shown
            ]
        ),
    )
    text = substitute(query, {"agent": AGENT_ID, "provider": "broker"}, ((now - 3600) * 1000, now * 1000))
    rows = [
        dict(zip(s["columns"], values, strict=True))
        for s in seeded.query(text, db, epoch="ms")
        for values in s["values"]
    ]
    if "sum(" in query:
        (split,) = rows
        assert split["provider"] == 3 * 3600 - 1800 + 2 * 3600 + 300
        return
    assert sorted(r["time"] // 1000 for r in rows) == [now - 3 * 3600, now - 2 * 3600, now - 600]
