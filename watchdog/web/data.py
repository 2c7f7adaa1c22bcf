"""What the status page shows, gathered from the live board or from the journal alone.

Two sources give the *current* state: :class:`LiveSource` reads the running agent's ``Board`` (same
event loop, no I/O); :class:`JournalSource` rebuilds a board from the journal's latest results and open
outages (``watchdog serve``). *History* (timelines, outages with attribution, SLA figures, latency,
contact log) always comes from the journal, through a read-only connection in a worker thread, so the
event loop that probes is never blocked; :class:`StatusService` caches it for a few seconds.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from watchdog.agent.detector import State
from watchdog.agent.state import Board, LineStatus
from watchdog.analysis.attribution import Interval, intersect
from watchdog.analysis.outages import Analysis, analyse, coverage, stall_intervals
from watchdog.analysis.restore import log_since
from watchdog.analysis.sla import Period, SlaFigures, compute, current_period
from watchdog.config import Config, ProviderSection
from watchdog.journal.backup import NAME_RE
from watchdog.journal.balance import Balance, latest_balances
from watchdog.journal.contacts import Contact, from_event
from watchdog.journal.integrity import check_readable
from watchdog.journal.readers import Event, Head
from watchdog.journal.schema import EV_CERT_EXPIRING
from watchdog.journal.store import Journal
from watchdog.journal.tsa import EV_TIMESTAMP, StampCheck, check_stamp_rows, newest_stamp, stamp_status
from watchdog.model import NS, FailureKind, Outage, Result, Role, Target

_LOGGER = logging.getLogger(__name__)

T = TypeVar("T")

DAY_NS = 86_400 * NS
HISTORY_DAYS = 30
LATENCY_BUCKETS = 96  # 15-minute buckets over 24 h
EV_CONTACT = "contact"  # written by `watchdog contact add` (the contact-log part)

# A target's state, worst first: what a provider's state is made of.
STATES = ("down", "failing", "stale", "unknown", "up")


@dataclass(frozen=True, slots=True)
class TargetNow:
    """One target right now: its state and what the last probe said."""

    target: Target
    state: str  # one of STATES
    last_state: str  # what the latest data said, even when it is stale
    last: Result | None
    last_ok_ns: int | None
    outage: Outage | None
    degraded: tuple[str, ...] = ()  # quality limits over their bounds while the target is up (down wins)


@dataclass(frozen=True, slots=True)
class Now:
    """The current state of every target and of the customer's line."""

    now_ns: int
    mode: str  # "live" (the agent's board) or "journal" (watchdog serve)
    agent_running: bool
    last_record_ns: int | None
    targets: tuple[TargetNow, ...]
    line: LineStatus
    journal_error: str | None = None  # set while the agent cannot write its journal
    heartbeat: HeartbeatNow | None = None  # the last heartbeat push (live mode; None: not known)

    def provider_targets(self, provider_id: str) -> list[TargetNow]:
        """One provider's targets."""
        return [t for t in self.targets if t.target.provider == provider_id]

    def controls(self) -> list[TargetNow]:
        """LAN then internet controls."""
        order = {Role.LAN: 0, Role.INTERNET: 1}
        return sorted((t for t in self.targets if t.target.is_control), key=lambda t: order[t.target.role])

    def provider_state(self, provider_id: str) -> str:
        """The worst state among a provider's targets."""
        states = {t.state for t in self.provider_targets(provider_id)}
        return next((s for s in STATES if s in states), "unknown")


def stale_after_ns(target: Target) -> int:
    """How old a target's last result may be before the page stops trusting it (two missed probes)."""
    return int((2 * target.interval_s + target.timeout_s + 5.0) * NS)


def target_now(
    target: Target,
    state: State,
    last: Result | None,
    last_ok_ns: int | None,
    outage: Outage | None,
    now_ns: int,
    running: bool,
    degraded: tuple[str, ...] = (),
) -> TargetNow:
    """Derive the shown state from the detector's state and the last result."""
    if state is State.DOWN:
        last_state = "down"
    elif last is None or last.failure is FailureKind.INTERNAL:
        last_state = "unknown"
    elif not last.ok:
        last_state = "failing"
    else:
        last_state = "up"
    fresh = running and last is not None and now_ns - last.ts_ns <= stale_after_ns(target)
    if last is None and running:
        shown = "unknown"
    elif not fresh:
        shown = "stale"
    else:
        shown = last_state
    return TargetNow(target, shown, last_state, last, last_ok_ns, outage, degraded if shown == "up" else ())


