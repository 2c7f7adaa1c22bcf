"""TCP dialogues (issue 18 item 1) against real servers on 127.0.0.1: FIX, SMTP (with STARTTLS), IMAP, banners."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator

import pytest
from conftest import Pki, server_context
from probe_servers import make_target, probe, start_tcp_server
from pydantic import ValidationError
from speaking_servers import FixGateway, banner_handler, fix_fields, fix_valid, imap_handler, smtp_handler

from probes.tcp import TcpOptions, fix_message
from watchdog.config import loads
from watchdog.errors import ConfigError
from watchdog.model import FailureKind
from watchdog.probe import ProbeContext

FIX_STEPS = [
    {"name": "logon", "send_fix": "35=A|49=CLIENT|56=BROKER|98=0|108=30"},
    {"name": "logon answer", "expect_fix": "35=A", "timeout": "1s"},
    {"name": "logout", "send_fix": "35=5|49=CLIENT|56=BROKER"},
    {"name": "logout answer", "expect_fix": "35=5", "timeout": "1s"},
]


@pytest.fixture
async def servers() -> AsyncIterator[list[asyncio.Server]]:
    started: list[asyncio.Server] = []
    yield started
    for s in started:
        s.close()
        await s.wait_closed()


def test_fix_message_has_length_checksum_sequence_and_time() -> None:
    now = dt.datetime(2026, 12, 6, 7, 8, 9, 123456, tzinfo=dt.UTC)
    message = fix_message("35=A|49=CLIENT|56=BROKER|98=0|108=30", "FIX.4.4", 1, now)
    assert message == (
        b"8=FIX.4.4\x019=67\x0135=A\x0134=1\x0152=20261206-07:08:09.123\x0149=CLIENT\x0156=BROKER\x01"
        b"98=0\x01108=30\x0110=136\x01"
    )
    assert fix_valid(message)


async def test_fix_logon_answered(ctx: ProbeContext) -> None:
    gateway = FixGateway("answer")
    port = await gateway.start()
    try:
        result = await probe(ctx, make_target("tcp", f"127.0.0.1:{port}", steps=FIX_STEPS))
    finally:
        await gateway.stop()
    assert (result.ok, result.failure) == (True, None), result.detail
    assert result.detail.startswith(f"dialogue with 127.0.0.1:{port}: 4 steps done in ")
    assert set(result.metrics) == {"connect_s", "dialogue_s"}
    assert gateway.valid == [True, True]  # BodyLength and CheckSum right
    assert [(m["35"], m["34"], m["49"], m["56"]) for m in gateway.received] == [
        ("A", "1", "CLIENT", "BROKER"),
        ("5", "2", "CLIENT", "BROKER"),
    ]


async def test_fix_logon_ignored_is_unexpected_naming_the_step(ctx: ProbeContext) -> None:
    """The broker's gateway accepts TCP and never answers: counted as up by a connect probe, not by this one."""
    gateway = FixGateway("ignore")
    port = await gateway.start()
    try:
        result = await probe(ctx, make_target("tcp", f"127.0.0.1:{port}", steps=FIX_STEPS))
    finally:
        await gateway.stop()
    assert (result.ok, result.failure) == (False, FailureKind.UNEXPECTED)
    assert result.detail == "step 2 (logon answer): no FIX 35=A within 1s; got 0 bytes"
    assert 1.0 <= result.latency_s < 1.5
    assert [m["35"] for m in gateway.received] == ["A"]


async def test_fix_garbage_is_unexpected_and_quoted_short(ctx: ProbeContext) -> None:
    gateway = FixGateway("garbage")
    port = await gateway.start()
    try:
        result = await probe(ctx, make_target("tcp", f"127.0.0.1:{port}", steps=FIX_STEPS))
    finally:
        await gateway.stop()
    assert (result.ok, result.failure) == (False, FailureKind.UNEXPECTED)
    assert result.detail == (
        "step 2 (logon answer): no FIX 35=A within 1s; got 28 bytes: HTTP/1.1 400 Bad Request\\r\\n\\r\\n"
    )


