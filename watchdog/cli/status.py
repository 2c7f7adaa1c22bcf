"""``watchdog status``: how far each exporter (the InfluxDB copy) is behind the journal, and the timestamp queue."""

from __future__ import annotations

import argparse
import time
from typing import Any

from watchdog.cli import EXIT_OK, add_config_arg, add_json_arg, load_config, print_json, table
from watchdog.influx.tail import ExporterStatus, exporter_status
from watchdog.journal.store import Journal
from watchdog.journal.tsa import EV_TIMESTAMP, check_stamp_rows, stamp_status
from watchdog.timefmt import duration_text, local_iso, local_text, utc_iso


def register(sub: Any) -> None:
    """Add ``status``."""
    parser = sub.add_parser("status", help="exporters: cursor, backlog rows, lag and dead letters")
    add_config_arg(parser)
    add_json_arg(parser)
    parser.set_defaults(handler=handle)


def status_json(s: ExporterStatus, configured: set[str], now_ns: int, config: Any) -> dict[str, Any]:
    """The stable JSON shape of one exporter (documented in the README)."""
    return {
        "name": s.name,
        "configured": s.name in configured,
        "cursor": s.cursor,
        "updated_ns": s.updated_ns,
        "updated": utc_iso(s.updated_ns),
        "updated_local": local_iso(s.updated_ns, config.zone),
        "backlog_rows": s.backlog.rows,
        "oldest_unexported_ns": s.backlog.oldest_ts_ns,
        "lag_s": round(s.backlog.lag_s(now_ns), 3),
        "dead_letters": s.dead_letters,
    }


def handle(args: argparse.Namespace) -> int:
    """Read the journal's cursors and print them."""
    config = load_config(args)
    from watchdog.collective.share import shared_exporter_name  # the InfluxDB client: only when asked
    from watchdog.influx.exporter import exporter_name

    configured = {exporter_name(config.model.influxdb)} if config.model.influxdb is not None else set()
    share = config.agent.share
    if share is not None and share.influxdb is not None:  # the advocate's copy (watchdog.collective.share)
        configured.add(shared_exporter_name(share.influxdb))
    now = time.time_ns()
    tsas = [t.label for t in config.model.timestamp.tsas]
    with Journal.open(config.journal_path, create=False, readonly=True) as journal:
        statuses = exporter_status(journal, sorted(configured))
        stamps = stamp_status(journal.conn, tsas)  # issue 17: trusted timestamps and their queue
        newest = {  # each TSA's newest token, checked here (a few ms each); verify --journal checks them all
            str(tsa): int(seq)
            for tsa, seq in journal.conn.execute(
                "SELECT json_extract(data, '$.tsa'), max(seq) FROM events WHERE type = ? GROUP BY 1", (EV_TIMESTAMP,)
            )
        }
        checks = {c.seq: c for c in check_stamp_rows(journal.conn, journal.journal_id, list(newest.values()))}
        for row in stamps:
            check = checks.get(newest.get(row["tsa"], -1))
            row["newest_verifies"] = None if check is None else check.problem is None
            row["newest_problem"] = None if check is None else check.problem
    if args.json:
        print_json(
            {
                "agent": config.agent.id,
                "journal": str(config.journal_path),
                "generated_ns": now,
                "exporters": [status_json(s, configured, now, config) for s in statuses],
                "timestamps": stamps,
            }
        )
        return EXIT_OK
    if stamps:
        _print_stamps(stamps, config)
    if not statuses:
        print("no exporters: add an influxdb section to the config to copy the journal to InfluxDB")
        return EXIT_OK
    rows = []
    for s in statuses:
        rows.append(
            [
                s.name + ("" if s.name in configured else " (not in the config)"),
                s.cursor,
                s.backlog.rows,
                duration_text(s.backlog.lag_s(now)),
                s.dead_letters,
                "never" if s.updated_ns is None else local_text(s.updated_ns, config.zone),
            ]
        )
    print(table(["exporter", "cursor", "backlog rows", "lag", "dead letters", "last export"], rows))
    return EXIT_OK


def _print_stamps(stamps: list[dict[str, Any]], config: Any) -> None:
    rows = []
    for s in stamps:
        last = s["last_token_ns"]
        queued = (
            "—"
            if not s["queued"]
            else (
                f"{s['queued']} since {local_text(s['queued_since_ns'], config.zone)}, {s['attempts']} tries"
                + (f", last: {s['error']}" if s["error"] else "")
            )
        )
        rows.append(
            [
                s["tsa"] + ("" if s["configured"] else " (not in the config)"),
                "never"
                if last is None
                else f"{local_text(last, config.zone)} (rows up to {s['last_rows_up_to']})"
                + ("" if s["newest_verifies"] is not False else " does not verify: run watchdog verify --journal"),
                queued,
            ]
        )
    print(table(["timestamp authority", "newest token", "queued heads"], rows))
    print()
