"""Writing line protocol to InfluxDB: the v1 and v2 HTTP dialects behind one interface, and detection.

* v2 (InfluxDB 2.x, Cloud, 3.x, 1.8+): ``POST /api/v2/write?org=&bucket=&precision=ns`` with
  ``Authorization: Token …``, through influxdb-client's async client. Only its plain ``WriteApiAsync``
  is used: its batching writer keeps points in memory and drops a batch after its retry window, which
  the journal-backed exporter must never do (research/reliability.md §1.5). Retries are ours.
* v1 (InfluxDB 1.x): ``POST /write?db=&rp=&precision=ns`` with HTTP Basic auth, through aiohttp.

Both raise the errors of :mod:`watchdog.influx` (library errors are translated here, at the boundary).
``api: auto`` asks ``GET /ping``: an ``X-Influxdb-Version`` of ``1.x`` means v1, any other version or
build header (2.x, 3.x, Cloud) means v2. A 1.x server before 1.8 has no ``/api/v2/write`` at all: a config
with org/bucket/token is written there through v1, the bucket read as ``database/retention_policy`` (see
:func:`legacy_settings`).
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import email.utils
import json
import logging
import re
import ssl
from dataclasses import dataclass
from typing import Protocol

import aiohttp
from pydantic import SecretStr

from watchdog.config import InfluxSection
from watchdog.errors import WatchdogError
from watchdog.units import redact_url

_LOGGER = logging.getLogger(__name__)

RETRY_AFTER_MAX_S = 3600.0  # a server asking for more than an hour is believed for an hour


class InfluxError(WatchdogError):
    """The InfluxDB side failed; ``status`` is the HTTP status (0 when there was no answer)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class Unavailable(InfluxError):
    """Try again later: the server is down, overloaded (429/5xx) or did not answer in time."""

    def __init__(self, message: str, status: int = 0, retry_after_s: float | None = None) -> None:
        super().__init__(message, status)
        self.retry_after_s = retry_after_s


class Rejected(InfluxError):
    """The server refused these points (bad line protocol, type conflict, outside retention, too large)."""


class AuthFailed(InfluxError):
    """401/403: the credentials are wrong or lack write permission."""


class DestinationMissing(InfluxError):
    """404: no such database, bucket or endpoint."""


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """What ``/ping`` said about the server."""

    version: str  # X-Influxdb-Version ("" when absent)
    build: str  # X-Influxdb-Build ("" when absent)


class Dialect(Protocol):
    """One way of writing line protocol to a server."""

    api: str  # "v1" | "v2"

    async def write(self, body: bytes) -> None:
        """Write newline-separated points with ns timestamps; raise an InfluxError subclass when not accepted."""

    async def aclose(self) -> None:
        """Release connections."""


def parse_retry_after(value: str | None, now: dt.datetime | None = None) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or an HTTP date), capped at an hour; None when absent or bad."""
    if not value:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        seconds = (when - (now or dt.datetime.now(dt.UTC))).total_seconds()
    return min(max(0.0, seconds), RETRY_AFTER_MAX_S)


def classify(status: int, message: str, retry_after: str | None) -> InfluxError:
    """An HTTP error status → the error that says what to do about it."""
    text = f"HTTP {status}: {message}" if message else f"HTTP {status}"
    if status in (401, 403):
        return AuthFailed(text, status)
    if status == 404:
        return DestinationMissing(text, status)
    if status in (408, 429) or status >= 500:
        return Unavailable(text, status, parse_retry_after(retry_after))
    return Rejected(text, status)


def secret_words(settings: InfluxSection) -> list[str]:
    """What must never appear in a log line or a dead letter: the token, the password, their encodings."""
    words = [s.get_secret_value() for s in (settings.token, settings.password) if s is not None]
    if settings.username:
        password = settings.password.get_secret_value() if settings.password else ""
        words.append(base64.b64encode(f"{settings.username}:{password}".encode()).decode())
    return [w for w in words if len(w) >= 4]


def scrub(text: str, secrets: list[str]) -> str:
    """``text`` with every secret (a server or proxy may echo the Authorization header) replaced by ``***``."""
    for secret in secrets:
        text = text.replace(secret, "***")
    return redact_url(text)


def error_message(body: bytes, secrets: list[str] | None = None) -> str:
    """The server's own words from an error body (JSON ``error``/``message``, else the text), one short line.

    ``secrets`` are cut out first: an error body that echoes the request's headers must not carry the token
    into the log or ``influx_dead_letters``.
    """
    text = scrub(body.decode("utf-8", "replace").strip(), secrets or [])
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        for key in ("error", "message"):
            if isinstance(data.get(key), str):
                text = data[key]
                break
    return " ".join(text.split())[:500]


def _ssl(settings: InfluxSection) -> ssl.SSLContext | bool:
    return True if settings.verify_tls else False


def _timeout(settings: InfluxSection) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=settings.timeout)


async def ping(session: aiohttp.ClientSession, settings: InfluxSection) -> ServerInfo:
    """``GET /ping``: the server's version headers. Raises Unavailable only (429/5xx/no answer): a server that
    wants a token even for ``/ping`` (or a proxy without it) still answers, and the write says the rest."""
    try:
        async with session.get(f"{settings.url}/ping", ssl=_ssl(settings), timeout=_timeout(settings)) as resp:
            await resp.read()
            if resp.status in (408, 429) or resp.status >= 500:
                raise classify(resp.status, "ping", resp.headers.get("Retry-After"))
            return ServerInfo(resp.headers.get("X-Influxdb-Version", ""), resp.headers.get("X-Influxdb-Build", ""))
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise Unavailable(scrub(f"ping {settings.url}: {type(exc).__name__}: {exc}", secret_words(settings))) from exc


def choose_api(settings: InfluxSection, info: ServerInfo) -> str:
    """The dialect for a server: the config's choice, else what ``/ping`` says, else what the config holds."""
    if settings.api != "auto":
        return settings.api
    version = info.version.lstrip("vV")
    if version.startswith("1."):
        return "v1" if settings.database else "v2"  # 1.8+ also speaks v2 when only a bucket is given
    if version or info.build:
        return "v2"
    return "v2" if settings.bucket and not settings.database else "v1"


