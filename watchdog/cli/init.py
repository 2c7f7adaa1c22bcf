"""``watchdog init``: write a commented ``watchdog.yaml`` (mode 600): your line, plus a broker or a bank.

The line is what the built-in default watches (the default gateway, the anchors, the ISP; see
:mod:`watchdog.config.builtin`); the provider comes from flags (``--provider-kind broker --name …
--target host:port …``) or, when stdin is a terminal and no flag names one, from questions. The text is
validated as ``watchdog config check`` would before it is written; an existing file is kept unless
``--force``.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import re
import sys
from pathlib import Path
from typing import Any

from watchdog.cli import EXIT_OK, UsageError
from watchdog.config import loads
from watchdog.config.builtin import NewProvider, NewTarget, discover, render
from watchdog.documents.rulebook import check_config

KINDS = ("broker", "bank", "other")
_LABEL_RE = re.compile(r"[^A-Za-z0-9_.-]+")


def register(sub: Any) -> None:
    """Add ``init``."""
    parser = sub.add_parser(
        "init",
        help="write a commented watchdog.yaml: your line (gateway, anchors, ISP) plus a broker or bank",
        description="Without --provider-kind and with a terminal on stdin, asks what to add.",
    )
    parser.add_argument("--provider-kind", choices=KINDS, help="what the provider is")
    parser.add_argument("--name", help="its name, as reports and letters print it")
    parser.add_argument("--id", dest="provider_id", help="its short id for --provider (default: the kind)")
    parser.add_argument(
        "--target",
        action="append",
        default=[],
        metavar="ADDR",
        help="host:port (a TCP check) or an http(s):// URL; repeat for more",
    )
    parser.add_argument(
        "--anchor",
        action="append",
        default=[],
        metavar="HOST:PORT",
        help="an internet control instead of the public resolvers (repeat; default: $WATCHDOG_ANCHORS, else built in)",
    )
    parser.add_argument("-o", "--output", default="watchdog.yaml", metavar="FILE", help="default: ./watchdog.yaml")
    parser.add_argument("--force", action="store_true", help="replace the file if it exists")
    parser.set_defaults(handler=handle)


def parse_target(text: str, taken: set[str]) -> NewTarget:
    """``host:port`` → a TCP target, ``http(s)://…`` → an HTTP target; UsageError otherwise."""
    text = text.strip()
    if re.match(r"https?://[^/\s]+", text):
        label, kind = "web", "http"
    else:
        host, _, port = text.rpartition(":")
        host = host.strip("[]")
        if not host or not port.isdigit() or not 0 < int(port) < 65536 or any(c.isspace() for c in text):
            raise UsageError(f"--target {text!r}: write host:port (e.g. trade.example.com:443) or an https:// URL")
        try:
            ipaddress.ip_address(host)
            first = "tcp"
        except ValueError:
            first = _LABEL_RE.sub("-", host.split(".", 1)[0]).strip("-") or "tcp"
        label, kind = f"{first}-{port}", "tcp"
    name, n = label, 1
    while name in taken:
        n += 1
        name = f"{label}-{n}"
    taken.add(name)
    return NewTarget(name, kind, text)


def _ask(question: str) -> str:
    try:
        return input(question).strip()
    except EOFError:
        return ""


def _questions(args: argparse.Namespace) -> None:
    """Fill ``args`` from a person at the terminal."""
    kind = _ask("What else do you pay for and want watched: broker, bank or other? (empty: only your line) ")
    if not kind:
        return
    if kind not in KINDS:
        raise UsageError(f"{kind!r}: answer broker, bank or other")
    args.provider_kind = kind
    args.name = _ask("Its name, as reports and letters print it: ") or kind
    print("Its addresses, one per line (host:port, or an https:// URL); an empty line ends:")
    while address := _ask("> "):
        args.target.append(address)


def handle(args: argparse.Namespace) -> int:
    """Discover, ask or read flags, validate, write."""
    out = Path(args.output)
    if out.exists() and not args.force:
        raise UsageError(f"{out} exists: keep it, or run watchdog init --force to replace it")
    if args.provider_kind is None and (args.name or args.target):
        raise UsageError("--name and --target need --provider-kind (broker, bank or other)")
    if args.provider_kind is None and sys.stdin.isatty():
        _questions(args)
    provider = None
    if args.provider_kind is not None:
        if not args.target:
            raise UsageError(f"a {args.provider_kind} needs at least one --target host:port or https:// URL")
        taken: set[str] = set()
        targets = tuple(parse_target(t, taken) for t in args.target)
        provider = NewProvider(
            id=args.provider_id or args.provider_kind,
            name=args.name or args.provider_kind,
            kind=args.provider_kind,
            targets=targets,
        )
    try:
        found = discover(anchors=args.anchor)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    text = render(found, provider)
    loads(text, filename=f"{out} (not written)", env={}, checks=(check_config,))  # ConfigError: exit 2, nothing written
    tmp = out.with_name(f".{out.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, out)
    router = f"router {found.gateway}" if found.gateway else "no router found"
    what = f"your line ({router}, {len(found.anchors)} anchors, ISP)"
    if provider is not None:
        what += f' and {provider.kind} "{provider.name}" with {len(provider.targets)} target'
        what += "" if len(provider.targets) == 1 else "s"
    print(f"wrote {out} (mode 600): {what}")
    if out == Path("watchdog.yaml"):
        print("next: watchdog config check, then watchdog check; ./run.sh runs it from now on")
    else:
        print(f"next: watchdog config check -c {out}, then watchdog check -c {out}")
    return EXIT_OK
