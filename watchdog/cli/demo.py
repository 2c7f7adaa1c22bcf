"""``watchdog demo``: fake services on loopback, the real agent, two scripted outages, then report, pack, letters."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from watchdog.cli import EXIT_CONFIG, EXIT_DOWN, EXIT_OK, setup_logging
from watchdog.units import parse_duration


def register(sub: Any) -> None:
    """Add ``demo``."""
    parser = sub.add_parser(
        "demo",
        help="a one-minute demonstration on loopback: fake services, two outages, report, evidence pack, letters",
    )
    parser.add_argument(
        "-o", "--output", metavar="DIR", default="demo-out", help="where to write everything (default: ./demo-out)"
    )
    parser.add_argument(
        "--interval", default="1s", help="the agent's check interval; the script scales with it (default: 1s)"
    )
    parser.add_argument(
        "--lang",
        choices=["en", "ru"],
        default="en",
        help="the language of what the demo says, the status page, the report and the pack's summary (default: en)",
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    """Run the demo; exit 1 if the pack or the journal it made does not verify."""
    from watchdog.demo.scenario import run_demo

    try:
        interval = parse_duration(args.interval)
    except ValueError as exc:
        print(f"--interval: {exc}")
        return EXIT_CONFIG
    if not 1.0 <= interval <= 5.0:
        print("--interval: use 1s to 5s (the script lasts 34 intervals)")
        return EXIT_CONFIG
    setup_logging("ERROR")  # the demo tells what the agent does itself; errors still show
    result = asyncio.run(run_demo(Path(args.output), interval_s=interval, language=args.lang))
    return EXIT_OK if result.pack_ok and result.journal_ok else EXIT_DOWN