def line_state(now: Now) -> str:
    """``ok`` (LAN up, internet quorum up), ``down`` (enough controls failing to rule the line out),
    ``uncertain`` (anything between), or ``unknown`` (no control has fresh data)."""
    line = now.line
    controls = now.controls()
    known = [t for t in controls if t.state in ("up", "down", "failing")]
    if not known:
        return "unknown"
    lan_down = sum(1 for t in known if t.target.role is Role.LAN and t.state != "up")
    internet_down = sum(1 for t in known if t.target.role is Role.INTERNET and t.state != "up")
    quorum_lost = line.internet_total > 0 and internet_down > line.internet_total - line.quorum
    if quorum_lost or (lan_down and not line.internet_ok):
        return "down"
    if line.lan_ok and line.internet_ok and all(t.state == "up" for t in controls if t.target.role is Role.LAN):
        return "ok"
    return "uncertain"


# --------------------------------------------------------------------------------------------- sources


class Source(Protocol):
    """Where the current state comes from."""

    mode: str
    config: Config

    async def now(self) -> Now:
        """The current state."""
        ...

    async def health(self) -> tuple[bool, dict[str, Any]]:
        """(healthy, details) for /healthz."""
        ...


@dataclass(frozen=True, slots=True)
class HeartbeatNow:
    """The agent's last heartbeat push (live mode only: pushes are not journaled)."""

    ok: bool
    at_ns: int
    error: str | None  # the HTTP status or error type (never the URL: it is the secret)
    failing_since_ns: int | None  # the first failed push of the current run of failures


@dataclass
class AgentHealth:
    """What the web sink learns from the agent's fan-out: results arriving, journal failing, stopping, heartbeat."""

    started_mono: float = field(default_factory=time.monotonic)
    last_result_mono: float | None = None
    journal_error: str | None = None
    stopping: bool = False
    heartbeat: HeartbeatNow | None = None  # the last push's outcome (None: no push yet, or none configured)


class LiveSource:
    """The running agent's board (read on the event loop; it is only ever changed there)."""

    mode = "live"

    def __init__(self, config: Config, board: Board, health: AgentHealth) -> None:
        self.config = config
        self.board = board
        self.agent = health
        # the scheduler is alive while some target reports within its own stale limit
        self.alive_within_s = max(stale_after_ns(t) for t in config.targets) / NS if config.targets else 60.0

    async def now(self) -> Now:
        """Snapshot the board."""
        now = time.time_ns()
        running = not self.agent.stopping
        targets = tuple(
            target_now(s.target, s.state, s.last, s.last_ok_ns, s.outage, now, running, s.degraded)
            for s in self.board.targets.values()
        )
        last = max((s.last.ts_ns for s in self.board.targets.values() if s.last is not None), default=None)
        return Now(
            now, self.mode, running, last, targets, self.board.line(), self.agent.journal_error, self.agent.heartbeat
        )

    async def health(self) -> tuple[bool, dict[str, Any]]:
        """Healthy while results keep arriving and the journal accepts them."""
        mono = time.monotonic()
        since = self.agent.last_result_mono if self.agent.last_result_mono is not None else self.agent.started_mono
        quiet_s = mono - since
        problems = []
        if self.agent.stopping:
            problems.append("the agent is stopping")
        if quiet_s > self.alive_within_s:
            problems.append(f"no probe result for {quiet_s:.0f}s (scheduler stalled?)")
        if self.agent.journal_error:
            problems.append(f"journal not writable: {self.agent.journal_error}")
        return not problems, {
            "mode": self.mode,
            "seconds_since_last_result": None if self.agent.last_result_mono is None else round(quiet_s, 3),
            "problems": problems,
        }


