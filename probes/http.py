"""HTTP(S) probe: does a URL answer with an expected status (and text), and how long does the answer take?

A request can be any method with a body and headers (tokens from the environment through ``${VAR}``;
header values under credential-like names are secrets: never logged, never in a pack), and the answer
can be held to ``conditions`` on its status, headers, response time and body (JSONPath, regular
expressions: :mod:`probes.conditions`); every failed condition is named in the detail. ``metrics`` reads
numbers from the answer (a balance, a queue length) into the result's metrics.

Every probe opens a fresh connection (resolve, connect, TLS, request), like blackbox_exporter with
keep-alives off: a pooled socket would only prove that an old flow still works, while the question is
whether a new client can get through. The aiohttp session is shared (one per agent) only to reuse its
machinery; its connector closes every connection and caches no DNS answers.

A plain ``http://`` GET or HEAD to an IP address (no redirects to follow, no credentials in the URL) goes
through a lean client instead (:func:`_lean_probe`, issue 19): a bare non-blocking socket, the request
bytes built once per target exactly as aiohttp would send them (same request line, Host, User-Agent,
Accept, Accept-Encoding, Connection and configured headers, in the same order), and a small HTTP/1.x
response reader with aiohttp's limits (8,190 bytes per line, 128 headers) that frames the body by
Content-Length, chunks or the close, decodes gzip and deflate like aiohttp, and stops at
``max_body_bytes``. It gives the same result for the same answer: the same failure kinds and, for the
answers aiohttp words in a fixed way, the same detail. aiohttp's client machinery was a third of the probe's
CPU. Everything else (https, redirects followed, credentials, other methods or a body, host names,
whose cookies the shared session keeps) goes through aiohttp; the choice is made once per target.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import errno
import functools
import os
import re
import socket
import ssl
import time
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

import aiohttp
from aiohttp import hdrs
from aiohttp.client_reqrep import ClientRequest
from aiohttp.helpers import is_canonical_ipv4_address, is_ip_address, parse_content_type
from multidict import CIMultiDict
from pydantic import AfterValidator, Field, field_validator, model_validator
from yarl import URL

import watchdog
from probes._net import host_port, os_reason
from probes._pattern import PatternTimeout, risk_warning
from probes.conditions import Answer, Condition, Reading, date_of, number_of, parse_condition, parse_reading
from watchdog.errors import CannotProbe, ConnectError, ResolveError, TLSError, UnexpectedAnswer
from watchdog.model import Target
from watchdog.probe import Measurement, ProbeContext, ProbeOptions
from watchdog.units import redact_url, without_userinfo

_METRIC_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
# its own metrics, and the fields every InfluxDB probe point already has
_OWN_METRICS = frozenset({"status_code", "body_bytes", "ok", "latency_s", "failure", "detail"})
_SECRET_HEADER = re.compile(r"(auth|token|cookie|key|secret|password|session)", re.I)

SESSION_KEY = "http.session"
SSL_KEY = "http.ssl_contexts"
USER_AGENT = f"outage-watchdog/{watchdog.__version__}"
_READ_CHUNK = 64 * 1024


def _check_condition(text: str) -> str:
    parse_condition(text)  # a ValueError names what is wrong; config adds file, line and the item's index
    return text


class HttpOptions(ProbeOptions):
    """What to send and what the answer must look like."""

    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] = "GET"
    body: str | None = None
    """Sent as UTF-8 with POST, PUT, PATCH or DELETE (set Content-Type in ``headers``)."""
    conditions: list[Annotated[str, AfterValidator(_check_condition)]] = Field(default_factory=list, max_length=50)
    """Gatus-style conditions, all of which must hold: ``[STATUS] == 200``, ``[BODY].status == UP``."""
    metrics: dict[str, str] = Field(default_factory=dict, max_length=20)
    """Numbers to record, name → ``[BODY].json.path`` / ``[HEADER].Name`` / ``[RESPONSE_TIME]``, or one of
    them ``~= pattern`` (its first group: a figure on an HTML page)."""
    expect_status: list[int] | None = Field(default=None, min_length=1)
    """Accepted status codes; by default any 200–399."""
    expect_text: str | None = Field(default=None, min_length=1)
    headers: dict[str, str] = Field(default_factory=dict)
    follow_redirects: bool = False
    verify_tls: bool = True
    ca_file: str | None = None
    """A PEM bundle of CAs to trust instead of the system's (a private CA)."""
    max_body_bytes: int = Field(default=1 << 20, ge=0)

    @field_validator("expect_status")
    @classmethod
    def _statuses(cls, value: list[int] | None) -> list[int] | None:
        for code in value or ():
            if not 100 <= code <= 599:
                raise ValueError(f"not an HTTP status code: {code}")
        return value

    @field_validator("ca_file")
    @classmethod
    def _ca_file(cls, value: str | None) -> str | None:
        if value is None:
            return value
        path = Path(value).expanduser()
        if not path.is_file():
            raise ValueError(f"no such file: {value!r}")
        if path.stat().st_size > 16 << 20:
            raise ValueError(f"{value!r} is larger than 16 MiB: not a CA bundle")
        try:  # the probes would each fail on it later: refuse it now, at its line
            ssl.create_default_context(cafile=str(path))
        except (ssl.SSLError, OSError, ValueError) as exc:
            raise ValueError(f"{value!r} is not a PEM file with a CA certificate ({exc})") from exc
        return value

    @field_validator("metrics")
    @classmethod
    def _metrics(cls, value: dict[str, str]) -> dict[str, str]:
        for name, subject in value.items():
            if not _METRIC_NAME.match(name) or name in _OWN_METRICS:
                raise ValueError(
                    f"metric name {name!r}: lower-case letters, digits and _, not {', '.join(sorted(_OWN_METRICS))}"
                )
            try:
                parse_reading(subject)
            except ValueError as exc:
                raise ValueError(f"metric {name}: {exc}") from None
        return value

    @model_validator(mode="after")
    def _head_has_no_body(self) -> HttpOptions:
        if self.method == "HEAD" and self.expect_text is not None:
            raise ValueError("expect_text needs method GET: a HEAD answer has no body")
        if self.method == "HEAD" and any(c.lstrip().startswith("[BODY]") for c in self.conditions):
            raise ValueError("[BODY] conditions need a method other than HEAD: a HEAD answer has no body")
        if self.body is not None and self.method not in ("POST", "PUT", "PATCH", "DELETE"):
            raise ValueError(f"a body needs method POST, PUT, PATCH or DELETE (method is {self.method})")
        return self

    def parsed(self) -> tuple[list[Condition], dict[str, Reading]]:
        """The conditions and metric subjects, parsed once per options object."""
        return _parsed(self.conditions, self.metrics)

    def checks_status(self) -> bool:
        """True when the status is judged by a condition instead of the 200–399 default."""
        return self.expect_status is None and any(c.subject.kind == "STATUS" for c in self.parsed()[0])

    def secrets(self) -> list[str]:
        """Header values under credential-like names (Authorization, Cookie, X-Api-Key, ...)."""
        found = []
        for name, value in self.headers.items():
            if _SECRET_HEADER.search(name) and value:
                found.append(value)
                scheme, _, credential = value.partition(" ")  # "Bearer <token>": the token alone too
                if credential.strip() and scheme.isalpha():
                    found.append(credential.strip())
        return found

    def accepts(self, status: int) -> bool:
        """True if ``status`` is an expected one."""
        return status in self.expect_status if self.expect_status else 200 <= status <= 399


