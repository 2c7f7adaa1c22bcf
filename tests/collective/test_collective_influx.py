"""Three agent processes export to one real InfluxDB; the collective report from it equals the one from their packs.

Debian's influxd 1.6.7 runs on loopback (tests/influx_server.py); the agents are real ``watchdog run``
processes probing real TCP services on 127.0.0.1 that the test switches off and on:

* the ISP's service (one for all three households) is down for about 9 s;
* household C's router and both internet anchors are down around it (C's own line: never confirmation);
* A and B share with the advocate's InfluxDB through ``agent.share`` (hashed ids, the provider as
  ``rostelecom``); C exports everything through its own ``influxdb:`` section and calls the provider ``rt``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import signal
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import Switch
from influx_server import InfluxServer, available

from watchdog.cli import main
from watchdog.documents.sharing import hashed_id
from watchdog.journal.store import Journal
from watchdog.model import NS

pytestmark = [
    pytest.mark.skipif(not available(), reason="influxd not installed (apt-get install influxdb)"),
    pytest.mark.slow,
]

ROOT = str(Path(__file__).resolve().parents[2])
SALT = "rt-campaign-2026"
DB = "advocate"

AGENT = """
agent: {{id: {id}, timezone: UTC, data_dir: "{data_dir}", tags: {{region: {region}, asn: "12389"}}, share: {share}}}
defaults: {{interval: 1s, timeout: 500ms, failure_threshold: 3, success_threshold: 2}}
controls:
  lan: [{{name: router, kind: tcp, address: "{lan}"}}]
  internet: [{{name: a, kind: tcp, address: "{a}"}}, {{name: b, kind: tcp, address: "{b}"}}]
  quorum: 1
