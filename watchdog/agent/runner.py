"""The probe runner: one probe run under the target's timeout, timed on the monotonic clock, as a Result.

A probe that fails because *this machine* ran out of something — descriptors (EMFILE, ENFILE), buffers
(ENOBUFS), memory (ENOMEM) — or was not allowed to (EACCES, EPERM: a local firewall, a sandbox) says
nothing about the target: its result is ``internal`` whatever the probe made of the error, so it never
opens an outage or counts against a provider. Such errors, and probe crashes, are logged once per change,
not once per probe (a flood must not also fill the disk with log lines).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import ssl
import time

from watchdog.errors import ProbeError
from watchdog.model import FailureKind, Result, Target, steady_ns
from watchdog.probe import Measurement, Probe, ProbeContext
from watchdog.safetext import printable
from watchdog.units import redact_url

_LOGGER = logging.getLogger(__name__)


LOCAL_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM, errno.EACCES, errno.EPERM})


def local_error(exc: BaseException) -> OSError | None:
    """The OS error in ``exc``'s chain that says this machine could not probe, if any."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        for candidate in (current, getattr(current, "os_error", None)):  # aiohttp keeps the OS error aside
            if (
                isinstance(candidate, OSError)
                and not isinstance(candidate, ssl.SSLError)  # an SSLError's errno is OpenSSL's, not the OS's
                and candidate.errno in LOCAL_ERRNOS
            ):
                return candidate
        current = current.__cause__ or current.__context__
    return None


class OnceLog:
    """Logs a repeated message once per change of what it says (per key), and when it clears."""

    def __init__(self) -> None:
        self.last: dict[str, str] = {}
        self.repeats: dict[str, int] = {}

    def seen(self, key: str, message: str) -> bool:
        """True when ``message`` is new for ``key`` (log it); False for a repeat (counted)."""
        if self.last.get(key) == message:
            self.repeats[key] = self.repeats.get(key, 0) + 1
            return False
        self.last[key] = message
        self.repeats[key] = 0
        return True

    def clear(self, key: str) -> int | None:
        """The trouble under ``key`` ended: how many repeats were not logged (None if there was none)."""
        if key not in self.last:
            return None
        del self.last[key]
        return self.repeats.pop(key, 0)


_LOCAL_KEY = "local"
_QUIET_S = 10.0  # local trouble counts as over after this long without such an error
_STATE_KEY = "watchdog.agent.runner"  # the runner's entry in ProbeContext.resources


class RunState:
    """What the runner remembers between probes: which troubles it already logged, and when the last local
    resource error was. One per probe context (one per agent), so two agents in one process share nothing."""

    def __init__(self) -> None:
        self.once = OnceLog()
        self.last_local = 0.0  # monotonic time of the last local resource error


def run_state(ctx: ProbeContext) -> RunState:
    """The runner's state in ``ctx`` (made on first use, dropped with the context's other resources)."""
    state = ctx.resources.get(_STATE_KEY)
    if not isinstance(state, RunState):
        state = RunState()
        ctx.resources[_STATE_KEY] = state
    return state


def _failed(
    target: Target,
    ts_ns: int,
    steady: int,
    t0: float,
    failure: FailureKind,
    detail: str,
    metrics: dict[str, float] | None = None,
) -> Result:
    """A failed result, timed from ``t0`` on the monotonic clock."""
    return Result(
        target=target.key,
        ts_ns=ts_ns,
        steady_ns=steady,
        ok=False,
        latency_s=time.monotonic() - t0,
        failure=failure,
        detail=detail,
        metrics=metrics or {},
    )


def _internal(state: RunState, target: Target, ts_ns: int, steady: int, t0: float, oserror: OSError) -> Result:
    reason = os.strerror(oserror.errno) if oserror.errno else str(oserror)
    state.last_local = time.monotonic()
    if state.once.seen(_LOCAL_KEY, reason):
        _LOGGER.error(
            "probes cannot run: %s (a local limit, not the targets' fault; results are journaled as internal "
            "and counted against nobody; further errors like this are not logged one by one) errno=%s target=%s",
            reason,
            errno.errorcode.get(oserror.errno or 0, oserror.errno),
            target.key,
        )
    return _failed(
        target, ts_ns, steady, t0, FailureKind.INTERNAL, f"the agent could not probe: {reason} (local resource limit)"
    )


def _local_recovered(state: RunState) -> None:
    if _LOCAL_KEY in state.once.last and time.monotonic() - state.last_local >= _QUIET_S:
        missed = state.once.clear(_LOCAL_KEY)
        _LOGGER.warning("probes run again after a local resource error (%d more such errors not logged)", missed)


def _one_line(text: str, limit: int = 300) -> str:
    """One line of at most ``limit`` characters: whitespace folded, control and bidi characters dropped."""
    line = " ".join(printable(" ".join(text.split())).split())
    if "@" in line:  # a URL's credentials never reach the journal, whatever library message carried them
        line = redact_url(line)
    return line if len(line) <= limit else line[: limit - 1] + "…"


async def run_probe(probe: Probe, target: Target, ctx: ProbeContext) -> Result:
    """Run one probe under the target's timeout; always return a Result, never raise (except cancel)."""
    state = run_state(ctx)
    ts_ns = time.time_ns()
    steady = steady_ns()
    t0 = time.monotonic()
    try:
        async with asyncio.timeout(target.timeout_s):
            measured = await probe.run(ctx, target)
    except TimeoutError:
        _local_recovered(state)
        return _failed(target, ts_ns, steady, t0, FailureKind.TIMEOUT, f"no answer within {target.timeout_s:g}s")
    except Exception as exc:  # the one broad catch: a probe bug must not stop the schedule
        return settle(state, target, ts_ns, steady, t0, exc)
    return settle(state, target, ts_ns, steady, t0, measured)


def settle(
    state: RunState, target: Target, ts_ns: int, steady: int, t0: float, outcome: Measurement | Exception
) -> Result:
    """The Result of a probe that started at ``ts_ns``/``steady``/``t0`` (monotonic) and came to ``outcome``.

    A ``ProbeError`` is the probe's verdict, a local resource error (anywhere in the exception's chain) an
    ``internal`` result, any other exception a probe crash (logged once). Shared by :func:`run_probe` and the
    agent's ICMP driver, so both journal the same text for the same outcome.
    """
    if isinstance(outcome, Measurement):
        elapsed = time.monotonic() - t0
        _local_recovered(state)
        crash = f"crash:{target.key}"
        if crash in state.once.last:
            state.once.clear(crash)
        return Result(
            target=target.key,
            ts_ns=ts_ns,
            steady_ns=steady,
            ok=True,
            latency_s=elapsed if outcome.latency_s is None else float(outcome.latency_s),
            failure=None,
            detail=_one_line(outcome.detail),
            metrics=dict(outcome.metrics),
        )
    oserror = local_error(outcome)
    if oserror is not None:
        return _internal(state, target, ts_ns, steady, t0, oserror)
    if isinstance(outcome, ProbeError):
        _local_recovered(state)
        return _failed(target, ts_ns, steady, t0, outcome.failure, _one_line(outcome.detail), dict(outcome.metrics))
    if state.once.seen(f"crash:{target.key}", f"{type(outcome).__name__}: {outcome}"):
        _LOGGER.error(
            "probe crashed target=%s kind=%s (the same crash again is not logged)",
            target.key,
            target.kind,
            exc_info=outcome,
        )
    return _failed(
        target,
        ts_ns,
        steady,
        t0,
        FailureKind.INTERNAL,
        _one_line(f"internal error: {type(outcome).__name__}: {outcome}"),
    )