def _journal_now(journal: Journal, config: Config, now_ns: int) -> Now:
    """Rebuild the board from the journal: latest results, open outages, and whether a run is going on."""
    keys = [t.key for t in config.targets]
    restored = journal.restore(keys)
    runs = journal.runs()
    running = bool(runs) and runs[-1].end_ns is None
    board = Board.for_targets(config.targets, config.quorum)
    for key, status in board.targets.items():
        status.last = restored.last_result.get(key)
        status.last_ok_ns = restored.last_ok_ns.get(key)
        status.outage = restored.open_outages.get(key)
        status.degraded = tuple(sorted(restored.open_degraded.get(key, {})))
        if status.outage is not None:
            status.state = State.DOWN
        elif status.last_ok_ns is not None:
            status.state = State.UP
    last = max((r.ts_ns for r in restored.last_result.values()), default=None)
    targets = tuple(
        target_now(s.target, s.state, s.last, s.last_ok_ns, s.outage, now_ns, running, s.degraded)
        for s in board.targets.values()
    )
    return Now(now_ns, "journal", running, last, targets, board.line())


class JournalSource:
    """The journal alone (``watchdog serve``): the current state is its latest results and open outages."""

    mode = "journal"

    def __init__(self, config: Config, *, clock: Callable[[], int] = time.time_ns, cache_s: float = 2.0) -> None:
        self.config = config
        self.clock = clock
        self.cache_s = cache_s  # the journal's tail is ~50 ms to read on a big journal: share it between requests
        self._last: tuple[float, Now] | None = None
        self._lock = asyncio.Lock()

    async def now(self) -> Now:
        """Read the journal's tail in a thread (at most once per ``cache_s``)."""
        async with self._lock:
            if self._last is not None and time.monotonic() - self._last[0] < self.cache_s:
                return self._last[1]
            now = self.clock()
            value = await read_journal(self.config.journal_path, lambda j: _journal_now(j, self.config, now))
            self._last = (time.monotonic(), value)
            return value

    async def health(self) -> tuple[bool, dict[str, Any]]:
        """Healthy while the journal can be opened and read."""
        try:
            head = await read_journal(self.config.journal_path, lambda j: j.head())
        except Exception as exc:
            return False, {"mode": self.mode, "problems": [f"journal not readable: {exc}"]}
        return True, {"mode": self.mode, "head": None if head is None else head.as_dict(), "problems": []}


async def read_journal(path: Path, fn: Callable[[Journal], T]) -> T:
    """Run ``fn`` on a read-only connection in a worker thread (never on the event loop)."""

    def work() -> T:
        with Journal.open(path, create=False, readonly=True) as journal:
            return fn(journal)

    return await asyncio.to_thread(work)


# --------------------------------------------------------------------------------------------- history


@dataclass(frozen=True)
class History:
    """The last 30 days from the journal: attributed outages, per-target coverage, SLA figures, contacts."""

    now_ns: int
    since_ns: int
    analysis: Analysis
    figures: Mapping[str, SlaFigures]  # provider id → current period so far
    target_coverage: Mapping[str, tuple[Interval, ...]]  # target key → when it was probed (within the window)
    contacts: tuple[Event, ...]
    head: Head | None
    upkeep: Upkeep | None = None  # timestamps, backup, balances, certificate warnings (issues 17, 18)


@dataclass(frozen=True, slots=True)
class StampNow:
    """One TSA: its newest token that verifies (checked here, never trusted blind) and its queue."""

    tsa: str
    configured: bool
    gen_time_ns: int | None  # the journal's rows up to ``last_seq`` existed no later than this
    block: int | None
    last_seq: int | None
    queued: int
    queued_since_ns: int | None
    attempts: int
    error: str | None  # the last request's failure (an HTTP status or error type; never the URL)
    bad_tokens: int = 0  # journaled tokens from this TSA that do not verify (``watchdog verify --journal`` names them)


@dataclass(frozen=True, slots=True)
class BackupNow:
    """The newest backup in ``backup.dest``: its file name only (the folder may name a NAS share)."""

    file: str | None
    at_ns: int | None
    bytes: int | None
    every_s: float
    problem: str | None  # the destination could not be read


@dataclass(frozen=True, slots=True)
class CertWarningNow:
    """An open TLS expiry warning: a certificate still valid but near its end (a warning, not downtime)."""

    target: str
    not_after_ns: int
    first_ns: int  # when it was first warned about
    last_ns: int


