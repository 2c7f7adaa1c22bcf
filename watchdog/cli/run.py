"""``watchdog run``: the agent."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from watchdog.cli import EXIT_CONFIG, add_config_arg, guard_logs, load_config_found, require_owner, setup_logging
from watchdog.config.builtin import describe
from watchdog.units import parse_duration


def register(sub: Any) -> None:
    """Add ``run``."""
    parser = sub.add_parser("run", help="run the agent: probe, detect, journal, ship, notify, serve")
    add_config_arg(parser)
    parser.add_argument("--for", dest="duration", metavar="DURATION", help="stop after this long (e.g. 10m)")
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING, ERROR (default INFO)")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    """Load the config and run until stopped."""
    from watchdog.outputs import run_agent

    setup_logging(args.log_level)
    duration = None
    if args.duration:
        try:
            duration = parse_duration(args.duration)
        except ValueError as exc:
            print(f"--for: {exc}")
            return EXIT_CONFIG
    config, found = load_config_found(args)
    require_owner(config.journal_path)
    guard_logs(config)
    hint: list[str] = []
    if found is not None:  # the built-in default: say what it found, and after the first round what to do next
        print("\n".join(describe(found)))
        print(f"  journal: {config.journal_path}; stop with Ctrl-C", flush=True)
        hint = HINT
    return asyncio.run(run_agent(config, duration_s=duration, console=hint, tune_gc=True))


HINT = [
    "To watch a broker or a bank as well, write a watchdog.yaml that adds it to your line:",
    '  watchdog init --provider-kind broker --name "My broker" --target HOST:PORT  (or https://URL)',
    "  or run `watchdog init` in a terminal to be asked; then start ./run.sh again.",
]
