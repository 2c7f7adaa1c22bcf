"""The JSON API's shapes (``/api/v1/...``); the HTML pages render these same dicts, so both always agree.

Times are UTC nanoseconds (``*_ns``) plus ISO strings in UTC and in the agent's zone (``*_local``), as
in ``watchdog outages --json``. Keys are stable and documented in the README.
"""

from __future__ import annotations

import re
from typing import Any
from zoneinfo import ZoneInfo

from watchdog.analysis.balance import project
from watchdog.analysis.outages import outage_json
from watchdog.analysis.sla import Incident, SlaFigures
from watchdog.config import Config, ProviderSection
from watchdog.model import NS, AttributedOutage, Outage, Role
from watchdog.timefmt import local_iso, to_datetime, utc_iso
from watchdog.web.data import HeartbeatNow, History, Now, TargetNow, Upkeep, line_state

API_VERSION = 1
RECENT_OUTAGES = 10
BAD_TOKENS_SHOWN = 20  # timestamp tokens that do not verify, listed by the API (all are counted)


def public_address(address: str) -> str:
    """The address without any ``user:password@`` part (a URL may carry credentials)."""
    return re.sub(r"^([a-z][a-z0-9+.-]*://)[^/@]*@", r"\1***@", address, flags=re.IGNORECASE)


def without_urls(text: str | None) -> str | None:
    """``text`` with every URL replaced by ``<url>`` (a TSA's or a heartbeat's URL is a secret; the agent
    records errors as an HTTP status or an error type, this is the page's own guard)."""
    return None if text is None else re.sub(r"[a-z][a-z0-9+.-]*://\S+", "<url>", text, flags=re.IGNORECASE)


def stamp(ts_ns: int | None, zone: ZoneInfo, name: str) -> dict[str, Any]:
    """``{name_ns, name, name_local}`` for one instant."""
    return {f"{name}_ns": ts_ns, name: utc_iso(ts_ns), f"{name}_local": local_iso(ts_ns, zone)}


def open_outage_json(outage: Outage, zone: ZoneInfo, now_ns: int) -> dict[str, Any]:
    """A target's open outage as the board knows it (attribution lives in the provider's outage list)."""
    return {
        "id": outage.id,
        **stamp(outage.start_ns, zone, "start"),
        "start_bounds_ns": list(outage.start_bounds),
        "confirmed_ns": outage.confirmed_ns,
        "duration_s": round(outage.duration_ns(now_ns) / NS, 3),
        "failure": outage.failure.value if outage.failure else None,
        "detail": outage.detail,
    }


def target_json(t: TargetNow, zone: ZoneInfo, now_ns: int) -> dict[str, Any]:
    """One target now."""
    last = t.last
    return {
        "key": t.target.key,
        "name": t.target.name,
        "kind": t.target.kind,
        "role": t.target.role.value,
        "address": public_address(t.target.address),
        "interval_s": t.target.interval_s,
        "state": t.state,
        "last_state": t.last_state,
        "degraded": list(t.degraded),
        "last": None
        if last is None
        else {
            **stamp(last.ts_ns, zone, "ts"),
            "ok": last.ok,
            "latency_s": last.latency_s,
            "failure": last.failure.value if last.failure else None,
            "detail": last.detail,
        },
        **stamp(t.last_ok_ns, zone, "last_ok"),
        "outage": None if t.outage is None else open_outage_json(t.outage, zone, now_ns),
    }


def line_json(now: Now) -> dict[str, Any]:
    """The customer's line now."""
    line = now.line
    return {
        "state": line_state(now),
        "lan_up": line.lan_up,
        "lan_total": line.lan_total,
        "internet_up": line.internet_up,
        "internet_total": line.internet_total,
        "quorum": line.quorum,
        "failing": list(line.failing),
    }


def sla_json(f: SlaFigures, zone: ZoneInfo) -> dict[str, Any]:
    """The SLA figures of one provider and period (seconds rounded to milliseconds)."""

    def r(x: float | None) -> float | None:
        return None if x is None else round(x, 3)

    return {
        "period": f.period.label,
        "period_zone": f.period.zone,
        **stamp(f.period.start_ns, zone, "period_start"),
        **stamp(f.period.end_ns, zone, "period_end"),
        "to_ns": min(f.now_ns, f.period.end_ns),
        "target": f.target,
        "availability": None if f.availability is None else round(f.availability, 6),
        "breached": f.breached,
        "service_s": r(f.service_s),
        "maintenance_s": r(f.maintenance_s),
        "no_data_s": r(f.no_data_s),
        "counted_s": r(f.counted_s),
        "downtime_s": r(f.downtime_s),
        "allowed_downtime_s": r(f.allowed_downtime_s),
        "inconclusive_s": r(f.inconclusive_s),
        "customer_line_s": r(f.customer_line_s),
        "coverage": round(f.coverage, 6),
        "degraded_s": r(f.degraded_s),
        "counts_degraded": f.counts_degraded,
        "incidents": len(f.incidents),
        "counted_incidents": len(f.counted_incidents),
        "longest_s": r(f.longest_s),
        "mttr_s": r(f.mttr_s),
        "restore_within_s": f.restore_within_s,
    }


