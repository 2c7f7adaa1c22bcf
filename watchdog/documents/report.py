"""SLA reports: journal data → one Report value → stable JSON → text table or HTML (Jinja2 templates).

Everything a report shows comes from :func:`report_json`, so the text, the HTML, the evidence pack's
summary and ``--json`` can never disagree. Reports read outages, runs and events only — never the raw
results — so a year-long report costs the same as a day's. Times people read are in the provider's
zone with its UTC offset, and in UTC; the JSON carries UTC nanoseconds plus both ISO forms.

The text, HTML and method come in English and Russian (``lang``), the way complaint letters do: each
language has its templates (``report.txt.j2`` / ``report.ru.txt.j2``, ...), a word table
``watchdog/documents/locale/report.<lang>.yaml`` given to them as ``t`` (attribution, failure kinds, roles,
reasons), and for Russian the letters' :class:`watchdog.documents.letter.Formatter` for dates, numbers and
durations ("02.11.2026 10:00:05 MSK (UTC+03:00)", "98,9691 %", "2 суток 0 ч 30 мин"). The JSON has
no language.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from importlib import resources
from typing import Any, Literal
from zoneinfo import ZoneInfo

import jinja2
import yaml
from babel.numbers import format_decimal

from watchdog.analysis.attribution import Interval, intersect, subtract, union
from watchdog.analysis.clock import ClockSummary, summarize
from watchdog.analysis.outages import Analysis, analyse, run_intervals
from watchdog.analysis.quality import HourQuality, SpeedSummary, measured_over, quality_by_hour, speed_summary
from watchdog.analysis.restore import first_promise, log_since
from watchdog.analysis.sla import Incident, Period, SlaFigures, compute, parse_period, window_interval
from watchdog.config import Config, ProviderSection
from watchdog.documents.words import Formatter, load_words
from watchdog.journal.contacts import Contact, list_contacts
from watchdog.journal.readers import Head, TargetInfo
from watchdog.journal.schema import (
    EV_AGENT_START,
    EV_CERT_EXPIRING,
    EV_CLOCK_SAMPLE,
    EV_CLOCK_STEP,
    EV_JOURNAL_SET_ASIDE,
    EV_STALL,
    EV_STORAGE_WAIT,
    EV_TRACEROUTE,
)
from watchdog.journal.store import Journal
from watchdog.journal.tsa import StampCheck, newest_stamp
from watchdog.model import NS, AttributedOutage, QualityRule, Role
from watchdog.safetext import CompiledTemplates, html_autoescape
from watchdog.timefmt import duration_text, local_iso, local_text, to_datetime, utc_iso

REPORT_FORMAT = "outage-watchdog-report/1"
Lang = Literal["en", "ru"]
LANGUAGES: tuple[Lang, ...] = ("en", "ru")


@dataclass(frozen=True, slots=True)
class NoData:
    """A stretch of the period without data, and why."""

    start_ns: int
    end_ns: int
    # "not running" | "stalled" | "waiting for disk space" (started, but the disk was full) |
    # "before this journal" (a damaged journal was set aside: its file holds that time, this one cannot say)
    reason: str


@dataclass(frozen=True, slots=True)
class CertWarning:
    """A target's certificate seen near its end in the period: a warning, never downtime."""

    target: str
    address: str
    not_after_ns: int
    days_left: float  # at the last probe that saw it
    first_ns: int
    last_ns: int