@dataclass(frozen=True)
class Upkeep:
    """What keeps the evidence safe and the service paid, read from the journal and the backup folder."""

    stamps: tuple[StampNow, ...]
    backup: BackupNow | None  # None: no ``backup.dest``
    balances: Mapping[str, Balance]  # provider id → latest reading
    certs: Mapping[str, tuple[CertWarningNow, ...]]  # provider id → open warnings
    bad_stamps: tuple[StampCheck, ...] = ()  # journaled tokens that do not verify, in seq order
    unchecked_stamps: int = 0  # older tokens the page has not checked yet (see StampAudit)


@dataclass(frozen=True)
class AuditNow:
    """What the audit knows: the tokens that do not verify, and how many older ones it has not checked yet."""

    bad: tuple[StampCheck, ...]  # in seq order
    unchecked: int


class StampAudit:
    """Every journaled timestamp token, checked once: the page names those that do not verify.

    A token row never changes once chained, so the audit keeps the range of token rows it has checked
    (``lo``..``hi`` by seq) and each look checks at most ``batch`` more: first the rows written since
    (one an hour), then older ones, newest first. A year of hourly tokens (~9,000, ~3.5 ms each here) is
    so checked over some page refreshes, never in one request, and a look with nothing new costs one
    query. The range starts again when the journal is another one (restored, replaced) or its token rows
    in the range are not the ones counted. Thread-safe: journal reads run in worker threads.
    """

    def __init__(self, batch: int = 200) -> None:
        self.batch = batch
        self._lock = threading.Lock()
        self._journal = ""
        self._lo = self._hi = self._count = 0  # token rows lo..hi (by seq) are checked; _count of them
        self._bad: dict[int, StampCheck] = {}
        self._now = AuditNow((), 0)

    def _reset(self, journal_id: str) -> None:
        self._journal, self._lo, self._hi, self._count, self._bad = journal_id, 0, 0, 0, {}

    def look(self, journal: Journal) -> AuditNow:
        """The tokens that do not verify (against the block they name and the CA the journal carries)."""
        conn = journal.conn
        count, lo, hi = conn.execute(
            "SELECT count(*), coalesce(min(seq), 0), coalesce(max(seq), 0) FROM events WHERE type = ?",
            (EV_TIMESTAMP,),
        ).fetchone()
        with self._lock:
            if (journal.journal_id, int(count), int(lo), int(hi)) == (self._journal, self._count, self._lo, self._hi):
                return self._now  # every token row checked, none added: the cached answer
            if journal.journal_id != self._journal or int(hi) < self._hi:
                self._reset(journal.journal_id)
            elif self._count:
                (seen,) = conn.execute(
                    "SELECT count(*) FROM events WHERE type = ? AND seq BETWEEN ? AND ?",
                    (EV_TIMESTAMP, self._lo, self._hi),
                ).fetchone()
                if int(seen) != self._count:  # rows removed or put back inside the checked range
                    self._reset(journal.journal_id)
            newer = [
                int(s)
                for (s,) in conn.execute(
                    "SELECT seq FROM events WHERE type = ? AND seq > ? ORDER BY seq DESC LIMIT ?",
                    (EV_TIMESTAMP, self._hi, self.batch + 1),
                )
            ]
            if len(newer) > self.batch or not self._count:  # a first look (or a long absence): from the newest
                self._reset(journal.journal_id)
                seqs = newer[: self.batch]
            else:
                older = [
                    int(s)
                    for (s,) in conn.execute(
                        "SELECT seq FROM events WHERE type = ? AND seq < ? ORDER BY seq DESC LIMIT ?",
                        (EV_TIMESTAMP, self._lo, self.batch - len(newer)),
                    )
                ]
                seqs = newer + older
            for check in check_stamp_rows(conn, journal.journal_id, seqs):
                if check.problem is not None:
                    self._bad[check.seq] = check
            if seqs:
                self._lo = min(seqs) if not self._count else min(self._lo, *seqs)
                self._hi = max(self._hi, *seqs)
                self._count += len(seqs)
            (unchecked,) = conn.execute(
                "SELECT count(*) FROM events WHERE type = ? AND seq < ?", (EV_TIMESTAMP, self._lo)
            ).fetchone()
            self._now = AuditNow(tuple(self._bad[s] for s in sorted(self._bad)), int(unchecked))
            return self._now


