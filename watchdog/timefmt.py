"""Time for people: UTC nanoseconds in, local time with its UTC offset out (the tz database decides)."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

from watchdog.model import NS
from watchdog.units import parse_duration


def to_datetime(ts_ns: int, zone: ZoneInfo | None = None) -> dt.datetime:
    """UTC ns → an aware datetime in ``zone`` (UTC by default)."""
    utc = dt.datetime.fromtimestamp(ts_ns // NS, dt.UTC).replace(microsecond=(ts_ns % NS) // 1000)
    return utc.astimezone(zone) if zone is not None else utc


def utc_iso(ts_ns: int | None) -> str | None:
    """``2026-11-20T07:32:05.123Z`` (milliseconds), or None."""
    if ts_ns is None:
        return None
    d = to_datetime(ts_ns)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}Z"


def local_iso(ts_ns: int | None, zone: ZoneInfo) -> str | None:
    """``2026-11-20T10:32:05.123+03:00``, or None."""
    if ts_ns is None:
        return None
    d = to_datetime(ts_ns, zone)
    return d.isoformat(timespec="milliseconds")


class IsoStamps:
    """``(utc_iso(ts), local_iso(ts, zone))`` for many times, each second's text made once (a pack's rows).

    Within a second only the milliseconds differ, so the texts of the whole second are cut around them.
    """

    def __init__(self, zone: ZoneInfo, keep: int = 4096) -> None:
        self.zone = zone
        self.keep = keep  # seconds remembered (rows come in time order: old seconds are not asked for again)
        self._seconds: dict[int, tuple[str, str, str, str]] = {}

    def __call__(self, ts_ns: int) -> tuple[str, str]:
        second, rest = divmod(ts_ns, NS)
        parts = self._seconds.get(second)
        if parts is None:
            utc, local = utc_iso(second * NS), local_iso(second * NS, self.zone)
            assert utc is not None and local is not None
            # "...T07:32:05.000Z" and "...T10:32:05.000+03:00": the text before and after the ".000"
            u, lo = utc.index(".", 19) + 1, local.index(".", 19) + 1
            parts = (utc[:u], utc[u + 3 :], local[:lo], local[lo + 3 :])
            if len(self._seconds) >= self.keep:
                self._seconds.clear()
            self._seconds[second] = parts
        ms = f"{rest // 1_000_000:03d}"
        return parts[0] + ms + parts[1], parts[2] + ms + parts[3]


def local_text(ts_ns: int, zone: ZoneInfo, *, seconds: bool = True) -> str:
    """``2026-11-20 10:32:05 MSK (UTC+03:00)`` — what a person reads."""
    d = to_datetime(ts_ns, zone)
    offset = d.strftime("%z")
    offset = f"UTC{offset[:3]}:{offset[3:]}" if offset else "UTC"
    name = d.tzname() or ""
    shown = d.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    if name and not re.fullmatch(r"[+-]\d+", name) and name != "UTC":
        return f"{shown} {name} ({offset})"
    return f"{shown} ({offset})"


def tenths(seconds: float) -> float | None:
    """The one rule for short spans, shared by every surface: under 10 s a span keeps its tenth
    (``0.45`` → ``0.5``, Python's rounding of the float), unless that tenth is 0; None means whole seconds."""
    if seconds < 10 and (tenth := round(seconds, 1)) != round(seconds):
        return tenth
    return None


def duration_text(seconds: float) -> str:
    """``3d 04h 05m``, ``3d 00h 00m``, ``12m 30s``, ``45s``, ``0.8s`` (a tenth only under 10 s, never ``10.0s``)."""
    if (tenth := tenths(seconds)) is not None:
        return f"{tenth:.1f}s"
    s = round(seconds)
    days, s = divmod(s, 86400)
    hours, s = divmod(s, 3600)
    minutes, s = divmod(s, 60)
    if days:
        return f"{days}d {hours:02d}h {minutes:02d}m"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {s:02d}s"
    return f"{s}s"


def parse_time(text: str, zone: ZoneInfo, now_ns: int) -> int:
    """A user's time: ``2026-11-20``, ``2026-11-20T10:00``, ``...Z`` / ``+03:00``, or ``24h`` (= 24 h ago)."""
    value = text.strip()
    if re.fullmatch(r"(\d+(\.\d+)?(ms|s|m|h|d))+", value):
        return now_ns - int(parse_duration(value) * NS)
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"cannot read time {text!r}: use 2026-11-20, 2026-11-20T10:00 (local), ...Z (UTC), or 24h (ago)"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return to_ns(parsed)


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def to_ns(moment: dt.datetime) -> int:
    """An aware datetime → UTC nanoseconds, exactly (no float)."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: attach a zone first")
    delta = moment - _EPOCH
    return (delta.days * 86400 + delta.seconds) * NS + delta.microseconds * 1000
