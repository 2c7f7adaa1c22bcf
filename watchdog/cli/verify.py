"""``watchdog verify --journal``: check the journal's hash chain and name the first bad row."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from watchdog.cli import EXIT_CONFIG, EXIT_DOWN, EXIT_OK, add_config_arg, add_json_arg, load_config, print_json
from watchdog.journal.tsa import StampCheck, TokenError, load_ca
from watchdog.journal.verify import verify_journal

if TYPE_CHECKING:
    from cryptography import x509


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
    parser.add_argument(
        "--tsa-ca",
        action="append",
        metavar="PEM",
        help="a TSA's CA certificate that timestamp tokens must chain to (repeatable; default: the CA the "
        "journal or pack carries, whose fingerprint verify prints)",
    )
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
    pinned = _pinned(args.tsa_ca)
    if isinstance(pinned, int):
        return pinned
    verdict = verify_journal(path, expect_head=args.head.lower() if args.head else None, tsa_roots=pinned)
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
        for line in stamp_lines(verdict.stamps, pinned is not None):
            print(f"  {line}")
    else:
        print(f"{path}: FAILED")
        for problem in verdict.problems:
            print(f"  {problem}")
    return EXIT_OK if verdict.ok else EXIT_DOWN


def _pinned(files: list[str] | None) -> list[x509.Certificate] | int | None:
    """The certificates of every ``--tsa-ca`` file (None when none given; an exit code when one is bad)."""
    if not files:
        return None
    certs: list[x509.Certificate] = []
    for name in files:
        try:
            certs.extend(load_ca(Path(name).read_bytes(), f"--tsa-ca {name}"))
        except OSError as exc:
            print(f"--tsa-ca {name}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_CONFIG
        except TokenError as exc:
            print(str(exc), file=sys.stderr)
            return EXIT_CONFIG
    return certs


def stamp_lines(stamps: Sequence[StampCheck], pinned: bool) -> list[str]:
    """What verify says about the timestamp tokens: the newest claim per TSA, and how the TSA was trusted."""
    good = [s for s in stamps if s.problem is None]
    if not good:
        return []
    lines = [
        "1 trusted timestamp token verifies offline against the head it names:"
        if len(good) == 1
        else f"{len(good)} trusted timestamp tokens verify offline against the heads they name:"
    ]
    newest: dict[str, StampCheck] = {}
    for stamp in good:
        if stamp.tsa not in newest or stamp.last_seq >= newest[stamp.tsa].last_seq:
            newest[stamp.tsa] = stamp
    for tsa in sorted(newest):
        lines.append(newest[tsa].claim())
    if not pinned:
        cas = sorted({f"{s.tsa} {s.ca_sha256}" for s in good})
        lines.append(
            "checked against the TSA CA certificate the journal carries (SHA-256 " + "; ".join(cas) + "): compare "
            "it with the TSA's published certificate, or pin it with --tsa-ca"
        )
    return lines


def _pack(args: argparse.Namespace) -> int:
    from watchdog.documents.pack.verify import verify_pack

    pinned = _pinned(args.tsa_ca)
    if isinstance(pinned, int):
        return pinned
    verdict = verify_pack(args.pack, tsa_roots=pinned)
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
        for line in stamp_lines(verdict.stamps, pinned is not None):
            print(f"  {line}")
    else:
        print(f"{args.pack}: FAILED")
        for problem in verdict.problems:
            print(f"  {problem}")
    return EXIT_OK if verdict.ok else EXIT_DOWN
