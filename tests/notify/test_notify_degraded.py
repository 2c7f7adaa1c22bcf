"""Degraded-service notifications with the whole agent running: a real slow aiohttp service, a real Apprise
json:// receiver. The first degraded window is told at once with its figures, its end is told, and the
windows that follow inside ``notify.flap_window`` are folded into one summary (the outage folding rule).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from helpers import Switch
from notify_helpers import Receiver
from slow_http import SlowServer

from watchdog.agent.core import Agent
from watchdog.config import loads
from watchdog.journal.store import Journal
from watchdog.outputs import default_sink_factories


@pytest.mark.slow
async def test_degraded_windows_are_told_and_flaps_folded(tmp_path: Path) -> None:
    provider, rx = SlowServer(), Receiver()
    controls = [Switch() for _ in range(3)]
    await provider.start()
    await rx.up()
    for s in controls:
        await s.up()
    nets = "\n".join(f'    - {{name: n{i}, kind: tcp, address: "{s.address}"}}' for i, s in enumerate(controls))
    config = loads(
        f"""
agent: {{id: q, timezone: UTC, data_dir: "{tmp_path}"}}
defaults: {{interval: 1s, timeout: 900ms}}
controls:
  internet:
{nets}
  quorum: 2
providers:
  - id: broker
    name: Broker
    kind: broker
    targets:
      - name: gateway
        kind: http
        address: "{provider.url}"
        quality: {{latency_max: 150ms, open: 1 of 1, close: 1}}
notify:
  urls: ["{rx.url("hook")}"]
  digest_at: null
  flap_window: 30s
  retry_min: 500ms
  retry_max: 1s
ntp: {{enabled: false}}
web: {{enabled: false}}
""",
        env={},
    )
    agent = Agent(config, sink_factories=default_sink_factories())
    task = asyncio.create_task(agent.run())
    try:
        await asyncio.wait_for(agent.handle.started.wait(), 10)
        await asyncio.sleep(2.2)
        for _ in range(3):
            provider.slow(0.3)
            await asyncio.sleep(2.0)
            provider.slow(0.0)
            await asyncio.sleep(2.0)
        await asyncio.sleep(1.0)
        agent.handle.stop.set()  # stopping tells what the last window folded
        assert await asyncio.wait_for(task, 30) == 0
        await asyncio.sleep(0.5)
    finally:
        await rx.down()
        await provider.stop()
        for s in controls:
            await s.down()

    with Journal.open(config.journal_path, create=False, readonly=True) as j:
        windows = j.degradations(["broker/gateway"])
    assert len(windows) == 3 and all(w.end_ns is not None for w in windows)
    first = windows[0]
    refs = rx.refs()
    assert refs[:2] == [f"degraded-open/{first.id}", f"degraded-close/{first.id}"], refs
    opened = next(r for r in rx.received if r.ref.startswith("degraded-open/"))
    assert opened.title == "Broker: `gateway` degraded (latency)"
    lines = opened.body.splitlines()
    assert lines[0].startswith("Broker `gateway` answers, but worse than its limit since ")
    assert lines[0].endswith(" ms over 150 ms.") and " latency 30" in lines[0], lines[0]
    assert lines[1] == "Your line is clean (LAN 0/0, internet 3/3): this is Broker's."
    (summary,) = [r for r in rx.received if r.ref.startswith("degraded-flap/")]
    assert summary.title == "Broker: `gateway` degraded on and off (latency)"
    assert " 2 more times between " in summary.body and "Now: within limits." in summary.body
    assert len(refs) == 3  # nothing else was said: no outage, the two folded windows went into the summary