providers:
  - id: {provider}
    name: Rostelecom
    kind: isp
    targets: [{{name: dns, kind: tcp, address: "{isp}"}}]
    contract: {{number: "Д-{id}", customer: "Customer {id}"}}
{influx}
ntp: {{enabled: false}}
web: {{enabled: false}}
"""
INFLUX = '{{url: "{url}", database: {db}, sla_interval: 2s, heartbeat_interval: 1s, max_backoff: 1s, timeout: 2s}}'


@pytest.fixture(scope="module")
def influxd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxServer]:
    server = InfluxServer(tmp_path_factory.mktemp("influxd"))
    server.start()
    server.create_database(DB)
    yield server
    server.stop()


def agent_config(tmp: Path, name: str, isp: Switch, own: list[Switch], influx_url: str) -> Path:
    influx = INFLUX.format(url=influx_url, db=DB)
    if name == "hh-c":  # everything through its own influxdb section; shares packs under its own names
        share, provider, section = "{}", "rt", f"influxdb: {influx}"
    else:
        share = f'{{agent_id: hashed, salt: "{SALT}", providers: {{isp: rostelecom}}, influxdb: {influx}}}'
        provider, section = "isp", ""
    text = AGENT.format(
        id=name,
        data_dir=tmp / name,
        region="msk" if name != "hh-b" else "spb",
        share=share,
        lan=own[0].address,
        a=own[1].address,
        b=own[2].address,
        provider=provider,
        isp=isp.address,
        influx=section,
    )
    path = tmp / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    return path


async def results(journal: Path) -> int:
    try:
        with Journal.open(journal, create=False, readonly=True) as j:
            return sum(1 for _ in j.iter_results())
    except Exception:
        return 0


def comparable(doc: dict[str, Any]) -> dict[str, Any]:
    """The report without what names its source."""
    out = {k: v for k, v in doc.items() if k not in ("source", "rejected", "skipped", "generated")}
    out["agents"] = [{k: v for k, v in a.items() if k != "sources"} for a in doc["agents"]]
    return out


async def test_influx_and_packs_agree(tmp_path: Path, influxd: InfluxServer) -> None:
    isp = Switch()
    homes = {name: [Switch(), Switch(), Switch()] for name in ("hh-a", "hh-b", "hh-c")}
    for s in (isp, *(s for own in homes.values() for s in own)):
        await s.up()
    configs = {name: agent_config(tmp_path, name, isp, own, influxd.url) for name, own in homes.items()}
    procs = []
    for name, cfg in configs.items():
        log = (tmp_path / f"{name}.log").open("wb")
        procs.append(
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "watchdog",
                "run",
                "-c",
                str(cfg),
                stdout=log,
                stderr=log,
                env={**os.environ, "PYTHONPATH": ROOT},
            )
        )
        log.close()
    try:
        deadline = time.monotonic() + 40
        while not all([await results(tmp_path / n / "journal.sqlite3") >= 12 for n in homes]):
            assert time.monotonic() < deadline, "the agents did not start probing"
            await asyncio.sleep(0.3)
        router, *anchors = homes["hh-c"]
        # C's own line goes first: its router, and so its internet anchors (a router seen up while both anchors
        # are down would be the ISP's fault for an ISP customer) …
        await router.down()
        await asyncio.sleep(1.5)
        for s in anchors:
            await s.down()
        await asyncio.sleep(1.5)
        await isp.down()  # … then the ISP for everyone
        await asyncio.sleep(9)
        await isp.up()
        await asyncio.sleep(1.5)
        for s in anchors:
            await s.up()
        await asyncio.sleep(1.5)
        await router.up()
        await asyncio.sleep(3)
    finally:
        for p in procs:
            if p.returncode is None:
                p.send_signal(signal.SIGTERM)
        codes = [await asyncio.wait_for(p.wait(), 30) for p in procs]
        for s in (isp, *(s for own in homes.values() for s in own)):
            await s.down()
    assert codes == [0, 0, 0], [(tmp_path / f"{n}.log").read_text()[-2000:] for n in homes]

    # every agent wrote its timeline: the shared ones under their hashed ids and the agreed name
    a, b = hashed_id("hh-a", SALT.encode()), hashed_id("hh-b", SALT.encode())
    rows = influxd.rows('SELECT "chunk", "as_of_ns" FROM "timeline" GROUP BY "agent", "provider", "asn"', DB)
    assert {(r["agent"], r["provider"], r["asn"]) for r in rows} == {
        (a, "rostelecom", "AS12389"),
        (b, "rostelecom", "AS12389"),
        ("hh-c", "rt", "AS12389"),
    }
    assert {r["agent"] for r in influxd.rows('SELECT "ok" FROM "probe" GROUP BY "agent"', DB)} == {a, b, "hh-c"}
    probe_targets = influxd.rows('SHOW TAG VALUES FROM "probe" WITH KEY = "target"', DB)
    assert {r["value"] for r in probe_targets} >= {"rostelecom/dns", "rt/dns", "lan/router"}

    packs = tmp_path / "packs"
    now = dt.datetime.now(dt.UTC)
    days = f"{(now - dt.timedelta(days=1)).date()}..{(now + dt.timedelta(days=1)).date()}"
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    for name, cfg in configs.items():
        provider = "rt" if name == "hh-c" else "isp"
        args = ["evidence", "-c", str(cfg), "--provider", provider, "--period", days, "--now", stamp, "--share"]
        assert main([*args, "-o", str(packs / f"{name}.zip")]) == 0
    # a forged copy of A's pack: one failed probe's failure kind erased (it would read as a success)
    with zipfile.ZipFile(packs / "hh-a.zip") as zin, zipfile.ZipFile(packs / "hh-a-copy.zip", "w") as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == "results.csv":
                data = data.replace(b",connect,", b",,", 1)
            zout.writestr(info, data)

    advocate = tmp_path / "advocate.yaml"
    advocate.write_text(f'agent: {{id: advocate, timezone: UTC}}\ninfluxdb: {{url: "{influxd.url}", database: {DB}}}\n')
    common = ["collective", "-c", str(advocate), "--provider", "rostelecom", "--alias", "RT", "--period", days]
    common += ["--now", stamp, "-k", "2"]
    # the CLI runs its own event loop (asyncio.run), so it gets a thread of its own here
    assert await asyncio.to_thread(main, [*common, "--influx", "--json", "-o", str(tmp_path / "influx.json")]) == 0
    assert (
        await asyncio.to_thread(main, [*common, "--packs", str(packs), "--json", "-o", str(tmp_path / "packs.json")])
        == 0
    )
    from_influx = json.loads((tmp_path / "influx.json").read_text(encoding="utf-8"))
    from_packs = json.loads((tmp_path / "packs.json").read_text(encoding="utf-8"))

    assert comparable(from_influx) == comparable(from_packs)
    assert [r["path"] for r in from_packs["rejected"]] == ["hh-a-copy.zip"]
    assert any("does not match its seal: the row was edited" in r for r in from_packs["rejected"][0]["reasons"])
    assert from_packs["source"]["used"] == 3 and from_influx["source"]["points"] >= 3

    [window] = from_influx["windows"]
    assert window["text"] == "confirmed by 2 of 3 agents reporting at that time"
    assert window["confirmed_by"] == sorted([a, b]) and window["line_down"] == ["hh-c"]
    assert 6.0 <= window["duration_s"] <= 12.0  # the ISP was off ~9 s; edges move with each agent's probes
    agents = {x["agent"]: x for x in from_influx["agents"]}
    assert agents["hh-c"]["provider_s"] == 0 and agents["hh-c"]["customer_line_s"] > 9
    assert agents[a]["tags"] == {"asn": "AS12389", "region": "msk"} and agents[b]["tags"]["region"] == "spb"
    assert from_influx["names"] == ["rostelecom", "rt"]
    # the region filter works on both sources alike
    spb = [*common, "--where", "region=spb", "--json", "-o"]
    assert await asyncio.to_thread(main, [*spb, str(tmp_path / "i2.json"), "--influx"]) == 0
    assert await asyncio.to_thread(main, [*spb, str(tmp_path / "p2.json"), "--packs", str(packs)]) == 0
    i2 = json.loads((tmp_path / "i2.json").read_text(encoding="utf-8"))
    assert [x["agent"] for x in i2["agents"]] == [b] and i2["windows"] == []
    assert comparable(i2) == comparable(json.loads((tmp_path / "p2.json").read_text(encoding="utf-8")))


async def test_the_shared_exporter_leaves_unshared_providers_and_details_at_home(
    tmp_path: Path, influxd: InfluxServer
) -> None:
    """The advocate's exporter, on a real journal: only the shared provider (renamed) and the controls go out."""
    from influx_helpers import Harness, wait_until

    from watchdog.collective.share import SharedSchema
    from watchdog.documents.sharing import SharedIdentity
    from watchdog.journal.schema import EV_AGENT_START

    db = "shared"
    influxd.create_database(db)
    harness = await Harness.create(tmp_path, f'url: "{influxd.url}", database: {db}, sla_interval: 1s', rows=0)
    run = {"run": "r1", "targets": sorted(t.id for t in (await harness.writer.call(lambda j: j.targets())).values())}
    await harness.writer.write(harness.writer.event(EV_AGENT_START, run, ts_ns=time.time_ns() - 60 * NS))
    await harness.write_results(20)
    identity = SharedIdentity("anon-0123456789abcdef", {"region": "msk"}, {"broker": "brk"}, False, True)
    exporter = await harness.start(schema=SharedSchema(identity), name="influxdb-share", cursor_name="share:x")
    try:
        await wait_until(lambda: exporter.cursor == harness.last_seq())
        await wait_until(lambda: bool(influxd.rows('SELECT "spans" FROM "timeline"', db)))
        probes = influxd.rows('SELECT * FROM "probe"', db)
        assert {r["target"] for r in probes} == {"brk/trading", "brk/bad", "lan/router"}
        assert {(r["agent"], r["region"]) for r in probes} == {("anon-0123456789abcdef", "msk")}
        assert any(r["failure"] == "connect" for r in probes) and all(r.get("detail") is None for r in probes)
        assert {r["provider"] for r in influxd.rows('SELECT "spans" FROM "timeline" GROUP BY "provider"', db)} == {
            "brk"
        }
        # once a day's content was queued, only days that changed go again: here just today (it grows)
        with Journal.open(harness.config.journal_path, readonly=True) as journal:
            again = exporter._timeline_lines(journal)
        assert (
            len(again) == 1
            and again[0].startswith("timeline,agent=anon-0123456789abcdef,")
            and "provider=brk" in again[0]
        )
    finally:
        await harness.close()


