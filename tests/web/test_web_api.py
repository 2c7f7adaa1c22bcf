"""The JSON API, /metrics, /healthz and the pages, served from a scripted journal by aiohttp's test server.

The journal is written through the real Journal API with a fixed clock, so every figure is exact:
one hour of results, a broker outage of 600 s (closed) and one of 630 s (open at ``now``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families
from web_helpers import script_config, write_script

from watchdog.analysis.outages import analyse, outage_json
from watchdog.journal.store import Journal
from watchdog.model import NS
from watchdog.timefmt import to_ns
from watchdog.web import Document, DocumentRequest, JournalSource, StatusService, create_app

MSK = ZoneInfo("Europe/Moscow")
ORIGIN = to_ns(dt.datetime(2026, 11, 20, tzinfo=MSK))  # Friday 20 November 2026, 00:00 MSK


def at(seconds: float) -> int:
    return ORIGIN + int(seconds * NS)


@pytest.fixture
def journal_config(tmp_path: Path) -> Any:
    config = script_config(tmp_path / "data")
    now = write_script(config, ORIGIN)
    assert now == at(3630)
    return config


def app_for(config: Any, **kwargs: Any) -> Any:
    service = StatusService(JournalSource(config, clock=lambda: at(3630)), cache_s=0, clock=lambda: at(3630))
    return create_app(service, **kwargs)


@pytest.fixture
async def client(journal_config: Any) -> AsyncIterator[TestClient[Any, Any]]:
    async with TestClient(TestServer(app_for(journal_config))) as c:
        yield c


async def get_json(client: TestClient[Any, Any], path: str, status: int = 200) -> Any:
    response = await client.get(path)
    assert response.status == status, await response.text()
    assert response.content_type == "application/json"
    return await response.json()


async def test_status(client: TestClient[Any, Any]) -> None:
    data = await get_json(client, "/api/v1/status")
    assert (data["api"], data["agent"], data["timezone"], data["mode"]) == (1, "home-msk-1", "Europe/Moscow", "journal")
    assert data["generated_ns"] == at(3630)
    assert data["generated_local"] == "2026-11-20T01:00:30.000+03:00"
    assert data["agent_running"] is True
    assert data["last_record_ns"] == at(3540)
    assert data["line"] == {
        "state": "ok",
        "lan_up": 1,
        "lan_total": 1,
        "internet_up": 3,
        "internet_total": 3,
        "quorum": 2,
        "failing": [],
    }
    assert [c["key"] for c in data["controls"]] == ["lan/router", "internet/a", "internet/b", "internet/c"]
    assert {c["state"] for c in data["controls"]} == {"up"}

    broker, bank = data["providers"]
    assert (broker["id"], broker["name"], broker["kind"], broker["state"]) == ("broker", "ИТ Инвест", "broker", "down")
    (trading,) = broker["targets"]
    assert trading["state"] == "down"
    assert trading["last"] == {
        "ts_ns": at(3540),
        "ts": "2026-11-19T21:59:00.000Z",
        "ts_local": "2026-11-20T00:59:00.000+03:00",
        "ok": False,
        "latency_s": 0.0002,
        "failure": "connect",
        "detail": "connect 127.0.0.1:5: refused",
    }
    assert trading["last_ok_ns"] == at(2940)
    assert trading["outage"]["start_ns"] == at(3000)
    assert trading["outage"]["start_bounds_ns"] == [at(2940), at(3000)]
    assert trading["outage"]["duration_s"] == 630.0
    assert broker["open_outages"] == 1 and broker["outages_30d"] == 2
    assert [(o["start_ns"], o["open"], o["attribution"], o["duration_s"]) for o in broker["outages"]] == [
        (at(3000), True, "provider", 630.0),
        (at(1200), False, "provider", 600.0),
    ]
    assert broker["outages"][1]["end_bounds_ns"] == [at(1740), at(1800)]

    sla = broker["sla"]
    assert sla["period"] == "2026-11"
    assert sla["period_start_local"] == "2026-11-01T00:00:00.000+03:00"
    assert sla["counted_s"] == 3630.0
    assert sla["downtime_s"] == 1230.0
    assert sla["no_data_s"] == 19 * 86400
    assert sla["availability"] == round(100 * (1 - 1230 / 3630), 6)
    assert (sla["target"], sla["breached"]) == (99.5, True)
    assert sla["allowed_downtime_s"] == round(3630 * 0.5 / 100, 3)
    assert sla["coverage"] == round(3630 / (19 * 86400 + 3630), 6)
    assert (sla["incidents"], sla["counted_incidents"], sla["longest_s"], sla["mttr_s"]) == (2, 2, 630.0, 600.0)

    (online,) = bank["targets"]
    assert (bank["state"], online["state"], online["last"]["latency_s"]) == ("up", "up", 0.02)
    assert online["address"] == "https://***@bank.example/login"  # credentials in a URL are never shown
    assert (bank["sla"]["availability"], bank["sla"]["breached"], bank["outages"]) == (100.0, False, [])


async def test_outages_match_the_cli(client: TestClient[Any, Any], journal_config: Any) -> None:
    data = await get_json(client, "/api/v1/outages?provider=broker&since=2026-11-20T00:00")
    with Journal.open(journal_config.journal_path, create=False, readonly=True) as journal:
        analysis = analyse(
            journal,
            provider_kinds={
                "broker": journal_config.provider("broker").kind,
                "bank": journal_config.provider("bank").kind,
            },
            quorum=2,
            since_ns=ORIGIN,
            now_ns=at(3630),
        )
    expected = [outage_json(a, journal_config, at(3630)) for a in analysis.for_provider("broker")]
    assert data["outages"] == expected
    assert [o["id"] for o in data["outages"]] == [o.outage.id for o in analysis.for_provider("broker")]
    assert (data["since_ns"], data["until_ns"], data["generated_ns"]) == (ORIGIN, at(3630), at(3630))
    assert data["outages"][0]["segments"] == [
        {
            "start_ns": at(1200),
            "end_ns": at(1800),
            "attribution": "provider",
            "reason": "LAN 1/1 up, internet 3/3 up (quorum 2)",
        }
    ]
    late = await get_json(client, "/api/v1/outages?since=2026-11-20T00:40")
    assert [o["start_ns"] for o in late["outages"]] == [at(3000)]
    assert (await get_json(client, "/api/v1/outages?controls=1"))["outages"] == data["outages"]  # controls were up


async def test_report_for_a_period(client: TestClient[Any, Any]) -> None:
    data = await get_json(client, "/api/v1/report?provider=broker&period=2026-11")
    assert (data["provider"], data["name"], data["timezone"], data["complete"]) == (
        "broker",
        "ИТ Инвест",
        "Europe/Moscow",
        False,
    )
    assert data["sla"]["downtime_s"] == 1230.0
    assert [
        (i["start_ns"], i["end_ns"], i["downtime_s"], i["open"], i["attribution"]) for i in data["incident_list"]
    ] == [
        (at(1200), at(1800), 600.0, False, "provider"),
        (at(3000), None, 630.0, True, "provider"),
    ]
    # the restore deadline runs from the contact at t = 1500 inside the first outage (as in the report and the
    # letters); the second has no contact, so from its start — and each says which
    h72 = 72 * 3600
    assert [
        (i["restore_from"], i["restore_report_ns"], i["restore_due_ns"], i["restore_excess_s"])
        for i in data["incident_list"]
    ] == [("report", at(1500), at(1500 + h72), 0.0), ("start", None, at(3000 + h72), 0.0)]
    assert data["incident_list"][1]["restore_due_local"] == "2026-11-23T00:50:00.000+03:00"
    october = await get_json(client, "/api/v1/report?provider=broker&period=2026-10")
    assert (october["sla"]["counted_s"], october["sla"]["availability"], october["sla"]["coverage"]) == (0.0, None, 0.0)
    assert october["complete"] is True


@pytest.mark.parametrize(
    ("path", "status", "error"),
    [
        ("/api/v1/report?provider=nope", 404, "no provider 'nope' (known: broker, bank)"),
        ("/api/v1/report", 400, "say which provider: ?provider= one of broker, bank"),
        (
            "/api/v1/report?provider=broker&period=Nov",
            400,
            "cannot read period 'Nov': use 2026-11 (month), 2026-W47 (week), 2026-Q4, 2026, or 2026-11-01..2026-11-15",
        ),
        (
            "/api/v1/outages?since=yesterday",
            400,
            "cannot read time 'yesterday': use 2026-11-20, 2026-11-20T10:00 (local), ...Z (UTC), or 24h (ago)",
        ),
        ("/api/v1/outages?provider=nope", 404, "no provider 'nope' (known: broker, bank)"),
    ],
)
async def test_bad_queries_say_what_is_wrong(client: TestClient[Any, Any], path: str, status: int, error: str) -> None:
    assert await get_json(client, path, status) == {"error": error}


async def test_metrics(client: TestClient[Any, Any]) -> None:
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(await response.text())
        for s in family.samples
    }

    def value(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted(labels.items())))]

    trading = {"agent": "home-msk-1", "provider": "broker", "target": "broker/trading", "role": "provider"}
    online = {"agent": "home-msk-1", "provider": "bank", "target": "bank/online", "role": "provider"}
    assert value("watchdog_target_up", **trading) == 0.0
    assert value("watchdog_target_up", **online) == 1.0
    assert value("watchdog_target_state", **trading, state="down") == 1.0
    assert value("watchdog_target_latency_seconds", **online) == 0.02
    assert value("watchdog_target_outage_start_timestamp_seconds", **trading) == at(3000) / NS
    assert value("watchdog_target_last_probe_timestamp_seconds", **online) == at(3540) / NS
    broker = {"agent": "home-msk-1", "provider": "broker", "period": "2026-11"}
    assert value("watchdog_provider_availability_ratio", **broker) == pytest.approx(1 - 1230 / 3630, abs=1e-12)
    assert value("watchdog_provider_sla_target_ratio", **broker) == 0.995
    assert value("watchdog_provider_downtime_seconds", **broker) == 1230.0
    assert value("watchdog_provider_sla_breached", **broker) == 1.0
    assert value("watchdog_provider_open_outages", agent="home-msk-1", provider="broker") == 1.0
    assert value("watchdog_line_controls_up", agent="home-msk-1", role="internet") == 3.0
    assert value("watchdog_line_ok", agent="home-msk-1") == 1.0
    assert value("watchdog_agent_running", agent="home-msk-1", mode="journal") == 1.0


async def test_healthz(journal_config: Any, tmp_path: Path) -> None:
    async with TestClient(TestServer(app_for(journal_config))) as c:
        response = await c.get("/healthz")
        body = await response.json()
        assert response.status == 200 and body["ok"] is True and body["problems"] == []
        assert body["head"]["last_seq"] > 0
    gone = script_config(tmp_path / "nowhere")
    async with TestClient(TestServer(app_for(gone))) as c:
        response = await c.get("/healthz")
        body = await response.json()
    assert response.status == 503
    assert body["ok"] is False
    assert body["problems"] == [
        f"journal not readable: no journal at {gone.journal_path} (has the agent run with this data_dir?)"
    ]


# ------------------------------------------------------------------------------------------- pages


async def test_overview_page(client: TestClient[Any, Any]) -> None:
    response = await client.get("/")
    html = await response.text()
    assert response.status == 200 and response.content_type == "text/html"
    assert '<section class="card provider p-down" data-provider="broker">' in html
    assert '<section class="card provider p-up" data-provider="bank">' in html
    assert '<li class="outage open" data-outage=' in html and 'data-target="broker/trading"' in html
    assert "Your line works" in html
    assert "66.116%" in html  # month-to-date availability of the broker
    assert "hunter2" not in html
    assert "All times: Europe/Moscow (UTC+03:00)." in html


async def test_provider_page_in_russian(tmp_path: Path) -> None:
    config = script_config(tmp_path / "data", language="ru")
    write_script(config, ORIGIN)
    async with TestClient(TestServer(app_for(config))) as c:
        response = await c.get("/providers/broker")
        html = await response.text()
        missing = await c.get("/providers/nope")
    assert response.status == 200
    assert "<h1>ИТ Инвест" in html
    assert "66,116\u00a0%" in html
    assert "support says it is my router" in html and "T-4711" in html  # the contact log
    # the restore deadline of each incident, and what it runs from (the open one first: newest first)
    assert html.count('<td class="restore" data-restore-from="report">') == 1
    assert html.count('<td class="restore" data-restore-from="start">') == 1
    assert "считается от начала сбоя: обращение не записано" in html
    assert 'считается от обращения <time datetime="2026-11-19T21:25:00.000Z"' in html
    assert html.count('<rect class="provider"') == 4  # both outages, on the 24 h and on the 30 d timeline
    # 24 h window = [now − 86 400 s, now]: the first outage starts 83 970 s into it and lasts 600 s
    assert '<rect class="provider" x="97.1875" y="0" width="0.6944" height="10">' in html
    assert '<rect class="provider" x="99.2708" y="0" width="0.7292" height="10">' in html
    assert "Сбои (30 дней)" in html
    assert 'href="?period=2026-10" rel="prev"' in html
    assert 'rel="next"' not in html  # November is still running
    assert "data-document=" not in html  # no renderers registered: no dead links
    assert missing.status == 404


async def test_documents_come_from_the_registry(journal_config: Any) -> None:
    calls: list[DocumentRequest] = []

    def evidence(request: DocumentRequest) -> Document:
        calls.append(request)
        return Document(
            b"PK\x03\x04fake zip", "application/zip", f"evidence-{request.provider.id}-{request.period.label}.zip"
        )

    def broken(request: DocumentRequest) -> Document:
        raise RuntimeError("secret path /home/user/x")

    app = app_for(journal_config, documents={"evidence": evidence, "complaint": broken})
    async with TestClient(TestServer(app)) as c:
        page = await (await c.get("/providers/broker?period=2026-10")).text()
        got = await c.get("/providers/broker/documents/evidence?period=2026-10")
        body = await got.read()
        failed = await c.get("/providers/broker/documents/complaint")
        failed_text = await failed.text()
        unknown = await c.get("/providers/broker/documents/report")
    assert 'href="/providers/broker/documents/evidence?period=2026-10" data-document="evidence"' in page
    assert 'data-document="complaint"' in page and 'data-document="report"' not in page
    assert got.status == 200 and body == b"PK\x03\x04fake zip"
    assert got.headers["Content-Type"] == "application/zip"
    assert got.headers["Content-Disposition"] == 'attachment; filename="evidence-broker-2026-10.zip"'
    (request,) = calls
    assert (request.provider.id, request.period.label, request.language) == ("broker", "2026-10", "en")
    assert failed.status == 500 and "secret" not in failed_text and "Traceback" not in failed_text
    assert unknown.status == 404