@functools.lru_cache(maxsize=256)
def _parsed_cached(
    conditions: tuple[str, ...], metrics: tuple[tuple[str, str], ...]
) -> tuple[list[Condition], dict[str, Reading]]:
    return [parse_condition(c) for c in conditions], {k: parse_reading(v) for k, v in metrics}


def _parsed(conditions: list[str], metrics: dict[str, str]) -> tuple[list[Condition], dict[str, Reading]]:
    return _parsed_cached(tuple(conditions), tuple(metrics.items()))


def advise(options: HttpOptions) -> list[tuple[tuple[str | int, ...], str]]:
    """Warnings for regular expressions in ``conditions`` and ``metrics`` that may backtrack without end."""
    conditions, readings = options.parsed()
    return [
        (("conditions", i), warning)
        for i, condition in enumerate(conditions)
        if condition.pattern is not None and (warning := risk_warning(condition.value)) is not None
    ] + [
        (("metrics", name), warning)
        for name, reading in readings.items()
        if reading.pattern is not None and (warning := risk_warning(reading.pattern.pattern)) is not None
    ]


def check_address(address: str) -> str | None:
    """HTTP needs an ``http://`` or ``https://`` URL with a host."""
    try:
        parts = urlsplit(address)
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError as exc:
        return f"not a valid URL: {address!r} ({exc})"
    if parts.scheme not in ("http", "https"):
        return f"expected an http:// or https:// URL, got {address!r}"
    if not parts.hostname:
        return f"no host in {address!r}"
    return None


