"""Two agents in one process keep their own runner state: what one logged once, and its local trouble.

Agent A's probe fails with EMFILE (a scripted probe raising the OSError: exhausting this test process's
descriptors would break the test runner itself; tests/security/test_page_flood.py does it for real in a
subprocess). Agent B probes a real loopback listener with the real tcp probe. Before, the runner kept
this in module globals, so B's first EMFILE was swallowed as A's repeat, and B's successes announced that
A's probes "run again" while A was still starved.
"""

from __future__ import annotations

import errno
import logging
import socket
import time
from collections.abc import Iterator

import pytest

from probes import REGISTRY
from watchdog.agent.runner import run_probe, run_state
from watchdog.model import FailureKind, Role, Target
from watchdog.probe import Measurement, Probe, ProbeContext, ProbeOptions


async def _starved(ctx: ProbeContext, target: Target) -> Measurement:
    raise OSError(errno.EMFILE, "Too many open files")


STARVED = Probe(ProbeOptions, _starved)


@pytest.fixture
def port() -> Iterator[int]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield int(listener.getsockname()[1])


def tcp_target(port: int) -> Target:
    return Target(
        key="broker/trading",
        provider="broker",
        name="trading",
        kind="tcp",
        role=Role.PROVIDER,
        address=f"127.0.0.1:{port}",
        interval_s=1.0,
        timeout_s=1.0,
    )


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage().split(" (")[0] for r in caplog.records if r.name == "watchdog.agent.runner"]


async def test_two_agents_in_one_process_do_not_share_runner_state(port: int, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="watchdog.agent.runner")
    a, b = ProbeContext(), ProbeContext()
    target = tcp_target(port)
    try:
        for _ in range(3):  # agent A: starved, logged once
            result = await run_probe(STARVED, target, a)
            assert result.failure is FailureKind.INTERNAL
        assert messages(caplog) == ["probes cannot run: Too many open files"]
        # agent B starved too: its own first error is logged (it is not A's repeat)
        assert (await run_probe(STARVED, target, b)).failure is FailureKind.INTERNAL
        assert messages(caplog) == ["probes cannot run: Too many open files"] * 2
        assert run_state(a).once.repeats["local"] == 2 and run_state(b).once.repeats["local"] == 0
        # B recovers (quiet for longer than the runner's 10 s): B says so, A's trouble stays open
        run_state(b).last_local = time.monotonic() - 11
        run_state(a).last_local = time.monotonic()
        ok = await run_probe(REGISTRY["tcp"], target, b)
        assert ok.ok, ok.detail
        assert messages(caplog)[-1] == "probes run again after a local resource error"
        assert "local" in run_state(a).once.last and "local" not in run_state(b).once.last
        # A, still starved, stays quiet: the same trouble, already logged
        await run_probe(STARVED, target, a)
        assert len(messages(caplog)) == 3 and run_state(a).once.repeats["local"] == 3
    finally:
        await a.aclose()
        await b.aclose()
    assert run_state(a) is not run_state(b)
