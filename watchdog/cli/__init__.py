"""The ``watchdog`` command line: one module per command, registered in COMMANDS.

Exit codes: 0 = fine, 1 = something is down / failed verification, 2 = bad config or usage.
``--json`` output is stable and documented in the README.
"""

from __future__ import annotations

import argparse
import importlib
import io
import json
import logging
import os
import pwd
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import watchdog
from watchdog.config import Config, ProviderSection, load
from watchdog.config.builtin import Discovery, builtin_config, discover, user_config_path
from watchdog.documents.rulebook import check_config
from watchdog.errors import ConfigError, WatchdogError
from watchdog.safetext import PrintableLogFilter, PrintableStream
from watchdog.units import redact_url


def _foreign_watchdog() -> None:
    """Exit 2 naming the package when ``watchdog`` is not ours (PyPI's library of that name installed over it)."""
    if getattr(watchdog, "__outage_watchdog__", False):
        return
    where = getattr(watchdog, "__file__", None) or ", ".join(getattr(watchdog, "__path__", []))
    print(
        f"error: the Python package 'watchdog' at {where} is not Outage Watchdog: another package of the same "
        "name (PyPI's 'watchdog', for file system events) was installed over it in this environment\n"
        "  fix: give Outage Watchdog an environment of its own: pipx install outage-watchdog (or a venv), "
        "or here: pip uninstall watchdog && pip install --force-reinstall outage-watchdog",
        file=sys.stderr,
    )
    raise SystemExit(2)


_foreign_watchdog()  # before anything needs our package's own names
__version__: str = watchdog.__version__

EXIT_OK, EXIT_DOWN, EXIT_CONFIG = 0, 1, 2
EXIT_PIPE = 141  # 128 + SIGPIPE: what a shell reports for a reader that went away (``watchdog outages | head``)


class UsageError(WatchdogError):
    """The command line asks for something that is not there (exit 2, message on stderr)."""


def provider_of(config: Config, provider_id: str) -> ProviderSection:
    """The provider named on the command line; UsageError names the known ones."""
    try:
        return config.provider(provider_id)
    except KeyError as exc:
        raise UsageError(exc.args[0]) from None


def add_config_arg(parser: argparse.ArgumentParser) -> None:
    """``-c FILE``: the config (default ./watchdog.yaml, else the built-in default: see config/builtin.py)."""
    parser.add_argument(
        "-c",
        "--config",
        metavar="FILE",
        help="config file (default: ./watchdog.yaml, else the built-in default that watches your own line)",
    )


def add_json_arg(parser: argparse.ArgumentParser) -> None:
    """``--json``: machine-readable output."""
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def load_config(args: argparse.Namespace) -> Config:
    """Load the config named by ``-c`` (or the default), rules checked too; ConfigError propagates (exit 2)."""
    return load_config_found(args)[0]


def load_config_found(args: argparse.Namespace) -> tuple[Config, Discovery | None]:
    """:func:`load_config`, and what the machine told the built-in default when there is no config file.

    With neither ``-c`` nor ``./watchdog.yaml`` the config is the built-in default (issue 15: the
    gateway, public anchors and the ISP); a note on stderr says so, keeping stdout for the command.
    """
    found: Discovery | None = None
    if getattr(args, "config", None):
        config = load(Path(args.config), checks=(check_config,))
    elif (path := user_config_path()) is not None:
        config = load(path, checks=(check_config,))
    else:
        try:
            found = discover()
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        config = builtin_config(found, checks=(check_config,))
        if getattr(args, "command", None) != "run":
            print("note: no watchdog.yaml here: using the built-in default (watchdog init writes one)", file=sys.stderr)
    for warning in config.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return config, found


def require_owner(journal: Path) -> None:
    """Refuse (UsageError, exit 2) to write a journal that belongs to another user, saying how to run it.

    Writing as root to the service's journal would leave its WAL and shared-memory files owned by root, which
    the service (user ``watchdog``) then cannot open. Read-only commands are not held to this.
    """
    try:
        owner = journal.stat().st_uid
    except OSError:
        return  # not there yet: it will be created by whoever runs this
    me = os.geteuid()
    if owner == me:
        return

    def name(uid: int) -> str:
        try:
            return pwd.getpwuid(uid).pw_name
        except KeyError:
            return f"uid {uid}"

    command = " ".join(shlex.quote(a) for a in ["watchdog", *sys.argv[1:]])
    raise UsageError(
        f"{journal} belongs to {name(owner)} (uid {owner}), not to {name(me)}: writing to it as {name(me)} "
        f"would leave files its service cannot open. Run it as that user: sudo -u {shlex.quote(name(owner))} {command}"
    )


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


# command -> the module of watchdog.cli that registers it (what ``build_parser`` imports for a command line)
_COMMAND_MODULES = {
    "run": "run",
    "init": "init",
    "check": "check",
    "config": "configcmd",
    "outages": "outages",
    "report": "report",
    "evidence": "evidence",
    "complaint": "complaint",
    "contact": "contact",
    "balance": "balance",
    "verify": "verify",
    "backup": "backup",
    "restore": "backup",
    "archive": "backup",
    "migrate": "backup",
    "status": "status",
    "serve": "serve",
    "notify": "notify",
    "collective": "collective",
    "demo": "demo",
}


def _commands() -> list[ModuleType]:
    """Every command module, in the order ``--help`` lists their commands."""
    return [importlib.import_module(f"watchdog.cli.{name}") for name in dict.fromkeys(_COMMAND_MODULES.values())]


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser; each command module has ``register(subparsers)``.

    Given the command line ``argv``, only the module of the command it names is imported and registered: every
    command module imports what its command needs (the probes and aiohttp, the document stack, InfluxDB's
    tables), ~0.5 s of CPU a start for all of them together, paid by every ``watchdog`` run on a Raspberry Pi.
    Without ``argv``, or when it names no known command (``--help``, a typo), every command is registered.
    """
    parser = argparse.ArgumentParser(prog="watchdog", description="Outage Watchdog: customer-side SLA monitor.")
    parser.add_argument("--version", action="version", version=f"outage-watchdog {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    name = next((arg for arg in argv or () if not arg.startswith("-")), None)
    if name in _COMMAND_MODULES:
        modules = [importlib.import_module(f"watchdog.cli.{_COMMAND_MODULES[name]}")]
    else:
        modules = _commands()
    for module in modules:
        module.register(sub)
    return parser


def _stdout_to_devnull() -> None:
    """The Python docs' recipe for SIGPIPE: point stdout at devnull so the final flush finds nobody to fail on."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, io.UnsupportedOperation):  # stdout replaced by something without a descriptor
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``watchdog`` script."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
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
        code = handler(args)
        sys.stdout.flush()  # inside the try: a reader that went away is found here, not at interpreter exit
        return code
    except BrokenPipeError:
        _stdout_to_devnull()
        return EXIT_PIPE
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
