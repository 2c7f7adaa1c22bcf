"""``watchdog serve``: the status page and JSON API from a journal alone (no probing)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from typing import Any

from watchdog.cli import EXIT_CONFIG, EXIT_OK, add_config_arg, guard_logs, load_config, setup_logging
from watchdog.config import is_loopback_host, split_listen

_LOGGER = logging.getLogger(__name__)


def register(sub: Any) -> None:
    """Add ``serve``."""
    parser = sub.add_parser("serve", help="serve the status page and JSON API from the journal alone (no probing)")
    add_config_arg(parser)
    parser.add_argument("--listen", metavar="HOST:PORT", help="override web.listen (off localhost needs web.token)")
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING, ERROR (default INFO)")
    parser.set_defaults(handler=handle)


async def serve(config: Any, host: str, port: int) -> int:
    """Serve until SIGINT or SIGTERM."""
    from watchdog.journal.store import Journal
    from watchdog.web import JournalSource, StatusService, bind_problem, create_app, start_site
    from watchdog.web.documents import default_documents

    Journal.open(config.journal_path, create=False, readonly=True).close()  # JournalError names the path
    app = create_app(StatusService(JournalSource(config)), documents=default_documents(), listen_host=host)
    try:
        runner, bound = await start_site(app, host, port, max_connections=config.model.web.max_connections)
    except OSError as exc:
        print(f"serve: {bind_problem(host, port, exc)}; choose another with --listen HOST:PORT", file=sys.stderr)
        return EXIT_CONFIG
    shown = f"[{host}]" if ":" in host else host
    _LOGGER.info("serving the journal url=http://%s:%d/ journal=%s", shown, bound, config.journal_path)
    print(f"serving {config.journal_path} on http://{shown}:{bound}/", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await runner.cleanup()
    return EXIT_OK


def handle(args: argparse.Namespace) -> int:
    """Load the config, check the bind address, serve."""
    setup_logging(args.log_level)
    config = load_config(args)
    guard_logs(config)
    listen = args.listen or config.model.web.listen
    try:
        host, port = split_listen(listen)
    except ValueError as exc:
        print(f"--listen: {exc}")
        return EXIT_CONFIG
    if not is_loopback_host(host) and config.model.web.token is None:
        print(f"--listen: {host} is reachable from other machines; set web.token in the config first")
        return EXIT_CONFIG
    return asyncio.run(serve(config, host, port))
