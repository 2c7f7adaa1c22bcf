"""``watchdog complaint``: a complaint draft (Markdown or HTML) for one provider and period, from the journal."""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import sys
import time
from pathlib import Path
from typing import Any

from watchdog.cli import EXIT_CONFIG, EXIT_OK, add_config_arg, load_config
from watchdog.journal import Journal
from watchdog.letter import LetterRequest, build_letter, render, write
from watchdog.sla import parse_period
from watchdog.timefmt import to_datetime


def register(sub: Any) -> None:
    """Add ``complaint``."""
    parser = sub.add_parser("complaint", help="draft a complaint letter (Markdown or HTML) with the compensation due")
    add_config_arg(parser)
    parser.add_argument("--provider", metavar="P", required=True, help="the provider's id")
    parser.add_argument("--period", metavar="PERIOD", required=True, help="2026-11, 2026-Q4, 2026-11-01..2026-11-15")
    parser.add_argument("--lang", choices=["ru", "en"], help="the letter's language (default: agent.language)")
    parser.add_argument("-o", "--output", metavar="FILE", help="letter.md or letter.html (default: Markdown on stdout)")
    parser.add_argument(
        "--date", metavar="YYYY-MM-DD", help="the letter's date (default: today in the provider's zone)"
    )
    parser.add_argument(
        "--attach",
        metavar="FILE",
        action="append",
        default=[],
        help="a file to list under attachments with its SHA-256",
    )
    parser.add_argument(
        "--include-unverified", action="store_true", help="also apply rules marked unverified (you answer for them)"
    )
    parser.set_defaults(handler=handle)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def handle(args: argparse.Namespace) -> int:
    """Build the letter from the journal and write it."""
    config = load_config(args)
    try:
        provider = config.provider(args.provider)
    except KeyError as exc:
        print(exc.args[0], file=sys.stderr)
        return EXIT_CONFIG
    zone = config.provider_zone(provider.id)
    try:
        parse_period(args.period, zone)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return EXIT_CONFIG
    now = time.time_ns()
    try:
        sent_on = dt.date.fromisoformat(args.date) if args.date else to_datetime(now, zone).date()
    except ValueError:
        print(f"cannot read --date {args.date!r}: use YYYY-MM-DD", file=sys.stderr)
        return EXIT_CONFIG
    output = Path(args.output) if args.output else None
    if output is not None and output.suffix.lower() not in (".md", ".html", ".htm"):
        print(f"{output}: write .md or .html (PDF comes with the evidence pack)", file=sys.stderr)
        return EXIT_CONFIG
    attachments = []
    for name in args.attach:
        path = Path(name)
        if not path.is_file():
            print(f"--attach {name}: no such file", file=sys.stderr)
            return EXIT_CONFIG
        attachments.append((path.name, _sha256(path)))
    request = LetterRequest(
        provider_id=provider.id,
        period=args.period,
        lang=args.lang or config.agent.language,
        sent_on=sent_on,
        attachments=tuple(attachments),
        include_unverified=args.include_unverified,
    )
    with Journal.open(config.journal_path, create=False, readonly=True) as journal:
        letter = build_letter(config, journal, request, now_ns=now)
    for skipped in letter.context["notes"]["skipped"]:
        print(f"note: {skipped['id']} not applied: {skipped['reason']}", file=sys.stderr)
    if output is None:
        sys.stdout.write(render(letter, "md"))
        return EXIT_OK
    write(letter, output)
    totals = ", ".join(f"{m.amount} {m.currency}" for m in letter.assessment.totals(optional=False).values())
    print(f"wrote {output} ({letter.template}; claimed: {totals or 'nothing'})")
    return EXIT_OK