def _session(ctx: ProbeContext) -> aiohttp.ClientSession:
    session: aiohttp.ClientSession | None = ctx.resources.get(SESSION_KEY)
    if session is None or session.closed:
        connector = aiohttp.TCPConnector(force_close=True, use_dns_cache=False)
        # No client-side timeouts: the runner owns the one timeout a probe has.
        timeout = aiohttp.ClientTimeout(total=None, connect=None, sock_read=None, sock_connect=None)
        session = aiohttp.ClientSession(connector=connector, timeout=timeout, headers={"User-Agent": USER_AGENT})
        ctx.resources[SESSION_KEY] = session
        ctx.closers.append(session.close)
    return session


def _ssl(ctx: ProbeContext, options: HttpOptions) -> ssl.SSLContext | bool:
    if not options.verify_tls:
        return False
    if options.ca_file is None:
        return True
    contexts: dict[str, ssl.SSLContext] = ctx.resources.setdefault(SSL_KEY, {})
    if options.ca_file not in contexts:
        contexts[options.ca_file] = ssl.create_default_context(cafile=str(Path(options.ca_file).expanduser()))
    return contexts[options.ca_file]


async def probe_http(ctx: ProbeContext, target: Target) -> Measurement:
    """Request the URL on a fresh connection, read at most ``max_body_bytes``, check status and text."""
    options: HttpOptions = target.options or HttpOptions()
    url = target.address  # what messages say: credentials in the config's URL are redacted here
    plans: dict[str, tuple[HttpOptions, str, _Lean | None]] = ctx.resources.setdefault(LEAN_KEY, {})
    known = plans.get(target.key)
    if known is None or known[0] is not options or known[1] != target.probe_address:
        known = plans[target.key] = (options, target.probe_address, _lean_plan(target.probe_address, options))
    lean = known[2]
    if lean is not None:
        status, reason, final_url, charset, headers, body, elapsed = await _lean_fetch(
            lean, url, options.max_body_bytes
        )
    else:
        status, reason, final_url, charset, headers, body, elapsed = await _aiohttp_fetch(ctx, target, options)
    return await _judge(options, url, status, reason, final_url, charset, headers, body, elapsed)


_Fetched = tuple[int, str, str, str, dict[str, str], bytes, float]


async def _aiohttp_fetch(ctx: ProbeContext, target: Target, options: HttpOptions) -> _Fetched:
    url = target.address
    session = _session(ctx)
    ssl_option = _ssl(ctx, options)
    t0 = time.monotonic()
    try:
        async with session.request(
            options.method,
            target.probe_address,
            headers=options.headers,
            data=options.body.encode("utf-8") if options.body is not None else None,
            allow_redirects=options.follow_redirects,
            ssl=ssl_option,
        ) as response:
            body = await _read_body(response, options.max_body_bytes)
            elapsed = time.monotonic() - t0
            status, reason, final_url = response.status, response.reason or "", redact_url(str(response.url))
            charset = response.charset or "utf-8"
            headers = {k.lower(): v for k, v in response.headers.items()}
    except aiohttp.ClientConnectorDNSError as exc:
        raise ResolveError(f"resolve {exc.host}: {os_reason(exc.os_error)}") from exc
    except aiohttp.ClientConnectorCertificateError as exc:
        raise TLSError(f"TLS {host_port(exc.host, exc.port)}: {_cert_reason(exc.certificate_error)}") from exc
    except aiohttp.ClientSSLError as exc:
        raise TLSError(
            f"TLS handshake with {host_port(exc.host, exc.port)} failed: {_ssl_reason(exc.os_error)}"
        ) from exc
    except aiohttp.ClientConnectorError as exc:
        raise ConnectError(f"connect {host_port(exc.host, exc.port)}: {os_reason(exc.os_error)}") from exc
    except aiohttp.ServerDisconnectedError as exc:
        raise ConnectError(f"{url}: the server closed the connection without an answer") from exc
    except aiohttp.ClientOSError as exc:
        raise ConnectError(f"{url}: {os_reason(exc)}") from exc
    except aiohttp.TooManyRedirects as exc:
        raise UnexpectedAnswer(f"{url}: too many redirects ({len(exc.history)})") from exc
    except aiohttp.RedirectClientError as exc:
        raise UnexpectedAnswer(f"{url}: bad redirect to {exc}") from exc
    except aiohttp.ClientPayloadError as exc:
        raise UnexpectedAnswer(f"{url}: broken response body: {_cause(exc)}") from exc
    except aiohttp.ClientResponseError as exc:  # an answer that is not valid HTTP
        raise UnexpectedAnswer(f"{url}: invalid HTTP response: {exc.message}") from exc
    return status, reason, final_url, charset, headers, body, elapsed


