"""The DNS probe against a dnspython responder on 127.0.0.1 (UDP and TCP)."""

from __future__ import annotations

import pytest
from probe_servers import DnsResponder, free_udp_port, make_target, probe
from pydantic import ValidationError

from probes import dns
from probes.dns import DnsOptions
from watchdog.model import FailureKind
from watchdog.probe import ProbeContext


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_ok(ctx: ProbeContext, dns_server: DnsResponder, transport: str) -> None:
    server = f"127.0.0.1:{dns_server.port}"
    target = make_target("dns", server, query_name="ok.test", expect_answer=["127.0.0.2"], transport=transport)
    result = await probe(ctx, target)
    assert (result.ok, result.failure) == (True, None)
    assert result.detail == f"DNS NOERROR for ok.test A from {server}: 127.0.0.1, 127.0.0.2"
    assert result.metrics == {"rcode": 0, "answers": 2}
    assert dns_server.queries == [(transport, "ok.test", "A")]
    assert result.latency_s is not None and 0 < result.latency_s < 1


async def test_other_types_and_loose_matching(ctx: ProbeContext, dns_server: DnsResponder) -> None:
    server = f"127.0.0.1:{dns_server.port}"
    txt = await probe(
        ctx, make_target("dns", server, query_name="ok.test", query_type="txt", expect_answer=["v=watchdog1"])
    )
    mx = await probe(
        ctx, make_target("dns", server, query_name="mail.test", query_type="MX", expect_answer=["10 MX.ok.test"])
    )
    assert (txt.ok, txt.detail) == (True, f'DNS NOERROR for ok.test TXT from {server}: "v=watchdog1"')
    assert (mx.ok, mx.detail) == (True, f"DNS NOERROR for mail.test MX from {server}: 10 mx.ok.test.")


async def test_truncated_udp_answer_is_asked_again_over_tcp(ctx: ProbeContext, dns_server: DnsResponder) -> None:
    result = await probe(ctx, make_target("dns", f"127.0.0.1:{dns_server.port}", query_name="big.test"))
    assert (result.ok, result.metrics) == (True, {"rcode": 0, "answers": 1})
    assert dns_server.queries == [("udp", "big.test", "A"), ("tcp", "big.test", "A")]


@pytest.mark.parametrize(
    ("name", "rcode_text", "rcode"),
    [("broken.test", "SERVFAIL", 2), ("nope.test", "NXDOMAIN", 3), ("refused.test", "REFUSED", 5)],
)
async def test_wrong_rcode(ctx: ProbeContext, dns_server: DnsResponder, name: str, rcode_text: str, rcode: int) -> None:
    server = f"127.0.0.1:{dns_server.port}"
    result = await probe(ctx, make_target("dns", server, query_name=name))
    assert (result.ok, result.failure) == (False, FailureKind.UNEXPECTED)
    assert result.detail == f"DNS {rcode_text} for {name} A from {server} (expected NOERROR)"
    assert result.metrics == {"rcode": rcode, "answers": 0}


async def test_expected_nxdomain(ctx: ProbeContext, dns_server: DnsResponder) -> None:
    server = f"127.0.0.1:{dns_server.port}"
    result = await probe(ctx, make_target("dns", server, query_name="nope.test", expect_rcode="nxdomain"))
    assert (result.ok, result.detail) == (True, f"DNS NXDOMAIN for nope.test A from {server}: no records")


async def test_missing_answer(ctx: ProbeContext, dns_server: DnsResponder) -> None:
    server = f"127.0.0.1:{dns_server.port}"
    target = make_target("dns", server, query_name="ok.test", expect_answer=["127.0.0.1", "10.0.0.1", "10.0.0.2"])
    result = await probe(ctx, target)
    assert (result.ok, result.failure) == (False, FailureKind.UNEXPECTED)
    assert result.detail == (
        f"DNS answer for ok.test A from {server} lacks 10.0.0.1, 10.0.0.2 (got 127.0.0.1, 127.0.0.2)"
    )
    assert result.metrics == {"rcode": 0, "answers": 2}


