"""Scripted journals for degraded-service reports: results fed through the real Detector and QualityTracker.

Each round is a :class:`Result` at a fixed interval; outage and degraded events are what the agent's own
trackers make of them, written with the real Journal API, so figures and raw rows agree as after a run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from watchdog.agent.detector import Closed, Detector, Opened
from watchdog.agent.quality import DegradedOpened, QualityTracker, closed_data, opened_data
from watchdog.config import Config
from watchdog.journal.schema import (
    EV_AGENT_START,
    EV_AGENT_STOP,
    EV_DEGRADED_CLOSE,
    EV_DEGRADED_OPEN,
    EV_OUTAGE_CLOSE,
    EV_OUTAGE_OPEN,
)
from watchdog.journal.store import Journal, PendingEvent, Ticket
from watchdog.model import NS, Result, Target

RoundFn = Callable[[Target, int], Result]


def write(config: Config, start_ns: int, end_ns: int, interval_s: int, round_of: RoundFn, *, stop: bool = True) -> None:
    """One agent run from ``start_ns`` to ``end_ns``; target k probes at start + (k+1) s + n * interval.

    ``stop=False`` leaves the run open (the agent still running at ``end_ns``)."""
    journal = Journal.open(config.journal_path)
    ids = journal.register_targets(config.targets, now_ns=start_ns - NS)
    detectors = {t.key: Detector(t) for t in config.targets}
    trackers = {t.key: QualityTracker(t) for t in config.targets}
    rows: list[tuple[int, int, Any]] = []
    data = {"run": "r1", "version": "0.1.0", "host": "pi", "agent": config.agent.id, "timezone": "UTC"}
    data |= {"config_sha256": config.sha256, "targets": sorted(ids.values()), "quorum": config.quorum}
    rows.append((start_ns, 0, PendingEvent(EV_AGENT_START, start_ns, data)))
    if stop:
        rows.append((end_ns, 9, PendingEvent(EV_AGENT_STOP, end_ns, {"run": "r1", "reason": "stopped"})))
    for k, target in enumerate(config.targets):
        t = start_ns + (k + 1) * NS
        while t < end_ns:
            rows.append((t, 1, round_of(target, t)))
            t += interval_s * NS
    rows.sort(key=lambda x: (x[0], x[1]))
    items: list[tuple[Result | PendingEvent, Ticket]] = []
    outage_tickets: dict[str, Ticket] = {}
    degraded_tickets: dict[tuple[str, str], Ticket] = {}
    for _, _, item in rows:
        items.append((item, Ticket()))
        if not isinstance(item, Result):
            continue
        change = detectors[item.target].observe(item)
        if isinstance(change, Opened):
            ticket = outage_tickets[item.target] = Ticket()
            open_data = {"start_ns": change.start_ns, "last_ok_ns": change.last_ok_ns}
            open_data |= {"confirmed_ns": change.confirmed_ns, "failure": change.failure, "detail": change.detail}
            items.append((PendingEvent(EV_OUTAGE_OPEN, item.ts_ns, open_data, item.target), ticket))
            detectors[item.target].bind(change, -1)
        elif isinstance(change, Closed):
            o = change.outage
            close = {"end_ns": o.end_ns, "last_fail_ns": o.end_bounds[0] if o.end_bounds else None}
            ref = outage_tickets.pop(item.target)
            items.append((PendingEvent(EV_OUTAGE_CLOSE, item.ts_ns, close, item.target, ref), Ticket()))
        for q in trackers[item.target].observe(item):
            if isinstance(q, DegradedOpened):
                ticket = degraded_tickets[(item.target, q.limit)] = Ticket()
                items.append((PendingEvent(EV_DEGRADED_OPEN, item.ts_ns, opened_data(q), item.target), ticket))
                trackers[item.target].limits[q.limit].bind(q, -1)
            else:
                ref = degraded_tickets.pop((item.target, q.window.limit))
                event = PendingEvent(EV_DEGRADED_CLOSE, item.ts_ns, closed_data(q), item.target, ref)
                items.append((event, Ticket()))
    for i in range(0, len(items), 5000):
        chunk = items[i : i + 5000]
        journal.append([x for x, _ in chunk], [t for _, t in chunk])
    journal.seal(now_ns=end_ns, max_rows=5000)
    journal.close()
