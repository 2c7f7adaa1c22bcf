"""The status page in a real headless Chromium, served by a real agent probing loopback services.

The broker's service goes down for good while the line (router + three anchors) stays up, so the page
must show the broker down with an open outage attributed to the provider, and the bank up. Screenshots
(desktop and phone) are written to test-artifacts/ and their paths printed for CI to keep.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from helpers import Switch
from web_helpers import ARTIFACTS, agent_config, chromium, free_port, full_screenshot, have_browser

from watchdog.agent.core import Agent
from watchdog.agent.detector import State
from watchdog.config import loads
from watchdog.web import web_sink

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not have_browser(), reason="needs Debian's chromium and chromium-driver (apt-get install)"),
]

NAMES = ("router", "a", "b", "c", "trading", "online")


@pytest.fixture
async def services() -> AsyncIterator[dict[str, Switch]]:
    """Six real TCP services on 127.0.0.1, all up; closed after the test."""
    switches = {name: Switch() for name in NAMES}
    for s in switches.values():
        await s.up()
    yield switches
    for s in switches.values():
        await s.down()


def severe(driver: Any) -> list[dict[str, Any]]:
    """Console messages at error level (CSP violations and failed loads land here too)."""
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def browse(base: str) -> dict[str, Any]:
    """Everything the browser does, in a worker thread (selenium blocks; the agent runs on the loop)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    seen: dict[str, Any] = {}
    with chromium(1280, 900) as driver:
        driver.get(base + "/")
        WebDriverWait(driver, 15).until(ec.presence_of_element_located((By.CSS_SELECTOR, "[data-provider=broker]")))
        broker = driver.find_element(By.CSS_SELECTOR, "section[data-provider=broker]")
        bank = driver.find_element(By.CSS_SELECTOR, "section[data-provider=bank]")
        seen["broker_title"] = broker.find_element(By.CSS_SELECTOR, "h2 a").text
        seen["bank_title"] = bank.find_element(By.CSS_SELECTOR, "h2 a").text
        seen["broker_state"] = broker.find_element(By.CSS_SELECTOR, "h2 .badge").get_attribute("data-state")
        seen["bank_state"] = bank.find_element(By.CSS_SELECTOR, "h2 .badge").get_attribute("data-state")
        seen["broker_badge"] = broker.find_element(By.CSS_SELECTOR, "h2 .badge").text
        rows = driver.find_elements(By.CSS_SELECTOR, "#recent-outages tr.outage")
        seen["rows"] = [
            (r.get_attribute("data-target"), "open" in (r.get_attribute("class") or ""), r.text) for r in rows
        ]
        seen["line"] = driver.find_element(By.CSS_SELECTOR, "#line .badge").get_attribute("class")
        seen["desktop"] = full_screenshot(driver, ARTIFACTS / "status.png")
        # app.js swaps <main> for a fresh copy every `refresh` seconds: mark the old one and wait for the swap
        driver.execute_script("document.getElementById('main').dataset.old = '1'")
        WebDriverWait(driver, 15).until(
            lambda d: d.execute_script("return document.getElementById('main').dataset.old") is None
        )
        seen["lost_hidden"] = driver.execute_script("return document.getElementById('lost').hidden")
        seen["console_overview"] = severe(driver)

        driver.get(base + "/providers/broker")
        WebDriverWait(driver, 15).until(ec.presence_of_element_located((By.ID, "timelines")))
        seen["provider_h1"] = driver.find_element(By.TAG_NAME, "h1").text
        seen["timeline_outage_bars"] = len(
            driver.find_elements(By.CSS_SELECTOR, "[data-target='broker/trading'] svg rect.provider")
        )
        seen["latency_charts"] = len(driver.find_elements(By.CSS_SELECTOR, "#latency figure.lat svg"))
        seen["provider_page"] = full_screenshot(driver, ARTIFACTS / "status-provider.png")
        seen["console_provider"] = severe(driver)

    with chromium(390, 844, mobile=True) as phone:
        phone.get(base + "/")
        WebDriverWait(phone, 15).until(ec.presence_of_element_located((By.CSS_SELECTOR, "[data-provider=broker]")))
        seen["phone_overflow"] = phone.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        seen["phone"] = full_screenshot(phone, ARTIFACTS / "status-phone.png")
        seen["console_phone"] = severe(phone)
    return seen


async def test_status_page_in_chromium(tmp_path: Path, services: dict[str, Switch]) -> None:
    port = free_port()
    addresses = {name: s.address for name, s in services.items()}
    config = loads(agent_config(tmp_path / "data", port, addresses, language="ru"), env={})
    agent = Agent(config, sink_factories=[web_sink])
    task = asyncio.create_task(agent.run())
    try:
        await asyncio.wait_for(agent.handle.started.wait(), 10)
        await asyncio.sleep(2.5)
        await services["trading"].down()
        deadline = time.monotonic() + 20
        while agent.board.targets["broker/trading"].state is not State.DOWN:
            assert time.monotonic() < deadline, "the outage was never confirmed"
            await asyncio.sleep(0.2)
        seen = await asyncio.to_thread(browse, f"http://127.0.0.1:{port}")
    finally:
        agent.handle.stop.set()
        assert await asyncio.wait_for(task, 20) == 0

    for key in ("desktop", "provider_page", "phone"):
        print(f"screenshot: {seen[key]}")
    assert seen["broker_title"] == "ИТ Инвест"
    assert seen["bank_title"] == "Example Bank"
    assert (seen["broker_state"], seen["broker_badge"]) == ("down", "недоступен")
    assert seen["bank_state"] == "up"
    assert seen["line"] == "badge s-up"
    (row,) = seen["rows"]
    assert row[0] == "broker/trading" and row[1] is True
    assert "ИТ Инвест" in row[2] and "продолжается" in row[2] and "провайдер" in row[2]
    assert "Connection refused" in row[2]
    assert seen["lost_hidden"] is True
    assert seen["provider_h1"].startswith("ИТ Инвест")
    assert seen["timeline_outage_bars"] == 2  # the open outage on the 24 h and on the 30 d timeline
    assert seen["latency_charts"] == 1
    assert seen["phone_overflow"] == 0  # nothing scrolls sideways on a 390 px phone
    assert seen["console_overview"] == [] and seen["console_provider"] == [] and seen["console_phone"] == []
