"""``watchdog collective``: windows where at least K households' agents saw the provider's fault at once.

From the shared InfluxDB (``--influx``: the ``timeline`` measurement every agent exports) or from a folder
of evidence packs (``--packs DIR``: each verified first; rejected packs are listed with why).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from watchdog.analysis.sla import parse_period
from watchdog.cli import EXIT_CONFIG, EXIT_DOWN, EXIT_OK, add_config_arg, load_config, print_json
from watchdog.timefmt import parse_time

_NAME = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}"  # provider names as the config allows them


def register(sub: Any) -> None:
    """Add ``collective``."""
    parser = sub.add_parser(
        "collective", help="windows confirmed by K or more households' agents (from InfluxDB or evidence packs)"
    )
    add_config_arg(parser)
    parser.add_argument("--provider", metavar="P", required=True, help="the provider's name as the agents share it")
    parser.add_argument(
        "--alias",
        metavar="NAME",
        action="append",
        default=[],
        help="another name households gave the same provider (repeat for more); names match case-insensitively",
    )
    parser.add_argument(
        "--period", metavar="PERIOD", required=True, help="2026-11, 2026-W47, 2026-Q4, 2026, 2026-11-01..2026-11-15"
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--influx", action="store_true", help="read the shared InfluxDB (the config's influxdb section)"
    )
    source.add_argument("--packs", metavar="DIR", help="read a folder of evidence packs (*.zip), each verified first")
    parser.add_argument("-k", type=int, default=2, metavar="K", help="agents that must confirm at once (default 2)")
    parser.add_argument(
        "--where",
        metavar="TAG=VALUE",
        action="append",
        default=[],
        help="only agents with this tag, e.g. region=msk or asn=AS12389 (repeat: all must hold)",
    )
    parser.add_argument("--tz", metavar="ZONE", help="time zone for the period and what people read (default: agent's)")
    parser.add_argument("--now", metavar="T", help="compute as of this time (default: now)")
    parser.add_argument("--format", choices=("text", "json", "csv", "html"), default="text", help="output format")
    parser.add_argument(
        "--lang",
        choices=("en", "ru"),
        help="language of the text, HTML and chart (default: the config's agent.language; JSON and CSV are the same)",
    )
    parser.add_argument("--json", action="store_true", help="same as --format json")
    parser.add_argument("--csv", action="store_true", help="same as --format csv (-o also writes FILE-agents.csv)")
    parser.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of the terminal")
    parser.add_argument("--chart", metavar="PNG", help="also write the timeline chart to this file")
    parser.add_argument(
        "--jobs", type=int, default=min(4, os.cpu_count() or 1), metavar="N", help="packs verified in parallel"
    )
    parser.set_defaults(handler=handle)


def _usage(message: str) -> int:
    print(f"watchdog collective: {message}", file=sys.stderr)
    return EXIT_CONFIG


def handle(args: argparse.Namespace) -> int:
    """Gather the agents' timelines, compute the windows, print or write the report."""
    from watchdog.collective.core import collect, combine
    from watchdog.collective.render import chart_png, collective_json, render_csv, render_html, render_text

    names = [args.provider, *args.alias]
    for name in names:
        if not re.fullmatch(_NAME, name):
            return _usage(f"{name!r} is not a provider name (letters, digits, '_', '.', '-')")
    if args.k < 1:
        return _usage("-k must be at least 1")
    where: dict[str, str] = {}
    for item in args.where:
        key, sep, value = item.partition("=")
        if not sep or not key:
            return _usage(f"--where {item!r}: expected TAG=VALUE, e.g. region=msk")
        where[key] = value
    config = load_config(args)
    try:
        zone = ZoneInfo(args.tz) if args.tz else config.zone
    except (ZoneInfoNotFoundError, ValueError):
        return _usage(f"unknown time zone {args.tz!r} (use a tz database name like Europe/Moscow)")
    now = time.time_ns()
    try:
        if args.now:
            now = parse_time(args.now, zone, now)
        period = parse_period(args.period, zone)
    except ValueError as exc:
        return _usage(str(exc))
    window = (period.start_ns, min(period.end_ns, now))
    if window[1] <= window[0]:
        return _usage(f"the period {period.label} has not started yet")
    rejected: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    problems: list[str] = []
    if args.packs:
        from watchdog.collective.packs import load_folder

        folder = Path(args.packs)
        if not folder.is_dir():
            return _usage(f"--packs {folder}: not a folder")
        outcomes = load_folder(folder, names, window, where=where, jobs=max(1, args.jobs))
        timelines = [o.timeline for o in outcomes if o.timeline is not None]
        rejected = [{"path": Path(o.path).name, "reasons": list(o.reasons)} for o in outcomes if o.status == "rejected"]
        skipped = [
            {"path": Path(o.path).name, "agent": o.agent, "provider": o.provider, "reason": "; ".join(o.reasons)}
            for o in outcomes
            if o.status == "skipped"
        ]
        found = sorted({t.provider for t in timelines})
        source: dict[str, Any] = {
            "kind": "packs",
            "folder": str(folder),
            "packs": len(outcomes),
            "used": len(timelines),
            "rejected": len(rejected),
            "skipped": len(skipped),
        }
    else:
        from watchdog.collective.influx import read_timelines

        settings = config.model.influxdb
        if settings is None and config.agent.share is not None:
            settings = config.agent.share.influxdb
        if settings is None:
            return _usage("--influx needs an influxdb section in the config (url, and database or bucket)")
        read = asyncio.run(read_timelines(settings, names, window, where=where))
        timelines, problems = read.timelines, read.problems
        found = sorted({t.provider for t in timelines})
        source = {
            "kind": "influxdb",
            "url": settings.url,
            "database": settings.bucket or settings.database,
            "server": read.server,
            "points": read.points,
            "providers_in_store": read.known,
        }
    report = collect(combine(timelines), window, args.k, provider=args.provider, names=found)
    doc = collective_json(
        report,
        zone=zone,
        period={"label": period.label, "start_ns": period.start_ns, "end_ns": period.end_ns},
        asked=names,
        where=where,
        source=source,
        generated_ns=now,
        rejected=rejected,
        skipped=skipped,
        problems=problems,
    )
    lang = args.lang or config.agent.language
    title = f"{args.provider}: {period.label} ({zone.key}), K = {args.k}"
    if args.chart:
        Path(args.chart).write_bytes(chart_png(report, zone, title, lang))
    fmt = "json" if args.json else "csv" if args.csv else args.format
    if fmt == "json" and not args.output:
        print_json(doc)
        return _exit(source)
    if fmt == "json":
        import json

        text = json.dumps(doc, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    elif fmt == "csv":
        text, agents = render_csv(doc)
        if args.output:
            out = Path(args.output)
            extra = out.with_name(f"{out.stem}-agents{out.suffix or '.csv'}")
            extra.write_text(agents, encoding="utf-8", newline="")
            print(f"wrote {extra}")
    elif fmt == "html":
        text = render_html(doc, chart_png(report, zone, title, lang), lang)
    else:
        text = render_text(doc, lang)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8", newline="")
        print(f"wrote {args.output}")
    else:
        print(text, end="" if text.endswith("\n") else "\n")
    return _exit(source)


def _exit(source: dict[str, Any]) -> int:
    """0 when the report stands on at least one good pack; 1 when every pack in the folder was rejected."""
    if source.get("kind") == "packs" and source["packs"] and source["rejected"] == source["packs"]:
        print("watchdog collective: every pack was rejected (see the list above)", file=sys.stderr)
        return EXIT_DOWN
    return EXIT_OK
