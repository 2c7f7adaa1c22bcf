"""Delivery under trouble, with the whole agent running: real TCP services on loopback go down and up,
real Apprise sends json:// to a real aiohttp receiver that the test takes down, slows down and brings back.

What must hold: probing is not disturbed, no notification is lost, each arrives at most twice (a first
try that got through but whose answer came too late), queued ones arrive within seconds of the receiver's
return, and the secret in the notification URL shows up in no log line, no journal byte and no message.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import signal
import sqlite3
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from helpers import Switch
from notify_helpers import Receiver, wait_until

from watchdog.agent.core import Agent
from watchdog.config import loads
from watchdog.journal.store import Journal
from watchdog.outputs import default_sink_factories

ROOT = str(Path(__file__).resolve().parents[2])
CANARY = "CANARY-7f3c9e21b5"


def config_text(
    data_dir: Path, rx: Receiver, provider: Switch, lan: Switch, internet: list[Switch], notify: str
) -> str:
    nets = "\n".join(f'    - {{name: n{i}, kind: tcp, address: "{s.address}"}}' for i, s in enumerate(internet))
    return f"""
agent: {{id: notify-e2e, timezone: Europe/Moscow, data_dir: "{data_dir}"}}
defaults: {{interval: 1s, timeout: 500ms, failure_threshold: 2, success_threshold: 2}}
controls:
  lan:
    - {{name: router, kind: tcp, address: "{lan.address}"}}
  internet:
{nets}
  quorum: 2
providers:
  - id: broker
    name: Broker
    kind: broker
    targets:
      - {{name: trading, kind: tcp, address: "{provider.address}"}}
    sla: {{availability: 99.5, restore_within: 72h}}
    contacts: {{emergency_phone: "+7 495 000-00-00"}}
notify:
  urls: ["{rx.url("hook", user="watchdog", password=CANARY)}"]
  digest_at: null
{notify}
ntp: {{enabled: false}}   # the default names public NTP servers: tests reach only loopback
web: {{enabled: false}}   # no status page on a fixed port
"""


@pytest.fixture
async def net() -> AsyncIterator[tuple[Switch, Switch, list[Switch]]]:
    provider, lan, internet = Switch(), Switch(), [Switch(), Switch(), Switch()]
    for s in (provider, lan, *internet):
        await s.up()
    yield provider, lan, internet
    for s in (provider, lan, *internet):
        await s.down()


def outbox_rows(journal_path: Path) -> list[tuple[str, int, int | None]]:
    conn = sqlite3.connect(f"file:{journal_path}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT key, attempts, delivered_ns FROM notify_outbox ORDER BY id").fetchall()
    finally:
        conn.close()


def all_delivered(journal_path: Path, n: int) -> bool:
    rows = outbox_rows(journal_path)
    return len(rows) >= n and all(delivered is not None for _, _, delivered in rows)


def journal_keys(journal_path: Path) -> list[str]:
    """The keys the notifier must have sent for broker/trading: one opening and one closing per outage."""
    with Journal.open(journal_path, create=False, readonly=True) as j:
        outages = [o for o in j.outages() if o.target == "broker/trading"]
    return [k for o in outages for k in (f"outage-open/{o.id}", f"outage-close/{o.id}") if o.end_ns or "open" in k]


class Running:
    """Run an agent for the length of a ``with`` block and always stop it (a failed test must not hang)."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.task: asyncio.Task[int] | None = None

    async def __aenter__(self) -> Agent:
        self.task = asyncio.create_task(self.agent.run())
        await asyncio.wait_for(self.agent.handle.started.wait(), 10)
        return self.agent

    async def __aexit__(self, *exc: object) -> None:
        self.agent.handle.stop.set()
        assert self.task is not None
        assert await asyncio.wait_for(self.task, 30) == 0


async def outage(provider: Switch, down_s: float, up_s: float) -> None:
    await provider.down()
    await asyncio.sleep(down_s)
    await provider.up()
    await asyncio.sleep(up_s)


