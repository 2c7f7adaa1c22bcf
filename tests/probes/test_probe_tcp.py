"""The TCP probe against real listeners on 127.0.0.1."""

from __future__ import annotations

import asyncio

import pytest
from probe_servers import make_target, probe, start_tcp_server
from pydantic import ValidationError

from probes import tcp
from watchdog.model import FailureKind
from watchdog.probe import ProbeContext


async def test_connects(ctx: ProbeContext, tcp_port: int) -> None:
    result = await probe(ctx, make_target("tcp", f"127.0.0.1:{tcp_port}"))
    assert (result.ok, result.failure, result.detail) == (True, None, f"connected to 127.0.0.1:{tcp_port}")
    assert result.latency_s is not None and 0 < result.latency_s < 1


async def test_ipv6_detail_has_brackets(ctx: ProbeContext) -> None:
    try:
        server, port = await start_tcp_server(_close, "::1")
    except OSError as exc:
        pytest.skip(f"no IPv6 loopback here: {exc}")
    try:
        result = await probe(ctx, make_target("tcp", f"[::1]:{port}"))
    finally:
        server.close()
        await server.wait_closed()
    assert (result.ok, result.detail) == (True, f"connected to [::1]:{port}")


async def _close(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.close()


async def test_refused(ctx: ProbeContext, refused_port: int) -> None:
    result = await probe(ctx, make_target("tcp", f"127.0.0.1:{refused_port}"))
    assert (result.ok, result.failure) == (False, FailureKind.CONNECT)
    assert result.detail == f"connect 127.0.0.1:{refused_port}: Connection refused"


def test_options_take_no_keys() -> None:
    assert tcp.TcpOptions.model_validate({}) == tcp.TcpOptions()
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        tcp.TcpOptions.model_validate({"port": 80})


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("127.0.0.1:80", None),
        ("[::1]:443", None),
        ("example.net:8080", None),
        ("127.0.0.1", "no port in '127.0.0.1' (write host:port)"),
        ("host:0", "bad port '0' in 'host:0'"),
        ("host:http", "bad port 'http' in 'host:http'"),
        ("[::1", "unclosed '[' in '[::1'"),
    ],
)
def test_check_address(address: str, problem: str | None) -> None:
    assert tcp.check_address(address) == problem
