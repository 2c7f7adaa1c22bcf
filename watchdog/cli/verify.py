"""``watchdog verify --journal``: check the journal's hash chain and name the first bad row."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from watchdog.cli import EXIT_CONFIG, EXIT_DOWN, EXIT_OK, add_config_arg, add_json_arg, load_config, print_json
from watchdog.verify import verify_journal


def register(sub: Any) -> None:
    """Add ``verify``."""
    parser = sub.add_parser("verify", help="check the journal's hash chain (exit 1 if anything is wrong)")
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
    if args.journal is None:
        print("say what to verify: --journal [PATH]")
        return EXIT_CONFIG
    path = Path(args.journal) if args.journal else load_config(args).journal_path
    verdict = verify_journal(path, expect_head=args.head)
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
