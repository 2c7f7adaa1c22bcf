"""Notification channels: one Apprise service per configured URL, chosen by Apprise tags, sent off the loop.

Routing uses Apprise's own tag logic: every URL is loaded with its tags (a URL without tags gets
Apprise's ``always`` tag, so it receives everything), and a message category goes to the services
``Apprise.find(tag=routes[category])`` yields. Each channel is then delivered on its own, so one failing
service never holds up or re-sends to another.

Apprise sends with blocking I/O (``requests``). Checked in apprise 2.2.0: ``async_notify`` hands each
plugin's ``send()`` to Apprise's shared thread pool, and ``bench/bench_notify.py`` measures that it does
keep the loop free for ``json://`` (p99 loop lag ~4 ms, the same as ours; a plain ``notify()`` on the loop
blocks it for the whole send). We still give each channel its own daemon thread (a :class:`Courier`) that
calls plain ``notify()``, because only then (a) the read timeout of each try can be set on the channel's
own service without racing another send, (b) a send stuck on a dead line occupies that channel alone, not
a shared pool, and (c) nothing joins the thread at interpreter exit, so a hung send never delays the
agent's shutdown (a thread pool's workers are joined).

Secrets: a notification URL is shown only as its scheme and the host part of Apprise's privacy form
(``json://127.0.0.1:8080/…``; a path can hold a webhook token, which Apprise does not mask), and a
:class:`SecretFilter` on the ``apprise`` and ``urllib3`` loggers scrubs every other part of the URL.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import re
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import apprise

from watchdog.config import NOTIFY_CATEGORIES, NotifyChannel, NotifySection

_LOGGER = logging.getLogger(__name__)

T = TypeVar("T")
THIRD_PARTY_LOGGERS = ("apprise", "urllib3", "urllib3.connectionpool")
ALWAYS_TAG = "always"  # Apprise: a service with this tag matches every tag filter


class SecretFilter(logging.Filter):
    """Scrub secret parts of notification URLs from third-party log records; quiet Apprise's per-send chatter.

    Apprise logs a line for every send and every failure; the notifier logs channel state changes
    instead (failing, recovered), so Apprise records below ERROR pass only when ``watchdog.notify`` is
    at DEBUG.
    """

    def __init__(self, secrets: Iterable[str], *, quiet: bool = False) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)
        self.quiet = quiet  # drop Apprise records below ERROR even when watchdog.notify is at DEBUG

    def scrub(self, text: str) -> str:
        """Replace every secret with ``****``."""
        for secret in self.secrets:
            text = text.replace(secret, "****")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if (
            record.name == "apprise"
            and record.levelno < logging.ERROR
            and (self.quiet or not _LOGGER.isEnabledFor(logging.DEBUG))
        ):
            return False
        message = record.getMessage()
        scrubbed = self.scrub(message)
        if scrubbed != message or record.args:
            record.msg, record.args = scrubbed, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = self.scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True

    def install(self) -> None:
        """Attach to the third-party loggers."""
        for name in THIRD_PARTY_LOGGERS:
            logging.getLogger(name).addFilter(self)

    def remove(self) -> None:
        """Detach again."""
        for name in THIRD_PARTY_LOGGERS:
            logging.getLogger(name).removeFilter(self)


def shown_url(privacy_url: str) -> str:
    """What logs and screens show of a channel: the scheme and host of Apprise's privacy form, no path or query."""
    scheme, sep, rest = privacy_url.partition("://")
    if not sep:
        return "…"
    host = re.split(r"[/?#]", rest, maxsplit=1)[0]
    return f"{scheme}://{host}" + ("/…" if len(rest) > len(host) and rest[len(host) :].strip("/") else "")


def secret_parts(raw_url: str, privacy_url: str) -> set[str]:
    """The pieces of a URL not shown by :func:`shown_url` (tokens, passwords, webhook paths), plus the URL."""
    out = {raw_url}
    shown = urllib.parse.unquote(privacy_url)
    for piece in re.split(r"[/:@?&=#,;]+", raw_url):
        for variant in {piece, urllib.parse.unquote(piece)}:
            if len(variant) >= 4 and variant not in shown:
                out.add(variant)
    return out


