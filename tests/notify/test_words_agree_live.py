"""Words that agree, end to end (issue 15 item 5): one real 10 s outage, every surface, the same figures.

A real agent (1 s checks) watches a broker that is one loopback HTTP server probed twice (TCP connect and
HTTP GET) and a home line of four loopback TCP services. The test stops the broker's server for 10 s. Then:

* the notifications (real Apprise ``json://`` delivery to a receiver on loopback),
* the status page (the agent's own web server: ``/api/v1/status`` and the provider's HTML page),
* the SLA report (text and JSON, the code ``watchdog report`` runs)

must give the same figures: each target's outage window and duration, the month-to-date provider downtime
and the availability. Each surface has its own precision (the page 3 decimals of a percent, the report 4,
messages 2 rounded down), so a figure is checked as that surface's rounding of the one number the journal
gives. The whole scenario runs in Russian and in English (two agents at once, each with its own servers).

The month-to-date downtime a "back up" message quotes is the standing as of that outage's end (issue 15:
"простой … 11 с" where the report said 10 s): it must be the report's downtime as of the same instant, and
the last message's must be the final report's.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from helpers import Switch
from notify_helpers import Receiver, wait_until
from web_helpers import free_port

from watchdog.agent.core import Agent
from watchdog.analysis.sla import current_period
from watchdog.config import Config, loads
from watchdog.documents.report import build_report, render, report_json
from watchdog.documents.words import Formatter, load_words
from watchdog.journal.store import Journal
from watchdog.model import NS, Outage
from watchdog.notify.words import Words
from watchdog.outputs import default_sink_factories
from watchdog.timefmt import duration_text, local_text
from watchdog.web.i18n import language

DOWN_S = 10.0


class Site:
    """The broker: one HTTP server on a fixed loopback port that the test stops and starts again."""

    def __init__(self) -> None:
        self.port = free_port()
        self.runner: web.AppRunner | None = None

    @staticmethod
    async def home(_request: web.Request) -> web.Response:
        return web.Response(text="Вход")

    async def up(self) -> None:
        app = web.Application()
        app.router.add_get("/", self.home)
        self.runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port, reuse_address=True).start()

    async def down(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None


def config_text(data: Path, lang: str, rx: Receiver, site: Site, line: list[Switch], port: int) -> str:
    router, *anchors = line
    nets = "\n".join(f'    - {{name: n{i}, kind: tcp, address: "{s.address}"}}' for i, s in enumerate(anchors))
    return f"""
agent: {{id: agree-{lang}, timezone: Europe/Moscow, data_dir: "{data}", language: {lang}}}
defaults: {{interval: 1s, timeout: 500ms, failure_threshold: 3, success_threshold: 2}}
controls:
  lan: [{{name: router, kind: tcp, address: "{router.address}"}}]
  internet:
{nets}
  quorum: 2
providers:
  - id: broker
    name: "ИТ Инвест"
    kind: broker
    targets:
      - {{name: trading, kind: tcp, address: "127.0.0.1:{site.port}"}}
      - {{name: web, kind: http, address: "http://127.0.0.1:{site.port}/"}}
    sla: {{availability: 99.5, period: month}}
notify:
  urls: ["{rx.url("agree")}"]
  digest_at: null
  flap_window: 1s
