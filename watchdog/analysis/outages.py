"""Journal → attributed outages: coverage from agent runs, control timelines, ISP line windows.

Everything is computed from the journal on demand, so any reader (the CLI, reports, the status page,
an advocate holding a copy of the journal) gets the same answer from the same rows.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from watchdog.analysis.attribution import (
    LINE_INTERNET,
    ControlInfo,
    Interval,
    LineTimeline,
    attribute,
    build_timeline,
    internet_lost_windows,
    subtract,
    union,
)
from watchdog.config import Config
from watchdog.journal.readers import Run, TargetInfo
from watchdog.journal.schema import EV_STALL
from watchdog.journal.store import Journal
from watchdog.model import NS, AttributedOutage, Outage, ProviderKind, Role, Segment
from watchdog.timefmt import local_iso, utc_iso


@dataclass(frozen=True)
class Analysis:
    """Attributed outages of every provider (and of the controls) over a window."""

    since_ns: int
    until_ns: int
    now_ns: int
    coverage: tuple[Interval, ...]  # when the agent was running
    timeline: LineTimeline
    outages: tuple[AttributedOutage, ...]  # provider targets, ISP line windows, then controls
    targets: Mapping[str, TargetInfo] = field(default_factory=dict)
    # degraded windows (Outage.limit set), attributed on a timeline where a control that is degraded or
    # down counts as not clean: provider targets, ISP line windows, then controls
    degraded: tuple[AttributedOutage, ...] = ()

    def degraded_for_provider(self, provider_id: str) -> list[AttributedOutage]:
        """Degraded windows of one provider's targets (and, for an ISP, the degraded-internet windows)."""
        return [o for o in self.degraded if o.provider == provider_id]

    def for_provider(self, provider_id: str) -> list[AttributedOutage]:
        """Outages of one provider's targets (and, for an ISP, the lost-internet windows)."""
        return [o for o in self.outages if o.provider == provider_id]

    def controls(self) -> list[AttributedOutage]:
        """Outages of the customer's own controls."""
        return [o for o in self.outages if o.role is not Role.PROVIDER]


def run_intervals(runs: Sequence[Run], now_ns: int) -> list[Interval]:
    """When the agent was running (a run still going ends now)."""
    return union((r.start_ns, r.end_ns if r.end_ns is not None else now_ns) for r in runs)


def coverage(
    journal: Journal,
    now_ns: int,
    target_id: int | None = None,
    *,
    runs: Sequence[Run] | None = None,
    stalls: Sequence[Interval] | None = None,
) -> list[Interval]:
    """When the agent ran (and, with ``target_id``, probed that target and could), minus stalls.

    ``runs`` and ``stalls`` may be passed in when already read, to spare the queries.
    """
    if runs is None:
        runs = journal.runs()
    if target_id is not None:
        runs = [r for r in runs if target_id in r.target_ids and target_id not in r.data.get("unusable", ())]
    if stalls is None:
        stalls = stall_intervals(journal)
    return subtract(run_intervals(runs, now_ns), union(stalls))


def stall_intervals(journal: Journal) -> list[Interval]:
    """When the agent was running but stalled (suspended, event loop blocked)."""
    return union((int(e.data["from_ns"]), int(e.data["to_ns"])) for e in journal.events([EV_STALL]))


def analyse(
    journal: Journal,
    *,
    provider_kinds: Mapping[str, ProviderKind],
    quorum: int,
    since_ns: int | None = None,
    until_ns: int | None = None,
    now_ns: int | None = None,
) -> Analysis:
    """Attribute every outage that overlaps [since, until)."""
    now = time.time_ns() if now_ns is None else now_ns
    until = now if until_ns is None else min(until_ns, now)
    infos = journal.targets()
    by_key = {info.key: info for info in infos.values()}
    all_outages = journal.outages()
    runs = journal.runs()
    stalls = stall_intervals(journal)
    since = since_ns
    if since is None:
        starts = [o.start_ns for o in all_outages] + [r.start_ns for r in runs]
        since = min(starts, default=until)

    def overlaps(o: Outage) -> bool:
        end = o.end_ns if o.end_ns is not None else now
        return o.start_ns < until and end > since

    cov = coverage(journal, now, runs=runs, stalls=stalls)
    controls = [
        ControlInfo(info.key, Role(info.role), tuple(coverage(journal, now, info.id, runs=runs, stalls=stalls)))
        for info in infos.values()
        if info.role in (Role.LAN, Role.INTERNET)
    ]
    control_keys = {c.key for c in controls}
    control_outages: dict[str, list[Outage]] = {}
    for o in all_outages:
        if o.target in control_keys:
            control_outages.setdefault(o.target, []).append(o)
    internet = [c for c in controls if c.role is Role.INTERNET]
    isp_windows = internet_lost_windows(
        [o for c in internet for o in control_outages.get(c.key, ())], len(internet), quorum, now
    )
    relevant = [o for o in all_outages if overlaps(o)]
    lo = min([since] + [o.start_ns for o in relevant] + [o.start_ns for o in isp_windows if overlaps(o)])
    timeline = build_timeline((lo, max(until, lo)), cov, controls, control_outages, quorum, now)

    attributed: list[AttributedOutage] = []
    for o in relevant:
        info = by_key.get(o.target)
        if info is None or info.role != Role.PROVIDER.value:
            continue
        kind = provider_kinds.get(info.provider or "", ProviderKind.OTHER)
        attributed.append(attribute(o, info.provider, Role.PROVIDER, kind, timeline, now))
    for provider_id, kind in provider_kinds.items():
        if kind is not ProviderKind.ISP:
            continue
        for w in isp_windows:
            if overlaps(w):
                attributed.append(attribute(w, provider_id, Role.PROVIDER, kind, timeline, now))
    for o in relevant:
        info = by_key.get(o.target)
        if info is not None and info.role != Role.PROVIDER.value:
            attributed.append(attribute(o, None, Role(info.role), ProviderKind.OTHER, timeline, now))
    attributed.sort(key=lambda a: (a.role is not Role.PROVIDER, a.outage.start_ns, a.outage.target))
    degraded = _attribute_degraded(
        journal, by_key, provider_kinds, controls, control_outages, cov, (since, until), quorum, now
    )
    return Analysis(since, until, now, tuple(cov), timeline, tuple(attributed), by_key, degraded)


