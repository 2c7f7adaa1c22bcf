"""``watchdog report``: the SLA report of one provider over one period (text, JSON or HTML)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from watchdog.analysis.sla import current_period, parse_period
from watchdog.cli import (
    EXIT_CONFIG,
    EXIT_DOWN,
    EXIT_OK,
    add_config_arg,
    add_json_arg,
    load_config,
    print_json,
    provider_of,
)
from watchdog.documents.report import Lang, build_report, render, report_json
from watchdog.journal.integrity import open_checked
from watchdog.journal.prune import pruned_archives
from watchdog.timefmt import parse_time


def register(sub: Any) -> None:
    """Add ``report``."""
    parser = sub.add_parser("report", help="SLA report: availability, downtime, incidents, coverage, breach, clock")
    add_config_arg(parser)
    parser.add_argument("--provider", metavar="P", required=True, help="the provider's id")
    parser.add_argument(
        "--period",
        metavar="PERIOD",
        help="2026-11 (month), 2026-W47, 2026-Q4, 2026, 2026-11-01..2026-11-15 (default: the SLA's current period)",
    )
    parser.add_argument("--format", choices=("text", "json", "html"), default="text", help="output format")
    parser.add_argument(
        "--lang", choices=["ru", "en"], help="language of the text and HTML (default: agent.language; JSON has none)"
    )
    add_json_arg(parser)
    parser.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of the terminal")
    parser.add_argument("--now", metavar="T", help="compute as of this time (default: now)")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    """Build and print (or write) the report."""
    config = load_config(args)
    provider = provider_of(config, args.provider)
    zone = config.provider_zone(provider.id)
    now = time.time_ns()
    try:
        if args.now:
            now = parse_time(args.now, zone, now)
        period = args.period or current_period(provider.sla.period, now, zone).label
        with open_checked(config.journal_path) as journal:
            bounds = parse_period(period, zone)
            archived = pruned_archives(journal.conn, bounds.start_ns, bounds.end_ns)  # issue 17: pruned results
            if archived:
                mine = [a for a in archived if Path(a).name == f"{provider.id}.zip"] or archived
                print(
                    f"the results of {bounds.label} were pruned from the journal after archiving: the report of that "
                    f"period is the archived pack's summary.html / summary.pdf: {', '.join(mine)}",
                    file=sys.stderr,
                )
                return EXIT_DOWN
            report = build_report(journal, config, provider.id, period, now)
    except ValueError as exc:
        print(exc)
        return EXIT_CONFIG
    fmt = "json" if args.json else args.format
    if fmt == "json" and not args.output:
        print_json(report_json(report))
        return EXIT_OK
    if fmt == "json":
        import json

        text = json.dumps(report_json(report), ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    else:
        lang: Lang = args.lang or config.agent.language
        text = render(report, "report.html.j2" if fmt == "html" else "report.txt.j2", lang=lang)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.output}")
    else:
        print(text, end="")
    return EXIT_OK