def predates_v2(info: ServerInfo) -> bool:
    """True for InfluxDB 1.0-1.7, which has no ``/api/v2/write`` (1.8 added it)."""
    match = re.match(r"[vV]?(\d+)\.(\d+)", info.version)
    return match is not None and (int(match[1]), int(match[2])) < (1, 8)


def legacy_settings(settings: InfluxSection, info: ServerInfo) -> tuple[InfluxSection, str]:
    """A v2-style section (org, bucket, token) for a server before 1.8, as v1 settings, and the log line saying so.

    The bucket is ``database`` or ``database/retention_policy`` (1.8's own mapping). 1.x before 1.8 has no
    tokens: a token of the form ``username:password`` (1.8's convention) becomes Basic auth, any other is not
    sent; ``username``/``password`` of the section win when given.
    """
    database, _, rp = settings.bucket.partition("/")
    update: dict[str, object] = {"api": "v1", "database": database, "retention_policy": rp}
    token = settings.token.get_secret_value() if settings.token else ""
    target = f"/write?db={database}" + (f"&rp={rp}" if rp else "")
    note = (
        f"InfluxDB {info.version} at {settings.url} is older than 1.8 and has no /api/v2/write: "
        f"writing the bucket {settings.bucket!r} to {target} instead"
    )
    if settings.username:
        note += f"; Basic auth as {settings.username}" + ("; the token is not sent" if token else "")
    elif ":" in token:
        user, _, password = token.partition(":")
        update |= {"username": user, "password": SecretStr(password)}
        note += f"; the token user:password goes in Basic auth as {user}"
    elif token:
        note += (
            "; the token is not sent (1.x before 1.8 has no tokens: set username and password if its auth is on, "
            "or nothing)"
        )
    return settings.model_copy(update=update), note


