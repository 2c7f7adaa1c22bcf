"""``watchdog evidence``: the evidence pack of one provider over one period (a zip; check it with verify)."""

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
    require_owner,
)
from watchdog.documents.report import Lang
from watchdog.journal.integrity import open_checked
from watchdog.journal.store import Journal
from watchdog.timefmt import parse_time


def register(sub: Any) -> None:
    """Add ``evidence``."""
    parser = sub.add_parser("evidence", help="the evidence pack: summary, raw results, chart, manifest (a zip)")
    add_config_arg(parser)
    parser.add_argument("--provider", metavar="P", required=True, help="the provider's id")
    parser.add_argument(
        "--period", metavar="PERIOD", help="2026-11, 2026-W47, 2026-Q4, 2026-11-01..2026-11-15 (default: current)"
    )
    parser.add_argument("-o", "--output", metavar="FILE", required=True, help="where to write the zip")
    parser.add_argument("--now", metavar="T", help="compute as of this time (default: now, or the period's end)")
    parser.add_argument(
        "--no-seal", action="store_true", help="do not seal the journal's newest rows first (read-only journals)"
    )
    parser.add_argument(
        "--share",
        action="store_true",
        help="a pack for a consumer advocate: no contract, contact log or personal fields (see agent.share)",
    )
    parser.add_argument(
        "--lang", choices=["ru", "en"], help="the language of summary.html and summary.pdf (default: agent.language)"
    )
    add_json_arg(parser)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    """Seal what the agent has written so far, then build and write the pack."""
    from watchdog.documents.pack.build import build_pack  # matplotlib and fpdf2 load only for this command

    config = load_config(args)
    provider = provider_of(config, args.provider)
    zone = config.provider_zone(provider.id)
    now = time.time_ns()
    out = Path(args.output)
    try:
        if args.now:
            now = parse_time(args.now, zone, now)
        period = args.period or current_period(provider.sla.period, now, zone).label
        bounds = parse_period(period, zone)
        with Journal.open(config.journal_path, create=False, readonly=True) as journal:
            keys = [t.key for t in config.targets if t.provider == provider.id]
            end = min(bounds.end_ns, now)
            found = next(journal.iter_results(bounds.start_ns, end, keys, batch=1), None) is not None
            found = found or bool(journal.events(since_ns=bounds.start_ns, until_ns=end))
        if not found:
            print(
                f"the journal holds nothing of {provider.id} in {bounds.label} (no probe results, no events): "
                "no pack written",
                file=sys.stderr,
            )
            return EXIT_DOWN
        if not args.no_seal:
            require_owner(config.journal_path)
        with open_checked(config.journal_path, readonly=args.no_seal) as journal:
            if not args.no_seal:
                journal.seal()  # safe alongside a running agent: one IMMEDIATE transaction
            share = None
            if args.share:
                from watchdog.documents.sharing import shared_identity

                share = shared_identity(config)
            lang: Lang = args.lang or config.agent.language
            info = build_pack(journal, config, provider.id, period, out, now_ns=now, share=share, lang=lang)
    except ValueError as exc:
        print(exc)
        return EXIT_CONFIG
    if args.json:
        print_json(
            {
                "path": str(out),
                "files": info.files,
                "blocks": info.blocks,
                "results": info.results,
                "events": info.events,
                "head": info.head,
                "unsealed_rows_left_out": info.unsealed,
            }
        )
    else:
        print(f"wrote {out}: {info.results} results and {info.events} events in {info.blocks} blocks")
        if info.head:
            print(f"  chain head of the pack: block {info.head['block']} {info.head['hash']}")
        print(f"  check it with: watchdog verify {out}")
    return EXIT_OK