def incident_json(i: Incident, zone: ZoneInfo) -> dict[str, Any]:
    """One incident of a report."""
    d = i.restore
    return {
        **stamp(i.start_ns, zone, "start"),
        **stamp(i.end_ns, zone, "end"),
        "open": i.end_ns is None,
        "targets": list(i.targets),
        "duration_s": round(i.duration_s, 3),
        "downtime_s": round(i.downtime_s, 3),
        "inconclusive_s": round(i.inconclusive_s, 3),
        "customer_line_s": round(i.customer_line_s, 3),
        "no_data_s": round(i.no_data_s, 3),
        "restore_excess_s": None if i.restore_excess_s is None else round(i.restore_excess_s, 3),
        # what the restore deadline runs from: the first fault report in the contact log, else the start
        "restore_from": None if d is None else ("report" if d.reported else "start"),
        **stamp(None if d is None else d.report_ns, zone, "restore_report"),
        **stamp(None if d is None else d.due_ns, zone, "restore_due"),
        "attribution": i.attribution.value,
    }


def provider_outages(history: History, provider_id: str) -> list[AttributedOutage]:
    """A provider's outages in the history window, newest first."""
    items = history.analysis.for_provider(provider_id)
    return sorted(items, key=lambda a: (a.outage.start_ns, a.outage.target), reverse=True)


def provider_json(
    p: ProviderSection, now: Now, history: History, config: Config, *, recent: int | None = RECENT_OUTAGES
) -> dict[str, Any]:
    """One provider: state now, its targets, the current period's figures and its outages."""
    zone = config.zone
    outages = provider_outages(history, p.id)
    shown = [o for o in outages if o.outage.is_open] + [o for o in outages if not o.outage.is_open][
        : recent if recent is not None else None
    ]
    return {
        "id": p.id,
        "name": p.display_name,
        "kind": p.kind.value,
        "state": now.provider_state(p.id),
        "targets": [target_json(t, zone, now.now_ns) for t in now.provider_targets(p.id)],
        "sla": sla_json(history.figures[p.id], zone),
        "open_outages": sum(1 for o in outages if o.outage.is_open),
        "outages_30d": len(outages),
        "outages": [outage_json(o, config, now.now_ns) for o in shown],
        "balance": balance_json(p, history.upkeep, config, now.now_ns),
        "warnings": cert_warnings_json(p, history.upkeep, config, now.now_ns),
    }


def balance_json(p: ProviderSection, upkeep: Upkeep | None, config: Config, now_ns: int) -> dict[str, Any] | None:
    """A provider's latest balance reading and, with an account tariff, its run-out day (None: no reading)."""
    b = None if upkeep is None else upkeep.balances.get(p.id)
    if b is None:
        return None
    zone = config.provider_zone(p.id)
    account = p.account
    projection = project(b, account, zone) if account is not None and account.tariff is not None else None
    return {
        "amount": str(b.amount),
        "currency": b.currency,
        **stamp(b.at_ns, zone, "at"),
        "source": b.source,
        "per_day": None if projection is None else round(projection.per_day, 2),
        "run_out": None if projection is None else projection.run_out.isoformat(),
        "days_left": None if projection is None else projection.days_left(to_datetime(now_ns, zone).date()),
    }


def cert_warnings_json(p: ProviderSection, upkeep: Upkeep | None, config: Config, now_ns: int) -> list[dict[str, Any]]:
    """A provider's open warnings (not outages): TLS certificates near their end."""
    zone = config.zone
    return [
        {
            "kind": "cert_expiring",
            "target": w.target,
            **stamp(w.not_after_ns, zone, "not_after"),
            "days_left": round((w.not_after_ns - now_ns) / (86_400 * NS), 1),
            **stamp(w.first_ns, zone, "first_warned"),
        }
        for w in ([] if upkeep is None else upkeep.certs.get(p.id, ()))
    ]


