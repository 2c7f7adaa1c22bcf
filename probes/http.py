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
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import re
import ssl
import time
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

import aiohttp
from pydantic import AfterValidator, Field, field_validator, model_validator

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

    redirected = without_userinfo(final_url) != without_userinfo(url)  # aiohttp moves credentials to a header
    where = f"{final_url} (redirected from {url})" if redirected else url
    metrics: dict[str, float] = {"status_code": status, "body_bytes": len(body)}
    conditions, readings = options.parsed()
    answer = Answer(status, elapsed, headers, body, charset)
    try:
        if any(r.pattern is not None for r in readings.values()):  # a search may take its half second: off the loop
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
