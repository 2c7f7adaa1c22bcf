"""Core value types shared by the agent, the probes, the journal, the sinks and the reports.

Everything here is a frozen value with no I/O. Times are UTC nanoseconds since the epoch (``*_ns``);
durations in code are float seconds (``*_s``). Only what people read is shown in local time.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

NS = 1_000_000_000


class FailureKind(enum.StrEnum):
    """Why a probe failed. The strings are stable: they are stored in the journal and in InfluxDB."""

    RESOLVE = "resolve"  # the target's name did not resolve
    CONNECT = "connect"  # refused, unreachable, reset
    TIMEOUT = "timeout"  # no answer within the target's timeout
    TLS = "tls"  # handshake or verification failed, or the certificate expired (near expiry: a warning only)
    UNEXPECTED = "unexpected"  # reached, but the answer broke an expectation (status, text, rcode, loss)
    INTERNAL = "internal"  # the agent could not probe (a bug, no ICMP permission); never blamed on the target


class Role(enum.StrEnum):
    """What a target stands for: a provider's service, or one of the customer's own-line controls."""

    PROVIDER = "provider"
    LAN = "lan"
    INTERNET = "internet"


class ProviderKind(enum.StrEnum):
    """The kind of company the customer pays; it changes how attribution reads the controls."""

    ISP = "isp"
    BROKER = "broker"
    BANK = "bank"
    OTHER = "other"


class Attribution(enum.StrEnum):
    """Whose fault a stretch of an outage was."""

    PROVIDER = "provider"  # the provider's targets failed while the customer's line was verified working
    CUSTOMER_LINE = "customer_line"  # the customer's LAN (or, for a non-ISP provider, their internet) was down
    INCONCLUSIVE = "inconclusive"  # the controls disagree or are too sparse to decide
    NO_DATA = "no_data"  # the agent was not running: never counted as up or as down


QUALITY_LIMITS = ("latency", "loss", "jitter")
"""The quality limits a target may have, in the order reports list them."""


@dataclass(frozen=True, slots=True)
class QualityRule:
    """One quality limit with its own hysteresis: ``open_bad`` bad rounds of the last ``open_of`` open a
    degraded window, ``close_good`` good rounds in a row close it. ``window`` is the sliding window (rounds)
    loss and jitter are computed over (latency is judged round by round). ``max`` is in base units:
    seconds for latency and jitter, a ratio (0..1) for loss."""

    max: float
    open_bad: int = 3
    open_of: int = 5
    close_good: int = 3
    window: int = 20


@dataclass(frozen=True, slots=True)
class Quality:
    """A target's quality limits (None = no such limit)."""

    latency: QualityRule | None = None
    loss: QualityRule | None = None
    jitter: QualityRule | None = None

    def rules(self) -> dict[str, QualityRule]:
        """The limits that are set, by name (``latency``, ``loss``, ``jitter``)."""
        return {name: rule for name in QUALITY_LIMITS if (rule := getattr(self, name)) is not None}


@dataclass(frozen=True, slots=True)
class Target:
    """One thing probed. ``key`` is unique: ``<provider>/<name>``, ``lan/<name>`` or ``internet/<name>``."""

    key: str
    name: str
    kind: str  # key into probes.REGISTRY
    address: str
    role: Role
    provider: str | None  # the provider id for role=provider, else None
    interval_s: float
    timeout_s: float
    failure_threshold: int = 3
    success_threshold: int = 2
    options: Any = None  # the probe's own frozen options model, built by watchdog.config
    quality: Quality | None = None  # latency/loss/jitter limits: a round over one is "degraded"
    # the address as written when it holds credentials (``http://user:pass@host/``); ``address`` is then the
    # redacted form, which is all that is ever journaled, shown or exported; only a probe reads this one
    secret_address: str | None = field(default=None, repr=False, compare=False)

    @property
    def probe_address(self) -> str:
        """The address to connect to: with its credentials, if the config gave any."""
        return self.secret_address or self.address

    @property
    def is_control(self) -> bool:
        """True for the customer's own-line controls (LAN and internet)."""
        return self.role is not Role.PROVIDER


