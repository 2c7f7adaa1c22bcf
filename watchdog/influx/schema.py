"""The InfluxDB schema: journal rows, outages and SLA figures → line protocol (pure functions, no I/O).

Measurements (documented in the README, section "InfluxDB and Grafana"):

* ``probe``   one point per probe result, at the probe's start. Tags ``agent, provider, target, kind,
  role``; fields ``ok`` (1/0), ``latency_s``, and on failure ``failure`` and ``detail``; plus every
  numeric metric the probe reported (``status_code``, ``days_left``, ...), always as floats.
* ``outage``  one point per outage, at its start; written when it opens and rewritten (same series and
  timestamp, so it replaces the earlier point) when it closes and whenever the SLA figures are
  recomputed. Tags ``agent, provider, target, role, kind``; fields ``id``, ``start_ns``,
  ``start_lo_ns``, ``confirmed_ns``, ``end_ns``, ``end_lo_ns``, ``duration_s``, ``open``,
  ``attribution``, ``provider_s``, ``customer_line_s``, ``inconclusive_s``, ``no_data_s``,
  ``failure``, ``detail``.
* ``degraded`` one point per degraded window (a quality limit crossed while up), at its start, with the
  same fields as ``outage`` (``failure`` empty) and the extra tag ``limit`` (``latency``, ``loss``,
  ``jitter``, ``line``); rewritten like an outage point when it closes and when the SLA is recomputed.
* ``sla``     per provider and billing period, recomputed every ``sla_interval``. Tags ``agent,
  provider, period``; fields ``availability``, ``target``, ``breached``, ``downtime_s``, ``coverage``,
  ``counted_s``, ``inconclusive_s``, ``customer_line_s``, ``no_data_s``, ``incidents``, ``degraded_s``,
  ``counts_degraded`` (0/1), and where the contract states speeds ``download_bps``, ``upload_bps``,
  ``download_min_bps``, ``upload_min_bps`` (speed tests themselves are ``probe`` points of kind ``speed``
  with ``download_bps``, ``upload_bps``, ``loaded_latency_s``…).
* ``agent``   the agent itself. Tag ``event``: ``start``, ``stop``, ``crash_recovered``, ``alive``,
  ``stall``, ``clock_step``, ``journal_gap``, ``clock`` (from ``clock_sample`` events), and ``export``
  (the exporter's own heartbeat: ``backlog_rows``, ``lag_s``, ``dead_letters``, ``exported_rows``).
* ``timeline`` per provider and UTC day, at the day's midnight: when the agent had data for the provider
  and whose fault each down stretch was (:mod:`watchdog.analysis.timeline`), for collective reports
  across households. Tags ``agent, provider``; fields ``spans`` (the day's spans as text), ``chunk``,
  ``chunks`` (a day longer than 60,000 characters is split over points at midnight + 1 ns, + 2 ns, ...),
  ``as_of_ns``, ``written_ns``, and on chunk 0 ``covered_s``, ``up_s``, ``provider_s``,
  ``customer_line_s``, ``inconclusive_s``, ``provider_kind``. Rewritten whenever the day changes (same
  series and timestamp); readers take the newest ``written_ns`` of a day.

Controls have no provider; their ``provider`` tag is ``line`` (the customer's own line; ``line`` is a
reserved provider id, so it never clashes with a real provider). Flags are integers 0/1 so Grafana can
average them. Every point carries the agent's identity tags (:func:`identity_tags`), and every value has
one fixed type, because InfluxDB refuses a field whose type changes.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from influxdb_client.client.write.point import Point
from influxdb_client.domain.write_precision import WritePrecision

from watchdog.analysis.sla import SlaFigures
from watchdog.analysis.timeline import Span, State, chunks, encode, seconds_by_state
from watchdog.config import Config
from watchdog.journal.readers import Event, TargetInfo
from watchdog.journal.schema import (
    EV_AGENT_START,
    EV_AGENT_STOP,
    EV_ALIVE,
    EV_CLOCK_STEP,
    EV_JOURNAL_GAP,
    EV_RUN_END_RECOVERED,
    EV_STALL,
)
from watchdog.model import NS, AttributedOutage, Attribution, Role

CONTROLS_PROVIDER = "line"  # the provider tag of the customer's own-line controls
EV_CLOCK_SAMPLE = "clock_sample"  # written by the clock part (issue 3); read here when present

PROBE, OUTAGE, SLA, AGENT = "probe", "outage", "sla", "agent"
DEGRADED = "degraded"
TIMELINE = "timeline"
TIMELINE_CHUNK_CHARS = 60_000  # InfluxDB 1.x refuses string fields over 64 KiB

_AGENT_EVENTS = {
    EV_AGENT_START: "start",
    EV_AGENT_STOP: "stop",
    EV_RUN_END_RECOVERED: "crash_recovered",
    EV_ALIVE: "alive",
    EV_STALL: "stall",
    EV_CLOCK_STEP: "clock_step",
    EV_JOURNAL_GAP: "journal_gap",
    EV_CLOCK_SAMPLE: "clock",
}
_RESERVED_PROBE_FIELDS = frozenset({"ok", "latency_s", "failure", "detail"})
_METRIC_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")


def identity_tags(config: Config) -> dict[str, str]:
    """The tags every point carries: ``agent`` plus the config's ``agent.tags`` (the one place they are set)."""
    tags = {k: v for k, v in config.agent.tags.items() if v}
    tags["agent"] = config.agent.id
    return tags


