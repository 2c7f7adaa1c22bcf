"""The status page and its JSON API show a target that is up but degraded (an open degraded window)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp.test_utils import TestClient, TestServer
from degraded_history import write

from watchdog.config import loads
from watchdog.model import NS, Result, Target
from watchdog.timefmt import to_ns
from watchdog.web import JournalSource, StatusService, create_app

MSK = ZoneInfo("Europe/Moscow")
START = to_ns(dt.datetime(2026, 11, 20, 18, 0, tzinfo=MSK))
LOSS_FROM = to_ns(dt.datetime(2026, 11, 20, 19, 0, tzinfo=MSK))
END = to_ns(dt.datetime(2026, 11, 20, 19, 30, tzinfo=MSK))

CONFIG = """
agent: {{id: home, timezone: Europe/Moscow, data_dir: "{data_dir}"}}
defaults: {{interval: 60s, timeout: 5s}}
controls:
  lan: [{{name: router, kind: tcp, address: "127.0.0.1:1"}}]
providers:
  - id: isp
    kind: isp
    targets:
      - {{name: gateway, kind: icmp, address: 127.0.0.1, quality: {{loss_max: 5%, open: 3 of 5}}}}
ntp: {{enabled: false}}
web: {{enabled: false}}
"""


def round_of(target: Target, ts: int) -> Result:
    lost = 1.0 if target.key == "isp/gateway" and ts >= LOSS_FROM else 0.0
    return Result(target.key, ts, True, 0.008, detail="ok", metrics={"sent": 5.0, "received": 5.0 - lost})


async def test_degraded_target_on_the_page_and_in_the_api(tmp_path: Path) -> None:
    config = loads(CONFIG.format(data_dir=tmp_path), env={})
    write(config, START, END, 60, round_of, stop=False)
    now = END - 10 * NS
    service = StatusService(JournalSource(config, clock=lambda: now), cache_s=0, clock=lambda: now)
    async with TestClient(TestServer(create_app(service))) as client:
        response = await client.get("/api/v1/status")
        data: Any = await response.json()
        page = await (await client.get("/")).text()
    (isp,) = data["providers"]
    (gateway,) = isp["targets"]
    assert (gateway["key"], gateway["state"], gateway["degraded"]) == ("isp/gateway", "up", ["loss"])
    assert [c["degraded"] for c in data["controls"]] == [[]]
    # the month so far: degraded from the first lossy round (19:00:02) to now (19:29:50), all the ISP's
    assert isp["sla"]["degraded_s"] == 1788.0 and isp["sla"]["counts_degraded"] is False
    assert "<div><dt>Degraded</dt><dd>29\xa0min 48\xa0s</dd></div>" in page  # durations keep their spaces
    assert '<span class="badge s-failing" data-degraded="loss">degraded: loss</span>' in page