def load_stamps(journal: Journal, config: Config, bad: tuple[StampCheck, ...] = ()) -> tuple[StampNow, ...]:
    """Per TSA (configured ones and any the journal has tokens from): the newest verified token, the queue and
    how many of its tokens (in ``bad``) do not verify."""
    names = [t.label for t in config.model.timestamp.tsas]
    out = []
    for row in stamp_status(journal.conn, names):
        check = newest_stamp(journal.conn, journal.journal_id, tsa=row["tsa"]) if row["last_token_ns"] else None
        out.append(
            StampNow(
                row["tsa"],
                row["configured"],
                None if check is None else check.gen_time_ns,
                None if check is None else check.block,
                None if check is None else check.last_seq,
                row["queued"],
                row["queued_since_ns"],
                row["attempts"],
                row["error"],
                sum(1 for b in bad if b.tsa == row["tsa"]),
            )
        )
    return tuple(out)


def load_backup(config: Config) -> BackupNow | None:
    """The newest backup in ``backup.dest`` (a folder of rotated copies, or one file)."""
    section = config.model.backup
    if section.dest is None:
        return None
    dest = Path(section.dest).expanduser()
    try:
        if dest.is_dir():
            found = sorted((p for p in dest.iterdir() if NAME_RE.match(p.name)), key=lambda p: p.name)
            newest = found[-1] if found else None
        else:
            newest = dest if dest.exists() else None
        if newest is None:
            return BackupNow(None, None, None, section.every, None)
        info = newest.stat()
    except OSError as exc:
        return BackupNow(None, None, None, section.every, exc.strerror or type(exc).__name__)
    return BackupNow(newest.name, info.st_mtime_ns, info.st_size, section.every, None)


def open_cert_warnings(
    events: list[Event], keys: Mapping[int, str], config: Config, last: Mapping[str, Result | None], now_ns: int
) -> dict[str, tuple[CertWarningNow, ...]]:
    """Each provider's open TLS expiry warnings: the newest warned certificate of each target, while it is
    not yet past its end and the target's latest result (when it reports one) still shows that certificate
    (a renewed certificate closes the warning)."""
    newest: dict[str, CertWarningNow] = {}
    for e in events:
        key = keys.get(e.target) if e.target is not None else None
        if key is None:
            continue
        try:
            not_after = int(e.data["not_after_ns"])
        except (KeyError, TypeError, ValueError):
            continue
        seen = newest.get(key)
        first = seen.first_ns if seen is not None and seen.not_after_ns == not_after else e.ts_ns
        newest[key] = CertWarningNow(key, not_after, first, e.ts_ns)
    out: dict[str, list[CertWarningNow]] = {}
    for target in config.targets:
        w = newest.get(target.key)
        if w is None or target.provider is None or w.not_after_ns <= now_ns:
            continue
        result = last.get(target.key)
        shown = None if result is None else result.metrics.get("not_after_ts")
        if shown is not None and abs(round(float(shown) * NS) - w.not_after_ns) > NS:
            continue  # the certificate was renewed since
        out.setdefault(target.provider, []).append(w)
    return {k: tuple(v) for k, v in out.items()}


def load_upkeep(
    journal: Journal, config: Config, now_ns: int, since_ns: int, audit: StampAudit | None = None
) -> Upkeep:
    """Timestamps (with the tokens that do not verify, when ``audit`` is given), the last backup, balances and
    open certificate warnings (runs in a thread)."""
    certs = journal.events([EV_CERT_EXPIRING], since_ns=since_ns, until_ns=now_ns)
    keys = {info.id: info.key for info in journal.targets().values()} if certs else {}
    warned = sorted({keys[e.target] for e in certs if e.target in keys})
    last: Mapping[str, Result | None] = journal.restore(warned).last_result if warned else {}
    audited = audit.look(journal) if audit is not None else AuditNow((), 0)
    return Upkeep(
        load_stamps(journal, config, audited.bad),
        load_backup(config),
        latest_balances(journal),
        open_cert_warnings(list(certs), keys, config, last, now_ns),
        audited.bad,
        audited.unchecked,
    )


