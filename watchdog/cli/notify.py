"""``watchdog notify test`` and ``watchdog notify outbox``: try the channels, see what is queued."""

from __future__ import annotations

import argparse
import time
from typing import Any

from watchdog.cli import EXIT_CONFIG, EXIT_DOWN, EXIT_OK, add_config_arg, add_json_arg, load_config, print_json, table
from watchdog.config import NOTIFY_CATEGORIES
from watchdog.errors import JournalError
from watchdog.timefmt import local_iso, local_text, utc_iso


def register(sub: Any) -> None:
    """Add ``notify test`` and ``notify outbox``."""
    parser = sub.add_parser("notify", help="notifications: send a test message, show the outbox")
    actions = parser.add_subparsers(dest="notify_action", metavar="ACTION")

    test = actions.add_parser("test", help="send a test message to every channel (exit 1 if any fails)")
    add_config_arg(test)
    add_json_arg(test)
    test.add_argument("--category", choices=NOTIFY_CATEGORIES, help="only the channels this category is routed to")
    test.set_defaults(handler=handle_test)

    outbox = actions.add_parser("outbox", help="notifications queued in the journal, oldest first")
    add_config_arg(outbox)
    add_json_arg(outbox)
    outbox.add_argument("--all", action="store_true", help="delivered ones too (the newest --limit)")
    outbox.add_argument("--limit", type=int, default=50, help="with --all: how many (default 50)")
    outbox.set_defaults(handler=handle_outbox)
    parser.set_defaults(handler=lambda args: (parser.print_help(), EXIT_CONFIG)[1])


def handle_test(args: argparse.Namespace) -> int:
    """Send one test message per channel, directly (not through the outbox), and report each result."""
    from watchdog.notify.channels import SecretFilter, build_channels
    from watchdog.notify.words import Words

    config = load_config(args)
    section = config.model.notify
    channels = build_channels(section)
    scrub = SecretFilter(channels.secrets)
    scrub.install()
    try:
        words = Words(section.language or config.agent.language, config.zone)
        wanted = None if args.category is None else set(channels.routes.get(args.category, []))
        rows: list[dict[str, Any]] = []
        for ch in channels.channels:
            if wanted is not None and ch.name not in wanted:
                continue
            now = time.time_ns()
            message = words.render("test", now, agent=config.agent.id, channel=ch.name)
            attempt = ch.send(message.title, message.body, "info", section.timeout)
            rows.append(
                {
                    "channel": ch.name,
                    "url": ch.privacy_url,
                    "tags": list(ch.tags),
                    "categories": [c for c, names in channels.routes.items() if ch.name in names],
                    "ok": attempt.ok,
                    "elapsed_s": round(attempt.elapsed_s, 3),
                    "error": None
                    if attempt.ok
                    else (f"no answer within {section.timeout:g}s" if attempt.no_answer else "refused or failed"),
                }
            )
    finally:
        channels.close()
        scrub.remove()
    ok = bool(rows) and all(r["ok"] for r in rows)
    if args.json:
        print_json({"ok": ok, "channels": rows, "problems": channels.problems})
    else:
        for problem in channels.problems:
            print(f"problem: {problem}")
        if not rows:
            print("no notification channel configured (notify.urls)")
        else:
            print(
                table(
                    ["channel", "result", "time", "categories", "url"],
                    [
                        [
                            r["channel"],
                            "OK" if r["ok"] else f"FAILED: {r['error']}",
                            f"{r['elapsed_s']:.2f}s",
                            ",".join(r["categories"]) or "-",
                            r["url"],
                        ]
                        for r in rows
                    ],
                )
            )
    return EXIT_OK if ok else EXIT_DOWN


def handle_outbox(args: argparse.Namespace) -> int:
    """List queued (and with ``--all`` delivered) notifications from the journal, read-only."""
    from watchdog.journal.store import Journal
    from watchdog.notify.outbox import read_entries

    config = load_config(args)
    zone = config.zone
    try:
        with Journal.open(config.journal_path, create=False, readonly=True) as journal:
            entries = read_entries(journal.conn, pending_only=not args.all, limit=args.limit if args.all else None)
    except JournalError as exc:
        print(f"error: {exc}")
        return EXIT_DOWN
    rows: list[dict[str, Any]] = [
        {
            "id": e.id,
            "key": e.key,
            "channel": e.channel,
            "category": e.message.category,
            "title": e.message.title,
            "created_ns": e.message.created_ns,
            "created": utc_iso(e.message.created_ns),
            "created_local": local_iso(e.message.created_ns, zone),
            "attempts": e.attempts,
            "last_error": e.last_error,
            "next_try_local": None if e.delivered_ns is not None or not e.attempts else local_iso(e.next_ns, zone),
            "delivered_ns": e.delivered_ns,
            "delivered_local": local_iso(e.delivered_ns, zone),
        }
        for e in entries
    ]
    if args.json:
        print_json({"agent": config.agent.id, "pending": sum(r["delivered_ns"] is None for r in rows), "entries": rows})
        return EXIT_OK
    if not rows:
        print("nothing queued" if not args.all else "the outbox is empty")
        return EXIT_OK
    print(
        table(
            ["key", "channel", "written", "tries", "state"],
            [
                [
                    r["key"],
                    r["channel"],
                    local_text(r["created_ns"], zone, seconds=False),
                    r["attempts"],
                    "delivered " + local_text(r["delivered_ns"], zone, seconds=False)
                    if r["delivered_ns"] is not None
                    else f"queued ({r['last_error'] or 'not tried yet'})",
                ]
                for r in rows
            ],
        )
    )
    return EXIT_OK
