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
ntp: {{enabled: false}}
"""


# --------------------------------------------------------------------------------- a scripted journal

SCRIPT_CONFIG = """
agent: {{id: home-msk-1, timezone: Europe/Moscow, data_dir: "{data_dir}", language: {language}}}
defaults: {{interval: 60s, timeout: 5s}}
controls:
  lan: [{{name: router, kind: tcp, address: "127.0.0.1:1"}}]
  internet:
    - {{name: a, kind: tcp, address: "127.0.0.1:2"}}
    - {{name: b, kind: tcp, address: "127.0.0.1:3"}}
    - {{name: c, kind: tcp, address: "127.0.0.1:4"}}
  quorum: 2
providers:
  - id: broker
    name: "ИТ Инвест"
    kind: broker
    targets: [{{name: trading, kind: tcp, address: "127.0.0.1:5"}}]
    sla: {{availability: 99.5, period: month, restore_within: 72h}}
  - id: bank
    name: Example Bank
    kind: bank
    targets: [{{name: online, kind: http, address: "https://user:hunter2@bank.example/login"}}]
    sla: {{availability: 99.9}}
web:
  listen: "127.0.0.1:8080"
  hosts: [watchdog.home.lan]
{extra}"""


def script_config(data_dir: Path, *, language: str = "en", extra: str = "") -> Any:
    """The scripted journal's config (a broker, a bank, a LAN control, three internet controls)."""
    from watchdog.config import loads

    return loads(SCRIPT_CONFIG.format(data_dir=data_dir, language=language, extra=extra), env={})


def write_script(config: Any, origin_ns: int) -> int:
    """One hour of results every 60 s from ``origin_ns``, two broker outages; returns the ``now`` to use.

    * every target answers every 60 s at t = 0, 60, …, 3540 (latency 10 ms; the bank 20 ms);
    * broker/trading fails t = 1200…1740 (outage 1200 → 1800, closed) and from t = 3000 on (open);
    * a contact-log entry for the broker at t = 1500;
    * now = t + 3630 s: the open outage has lasted 630 s.
    """
    from watchdog.journal.schema import EV_AGENT_START
    from watchdog.journal.store import Journal
    from watchdog.model import NS, FailureKind, Result

    j = Journal.open(config.journal_path)
    j.register_targets(config.targets, now_ns=origin_ns)
    ids = sorted(j.target_id(t.key) for t in config.targets)
    j.add_event(EV_AGENT_START, {"run": "run1", "targets": ids}, ts_ns=origin_ns)

    def ns(seconds: float) -> int:
        return origin_ns + int(seconds * NS)

    def failing(t: int) -> bool:
        return 1200 <= t < 1800 or t >= 3000

    for t in range(0, 3600, 60):
        rows = []
        for target in config.targets:
            if target.key == "broker/trading" and failing(t):
                rows.append(
                    Result(target.key, ns(t), False, 0.0002, FailureKind.CONNECT, "connect 127.0.0.1:5: refused")
                )
            else:
                rows.append(Result(target.key, ns(t), True, 0.02 if target.key == "bank/online" else 0.01))
        j.append(rows)
    opened = j.add_event(
        "outage_open",
        {
            "start_ns": ns(1200),
            "last_ok_ns": ns(1140),
            "confirmed_ns": ns(1320),
            "failure": "connect",
            "detail": "connect 127.0.0.1:5: refused",
        },
        target="broker/trading",
        ts_ns=ns(1320),
    )
    j.add_event(
        "outage_close",
        {"end_ns": ns(1800), "last_fail_ns": ns(1740)},
        target="broker/trading",
        ref=opened,
        ts_ns=ns(1860),
    )
    j.add_event(
        "contact",
        {"provider": "broker", "channel": "phone", "ref": "T-4711", "note": "support says it is my router"},
        ts_ns=ns(1500),
    )
    j.add_event(
        "outage_open",
        {
            "start_ns": ns(3000),
            "last_ok_ns": ns(2940),
            "confirmed_ns": ns(3120),
            "failure": "connect",
            "detail": "connect 127.0.0.1:5: refused",
        },
        target="broker/trading",
        ts_ns=ns(3120),
    )
    j.seal(now_ns=ns(3600))
    j.close()
    return ns(3630)