def provider_kinds(config: Config) -> dict[str, Any]:
    """provider id → kind, as analyse() wants it."""
    return {p.id: p.kind for p in config.providers}


def load_history(journal: Journal, config: Config, now_ns: int, audit: StampAudit | None = None) -> History:
    """Analyse the journal over the last 30 days and each provider's current period (runs in a thread)."""
    check_readable(journal)  # figures are never read around a damaged index (JournalDamaged → 503)
    since = now_ns - HISTORY_DAYS * DAY_NS
    periods = {p.id: current_period(p.sla.period, now_ns, config.provider_zone(p.id)) for p in config.providers}
    lo = min([since, *(period.start_ns for period in periods.values())])
    analysis = analyse(
        journal,
        provider_kinds=provider_kinds(config),
        quorum=config.quorum,
        since_ns=lo,
        until_ns=now_ns,
        now_ns=now_ns,
    )
    contacts = tuple(journal.events([EV_CONTACT]))
    figures = {
        p.id: compute(
            analysis,
            p,
            periods[p.id],
            config.provider_zone(p.id),
            period_contacts(contacts, p.id, periods[p.id], analysis),
        )
        for p in config.providers
    }
    ids = {info.key: info.id for info in journal.targets().values()}
    window = [(since, now_ns)]
    runs, stalls = journal.runs(), stall_intervals(journal)  # read once for every target
    cov = {
        t.key: tuple(intersect(coverage(journal, now_ns, ids[t.key], runs=runs, stalls=stalls), window))
        if t.key in ids
        else ()
        for t in config.targets
    }
    upkeep = load_upkeep(journal, config, now_ns, since, audit)
    return History(now_ns, since, analysis, figures, cov, contacts, journal.head(), upkeep)


def load_report(journal: Journal, config: Config, provider: ProviderSection, period: Period, now_ns: int) -> SlaFigures:
    """SLA figures of one provider over one period (to now, for the period in progress)."""
    check_readable(journal)
    analysis = analyse(
        journal,
        provider_kinds=provider_kinds(config),
        quorum=config.quorum,
        since_ns=period.start_ns,
        until_ns=period.end_ns,
        now_ns=now_ns,
    )
    contacts = period_contacts(journal.events([EV_CONTACT]), provider.id, period, analysis)
    return compute(analysis, provider, period, config.provider_zone(provider.id), contacts)


def period_contacts(
    events: Iterable[Event], provider_id: str, period: Period, analysis: Analysis | None = None
) -> list[Contact]:
    """The provider's contact-log entries in the period: what restore deadlines run from, as in the report.

    With ``analysis``, from the start of an incident that began before the period (log_since), as the report
    and the notifier read them: its fault report may predate the period.
    """
    since = period.start_ns
    if analysis is not None:
        since = log_since(period.start_ns, (a.outage.start_ns for a in analysis.for_provider(provider_id)))
    out = []
    for e in events:
        if e.type != EV_CONTACT:
            continue
        c = from_event(e.seq, e.ts_ns, e.data)
        if c.provider == provider_id and since <= c.at_ns < period.end_ns:
            out.append(c)
    return out


@dataclass(frozen=True, slots=True)
class LatencyBucket:
    """Latency of one target over one bucket of time (successful probes only)."""

    start_ns: int
    median_s: float | None
    max_s: float | None
    probes: int
    failures: int


@dataclass(frozen=True, slots=True)
class LatencySeries:
    """A target's latency over the last 24 h in equal buckets, with overall figures."""

    key: str
    since_ns: int
    bucket_ns: int
    buckets: tuple[LatencyBucket, ...]
    median_s: float | None
    p95_s: float | None
    probes: int
    failures: int


