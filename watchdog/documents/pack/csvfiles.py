"""The pack's CSV files: their columns, the encoding (BOM, CRLF), the canonical cells and each file's rows."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from watchdog.analysis.sla import Period
from watchdog.errors import IntegrityError
from watchdog.journal.contacts import EV_CONTACT, from_event
from watchdog.journal.schema import EV_CLOCK_SAMPLE, EV_CLOCK_STEP
from watchdog.model import NS, AttributedOutage, Attribution
from watchdog.timefmt import local_iso, utc_iso

RESULT_COLUMNS = (
    "time_utc",
    "time_local",
    "target",
    "role",
    "ok",
    "latency_ms",
    "in_period",
    "seq",
    "target_id",
    "ts_ns",
    "latency_us",
    "failure",
    "detail",
    "metrics",
    "seal",
)
EVENT_COLUMNS = ("time_utc", "time_local", "target", "seq", "ts_ns", "type", "target_id", "ref", "data", "seal")
CONTACT_COLUMNS = ("seq", "at_utc", "at_local", "recorded_utc", "channel", "ref", "note")
CLOCK_COLUMNS = (
    "seq",
    "time_utc",
    "time_local",
    "kind",
    "server",
    "ok",
    "offset_s",
    "delay_s",
    "error_bound_s",
    "stratum",
    "root_delay_s",
    "root_dispersion_s",
    "step_s",
    "error",
)
OUTAGE_COLUMNS = (
    "id",
    "target",
    "role",
    "open",
    "start_utc",
    "start_local",
    "start_after_utc",
    "end_utc",
    "end_local",
    "end_after_utc",
    "duration_s",
    "attribution",
    "provider_s",
    "customer_line_s",
    "inconclusive_s",
    "no_data_s",
    "failure",
    "detail",
)
REDACTED_ROW = "<redacted row-hash="  # an events.csv data cell: ``<redacted row-hash=<64 hex>>``
PRIVATE_EVENT_TYPES = ("contact", "deadline")  # the contact log and declared complaint deadlines


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """A small CSV file: UTF-8 with a BOM, CRLF, minimal quoting; None is an empty cell."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def read_csv(data: bytes, name: str) -> tuple[list[str], list[list[str]]]:
    """Parse a pack CSV; IntegrityError names the file when it is not one."""
    try:
        text = data.decode("utf-8-sig")
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise IntegrityError(f"{name}: not a readable CSV file ({exc})") from exc
    if not rows:
        raise IntegrityError(f"{name}: empty")
    return rows[0], rows[1:]


def _null(cell: str) -> str | None:
    return None if cell == "" else cell


def _int_or_null(cell: str) -> int | None:
    return None if cell == "" else int(cell)


def result_canon(cells: Sequence[str]) -> tuple[int, int, int, int | None, str | None, str | None, str | None]:
    """The canonical columns of a results.csv row (after the human ones)."""
    seq, target, ts, lat, failure, detail, metrics = cells
    return int(seq), int(target), int(ts), _int_or_null(lat), _null(failure), _null(detail), _null(metrics)


def event_canon(cells: Sequence[str]) -> tuple[int, int, str, int | None, int | None, str]:
    """The canonical columns of an events.csv row."""
    seq, ts, type_, target, ref, data = cells
    return int(seq), int(ts), type_, _int_or_null(target), _int_or_null(ref), data


def contact_rows(events: Iterable[tuple[int, int, str, str]], provider: str, period: Period, zone: ZoneInfo) -> bytes:
    """contacts.csv from ``(seq, ts_ns, type, data)`` event rows: the provider's contacts in the period."""
    rows = []
    for seq, ts, type_, data in events:
        if type_ != EV_CONTACT:
            continue
        c = from_event(seq, ts, json.loads(data))
        if c.provider == provider and period.start_ns <= c.at_ns < period.end_ns:
            rows.append(
                (
                    c.at_ns,
                    c.seq,
                    [c.seq, utc_iso(c.at_ns), local_iso(c.at_ns, zone), utc_iso(ts), c.channel, c.ref, c.note],
                )
            )
    rows.sort(key=lambda r: (r[0], r[1]))
    return csv_bytes(CONTACT_COLUMNS, (r[2] for r in rows))


def _s(ns: Any) -> str | None:
    return None if ns is None else f"{int(ns) / NS:.9f}"


def clock_rows(events: Iterable[tuple[int, int, str, str]], period: Period, zone: ZoneInfo) -> bytes:
    """clock.csv from ``(seq, ts_ns, type, data)`` event rows: samples and steps inside the period."""
    rows = []
    for seq, ts, type_, raw in events:
        if type_ not in (EV_CLOCK_SAMPLE, EV_CLOCK_STEP) or not period.start_ns <= ts < period.end_ns:
            continue
        d = json.loads(raw)
        if type_ == EV_CLOCK_STEP:
            rows.append(
                [
                    seq,
                    utc_iso(ts),
                    local_iso(ts, zone),
                    "step",
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    _s(d.get("step_ns")),
                    None,
                ]
            )
            continue
        rows.append(
            [
                seq,
                utc_iso(ts),
                local_iso(ts, zone),
                "sample",
                d.get("server"),
                "true" if d.get("ok") else "false",
                _s(d.get("offset_ns")),
                _s(d.get("delay_ns")),
                _s(d.get("error_bound_ns")),
                d.get("stratum"),
                _s(d.get("root_delay_ns")),
                _s(d.get("root_dispersion_ns")),
                None,
                d.get("error"),
            ]
        )
    return csv_bytes(CLOCK_COLUMNS, rows)


_ATTRIBUTION_COLUMNS = (Attribution.PROVIDER, Attribution.CUSTOMER_LINE, Attribution.INCONCLUSIVE, Attribution.NO_DATA)


def outage_row(a: AttributedOutage, zone: ZoneInfo, as_of_ns: int) -> list[Any]:
    """One outages.csv row (OUTAGE_COLUMNS); an open outage is measured up to ``as_of_ns``."""
    o = a.outage
    end = o.end_ns if o.end_ns is not None else as_of_ns
    by = a.time_by_attribution()
    return [
        o.id,
        o.target,
        a.role.value,
        "true" if o.is_open else "false",
        utc_iso(o.start_ns),
        local_iso(o.start_ns, zone),
        utc_iso(o.start_bounds[0]),
        utc_iso(o.end_ns),
        local_iso(o.end_ns, zone),
        utc_iso(o.end_bounds[0]) if o.end_bounds else None,
        f"{(end - o.start_ns) / NS:.3f}",
        a.attribution.value,
        *(f"{by[k] / NS:.3f}" for k in _ATTRIBUTION_COLUMNS),
        o.failure.value if o.failure else None,
        o.detail,
    ]


class StreamCsv:
    """A CSV written row by row to a file (results can be large), hashed as written."""

    def __init__(self, path: Path, header: Sequence[str]) -> None:
        self.handle = open(path, "w", encoding="utf-8", newline="")  # closed in close()
        self.handle.write("\ufeff")
        self.writer = csv.writer(self.handle, lineterminator="\r\n")
        self.writer.writerow(header)

    def row(self, cells: Sequence[Any]) -> None:
        self.writer.writerow(["" if v is None else v for v in cells])

    def close(self) -> None:
        self.handle.close()
