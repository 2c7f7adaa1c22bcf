"""What a letter about degraded service states (issue 16 item 4): degraded windows, degraded time, hours, speed.

Every number comes from the journal through the same analysis the report uses: the degraded windows the
agent's quality trackers journaled (with the limit crossed, the measured value and the limit's maximum from
the ``degraded_open`` event), the period's degraded time by attribution (``SlaFigures``), the hours of the
day degraded on a quarter of the days watched (``recurring_hours``) and the speed tests against the contract
(``speed_summary``). The limits are the customer's own monitoring thresholds, not the contract's; the
letter says so. Only speed has a contract figure (``sla.download``/``upload``/``minimum``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from watchdog.analysis.attribution import intersect, subtract, union
from watchdog.analysis.outages import Analysis
from watchdog.analysis.quality import RecurringHour, SpeedDirection, recurring_hours, speed_summary
from watchdog.analysis.sla import Period, SlaFigures
from watchdog.config import Config, ProviderSection
from watchdog.documents.compensation.values import Duration, Instant, Percent
from watchdog.documents.report import window_value
from watchdog.documents.words import md_escape
from watchdog.journal.schema import EV_DEGRADED_OPEN
from watchdog.journal.store import Journal
from watchdog.model import Attribution


@dataclass(frozen=True)
class DegradedWindow:
    """One degraded window of the provider's targets, as the letter lists it."""

    no: int
    target: str
    limit: str  # latency | loss | jitter
    value: Decimal | Percent  # over the whole window (loss, median latency, jitter): Percent for loss, ms otherwise
    maximum: Decimal | Percent  # the limit, in the same unit
    start: Instant
    start_after: Instant | None  # the last good round before it
    end: Instant
    end_after: Instant | None  # the last bad round
    duration: Duration
    provider_s: float  # of it, the time attributed to the provider


@dataclass(frozen=True)
class SpeedLine:
    """Speed tests in one direction against the contract (Mbit/s, cut to 0.1)."""

    direction: str
    tests: int
    median: Decimal
    p10: Decimal
    advertised: Decimal | None
    minimum: Decimal | None  # None: the contract sets no minimum for this direction (shown, not judged)
    below: int
    below_share: Percent | None


def _mbit(bps: float) -> Decimal:
    return (Decimal(repr(bps)) / Decimal(1_000_000)).quantize(Decimal("0.1"), rounding=ROUND_DOWN)


def _unit(limit: str, value: float) -> Decimal | Percent:
    """Loss as a Percent (to 0.1, trailing zeros dropped), latency and jitter in whole ms."""
    if limit == "loss":
        return Percent((Decimal(repr(value)) * 100).quantize(Decimal("0.1")).normalize())
    return (Decimal(repr(value)) * 1000).quantize(Decimal(1))


def degraded_windows(
    journal: Journal, figures: SlaFigures, now_ns: int, analysis: Analysis | None = None
) -> list[DegradedWindow]:
    """The provider's degraded windows overlapping the period, with some time attributed to the provider.

    Each window's value is measured over all its rounds (``window_value``), leaving out the time its target
    was down (its outages in ``analysis``); the journaled value at confirmation is the fallback for a window
    whose rounds are not in the journal.
    """
    outages = analysis.outages if analysis is not None else ()
    out: list[DegradedWindow] = []
    for a in sorted(figures.degraded, key=lambda a: a.outage.start_ns):
        o = a.outage
        provider_ns = a.time_by_attribution()[Attribution.PROVIDER]
        if provider_ns <= 0:
            continue
        row = journal.conn.execute("SELECT data FROM events WHERE seq = ? AND type = ?", (o.id, EV_DEGRADED_OPEN))
        found = row.fetchone()
        data = json.loads(found[0]) if found else {}
        if "value" not in data or "max" not in data:
            continue  # a window without its measurement is not stated
        end = o.end_ns if o.end_ns is not None else now_ns
        value = window_value(journal, a, outages, now_ns)
        out.append(
            DegradedWindow(
                no=len(out) + 1,
                target=md_escape(o.target),
                limit=o.limit,
                value=_unit(o.limit, float(data["value"]) if value is None else value),
                maximum=_unit(o.limit, float(data["max"])),
                start=Instant(o.start_ns),
                start_after=None if o.start_bounds[0] is None else Instant(o.start_bounds[0]),
                end=Instant(end, still_open=o.end_ns is None),
                end_after=Instant(o.end_bounds[0]) if o.end_bounds is not None else None,
                duration=Duration((end - o.start_ns) / 1e9),
                provider_s=provider_ns / 1e9,
            )
        )
    return out


def degraded_hours(
    config: Config,
    provider: ProviderSection,
    analysis: Analysis,
    figures: SlaFigures,
    period: Period,
    now_ns: int,
) -> list[RecurringHour]:
    """The local hours of the day degraded on a quarter of the days watched (two at least): the pattern.

    Degraded time is the provider's (attributed to it), outside its outages (down wins), as in the report.
    """
    if not figures.degraded:
        return []
    zone = config.provider_zone(provider.id)
    as_of = min(period.end_ns, now_ns)
    window = (period.start_ns, as_of)
    downtime = union((o.outage.start_ns, o.outage.end_ns or as_of) for o in analysis.for_provider(provider.id))
    provider_time = union(
        (s.start_ns, s.end_ns) for a in figures.degraded for s in a.segments if s.attribution is Attribution.PROVIDER
    )
    degraded = subtract(intersect(provider_time, [window]), downtime)
    return recurring_hours(degraded, intersect(union(analysis.coverage), [window]), window, zone)


def speed_lines(
    journal: Journal, config: Config, provider: ProviderSection, period: Period, now_ns: int
) -> list[SpeedLine]:
    """Download and upload against the contract, when the contract names a speed and tests were made.

    A direction with an advertised speed but no minimum of its own (the upload beside a download minimum
    given as a speed) is listed with its measurements and judged against nothing."""
    keys = [t.key for t in config.targets_of(provider.id) if t.kind == "speed"]
    if not keys:
        return []
    terms = provider.sla
    summary = speed_summary(
        (r for _, r in journal.iter_results(period.start_ns, min(period.end_ns, now_ns), keys)),
        config.provider_zone(provider.id),
        download_min_bps=terms.minimum_bps("download"),
        upload_min_bps=terms.minimum_bps("upload"),
        download_bps=terms.download,
        upload_bps=terms.upload,
    )
    return [line for d in (summary.download, summary.upload) if (line := _line(d)) is not None]


def _line(d: SpeedDirection) -> SpeedLine | None:
    if not d.tests or d.median_bps is None or d.p10_bps is None:
        return None
    if d.minimum_bps is None and d.advertised_bps is None:
        return None  # no contract figure for this direction: nothing to set the tests against
    share = d.below_share
    return SpeedLine(
        direction=d.direction,
        tests=d.tests,
        median=_mbit(d.median_bps),
        p10=_mbit(d.p10_bps),
        advertised=None if d.advertised_bps is None else _mbit(d.advertised_bps),
        minimum=None if d.minimum_bps is None else _mbit(d.minimum_bps),
        below=d.below_minimum,
        below_share=None
        if share is None
        else Percent((Decimal(repr(share)) * 100).quantize(Decimal("0.1"), rounding=ROUND_DOWN)),
    )
