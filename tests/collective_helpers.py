"""Scripted households for the collective tests: journals written in time order through the real Journal API.

Each household is one agent with a provider target ``isp/dns``, a LAN control and two internet controls
(quorum 1), whose runs and outages are given in seconds after an origin. Events go in in time order and
every row is sealed into its own block, so evidence packs of a later day need a real prologue.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from helpers import ScriptedJournal

from watchdog.config import Config, loads
from watchdog.journal.schema import EV_AGENT_START, EV_AGENT_STOP, EV_OUTAGE_CLOSE, EV_OUTAGE_OPEN
from watchdog.model import NS, Result
from watchdog.timefmt import to_ns

# 2026-09-21 23:00 UTC: the scripted two hours cross midnight, so day packs need a prologue
ORIGIN = to_ns(dt.datetime(2026, 9, 21, 23, 0, tzinfo=dt.UTC))
STEP_S = 10  # probe interval: an outage's last success is 10 s before its start, its last failure 10 s before its end

CONFIG = """
agent: {{id: {agent}, timezone: UTC, data_dir: "{data_dir}", tags: {tags}{share}}}
defaults: {{interval: 10s, timeout: 5s}}
controls:
  lan: [{{name: router, kind: tcp, address: "127.0.0.1:9"}}]
  internet:
    - {{name: a, kind: tcp, address: "127.0.0.1:9"}}
    - {{name: b, kind: tcp, address: "127.0.0.1:9"}}
  quorum: 1
providers:
  - id: isp
    name: "Провайдер"
    kind: isp
    targets: [{{name: dns, kind: tcp, address: "127.0.0.1:9"}}]
    contract: {{number: "Д-777", customer: "Петров Пётр", customer_address: "ул. Ленина, 1"}}
  - id: bank
    kind: bank
    targets: [{{name: web, kind: tcp, address: "127.0.0.1:9"}}]
ntp: {{enabled: false}}
"""


@dataclass
class Household:
    """One scripted agent: runs as (start_s, end_s) and outages as (target key, start_s, end_s)."""

    agent: str
    runs: list[tuple[float, float]]
    outages: list[tuple[str, float, float]] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    share: str = ""  # the agent.share block, e.g. "{providers: {isp: rostelecom}}"

    def config_text(self, data_dir: Path) -> str:
        """This household's config."""
        tags = "{" + ", ".join(f"{k}: {v}" for k, v in self.tags.items()) + "}"
        share = f", share: {self.share}" if self.share else ""
        return CONFIG.format(agent=self.agent, data_dir=data_dir, tags=tags, share=share)

    def write(self, base: Path) -> tuple[Config, str]:
        """Write the journal under ``base/<agent>``; return the config and its text."""
        data_dir = base / self.agent
        text = self.config_text(data_dir)
        config = loads(text)
        sj = ScriptedJournal(config.journal_path, list(config.targets), origin_ns=ORIGIN)
        ids = sorted(sj.ids.values())
        start = {
            "providers": {"isp": {"name": "Провайдер", "kind": "isp"}, "bank": {"name": "bank", "kind": "bank"}},
            "quorum": 1,
            "agent": self.agent,
            "targets": ids,
            "config_sha256": config.sha256,  # as the agent journals them: the config it started with
            "pack_config_sha256": config.pack_sha256,
        }
        actions: list[tuple[float, int, str, dict[str, object], str | None, str | None]] = []
        for n, (a, b) in enumerate(self.runs, 1):
            actions.append((a, 0, EV_AGENT_START, {**start, "run": f"run{n}"}, None, None))
            actions.append((b, 2, EV_AGENT_STOP, {"run": f"run{n}", "reason": "stopped"}, None, None))
        for n, (key, a, b) in enumerate(self.outages):
            handle = f"o{n}"
            opened = {
                "start_ns": sj.ns(a),
                "last_ok_ns": sj.ns(a - STEP_S),
                "confirmed_ns": sj.ns(a + 2 * STEP_S),
                "failure": "connect",
                "detail": "connect refused",
            }
            actions.append((a, 1, EV_OUTAGE_OPEN, opened, key, handle))
            closed = {"end_ns": sj.ns(b), "last_fail_ns": sj.ns(b - STEP_S)}
            actions.append((b, 1, EV_OUTAGE_CLOSE, closed, key, handle))
        # a successful probe of every target every 600 s while it is up (the packs' latency chart needs some)
        for a, b in self.runs:
            for t in range(int(a) + 5, int(b), 600):
                for target in config.targets:
                    if not any(key == target.key and s <= t < e for key, s, e in self.outages):
                        actions.append((t, 3, "result", {}, target.key, None))
        seqs: dict[str, int] = {}
        for at, _, type_, data, key, handle in sorted(actions, key=lambda x: (x[0], x[1])):
            if type_ == "result" and key is not None:
                sj.journal.append([Result(key, sj.ns(at), True, 0.002)])
                continue
            ref = seqs[handle] if type_ == EV_OUTAGE_CLOSE and handle else None
            seq = sj.journal.add_event(type_, data, target=key, ref=ref, ts_ns=sj.ns(at))
            if type_ == EV_OUTAGE_OPEN and handle:
                seqs[handle] = seq
        sj.journal.seal(now_ns=ORIGIN + 3 * 3600 * NS, max_rows=1)
        sj.close()
        return config, text


def households() -> list[Household]:
    """Five households of one ISP (see test_collective_golden for what each one saw)."""
    down = "isp/dns"
    lan, net_a, net_b = "lan/router", "internet/a", "internet/b"
    return [
        Household("hh-a", [(0, 7200)], [(down, 1000, 4000)], {"region": "msk"}),
        Household("hh-b", [(0, 7200)], [(down, 1200, 3800)], {"region": "msk"}),
        # the ISP's line dropped (both anchors down, router up): the ISP's own outage, not its DNS
        Household("hh-c", [(0, 7200)], [(net_a, 1500, 3500), (net_b, 1500, 3500)], {"region": "spb"}),
        # stopped for 1000 s in the middle: no data then
        Household("hh-d", [(0, 2000), (3000, 7200)], [(down, 1100, 1900), (down, 3100, 3600)], {"region": "msk"}),
        # the household's own router failed for a while during the ISP's outage
        Household(
            "hh-e",
            [(0, 7200)],
            [(down, 1000, 4000), (lan, 1100, 2500), (net_a, 1100, 2500), (net_b, 1100, 2500)],
            {"region": "msk"},
            "{providers: {isp: rostelecom}}",
        ),
    ]