def steady_ns() -> int:
    """A clock that wall-clock steps do not move and that counts suspend (CLOCK_BOOTTIME where there is one)."""
    return time.clock_gettime_ns(_STEADY)


_STEADY = getattr(time, "CLOCK_BOOTTIME", time.CLOCK_MONOTONIC)


def boot_id() -> str:
    """This boot's id (Linux); steady readings compare only within one boot. Empty where unknown."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as f:
            return f.read().strip()
    except OSError:
        return ""


@dataclass(frozen=True, slots=True)
class Result:
    """One probe run. ``latency_s`` is the measured latency when ok, the time to the verdict otherwise."""

    target: str  # Target.key
    ts_ns: int  # wall clock (UTC) when the probe started
    ok: bool
    latency_s: float | None
    failure: FailureKind | None = None  # None when ok
    detail: str = ""  # one human line: "HTTP 503", "connect 127.0.0.1:9: Connection refused"
    metrics: Mapping[str, float] = field(default_factory=dict)  # base units: status_code, days_left, loss_ratio
    # CLOCK_BOOTTIME when the probe started: immune to wall-clock steps; kept in memory, not journaled
    steady_ns: int | None = field(default=None, compare=False)

    @property
    def counts(self) -> bool:
        """False for results that say nothing about the target (the agent itself could not probe)."""
        return self.failure is not FailureKind.INTERNAL


@dataclass(frozen=True, slots=True)
class Outage:
    """A window where one target was down, found with hysteresis.

    ``start`` is the first failed probe and ``start_bounds`` = (last success before it, first failure): the
    true start lies in that interval. ``end`` is the first successful probe of the recovery and
    ``end_bounds`` = (last failure, first success). ``id`` is the journal sequence number of its opening.
    """

    id: int
    target: str
    start_ns: int
    start_bounds: tuple[int | None, int]
    confirmed_ns: int
    end_ns: int | None = None
    end_bounds: tuple[int, int] | None = None
    failure: FailureKind | None = None  # the kind of the first failure
    detail: str = ""  # the detail of the first failure
    # set for a *degraded* window (the target answered, but over a quality limit): which limit
    # ("latency", "loss", "jitter"); its bounds mean the same with "bad round" for "failure"
    limit: str = ""

    @property
    def is_open(self) -> bool:
        """True while the target has not recovered."""
        return self.end_ns is None

    def duration_ns(self, now_ns: int | None = None) -> int:
        """Duration from start to end, or to ``now_ns`` while still open."""
        end = self.end_ns if self.end_ns is not None else now_ns
        if end is None:
            raise ValueError("open outage: pass now_ns")
        return max(0, end - self.start_ns)


@dataclass(frozen=True, slots=True)
class Segment:
    """A stretch of an outage with one attribution; ``reason`` says which controls decided it."""

    start_ns: int
    end_ns: int
    attribution: Attribution
    reason: str = ""

    @property
    def duration_ns(self) -> int:
        """Length of the stretch."""
        return self.end_ns - self.start_ns


@dataclass(frozen=True, slots=True)
class AttributedOutage:
    """An outage with its attribution segments (computed from the controls, never stored)."""

    outage: Outage
    provider: str | None
    role: Role
    segments: tuple[Segment, ...]

    def time_by_attribution(self) -> dict[Attribution, int]:
        """Nanoseconds of the outage per attribution."""
        out: dict[Attribution, int] = {a: 0 for a in Attribution}
        for seg in self.segments:
            out[seg.attribution] += seg.duration_ns
        return out

    @property
    def attribution(self) -> Attribution:
        """The attribution that covers most of the outage (ties go to the more cautious reading)."""
        totals = self.time_by_attribution()
        order = [
            Attribution.NO_DATA,
            Attribution.INCONCLUSIVE,
            Attribution.CUSTOMER_LINE,
            Attribution.PROVIDER,
        ]
        return max(order, key=lambda a: (totals[a], -order.index(a)))
