"""``watchdog config check``: validate the config without probing anything."""

from __future__ import annotations

import argparse
from typing import Any

from watchdog.cli import EXIT_OK, add_config_arg, add_json_arg, load_config, print_json
from watchdog.config.builtin import BUILTIN_NAME
from watchdog.model import Role
from watchdog.units import format_duration


def register(sub: Any) -> None:
    """Add ``config check``."""
    parser = sub.add_parser("config", help="work with the config file")
    inner = parser.add_subparsers(dest="config_command", metavar="SUBCOMMAND", required=True)
    check = inner.add_parser("check", help="validate the config without probing (exit 2 if bad)")
    add_config_arg(check)
    add_json_arg(check)
    check.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    """Validate and summarise."""
    config = load_config(args)
    if args.json:
        print_json(
            {
                "ok": True,
                "path": str(config.path or BUILTIN_NAME),
                "sha256": config.sha256,
                "agent": config.agent.id,
                "providers": [p.id for p in config.providers],
                "targets": [t.key for t in config.targets],
                "quorum": config.quorum,
                "warnings": list(config.warnings),
            }
        )
        return EXIT_OK
    print(f"{config.path or BUILTIN_NAME}: OK")
    print(f"  agent {config.agent.id}, zone {config.agent.timezone}, journal {config.journal_path}")
    lan, net = config.controls(Role.LAN), config.controls(Role.INTERNET)
    print(f"  controls: {len(lan)} LAN, {len(net)} internet (quorum {config.quorum})")
    for provider in config.providers:
        targets = config.targets_of(provider.id)
        count = f"{len(targets)} target" + ("" if len(targets) == 1 else "s")
        print(f"  provider {provider.id} (kind {provider.kind.value}): {count}")
    for target in config.targets:
        print(
            f"    {target.key:<28} {target.kind:<5} every {format_duration(target.interval_s):<5} "
            f"timeout {format_duration(target.timeout_s):<6} {target.address}"
        )
    return EXIT_OK