async def test_no_records_of_that_type(ctx: ProbeContext, dns_server: DnsResponder) -> None:
    server = f"127.0.0.1:{dns_server.port}"
    result = await probe(
        ctx, make_target("dns", server, query_name="ok.test", query_type="AAAA", expect_answer=["::1"])
    )
    assert result.detail == f"DNS answer for ok.test AAAA from {server} lacks ::1 (got no records)"


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_silent_server_times_out(ctx: ProbeContext, dns_server: DnsResponder, transport: str) -> None:
    target = make_target(
        "dns", f"127.0.0.1:{dns_server.port}", query_name="silent.test", transport=transport, timeout_s=0.3
    )
    result = await probe(ctx, target)
    assert (result.ok, result.failure, result.detail) == (False, FailureKind.TIMEOUT, "no answer within 0.3s")


async def test_udp_port_closed(ctx: ProbeContext) -> None:
    port = free_udp_port()
    result = await probe(ctx, make_target("dns", f"127.0.0.1:{port}", query_name="ok.test"))
    assert (result.ok, result.failure) == (False, FailureKind.CONNECT)
    assert result.detail == f"DNS 127.0.0.1:{port} (udp): Connection refused"


async def test_tcp_port_closed(ctx: ProbeContext, refused_port: int) -> None:
    result = await probe(ctx, make_target("dns", f"127.0.0.1:{refused_port}", query_name="ok.test", transport="tcp"))
    assert (result.ok, result.failure) == (False, FailureKind.CONNECT)
    assert result.detail == f"DNS 127.0.0.1:{refused_port} (tcp): Connection refused"


async def test_tcp_hangup(ctx: ProbeContext, dns_server: DnsResponder) -> None:
    server = f"127.0.0.1:{dns_server.port}"
    result = await probe(ctx, make_target("dns", server, query_name="hangup.test", transport="tcp"))
    assert (result.ok, result.failure) == (False, FailureKind.CONNECT)
    assert result.detail == f"DNS {server}: the server closed the connection without an answer"


async def test_ipv6_server(ctx: ProbeContext) -> None:
    responder = DnsResponder(records={("ok.test", "A"): ["127.0.0.1"]})
    try:
        await responder.start("::1")
    except OSError as exc:
        pytest.skip(f"no IPv6 loopback here: {exc}")
    try:
        result = await probe(ctx, make_target("dns", f"[::1]:{responder.port}", query_name="ok.test"))
    finally:
        await responder.stop()
    assert (result.ok, result.detail) == (True, f"DNS NOERROR for ok.test A from [::1]:{responder.port}: 127.0.0.1")


# --------------------------------------------------------------------------------------------- options


def test_option_defaults() -> None:
    assert DnsOptions.model_validate({"query_name": "example.com"}) == DnsOptions(
        query_name="example.com", query_type="A", expect_rcode="NOERROR", expect_answer=None, transport="udp"
    )


def test_option_normalising() -> None:
    options = DnsOptions.model_validate({"query_name": "example.com", "query_type": "aaaa", "expect_rcode": "nxdomain"})
    assert (options.query_type, options.expect_rcode) == ("AAAA", "NXDOMAIN")


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ({}, "query_name\n  Field required"),
        ({"query_name": "a.test", "server": "127.0.0.53"}, "Extra inputs are not permitted"),
        ({"query_name": "a.test", "query_type": "BOGUS"}, "unknown DNS record type 'BOGUS'"),
        ({"query_name": "a.test", "expect_rcode": "FINE"}, "unknown DNS rcode 'FINE'"),
        ({"query_name": "a.test", "transport": "doh"}, "Input should be 'udp' or 'tcp'"),
        ({"query_name": "a.test", "expect_answer": []}, "List should have at least 1 item"),
        ({"query_name": "a." + "x" * 64 + ".test"}, "not a valid DNS name"),
    ],
)
def test_option_errors(block: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        DnsOptions.model_validate(block)


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("127.0.0.1", None),
        ("127.0.0.1:5353", None),
        ("[::1]:5353", None),
        ("dns.example.net", None),
        ("127.0.0.1:dns", "bad port 'dns' in '127.0.0.1:dns'"),
        ("[::1", "unclosed '[' in '[::1'"),
    ],
)
def test_check_address(address: str, problem: str | None) -> None:
    assert dns.check_address(address) == problem
