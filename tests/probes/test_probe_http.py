"""The HTTP probe against an aiohttp web server (plain and TLS) and raw TCP servers on 127.0.0.1."""

from __future__ import annotations

import pytest
from conftest import BODY, Pki, WebServer
from probe_servers import make_target, probe
from pydantic import ValidationError

from probes import http
from probes.http import HttpOptions
from watchdog.model import FailureKind
from watchdog.probe import ProbeContext


async def test_ok(ctx: ProbeContext, http_server: WebServer) -> None:
    url = f"{http_server.base}/ok"
    result = await probe(ctx, make_target("http", url, expect_text="watchdog test"))
    assert (result.ok, result.failure, result.detail) == (True, None, f"HTTP 200 OK from {url}")
    assert result.metrics == {"status_code": 200, "body_bytes": len(BODY)}
    assert result.latency_s is not None and 0 < result.latency_s < 1


async def test_head(ctx: ProbeContext, http_server: WebServer) -> None:
    url = f"{http_server.base}/ok"
    result = await probe(ctx, make_target("http", url, method="HEAD"))
    assert (result.ok, result.detail, result.metrics) == (
        True,
        f"HTTP 200 OK from {url}",
        {"status_code": 200, "body_bytes": 0},
    )


async def test_bad_status(ctx: ProbeContext, http_server: WebServer) -> None:
    url = f"{http_server.base}/status/503"
    result = await probe(ctx, make_target("http", url))
    assert (result.ok, result.failure) == (False, FailureKind.UNEXPECTED)
    assert result.detail == f"HTTP 503 Service Unavailable from {url}"
    assert result.metrics == {"status_code": 503, "body_bytes": len("status 503")}


async def test_expect_status(ctx: ProbeContext, http_server: WebServer) -> None:
    teapot = await probe(ctx, make_target("http", f"{http_server.base}/status/418", expect_status=[418]))
    ok = await probe(ctx, make_target("http", f"{http_server.base}/ok", expect_status=[204]))
    assert (teapot.ok, teapot.detail) == (True, f"HTTP 418 I'm a Teapot from {http_server.base}/status/418")
    assert (ok.ok, ok.failure, ok.detail) == (False, FailureKind.UNEXPECTED, f"HTTP 200 OK from {http_server.base}/ok")


async def test_missing_text(ctx: ProbeContext, http_server: WebServer) -> None:
    url = f"{http_server.base}/ok"
    result = await probe(ctx, make_target("http", url, expect_text="Welcome"))
    assert (result.ok, result.failure) == (False, FailureKind.UNEXPECTED)
    assert result.detail == f"HTTP 200 from {url}: text 'Welcome' not found in the first {len(BODY)} bytes"
    assert result.metrics == {"status_code": 200, "body_bytes": len(BODY)}


async def test_reads_at_most_max_body_bytes(ctx: ProbeContext, http_server: WebServer) -> None:
    url = f"{http_server.base}/big"
    result = await probe(ctx, make_target("http", url, expect_text="NEEDLE", max_body_bytes=1000))
    assert result.detail == f"HTTP 200 from {url}: text 'NEEDLE' not found in the first 1000 bytes"
    assert result.metrics == {"status_code": 200, "body_bytes": 1000}
    whole = await probe(ctx, make_target("http", url, expect_text="NEEDLE", max_body_bytes=3 << 20))
    assert (whole.ok, whole.metrics["body_bytes"]) == (True, (2 << 20) + len("NEEDLE"))


async def test_redirect_not_followed_is_a_pass_by_default(ctx: ProbeContext, http_server: WebServer) -> None:
    url = f"{http_server.base}/redirect"
    result = await probe(ctx, make_target("http", url))
    assert (result.ok, result.detail, result.metrics["status_code"]) == (True, f"HTTP 302 Found from {url}", 302)
    strict = await probe(ctx, make_target("http", url, expect_status=[200]))
    assert (strict.ok, strict.failure, strict.detail) == (False, FailureKind.UNEXPECTED, f"HTTP 302 Found from {url}")


