"""Issue 13 item 10: what one request to the status page can cost, and a chart drawn in one pass.

* ``period=0001-01-01..9999-12-30`` made the page compute ten thousand years (a 500 on the way): a period
  is now at most two years long and within a year of the journal's data, else a 400 that says so.
* Documents are made one at a time with at most three waiting; a fifth request at once gets a 503.
* The pack's timeline drew four ``broken_barh`` artists per target (1000 targets: 30 s; 2000: 45 s; a
  10,000-target figure 320,000 px tall): now one PolyCollection per colour and a bands area no taller than
  60 rows; a chart of up to 60 targets is byte-identical to the old drawing (goldens made by the old code).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import struct
import threading
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import matplotlib.collections
import pytest
from aiohttp.test_utils import TestClient, TestServer
from chart_cases import chart
from influx_helpers import wait_until
from web_helpers import script_config, write_script

from watchdog.documents.chart import MAX_BANDS
from watchdog.model import NS
from watchdog.timefmt import to_ns
from watchdog.web import JournalSource, StatusService, create_app
from watchdog.web.app import SETTINGS
from watchdog.web.documents import Document, DocumentRequest, default_documents

DATA = Path(__file__).parent / "data"
MSK = ZoneInfo("Europe/Moscow")
ORIGIN = to_ns(dt.datetime(2026, 11, 20, tzinfo=MSK))
OUTSIDE = (
    "the period {label!r} lies outside the journal's span: ask for one between 2025-11-19 and 2027-11-21 "
    "(a year either side of the journal's data)"
)


def size(png: bytes) -> tuple[int, int]:
    width, height = struct.unpack(">II", png[16:24])
    return int(width), int(height)


@pytest.mark.parametrize("targets", [5, 40])
def test_a_small_chart_looks_as_before(targets: int) -> None:
    # goldens made by the code before the one-pass drawing, re-made once for the Okabe–Ito palette (issue 15)
    assert chart(targets) == (DATA / f"timeline-{targets}-targets.png").read_bytes()


def test_many_targets_are_drawn_in_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[int] = []
    real = matplotlib.collections.PolyCollection.__init__

    def counted(self: Any, *args: Any, **kwargs: Any) -> None:
        made.append(1)
        real(self, *args, **kwargs)

    monkeypatch.setattr(matplotlib.collections.PolyCollection, "__init__", counted)
    started = time.perf_counter()
    png = chart(600)
    took = time.perf_counter() - started
    # one collection per band colour (no data, up, uncertain, down) + the four of the attribution row;
    # the old drawing made 4 × 600 + 4
    assert len(made) == 8
    assert size(png) == size(chart(MAX_BANDS)) == (1090, 1806)  # no taller than 60 labelled rows
    print(f"600 targets: {took:.2f} s")  # 0.5 s here; the old drawing took 17 s


@pytest.fixture
def config(tmp_path: Path) -> Any:
    made = script_config(tmp_path / "data")
    assert write_script(made, ORIGIN) == ORIGIN + 3630 * NS
    return made


def client_for(config: Any, documents: Any = None) -> TestClient[Any, Any]:
    now = ORIGIN + 3630 * NS
    service = StatusService(JournalSource(config, clock=lambda: now), cache_s=0, clock=lambda: now)
    app = create_app(service, documents=default_documents() if documents is None else documents)
    return TestClient(TestServer(app))


@pytest.mark.parametrize(
    ("label", "error"),
    [
        (
            "0001-01-01..9999-12-30",
            "the period '0001-01-01..9999-12-30' is 3652058 days long; the page computes "
            "periods of at most 731 days: ask for a shorter one",
        ),
        ("9999-12-31..9999-12-31", "cannot use period '9999-12-31..9999-12-31': date value out of range"),
        ("2025-11-20..2027-11-19", None),  # 730 days within a year of the data either side: computed
        ("1970-01", OUTSIDE.format(label="1970-01")),
        ("2025-11-18..2025-11-19", OUTSIDE.format(label="2025-11-18..2025-11-19")),
        ("2027-11-21..2027-11-22", OUTSIDE.format(label="2027-11-21..2027-11-22")),
        ("2099", OUTSIDE.format(label="2099")),
    ],
)
async def test_a_period_is_bounded(config: Any, label: str, error: str | None) -> None:
    async with client_for(config) as client:
        responses = [
            await client.get("/api/v1/report", params={"provider": "broker", "period": label}),
            await client.get("/providers/broker", params={"period": label}),
            await client.get("/providers/broker/documents/report", params={"period": label}),
        ]
        if error is None:
            assert [r.status for r in responses] == [200, 200, 200]
            return
        assert (responses[0].status, await responses[0].json()) == (400, {"error": error})
        for response in responses[1:]:
            assert (response.status, await response.text()) == (400, error + "\n")


async def test_documents_wait_in_a_short_queue(config: Any) -> None:
    release = threading.Event()
    running: list[int] = []
    most = [0]

    def slow(request: DocumentRequest) -> Document:
        running.append(1)
        most[0] = max(most[0], len(running))
        release.wait(10)
        running.pop()
        return Document(b"report", "text/html; charset=utf-8", "r.html")

    async with client_for(config, {"report": slow}) as client:
        gate = client.server.app[SETTINGS].documents_gate
        first = asyncio.ensure_future(client.get("/providers/broker/documents/report?period=2026-11"))
        await wait_until(lambda: gate.busy == (1, 0) and bool(running))
        queued = [
            asyncio.ensure_future(client.get("/providers/broker/documents/report?period=2026-11")) for _ in range(3)
        ]
        await wait_until(lambda: gate.busy == (1, 3))
        refused = await client.get("/providers/broker/documents/report?period=2026-11")
        assert (refused.status, await refused.text()) == (
            503,
            "4 documents are being made or waiting; try again in a minute\n",
        )
        release.set()
        done = await asyncio.gather(first, *queued)
        assert [r.status for r in done] == [200, 200, 200, 200]
        assert [await r.read() for r in done] == [b"report"] * 4
    assert most[0] == 1
