"""TLS probe: does the handshake succeed, does the certificate verify, and how long until it expires?

A certificate that is still valid but close to its end (fewer than ``min_days_left`` days) is a
*warning*, not a failure: the service works, so the result is up, with ``expiry_warning`` in its metrics
and the days left in its detail; the notifier warns (once per ``tls_warn_days`` step) and the report
notes it. An expired certificate, or one that does not verify, is a real failure.

The TCP connection is opened first and TLS started on it, so the handshake is timed on its own (the
latency) apart from the connect. The certificate's expiry is read from its DER bytes with
``cryptography``, which works with verification off too (``getpeercert()`` returns nothing then).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import ssl
import time
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID
from pydantic import Field, field_validator

from probes._net import host_port, os_reason
from watchdog.errors import ConnectError, ResolveError, TLSError
from watchdog.model import Target
from watchdog.probe import Measurement, ProbeContext, ProbeOptions, split_host_port

DEFAULT_PORT = 443
SSL_KEY = "tls.ssl_contexts"
_DAY_S = 86_400.0


class TlsOptions(ProbeOptions):
    """Which name to ask for, whether to verify, and how close to expiry is too close."""

    server_name: str | None = Field(default=None, min_length=1)
    """The name sent as SNI and checked against the certificate (default: the address's host)."""
    min_days_left: int = Field(default=14, ge=0)
    """Fewer days left than this: a warning (result up, ``expiry_warning`` metric), never a failure."""
    verify: bool = True
    ca_file: str | None = None
    """A PEM bundle of CAs to trust instead of the system's (a private CA)."""

    @field_validator("ca_file")
    @classmethod
    def _ca_file(cls, value: str | None) -> str | None:
        if value is not None and not Path(value).expanduser().is_file():
            raise ValueError(f"no such file: {value!r}")
        return value


def check_address(address: str) -> str | None:
    """TLS needs ``host`` or ``host:port`` (port 443 by default)."""
    try:
        split_host_port(address, DEFAULT_PORT)
    except ValueError as exc:
        return str(exc)
    return None


def _context(ctx: ProbeContext, options: TlsOptions) -> ssl.SSLContext:
    return client_context(ctx, options.verify, options.ca_file)


def client_context(ctx: ProbeContext, verify: bool, ca_file: str | None) -> ssl.SSLContext:
    """A client SSLContext shared by every probe with the same ``verify`` and ``ca_file`` (tls, tcp dialogues)."""
    contexts: dict[tuple[bool, str | None], ssl.SSLContext] = ctx.resources.setdefault(SSL_KEY, {})
    key = (verify, ca_file)
    if key not in contexts:
        if verify:
            cafile = str(Path(ca_file).expanduser()) if ca_file else None
            context = ssl.create_default_context(cafile=cafile)
        else:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        contexts[key] = context
    return contexts[key]


async def probe_tls(ctx: ProbeContext, target: Target) -> Measurement:
    """Connect, handshake, read the certificate's expiry; fail if it does not verify or has expired."""
    options: TlsOptions = target.options or TlsOptions()
    host, port = split_host_port(target.address, DEFAULT_PORT)
    server = host_port(host, port)
    server_name = options.server_name or host
    context = _context(ctx, options)
    t0 = time.monotonic()
    try:
        _reader, writer = await asyncio.open_connection(host, port)
    except socket.gaierror as exc:
        raise ResolveError(f"resolve {host}: {os_reason(exc)}") from exc
    except OSError as exc:
        raise ConnectError(f"connect {server}: {os_reason(exc)}") from exc
    connect_s = time.monotonic() - t0
    try:
        t1 = time.monotonic()
        try:
            await writer.start_tls(context, server_hostname=server_name)
        except ssl.SSLCertVerificationError as exc:
            raise TLSError(f"TLS {server}: certificate verify failed: {exc.verify_message}") from exc
        except ssl.SSLError as exc:
            raise TLSError(f"TLS handshake with {server} failed: {exc.reason or exc}") from exc
        except OSError as exc:  # reset or closed mid-handshake: TCP worked, TLS did not
            # asyncio reports a close and a reset alike, as a bare ConnectionResetError without an errno.
            reason = "connection closed by the server" if exc.errno is None else os_reason(exc)
            raise TLSError(f"TLS handshake with {server} failed: {reason}") from exc
        handshake_s = time.monotonic() - t1
        ssl_object = writer.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    finally:
        # No TLS close_notify exchange: a peer that never answers it would stall the probe past its timeout.
        writer.transport.abort()
    if not der:
        raise TLSError(f"TLS {server}: the server sent no certificate")

    cert = x509.load_der_x509_certificate(der)
    not_after = cert.not_valid_after_utc
    days_left = (not_after - dt.datetime.now(dt.UTC)).total_seconds() / _DAY_S
    # times to the microsecond, like latency_us: every extra digit is journaled with every run (days_left
    # keeps its precision: rounded, a certificate about to pass a whole day would already read as past it)
    metrics: dict[str, float] = {
        "days_left": days_left,
        "not_after_ts": not_after.timestamp(),
        "connect_s": round(connect_s, 6),
        "handshake_s": round(handshake_s, 6),
    }
    date = not_after.date().isoformat()
    if days_left < 0:  # only reached with verify: false (verification refuses an expired certificate)
        raise TLSError(f"certificate for {server_name} expired {_span(-days_left)} ago ({date})", metrics=metrics)
    detail = f"certificate {_subject(cert)} valid until {date} ({_span(days_left)} left)"
    if days_left < options.min_days_left:
        # a warning, not downtime: the service answers; the notifier and the report say it is time to renew
        metrics["expiry_warning"] = 1.0
        detail = f"{detail}; expires soon (warning below min_days_left {options.min_days_left})"
    return Measurement(latency_s=metrics["handshake_s"], detail=detail, metrics=metrics)


def _span(days: float) -> str:
    """Whole days (rounded down), or hours under a day: never more time than there is."""
    if days >= 1:
        n = int(days)
        return f"{n} day" if n == 1 else f"{n} days"
    hours = int(days * 24)
    if hours >= 1:
        return f"{hours} hour" if hours == 1 else f"{hours} hours"
    return "less than an hour"


def _subject(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if names:
        return f"CN={names[0].value!s}"
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return cert.subject.rfc4514_string() or "(no subject)"
    dns_names = san.get_values_for_type(x509.DNSName)
    return f"DNS:{dns_names[0]}" if dns_names else cert.subject.rfc4514_string() or "(no subject)"
