"""``watchdog balance set|show``: a prepaid account's balance, chained into the journal, and when it runs out."""

from __future__ import annotations

import argparse
import time
from typing import Any

from watchdog.analysis.balance import Projection, project
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
from watchdog.config import Config, ProviderSection
from watchdog.journal.balance import add_balance, latest_balances, parse_amount
from watchdog.journal.store import Journal
from watchdog.notify.words import local_date
from watchdog.timefmt import local_text, parse_time, utc_iso


def register(sub: Any) -> None:
    """Add ``balance set`` and ``balance show``."""
    parser = sub.add_parser("balance", help="a prepaid account's balance and when it runs out")
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    put = actions.add_parser("set", help="record the balance your account page shows (chained into the journal)")
    add_config_arg(put)
    put.add_argument("provider", metavar="PROVIDER", help="the provider's id")
    put.add_argument("amount", metavar="AMOUNT", help="the balance: 450 or 450.50 (negative: a debt)")
    put.add_argument("--at", metavar="T", help="when it was shown (default now): 2026-12-01T10:05, ...Z, 2h")
    put.add_argument("--note", metavar="TEXT", default="", help="where you read it, what you paid")
    add_json_arg(put)
    put.set_defaults(handler=handle_set)
    show = actions.add_parser("show", help="the last balance of each account and its run-out day")
    add_config_arg(show)
    show.add_argument("--provider", metavar="P", help="only this provider")
    add_json_arg(show)
    show.set_defaults(handler=handle_show)
    parser.set_defaults(handler=lambda _args: (parser.print_help(), EXIT_CONFIG)[1])


def _projection_json(p: Projection, provider: ProviderSection, config: Config, now_ns: int) -> dict[str, Any]:
    account = provider.account
    assert account is not None
    today = local_date(now_ns, config.provider_zone(provider.id))
    return {
        "provider": provider.id,
        "balance": p.balance.as_dict() | {"at": utc_iso(p.balance.at_ns)},
        "tariff": account.tariff,
        "per": account.per,
        "currency": account.currency,
        "per_day": round(p.per_day, 4),
        "days": p.days,
        "run_out": p.run_out.isoformat(),
        "days_left": p.days_left(today),
        "warn_days": account.warn_days,
    }


def _sentence(p: Projection, provider: ProviderSection, config: Config, now_ns: int) -> str:
    account = provider.account
    assert account is not None
    today = local_date(now_ns, config.provider_zone(provider.id))
    left = p.days_left(today)
    money = f"{p.balance.amount} {p.balance.currency}"
    if p.balance.amount <= 0:
        when = "is used up: the service may be cut now"
    elif left > 0:
        when = f"runs out on {p.run_out.isoformat()} (in {left} day{'s' if left != 1 else ''})"
    else:
        when = "runs out today" if left == 0 else f"ran out on {p.run_out.isoformat()}"
    return f"{provider.display_name}: balance {money} at {account.tariff:g} {account.currency}/{account.per} {when}"


def handle_set(args: argparse.Namespace) -> int:
    """Validate, write, seal, say when it runs out."""
    config = load_config(args)
    provider = provider_of(config, args.provider)
    zone = config.provider_zone(provider.id)
    now = time.time_ns()
    currency = provider.account.currency if provider.account else "RUB"
    try:
        amount = parse_amount(args.amount)
        at = parse_time(args.at, zone, now) if args.at else now
        require_owner(config.journal_path)
        with Journal.open(config.journal_path) as journal:
            balance = add_balance(
                journal, provider=provider.id, amount=amount, currency=currency, at_ns=at, now_ns=now, note=args.note
            )
            head = journal.head()
    except ValueError as exc:
        print(exc)
        return EXIT_CONFIG
    account = provider.account
    projection = project(balance, account, zone) if account is not None and account.tariff is not None else None
    if args.json:
        print_json(
            {
                "balance": balance.as_dict() | {"at": utc_iso(balance.at_ns)},
                "projection": _projection_json(projection, provider, config, now) if projection else None,
                "head": head.as_dict() if head else None,
            }
        )
        return EXIT_OK
    chained = f"chained in block {head.block} {head.hash}" if head else "chained"
    print(
        f"recorded balance #{balance.seq} of {provider.display_name}: {balance.amount} {balance.currency} "
        f"at {local_text(balance.at_ns, zone)}; {chained}"
    )
    if projection is not None:
        print(_sentence(projection, provider, config, now))
    else:
        print(f"no account: {{tariff: ...}} for {provider.id} in the config, so no run-out day and no warnings")
    return EXIT_OK


def handle_show(args: argparse.Namespace) -> int:
    """The latest balance per provider and its projection."""
    config = load_config(args)
    providers = [provider_of(config, args.provider)] if args.provider else list(config.providers)
    now = time.time_ns()
    with Journal.open(config.journal_path, create=False, readonly=True) as journal:
        latest = latest_balances(journal)
    items = []
    for provider in providers:
        b = latest.get(provider.id)
        if b is None:
            continue
        account = provider.account
        zone = config.provider_zone(provider.id)
        p = project(b, account, zone) if account is not None and account.tariff is not None else None
        items.append((provider, b, p))
    if args.json:
        print_json(
            {
                "balances": [
                    _projection_json(p, provider, config, now)
                    if p
                    else {"provider": provider.id, "balance": b.as_dict() | {"at": utc_iso(b.at_ns)}}
                    for provider, b, p in items
                ]
            }
        )
        return EXIT_OK
    if not items:
        print("no balance recorded (watchdog balance set PROVIDER AMOUNT)")
        return EXIT_OK
    rows = []
    for provider, b, p in items:
        zone = config.provider_zone(provider.id)
        left = p.days_left(local_date(now, zone)) if p else None
        rows.append(
            [
                provider.id,
                f"{b.amount} {b.currency}",
                local_text(b.at_ns, zone),
                b.source,
                p.run_out.isoformat() if p else "-",
                "-" if left is None else str(left),
            ]
        )
    print(table(["provider", "balance", "as of", "source", "runs out", "days left"], rows))
    return EXIT_OK