@dataclass(frozen=True)
class Report:
    """Everything one provider's report for one period states."""

    config: Config
    provider: ProviderSection
    zone: ZoneInfo
    period: Period
    as_of_ns: int
    figures: SlaFigures
    analysis: Analysis
    outages: tuple[AttributedOutage, ...]
    control_outages: tuple[AttributedOutage, ...]
    no_data: tuple[NoData, ...]
    clock: ClockSummary
    contacts: tuple[Contact, ...]
    targets: tuple[TargetInfo, ...]
    controls: tuple[TargetInfo, ...]
    agents: tuple[dict[str, Any], ...]  # agent_start data of the runs inside the period
    journal_id: str
    head: Head | None
    cert_warnings: tuple[CertWarning, ...] = ()
    quality_hours: tuple[HourQuality, ...] = ()  # by local hour of day (provider targets with quality limits)
    speed: SpeedSummary | None = None  # the provider's speed tests (None: it has no speed target)
    stamp: StampCheck | None = None  # the newest RFC 3161 token that verifies (issue 17)
    paths: dict[int, dict[str, Any]] = field(default_factory=dict)  # outage id → traceroute at its opening
    degraded_measured: dict[int, float | None] = field(default_factory=dict)  # window id → value over the window
    # journal_set_aside after the period's start: this journal began there, the one before was damaged and kept
    set_aside: tuple[tuple[int, dict[str, Any]], ...] = ()
    # a pack shared with an advocate leaves the contact log out: deadlines then run from the starts, and say why
    contacts_withheld: bool = False

    @property
    def complete(self) -> bool:
        """True once the period has ended."""
        return self.as_of_ns >= self.period.end_ns


def _overlaps(a: AttributedOutage, lo: int, hi: int, now_ns: int) -> bool:
    end = a.outage.end_ns if a.outage.end_ns is not None else now_ns
    return a.outage.start_ns < hi and end > lo