@pytest.mark.slow
async def test_receiver_down_then_slow_loses_nothing_and_probing_goes_on(
    tmp_path: Path, net: tuple[Switch, Switch, list[Switch]], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # everything, including Apprise's and urllib3's own debug lines
    provider, lan, internet = net
    rx = Receiver()
    await rx.up()
    notify = "  timeout: 1s\n  patient_timeout: 4s\n  retry_min: 500ms\n  retry_max: 2s\n  flap_window: 1s"
    config = loads(config_text(tmp_path, rx, provider, lan, internet, notify), env={})
    agent = Agent(config, sink_factories=default_sink_factories())
    try:
        async with Running(agent):
            await asyncio.sleep(2.5)
            await outage(provider, 3.2, 3.2)  # receiver up: told at once
            await wait_until(lambda: len(rx.received) >= 2)

            await rx.down()
            await outage(provider, 3.2, 3.2)  # receiver down: queued
            await asyncio.sleep(1.0)
            queued_while_down = {k for k, _, delivered in outbox_rows(config.journal_path) if delivered is None}
            assert len(queued_while_down) == 2

            rx.delay_s = 1.8  # slower than the first try's 1 s timeout, faster than the retries' 4 s
            await rx.up()
            back_at = time.monotonic()
            await outage(provider, 3.2, 2.5)  # receiver slow: its first tries get through but time out
            rx.delay_s = 0.0

            expected = journal_keys(config.journal_path)
            assert len(expected) == 6
            # done when the notifier knows every message was delivered, not when the receiver first saw it
            await wait_until(lambda: all_delivered(config.journal_path, len(expected)), 15)
    finally:
        await rx.down()

    counts = Counter(rx.refs())
    assert set(counts) == set(expected), counts  # nothing lost, nothing invented
    assert max(counts.values()) <= 2, counts  # at most one duplicate per notification
    assert sum(counts.values()) > len(expected)  # the slow phase really produced a late answer
    first_after = {r.ref: r.at_mono - back_at for r in reversed(rx.received) if r.ref in queued_while_down}
    assert set(first_after) == queued_while_down
    assert max(first_after.values()) < 5.0, first_after  # within seconds of the receiver's return
    assert all(delivered is not None for _, _, delivered in outbox_rows(config.journal_path))

    # probing was not disturbed: no missed slot, no probe started late by more than a blink
    for key, stats in agent.handle.stats.items():
        assert stats.missed_slots == 0, key
        assert stats.max_late_s < 0.25, (key, stats.max_late_s)

    # the canary was really used (the receiver saw it) and appears nowhere else
    auth = {base64.b64decode(r.authorization.split()[1]).decode() for r in rx.received}
    assert auth == {f"watchdog:{CANARY}"}
    assert all(CANARY not in r.body and CANARY not in r.title for r in rx.received)
    assert CANARY not in caplog.text
    assert any("json://watchdog:****@" in m for m in caplog.messages)  # what the logs show instead
    assert files_holding(tmp_path, CANARY.encode()) == []  # the journal, its WAL, the lock file


def files_holding(root: Path, needle: bytes) -> list[Path]:
    """Every file under ``root`` whose bytes contain ``needle``."""
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


@pytest.mark.slow
async def test_flapping_target_stays_within_the_folding_rule(
    tmp_path: Path, net: tuple[Switch, Switch, list[Switch]]
) -> None:
    provider, lan, internet = net
    rx = Receiver()
    await rx.up()
    window_s = 5.0
    notify = f"  flap_window: {window_s:g}s\n  retry_min: 500ms\n  retry_max: 1s"
    text = config_text(tmp_path, rx, provider, lan, internet, notify).replace(
        "failure_threshold: 2, success_threshold: 2", "failure_threshold: 1, success_threshold: 1"
    )
    config = loads(text, env={})
    agent = Agent(config, sink_factories=default_sink_factories())
    try:
        async with Running(agent):  # leaving it stops the agent, which tells what the last window folded
            await asyncio.sleep(2.0)
            began = time.monotonic()
            for _ in range(6):
                await outage(provider, 1.3, 1.3)
            flapped_s = time.monotonic() - began
            await asyncio.sleep(1.5)
        await asyncio.sleep(0.5)
    finally:
        await rx.down()

    with Journal.open(config.journal_path, create=False, readonly=True) as j:
        outages = [o for o in j.outages() if o.target == "broker/trading"]
    assert len(outages) >= 5
    refs = rx.refs()
    assert len(refs) == len(set(refs))
    opened = [r for r in refs if r.startswith("outage-open/")]
    closed = [r for r in refs if r.startswith("outage-close/")]
    summaries = [r for r in rx.received if r.ref.startswith("flap/")]
    windows = int(flapped_s // window_s) + 2  # windows that can start while it flaps, plus the last one
    # the rule: per window at most one opening, one closing and one summary
    assert len(opened) <= windows and len(closed) <= windows and len(summaries) <= windows, refs
    assert len(refs) < 2 * len(outages)  # and it did fold
    # and nothing went untold: every outage is either told or counted in a summary
    folded = 0
    for s in summaries:
        first = s.body.splitlines()[0]
        folded += 1 if "once more" in first else int(first.split("went down ")[1].split(" more")[0])
    assert len(opened) + folded == len(outages), (refs, len(outages))


@pytest.mark.slow
async def test_undelivered_notifications_survive_a_kill_and_go_out_after_restart(
    tmp_path: Path, net: tuple[Switch, Switch, list[Switch]]
) -> None:
    provider, lan, internet = net
    rx = Receiver()  # not listening yet: the service is down
    cfg = tmp_path / "watchdog.yaml"
    cfg.write_text(config_text(tmp_path / "data", rx, provider, lan, internet, "  retry_min: 500ms\n  retry_max: 1s"))
    journal_path = tmp_path / "data" / "journal.sqlite3"

    async def start_agent() -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "watchdog",
            "run",
            "-c",
            str(cfg),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": ROOT},
        )

    def queued() -> int:
        try:
            return len(outbox_rows(journal_path))
        except sqlite3.Error:
            return 0

    first = await start_agent()
    await wait_until(lambda: journal_path.exists(), 20)
    await asyncio.sleep(3.0)
    await outage(provider, 3.2, 3.0)
    await wait_until(lambda: queued() == 2, 10)
    first.send_signal(signal.SIGKILL)  # no goodbye: whatever is queued is only in the journal
    await first.wait()
    assert all(delivered is None for _, _, delivered in outbox_rows(journal_path))

    await rx.up()
    second = await start_agent()
    started = time.monotonic()
    await wait_until(lambda: len(rx.received) >= 3, 20)
    took = time.monotonic() - started
    await asyncio.sleep(1.0)
    second.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(second.wait(), 20) == 0
    await rx.down()

    expected = journal_keys(journal_path)
    refs = rx.refs()
    assert sorted(r for r in refs if not r.startswith("restarted/")) == sorted(expected)  # each exactly once
    assert len([r for r in refs if r.startswith("restarted/")]) == 1  # and the unclean stop is told
    assert took < 10.0
    assert [r.body.splitlines()[0].split(" since ")[0] for r in rx.received][:1] == ["Broker `trading` unreachable"]
    assert all(delivered is not None for _, _, delivered in outbox_rows(journal_path))


@pytest.mark.slow
async def test_queued_on_a_dead_line_goes_out_as_soon_as_the_line_returns(
    tmp_path: Path, net: tuple[Switch, Switch, list[Switch]]
) -> None:
    """The customer's line dies (all internet controls and the notification service unreachable); when it
    returns, the queue goes out at once, not after the (here deliberately long) backoff."""
    provider, lan, internet = net
    rx = Receiver()
    await rx.up()
    notify = "  retry_min: 20s\n  retry_max: 60s"
    config = loads(config_text(tmp_path, rx, provider, lan, internet, notify), env={})
    agent = Agent(config, sink_factories=default_sink_factories())
    try:
        async with Running(agent):
            await asyncio.sleep(2.5)
            await rx.down()
            for s in (*internet, provider):
                await s.down()
            await wait_until(lambda: len(outbox_rows(config.journal_path)) >= 2, 10)  # line down, broker down
            await asyncio.sleep(1.0)  # the first tries failed: the channel now waits 20 s or more
            for s in (*internet, provider):
                await s.up()
            await rx.up()
            back_at = time.monotonic()
            everything = {"line-down", "line-up", "outage-open", "outage-close"}
            await wait_until(lambda: everything <= {r.ref.split("/")[0] for r in rx.received}, 10)
            took = time.monotonic() - back_at
    finally:
        await rx.down()
    assert took < 5.0  # far below the 20 s backoff: the line's return woke the queue
    kinds = [r.ref.split("/")[0] for r in rx.received]
    assert {"line-down", "line-up", "outage-open", "outage-close"} == set(kinds), kinds
    (line_down,) = [r for r in rx.received if r.ref.startswith("line-down/")]
    assert line_down.title == "Your internet line is down"
    assert line_down.body.splitlines()[0].endswith("2/3 internet controls fail (quorum 2).")  # told when quorum went
