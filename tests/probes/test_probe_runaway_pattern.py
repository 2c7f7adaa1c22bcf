"""A config's regular expression that backtracks for ever on the provider's answer must not freeze the agent.

Issue 18: ``^(a|a)+$`` on ``'a' * 40 + 'b'`` takes the standard ``re`` module about 2**40 steps (days), and
``re`` holds the GIL while it searches, so one HTTP condition or TCP expect step like it stopped every
probe, the journal and the page. Real servers on 127.0.0.1 send that answer; the pattern's probe ends as
``internal`` (the agent's trouble, not the provider's) with a detail saying why, while probes of another
target, run meanwhile on the same event loop, keep returning results.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from probe_servers import start_tcp_server

from probes import REGISTRY
from probes._pattern import backtracking_risk
from probes.http import advise as http_advise
from watchdog.agent.runner import run_probe
from watchdog.model import FailureKind, Result, Role, Target
from watchdog.probe import ProbeContext

RUNAWAY = "^(a|a)+$"
ANSWER = b"a" * 40 + b"b"
WHY = (
    "the regular expression /^(a|a)+$/ took longer than 500ms on {size} of the answer and was stopped: "
    "not counted against the target; simplify the pattern (a repeated group holding a repeat, such as (a+)+ or "
    "(a|a)*, backtracks without end)"
)
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def target(kind: str, address: str, **options: object) -> Target:
    return Target(
        key=f"bank/{kind}",
        provider="bank",
        name=kind,
        kind=kind,
        role=Role.PROVIDER,
        address=address,
        interval_s=60.0,
        timeout_s=5.0,  # the default: leaves the search its half second and more
        options=REGISTRY[kind].options.model_validate(options),
    )


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Handler], Awaitable[int]]]:
    servers: list[asyncio.Server] = []

    async def start(handler: Handler) -> int:
        server, port = await start_tcp_server(handler)
        servers.append(server)
        return port

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


async def _meanwhile(slow: asyncio.Task[Result], other: Target, ctx: ProbeContext) -> list[Result]:
    """Probe ``other`` three times while ``slow`` runs: on a frozen loop none would start before it ended."""
    results = [await run_probe(REGISTRY["tcp"], other, ctx) for _ in range(3)]
    assert not slow.done()  # three loopback connects done while the runaway search was still going on
    return results


@pytest.mark.parametrize(
    "options",
    [{"conditions": [f"[BODY] ~= {RUNAWAY}"]}, {"metrics": {"balance": f"[BODY] ~= {RUNAWAY}"}}],
    ids=["condition", "metric"],
)
async def test_an_http_condition_that_backtracks_for_ever_is_internal_and_other_probes_go_on(
    serve: Callable[[Handler], Awaitable[int]], tcp_port: int, ctx: ProbeContext, options: dict[str, object]
) -> None:
    async def api(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        head = f"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {len(ANSWER)}\r\n"
        writer.write(head.encode() + b"Connection: close\r\n\r\n" + ANSWER)
        await writer.drain()
        writer.close()

    port = await serve(api)
    http = target("http", f"http://127.0.0.1:{port}/", **options)
    slow = asyncio.create_task(run_probe(REGISTRY["http"], http, ctx))
    results = await _meanwhile(slow, target("tcp", f"127.0.0.1:{tcp_port}"), ctx)
    result = await slow
    assert [(r.ok, r.detail) for r in results] == [(True, f"connected to 127.0.0.1:{tcp_port}")] * 3
    assert (result.ok, result.failure) == (False, FailureKind.INTERNAL)
    assert result.detail == f"HTTP 200 from http://127.0.0.1:{port}/: " + WHY.format(size="41 characters")


async def test_a_tcp_expect_step_that_backtracks_for_ever_is_internal_and_other_probes_go_on(
    serve: Callable[[Handler], Awaitable[int]], tcp_port: int, ctx: ProbeContext
) -> None:
    async def banner(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(ANSWER + b"\r\n")
        await writer.drain()
        with contextlib.suppress(ConnectionError):
            await reader.read(1)  # held open until the probe hangs up (it aborts: a reset)
        writer.close()

    port = await serve(banner)
    tcp = target("tcp", f"127.0.0.1:{port}", steps=[{"name": "banner", "expect": RUNAWAY}])
    slow = asyncio.create_task(run_probe(REGISTRY["tcp"], tcp, ctx))
    results = await _meanwhile(slow, target("tcp", f"127.0.0.1:{tcp_port}"), ctx)
    result = await slow
    assert [(r.ok, r.detail) for r in results] == [(True, f"connected to 127.0.0.1:{tcp_port}")] * 3
    assert (result.ok, result.failure) == (False, FailureKind.INTERNAL)
    assert result.detail == "step 1 (banner): " + WHY.format(size="43 bytes")


def test_config_check_names_the_repeated_group_that_holds_a_repeat() -> None:
    assert backtracking_risk("^(a+)+$") == "(a+)+"
    assert backtracking_risk(r"^(\w+\s?)*$") == r"(\w+\s?)*"
    assert backtracking_risk("x((ab)*c){2,}") == "((ab)*c){2,}"
    assert backtracking_risk(r"^220 .*ESMTP") is None
    assert backtracking_risk(r"(a+)?b") is None  # at most once: no blow-up
    assert backtracking_risk(r"(a+)++") is None  # possessive: never backtracks
    assert backtracking_risk(r"[(a+)]+\(b*\)+") is None  # a set and escaped brackets are not groups
    options = REGISTRY["http"].options.model_validate({"metrics": {"balance": "[BODY] ~= Баланс: ((\\d+ ?)+)"}})
    assert [where for where, _ in http_advise(options)] == [("metrics", "balance")]