async def test_fix_gateway_closes_at_once(ctx: ProbeContext, tcp_port: int) -> None:
    result = await probe(ctx, make_target("tcp", f"127.0.0.1:{tcp_port}", steps=FIX_STEPS))
    assert result.failure is FailureKind.UNEXPECTED
    assert result.detail in (
        "step 2 (logon answer): no FIX 35=A within 1s: the server closed the connection; got 0 bytes",
        "step 2 (logon answer): no FIX 35=A within 1s: connection lost (Connection reset by peer); got 0 bytes",
        f"step 1 (logon): 127.0.0.1:{tcp_port} closed the connection while we sent: Connection reset by peer",
    )


async def test_smtp_starttls(ctx: ProbeContext, pki: Pki, servers: list[asyncio.Server]) -> None:
    cert = pki.ca.issue_cert("localhost")
    server, port = await start_tcp_server(smtp_handler(tls=server_context(cert)))
    servers.append(server)
    steps = [
        {"name": "banner", "expect": "^220 ", "timeout": "1s"},
        {"send": "EHLO watchdog\r\n"},
        {"name": "STARTTLS offered", "expect": "250[- ]STARTTLS"},
        {"send": "STARTTLS\r\n"},
        {"name": "ready", "expect": "220 "},
        {"starttls": True},
        {"send": "EHLO watchdog\r\n"},
        {"name": "EHLO over TLS", "expect": "250 "},
        {"send": "QUIT\r\n"},
        {"expect": "221 "},
    ]
    target = make_target("tcp", f"localhost:{port}", steps=steps, ca_file=str(pki.ca_file))
    result = await probe(ctx, target)
    assert (result.ok, result.failure) == (True, None), result.detail
    assert result.detail.startswith(f"TLS dialogue with localhost:{port}: 10 steps done in ")
    untrusted = make_target("tcp", f"localhost:{port}", steps=steps)  # the system CAs do not know the test CA
    bad = await probe(ctx, untrusted)
    assert (bad.failure, bad.detail) == (
        FailureKind.TLS,
        f"step 6: TLS localhost:{port}: certificate verify failed: unable to get local issuer certificate",
    )


async def test_imap_banner_and_imaps(ctx: ProbeContext, pki: Pki, servers: list[asyncio.Server]) -> None:
    plain, plain_port = await start_tcp_server(imap_handler())
    tls, tls_port = await start_tcp_server(imap_handler(), ssl=server_context(pki.ca.issue_cert("localhost")))
    servers += [plain, tls]
    steps = [{"name": "banner", "expect": r"^\* OK"}, {"send": "a1 LOGOUT\r\n"}, {"expect": "a1 OK"}]
    result = await probe(ctx, make_target("tcp", f"127.0.0.1:{plain_port}", steps=steps))
    assert (result.ok, result.detail.split(":")[0]) == (True, "dialogue with 127.0.0.1"), result.detail
    secure = make_target("tcp", f"localhost:{tls_port}", steps=steps, tls=True, ca_file=str(pki.ca_file))
    result = await probe(ctx, secure)
    assert result.ok, result.detail
    assert result.detail.startswith(f"TLS dialogue with localhost:{tls_port}: 3 steps done in ")


async def test_banner_within(ctx: ProbeContext, servers: list[asyncio.Server]) -> None:
    fast, fast_port = await start_tcp_server(banner_handler(b"SSH-2.0-OpenSSH_9.6\r\n", 0.0))
    slow, slow_port = await start_tcp_server(banner_handler(b"SSH-2.0-OpenSSH_9.6\r\n", 0.8))
    wrong, wrong_port = await start_tcp_server(banner_handler(b"\x00\x1b[31mhello\r\n", 0.0))
    servers += [fast, slow, wrong]
    options = {"expect": r"^SSH-2\.0-", "expect_within": "300ms"}
    ok = await probe(ctx, make_target("tcp", f"127.0.0.1:{fast_port}", **options))
    assert (ok.ok, ok.detail.split(":")[0]) == (True, "dialogue with 127.0.0.1")
    late = await probe(ctx, make_target("tcp", f"127.0.0.1:{slow_port}", **options))
    assert (late.failure, late.detail) == (
        FailureKind.UNEXPECTED,
        r"step 1 (banner): no /^SSH-2\.0-/ within 300ms; got 0 bytes",
    )
    bad = await probe(ctx, make_target("tcp", f"127.0.0.1:{wrong_port}", **options))
    assert (bad.failure, bad.detail) == (
        FailureKind.UNEXPECTED,
        r"step 1 (banner): no /^SSH-2\.0-/ within 300ms; got 13 bytes: \x00\x1b[31mhello\r\n",
    )


