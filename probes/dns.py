"""DNS probe: does a DNS server answer a query with the expected rcode (and records), and how fast?

The address is the server (``host`` or ``host:port``, port 53 by default; ``[::1]:5353`` for IPv6).
Over UDP the socket is connected, so a closed port (an ICMP port unreachable) is reported as refused
instead of looking like silence; a truncated UDP answer is asked again over TCP, as resolvers do.
"""

from __future__ import annotations

import socket
import time
from typing import Literal

import dns.asyncbackend
import dns.asyncquery
import dns.exception
import dns.inet
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
from pydantic import Field, field_validator

from probes._net import host_port, os_reason, resolve_ip
from watchdog.errors import ConnectError, ProbeTimeout, UnexpectedAnswer
from watchdog.model import Target
from watchdog.probe import Measurement, ProbeContext, ProbeOptions, split_host_port

DEFAULT_PORT = 53
_SHOW_ANSWERS = 5


class DnsOptions(ProbeOptions):
    """The question to ask and the answer to expect."""

    query_name: str = Field(min_length=1)
    query_type: str = "A"
    expect_rcode: str = "NOERROR"
    expect_answer: list[str] | None = Field(default=None, min_length=1)
    """Record texts that must all be in the answer (``127.0.0.1``, ``mail.example.com``)."""
    transport: Literal["udp", "tcp"] = "udp"

    @field_validator("query_name")
    @classmethod
    def _name(cls, value: str) -> str:
        try:
            dns.name.from_text(value)
        except dns.exception.DNSException as exc:
            raise ValueError(f"not a valid DNS name: {value!r} ({exc})") from exc
        return value

    @field_validator("query_type")
    @classmethod
    def _type(cls, value: str) -> str:
        try:
            return dns.rdatatype.to_text(dns.rdatatype.from_text(value))
        except dns.exception.DNSException as exc:
            raise ValueError(f"unknown DNS record type {value!r}") from exc

    @field_validator("expect_rcode")
    @classmethod
    def _rcode(cls, value: str) -> str:
        try:
            return dns.rcode.to_text(dns.rcode.from_text(value))
        except dns.exception.DNSException as exc:
            raise ValueError(f"unknown DNS rcode {value!r} (e.g. NOERROR, NXDOMAIN, SERVFAIL)") from exc


def check_address(address: str) -> str | None:
    """DNS needs the server as ``host`` or ``host:port``."""
    try:
        split_host_port(address, DEFAULT_PORT)
    except ValueError as exc:
        return str(exc)
    return None


async def probe_dns(ctx: ProbeContext, target: Target) -> Measurement:
    """Ask the server one question; check the rcode and the expected records."""
    options: DnsOptions = target.options
    host, port = split_host_port(target.address, DEFAULT_PORT)
    ip = await resolve_ip(host)
    server = host_port(host, port)
    question = f"{options.query_name} {options.query_type}"
    query = dns.message.make_query(options.query_name, options.query_type)
    t0 = time.monotonic()
    try:
        if options.transport == "tcp":
            response = await dns.asyncquery.tcp(query, ip, port=port)
        else:
            response = await _udp(query, ip, port)
    except dns.exception.Timeout as exc:  # not expected (no dnspython timeout is set), kept for safety
        raise ProbeTimeout(f"DNS {server}: no answer for {question}") from exc
    except EOFError as exc:
        raise ConnectError(f"DNS {server}: the server closed the connection without an answer") from exc
    except OSError as exc:
        raise ConnectError(f"DNS {server} ({options.transport}): {os_reason(exc)}") from exc
    except dns.exception.DNSException as exc:  # FormError, BadResponse, UnexpectedSource, ...
        raise UnexpectedAnswer(f"DNS {server}: bad answer for {question}: {exc}") from exc
    elapsed = time.monotonic() - t0

    rcode = response.rcode()
    # Sorted: dnspython keeps an rrset as a set, so the wire order is lost anyway and details stay stable.
    texts = sorted(rdata.to_text() for rrset in response.answer for rdata in rrset)
    metrics: dict[str, float] = {"rcode": int(rcode), "answers": len(texts)}
    rcode_text = dns.rcode.to_text(rcode)
    if rcode_text != options.expect_rcode:
        raise UnexpectedAnswer(
            f"DNS {rcode_text} for {question} from {server} (expected {options.expect_rcode})", metrics=metrics
        )
    have = {_norm(text) for text in texts}
    missing = [want for want in options.expect_answer or () if _norm(want) not in have]
    if missing:
        raise UnexpectedAnswer(
            f"DNS answer for {question} from {server} lacks {', '.join(missing)} (got {_show(texts)})",
            metrics=metrics,
        )
    return Measurement(
        latency_s=elapsed, detail=f"DNS {rcode_text} for {question} from {server}: {_show(texts)}", metrics=metrics
    )


async def _udp(query: dns.message.Message, ip: str, port: int) -> dns.message.Message:
    backend = dns.asyncbackend.get_default_backend()
    af = dns.inet.af_for_address(ip)
    # A connected socket: the kernel then reports an ICMP port unreachable as ConnectionRefusedError.
    sock = await backend.make_socket(af, socket.SOCK_DGRAM, 0, None, (ip, port))  # type: ignore[no-untyped-call]
    async with sock:
        try:
            return await dns.asyncquery.udp(query, ip, port=port, sock=sock, raise_on_truncation=True)
        except dns.message.Truncated:
            pass
    return await dns.asyncquery.tcp(query, ip, port=port)


def _norm(text: str) -> str:
    """Compare record texts loosely: no surrounding quotes, no trailing dot, any case."""
    return text.strip().strip('"').rstrip(".").casefold()


def _show(texts: list[str]) -> str:
    if not texts:
        return "no records"
    shown = ", ".join(texts[:_SHOW_ANSWERS])
    return shown if len(texts) <= _SHOW_ANSWERS else f"{shown} and {len(texts) - _SHOW_ANSWERS} more"