ntp: {{enabled: false}}   # the default names public NTP servers: tests reach only loopback
web: {{listen: "127.0.0.1:{port}", refresh: 5s}}
"""


async def get(url: str) -> Any:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert response.status == 200, url
        return await response.json() if response.content_type == "application/json" else await response.text()


def flat(text: str) -> str:
    """Spaces of every kind (a no-break space joins a number and its unit on the page) as one space."""
    return re.sub(r"\s+", " ", text.replace("\xa0", " "))


async def one_outage(lang: str, tmp: Path) -> dict[str, Any]:
    """Run the agent, stop the broker for 10 s, collect every surface; the agent is stopped on return."""
    line = [Switch() for _ in range(4)]
    site, rx, port = Site(), Receiver(), free_port()
    for s in line:
        await s.up()
    await site.up()
    await rx.up()
    config = loads(config_text(tmp / "data", lang, rx, site, line, port), env={})
    agent = Agent(config, sink_factories=default_sink_factories())
    task = asyncio.create_task(agent.run())
    try:
        await asyncio.wait_for(agent.handle.started.wait(), 10)
        await asyncio.sleep(4)  # every target answers a few times first: the outage has a last success before it
        await site.down()
        await asyncio.sleep(DOWN_S)
        await site.up()
        closed = "success"
        await wait_until(lambda: sum(r.payload["type"] == closed for r in rx.received) >= 2, 20)
        base = f"http://127.0.0.1:{port}"
        status = await get(base + "/api/v1/status")
        html = await get(base + "/providers/broker")  # within the page's 5 s cache: the same figures as the JSON
        again = await get(base + "/api/v1/status")
    finally:
        agent.handle.stop.set()
        assert await asyncio.wait_for(task, 30) == 0
        await rx.down()
        await site.down()
        for s in line:
            await s.down()
    return {"config": config, "messages": list(rx.received), "status": status, "html": html, "again": again}


def journal_outages(config: Config) -> list[Outage]:
    with Journal.open(config.journal_path, create=False, readonly=True) as journal:
        return [o for o in journal.outages() if o.target.startswith("broker/")]


def report_at(config: Config, now_ns: int) -> tuple[dict[str, Any], str]:
    """The broker's report for the current month as of ``now_ns``: JSON and the text ``watchdog report`` prints."""
    zone = config.provider_zone("broker")
    label = current_period("month", now_ns, zone).label
    with Journal.open(config.journal_path, create=False, readonly=True) as journal:
        report = build_report(journal, config, "broker", label, now_ns)
    return report_json(report), render(report, "report.txt.j2", lang=config.agent.language)


@pytest.mark.slow
async def test_notifications_page_and_report_give_the_same_figures(tmp_path: Path) -> None:
    langs = ("ru", "en")
    runs = await asyncio.gather(*(one_outage(lang, tmp_path / lang) for lang in langs))
    for lang, run in zip(langs, runs, strict=True):
        check(lang, run)


