"""Issue 14 item 1, end to end: a certificate with 4 days left is a warning, an expired one is downtime.

The whole agent runs against a real TLS server on 127.0.0.1 presenting a trustme certificate, with real
TCP controls and a real Apprise ``json://`` receiver. What must hold for 4 days left: every probe up, no
outage, exactly one notification (not one per probe), one journal note, and the report shows 100 %
availability with the warning noted apart. For an expired certificate: the probes fail and an outage opens.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trustme
from helpers import Switch
from notify_helpers import Receiver, wait_until

from watchdog.agent.core import Agent
from watchdog.config import loads
from watchdog.documents.report import build_report, render, report_json
from watchdog.journal.schema import EV_CERT_EXPIRING
from watchdog.journal.store import Journal
from watchdog.outputs import default_sink_factories


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> tuple[trustme.CA, Path]:
    authority = trustme.CA(organization_name="Watchdog Expiry Test CA")
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    authority.cert_pem.write_to_path(str(path))
    return authority, path


async def tls_server(cert: trustme.LeafCert) -> tuple[asyncio.Server, int]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.read()
        except (ConnectionError, ssl.SSLError):
            pass  # the probe aborts right after the handshake
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
    return server, server.sockets[0].getsockname()[1]


@pytest.fixture
async def controls() -> AsyncIterator[tuple[Switch, list[Switch]]]:
    lan, internet = Switch(), [Switch(), Switch()]
    for s in (lan, *internet):
        await s.up()
    yield lan, internet
    for s in (lan, *internet):
        await s.down()


def config_text(data_dir: Path, rx: Receiver, port: int, ca_file: Path, lan: Switch, internet: list[Switch]) -> str:
    nets = "\n".join(f'    - {{name: n{i}, kind: tcp, address: "{s.address}"}}' for i, s in enumerate(internet))
    return f"""
agent: {{id: tls-e2e, timezone: Europe/Moscow, data_dir: "{data_dir}"}}
defaults: {{interval: 1s, timeout: 800ms, failure_threshold: 2, success_threshold: 2}}
controls:
  lan:
    - {{name: router, kind: tcp, address: "{lan.address}"}}
  internet:
{nets}
  quorum: 2
providers:
  - id: bank
    name: Bank
    kind: bank
    targets:
      - name: online
        kind: tls
        address: "localhost:{port}"
        tls: {{ca_file: "{ca_file}"}}
notify:
  urls: ["{rx.url("hook")}"]
  digest_at: null
ntp: {{enabled: false}}   # the default names public NTP servers: tests reach only loopback
web: {{enabled: false}}
"""


async def run_agent(config_text_: str, seconds: float) -> Agent:
    config = loads(config_text_, env={})
    agent = Agent(config, sink_factories=default_sink_factories())
    task = asyncio.create_task(agent.run())
    try:
        await asyncio.wait_for(agent.handle.started.wait(), 10)
        await asyncio.sleep(seconds)
    finally:
        agent.handle.stop.set()
        assert await asyncio.wait_for(task, 30) == 0
    return agent


@pytest.mark.slow
async def test_four_days_left_is_up_with_one_warning(
    tmp_path: Path, ca: tuple[trustme.CA, Path], controls: tuple[Switch, list[Switch]]
) -> None:
    authority, ca_file = ca
    lan, internet = controls
    not_after = dt.datetime.now(dt.UTC) + dt.timedelta(days=4, hours=6)
    server, port = await tls_server(authority.issue_cert("localhost", common_name="localhost", not_after=not_after))
    rx = Receiver()
    await rx.up()
    try:
        text = config_text(tmp_path, rx, port, ca_file, lan, internet)
        await run_agent(text, 3.5)
        await wait_until(lambda: len(rx.received) >= 1)
        await asyncio.sleep(0.5)  # room for a wrong second notification to arrive
    finally:
        await rx.down()
        server.close()
        await server.wait_closed()

    config = loads(text, env={})
    with Journal.open(config.journal_path, readonly=True) as journal:
        results = [r for _, r in journal.iter_results() if r.target == "bank/online"]
        assert len(results) >= 3
        assert all(r.ok and r.failure is None for r in results)
        assert all(r.metrics["expiry_warning"] == 1.0 and 4.2 < r.metrics["days_left"] < 4.26 for r in results)
        assert journal.outages() == []
        (note,) = journal.events([EV_CERT_EXPIRING])  # once per certificate and whole day, not per probe
        assert note.data["not_after_ns"] == int(not_after.timestamp()) * 10**9
        assert note.data["min_days_left"] == 14
        report = build_report(journal, config, "bank", _month())
        data = report_json(report)
    # one notification for one step (7 days), although every probe carried the warning
    assert rx.refs() == [f"tls/bank/online/{_local_date(not_after)}/7d"]
    assert rx.received[0].title == "Bank: certificate expires in 4 days"
    assert (data["figures"]["downtime_s"], data["figures"]["incidents"], data["outages"]) == (0.0, 0, [])
    (warning,) = data["warnings"]
    assert (warning["kind"], warning["target"], warning["address"]) == (
        "cert_expiring",
        "bank/online",
        f"localhost:{port}",
    )
    assert warning["days_left"] == 4.2
    txt = render(report, "report.txt.j2")
    assert "Warnings (not downtime: the service answered)" in txt
    assert f"bank/online (localhost:{port}): its TLS certificate expires" in txt
    ru = render(report, "report.txt.j2", lang="ru")
    assert "Предупреждения (не простой: сервис отвечал)" in ru
    assert f"bank/online (localhost:{port}): TLS-сертификат истекает " in ru and "; осталось 4,2 дн. на " in ru
    assert json.dumps(data)  # the JSON stays plain data


@pytest.mark.slow
async def test_expired_certificate_is_downtime(
    tmp_path: Path, ca: tuple[trustme.CA, Path], controls: tuple[Switch, list[Switch]]
) -> None:
    authority, ca_file = ca
    lan, internet = controls
    not_after = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    server, port = await tls_server(authority.issue_cert("localhost", not_after=not_after))
    rx = Receiver()
    await rx.up()
    try:
        text = config_text(tmp_path, rx, port, ca_file, lan, internet)
        await run_agent(text, 3.0)
    finally:
        await rx.down()
        server.close()
        await server.wait_closed()

    config = loads(text, env={})
    with Journal.open(config.journal_path, readonly=True) as journal:
        results = [r for _, r in journal.iter_results() if r.target == "bank/online"]
        assert results and all(not r.ok and r.failure is not None for r in results)
        assert {r.detail for r in results} == {
            f"TLS localhost:{port}: certificate verify failed: certificate has expired"
        }
        (outage,) = journal.outages()
        assert outage.target == "bank/online" and outage.is_open
        assert journal.events([EV_CERT_EXPIRING]) == []


def _month() -> str:
    return dt.datetime.now(dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=3))).strftime("%Y-%m")


def _local_date(when: dt.datetime) -> str:
    return when.astimezone(dt.timezone(dt.timedelta(hours=3))).date().isoformat()
