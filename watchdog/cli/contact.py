"""``watchdog contact add|list``: the customer's own log of calls, tickets, chats and visits."""

from __future__ import annotations

import argparse
import time
from typing import Any

from watchdog.cli import (
    EXIT_CONFIG,
    EXIT_OK,
    add_config_arg,
    add_json_arg,
    load_config,
    print_json,
    provider_of,
    require_owner,
    table,
)
from watchdog.journal.contacts import CHANNELS, add_contact, list_contacts
from watchdog.journal.store import Journal
from watchdog.timefmt import local_iso, local_text, parse_time, utc_iso
from watchdog.units import parse_duration


def register(sub: Any) -> None:
    """Add ``contact add`` and ``contact list``."""
    parser = sub.add_parser("contact", help="the contact log: your calls, tickets, chats with a provider")
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    add = actions.add_parser("add", help="record a contact (chained into the journal at once)")
    add_config_arg(add)
    add.add_argument("--provider", metavar="P", required=True, help="the provider's id")
    add.add_argument("--channel", required=True, choices=CHANNELS, help="how you reached them")
    add.add_argument("--ref", metavar="R", default="", help="their ticket, call or chat reference")
    add.add_argument(
        "--at", metavar="T", help="when it happened (default now): 2026-11-20T10:05 in the provider's zone, ...Z, 2h"
    )
    add.add_argument("--note", metavar="TEXT", required=True, help="what was said or asked")
    add.add_argument("--direction", choices=["in", "out"], default="", help="out: you contacted them; in: they did")
    add.add_argument("--duration", metavar="D", help="how long the call or chat lasted: 40s, 5m")
    add.add_argument("--promised", metavar="TEXT", default="", help='what they promised, e.g. "72h" to repair')
    add.add_argument(
        "--no-ref", action="store_true", help="you asked for a request number and none was given (a letter says so)"
    )
    add_json_arg(add)
    add.set_defaults(handler=handle_add)
    ls = actions.add_parser("list", help="list recorded contacts")
    add_config_arg(ls)
    ls.add_argument("--provider", metavar="P", help="only this provider")
    ls.add_argument("--since", metavar="T", help="contacts from this time on")
    ls.add_argument("--until", metavar="T", help="contacts before this time")
    add_json_arg(ls)
    ls.set_defaults(handler=handle_list)
    parser.set_defaults(handler=lambda _args: (parser.print_help(), EXIT_CONFIG)[1])


def handle_add(args: argparse.Namespace) -> int:
    """Validate, write, seal, confirm."""
    config = load_config(args)
    provider = provider_of(config, args.provider)
    zone = config.provider_zone(provider.id)
    now = time.time_ns()
    try:
        at = parse_time(args.at, zone, now) if args.at else now
        duration = parse_duration(args.duration) if args.duration else None
        require_owner(config.journal_path)
        with Journal.open(config.journal_path) as journal:
            contact = add_contact(
                journal,
                provider=provider.id,
                channel=args.channel,
                note=args.note,
                ref=args.ref,
                at_ns=at,
                now_ns=now,
                direction=args.direction,
                duration_s=duration,
                promised=args.promised,
                ref_given=False if args.no_ref else None,
            )
            head = journal.head()
    except ValueError as exc:
        print(exc)
        return EXIT_CONFIG
    if args.json:
        print_json({**_contact_json(contact.as_dict(), zone), "head": head.as_dict() if head else None})
    else:
        print(
            f"recorded contact #{contact.seq} with {provider.display_name} ({contact.channel}"
            f"{', ref ' + contact.ref if contact.ref else ''}) at {local_text(contact.at_ns, zone)}; "
            f"chained in block {head.block if head else '-'} {head.hash if head else ''}"
        )
    return EXIT_OK


def _contact_json(data: dict[str, Any], zone: Any) -> dict[str, Any]:
    return {
        **data,
        "at": utc_iso(data["at_ns"]),
        "at_local": local_iso(data["at_ns"], zone),
        "recorded": utc_iso(data["recorded_ns"]),
    }


def handle_list(args: argparse.Namespace) -> int:
    """Print the log (oldest first)."""
    config = load_config(args)
    if args.provider:
        provider_of(config, args.provider)
    zone = config.provider_zone(args.provider) if args.provider else config.zone
    now = time.time_ns()
    try:
        since = parse_time(args.since, zone, now) if args.since else None
        until = parse_time(args.until, zone, now) if args.until else None
    except ValueError as exc:
        print(exc)
        return EXIT_CONFIG
    with Journal.open(config.journal_path, create=False, readonly=True) as journal:
        items = list_contacts(journal, args.provider, since, until)
    if args.json:
        print_json({"timezone": str(zone.key), "contacts": [_contact_json(c.as_dict(), zone) for c in items]})
        return EXIT_OK
    if not items:
        print("no contacts recorded")
        return EXIT_OK
    rows = [[c.seq, local_text(c.at_ns, zone), c.provider, c.channel, c.ref, c.note] for c in items]
    print(table(["#", "when", "provider", "channel", "ref", "note"], rows))
    return EXIT_OK