def check(lang: str, run: dict[str, Any]) -> None:
    """Every surface of one run against the journal and the report."""
    config: Config = run["config"]
    words = Words(lang, config.zone)
    page = language(lang)
    letter = Formatter(lang, str(load_words(lang)["locale"]), config.zone, load_words(lang))  # type: ignore[arg-type]

    def report_dur(seconds: float) -> str:
        return letter.duration(seconds) if lang == "ru" else duration_text(seconds)

    outages = journal_outages(config)
    assert sorted(o.target for o in outages) == ["broker/trading", "broker/web"]
    assert all(o.end_ns is not None for o in outages)
    for o in outages:
        assert o.end_ns is not None
        assert DOWN_S - 2 <= (o.end_ns - o.start_ns) / NS <= DOWN_S + 2  # 10 s, give or take a check interval

    # --- each target's window and duration: message, page JSON, the journal ---------------------------------
    back = [m for m in run["messages"] if m.payload["type"] == "success"]
    assert len(back) == 2
    by_target = {o.target.split("/")[1]: o for o in outages}
    shown = {o["target"]: o for o in run["status"]["providers"][0]["outages"]}
    for message in back:
        target = re.search(r"`(\w+)`", message.title)
        assert target is not None
        o = by_target[target.group(1)]
        assert o.end_ns is not None
        length = (o.end_ns - o.start_ns) / NS
        span = words.render(
            "outage_closed",
            message.at_ns,
            provider="ИТ Инвест",
            provider_id="broker",
            target=target.group(1),
            start=o.start_ns,
            end=o.end_ns,
            length=length,
            by=None,
            st=None,
        ).body.splitlines()[0]
        assert message.body.splitlines()[0] == span  # "сбой 10:32:05–10:32:15 МСК (10 с)"
        on_page = shown[o.target]
        assert (on_page["start_ns"], on_page["end_ns"]) == (o.start_ns, o.end_ns)
        assert on_page["duration_s"] == round(length, 3)
        assert words.duration(on_page["duration_s"]) == words.duration(length)

    # --- month-to-date downtime and availability in each "back up" message ----------------------------------
    # as of that outage's end: exactly what the report says as of the same instant
    so_far = {
        "ru": re.compile(r"простой по вине провайдера (.+?) \(доступность (.+?) за "),
        "en": re.compile(r": (.+?) of provider downtime \(availability (.+?) over "),
    }[lang]
    ends = []
    for message in back:
        o = by_target[re.search(r"`(\w+)`", message.title).group(1)]  # type: ignore[union-attr]
        assert o.end_ns is not None
        ends.append(o.end_ns)
        figures, _ = report_at(config, o.end_ns)
        f = figures["figures"]
        found = so_far.search(message.body)
        assert found is not None, message.body
        assert found.group(1) == words.duration(f["downtime_s"]), (message.body, f["downtime_s"])
        assert found.group(2) == words.percent(f["availability"]), (message.body, f["availability"])
    # the last message speaks for the whole outage: the final report's downtime
    final, _ = report_at(config, run["status"]["generated_ns"])
    last = max(back, key=lambda m: by_target[re.search(r"`(\w+)`", m.title).group(1)].end_ns or 0).body  # type: ignore[union-attr]
    assert f" {words.duration(final['figures']['downtime_s'])} " in last
    (incident,) = final["incidents"]
    assert incident["targets"] == ["broker/trading", "broker/web"]
    assert incident["downtime_s"] == final["figures"]["downtime_s"]
    assert (incident["start"]["ns"], incident["end"]["ns"]) == (min(o.start_ns for o in outages), max(ends))

    # --- the page (JSON and HTML) and the report as of the page's own instant -------------------------------
    sla = run["status"]["providers"][0]["sla"]
    assert run["again"]["providers"][0]["sla"] == sla  # the HTML came from the same cached figures
    figures, text = report_at(config, sla["to_ns"])
    f = figures["figures"]
    assert sla["downtime_s"] == round(f["downtime_s"], 3)
    assert sla["availability"] == round(f["availability"], 6)
    assert sla["counted_s"] == round(f["counted_s"], 3)
    html, text = flat(run["html"]), flat(text)
    assert flat(page.duration(sla["downtime_s"])) in html
    assert flat(page.percent(sla["availability"])) in html
    # the report: the same downtime (in its own words), the same availability to its 4 decimals
    downtime = flat(report_dur(f["downtime_s"]))
    availability = f"{f['availability']:.4f}".replace(".", "," if lang == "ru" else ".") + " %"
    if lang == "ru":
        assert f"Простой {downtime} по вине провайдера" in text
        assert f"Доступность {availability} учитываемого времени" in text
    else:
        assert f"Downtime {downtime} attributed to the provider" in text
        assert f"Availability {availability} of counted time" in text
    # and the page's and the report's incident row: the same duration and downtime, the same words for it
    row = f"<td>{page.duration(incident['duration_s'])}</td><td>{page.duration(incident['downtime_s'])}</td>"
    assert row in run["html"], row
    assert flat(report_dur(incident["duration_s"])) in text and flat(report_dur(incident["downtime_s"])) in text
    # the same instants: the report's incident starts when the page's earliest outage does, and its text says when
    assert sorted(o["start_ns"] for o in shown.values())[0] == incident["start"]["ns"]
    for ns in (incident["start"]["ns"], incident["end"]["ns"]):
        assert flat(letter.instant(ns) if lang == "ru" else local_text(ns, config.zone)) in text