async def test_chunked_days_and_cut_writes_read_back_from_influxdb(influxd: InfluxServer) -> None:
    """A day too long for one string field spans several points; a day whose newest write is cut is reported."""
    from watchdog.analysis.timeline import DAY_NS, Span, State
    from watchdog.collective.influx import read_timelines
    from watchdog.config import InfluxSection
    from watchdog.influx.schema import Schema

    db = "chunks"
    influxd.create_database(db)
    day = time.time_ns() // DAY_NS * DAY_NS - 3 * DAY_NS
    states = list(State)
    busy = [Span(day + i * NS, day + i * NS + NS // 2, states[i % 4]) for i in range(6000)]
    schema = Schema({"agent": "hh-1", "region": "msk"})
    lines = schema.timeline_day("isp", "isp", day, busy, as_of_ns=day + DAY_NS, written_ns=5)
    assert len(lines) == 3
    influxd.write(db, "\n".join(lines))
    # the next day: an older complete write, then a newer one of which only the first of 3 chunks arrived
    old = [Span(day + DAY_NS, day + DAY_NS + 60 * NS, State.UP)]
    influxd.write(db, "\n".join(schema.timeline_day("isp", "isp", day + DAY_NS, old, as_of_ns=day, written_ns=6)))
    cut = schema.timeline_day(
        "isp",
        "isp",
        day + DAY_NS,
        [Span(s.start_ns + DAY_NS, s.end_ns + DAY_NS, s.state) for s in busy],
        as_of_ns=day + 2 * DAY_NS,
        written_ns=7,
    )
    influxd.write(db, cut[0])

    settings = InfluxSection(url=influxd.url, database=db)
    read = await read_timelines(settings, ["ISP"], (day, day + 3 * DAY_NS), where={"region": "msk"})
    [timeline] = read.timelines
    assert list(timeline.spans) == busy and dict(timeline.tags) == {"region": "msk"} and read.names == ["isp"]
    assert read.problems == [
        f"agent hh-1, isp, day {day + DAY_NS}: the newest write has chunks [0] of 3; the day is left out"
    ]
    assert (await read_timelines(settings, ["isp"], (day, day + DAY_NS), where={"region": "spb"})).timelines == []