async def test_expect_without_timeout_names_the_step_before_the_target_timeout(
    ctx: ProbeContext, servers: list[asyncio.Server]
) -> None:
    silent, port = await start_tcp_server(banner_handler(b"late", 5.0))
    servers.append(silent)
    result = await probe(ctx, make_target("tcp", f"127.0.0.1:{port}", timeout_s=1.0, expect="^220"))
    assert (result.failure, result.detail) == (
        FailureKind.UNEXPECTED,
        "step 1 (banner): no /^220/ within 900ms; got 0 bytes",
    )


async def test_hex_steps(ctx: ProbeContext, servers: list[asyncio.Server]) -> None:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        data = await reader.read(4)
        writer.write(data[::-1])
        await writer.drain()
        writer.close()

    server, port = await start_tcp_server(echo)
    servers.append(server)
    steps = [{"send_hex": "01 02 03 04"}, {"expect_hex": "04030201", "timeout": "1s"}]
    result = await probe(ctx, make_target("tcp", f"127.0.0.1:{port}", steps=steps))
    assert result.ok, result.detail
    steps = [{"send_hex": "01 02 03 04"}, {"name": "reply", "expect_bytes": "\x01\x02", "timeout": "1s"}]
    result = await probe(ctx, make_target("tcp", f"127.0.0.1:{port}", steps=steps))
    assert (
        result.detail
        == r"step 2 (reply): no '\x01\x02' within 1s: the server closed the connection; got 4 bytes: \x04\x03\x02\x01"
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"steps": [{"send": "x", "expect": "y"}]}, "a step has exactly one of send, send_hex, send_fix, expect"),
        ({"steps": [{}]}, "(got none)"),
        ({"steps": [{"expect": "("}]}, "not a regular expression: '('"),
        ({"steps": [{"send_hex": "zz"}]}, "not hex bytes like '16 03 01': 'zz'"),
        ({"steps": [{"send_fix": "49=ME"}]}, "send_fix starts with MsgType: 35=..."),
        (
            {"steps": [{"send_fix": "35=A|34=9|10=000"}]},
            "send_fix fills in tags 8, 9, 10, 34 and 52 itself; remove 10, 34",
        ),
        ({"steps": [{"send_fix": "35=A|oops"}]}, "not a FIX field tag=value: 'oops'"),
        ({"steps": [{"send": "x", "timeout": "1s"}]}, "timeout belongs to an expect step"),
        ({"steps": [{"expect": "x", "timeout": "soon"}]}, "expected a duration like 500ms"),
        ({"send": "x", "steps": [{"send": "y"}]}, "write either send/expect or steps, not both"),
        ({"expect_within": "1s"}, "expect_within needs expect"),
        ({"tls": True, "steps": [{"starttls": True}]}, "starttls in a dialogue that is TLS from the start"),
        ({"steps": []}, "List should have at least 1 item"),
    ],
)
def test_bad_options(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=None) as info:
        TcpOptions.model_validate(options)
    assert message in str(info.value)


def test_fix_password_is_a_secret() -> None:
    options = TcpOptions.model_validate({"steps": [{"send_fix": "35=A|49=ME|56=BROKER|553=ivan|554=s3cret-pw"}]})
    assert options.secrets() == ["s3cret-pw"]
    assert fix_fields(fix_message("35=A|554=s3cret-pw", "FIX.4.4", 7))["554"] == "s3cret-pw"


def test_config_errors_name_file_line_and_step() -> None:
    text = """
providers:
  - id: broker
    targets:
      - name: fix
        kind: tcp
        address: "127.0.0.1:9878"
        tcp:
          steps:
            - {send_fix: "35=A|49=ME"}
            - {expect_fix: "35=A", timeout: soon}
            - {send: x, expect: y}
"""
    with pytest.raises(ConfigError) as caught:
        loads(text, env={})
    assert caught.value.problems == [
        "<config>:11: providers[0].targets[0].tcp.steps[1].timeout: expected a duration like 500ms, 10s, 5m or 72h, "
        "got 'soon'",
        "<config>:12: providers[0].targets[0].tcp.steps[2]: a step has exactly one of send, send_hex, send_fix, "
        "expect, expect_bytes, expect_hex, expect_fix, starttls (got send, expect)",
    ]