def upkeep_json(
    upkeep: Upkeep | None, config: Config, now_ns: int, heartbeat: HeartbeatNow | None = None
) -> dict[str, Any]:
    """Trusted timestamps, the last backup and the heartbeat (its last push when the live agent knows it): never
    a URL, a credential or a folder path."""
    zone = config.zone
    section = config.model.heartbeat
    backup = None if upkeep is None else upkeep.backup
    bad = () if upkeep is None else upkeep.bad_stamps
    return {
        "timestamps": [
            {
                "tsa": s.tsa,
                "configured": s.configured,
                **stamp(s.gen_time_ns, zone, "sealed"),
                "block": s.block,
                "rows_up_to": s.last_seq,
                "queued": s.queued,
                **stamp(s.queued_since_ns, zone, "queued_since"),
                "attempts": s.attempts,
                "error": without_urls(s.error),
                "bad_tokens": s.bad_tokens,
            }
            for s in (() if upkeep is None else upkeep.stamps)
        ],
        "bad_token_count": len(bad),
        "unchecked_tokens": 0 if upkeep is None else upkeep.unchecked_stamps,
        "bad_tokens": [
            {
                "seq": b.seq,
                "tsa": b.tsa,
                "block": b.block,
                "rows_up_to": b.last_seq,
                "problem": without_urls(b.problem),
            }
            for b in bad[:BAD_TOKENS_SHOWN]
        ],
        "backup": None
        if backup is None
        else {
            "file": backup.file,
            **stamp(backup.at_ns, zone, "at"),
            "bytes": backup.bytes,
            "every_s": backup.every_s,
            "overdue": backup.at_ns is None or now_ns - backup.at_ns > 2 * backup.every_s * NS,
            "problem": backup.problem,
        },
        "heartbeat": {
            "configured": section.url is not None,
            "method": section.method if section.url is not None else None,
            "interval_s": section.interval if section.url is not None else None,
            "last_push": None
            if heartbeat is None or section.url is None
            else {
                "ok": heartbeat.ok,
                **stamp(heartbeat.at_ns, zone, "at"),
                "error": without_urls(heartbeat.error),
                **stamp(heartbeat.failing_since_ns, zone, "failing_since"),
            },
        },
    }


def status_json(now: Now, history: History, config: Config) -> dict[str, Any]:
    """``GET /api/v1/status``: everything the overview page shows."""
    zone = config.zone
    return {
        "api": API_VERSION,
        "agent": config.agent.id,
        "timezone": config.agent.timezone,
        "mode": now.mode,
        **stamp(now.now_ns, zone, "generated"),
        "agent_running": now.agent_running,
        **stamp(now.last_record_ns, zone, "last_record"),
        "journal": {
            "writable": now.journal_error is None if now.mode == "live" else None,
            "error": now.journal_error,
            "head": None if history.head is None else history.head.as_dict(),
        },
        "line": line_json(now),
        "controls": [target_json(t, zone, now.now_ns) for t in now.controls()],
        "control_outages": [
            outage_json(o, config, now.now_ns)
            for o in sorted(history.analysis.controls(), key=lambda a: a.outage.start_ns, reverse=True)[:RECENT_OUTAGES]
        ],
        "providers": [provider_json(p, now, history, config) for p in config.providers],
        "upkeep": upkeep_json(history.upkeep, config, now.now_ns, now.heartbeat),
    }


def report_json(p: ProviderSection, figures: SlaFigures, config: Config) -> dict[str, Any]:
    """``GET /api/v1/report``: one provider's SLA figures and incidents for one period."""
    zone = config.provider_zone(p.id)
    return {
        "api": API_VERSION,
        "agent": config.agent.id,
        "provider": p.id,
        "name": p.display_name,
        "kind": p.kind.value,
        "timezone": str(zone.key),
        **stamp(figures.now_ns, zone, "generated"),
        "complete": figures.now_ns >= figures.period.end_ns,
        "sla": sla_json(figures, zone),
        "incident_list": [incident_json(i, zone) for i in figures.incidents],
        "method": (
            "time-based; counted time = service hours minus excluded maintenance minus time without data; "
            "downtime = stretches attributed to the provider; availability = 1 - downtime / counted time"
        ),
    }


def outages_json(
    items: list[AttributedOutage], config: Config, now_ns: int, since_ns: int, until_ns: int
) -> dict[str, Any]:
    """``GET /api/v1/outages``: the same envelope as ``watchdog outages --json``."""
    return {
        "agent": config.agent.id,
        "timezone": config.agent.timezone,
        "generated_ns": now_ns,
        "since_ns": since_ns,
        "until_ns": until_ns,
        "outages": [outage_json(a, config, now_ns) for a in items],
    }


def is_provider_item(a: AttributedOutage) -> bool:
    """True for a provider's outages (not the controls')."""
    return a.role is Role.PROVIDER
