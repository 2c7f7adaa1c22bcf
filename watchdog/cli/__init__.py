"""The ``watchdog`` command line: one module per command, registered in COMMANDS.

Exit codes: 0 = fine, 1 = something is down / failed verification, 2 = bad config or usage.
``--json`` output is stable and documented in the README.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from watchdog import __version__
from watchdog.config import Config, ProviderSection, default_config_path, load
from watchdog.documents.rulebook import check_config
from watchdog.errors import ConfigError, WatchdogError
from watchdog.safetext import PrintableLogFilter, PrintableStream
from watchdog.units import redact_url

EXIT_OK, EXIT_DOWN, EXIT_CONFIG = 0, 1, 2


class UsageError(WatchdogError):
    """The command line asks for something that is not there (exit 2, message on stderr)."""


def provider_of(config: Config, provider_id: str) -> ProviderSection:
    """The provider named on the command line; UsageError names the known ones."""
    try:
        return config.provider(provider_id)
    except KeyError as exc:
        raise UsageError(exc.args[0]) from None


def add_config_arg(parser: argparse.ArgumentParser) -> None:
    """``-c FILE``: the config (default ./watchdog.yaml, else config/example.yaml)."""
    parser.add_argument(
        "-c", "--config", metavar="FILE", help="config file (default: ./watchdog.yaml, else config/example.yaml)"
    )


def add_json_arg(parser: argparse.ArgumentParser) -> None:
    """``--json``: machine-readable output."""
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def load_config(args: argparse.Namespace) -> Config:
    """Load the config named by ``-c`` (or the default), rules checked too; ConfigError propagates (exit 2)."""
    path = Path(args.config) if getattr(args, "config", None) else default_config_path()
    config = load(path, checks=(check_config,))
    for warning in config.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return config


def print_json(data: Any) -> None:
    """Stable JSON: sorted keys, UTF-8, two-space indent."""
    print(json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True))


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain text table with padded columns."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


class SecretFilter(logging.Filter):
    """Cuts the config's secrets (and any URL's credentials) out of every log record, libraries' included.

    A library may log what a server sent back (influxdb-client logs an error body at DEBUG, and a proxy may
    echo the ``Authorization`` header in it): the record's text is scrubbed before any handler writes it.
    """

    def __init__(self, secrets: Sequence[str]) -> None:
        super().__init__()
        self.secrets = list(secrets)

    def _clean(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return redact_url(text)

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the message (and a traceback's text) with the secrets replaced; never drop a record."""
        record.msg, record.args = self._clean(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._clean(record.exc_text)
        return True


def guard_logs(config: Config) -> None:
    """Install a :class:`SecretFilter` with ``config``'s secrets on every root handler."""
    for handler in logging.getLogger().handlers:
        handler.addFilter(SecretFilter(config.secrets()))


def setup_logging(level: str = "INFO") -> None:
    """Log to stderr as ``time level module: message``."""
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for handler in logging.getLogger().handlers:  # a provider's text never reaches the log raw (ESC, bidi)
        handler.addFilter(PrintableLogFilter())


def _commands() -> list[ModuleType]:
    from watchdog.cli import (
        check,
        collective,
        complaint,
        configcmd,
        contact,
        demo,
        evidence,
        notify,
        outages,
        report,
        run,
        serve,
        status,
        verify,
    )

    return [
        run,
        check,
        configcmd,
        outages,
        report,
        evidence,
        complaint,
        contact,
        verify,
        status,
        serve,
        notify,
        collective,
        demo,
    ]


def build_parser() -> argparse.ArgumentParser:
    """The full parser; each command module has ``register(subparsers)``."""
    parser = argparse.ArgumentParser(prog="watchdog", description="Outage Watchdog: customer-side SLA monitor.")
    parser.add_argument("--version", action="version", version=f"outage-watchdog {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _commands():
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``watchdog`` script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return EXIT_CONFIG
    stdout, stderr = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = PrintableStream(stdout), PrintableStream(stderr)
    try:
        return _run(handler, args)
    finally:
        sys.stdout, sys.stderr = stdout, stderr


def _run(handler: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a command; what it prints carries no control or bidi characters (a provider's text included)."""
    try:
        return handler(args)
    except UsageError as exc:
        print(exc, file=sys.stderr)
        return EXIT_CONFIG
    except ConfigError as exc:
        print("bad config:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return EXIT_CONFIG
    except WatchdogError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_DOWN
    except KeyboardInterrupt:
        return 130
