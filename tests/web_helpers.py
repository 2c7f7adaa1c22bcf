"""Helpers for the status page tests: a free loopback port, configs, and headless Chromium via selenium."""

from __future__ import annotations

import contextlib
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
TOKEN = "canary-token-5f1d2c3b4a"  # also a canary: it must never appear in a response body


def free_port() -> int:
    """A port nobody listens on right now (on 127.0.0.1)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def have_browser() -> bool:
    """True when Debian's chromium and chromedriver are installed."""
    return Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()


@contextlib.contextmanager
def chromium(width: int, height: int, *, mobile: bool = False) -> Iterator[Any]:
    """Headless Chromium with the flags a closed network needs, a fresh profile, and the console log kept."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="owd-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--no-first-run",
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        f"--window-size={width},{height}",
    ):
        options.add_argument(flag)
    if mobile:
        options.add_experimental_option(
            "mobileEmulation", {"deviceMetrics": {"width": width, "height": height, "pixelRatio": 2.0}}
        )
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def full_screenshot(driver: Any, path: Path) -> Path:
    """Save a screenshot of the whole page, beyond the viewport (Chromium's DevTools protocol)."""
    import base64

    path.parent.mkdir(parents=True, exist_ok=True)
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 8000), "scale": 1},
        },
    )
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


def agent_config(data_dir: Path, port: int, addresses: dict[str, str], *, language: str = "en") -> str:
    """Two providers (a broker and a bank), a LAN control and three internet controls, all tcp on loopback."""
    return f"""
agent: {{id: home-test, timezone: Europe/Moscow, data_dir: "{data_dir}", language: {language}}}
defaults: {{interval: 1s, timeout: 500ms, failure_threshold: 3, success_threshold: 2}}
controls:
  lan: [{{name: router, kind: tcp, address: "{addresses["router"]}"}}]
  internet:
    - {{name: anchor-a, kind: tcp, address: "{addresses["a"]}"}}
    - {{name: anchor-b, kind: tcp, address: "{addresses["b"]}"}}
    - {{name: anchor-c, kind: tcp, address: "{addresses["c"]}"}}
  quorum: 2
providers:
  - id: broker
    name: "ИТ Инвест"
    kind: broker
    targets: [{{name: trading, kind: tcp, address: "{addresses["trading"]}"}}]
    sla: {{availability: 99.5, period: month, restore_within: 72h}}
  - id: bank
    name: "Example Bank"
    kind: bank
    targets: [{{name: online, kind: tcp, address: "{addresses["online"]}"}}]
    sla: {{availability: 99.9}}
web: {{listen: "127.0.0.1:{port}", refresh: 5s}}
"""