class V1Writer:
    """InfluxDB 1.x: ``/write?db=&rp=&precision=ns`` with Basic auth, over the exporter's aiohttp session."""

    api = "v1"

    def __init__(self, session: aiohttp.ClientSession, settings: InfluxSection, note: str = "") -> None:
        self.session = session
        self.settings = settings
        self.note = note  # why a v2-style config is written through v1 (an old server), for the log
        self.secrets = secret_words(settings)
        self.params = {"db": settings.database, "precision": "ns"}
        if settings.retention_policy:
            self.params["rp"] = settings.retention_policy
        self.headers = {"Content-Type": "text/plain; charset=utf-8"}
        if settings.username:
            password = settings.password.get_secret_value() if settings.password else ""
            # a header, not ?u=&p= in the URL: URLs end up in logs and error messages
            credentials = base64.b64encode(f"{settings.username}:{password}".encode()).decode()
            self.headers["Authorization"] = f"Basic {credentials}"

    async def write(self, body: bytes) -> None:
        """POST the points; 204 means accepted."""
        try:
            async with self.session.post(
                f"{self.settings.url}/write",
                params=self.params,
                data=body,
                headers=self.headers,
                ssl=_ssl(self.settings),
                timeout=_timeout(self.settings),
            ) as resp:
                answer = await resp.read()
                if resp.status // 100 == 2:
                    return
                raise classify(resp.status, error_message(answer, self.secrets), resp.headers.get("Retry-After"))
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise Unavailable(
                scrub(f"write to {self.settings.url}: {type(exc).__name__}: {exc}", self.secrets)
            ) from exc

    async def create_database(self) -> None:
        """``CREATE DATABASE`` (a no-op when it exists); raises DestinationMissing when the server refuses."""
        query = f'CREATE DATABASE "{self.settings.database.replace(chr(34), "")}"'
        try:
            async with self.session.post(
                f"{self.settings.url}/query",
                data={"q": query},
                headers={k: v for k, v in self.headers.items() if k == "Authorization"},
                ssl=_ssl(self.settings),
                timeout=_timeout(self.settings),
            ) as resp:
                answer = await resp.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise Unavailable(
                scrub(f"create database on {self.settings.url}: {type(exc).__name__}: {exc}", self.secrets)
            ) from exc
        if resp.status // 100 != 2:
            raise DestinationMissing(
                f"CREATE DATABASE refused: HTTP {resp.status}: {error_message(answer, self.secrets)}", 404
            )
        try:
            results = json.loads(answer).get("results", [])
        except (ValueError, AttributeError):
            results = []
        errors = [r["error"] for r in results if isinstance(r, dict) and r.get("error")]
        if errors:
            raise DestinationMissing(f"CREATE DATABASE refused: {scrub(str(errors[0]), self.secrets)}", 404)

    async def aclose(self) -> None:
        """The session belongs to the exporter; nothing to release here."""


class V2Writer:
    """InfluxDB 2.x/3.x/Cloud (and 1.8+): ``/api/v2/write`` through influxdb-client's async write API."""

    api = "v2"

    def __init__(self, settings: InfluxSection) -> None:
        from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync

        self.settings = settings
        self.secrets = secret_words(settings)
        token = settings.token.get_secret_value() if settings.token else ""
        # created inside the running loop, as the async client requires
        self.client = InfluxDBClientAsync(
            url=settings.url,
            token=token,
            org=settings.org or "-",
            timeout=int(settings.timeout * 1000),
            verify_ssl=settings.verify_tls,
        )
        self.write_api = self.client.write_api()

    async def write(self, body: bytes) -> None:
        """POST the points through ``WriteApiAsync`` (no batching, no retries: the exporter owns both)."""
        from influxdb_client.domain.write_precision import WritePrecision
        from influxdb_client.rest import ApiException

        try:
            await self.write_api.write(
                bucket=self.settings.bucket,
                org=self.settings.org or "-",
                record=body,
                write_precision=WritePrecision.NS,  # type: ignore[arg-type]  # annotated as str upstream
            )
        except ApiException as exc:
            status = int(exc.status or 0)
            message = (
                error_message(exc.body, self.secrets)
                if isinstance(exc.body, bytes)
                else scrub(" ".join(str(exc.message).split()), self.secrets)
            )
            if status == 0:
                raise Unavailable(scrub(f"write to {self.settings.url}: {message}", self.secrets)) from exc
            raise classify(status, message, exc.retry_after) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise Unavailable(
                scrub(f"write to {self.settings.url}: {type(exc).__name__}: {exc}", self.secrets)
            ) from exc

    async def aclose(self) -> None:
        """Close the client's connection pool."""
        await self.client.close()


async def connect(session: aiohttp.ClientSession, settings: InfluxSection) -> tuple[Dialect, ServerInfo]:
    """Ping the server and build the writer for its dialect; raises Unavailable while it cannot be reached."""
    info = await ping(session, settings)
    api = choose_api(settings, info)
    if api == "v2" and predates_v2(info):
        legacy, note = legacy_settings(settings, info)
        return V1Writer(session, legacy, note), info
    writer: Dialect = V1Writer(session, settings) if api == "v1" else V2Writer(settings)
    return writer, info


async def close_quietly(writer: Dialect | None) -> None:
    """Close a writer, logging (not raising) what goes wrong."""
    if writer is None:
        return
    try:
        await asyncio.shield(writer.aclose())
    except Exception:
        _LOGGER.exception("closing the InfluxDB client failed")
