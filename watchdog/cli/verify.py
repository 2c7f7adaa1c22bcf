"""``watchdog verify --journal``: check the journal's hash chain and name the first bad row."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

from watchdog.cli import EXIT_CONFIG, EXIT_DOWN, EXIT_OK, add_config_arg, add_json_arg, load_config, print_json
from watchdog.journal.verify import verify_journal


def register(sub: Any) -> None:
    """Add ``verify``."""
    parser = sub.add_parser("verify", help="check an evidence pack or the journal's hash chain (exit 1 if wrong)")
    parser.add_argument("pack", nargs="?", metavar="PACK.zip", help="an evidence pack to check")
    parser.add_argument(
        "--journal",
        nargs="?",
        const="",
        metavar="PATH",
        help="verify a journal (default: the one in the config's data_dir)",
    )
    parser.add_argument("--head", metavar="HASH", help="a chain head held elsewhere that the journal must contain")
    add_config_arg(parser)
    add_json_arg(parser)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    """Verify and report."""
    if args.pack is not None:
        return _pack(args)
    if args.journal is None:
        print("say what to verify: PACK.zip or --journal [PATH]")
        return EXIT_CONFIG
    if args.head is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", args.head):
        print(
            f"--head {args.head!r} is not a chain head hash: 64 hex digits, as `watchdog verify` prints it",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    path = Path(args.journal) if args.journal else load_config(args).journal_path
    verdict = verify_journal(path, expect_head=args.head.lower() if args.head else None)
    if args.json:
        print_json(verdict.as_dict())
    elif verdict.ok:
        head = verdict.head or {}
        print(
            f"{path}: OK — {verdict.rows} rows in {verdict.blocks} blocks verify; "
            f"head block {head.get('block', '-')} {head.get('hash', '-')}"
        )
        if verdict.unsealed:
            print(f"  {verdict.unsealed} newer rows are not sealed yet (the agent seals every minute)")
    else:
        print(f"{path}: FAILED")
        for problem in verdict.problems:
            print(f"  {problem}")
    return EXIT_OK if verdict.ok else EXIT_DOWN


def _pack(args: argparse.Namespace) -> int:
    from watchdog.documents.pack.verify import verify_pack

    verdict = verify_pack(args.pack)
    if args.json:
        print_json(verdict.as_dict())
    elif verdict.ok:
        head = verdict.head or {}
        print(
            f"{args.pack}: OK — {verdict.files} files match manifest.json; {verdict.results} results and "
            f"{verdict.events} events reproduce {verdict.blocks} blocks ending at {head.get('hash', '-')}"
        )
        print("  compare that head with a copy held elsewhere: watchdog verify --journal --head HASH")
        for note in verdict.notes:
            print(f"  {note}")
        if verdict.rebuilt:
            print(f"  rebuilt from the chained rows and config.yaml, identical: {', '.join(verdict.rebuilt)}")
        for bound in verdict.bound:
            print(f"  {bound} (chained): its SLA, fees and contract are bound")
    else:
        print(f"{args.pack}: FAILED")
        for problem in verdict.problems:
            print(f"  {problem}")
    return EXIT_OK if verdict.ok else EXIT_DOWN