async def _judge(
    options: HttpOptions,
    url: str,
    status: int,
    reason: str,
    final_url: str,
    charset: str,
    headers: dict[str, str],
    body: bytes,
    elapsed: float,
) -> Measurement:
    where = _where(final_url, url)
    metrics: dict[str, float] = {"status_code": status, "body_bytes": len(body)}
    conditions, readings = options.parsed()
    answer = Answer(status, elapsed, headers, body, charset)
    try:
        if not readings:
            read: dict[str, float] = {}
        elif any(r.pattern is not None for r in readings.values()):  # a search may take its half second: off the loop
            read = await asyncio.to_thread(_read_metrics, readings, answer)
        else:
            read = _read_metrics(readings, answer)
    except PatternTimeout as exc:
        raise CannotProbe(f"HTTP {status} from {where}: {exc}", metrics=metrics) from None
    metrics.update(read)
    if not options.checks_status() and not options.accepts(status):
        raise UnexpectedAnswer(f"{_status_line(status, reason)} from {where}", metrics=metrics)
    if options.expect_text is not None and options.expect_text not in _decode(body, charset):
        raise UnexpectedAnswer(
            f"HTTP {status} from {where}: text {options.expect_text!r} not found in the first {len(body)} bytes",
            metrics=metrics,
        )
    try:
        if any(c.pattern is not None for c in conditions):  # a regex may take its half second: not on the event loop
            failed = await asyncio.to_thread(_failed, conditions, answer)
        else:
            failed = _failed(conditions, answer)
    except PatternTimeout as exc:
        raise CannotProbe(f"HTTP {status} from {where}: {exc}", metrics=metrics) from None
    if failed:
        said = "; ".join(f"{c.written} ({why})" for c, why in failed)
        raise UnexpectedAnswer(
            f"HTTP {status} from {where}: {len(failed)} of {len(conditions)} conditions failed: {said}", metrics=metrics
        )
    detail = f"{_status_line(status, reason)} from {where}"
    if conditions:
        detail += f"; {len(conditions)} conditions met"
    if read:
        detail += "; " + ", ".join(f"{k}={v:g}" for k, v in read.items())
    return Measurement(latency_s=elapsed, detail=detail, metrics=metrics)


# ------------------------------------------------------------------------------------- the lean client