def build_report(
    journal: Journal,
    config: Config,
    provider_id: str,
    period: str | Period,
    now_ns: int | None = None,
    *,
    with_contacts: bool = True,
) -> Report:
    """The report of one provider over one period; ``now_ns`` fixes "as of" (default: the period's end or now).

    The contact log of the period (from the start of an incident that began before it) is listed, and each
    incident's restore deadline runs from the first fault report in it, as in the letters and the notifier;
    ``with_contacts=False`` (a pack shared with an advocate) leaves the log out, and the deadlines then run from
    the incidents' starts.
    """
    provider = config.provider(provider_id)
    zone = config.provider_zone(provider_id)
    per = parse_period(period, zone) if isinstance(period, str) else period
    now = time.time_ns() if now_ns is None else now_ns
    as_of = min(now, per.end_ns)
    if as_of <= per.start_ns:
        raise ValueError(f"the period {per.label} has not started yet")
    analysis = analyse(
        journal,
        provider_kinds={p.id: p.kind for p in config.providers},
        quorum=config.quorum,
        since_ns=per.start_ns,
        until_ns=per.end_ns,
        now_ns=as_of,
    )
    # from the start of an incident that began before the period: its fault report may predate the period too
    since = log_since(per.start_ns, (a.outage.start_ns for a in analysis.for_provider(provider_id)))
    contacts = tuple(list_contacts(journal, provider_id, since, per.end_ns)) if with_contacts else ()
    figures = compute(analysis, provider, per, zone, contacts)
    window = (per.start_ns, as_of)
    outages = tuple(a for a in analysis.for_provider(provider_id) if _overlaps(a, *window, as_of))
    control_outages = tuple(a for a in analysis.controls() if _overlaps(a, *window, as_of))
    runs = journal.runs()
    running = intersect(run_intervals(runs, as_of), [window])
    stalls = intersect(
        union((int(e.data["from_ns"]), int(e.data["to_ns"])) for e in journal.events([EV_STALL])), [window]
    )
    # the agent was started but waited for room on a full disk: not running, and the report says why
    disk = intersect(
        union((int(e.data["from_ns"]), int(e.data["to_ns"])) for e in journal.events([EV_STORAGE_WAIT])), [window]
    )
    idle = subtract([window], running)
    # a journal started after a damaged one was set aside: before its first row, this file cannot say
    set_aside = [(e.ts_ns, e.data) for e in journal.events([EV_JOURNAL_SET_ASIDE]) if e.ts_ns > per.start_ns]
    before = intersect([(per.start_ns, min(ts for ts, _ in set_aside))], [window]) if set_aside else []
    no_data = [NoData(a, b, "before this journal") for a, b in intersect(subtract(idle, disk), before)]
    no_data += [NoData(a, b, "not running") for a, b in subtract(subtract(idle, disk), before)]
    no_data += [NoData(a, b, "waiting for disk space") for a, b in intersect(idle, disk)]
    no_data += [NoData(a, b, "stalled") for a, b in intersect(running, stalls)]
    no_data.sort(key=lambda n: n.start_ns)
    clock_events = journal.events([EV_CLOCK_SAMPLE, EV_CLOCK_STEP])
    clock = summarize(clock_events, analysis.coverage, window, default_interval_s=config.model.ntp.interval)
    infos = journal.targets()
    targets = tuple(
        sorted((t for t in infos.values() if t.provider == provider_id and t.role == "provider"), key=lambda t: t.key)
    )
    controls = tuple(sorted((t for t in infos.values() if t.role in ("lan", "internet")), key=lambda t: t.key))
    agents = tuple(
        e.data for e in journal.events([EV_AGENT_START]) if per.start_ns <= e.ts_ns < as_of or _spans(e, runs, window)
    )
    warned: dict[tuple[str, int], CertWarning] = {}
    for e in journal.events([EV_CERT_EXPIRING], since_ns=per.start_ns, until_ns=as_of):
        info = infos.get(e.target) if e.target is not None else None
        if info is None or info.provider != provider_id or info.role != "provider":
            continue
        key = (info.key, int(e.data["not_after_ns"]))
        seen = warned.get(key)
        warned[key] = CertWarning(
            info.key,
            info.address,
            key[1],
            float(e.data["days_left"]),
            e.ts_ns if seen is None else seen.first_ns,
            e.ts_ns,
        )
    quality_keys = [t.key for t in config.targets_of(provider_id) if t.quality is not None and t.kind != "speed"]
    speed_keys = [t.key for t in config.targets_of(provider_id) if t.kind == "speed"]
    downtime = union((o.outage.start_ns, o.outage.end_ns or as_of) for o in analysis.for_provider(provider_id))
    hours: tuple[HourQuality, ...] = ()
    if quality_keys or figures.degraded:
        rows = (r for _, r in journal.iter_results(per.start_ns, as_of, quality_keys)) if quality_keys else ()
        hours = tuple(quality_by_hour(rows, figures.degraded, downtime, window, zone, as_of))
    speed = None
    if speed_keys:
        terms = provider.sla
        speed = speed_summary(
            (r for _, r in journal.iter_results(per.start_ns, as_of, speed_keys)),
            zone,
            download_min_bps=terms.minimum_bps("download"),
            upload_min_bps=terms.minimum_bps("upload"),
            download_bps=terms.download,
            upload_bps=terms.upload,
        )
    provider_outages = analysis.for_provider(provider_id)
    measured = {a.outage.id: window_value(journal, a, provider_outages, as_of) for a in figures.degraded}
    return Report(
        degraded_measured=measured,
        quality_hours=hours,
        speed=speed,
        config=config,
        provider=provider,
        zone=zone,
        period=per,
        as_of_ns=as_of,
        figures=figures,
        analysis=analysis,
        outages=outages,
        control_outages=control_outages,
        no_data=tuple(no_data),
        clock=clock,
        contacts=contacts,
        targets=targets,
        controls=controls,
        agents=agents,
        journal_id=journal.journal_id,
        head=journal.head(),
        cert_warnings=tuple(warned.values()),
        stamp=newest_stamp(journal.conn, journal.journal_id, until_ns=now),
        paths=trace_paths(journal, {a.outage.id for a in outages}, per.start_ns, as_of),
        set_aside=tuple(set_aside),
        contacts_withheld=not with_contacts,
    )


def trace_paths(journal: Journal, outage_ids: set[int], start_ns: int, end_ns: int) -> dict[int, dict[str, Any]]:
    """Where the route to the target ended when each outage opened (issue 17: the agent's traceroute)."""
    out: dict[int, dict[str, Any]] = {}
    for e in journal.events([EV_TRACEROUTE], since_ns=start_ns, until_ns=end_ns):
        if e.ref in outage_ids and e.data.get("trigger") == "outage_opened" and "hops" in e.data:
            out[int(e.ref)] = {
                "ended_at": e.data.get("ended_at"),
                "ended_ttl": e.data.get("ended_ttl"),
                "reached": bool(e.data.get("reached")),
                "address": e.data.get("address"),
                "hops": len(e.data["hops"]),
            }
            if e.data.get("ended_asn"):  # from the user's traceroute.asn table (older events: none, as before)
                out[int(e.ref)]["ended_asn"] = e.data["ended_asn"]
    return out


