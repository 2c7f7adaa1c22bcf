"""Quality over a period: by hour of day (the "every evening" pattern) and speed tests against the contract.

Pure functions over results and degraded windows. Hours are the provider's local hours (0–23): a customer
shows an ISP that loss climbs every evening at 19:00–23:00 local time, whatever the UTC offset.

* ``degraded_share`` of an hour = the provider-attributed degraded time (minus downtime: down wins) that
  fell in that hour of the day, over the time of that hour in the period (so 0.5 = half of every such hour);
* ``loss`` = packets (ICMP) or rounds (other kinds) lost over those sent in that hour, provider targets
  with quality limits only; ``latency_p50_s``/``p95`` = percentiles of the successful rounds' latency;
* ``measured_over``: a degraded window's loss, median latency or jitter over all its rounds (the journal
  holds the value at the moment it was confirmed, which is only the first minutes of it);
* ``recurring_hours``: the local hours degraded on at least a quarter of the days they were watched (two days
  at least), a day counting when at least half of that hour was degraded: "at the same hours every day";
* speed: per direction, the median and 10th percentile of the tests' Mbit/s, the share of tests below the
  contract's minimum, and the median per hour of day. Skipped tests (line or target down) are counted
  apart and are never below anything.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from zoneinfo import ZoneInfo

from watchdog.analysis.attribution import Interval, intersect, subtract, total, union
from watchdog.model import NS, AttributedOutage, Attribution, Result


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q`` percentile (0..100) by linear interpolation between closest ranks; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100.0
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


@dataclass
class HourQuality:
    """One local hour of the day over the whole period."""

    hour: int
    rounds: int = 0
    lost: float = 0.0
    sent: float = 0.0
    latencies: list[float] = field(default_factory=list, repr=False)
    degraded_s: float = 0.0
    hour_s: float = 0.0  # how long this hour of the day lasted within the window (data or not)

    @property
    def loss(self) -> float | None:
        """Lost over sent (None without rounds)."""
        return self.lost / self.sent if self.sent else None

    @property
    def degraded_share(self) -> float:
        """Degraded time over this hour's time in the window."""
        return self.degraded_s / self.hour_s if self.hour_s else 0.0

    def as_dict(self) -> dict[str, float | int | None]:
        """Plain data for JSON."""
        return {
            "hour": self.hour,
            "rounds": self.rounds,
            "loss": None if self.loss is None else round(self.loss, 6),
            "latency_p50_s": _r(percentile(self.latencies, 50)),
            "latency_p95_s": _r(percentile(self.latencies, 95)),
            "degraded_s": round(self.degraded_s, 3),
            "degraded_share": round(self.degraded_share, 6),
        }


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def _hour_slots(window: Interval, zone: ZoneInfo) -> list[tuple[int, int, int]]:
    """(start, end, local hour) for every local clock hour that meets the window."""
    start, end = window
    out = []
    local = dt.datetime.fromtimestamp(start / NS, zone).replace(minute=0, second=0, microsecond=0)
    t = int(local.timestamp()) * NS
    while t < end:
        nxt = t + 3600 * NS
        hour = dt.datetime.fromtimestamp(t / NS, zone).hour
        a, b = max(t, start), min(nxt, end)
        if a < b:
            out.append((a, b, hour))
        t = nxt
    return out


def quality_by_hour(
    results: Iterable[Result],
    degraded: Sequence[AttributedOutage],
    downtime: Sequence[Interval],
    window: Interval,
    zone: ZoneInfo,
    now_ns: int,
) -> list[HourQuality]:
    """The 24 local hours of the day: loss, latency percentiles and the provider's degraded share."""
    hours = [HourQuality(h) for h in range(24)]
    for r in results:
        if not r.counts or "download_bps" in r.metrics or "skipped" in r.metrics:
            continue
        h = hours[dt.datetime.fromtimestamp(r.ts_ns / NS, zone).hour]
        h.rounds += 1
        sent, received = r.metrics.get("sent"), r.metrics.get("received")
        if sent:
            h.sent += float(sent)
            h.lost += float(sent) - float(received or 0.0)
        else:
            h.sent += 1.0
            h.lost += 0.0 if r.ok else 1.0
        if r.ok and r.latency_s is not None:
            h.latencies.append(r.latency_s)
    provider_time = union(
        (s.start_ns, s.end_ns) for a in degraded for s in a.segments if s.attribution is Attribution.PROVIDER
    )
    provider_time = subtract(intersect(provider_time, [window]), union(downtime))
    for a, b, hour in _hour_slots((window[0], min(window[1], now_ns)), zone):
        hours[hour].hour_s += (b - a) / NS
        hours[hour].degraded_s += total(intersect(provider_time, [(a, b)])) / NS
    return hours


def measured_over(limit: str, results: Iterable[Result], down: Sequence[Interval] = ()) -> float | None:
    """A degraded window's measure over all its rounds, not only the ones that confirmed it (None: no rounds).

    ``loss`` = lost over sent (ICMP packets; other kinds: failed rounds over rounds), ``latency`` = the median
    of the successful rounds' latency, ``jitter`` = the mean absolute difference between consecutive latencies
    of successful rounds (as the tracker computes it, over the whole window). Rounds while the target was down
    (``down``: its outages, start inclusive, end exclusive) are left out: down wins over degraded.
    """
    sent = lost = 0.0
    latencies: list[float] = []
    for r in results:
        if not r.counts or "skipped" in r.metrics or any(a <= r.ts_ns < b for a, b in down):
            continue
        packets, received = r.metrics.get("sent"), r.metrics.get("received")
        if packets:
            sent += float(packets)
            lost += float(packets) - float(received or 0.0)
        else:
            sent += 1.0
            lost += 0.0 if r.ok else 1.0
        if r.ok and r.latency_s is not None:
            latencies.append(r.latency_s)
    if limit == "loss":
        return lost / sent if sent else None
    if limit == "latency":
        return percentile(latencies, 50)
    if limit == "jitter":
        steps = [abs(b - a) for a, b in pairwise(latencies)]
        return sum(steps) / len(steps) if steps else None
    return None


