"""The TLS probe against asyncio TLS servers on 127.0.0.1 with certificates made by trustme."""

from __future__ import annotations

import math

import pytest
import trustme
from conftest import Pki, StartTls, utc_in
from probe_servers import make_target, probe
from pydantic import ValidationError

from probes import tls
from probes.tls import TlsOptions
from watchdog.model import FailureKind
from watchdog.probe import ProbeContext


async def test_valid(ctx: ProbeContext, pki: Pki, tls_server: StartTls) -> None:
    not_after = utc_in(87.5)
    port = await tls_server(pki.ca.issue_cert("localhost", common_name="localhost", not_after=not_after))
    result = await probe(
        ctx, make_target("tls", f"127.0.0.1:{port}", server_name="localhost", ca_file=str(pki.ca_file))
    )
    assert (result.ok, result.failure) == (True, None)
    assert result.detail == f"certificate CN=localhost valid until {not_after.date().isoformat()} (87 days left)"
    assert set(result.metrics) == {"days_left", "not_after_ts", "connect_s", "handshake_s"}
    assert result.metrics["not_after_ts"] == math.floor(not_after.timestamp())  # certificates keep whole seconds
    assert 87.49 < result.metrics["days_left"] < 87.5
    assert result.latency_s == result.metrics["handshake_s"] and 0 < result.latency_s < 1


async def test_expires_soon_is_a_warning_not_a_failure(ctx: ProbeContext, pki: Pki, tls_server: StartTls) -> None:
    """Issue 14: a certificate still valid (online banking works) is up, with a warning; never a failed probe."""
    not_after = utc_in(3.5)
    port = await tls_server(pki.ca.issue_cert("localhost", common_name="localhost", not_after=not_after))
    result = await probe(ctx, make_target("tls", f"localhost:{port}", ca_file=str(pki.ca_file)))
    assert (result.ok, result.failure) == (True, None)
    assert result.detail == (
        f"certificate CN=localhost valid until {not_after.date().isoformat()} (3 days left); "
        "expires soon (warning below min_days_left 14)"
    )
    assert result.metrics["expiry_warning"] == 1.0
    assert 3.49 < result.metrics["days_left"] < 3.5
    relaxed = await probe(ctx, make_target("tls", f"localhost:{port}", ca_file=str(pki.ca_file), min_days_left=3))
    assert (relaxed.ok, "expiry_warning" in relaxed.metrics) == (True, False)
    assert relaxed.detail == f"certificate CN=localhost valid until {not_after.date().isoformat()} (3 days left)"


async def test_hours_left(ctx: ProbeContext, pki: Pki, tls_server: StartTls) -> None:
    not_after = utc_in(5.5 / 24)
    port = await tls_server(pki.ca.issue_cert("localhost", common_name="localhost", not_after=not_after))
    result = await probe(ctx, make_target("tls", f"localhost:{port}", ca_file=str(pki.ca_file), min_days_left=1))
    assert (result.ok, result.failure) == (True, None)
    assert result.detail == (
        f"certificate CN=localhost valid until {not_after.date().isoformat()} (5 hours left); "
        "expires soon (warning below min_days_left 1)"
    )


async def test_expired_fails_verification(ctx: ProbeContext, pki: Pki, tls_server: StartTls) -> None:
    not_after = utc_in(-2.5)
    port = await tls_server(pki.ca.issue_cert("localhost", not_after=not_after))
    verified = await probe(ctx, make_target("tls", f"localhost:{port}", ca_file=str(pki.ca_file)))
    assert (verified.failure, verified.detail) == (
        FailureKind.TLS,
        f"TLS localhost:{port}: certificate verify failed: certificate has expired",
    )
    unverified = await probe(ctx, make_target("tls", f"localhost:{port}", verify=False))
    assert (unverified.failure, unverified.detail) == (
        FailureKind.TLS,
        f"certificate for localhost expired 2 days ago ({not_after.date().isoformat()})",
    )
    assert -2.51 < unverified.metrics["days_left"] < -2.5


async def test_wrong_hostname(ctx: ProbeContext, pki: Pki, tls_server: StartTls) -> None:
    port = await tls_server(pki.ca.issue_cert("other.test"))
    result = await probe(
        ctx, make_target("tls", f"127.0.0.1:{port}", server_name="localhost", ca_file=str(pki.ca_file))
    )
    assert (result.ok, result.failure) == (False, FailureKind.TLS)
    assert result.detail == (
        f"TLS 127.0.0.1:{port}: certificate verify failed: Hostname mismatch, certificate is not valid for 'localhost'."
    )
    ip = await probe(ctx, make_target("tls", f"127.0.0.1:{port}", ca_file=str(pki.ca_file)))
    assert ip.detail == (
        f"TLS 127.0.0.1:{port}: certificate verify failed: "
        "IP address mismatch, certificate is not valid for '127.0.0.1'."
    )