class Courier:
    """A daemon thread that runs blocking calls one at a time; the loop awaits a future."""

    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], asyncio.AbstractEventLoop, asyncio.Future[Any]] | None]
        self._jobs = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=f"notify-{name}", daemon=True)
        self._thread.start()

    async def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` in the thread and wait for it (cancelling the wait leaves the call to finish)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((fn, loop, future))
        return await future

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            fn, loop, future = job
            try:
                outcome: tuple[bool, Any] = (True, fn())
            except BaseException as exc:  # handed to the awaiting task, which logs it
                outcome = (False, exc)
            try:
                loop.call_soon_threadsafe(_settle, future, outcome)
            except RuntimeError:
                pass  # the loop is closed: nobody waits for this any more

    def close(self) -> None:
        """Let the thread end after its current call."""
        self._jobs.put(None)


def _settle(future: asyncio.Future[Any], outcome: tuple[bool, Any]) -> None:
    if future.done():
        return
    ok, value = outcome
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


@dataclass(frozen=True, slots=True)
class Attempt:
    """What one send did: delivered or not, and how long it took."""

    ok: bool
    elapsed_s: float
    timeout_s: float

    @property
    def no_answer(self) -> bool:
        """The far side did not answer in time: it may still have received the message."""
        return not self.ok and self.elapsed_s >= 0.9 * self.timeout_s


@dataclass(eq=False)
class Channel:
    """One configured URL: its Apprise service, its own sending thread and its delivery state."""

    name: str
    tags: tuple[str, ...]
    privacy_url: str
    service: Any  # apprise NotifyBase
    apprise: apprise.Apprise  # holds only this service
    courier: Courier
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    failures: int = 0  # failed attempts in a row
    failed_rounds: int = 0  # pauses in a row
    pause_until: float = 0.0  # loop time
    failing_since_ns: int | None = None
    delivered: int = 0

    def send(self, title: str, body: str, notify_type: str, timeout_s: float) -> Attempt:
        """Deliver one message (blocking: runs in the courier thread)."""
        # Apprise takes its read timeout from the service; only this channel's thread touches it.
        self.service.socket_read_timeout = timeout_s
        started = time.monotonic()
        result = self.apprise.notify(
            body=body,
            title=title,
            notify_type=apprise.NotifyType(notify_type),
            body_format=apprise.NotifyFormat.TEXT,
        )
        return Attempt(bool(result), time.monotonic() - started, timeout_s)


def asset() -> apprise.AppriseAsset:
    """How the agent presents itself to Apprise: masked URLs in Apprise's own logs, no files written."""
    return apprise.AppriseAsset(
        app_id="Outage Watchdog",
        app_desc="Outage Watchdog notifications",
        secure_logging=True,
        storage_mode="memory",
    )


@dataclass
class Channels:
    """The configured channels and, per message category, the channels it goes to."""

    channels: list[Channel]
    routes: dict[str, list[str]]  # category → channel names
    secrets: set[str]
    problems: list[str]

    def by_name(self, name: str) -> Channel | None:
        """The channel with this name."""
        return next((c for c in self.channels if c.name == name), None)

    def close(self) -> None:
        """Stop every channel's thread."""
        for ch in self.channels:
            ch.courier.close()


def build_channels(section: NotifySection, specs: list[NotifyChannel] | None = None) -> Channels:
    """Load every URL into Apprise with its tags; find, per category, which channels its tags reach."""
    shared = asset()
    router = apprise.Apprise(asset=shared)
    channels: list[Channel] = []
    secrets: set[str] = set()
    problems: list[str] = []
    owner: dict[int, str] = {}
    for spec in specs if specs is not None else section.all_channels():
        raw = spec.url.get_secret_value().strip()
        tags = set(spec.tags) or {ALWAYS_TAG}
        loading = SecretFilter(secret_parts(raw, ""), quiet=True)  # Apprise logs the whole URL as it loads it
        loading.install()
        try:
            service: Any = apprise.Apprise.instantiate(raw, asset=shared, tag=tags)
        finally:
            loading.remove()
        if service is None:
            problems.append(f"channel {spec.name}: Apprise could not load its URL; it is skipped")
            secrets.add(raw)
            continue
        privacy = shown_url(str(service.url(privacy=True)))
        secrets |= secret_parts(raw, privacy)
        router.add(service)
        own = apprise.Apprise(asset=shared)
        own.add(service)
        owner[id(service)] = spec.name
        channels.append(Channel(spec.name, tuple(sorted(tags)), privacy, service, own, Courier(spec.name)))
    routes: dict[str, list[str]] = {}
    for category in NOTIFY_CATEGORIES:
        found = router.find(tag=section.route(category), match_always=True)
        names = {owner[id(s)] for s in found if id(s) in owner}
        routes[category] = [c.name for c in channels if c.name in names]
    return Channels(channels, routes, secrets, problems)
