"""The status page's document links with the real renderers: report, evidence pack, complaint (HTML and PDF).

Served by aiohttp's test server from the scripted journal of web_helpers (a broker outage of 600 s and
one of 630 s still open at ``now``, a contact-log entry) with a fixed clock, so every figure is exact. The
pack is checked with the real verifier, and the letters must list exactly the pack the page hands out.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import multiprocessing
import os
import re
import shutil
import subprocess
import time
import zipfile
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient, TestServer
from influx_helpers import wait_until
from web_helpers import SCRIPT_CONFIG, write_script

from watchdog.config import load
from watchdog.documents.pack.verify import verify_pack
from watchdog.model import NS
from watchdog.timefmt import to_ns
from watchdog.web import JournalSource, StatusService, create_app
from watchdog.web.documents import DocumentWorker, default_documents

MSK = ZoneInfo("Europe/Moscow")
ORIGIN = to_ns(dt.datetime(2026, 11, 20, tzinfo=MSK))
NOW = ORIGIN + 3630 * NS
DOCS = ("report", "evidence", "complaint", "complaint-pdf")


def config_on_disk(tmp_path: Path, language: str) -> Any:
    """The scripted journal's config as a file (the pack carries the config's text, secrets redacted)."""
    path = tmp_path / "watchdog.yaml"
    path.write_text(SCRIPT_CONFIG.format(data_dir=tmp_path / "data", language=language, extra=""), encoding="utf-8")
    config = load(path, env={})
    assert write_script(config, ORIGIN) == NOW
    return config


def client_for(config: Any) -> TestClient[Any, Any]:
    service = StatusService(JournalSource(config, clock=lambda: NOW), cache_s=0, clock=lambda: NOW)
    return TestClient(TestServer(create_app(service, documents=default_documents())))


async def download(client: TestClient[Any, Any], name: str, kind: str, filename: str) -> bytes:
    response = await client.get(f"/providers/broker/documents/{name}?period=2026-11")
    assert response.status == 200, await response.text()
    assert response.content_type == kind
    assert response.headers["Content-Disposition"] == f'attachment; filename="{filename}"'
    return await response.read()


def pdf_text(data: bytes, tmp_path: Path) -> str:
    path = tmp_path / "letter.pdf"
    path.write_bytes(data)
    out = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    return " ".join(out.split())


async def test_every_document_link_downloads_and_checks_out(tmp_path: Path) -> None:
    config = config_on_disk(tmp_path, "en")
    async with client_for(config) as client:
        page = await (await client.get("/providers/broker?period=2026-11")).text()
        links = re.findall(r'href="(/providers/broker/documents/[^"]+)" data-document="([^"]+)"', page)
        assert [name for _, name in links] == list(DOCS)
        assert {href for href, _ in links} == {f"/providers/broker/documents/{n}?period=2026-11" for n in DOCS}
        assert ">Complaint draft (PDF)</a>" in page
        report = await download(client, "report", "text/html", "report-broker-2026-11.html")
        pack = await download(client, "evidence", "application/zip", "evidence-broker-2026-11.zip")
        letter = await download(client, "complaint", "text/html", "complaint-broker-2026-11-en.html")
        pdf = await download(client, "complaint-pdf", "application/pdf", "complaint-broker-2026-11-en.pdf")
        again = await download(client, "evidence", "application/zip", "evidence-broker-2026-11.zip")

    # the SLA report: 1230 s of provider downtime in 3630 s counted, as of the page's clock
    html = report.decode("utf-8")
    assert "<title>SLA report: ИТ Инвест, 2026-11</title>" in html
    assert f"{100 * (1 - 1230 / 3630):.4f} %" in html

    # the pack verifies, and it is the one the letters list (the page shares it between the links)
    assert again == pack
    (tmp_path / "pack.zip").write_bytes(pack)
    verdict = verify_pack(tmp_path / "pack.zip")
    assert verdict.ok, verdict.problems
    assert (verdict.provider, verdict.period) == ("broker", "2026-11")
    with zipfile.ZipFile(tmp_path / "pack.zip") as zf:
        raw = zf.read("manifest.json")
    manifest = json.loads(raw)
    assert manifest["as_of_ns"] == NOW
    text = letter.decode("utf-8")
    assert text.startswith("<!DOCTYPE html>") and '<html lang="en">' in text
    assert f"evidence-broker-2026-11.zip, SHA-256 <code>{hashlib.sha256(pack).hexdigest()}</code>" in text
    assert hashlib.sha256(raw).hexdigest() in text
    assert all(meta["sha256"] in text for meta in manifest["files"].values())
    assert "T-4711" in text  # the contact log, from the journal through the pack
    assert pdf.startswith(b"%PDF-")
    if shutil.which("pdftotext"):  # poppler-utils (scripts/debian-packages.txt)
        flat = pdf_text(pdf, tmp_path)
        assert "Complaint: the broker's outages, November 2026" in flat
        assert hashlib.sha256(raw).hexdigest() in flat


async def test_the_complaint_follows_the_pages_language(tmp_path: Path) -> None:
    config = config_on_disk(tmp_path, "ru")
    async with client_for(config) as client:
        page = await (await client.get("/providers/broker?period=2026-11")).text()
        assert ">Черновик претензии (PDF)</a>" in page
        letter = await download(client, "complaint", "text/html", "complaint-broker-2026-11-ru.html")
        report = await download(client, "report", "text/html", "report-broker-2026-11.html")
        pack = await download(client, "evidence", "application/zip", "evidence-broker-2026-11.zip")
    # the report and the pack's summary are in the page's language too
    html = report.decode("utf-8")
    assert '<html lang="ru">' in html and "<title>Отчёт SLA: ИТ Инвест, 2026-11</title>" in html
    assert f"{100 * (1 - 1230 / 3630):.4f} %".replace(".", ",") in html
    (tmp_path / "pack.zip").write_bytes(pack)
    assert verify_pack(tmp_path / "pack.zip").ok
    with zipfile.ZipFile(tmp_path / "pack.zip") as zf:
        assert "<h2>Состав доказательного пакета</h2>" in zf.read("summary.html").decode("utf-8")
    text = letter.decode("utf-8")
    assert '<html lang="ru">' in text and "ОБРАЩЕНИЕ (ПРЕТЕНЗИЯ)" in text
    # the outage still open at the page's clock is stated as open, as of that time
    assert "не восстановлена (по состоянию на 20.11.2026 01:00:30 МСК (UTC+03:00))" in text


@pytest.mark.parametrize("name", ["evidence", "complaint"])
async def test_a_document_that_cannot_be_made_says_so(tmp_path: Path, name: str) -> None:
    """The journal is gone (a copy moved away): 500 with a short text, the page itself keeps working."""
    config = config_on_disk(tmp_path, "en")
    async with client_for(config) as client:
        assert (await client.get("/providers/broker?period=2026-11")).status == 200
        for path in (tmp_path / "data").iterdir():
            path.unlink()
        response = await client.get(f"/providers/broker/documents/{name}?period=2026-11")
        assert response.status == 500
        assert await response.text() == f"the {name} could not be rendered; the agent's log says why\n"


async def test_the_agent_makes_its_documents_in_a_child_process(tmp_path: Path) -> None:
    """``watchdog run`` renders in a spawned child (DocumentWorker): same bytes, one shared pack, then it exits."""
    config = config_on_disk(tmp_path, "en")
    async with client_for(config) as client:  # in a thread, as `watchdog serve` does
        expected = await download(client, "report", "text/html", "report-broker-2026-11.html")
    worker = DocumentWorker(idle_s=1.0)
    service = StatusService(JournalSource(config, clock=lambda: NOW), cache_s=0, clock=lambda: NOW)
    try:
        async with TestClient(TestServer(create_app(service, documents=default_documents(worker)))) as client:
            report = await download(client, "report", "text/html", "report-broker-2026-11.html")
            children = multiprocessing.active_children()
            assert worker.running and len(children) == 1 and children[0].pid != os.getpid()
            pack = await download(client, "evidence", "application/zip", "evidence-broker-2026-11.zip")
            letter = await download(client, "complaint", "text/html", "complaint-broker-2026-11-en.html")
        assert report == expected
        (tmp_path / "pack.zip").write_bytes(pack)
        assert verify_pack(tmp_path / "pack.zip").ok
        assert hashlib.sha256(pack).hexdigest() in letter.decode("utf-8")  # the child's shelf: one pack for both
        await wait_until(lambda: not worker.running, 10)  # idle for idle_s: the child exits
        await wait_until(lambda: multiprocessing.active_children() == [], 10)
    finally:
        worker.close()


async def test_a_stopping_agent_does_not_wait_for_a_document(tmp_path: Path) -> None:
    config = config_on_disk(tmp_path, "en")
    worker = DocumentWorker()
    service = StatusService(JournalSource(config, clock=lambda: NOW), cache_s=0, clock=lambda: NOW)
    async with TestClient(TestServer(create_app(service, documents=default_documents(worker)))) as client:
        pending = asyncio.create_task(client.get("/providers/broker/documents/complaint-pdf?period=2026-11"))
        await wait_until(lambda: worker.running, 10, 0.01)
        started = time.monotonic()
        await asyncio.to_thread(worker.close)
        response = await pending
        assert time.monotonic() - started < 2.0
        assert response.status == 500
        assert await response.text() == "the complaint-pdf could not be rendered; the agent's log says why\n"
    assert multiprocessing.active_children() == []


async def test_a_complaint_with_nothing_to_claim_says_why(tmp_path: Path) -> None:
    """A period without an outage: 409 with the reason (issue 14: no letter without something to claim)."""
    config = config_on_disk(tmp_path, "en")
    async with client_for(config) as client:
        response = await client.get("/providers/broker/documents/complaint?period=2026-10")
        assert response.status == 409
        assert "no complaint: no monitoring data for provider 'broker' in 2026-10" in await response.text()
