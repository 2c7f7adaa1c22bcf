"""The probe runner: one probe run under the target's timeout, timed on the monotonic clock, as a Result."""

from __future__ import annotations

import asyncio
import logging
import time

from watchdog.errors import ProbeError
from watchdog.model import FailureKind, Result, Target, steady_ns
from watchdog.probe import Probe, ProbeContext
from watchdog.safetext import printable
from watchdog.units import redact_url

_LOGGER = logging.getLogger(__name__)


def _one_line(text: str, limit: int = 300) -> str:
    """One line of at most ``limit`` characters: whitespace folded, control and bidi characters dropped."""
    line = " ".join(printable(" ".join(text.split())).split())
    if "@" in line:  # a URL's credentials never reach the journal, whatever library message carried them
        line = redact_url(line)
    return line if len(line) <= limit else line[: limit - 1] + "…"


async def run_probe(probe: Probe, target: Target, ctx: ProbeContext) -> Result:
    """Run one probe under the target's timeout; always return a Result, never raise (except cancel)."""
    ts_ns = time.time_ns()
    steady = steady_ns()
    t0 = time.monotonic()
    try:
        async with asyncio.timeout(target.timeout_s):
            measured = await probe.run(ctx, target)
    except ProbeError as exc:
        return Result(
            target=target.key,
            ts_ns=ts_ns,
            steady_ns=steady,
            ok=False,
            latency_s=time.monotonic() - t0,
            failure=exc.failure,
            detail=_one_line(exc.detail),
            metrics=dict(exc.metrics),
        )
    except TimeoutError:
        return Result(
            target=target.key,
            ts_ns=ts_ns,
            steady_ns=steady,
            ok=False,
            latency_s=time.monotonic() - t0,
            failure=FailureKind.TIMEOUT,
            detail=f"no answer within {target.timeout_s:g}s",
        )
    except Exception as exc:  # the one broad catch: a probe bug must not stop the schedule
        _LOGGER.exception("probe crashed target=%s kind=%s", target.key, target.kind)
        return Result(
            target=target.key,
            ts_ns=ts_ns,
            steady_ns=steady,
            ok=False,
            latency_s=time.monotonic() - t0,
            failure=FailureKind.INTERNAL,
            detail=_one_line(f"internal error: {type(exc).__name__}: {exc}"),
        )
    elapsed = time.monotonic() - t0
    return Result(
        target=target.key,
        ts_ns=ts_ns,
        steady_ns=steady,
        ok=True,
        latency_s=elapsed if measured.latency_s is None else float(measured.latency_s),
        failure=None,
        detail=_one_line(measured.detail),
        metrics=dict(measured.metrics),
    )