def _spans(event: Any, runs: Sequence[Any], window: Interval) -> bool:
    """True when the run started by this event was still going at the window's start."""
    for run in runs:
        if run.seq == event.seq:
            end = run.end_ns if run.end_ns is not None else window[1]
            return bool(run.start_ns < window[0] < end)
    return False


# ------------------------------------------------------------------------------------------------ JSON


def _t(ts_ns: int | None, zone: ZoneInfo) -> dict[str, Any]:
    return {"ns": ts_ns, "utc": utc_iso(ts_ns), "local": local_iso(ts_ns, zone)}


def _promise(r: Report, zone: ZoneInfo) -> dict[str, Any] | None:
    """The first restore time the provider named on a logged contact, and whether the deadlines count with it.

    Shown beside the contract's ``sla.restore_within``: where the contract names none, this promise is the one the
    deadlines (and the letters) count with; where it names one, the contract's is counted and this is for the
    record.
    """
    found = first_promise(r.contacts)
    if found is None:
        return None
    c, seconds = found
    term = r.figures.restore_term
    return {
        "promised": c.promised,
        "promised_s": seconds,
        "at": _t(c.at_ns, zone),
        "channel": c.channel,
        "ref": c.ref,
        "direction": c.direction,
        "counted": term is not None and term.source == "promise",
    }


def _restore(i: Incident, zone: ZoneInfo) -> dict[str, Any]:
    """What an incident's restore deadline runs from (the first fault report, else its start) and when it fell."""
    d = i.restore
    return {
        "restore_from": None if d is None else ("report" if d.reported else "start"),
        "restore_report": None if d is None or d.report_ns is None else _t(d.report_ns, zone),
        "restore_due": None if d is None else _t(d.due_ns, zone),
    }