async def test_redirect_followed(ctx: ProbeContext, http_server: WebServer) -> None:
    url = f"{http_server.base}/redirect"
    result = await probe(ctx, make_target("http", url, follow_redirects=True, expect_status=[200]))
    assert result.ok
    assert result.detail == f"HTTP 200 OK from {http_server.base}/ok (redirected from {url})"


async def test_redirect_loop(ctx: ProbeContext, http_server: WebServer) -> None:
    url = f"{http_server.base}/loop"
    result = await probe(ctx, make_target("http", url, follow_redirects=True))
    assert (result.ok, result.failure, result.detail) == (
        False,
        FailureKind.UNEXPECTED,
        f"{url}: too many redirects (10)",
    )


async def test_redirect_to_non_http(ctx: ProbeContext, http_server: WebServer) -> None:
    url = f"{http_server.base}/to-ftp"
    result = await probe(ctx, make_target("http", url, follow_redirects=True))
    assert (result.ok, result.failure) == (False, FailureKind.UNEXPECTED)
    assert result.detail == f"{url}: bad redirect to ftp://127.0.0.1/pub/"


async def test_headers_and_user_agent(ctx: ProbeContext, http_server: WebServer) -> None:
    url = f"{http_server.base}/echo"
    result = await probe(
        ctx, make_target("http", url, headers={"X-Probe": "42"}, expect_text=f"x-probe=42 ua={http.USER_AGENT}")
    )
    assert result.ok, result.detail


async def test_timeout_is_the_runners(ctx: ProbeContext, http_server: WebServer) -> None:
    result = await probe(ctx, make_target("http", f"{http_server.base}/slow", timeout_s=0.3))
    assert (result.ok, result.failure, result.detail, result.metrics) == (
        False,
        FailureKind.TIMEOUT,
        "no answer within 0.3s",
        {},
    )
    assert result.latency_s is not None and 0.3 <= result.latency_s < 1


async def test_refused(ctx: ProbeContext, refused_port: int) -> None:
    result = await probe(ctx, make_target("http", f"http://127.0.0.1:{refused_port}/"))
    assert (result.ok, result.failure) == (False, FailureKind.CONNECT)
    assert result.detail == f"connect 127.0.0.1:{refused_port}: Connection refused"


async def test_server_resets(ctx: ProbeContext, tcp_port: int) -> None:
    url = f"http://127.0.0.1:{tcp_port}/"
    result = await probe(ctx, make_target("http", url))
    assert (result.ok, result.failure, result.detail) == (
        False,
        FailureKind.CONNECT,
        f"{url}: Connection reset by peer",
    )


async def test_server_hangs_up_without_answer(ctx: ProbeContext, hangup_port: int) -> None:
    url = f"http://127.0.0.1:{hangup_port}/"
    result = await probe(ctx, make_target("http", url))
    assert (result.ok, result.failure) == (False, FailureKind.CONNECT)
    assert result.detail == f"{url}: the server closed the connection without an answer"


async def test_not_http(ctx: ProbeContext, garbage_port: int) -> None:
    url = f"http://127.0.0.1:{garbage_port}/"
    result = await probe(ctx, make_target("http", url))
    assert (result.ok, result.failure) == (False, FailureKind.UNEXPECTED)
    # The parser's own words vary between aiohttp's C and Python parsers; our part and the bad line do not.
    assert result.detail.startswith(f"{url}: invalid HTTP response: ")
    assert "SSH-2.0-OpenSSH_9.6" in result.detail


async def test_fresh_connection_per_probe(ctx: ProbeContext, http_server: WebServer) -> None:
    target = make_target("http", f"{http_server.base}/redirect", follow_redirects=True)  # aiohttp's path
    assert (await probe(ctx, target)).ok and (await probe(ctx, target)).ok
    session = ctx.resources[http.SESSION_KEY]
    assert session.connector.force_close and not session.connector.use_dns_cache
    assert len(ctx.closers) == 1  # one shared session, closed once at shutdown


# ----------------------------------------------------------------------------------------------- HTTPS


