"""The provider answers the new service probes (issue 18) with hostile text: the result's detail stays safe.

A TCP dialogue's banner and an HTTP condition's JSON value are the provider's words. Real servers on
127.0.0.1 send an ESC sequence, a bidi override, markup and a 100 kB line; the detail the runner hands to
the journal, logs and templates has no control character, is cut to the runner's bound, and names the
step or condition that failed. (Templates escape it: tests/security/test_hostile_provider.py.)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from probes import REGISTRY
from watchdog.agent.runner import run_probe
from watchdog.model import FailureKind, Role, Target
from watchdog.probe import ProbeContext

HOSTILE = "\x1b[31m<img src=/home/me/photo.png>\u202e" + "A" * 100_000


def target(kind: str, address: str, **options: object) -> Target:
    return Target(
        key=f"bank/{kind}",
        provider="bank",
        name=kind,
        kind=kind,
        role=Role.PROVIDER,
        address=address,
        interval_s=60.0,
        timeout_s=2.0,
        options=REGISTRY[kind].options.model_validate(options),
    )


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Handler], Awaitable[int]]]:
    servers: list[asyncio.Server] = []

    async def start(handler: Handler) -> int:
        async def closing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                await handler(reader, writer)
            except (ConnectionError, asyncio.IncompleteReadError):
                pass  # the probe hung up first: it has what it needed
            finally:
                writer.close()
                with contextlib.suppress(ConnectionError):
                    await writer.wait_closed()

        server = await asyncio.start_server(closing, "127.0.0.1", 0)
        servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


def assert_safe(detail: str) -> None:
    assert not any(ord(c) < 32 or 0x202A <= ord(c) <= 0x202E or 0x2066 <= ord(c) <= 0x2069 for c in detail)
    assert len(detail) <= 1000


async def test_a_hostile_banner_fails_the_step_and_stays_printable(serve: Callable[[Handler], Awaitable[int]]) -> None:
    async def banner(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(HOSTILE.encode() + b"\r\n")
        await writer.drain()
        await asyncio.sleep(0.5)

    port = await serve(banner)
    steps = [{"name": "banner", "expect": "^220 ", "timeout": "300ms"}]
    ctx = ProbeContext()
    try:
        result = await run_probe(REGISTRY["tcp"], target("tcp", f"127.0.0.1:{port}", steps=steps), ctx)
    finally:
        await ctx.aclose()
    assert (result.ok, result.failure) == (False, FailureKind.UNEXPECTED)
    assert result.detail.startswith("step 1 (banner): ")
    assert_safe(result.detail)


async def test_a_hostile_json_value_fails_the_condition_and_stays_printable(
    serve: Callable[[Handler], Awaitable[int]],
) -> None:
    body = json.dumps({"status": HOSTILE}).encode()

    async def api(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        writer.write(head.encode() + b"Connection: close\r\n\r\n" + body)
        await writer.drain()

    port = await serve(api)
    http = {"conditions": ["[BODY].status == UP"]}
    ctx = ProbeContext()
    try:
        result = await run_probe(REGISTRY["http"], target("http", f"http://127.0.0.1:{port}/", **http), ctx)
    finally:
        await ctx.aclose()
    assert (result.ok, result.failure) == (False, FailureKind.UNEXPECTED)
    assert "[BODY].status == UP (got " in result.detail
    assert_safe(result.detail)
