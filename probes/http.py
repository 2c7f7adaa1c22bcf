"""HTTP(S) probe: does a URL answer with an expected status (and text), and how long does the answer take?

Every probe opens a fresh connection (resolve, connect, TLS, request), like blackbox_exporter with
keep-alives off: a pooled socket would only prove that an old flow still works, while the question is
whether a new client can get through. The aiohttp session is shared (one per agent) only to reuse its
machinery; its connector closes every connection and caches no DNS answers.
"""

from __future__ import annotations

import ssl
import time
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import aiohttp
from pydantic import Field, field_validator, model_validator

import watchdog
from probes._net import host_port, os_reason
from watchdog.errors import ConnectError, ResolveError, TLSError, UnexpectedAnswer
from watchdog.model import Target
from watchdog.probe import Measurement, ProbeContext, ProbeOptions
from watchdog.units import redact_url, without_userinfo

SESSION_KEY = "http.session"
SSL_KEY = "http.ssl_contexts"
USER_AGENT = f"outage-watchdog/{watchdog.__version__}"
_READ_CHUNK = 64 * 1024


class HttpOptions(ProbeOptions):
    """What to send and what the answer must look like."""

    method: Literal["GET", "HEAD"] = "GET"
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

    @model_validator(mode="after")
    def _head_has_no_body(self) -> HttpOptions:
        if self.method == "HEAD" and self.expect_text is not None:
            raise ValueError("expect_text needs method GET: a HEAD answer has no body")
        return self

    def accepts(self, status: int) -> bool:
        """True if ``status`` is an expected one."""
        return status in self.expect_status if self.expect_status else 200 <= status <= 399


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
            allow_redirects=options.follow_redirects,
            ssl=ssl_option,
        ) as response:
            body = await _read_body(response, options.max_body_bytes)
            elapsed = time.monotonic() - t0
            status, reason, final_url = response.status, response.reason or "", redact_url(str(response.url))
            charset = response.charset or "utf-8"
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
    if not options.accepts(status):
        raise UnexpectedAnswer(f"{_status_line(status, reason)} from {where}", metrics=metrics)
    if options.expect_text is not None and options.expect_text not in _decode(body, charset):
        raise UnexpectedAnswer(
            f"HTTP {status} from {where}: text {options.expect_text!r} not found in the first {len(body)} bytes",
            metrics=metrics,
        )
    return Measurement(latency_s=elapsed, detail=f"{_status_line(status, reason)} from {where}", metrics=metrics)


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