RECURRING_SHARE_OF_DAYS = 4  # an hour recurs when degraded on at least 1/4 of the days it was watched...
RECURRING_MIN_DAYS = 2  # ...and on two days at least (one bad evening is not a pattern)


@dataclass(frozen=True)
class RecurringHour:
    """A local hour of the day that was degraded on ``days`` of the ``observed`` days it was watched."""

    hour: int
    days: int  # days on which at least half of this hour was degraded
    observed: int  # days on which the agent had data for at least half of this hour


def recurring_hours(
    degraded: Sequence[Interval], observed: Sequence[Interval], window: Interval, zone: ZoneInfo
) -> list[RecurringHour]:
    """The local hours degraded "at the same hours every day": on a quarter of the observed days, two at least.

    A day counts for an hour when at least half of that hour (30 min) was degraded, and as observed when the
    agent had data for at least half of it; a partly watched hour at the window's edge is neither. The hour
    repeated when clocks go back is one hour of that day.
    """
    slots: dict[tuple[dt.date, int], list[int]] = {}
    for a, b, hour in _hour_slots(window, zone):
        day = dt.datetime.fromtimestamp(a / NS, zone).date()
        seen = slots.setdefault((day, hour), [0, 0])
        seen[0] += total(intersect(observed, [(a, b)]))
        seen[1] += total(intersect(degraded, [(a, b)]))
    half = 1800 * NS
    counts = [[0, 0] for _ in range(24)]
    for (_, hour), (data_ns, degraded_ns) in slots.items():
        if data_ns >= half:
            counts[hour][0] += 1
            counts[hour][1] += degraded_ns >= half
    out = []
    for hour, (watched, bad) in enumerate(counts):
        if bad >= RECURRING_MIN_DAYS and bad * RECURRING_SHARE_OF_DAYS >= watched:
            out.append(RecurringHour(hour, bad, watched))
    return out


@dataclass(frozen=True)
class SpeedDirection:
    """Speed tests in one direction over the period, against the contract."""

    direction: str  # "download" | "upload"
    tests: int
    median_bps: float | None
    p10_bps: float | None
    minimum_bps: float | None  # the contract's minimum (None: no contract speed)
    advertised_bps: float | None
    below_minimum: int
    by_hour: tuple[tuple[int, int, float | None], ...]  # (hour, tests, median bps)

    @property
    def below_share(self) -> float | None:
        """Share of tests below the minimum (None without a minimum or tests)."""
        if self.minimum_bps is None or not self.tests:
            return None
        return self.below_minimum / self.tests

    def as_dict(self) -> dict[str, object]:
        """Plain data for JSON (bits per second)."""
        return {
            "tests": self.tests,
            "median_bps": _r(self.median_bps),
            "p10_bps": _r(self.p10_bps),
            "advertised_bps": self.advertised_bps,
            "minimum_bps": self.minimum_bps,
            "below_minimum": self.below_minimum,
            "below_minimum_share": None if self.below_share is None else round(self.below_share, 6),
            "by_hour": [{"hour": h, "tests": n, "median_bps": _r(m)} for h, n, m in self.by_hour],
        }


@dataclass(frozen=True)
class SpeedSummary:
    """Every speed test of a provider's speed targets in the period."""

    tests: int
    skipped: int
    failed: int
    download: SpeedDirection
    upload: SpeedDirection

    def as_dict(self) -> dict[str, object]:
        """Plain data for JSON."""
        return {
            "tests": self.tests,
            "skipped": self.skipped,
            "failed": self.failed,
            "download": self.download.as_dict(),
            "upload": self.upload.as_dict(),
        }


def speed_summary(
    results: Iterable[Result],
    zone: ZoneInfo,
    *,
    download_min_bps: float | None,
    upload_min_bps: float | None,
    download_bps: float | None,
    upload_bps: float | None,
) -> SpeedSummary:
    """Summarise speed test results (metrics ``download_bps``/``upload_bps``) against the contract."""
    samples: dict[str, list[tuple[int, float]]] = {"download": [], "upload": []}
    tests = skipped = failed = 0
    for r in results:
        if "skipped" in r.metrics:
            skipped += 1
            continue
        if not r.ok:
            failed += 1
            continue
        tests += 1
        hour = dt.datetime.fromtimestamp(r.ts_ns / NS, zone).hour
        for direction in ("download", "upload"):
            value = r.metrics.get(f"{direction}_bps")
            if value is not None:
                samples[direction].append((hour, float(value)))

    def one(direction: str, minimum: float | None, advertised: float | None) -> SpeedDirection:
        values = [v for _, v in samples[direction]]
        by_hour = []
        for h in range(24):
            at = [v for hh, v in samples[direction] if hh == h]
            by_hour.append((h, len(at), percentile(at, 50)))
        return SpeedDirection(
            direction=direction,
            tests=len(values),
            median_bps=percentile(values, 50),
            p10_bps=percentile(values, 10),
            minimum_bps=minimum,
            advertised_bps=advertised,
            below_minimum=0 if minimum is None else sum(1 for v in values if v < minimum),
            by_hour=tuple(by_hour),
        )

    return SpeedSummary(
        tests=tests,
        skipped=skipped,
        failed=failed,
        download=one("download", download_min_bps, download_bps),
        upload=one("upload", upload_min_bps, upload_bps),
    )