LEAN_KEY = "http.lean"
"""``ctx.resources`` key: per target key, its options, address and lean plan (None: aiohttp)."""
_MAX_LINE = 8190  # aiohttp's max_line_size and max_field_size
_MAX_HEADERS = 128  # aiohttp's max_headers
_MAX_CHUNK_LINE = 8190
_TOKEN = re.compile(rb"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_STATUS_LINE = re.compile(rb"^HTTP/(\d)\.(\d) (\d{3})(?: (.*))?$", re.S)
_BAD_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_FORBIDDEN = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # aiohttp refuses to send these in a header
_ENCODINGS = ("gzip", "deflate")
_NO_DECODER = {
    "br": "Can not decode content-encoding: brotli (br). Please install `Brotli`",
    "zstd": "Can not decode content-encoding: zstandard (zstd). Please install `backports.zstd`",
}


@dataclass(frozen=True, slots=True)
class _Lean:
    """What the lean client needs for one target, built once: where to connect and the request's bytes."""

    host: str
    port: int
    family: int
    request: bytes
    head: bool
    final_url: str


def _lean_plan(address: str, options: HttpOptions) -> _Lean | None:
    """The lean client's plan for a target, or None when only aiohttp does exactly what the options ask."""
    if options.method not in ("GET", "HEAD") or options.body is not None or options.follow_redirects:
        return None
    if ClientRequest.DEFAULT_HEADERS.get(hdrs.ACCEPT_ENCODING) != "gzip, deflate":
        return None  # aiohttp would ask for (and decode) br or zstd too: those answers are its own
    try:
        url = URL(address)
        port = url.port
    except ValueError:
        return None
    host = url.raw_host
    if url.scheme != "http" or not host or port is None or url.raw_user or url.raw_password or "%" in host:
        return None  # https, credentials (aiohttp sends them as Basic auth), an IPv6 zone
    if not is_ip_address(host) or (":" not in host and not is_canonical_ipv4_address(host)):
        return None  # a name: aiohttp resolves it (every address, happy eyeballs) and keeps its cookies
    # the request's headers, built with the steps aiohttp takes (ClientSession._prepare_headers, then
    # ClientRequest.update_headers, update_auto_headers and send with a force_close connector)
    merged: CIMultiDict[str] = CIMultiDict({hdrs.USER_AGENT: USER_AGENT})
    added: set[str] = set()
    for key, value in CIMultiDict(options.headers).items():
        if key in added:
            merged.add(key, value)
        else:
            merged[key] = value
            added.add(key)
    headers: CIMultiDict[str] = CIMultiDict()
    authority = url.host_port_subcomponent
    if authority is None:
        return None
    headers[hdrs.HOST] = authority
    for key, value in merged.items():
        if key in hdrs.HOST_ALL:
            headers[key] = value
        else:
            headers.add(key, value)
    for key, value in ClientRequest.DEFAULT_HEADERS.items():
        if key not in headers:
            headers[key] = value
    if hdrs.CONNECTION not in headers:
        headers[hdrs.CONNECTION] = "close"
    request_line = f"{options.method} {url.raw_path_qs} HTTP/1.1"
    if any(_FORBIDDEN.search(text) for pair in headers.items() for text in pair) or _FORBIDDEN.search(request_line):
        return None  # aiohttp refuses to send it: its error, not ours
    lines = [request_line, *(f"{k}: {v}" for k, v in headers.items())]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")
    final = url.with_fragment(None) if url.raw_fragment else url
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return _Lean(host, port, family, request, options.method == "HEAD", redact_url(str(final)))


class _Invalid(Exception):
    """The answer is not HTTP/1.x as aiohttp reads it (worded like aiohttp's parser where it is fixed)."""


class _BrokenBody(Exception):
    """The head was fine, the body is not (worded like aiohttp's payload errors)."""


class _Reader:
    """Bytes from a connected non-blocking socket, read as they come, at most ``_READ_CHUNK`` at a time."""

    __slots__ = ("buf", "eof", "loop", "sock")

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
        self.loop, self.sock, self.buf, self.eof = loop, sock, bytearray(), False

    async def more(self) -> bool:
        """Read what the server sent next; False at the end of the stream."""
        if self.eof:
            return False
        data = await self.loop.sock_recv(self.sock, _READ_CHUNK)
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    async def line(self, limit: int, what: str) -> bytes | None:
        """One line without its end (CRLF or LF); None if the stream ends first."""
        start = 0
        while True:
            end = self.buf.find(b"\n", start)
            if end >= 0:
                if end > limit + 1:
                    raise _Invalid(f"Got more than {limit} bytes when reading {what}")
                line = bytes(self.buf[:end])
                del self.buf[: end + 1]
                return line[:-1] if line.endswith(b"\r") else line
            if len(self.buf) > limit + 1:
                raise _Invalid(f"Got more than {limit} bytes when reading {what}")
            start = len(self.buf)
            if not await self.more():
                return None

    async def head(self, url: str) -> list[bytes]:
        """The lines of one head (status line first), their ends (CRLF or LF) cut, without the blank line.

        At most aiohttp's line length and header count are read: past them the answer is refused.
        """
        start = 0
        while True:
            crlf, lf = self.buf.find(b"\n\r\n", start), self.buf.find(b"\n\n", start)
            if crlf >= 0 or lf >= 0:
                end, skip = (crlf, 3) if crlf >= 0 and (lf < 0 or crlf < lf) else (lf, 2)
                lines = bytes(self.buf[:end]).split(b"\n")
                del self.buf[: end + skip]
                if len(lines) > _MAX_HEADERS + 1:
                    raise _Invalid("Too many headers received")
                for i, line in enumerate(lines):
                    if line.endswith(b"\r"):
                        line = lines[i] = line[:-1]
                    if len(line) > _MAX_LINE:
                        raise _Invalid(f"Got more than {_MAX_LINE} bytes when reading {_what(i)}")
                return lines
            last, count = self.buf.rfind(b"\n"), self.buf.count(b"\n")
            if len(self.buf) - last - 1 > _MAX_LINE + 1:
                raise _Invalid(f"Got more than {_MAX_LINE} bytes when reading {_what(count)}")
            if count > _MAX_HEADERS + 1:
                raise _Invalid("Too many headers received")
            start = max(0, len(self.buf) - 2)
            if not await self.more():
                if not self.buf:
                    raise ConnectError(f"{url}: the server closed the connection without an answer")
                if last < 0:
                    raise _Invalid("the answer ended inside the status line")
                raise _Invalid("the answer ended inside its headers")


def _what(index: int) -> str:
    return "the status line" if index == 0 else "a header line"


async def _lean_fetch(lean: _Lean, url: str, limit: int) -> _Fetched:
    loop = asyncio.get_running_loop()
    t0 = time.monotonic()
    sock = socket.socket(lean.family, socket.SOCK_STREAM | socket.SOCK_NONBLOCK, socket.IPPROTO_TCP)
    try:
        try:
            sent = await _connect_and_send(loop, sock, lean)
        except OSError as exc:
            raise ConnectError(f"connect {host_port(lean.host, lean.port)}: {os_reason(exc)}") from exc
        reader = _Reader(loop, sock)
        try:
            if sent < len(lean.request):
                await loop.sock_sendall(sock, lean.request[sent:])
            status, reason, headers, charset, raw = await _read_head(reader, url)
            body = (
                b""
                if lean.head or status in (204, 304) or 100 <= status < 200
                else await _read_payload(reader, headers, raw, limit)
            )
        except _Invalid as exc:
            raise UnexpectedAnswer(f"{url}: invalid HTTP response: {exc}") from None
        except _BrokenBody as exc:
            raise UnexpectedAnswer(f"{url}: broken response body: {exc}") from None
        except OSError as exc:
            raise ConnectError(f"{url}: {os_reason(exc)}") from exc
        elapsed = time.monotonic() - t0
    finally:
        sock.close()
    return status, reason, lean.final_url, charset, headers, body, elapsed


async def _connect_and_send(loop: asyncio.AbstractEventLoop, sock: socket.socket, lean: _Lean) -> int:
    """Connect, and send what the socket takes at once; returns how many bytes of the request went out.

    On loopback and fast links the handshake is often done by the time ``connect`` returns "in progress":
    the request is then sent at once, without waiting a turn of the event loop for the socket to become
    writable. An OSError here is a connection that did not open.
    """
    code = sock.connect_ex((lean.host, lean.port))
    if code not in (0, errno.EINPROGRESS, errno.EAGAIN, errno.EINTR):
        raise OSError(code, os.strerror(code))
    if code != 0:
        try:
            return sock.send(lean.request)
        except BlockingIOError:  # still connecting: wait until the socket is writable, then ask how it went
            await _writable(loop, sock)
            code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code:
                raise OSError(code, os.strerror(code)) from None
    return 0


async def _writable(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
    ready = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    fd = sock.fileno()
    loop.add_writer(fd, wake)
    try:
        await ready
    finally:
        loop.remove_writer(fd)


async def _read_head(reader: _Reader, url: str) -> tuple[int, str, dict[str, str], str, list[tuple[str, str]]]:
    """Status, reason, headers (lower-case names, the last of each name), charset, and the headers as sent.

    1xx answers before the final one are skipped, as aiohttp does (101 is final).
    """
    while True:
        lines = await reader.head(url)
        first = lines[0]
        m = _STATUS_LINE.match(first)
        if m is None:
            shown = f"{first[:100]!r} ^"
            if not first.startswith(b"HTTP/"):
                raise _Invalid(f"Bad status line: Expected HTTP/, RTSP/ or ICE/: {shown}")
            raise _Invalid(f"Bad status line: Invalid status code: {shown}")
        status = int(m.group(3))
        reason = (m.group(4) or b"").decode("utf-8", "surrogateescape").strip()
        raw: list[tuple[str, str]] = []
        for line in lines[1:]:
            if line[:1] in (b" ", b"\t") and raw:  # an obsolete folded line continues the value before
                name, value = raw[-1]
                more = line.strip(b" \t").decode("utf-8", "surrogateescape")
                raw[-1] = (name, f"{value} {more}")
                continue
            name_bytes, colon, value_bytes = line.partition(b":")
            if not colon or not _TOKEN.match(name_bytes):
                raise _Invalid(f"Invalid header token: {line[:100]!r} ^")
            value_bytes = value_bytes.strip(b" \t")
            if _BAD_VALUE.search(value_bytes):
                raise _Invalid(f"Invalid HTTP header: {value_bytes[:100]!r}")
            raw.append((name_bytes.decode("ascii"), value_bytes.decode("utf-8", "surrogateescape")))
        if 100 <= status < 200 and status != 101:
            continue
        _framing(raw)
        headers = {name.lower(): value for name, value in raw}
        encoding = headers.get("content-encoding", "")
        if encoding.isascii() and encoding.lower() in _NO_DECODER:  # aiohttp refuses these at the head
            raise _Invalid(_NO_DECODER[encoding.lower()])
        content_type = next((v for n, v in raw if n.lower() == "content-type"), None)
        charset = (parse_content_type(content_type)[1].get("charset") if content_type else None) or "utf-8"
        return status, reason, headers, charset, raw


async def _read_payload(reader: _Reader, headers: dict[str, str], raw: list[tuple[str, str]], limit: int) -> bytes:
    """At most ``limit`` bytes of the body (decoded, for gzip and deflate), framed as the headers say."""
    length, transfer = _framing(raw)
    chunked = transfer is not None and transfer.rsplit(",", 1)[-1].strip().lower() == "chunked"
    encoding = headers.get("content-encoding")
    decoder: _Decoder | None = None
    if encoding is not None and encoding.isascii() and encoding.lower() in _ENCODINGS:
        decoder = _Decoder(encoding.lower())
    out = bytearray()
    if limit <= 0:
        return b""
    if chunked:
        async for piece in _chunks(reader):
            if _take(out, piece, decoder, limit):
                return bytes(out)
    elif length is not None:
        received = 0
        while received < length:
            if not reader.buf and not await reader.more():
                raise _BrokenBody(
                    "400, message: Not enough data to satisfy content length header "
                    f"(received {received} of {length} bytes)."
                )
            piece = bytes(reader.buf[: length - received])
            del reader.buf[: len(piece)]
            received += len(piece)
            if _take(out, piece, decoder, limit):
                return bytes(out)
    else:  # until the server closes
        while reader.buf or await reader.more():
            piece = bytes(reader.buf)
            reader.buf.clear()
            if _take(out, piece, decoder, limit):
                return bytes(out)
    if decoder is not None:
        decoder.finish()
    return bytes(out)


def _framing(raw: list[tuple[str, str]]) -> tuple[int | None, str | None]:
    """Content-Length and Transfer-Encoding, refused where aiohttp's parser refuses them (also for HEAD)."""
    lengths = [(n, v) for n, v in raw if n.lower() == "content-length"]
    transfer = next(((n, v) for n, v in raw if n.lower() == "transfer-encoding"), None)
    if transfer is not None and lengths:
        raise _Invalid(f"Transfer-Encoding can't be present with Content-Length: {_shown(transfer)}")
    if len(lengths) > 1:
        raise _Invalid(f"Duplicate Content-Length: {_shown(lengths[1])}")
    if lengths and (not lengths[0][1].isdigit() or not lengths[0][1].isascii()):
        raise _Invalid(f"Invalid character in Content-Length: {_shown(lengths[0])}")
    return (int(lengths[0][1]) if lengths else None), (transfer[1] if transfer is not None else None)


def _shown(header: tuple[str, str]) -> str:
    """A header line quoted as aiohttp's parser quotes the line it stopped at."""
    return f"{f'{header[0]}: {header[1]}'.encode('utf-8', 'surrogateescape')[:100]!r} ^"


def _take(out: bytearray, piece: bytes, decoder: _Decoder | None, limit: int) -> bool:
    """Add a piece of the body (decoded) to ``out``, up to ``limit``; True once the limit is reached."""
    if decoder is not None:
        piece = decoder.feed(piece, limit - len(out))
    out += piece[: limit - len(out)]
    return len(out) >= limit


class _Decoder:
    """gzip or deflate, decoded as aiohttp's ZLibDecompressor does (deflate with or without its zlib header)."""

    __slots__ = ("encoding", "fed", "z")

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self.fed = 0
        self.z: zlib._Decompress | None = None

    def feed(self, data: bytes, most: int) -> bytes:
        if not data:
            return b""
        if self.z is None:
            if self.encoding == "gzip":
                wbits = 16 + zlib.MAX_WBITS
            else:  # RFC 1950's header or raw deflate, as aiohttp guesses from the first byte
                wbits = zlib.MAX_WBITS if data[0] & 0xF == 8 else -zlib.MAX_WBITS
            self.z = zlib.decompressobj(wbits=wbits)
        self.fed += len(data)
        try:
            return self.z.decompress(data, max(1, most))  # at most what is still wanted: no bomb unpacks here
        except zlib.error:
            raise _BrokenBody(f"400, message: Can not decode content-encoding: {self.encoding}") from None

    def finish(self) -> None:
        if self.fed and self.encoding == "deflate" and self.z is not None and not self.z.eof:
            raise _BrokenBody("400, message: deflate")


async def _chunks(reader: _Reader) -> AsyncIterator[bytes]:
    """The chunks of a chunked body, as they come (trailers are read and dropped)."""
    while True:
        line = await reader.line(_MAX_CHUNK_LINE, "a chunk size")
        if line is None:
            raise _BrokenBody("400, message: Not enough data to satisfy transfer length header.")
        size_text = line.split(b";", 1)[0].strip(b" \t")
        if not size_text or len(size_text) > 16 or size_text.strip(b"0123456789abcdefABCDEF"):
            raise _Invalid(f"Invalid character in chunk size: {size_text[:40]!r} ^")
        size = int(size_text, 16)
        if size == 0:
            for _ in range(_MAX_HEADERS + 1):
                trailer = await reader.line(_MAX_LINE, "a trailer")
                if not trailer:  # the empty line, or the end of the stream: the body is whole
                    return
            raise _Invalid("Too many trailers received")
        left = size
        while left:
            if not reader.buf and not await reader.more():
                raise _BrokenBody("400, message: Not enough data to satisfy transfer length header.")
            piece = bytes(reader.buf[:left])
            del reader.buf[: len(piece)]
            left -= len(piece)
            yield piece
        end = await reader.line(2, "a chunk's end")
        if end is None:
            raise _BrokenBody("400, message: Not enough data to satisfy transfer length header.")
        if end:
            raise _Invalid(f"Invalid character in chunk data end: {end[:40]!r}")


@functools.lru_cache(maxsize=1024)
def _where(final_url: str, url: str) -> str:
    """The URL a detail names: the answer's, and the target's when a redirect was followed."""
    redirected = without_userinfo(final_url) != without_userinfo(url)  # aiohttp moves credentials to a header
    return f"{final_url} (redirected from {url})" if redirected else url


def _failed(conditions: list[Condition], answer: Answer) -> list[tuple[Condition, str]]:
    return [(c, why) for c in conditions if (why := c.check(answer)) is not None]


def _read_metrics(readings: dict[str, Reading], answer: Answer) -> dict[str, float]:
    """The numbers the config asks for; one that is missing or not a number is left out (a condition can insist).

    A date (``2027-03-31``, ``31.03.2027``, a card's ``03/27``) is recorded as the whole days from today
    (UTC) to it: a card's or a paid period's days left, which ``account.expiry_from`` warns about.
    """
    found: dict[str, float] = {}
    today = dt.datetime.now(dt.UTC).date()
    for name, reading in readings.items():
        try:
            raw = reading.value(answer)
        except PatternTimeout:
            raise  # the agent's trouble: the probe says so (internal)
        except Exception:  # Missing, or a JSONPath that fails on this document: no number this time
            continue
        value = number_of(raw)
        if value is None and (day := date_of(raw)) is not None:
            value = float((day - today).days)
        if value is not None:
            found[name] = value
    return found


async def _read_body(response: aiohttp.ClientResponse, limit: int) -> bytes:
    chunks: list[bytes] = []
    left = limit
    while left > 0:
        chunk = await response.content.read(min(left, _READ_CHUNK))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _status_line(status: int, reason: str) -> str:
    return f"HTTP {status} {reason}" if reason else f"HTTP {status}"


def _decode(body: bytes, charset: str) -> str:
    try:
        return body.decode(charset, errors="replace")
    except LookupError:  # a charset Python does not know: the text is most likely ASCII-compatible
        return body.decode("utf-8", errors="replace")


def _cert_reason(error: Exception) -> str:
    if isinstance(error, ssl.SSLCertVerificationError) and error.verify_message:
        return f"certificate verify failed: {error.verify_message}"
    return str(error)


def _ssl_reason(error: OSError) -> str:
    if isinstance(error, ssl.SSLError) and error.reason:
        return str(error.reason)
    return os_reason(error)


def _cause(exc: BaseException) -> str:
    cause = exc.__cause__ or exc.__context__
    return str(cause or exc)