async def test_untrusted(ctx: ProbeContext, pki: Pki, tls_server: StartTls) -> None:
    port = await tls_server(pki.other_ca.issue_cert("localhost"))
    result = await probe(ctx, make_target("tls", f"localhost:{port}", ca_file=str(pki.ca_file)))
    assert (result.ok, result.failure) == (False, FailureKind.TLS)
    assert result.detail == f"TLS localhost:{port}: certificate verify failed: unable to get local issuer certificate"
    system = await probe(ctx, make_target("tls", f"localhost:{port}"))  # the system's CAs do not know trustme's
    assert system.detail == result.detail


async def test_self_signed_with_verify_off(ctx: ProbeContext, tls_server: StartTls) -> None:
    # A leaf that is its own issuer: trustme's CA certificate presented as the server certificate.
    ca = trustme.CA(organization_name="Self Signed")
    leaf = trustme.LeafCert(ca.private_key_pem.bytes(), ca.cert_pem.bytes(), [])
    port = await tls_server(leaf)
    verified = await probe(ctx, make_target("tls", f"localhost:{port}"))
    assert verified.detail == f"TLS localhost:{port}: certificate verify failed: self-signed certificate"
    unverified = await probe(ctx, make_target("tls", f"localhost:{port}", verify=False))
    assert unverified.ok
    assert (
        unverified.detail.startswith("certificate OU=Testing CA #")
        and ",O=Self Signed valid until " in unverified.detail
    )


async def test_not_tls(ctx: ProbeContext, eof_port: int, tcp_port: int) -> None:
    for port in (eof_port, tcp_port):  # a clean close after the hello, and a close before reading it
        result = await probe(ctx, make_target("tls", f"127.0.0.1:{port}", verify=False))
        assert (result.ok, result.failure) == (False, FailureKind.TLS)
        assert result.detail == f"TLS handshake with 127.0.0.1:{port} failed: connection closed by the server"


async def test_refused(ctx: ProbeContext, refused_port: int) -> None:
    result = await probe(ctx, make_target("tls", f"127.0.0.1:{refused_port}"))
    assert (result.ok, result.failure, result.detail) == (
        False,
        FailureKind.CONNECT,
        f"connect 127.0.0.1:{refused_port}: Connection refused",
    )


async def test_silent_server_times_out(ctx: ProbeContext, silent_port: int) -> None:
    result = await probe(ctx, make_target("tls", f"127.0.0.1:{silent_port}", timeout_s=0.3))
    assert (result.ok, result.failure, result.detail) == (False, FailureKind.TIMEOUT, "no answer within 0.3s")


async def test_contexts_are_shared(ctx: ProbeContext, pki: Pki, tls_server: StartTls) -> None:
    port = await tls_server(pki.ca.issue_cert("localhost"))
    target = make_target("tls", f"localhost:{port}", ca_file=str(pki.ca_file))
    assert (await probe(ctx, target)).ok and (await probe(ctx, target)).ok
    assert list(ctx.resources[tls.SSL_KEY]) == [(True, str(pki.ca_file))]


# --------------------------------------------------------------------------------------------- options


def test_option_defaults() -> None:
    assert TlsOptions.model_validate({}) == TlsOptions(server_name=None, min_days_left=14, verify=True, ca_file=None)


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ({"sni": "x"}, "Extra inputs are not permitted"),
        ({"min_days_left": -1}, "Input should be greater than or equal to 0"),
        ({"min_days_left": "14"}, "Input should be a valid integer"),
        ({"verify": "no"}, "Input should be a valid boolean"),
        ({"server_name": ""}, "String should have at least 1 character"),
        ({"ca_file": "/nonexistent/ca.pem"}, "no such file: '/nonexistent/ca.pem'"),
    ],
)
def test_option_errors(block: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        TlsOptions.model_validate(block)


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("example.net", None),
        ("example.net:8443", None),
        ("[::1]:443", None),
        ("example.net:https", "bad port 'https' in 'example.net:https'"),
        (":443", "no host in ':443'"),
    ],
)
def test_check_address(address: str, problem: str | None) -> None:
    assert tls.check_address(address) == problem