def load_latency(journal: Journal, keys: list[str], now_ns: int, buckets: int = LATENCY_BUCKETS) -> list[LatencySeries]:
    """24 h of results for some targets, bucketed (runs in a thread)."""
    since = now_ns - DAY_NS
    width = DAY_NS // buckets
    ok: dict[str, list[list[float]]] = {k: [[] for _ in range(buckets)] for k in keys}
    counts: dict[str, list[list[int]]] = {k: [[0, 0] for _ in range(buckets)] for k in keys}
    for _seq, r in journal.iter_results(since, now_ns, keys):
        i = min(buckets - 1, (r.ts_ns - since) // width)
        counts[r.target][i][0] += 1
        if r.ok and r.latency_s is not None:
            ok[r.target][i].append(r.latency_s)
        elif r.counts and not r.ok:
            counts[r.target][i][1] += 1
    out = []
    for key in keys:
        series = []
        every: list[float] = []
        for i in range(buckets):
            values = ok[key][i]
            every.extend(values)
            series.append(
                LatencyBucket(
                    since + i * width,
                    statistics.median(values) if values else None,
                    max(values) if values else None,
                    counts[key][i][0],
                    counts[key][i][1],
                )
            )
        p95 = statistics.quantiles(every, n=20, method="inclusive")[18] if len(every) >= 2 else None
        out.append(
            LatencySeries(
                key,
                since,
                width,
                tuple(series),
                statistics.median(every) if every else None,
                p95,
                sum(c[0] for c in counts[key]),
                sum(c[1] for c in counts[key]),
            )
        )
    return out


# --------------------------------------------------------------------------------------------- service


@dataclass
class _Cached:
    at: float
    value: Any


class StatusService:
    """Current state plus cached journal reads; one computation per key at a time (a Pi has 4 slow cores)."""

    def __init__(
        self,
        source: Source,
        *,
        cache_s: float = 5.0,
        max_entries: int = 64,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.source = source
        self.config = source.config
        self.clock = clock  # UTC ns; tests pass a fixed one (the live source always reads the real clock)
        self.cache_s = cache_s
        self.max_entries = max_entries
        self._cache: dict[tuple[Any, ...], _Cached] = {}
        self._locks: dict[tuple[Any, ...], asyncio.Lock] = {}
        self.stamp_audit = StampAudit()  # each timestamp token checked once, not on every page

    async def now(self) -> Now:
        """The current state (not cached: the live board is free to read)."""
        return await self.source.now()

    async def _cached(self, key: tuple[Any, ...], fn: Callable[[Journal], T]) -> T:
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            hit = self._cache.get(key)
            if hit is not None and time.monotonic() - hit.at < self.cache_s:
                return hit.value  # type: ignore[no-any-return]
            started = time.monotonic()
            value = await read_journal(self.config.journal_path, fn)
            if len(self._cache) >= self.max_entries:
                oldest = min(self._cache, key=lambda k: self._cache[k].at)
                del self._cache[oldest]
                self._locks.pop(oldest, None)
            self._cache[key] = _Cached(time.monotonic(), value)
            _LOGGER.debug("journal read key=%s took_s=%.3f", key[0], time.monotonic() - started)
            return value

    async def history(self, now: Now | None = None) -> History:
        """The last 30 days and each provider's current period.

        With ``now``, the cached copy is used only if it knows the same open outages as ``now`` does, so a
        page never shows a target down without its outage (or an outage the board has already closed).
        """
        opened = frozenset((t.target.key, t.outage.id) for t in now.targets if t.outage) if now else None
        return await self._cached(
            ("history", opened), lambda j: load_history(j, self.config, self.clock(), self.stamp_audit)
        )

    async def report(self, provider: ProviderSection, period: Period) -> SlaFigures:
        """One provider's figures for one period."""
        return await self._cached(
            ("report", provider.id, period.label),
            lambda j: load_report(j, self.config, provider, period, self.clock()),
        )

    async def latency(self, provider_id: str) -> list[LatencySeries]:
        """24 h latency of a provider's targets."""
        keys = [t.key for t in self.config.targets_of(provider_id)]
        return await self._cached(("latency", provider_id), lambda j: load_latency(j, keys, self.clock()))

    async def analysis(self, since_ns: int | None, until_ns: int | None) -> Analysis:
        """Attributed outages over a window (for /api/v1/outages)."""
        now = self.clock()
        return await self._cached(
            ("analysis", since_ns, until_ns),
            lambda j: analyse(
                check_readable(j),
                provider_kinds=provider_kinds(self.config),
                quorum=self.config.quorum,
                since_ns=since_ns,
                until_ns=until_ns,
                now_ns=now,
            ),
        )
