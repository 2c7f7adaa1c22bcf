"""What a letter prints, as the templates see it (probes, measurement, outage rows, demands) and the built Letter."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from watchdog.analysis.sla import SlaFigures
from watchdog.documents.compensation.results import Assessment
from watchdog.documents.compensation.values import ContactEntry, Duration, Instant, Money
from watchdog.documents.rulebook import Rule, Rulebook
from watchdog.documents.words import Formatter, Lang


@dataclass(frozen=True, slots=True)
class Probe:
    """One probed target as the letter describes it."""

    kind: str
    address: str
    interval_s: float


@dataclass(frozen=True)
class Measurement:
    """How the windows were measured and how the customer's own line was verified."""

    version: str
    agent: str
    provider_targets: tuple[Probe, ...]
    lan: tuple[Probe, ...]
    internet: tuple[Probe, ...]
    quorum: int
    failure_threshold: int
    success_threshold: int
    max_interval_s: float  # the longest check interval of the targets that found the claimed windows
    clock_offset_ms: float | None
    clock_samples: int = 0
    clock_servers: tuple[str, ...] = ()


@dataclass(frozen=True)
class RestoreView:
    """The restore deadline of one outage as the letter states it (watchdog.analysis.restore)."""

    report: ContactEntry | None  # my first fault report in the outage; None: counted from the outage's start
    since: Instant  # what the promised time runs from: the report, else the start
    due: Instant  # when it ran out (or runs out)
    late: Duration | None  # past the deadline at the restoration (or now, still open); None: not late


@dataclass(frozen=True)
class IncidentRow:
    """One line of the outage table."""

    no: int
    start: Instant
    end: Instant
    duration: Duration
    downtime: Duration
    restore_excess: Duration | None  # the same as ``restore.late``
    refs: tuple[ContactEntry, ...]
    # the measurement bounds: the true start lies in [start_after, start], the true end in [end_after, end]
    start_after: Instant | None = None  # the last successful check before it (None: none in the journal)
    end_after: Instant | None = None  # the last failed check (None while still open)
    found_by: tuple[Probe, ...] = ()  # the provider's targets that were down in it
    restore: RestoreView | None = None  # None when no restore time was promised
    # where the route to each of its targets ended when it opened (the agent's traceroute), as journaled
    paths: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class ItemView:
    """One money demand as printed."""

    rule: Rule
    title: str
    demand: str
    formula: str
    amount: Money
    explain: str
    rounding: str
    clause: str
    optional: bool
    warning: str | None


@dataclass(frozen=True)
class Letter:
    """A built letter: the template to use, its context, and the figures and assessment behind it."""

    lang: Lang
    template: str
    fmt: Formatter
    context: Mapping[str, Any]
    figures: SlaFigures
    assessment: Assessment
    rulebook: Rulebook