def _text(value: str) -> str:
    """One line: line protocol string fields may not carry raw newlines safely across every server."""
    return value.replace("\r\n", " ").replace("\n", " ").replace("\r", " ")


def line(measurement: str, tags: Mapping[str, str], fields: Mapping[str, Any], ts_ns: int) -> str:
    """One point as line protocol with a nanosecond timestamp (escaping by influxdb-client's Point)."""
    point = Point(measurement)
    for key, value in tags.items():
        point.tag(key, value)
    for key, value in fields.items():
        point.field(key, _text(value) if isinstance(value, str) else value)
    point.time(ts_ns, WritePrecision.NS)
    text = str(point.to_line_protocol())
    if not text:
        raise ValueError(f"a {measurement} point at {ts_ns} has no fields")
    return text


def _provider_tag(provider: str | None, role: str) -> str:
    return provider if role == Role.PROVIDER.value and provider else CONTROLS_PROVIDER


class Schema:
    """Builds the points of one agent (its identity tags go on every point).

    A shared view (:class:`watchdog.collective.share.SharedSchema`) overrides the three hooks below to
    leave providers at home, export the rest under agreed names, and drop detail lines.
    """

    details = True  # failure detail lines go out (a shared view may leave them at home)

    def __init__(self, base_tags: Mapping[str, str]) -> None:
        self.base = dict(base_tags)

    def exports(self, provider: str | None, role: str) -> bool:
        """True when this target's (or provider's) points go out; controls always do."""
        return True

    def provider_name(self, provider_id: str) -> str:
        """The ``provider`` tag a provider is exported under."""
        return provider_id

    def _tags(self, **tags: str) -> dict[str, str]:
        # ours last: a user tag named like one of ours never changes what a point means
        return {**self.base, **tags}

    def target_tags(self, info: TargetInfo) -> dict[str, str]:
        """The tags identifying a target's series."""
        provider = _provider_tag(info.provider, info.role)
        key = info.key
        if provider != CONTROLS_PROVIDER:
            provider = self.provider_name(provider)
            key = f"{provider}/{key.split('/', 1)[-1]}"
        return self._tags(provider=provider, target=key, kind=info.kind, role=info.role)

    def probe(
        self,
        info: TargetInfo,
        ts_ns: int,
        latency_us: int | None,
        failure: str | None,
        detail: str | None,
        metrics: str | None,
    ) -> str:
        """A ``probe`` point from a journal results row (raw columns, so nothing is lost in between)."""
        fields: dict[str, Any] = {"ok": 0 if failure else 1}
        if latency_us is not None:
            fields["latency_s"] = latency_us / 1_000_000
        if failure:
            fields["failure"] = failure
            if self.details:
                fields["detail"] = detail or ""
        if metrics:
            for key, value in json.loads(metrics).items():
                if (
                    key not in _RESERVED_PROBE_FIELDS
                    and _METRIC_NAME.match(key)
                    and isinstance(value, int | float)
                    and not isinstance(value, bool)
                    and math.isfinite(value)
                ):
                    fields[key] = float(value)
        return line(PROBE, self.target_tags(info), fields, ts_ns)

    def outage(self, attributed: AttributedOutage, info: TargetInfo, now_ns: int) -> str:
        """An ``outage`` point at the outage's start (the target's own series tags); open ones run to ``now_ns``.

        A degraded window (``Outage.limit`` set) becomes a ``degraded`` point with a ``limit`` tag.
        """
        o = attributed.outage
        tags = self.target_tags(info)
        if o.limit:
            tags = {**tags, "limit": o.limit}
        end = o.end_ns if o.end_ns is not None else now_ns
        by = attributed.time_by_attribution()
        fields: dict[str, Any] = {
            "id": o.id,
            "start_ns": o.start_ns,
            "confirmed_ns": o.confirmed_ns,
            "duration_s": max(0, end - o.start_ns) / NS,
            "open": 1 if o.is_open else 0,
            "attribution": attributed.attribution.value,
            "provider_s": by[Attribution.PROVIDER] / NS,
            "customer_line_s": by[Attribution.CUSTOMER_LINE] / NS,
            "inconclusive_s": by[Attribution.INCONCLUSIVE] / NS,
            "no_data_s": by[Attribution.NO_DATA] / NS,
            "failure": o.failure.value if o.failure else "",
        }
        if self.details:
            fields["detail"] = o.detail
        if o.start_bounds[0] is not None:
            fields["start_lo_ns"] = o.start_bounds[0]
        if o.end_ns is not None and o.end_bounds is not None:
            fields["end_ns"] = o.end_ns
            fields["end_lo_ns"] = o.end_bounds[0]
        return line(DEGRADED if o.limit else OUTAGE, tags, fields, o.start_ns)

    def agent_event(self, event: Event) -> str | None:
        """An ``agent`` point from an agent-level journal event, or None for events that are not one."""
        name = _AGENT_EVENTS.get(event.type)
        if name is None:
            return None
        d = event.data
        fields: dict[str, Any] = {"value": 1}
        if isinstance(d.get("run"), str):
            fields["run"] = d["run"]
        if event.type == EV_AGENT_START:
            fields["version"] = str(d.get("version", ""))
        elif event.type == EV_AGENT_STOP:
            fields["reason"] = str(d.get("reason", ""))
        elif event.type == EV_RUN_END_RECOVERED and isinstance(d.get("last_ns"), int):
            fields["last_ns"] = d["last_ns"]
        elif event.type == EV_STALL:
            fields["duration_s"] = (int(d.get("to_ns", 0)) - int(d.get("from_ns", 0))) / NS
            fields["reason"] = str(d.get("reason", ""))
        elif event.type == EV_CLOCK_STEP:
            fields["step_s"] = int(d.get("step_ns", 0)) / NS
        elif event.type == EV_JOURNAL_GAP:
            fields["dropped_results"] = int(d.get("dropped_results", 0))
        elif event.type == EV_CLOCK_SAMPLE:
            offset = _seconds(d, "offset")
            if offset is None:
                return None
            fields["clock_offset_s"] = offset
            error = _seconds(d, "error")
            if error is not None:
                fields["clock_error_s"] = error
            if isinstance(d.get("server"), str):
                fields["server"] = d["server"]
        return line(AGENT, self._tags(event=name), fields, event.ts_ns)

    def export_status(
        self, *, backlog_rows: int, lag_s: float, dead_letters: int, exported_rows: int, state: str, ts_ns: int
    ) -> str:
        """The exporter's heartbeat: how far InfluxDB is behind the journal."""
        fields = {
            "value": 1,
            "backlog_rows": backlog_rows,
            "lag_s": float(lag_s),
            "dead_letters": dead_letters,
            "exported_rows": exported_rows,
            "state": state,
        }
        return line(AGENT, self._tags(event="export"), fields, ts_ns)

    def timeline_day(
        self,
        provider_id: str,
        provider_kind: str,
        day_ns: int,
        spans: list[Span] | tuple[Span, ...],
        *,
        as_of_ns: int,
        written_ns: int,
    ) -> list[str]:
        """The ``timeline`` points of one provider and UTC day (one per chunk of its spans)."""
        texts = chunks(encode(spans, day_ns), TIMELINE_CHUNK_CHARS)
        secs = seconds_by_state(spans)
        out = []
        for i, text in enumerate(texts):
            fields: dict[str, Any] = {
                "spans": text,
                "chunk": i,
                "chunks": len(texts),
                "as_of_ns": as_of_ns,
                "written_ns": written_ns,
            }
            if i == 0:
                fields.update(
                    covered_s=sum(secs.values()),
                    up_s=secs[State.UP],
                    provider_s=secs[State.PROVIDER],
                    customer_line_s=secs[State.CUSTOMER_LINE],
                    inconclusive_s=secs[State.INCONCLUSIVE],
                    provider_kind=provider_kind,
                )
            out.append(line(TIMELINE, self._tags(provider=self.provider_name(provider_id)), fields, day_ns + i))
        return out

    def sla(self, figures: SlaFigures, ts_ns: int, speeds: Mapping[str, float | None] | None = None) -> str:
        """An ``sla`` point: one provider's figures for one period as of ``ts_ns``."""
        fields: dict[str, Any] = {
            "downtime_s": figures.downtime_s,
            "coverage": figures.coverage,
            "counted_s": figures.counted_s,
            "inconclusive_s": figures.inconclusive_s,
            "customer_line_s": figures.customer_line_s,
            "no_data_s": figures.no_data_s,
            "incidents": len(figures.counted_incidents),
            "degraded_s": figures.degraded_s,
            "counts_degraded": 1 if figures.counts_degraded else 0,
        }
        for name, value in (speeds or {}).items():
            if value is not None:
                fields[name] = float(value)
        if figures.availability is not None:
            fields["availability"] = figures.availability
        if figures.target is not None:
            fields["target"] = figures.target
        if figures.breached is not None:
            fields["breached"] = 1 if figures.breached else 0
        tags = self._tags(provider=self.provider_name(figures.provider), period=figures.period.label)
        return line(SLA, tags, fields, ts_ns)


def _seconds(data: Mapping[str, Any], name: str) -> float | None:
    """``<name>_s`` or ``<name>_ns`` from an event's data, in seconds."""
    for key, scale in ((f"{name}_s", 1.0), (f"{name}_ns", 1e-9), (f"{name}_bound_s", 1.0), (f"{name}_bound_ns", 1e-9)):
        value = data.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return float(value) * scale
    return None