def _attribute_degraded(
    journal: Journal,
    by_key: Mapping[str, TargetInfo],
    provider_kinds: Mapping[str, ProviderKind],
    controls: Sequence[ControlInfo],
    control_outages: Mapping[str, Sequence[Outage]],
    cov: Sequence[Interval],
    window: Interval,
    quorum: int,
    now: int,
) -> tuple[AttributedOutage, ...]:
    """Degraded windows with the same attribution rules as outages, read on a stricter line timeline.

    A control counts as "down" on that timeline while it is down *or degraded*: a degraded provider while
    every control is clean is the provider's; a degraded LAN (or a lost internet quorum) makes it the
    customer's line; controls that disagree make it inconclusive. For an ISP, stretches where so many
    internet controls were degraded or down that the quorum could not be met are the ISP's degradation.
    """
    windows = journal.degradations()
    if not windows:
        return ()
    since, until = window

    def overlaps(o: Outage) -> bool:
        end = o.end_ns if o.end_ns is not None else now
        return o.start_ns < until and end > since

    control_keys = {c.key for c in controls}
    not_clean: dict[str, list[Outage]] = {k: list(v) for k, v in control_outages.items()}
    for w in windows:
        if w.target in control_keys:
            not_clean.setdefault(w.target, []).append(w)
    internet = [c for c in controls if c.role is Role.INTERNET]
    line = [
        dataclasses.replace(w, limit="line", detail=w.detail.replace("controls down", "controls degraded or down"))
        for w in internet_lost_windows(
            [o for c in internet for o in not_clean.get(c.key, ())], len(internet), quorum, now
        )
    ]
    relevant = [w for w in windows if overlaps(w)]
    lo = min([since] + [w.start_ns for w in relevant] + [w.start_ns for w in line if overlaps(w)])
    timeline = build_timeline((lo, max(until, lo)), cov, controls, not_clean, quorum, now)
    out: list[AttributedOutage] = []
    for w in relevant:
        info = by_key.get(w.target)
        if info is None:
            continue
        if info.role == Role.PROVIDER.value:
            kind = provider_kinds.get(info.provider or "", ProviderKind.OTHER)
            out.append(attribute(w, info.provider, Role.PROVIDER, kind, timeline, now))
        else:
            out.append(attribute(w, None, Role(info.role), ProviderKind.OTHER, timeline, now))
    for provider_id, kind in provider_kinds.items():
        if kind is ProviderKind.ISP:
            out.extend(attribute(w, provider_id, Role.PROVIDER, kind, timeline, now) for w in line if overlaps(w))
    out.sort(key=lambda a: (a.role is not Role.PROVIDER, a.outage.start_ns, a.outage.target))
    return tuple(dataclasses.replace(a, segments=tuple(_clean_words(s) for s in a.segments)) for a in out)


def _clean_words(segment: Segment) -> Segment:
    """On the quality timeline a control is "clean" (neither degraded nor down), not merely "up"."""
    reason = segment.reason.replace(" up,", " clean,").replace(" up (", " clean (")
    reason = reason.replace("LAN control down but internet up", "LAN control degraded or down but internet clean")
    return dataclasses.replace(segment, reason=reason)


def is_line_window(outage: Outage) -> bool:
    """True for the synthetic lost-internet windows (not a journaled outage)."""
    return outage.target == LINE_INTERNET


def outage_json(a: AttributedOutage, config: Config, now_ns: int) -> dict[str, Any]:
    """The stable JSON shape of one attributed outage (documented in the README)."""
    o = a.outage
    zone = config.zone
    end = o.end_ns if o.end_ns is not None else now_ns
    return {
        "id": o.id,
        "provider": a.provider,
        "target": o.target,
        "role": a.role.value,
        "open": o.is_open,
        "start_ns": o.start_ns,
        "start": utc_iso(o.start_ns),
        "start_local": local_iso(o.start_ns, zone),
        "start_bounds_ns": list(o.start_bounds),
        "confirmed_ns": o.confirmed_ns,
        "end_ns": o.end_ns,
        "end": utc_iso(o.end_ns),
        "end_local": local_iso(o.end_ns, zone),
        "end_bounds_ns": None if o.end_bounds is None else list(o.end_bounds),
        "duration_s": round((end - o.start_ns) / NS, 3),
        "failure": o.failure.value if o.failure else None,
        "detail": o.detail,
        **({"limit": o.limit} if o.limit else {}),
        "attribution": a.attribution.value,
        "time_by_attribution_s": {k.value: round(v / NS, 3) for k, v in a.time_by_attribution().items()},
        "segments": [
            {
                "start_ns": s.start_ns,
                "end_ns": s.end_ns,
                "attribution": s.attribution.value,
                "reason": s.reason,
            }
            for s in a.segments
        ],
    }