def _with_path(d: dict[str, Any], paths: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """An outage's dict with ``path_at_open`` when the agent traced the route as it opened."""
    if d["id"] in paths:
        d["path_at_open"] = paths[d["id"]]
    return d


def window_value(
    journal: Journal, window: AttributedOutage, outages: Sequence[AttributedOutage], as_of_ns: int
) -> float | None:
    """A degraded window's measure over all its rounds (``measured_over``), its target's outages left out.

    The journal's ``degraded_open`` value is the one at confirmation (the first minutes of the window); this is
    what the whole stretch was: the loss of the evening, the median latency, the mean jitter.
    """
    o = window.outage
    end = o.end_ns if o.end_ns is not None else as_of_ns
    down = [(x.outage.start_ns, x.outage.end_ns or as_of_ns) for x in outages if x.outage.target == o.target]
    return measured_over(o.limit, (r for _, r in journal.iter_results(o.start_ns, end, [o.target])), down)


def _measured(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def outage_dict(a: AttributedOutage, zone: ZoneInfo, as_of_ns: int) -> dict[str, Any]:
    """One attributed outage, with its bounds and segments (times in the provider's zone and UTC)."""
    o = a.outage
    end = o.end_ns if o.end_ns is not None else as_of_ns
    return {
        "id": o.id,
        "target": o.target,
        "role": a.role.value,
        "open": o.is_open,
        "start": _t(o.start_ns, zone),
        "start_bounds_ns": list(o.start_bounds),
        "confirmed_ns": o.confirmed_ns,
        "end": _t(o.end_ns, zone),
        "end_bounds_ns": None if o.end_bounds is None else list(o.end_bounds),
        "duration_s": round((end - o.start_ns) / NS, 3),
        "failure": o.failure.value if o.failure else None,
        "detail": o.detail,
        **({"limit": o.limit} if o.limit else {}),
        "attribution": a.attribution.value,
        "time_by_attribution_s": {k.value: round(v / NS, 3) for k, v in a.time_by_attribution().items()},
        "segments": [
            {
                "start": _t(s.start_ns, zone),
                "end": _t(s.end_ns, zone),
                "duration_s": round(s.duration_ns / NS, 3),
                "attribution": s.attribution.value,
                "reason": s.reason,
            }
            for s in a.segments
        ],
    }


def _target(t: TargetInfo) -> dict[str, Any]:
    return {
        "key": t.key,
        "kind": t.kind,
        "address": t.address,
        "role": t.role,
        "interval_s": t.interval_s,
        "timeout_s": t.timeout_s,
        "failure_threshold": t.failure_threshold,
        "success_threshold": t.success_threshold,
    }


def _rule(rule: QualityRule) -> dict[str, Any]:
    return {
        "max": rule.max,
        "open_bad": rule.open_bad,
        "open_of": rule.open_of,
        "close_good": rule.close_good,
        "window": rule.window,
    }


def clock_dict(c: ClockSummary, zone: ZoneInfo) -> dict[str, Any]:
    """The clock summary as plain data."""
    worst = c.worst_offset
    return {
        "samples": c.samples,
        "failures": c.failures,
        "servers": list(c.servers),
        "worst_offset": None
        if worst is None
        else {
            "at": _t(int(worst["ts_ns"]), zone),
            "seq": worst["seq"],
            "server": worst.get("server"),
            "offset_s": int(worst["offset_ns"]) / NS,
            "delay_s": int(worst["delay_ns"]) / NS,
            "error_bound_s": int(worst["error_bound_ns"]) / NS,
            "stratum": worst.get("stratum"),
        },
        "worst_error_bound_s": None if c.worst_error_bound_ns is None else c.worst_error_bound_ns / NS,
        "median_offset_s": None if c.median_offset_ns is None else c.median_offset_ns / NS,
        "max_gap_s": c.max_gap_s,
        "vouch_s": c.vouch_s,
        "unsynced_s": c.unsynced_s,
        "unsynced": [{"start": _t(a, zone), "end": _t(b, zone), "duration_s": (b - a) / NS} for a, b in c.unsynced],
        "steps": [{"at": _t(at, zone), "step_s": step / NS} for at, step in c.steps],
    }


def report_json(r: Report) -> dict[str, Any]:
    """The stable JSON shape of a report (documented in the README)."""
    f, p, zone = r.figures, r.provider, r.zone
    maint = []
    for w in p.maintenance:
        a, b = window_interval(w, zone)
        if a < r.period.end_ns and b > r.period.start_ns:
            maint.append(
                {
                    "start": _t(a, zone),
                    "end": _t(b, zone),
                    "duration_s": (b - a) / NS,
                    "note": w.note,
                    "excluded": w.excluded,
                }
            )
    hours = [
        {
            "days": h.days,
            "from": h.from_.strftime("%H:%M"),
            "to": "24:00" if h.to == dt.time.max else h.to.strftime("%H:%M"),
        }
        for h in p.hours
    ]
    return {
        "format": REPORT_FORMAT,
        "agent": r.config.agent.id,
        "provider": {
            "id": p.id,
            "name": p.display_name,
            "kind": p.kind.value,
            "timezone": str(zone.key),
            "contract": {
                "number": p.contract.number,
                "since": p.contract.since.isoformat() if p.contract.since else None,
            },
            "sla": {
                "availability": p.sla.availability,
                "period": p.sla.period,
                "restore_within_s": p.sla.restore_within,
                "counts_degraded": p.sla.counts_degraded,
                "download_bps": p.sla.download,
                "upload_bps": p.sla.upload,
            },
        },
        "period": {
            "label": r.period.label,
            "start": _t(r.period.start_ns, zone),
            "end": _t(r.period.end_ns, zone),
            "length_s": r.period.length_s,
            "complete": r.complete,
        },
        "as_of": _t(r.as_of_ns, zone),
        "figures": {
            "availability": f.availability,
            "target": f.target,
            "breached": f.breached,
            "service_s": f.service_s,
            "maintenance_s": f.maintenance_s,
            "no_data_s": f.no_data_s,
            "counted_s": f.counted_s,
            "downtime_s": f.downtime_s,
            "allowed_downtime_s": f.allowed_downtime_s,
            "inconclusive_s": f.inconclusive_s,
            "customer_line_s": f.customer_line_s,
            "coverage": f.coverage,
            "incidents": len(f.incidents),
            "counted_incidents": len(f.counted_incidents),
            "longest_s": f.longest_s,
            "mttr_s": f.mttr_s,
            "restore_within_s": f.restore_within_s,
            "restore_within_from": None if f.restore_term is None else f.restore_term.source,
            "restore_promise": _promise(r, zone),
            "past_restore_within": len(f.past_restore),
            "degraded_s": f.degraded_s,
            "counts_degraded": f.counts_degraded,
        },
        "degraded": {
            "counts_degraded": f.counts_degraded,
            "degraded_s": f.degraded_s,
            "inconclusive_s": f.degraded_inconclusive_s,
            "customer_line_s": f.degraded_customer_line_s,
            "windows": [
                outage_dict(a, zone, r.as_of_ns) | {"measured": _measured(r.degraded_measured.get(a.outage.id))}
                for a in f.degraded
            ],
            "by_hour": [h.as_dict() for h in r.quality_hours],
        },
        "speed": None
        if r.speed is None
        else {
            **r.speed.as_dict(),
            "contract": {
                "download_bps": p.sla.download,
                "upload_bps": p.sla.upload,
                "minimum": p.sla.minimum,
                "upload_minimum": p.sla.upload_minimum,
            },
        },
        "incidents": [
            {
                "start": _t(i.start_ns, zone),
                "end": _t(i.end_ns, zone),
                "open": i.end_ns is None,
                "duration_s": i.duration_s,
                "downtime_s": i.downtime_s,
                "inconclusive_s": i.inconclusive_s,
                "customer_line_s": i.customer_line_s,
                "no_data_s": i.no_data_s,
                "restore_excess_s": i.restore_excess_s,
                **_restore(i, zone),
                "attribution": i.attribution.value,
                "targets": list(i.targets),
                "outages": [o.outage.id for o in i.outages],
            }
            for i in f.incidents
        ],
        "outages": [_with_path(outage_dict(a, zone, r.as_of_ns), r.paths) for a in r.outages],
        "control_outages": [outage_dict(a, zone, r.as_of_ns) for a in r.control_outages],
        "journals_set_aside": [
            {
                "at": _t(ts, zone),
                "file": str(data.get("file", "")),
                "reason": str(data.get("reason", "")),
                "head": data.get("head"),
            }
            for ts, data in r.set_aside
        ],
        "no_data": [
            {
                "start": _t(n.start_ns, zone),
                "end": _t(n.end_ns, zone),
                "duration_s": (n.end_ns - n.start_ns) / NS,
                "reason": n.reason,
            }
            for n in r.no_data
        ],
        "maintenance": maint,
        "warnings": [
            {
                "kind": "cert_expiring",
                "target": w.target,
                "address": w.address,
                "not_after": _t(w.not_after_ns, zone),
                "days_left": round(w.days_left, 1),
                "first_seen": _t(w.first_ns, zone),
                "last_seen": _t(w.last_ns, zone),
            }
            for w in r.cert_warnings
        ],
        "clock": clock_dict(r.clock, zone),
        "contacts": [{**c.as_dict(), "at": _t(c.at_ns, zone), "recorded": _t(c.recorded_ns, zone)} for c in r.contacts],
        "contacts_withheld": r.contacts_withheld,
        "method": {
            "service_hours": hours,
            "maintenance_excluded": sum(1 for m in maint if m["excluded"]),
            "quorum": r.config.quorum,
            "lan_controls": sum(1 for t in r.controls if t.role == Role.LAN.value),
            "internet_controls": sum(1 for t in r.controls if t.role == Role.INTERNET.value),
            "targets": [_target(t) for t in r.targets],
            "controls": [_target(t) for t in r.controls],
            "ntp_servers": list(r.config.model.ntp.servers) if r.config.model.ntp.enabled else [],
            "quality": [
                {"key": t.key, "limits": [{"name": name} | _rule(rule) for name, rule in t.quality.rules().items()]}
                for t in r.config.targets_of(p.id)
                if t.quality is not None and t.kind != "speed" and t.quality.rules()
            ],
            "speed_tests": any(t.kind == "speed" for t in r.config.targets_of(p.id)),
        },
        "agents": [
            {k: a.get(k) for k in ("run", "version", "host", "agent", "timezone", "config_sha256")} for a in r.agents
        ],
        "journal": {
            "id": r.journal_id,
            "head": r.head.as_dict() if r.head else None,
            "timestamp": None
            if r.stamp is None
            else {
                "tsa": r.stamp.tsa,
                "block": r.stamp.block,
                "last_seq": r.stamp.last_seq,
                "gen_time": _t(r.stamp.gen_time_ns, zone),
            },
        },
    }


# ------------------------------------------------------------------------------------------- rendering


def _pct(value: float | None, digits: int = 4) -> str:
    return "—" if value is None else f"{value:.{digits}f} %"


def _dur(seconds: float | None) -> str:
    return "—" if seconds is None else duration_text(seconds)


def text_table(rows: Sequence[Sequence[Any]]) -> str:
    """The first row is the header; columns padded, a rule under the header."""
    cells = [["" if c is None else str(c) for c in row] for row in rows]
    if not cells:
        return ""
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def paragraphs(text: str) -> list[tuple[str, list[str]]]:
    """Method text → ``[("p", [line]) | ("ul", [item, ...])]``: blank lines part paragraphs, "  - " lines are items."""
    out: list[tuple[str, list[str]]] = []
    for block in text.split("\n\n"):
        lines = [line for line in block.split("\n") if line.strip()]
        if not lines:
            continue
        if all(line.startswith("  - ") for line in lines):
            out.append(("ul", [line[4:] for line in lines]))
        else:
            out.append(("p", [" ".join(line.strip() for line in lines)]))
    return out


def wrap_text(text: str, width: int = 100) -> str:
    """Wrap prose paragraphs for the terminal; list items stay one per line."""
    import textwrap

    parts = []
    for kind, lines in paragraphs(text):
        if kind == "ul":
            parts.append("\n".join(f"  - {item}" for item in lines))
        else:
            parts.append(textwrap.fill(lines[0], width))
    return "\n\n".join(parts)


@functools.cache
def report_words(lang: Lang) -> Mapping[str, Any]:
    """The report's word table for ``lang`` (``watchdog/documents/locale/report.<lang>.yaml``), read once."""
    if lang not in LANGUAGES:
        raise ValueError(f"no report words for language {lang!r} (have: {', '.join(LANGUAGES)})")
    text = resources.files("watchdog.documents").joinpath(f"locale/report.{lang}.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    return data


def template_for(template: str, lang: Lang) -> str:
    """The template of ``lang``: ``report.txt.j2`` is English, ``report.ru.txt.j2`` its Russian."""
    if lang == "en":
        return template
    stem, _, rest = template.partition(".")
    return f"{stem}.{lang}.{rest}"


_REASON_RE = re.compile(
    r"(?:LAN (?P<lan_up>\d+)/(?P<lan_total>\d+) up|no LAN control), internet (?P<up>\d+)/(?P<total>\d+) up"
    r" \(quorum (?P<quorum>\d+)\)(?P<lan_down>; LAN control down but internet up)?"
)


def reason_text(reason: str, words: Mapping[str, Any]) -> str:
    """A segment's reason (English in the journal and the JSON, see ``LineTimeline.verdict``) in ``words``."""
    phrases = words["reason"]
    if reason == "the agent was not running":
        return str(phrases["not_running"])
    if reason == "outside the analysed window":
        return str(phrases["outside"])
    m = _REASON_RE.fullmatch(reason)
    if m is None:
        return reason  # a reason this table does not know yet: shown as recorded
    if m["lan_up"] is not None:
        lan = str(phrases["lan"]).format(up=m["lan_up"], total=m["lan_total"])
    else:
        lan = str(phrases["no_lan"])
    text = str(phrases["line"]).format(lan=lan, up=m["up"], total=m["total"], quorum=m["quorum"])
    return text + (str(phrases["lan_down"]) if m["lan_down"] else "")


def days_text(days: str, words: Mapping[str, Any]) -> str:
    """Service days as configured (``Mon-Fri``, ``Mon,Wed``, ``daily``) in ``words``."""
    names = words["weekdays"]

    def one(m: re.Match[str]) -> str:
        word = m.group(0).lower()
        return str(names.get(word, names.get(word[:3], m.group(0))))

    return re.sub(r"[A-Za-z]+", one, days).replace("-", str(words["day_range"]))


_COMPILED = CompiledTemplates()  # templates compiled once per process (see its docstring)


def environment(zone: ZoneInfo, lang: Lang = "en") -> jinja2.Environment:
    """The template environment: words in templates and ``t``, times shown in ``zone`` and UTC."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("watchdog.documents", "templates"),
        autoescape=html_autoescape,  # every .html.j2 (the PDF summary's too) escapes every value
        undefined=jinja2.StrictUndefined,
        bytecode_cache=_COMPILED,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )

    def local(t: dict[str, Any] | int | None, seconds: bool = True) -> str:
        ns = t.get("ns") if isinstance(t, dict) else t
        return "—" if ns is None else local_text(ns, zone, seconds=seconds)

    def utc(t: dict[str, Any] | int | None) -> str:
        ns = t.get("ns") if isinstance(t, dict) else t
        return "—" if ns is None else to_datetime(ns).strftime("%Y-%m-%d %H:%M:%S UTC")

    env.filters.update(local=local, utc=utc, dur=_dur, pct=_pct, table=text_table)
    env.filters.update(wrap=wrap_text, paragraphs=paragraphs)
    words = report_words(lang)
    env.globals["t"] = words
    env.filters.update(reason=lambda text: reason_text(text, words), days=lambda text: days_text(text, words))
    if lang == "ru":
        _russian(env, zone, words)
    return env


def _russian(env: jinja2.Environment, zone: ZoneInfo, words: Mapping[str, Any]) -> None:
    """Dates, numbers, durations and plurals as the Russian letters write them (one Formatter for both)."""
    fmt = Formatter("ru", str(words["locale"]), zone, load_words("ru"))

    def ns_of(t: dict[str, Any] | int | None) -> int | None:
        return t.get("ns") if isinstance(t, dict) else t

    def local(t: dict[str, Any] | int | None) -> str:
        ns = ns_of(t)
        return "—" if ns is None else fmt.instant(ns)

    def utc(t: dict[str, Any] | int | None) -> str:
        ns = ns_of(t)
        return "—" if ns is None else fmt.utc(ns)

    def fixed(value: float | None, digits: int) -> str:
        if value is None:
            return "—"
        return str(format_decimal(value, "0." + "0" * digits if digits else "0", locale=fmt.locale))

    def signed(value: float, digits: int) -> str:
        return ("-" if value < 0 else "+") + fixed(abs(value), digits)

    def pct(value: float | None, digits: int = 4) -> str:
        return "—" if value is None else f"{fixed(value, digits)} %"

    def dur(seconds: float | None) -> str:
        return "—" if seconds is None else fmt.duration(seconds)

    def plural(count: int, noun: str) -> str:
        return f"{count} {fmt.plural(count, *words['plural'][noun])}"

    env.filters.update(local=local, utc=utc, dur=dur, pct=pct, fixed=fixed, signed=signed, plural=plural)
    env.filters.update(num=lambda value: fmt.number(Decimal(repr(value)) if isinstance(value, float) else value))


def render(r: Report | dict[str, Any], template: str, *, lang: Lang = "en", **extra: Any) -> str:
    """Render a report with one of the templates (``report.txt.j2``, ``report.html.j2``, ...) in ``lang``."""
    data = report_json(r) if isinstance(r, Report) else r
    env = environment(ZoneInfo(data["provider"]["timezone"]), lang)
    method = env.get_template(template_for("method.txt.j2", lang)).render(r=data).strip()
    page = env.get_template(template_for(template, lang))
    return page.render(r=data, method=method, pack=extra.pop("pack", None), **extra)
