"""``watchdog outages``: outage windows with their bounds and attribution."""

from __future__ import annotations

import argparse
import time
from typing import Any

from watchdog.analysis.outages import analyse, outage_json
from watchdog.cli import EXIT_CONFIG, EXIT_OK, add_config_arg, add_json_arg, load_config, print_json, provider_of, table
from watchdog.journal.integrity import open_checked
from watchdog.model import NS, Role
from watchdog.timefmt import duration_text, local_text, parse_time


def register(sub: Any) -> None:
    """Add ``outages``."""
    parser = sub.add_parser("outages", help="outage windows with bounds and attribution")
    add_config_arg(parser)
    parser.add_argument("--provider", metavar="P", help="only this provider")
    parser.add_argument("--since", metavar="T", help="2026-11-01, 2026-11-01T10:00 (local), ...Z, or 7d (ago)")
    parser.add_argument("--until", metavar="T", help="as --since")
    parser.add_argument("--controls", action="store_true", help="also list outages of the controls")
    parser.add_argument(
        "--degraded", action="store_true", help="list degraded windows (up, but over a quality limit) instead"
    )
    parser.add_argument(
        "--now", metavar="T", help="compute as of this time: how long open outages have lasted (default: now)"
    )
    add_json_arg(parser)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    """Analyse the journal and print."""
    config = load_config(args)
    now = time.time_ns()
    try:
        if args.now:
            now = parse_time(args.now, config.zone, now)
        since = parse_time(args.since, config.zone, now) if args.since else None
        until = parse_time(args.until, config.zone, now) if args.until else None
    except ValueError as exc:
        print(exc)
        return EXIT_CONFIG
    if args.provider:
        provider_of(config, args.provider)
    with open_checked(config.journal_path) as journal:
        analysis = analyse(
            journal,
            provider_kinds={p.id: p.kind for p in config.providers},
            quorum=config.quorum,
            since_ns=since,
            until_ns=until,
            now_ns=now,
        )
    source = analysis.degraded if args.degraded else analysis.outages
    items = [
        a
        for a in source
        if (args.controls or a.role is Role.PROVIDER) and (not args.provider or a.provider == args.provider)
    ]
    if args.json:
        print_json(
            {
                "agent": config.agent.id,
                "timezone": config.agent.timezone,
                "generated_ns": now,
                "since_ns": analysis.since_ns,
                "until_ns": analysis.until_ns,
                ("degraded" if args.degraded else "outages"): [outage_json(a, config, now) for a in items],
            }
        )
        return EXIT_OK
    if not items:
        print("no degraded windows in this window" if args.degraded else "no outages in this window")
        return EXIT_OK
    rows = []
    zone = config.zone
    for a in items:
        o = a.outage
        end = o.end_ns if o.end_ns is not None else now
        rows.append(
            [
                f"{o.target} {o.limit}" if o.limit else o.target,
                local_text(o.start_ns, zone),
                "(open)" if o.is_open else local_text(o.end_ns or 0, zone),
                duration_text((end - o.start_ns) / NS),
                a.attribution.value,
                o.detail,
            ]
        )
    last = "measured" if args.degraded else "first failure"
    print(table(["target", "start", "end", "duration", "attribution", last], rows))
    print()
    for a in items:
        o = a.outage
        lo, hi = o.start_bounds
        print(f"{o.target} from {local_text(o.start_ns, zone)}:")
        print(
            f"  started between {local_text(lo, zone) if lo else 'unknown (no earlier success)'} "
            f"and {local_text(hi, zone)}"
        )
        if o.end_bounds:
            print(f"  ended between {local_text(o.end_bounds[0], zone)} and {local_text(o.end_bounds[1], zone)}")
        for s in a.segments:
            print(
                f"  {local_text(s.start_ns, zone)} – {local_text(s.end_ns, zone)}  {s.attribution.value:<14} {s.reason}"
            )
    return EXIT_OK