async def test_https_with_private_ca(ctx: ProbeContext, https_server: WebServer, pki: Pki) -> None:
    url = f"{https_server.base}/ok"
    result = await probe(ctx, make_target("http", url, ca_file=str(pki.ca_file)))
    assert (result.ok, result.detail) == (True, f"HTTP 200 OK from {url}")


async def test_https_untrusted(ctx: ProbeContext, https_server: WebServer) -> None:
    result = await probe(ctx, make_target("http", f"{https_server.base}/ok"))
    assert (result.ok, result.failure) == (False, FailureKind.TLS)
    port = https_server.base.rsplit(":", 1)[1]
    assert result.detail == f"TLS 127.0.0.1:{port}: certificate verify failed: unable to get local issuer certificate"


async def test_https_verify_off(ctx: ProbeContext, https_server: WebServer) -> None:
    result = await probe(ctx, make_target("http", f"{https_server.base}/ok", verify_tls=False))
    assert result.ok, result.detail


async def test_https_wrong_name(ctx: ProbeContext, https_wrong_name_server: WebServer, pki: Pki) -> None:
    port = https_wrong_name_server.base.rsplit(":", 1)[1]
    result = await probe(ctx, make_target("http", f"https://localhost:{port}/ok", ca_file=str(pki.ca_file)))
    assert (result.ok, result.failure) == (False, FailureKind.TLS)
    assert result.detail == (
        f"TLS localhost:{port}: certificate verify failed: Hostname mismatch, certificate is not valid for 'localhost'."
    )


async def test_https_to_plain_port(ctx: ProbeContext, http_server: WebServer) -> None:
    port = http_server.base.rsplit(":", 1)[1]
    result = await probe(ctx, make_target("http", f"https://127.0.0.1:{port}/ok"))
    assert (result.ok, result.failure) == (False, FailureKind.TLS)
    assert result.detail == f"TLS handshake with 127.0.0.1:{port} failed: WRONG_VERSION_NUMBER"


# --------------------------------------------------------------------------------------------- options


def test_option_defaults() -> None:
    options = HttpOptions.model_validate({})
    assert options == HttpOptions(
        method="GET",
        expect_status=None,
        expect_text=None,
        headers={},
        follow_redirects=False,
        verify_tls=True,
        ca_file=None,
        max_body_bytes=1 << 20,
    )
    assert [options.accepts(code) for code in (199, 200, 301, 399, 400, 503)] == [False, True, True, True, False, False]


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ({"expected_status": [200]}, "Extra inputs are not permitted"),
        ({"method": "TRACE"}, "Input should be 'GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE' or 'OPTIONS'"),
        ({"expect_status": []}, "List should have at least 1 item"),
        ({"expect_status": [200, 700]}, "not an HTTP status code: 700"),
        ({"expect_status": ["200"]}, "Input should be a valid integer"),
        ({"follow_redirects": "yes"}, "Input should be a valid boolean"),
        ({"max_body_bytes": -1}, "Input should be greater than or equal to 0"),
        ({"ca_file": "/nonexistent/ca.pem"}, "no such file: '/nonexistent/ca.pem'"),
        ({"method": "HEAD", "expect_text": "x"}, "expect_text needs method GET: a HEAD answer has no body"),
    ],
)
def test_option_errors(block: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        HttpOptions.model_validate(block)


def test_options_are_frozen() -> None:
    options = HttpOptions.model_validate({"headers": {"A": "b"}})
    with pytest.raises(ValidationError, match="Instance is frozen"):
        options.method = "HEAD"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("http://127.0.0.1:8080/health", None),
        ("https://example.net/", None),
        ("https://[::1]:8443/", None),
        ("ftp://example.net/", "expected an http:// or https:// URL, got 'ftp://example.net/'"),
        ("example.net", "expected an http:// or https:// URL, got 'example.net'"),
        ("http:///path", "no host in 'http:///path'"),
        ("http://host:99999/", "not a valid URL: 'http://host:99999/' (Port out of range 0-65535)"),
    ],
)
def test_check_address(address: str, problem: str | None) -> None:
    assert http.check_address(address) == problem
