"""``/metrics`` in the Prometheus text format, for users who scrape instead of using InfluxDB.

Each app has its own ``CollectorRegistry`` (no global state). The handler gathers the current state and
the cached history first (async), then renders a registry whose collector yields exactly that data.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from watchdog.analysis.balance import project
from watchdog.config import Config
from watchdog.model import NS
from watchdog.timefmt import to_datetime
from watchdog.web.data import STATES, History, Now, line_state

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _Snapshot(Collector):
    """Yields the metrics of one (now, history) pair."""

    def __init__(self, config: Config, now: Now, history: History) -> None:
        self.config = config
        self.now = now
        self.history = history

    def collect(self) -> Iterator[Metric]:
        """The metric families (names carry their units)."""
        now, config = self.now, self.config
        labels = ["agent", "provider", "target", "role"]
        up = GaugeMetricFamily(
            "watchdog_target_up", "1 when the target's state is up, 0 when down or failing", labels=labels
        )
        state = GaugeMetricFamily(
            "watchdog_target_state", "1 for the target's current state", labels=[*labels, "state"]
        )
        latency = GaugeMetricFamily(
            "watchdog_target_latency_seconds", "latency of the target's last successful probe", labels=labels
        )
        last = GaugeMetricFamily(
            "watchdog_target_last_probe_timestamp_seconds", "when the target was last probed (UTC)", labels=labels
        )
        down_since = GaugeMetricFamily(
            "watchdog_target_outage_start_timestamp_seconds", "start of the target's open outage (UTC)", labels=labels
        )
        agent = config.agent.id
        for t in now.targets:
            values = [agent, t.target.provider or "", t.target.key, t.target.role.value]
            for s in STATES:
                state.add_metric([*values, s], 1.0 if t.state == s else 0.0)
            if t.state in ("up", "down", "failing"):
                up.add_metric(values, 1.0 if t.state == "up" else 0.0)
            if t.last is not None:
                last.add_metric(values, t.last.ts_ns / NS)
                if t.last.ok and t.last.latency_s is not None:
                    latency.add_metric(values, t.last.latency_s)
            if t.outage is not None:
                down_since.add_metric(values, t.outage.start_ns / NS)
        yield from (up, state, latency, last, down_since)

        line = GaugeMetricFamily("watchdog_line_controls_up", "controls answering now", labels=["agent", "role"])
        line.add_metric([agent, "lan"], now.line.lan_up)
        line.add_metric([agent, "internet"], now.line.internet_up)
        yield line
        total = GaugeMetricFamily("watchdog_line_controls", "controls configured", labels=["agent", "role"])
        total.add_metric([agent, "lan"], now.line.lan_total)
        total.add_metric([agent, "internet"], now.line.internet_total)
        yield total
        yield GaugeMetricFamily(
            "watchdog_line_quorum", "internet controls needed to call the line working", value=now.line.quorum
        )
        ok = GaugeMetricFamily(
            "watchdog_line_ok", "1 when the LAN is up and the internet quorum is met", labels=["agent"]
        )
        ok.add_metric([agent], 1.0 if line_state(now) == "ok" else 0.0)
        yield ok

        plabels = ["agent", "provider", "period"]
        avail = GaugeMetricFamily(
            "watchdog_provider_availability_ratio", "availability over counted time so far this period", labels=plabels
        )
        target = GaugeMetricFamily(
            "watchdog_provider_sla_target_ratio", "the SLA's availability promise", labels=plabels
        )
        downtime = GaugeMetricFamily(
            "watchdog_provider_downtime_seconds", "counted provider downtime so far this period", labels=plabels
        )
        counted = GaugeMetricFamily(
            "watchdog_provider_counted_seconds", "counted time so far this period", labels=plabels
        )
        coverage = GaugeMetricFamily(
            "watchdog_provider_coverage_ratio", "share of the period so far with data", labels=plabels
        )
        breached = GaugeMetricFamily(
            "watchdog_provider_sla_breached", "1 when availability is below the SLA", labels=plabels
        )
        open_outages = GaugeMetricFamily(
            "watchdog_provider_open_outages", "outages of the provider's targets open now", labels=["agent", "provider"]
        )
        for p in config.providers:
            f = self.history.figures[p.id]
            values = [agent, p.id, f.period.label]
            if f.availability is not None:
                avail.add_metric(values, f.availability / 100.0)
            if f.target is not None:
                target.add_metric(values, f.target / 100.0)
            if f.breached is not None:
                breached.add_metric(values, 1.0 if f.breached else 0.0)
            downtime.add_metric(values, f.downtime_s)
            counted.add_metric(values, f.counted_s)
            coverage.add_metric(values, f.coverage)
            open_outages.add_metric([agent, p.id], sum(1 for t in now.provider_targets(p.id) if t.outage is not None))
        yield from (avail, target, downtime, counted, coverage, breached, open_outages)

        yield from self._accounts(agent)
        yield from self._upkeep(agent)

        running = GaugeMetricFamily(
            "watchdog_agent_running", "1 while the agent runs (live, or per the journal)", labels=["agent", "mode"]
        )
        running.add_metric([agent, now.mode], 1.0 if now.agent_running else 0.0)
        yield running
        if now.mode == "live":
            yield GaugeMetricFamily(
                "watchdog_journal_writable", "1 while the journal accepts rows", value=0.0 if now.journal_error else 1.0
            )

    def _accounts(self, agent: str) -> Iterator[Metric]:
        """Prepaid balances (the latest reading, and with a tariff the days it lasts) and account expiry."""
        config, now, upkeep = self.config, self.now, self.history.upkeep
        amount = GaugeMetricFamily(
            "watchdog_balance_amount",
            "the provider account's latest balance reading, in the currency of the label",
            labels=["agent", "provider", "currency"],
        )
        read_at = GaugeMetricFamily(
            "watchdog_balance_reading_timestamp_seconds",
            "when the latest balance reading was true (UTC)",
            labels=["agent", "provider"],
        )
        days_left = GaugeMetricFamily(
            "watchdog_balance_days_left",
            "whole days from today (provider's zone) to the day the balance runs out at the account's tariff;"
            " 0 or less: run out",
            labels=["agent", "provider"],
        )
        expiry = GaugeMetricFamily(
            "watchdog_account_expiry_days_left",
            "days until something on the account ends (account.expiry_from: a card, a paid period), as last read",
            labels=["agent", "provider"],
        )
        last = {t.target.key: t.last for t in now.targets}
        for p in config.providers:
            b = None if upkeep is None else upkeep.balances.get(p.id)
            account = p.account
            if b is not None:
                amount.add_metric([agent, p.id, b.currency], float(b.amount))
                read_at.add_metric([agent, p.id], b.at_ns / NS)
                if account is not None and account.tariff is not None:
                    zone = config.provider_zone(p.id)
                    left = project(b, account, zone).days_left(to_datetime(now.now_ns, zone).date())
                    days_left.add_metric([agent, p.id], float(left))
            if account is not None and account.expiry_from is not None:
                name, metric = account.expiry_from.split(":", 1)
                result = last.get(f"{p.id}/{name}")
                value = None if result is None else result.metrics.get(metric)
                if value is not None:
                    expiry.add_metric([agent, p.id], float(value))
        yield from (amount, read_at, days_left, expiry)

    def _upkeep(self, agent: str) -> Iterator[Metric]:
        """Trusted timestamps per TSA (by its name: never its URL) and the newest backup."""
        upkeep, now_ns = self.history.upkeep, self.now.now_ns
        token = GaugeMetricFamily(
            "watchdog_tsa_last_token_timestamp_seconds",
            "time in the TSA's newest token that verifies: the journal's rows up to its head existed no later (UTC)",
            labels=["agent", "tsa"],
        )
        queued = GaugeMetricFamily(
            "watchdog_tsa_queued_heads", "chain heads waiting to be sent to the TSA", labels=["agent", "tsa"]
        )
        failed = GaugeMetricFamily(
            "watchdog_tsa_failed_requests",
            "failed requests (no token, or one that did not verify) for the heads queued now; 0 once a token arrives",
            labels=["agent", "tsa"],
        )
        bad = GaugeMetricFamily(
            "watchdog_tsa_bad_tokens",
            "journaled tokens from the TSA that do not verify (watchdog verify --journal names them)",
            labels=["agent", "tsa"],
        )
        for s in () if upkeep is None else upkeep.stamps:
            if s.gen_time_ns is not None:
                token.add_metric([agent, s.tsa], s.gen_time_ns / NS)
            queued.add_metric([agent, s.tsa], float(s.queued))
            failed.add_metric([agent, s.tsa], float(s.attempts))
            bad.add_metric([agent, s.tsa], float(s.bad_tokens))
        yield from (token, queued, failed, bad)
        backup = None if upkeep is None else upkeep.backup
        if backup is None or backup.at_ns is None:  # no backup.dest, or no backup in it yet
            return
        at = GaugeMetricFamily(
            "watchdog_backup_last_timestamp_seconds",
            "modification time of the newest backup in backup.dest (UTC)",
            labels=["agent"],
        )
        at.add_metric([agent], backup.at_ns / NS)
        age = GaugeMetricFamily(
            "watchdog_backup_age_seconds", "how old the newest backup in backup.dest is", labels=["agent"]
        )
        age.add_metric([agent], max(0, now_ns - backup.at_ns) / NS)
        size = GaugeMetricFamily("watchdog_backup_size_bytes", "size of the newest backup", labels=["agent"])
        size.add_metric([agent], float(backup.bytes or 0))
        yield from (at, age, size)


def render(config: Config, now: Now, history: History) -> bytes:
    """The exposition text for one snapshot, through a registry that lives only for this scrape."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(config, now, history))
    return generate_latest(registry)
