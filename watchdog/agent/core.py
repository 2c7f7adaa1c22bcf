"""The agent: wires config, probes, scheduler, journal, detectors and sinks inside one task group.

Order of things for every result: probe → journal (durable; commits are grouped, held at most
``agent.commit_delay``) → detector → outage event journaled → board → sinks. Start-up recovers from
a crash (ends the previous run at its last record, seals its rows), registers targets, journals
``agent_start`` and restores open outages, so a restart neither forgets nor duplicates an outage.
Shutdown journals ``agent_stop`` and seals the chain.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import fcntl
import functools
import gc
import logging
import os
import signal
import socket
import stat
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from probes import REGISTRY
from probes.speed import SPEED_GATE_KEY
from watchdog import __version__
from watchdog.agent.detector import Closed, Detector, Opened, State
from watchdog.agent.icmp_driver import IcmpDriver, wheel_targets
from watchdog.agent.limits import check_fd_limit
from watchdog.agent.quality import DegradedOpened, QualityTracker, closed_data, opened_data
from watchdog.agent.scheduler import LatenessWindow, ScheduleStats, run_target, stagger_offsets
from watchdog.agent.sinks import AgentContext, AgentEvent, DegradedNotice, Fanout, OutageNotice, SinkFactory
from watchdog.agent.state import Board
from watchdog.agent.writer import JournalWriter
from watchdog.config import Config
from watchdog.config.capacity import probe_load
from watchdog.errors import WatchdogError
from watchdog.journal.balance import EV_BALANCE, balance_data, latest_balances
from watchdog.journal.files import (
    DISK_FULL,
    UnsafePathError,
    as_storage_error,
    private_dir,
    refuse_link,
    storage_problem,
)
from watchdog.journal.schema import (
    EV_AGENT_START,
    EV_AGENT_STOP,
    EV_ALIVE,
    EV_CERT_EXPIRING,
    EV_CLOCK_STEP,
    EV_DEGRADED_CLOSE,
    EV_DEGRADED_OPEN,
    EV_OUTAGE_CLOSE,
    EV_OUTAGE_OPEN,
    EV_RUN_END_RECOVERED,
    EV_STALL,
    EV_STORAGE_WAIT,
)
from watchdog.journal.store import BLOCK_MAX_ROWS, Journal, Ticket
from watchdog.model import NS, Result, Target, boot_id
from watchdog.probe import ProbeContext

_LOGGER = logging.getLogger(__name__)

SEAL_EVERY_S = 60.0
SEAL_PART_ROWS = 100  # rows hashed per writer call when whole blocks are sealed as they fill (~1 ms)
SEAL_PART_PAUSE_S = 0.004  # the writer's pause between those calls: the event loop's thread runs meanwhile
SEAL_BLOCKS_PER_TICK = 8  # whole blocks sealed that way per monitor tick (8 x ~55 ms at 5,000 results/s)
MONITOR_TICK_S = 1.0
STALL_THRESHOLD_S = 5.0
CLOCK_STEP_THRESHOLD_S = 1.0
START_RETRY_S = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)  # waits between start attempts on a full disk


LATE_WARN_S = 0.1  # start lateness p99 past this over a window: the machine does not keep up (logged once a run)
LATE_WINDOW_S = 60.0
LATE_MIN_PROBES = 100  # fewer probes in a window say nothing about a p99

GC_GEN0_THRESHOLD = 50_000  # allocations between young-generation collections once the agent runs


def _tune_gc() -> tuple[int, int, int]:
    """Move everything start-up made out of the collector's sight and collect the young less often.

    At thousands of probes a second the default collector (every 700 allocations, scanning the
    config, the targets and every module again in the older generations) shows up as start lateness;
    after ``gc.freeze()`` the collections only walk what the running agent allocates. Returns the
    thresholds it replaced.

    Called once, right before the first probe is scheduled: its full collection (~60-80 ms with a small config on
    the development VM, 110-130 ms at 5,000 targets) then delays the start, not probes. It used to run 2 s after
    the start, with the probes running: at 5,000 ICMP targets a second that collection and the automatic full
    ones before it set the event loop back by a few hundred probes, one of the two causes of runs that never caught
    up (3 of 10 runs on 2026-12-08, start lateness 0.1-0.8 s for the rest of the run; the other cause: see
    ``IcmpDriver._tick``).
    """
    before = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_GEN0_THRESHOLD, before[1], before[2])
    return before


def lateness_warning(
    counts: tuple[int, int, int, float], window_s: float, targets: Sequence[Target], threshold_s: float = LATE_WARN_S
) -> str | None:
    """The warning for one window of :class:`LatenessWindow` counts when its p99 start lateness passed ``threshold_s``.

    More than 1 % of the window's probes (a skipped slot counts as a late probe) started more than
    ``threshold_s`` after their slot; None when not, or when too few probes ran to tell.
    """
    probes, late, skipped, worst_s = counts
    total = probes + skipped
    if total < LATE_MIN_PROBES or (late + skipped) * 100 <= total:
        return None
    asked = probe_load(targets)
    worst = f", the latest {worst_s:.2f} s" if late else ""
    if asked.load > 1.0:
        why = (
            f"this machine does not keep up with the {asked.rate:,.0f} probes/s the config asks for "
            f"({asked.load:.1f}× what a 2-core machine sustains, see `watchdog config check`)"
        )
    else:
        why = (
            f"the config asks for {asked.rate:,.0f} probes/s ({asked.load:.1f}× what a 2-core machine sustains): "
            "something else on this machine holds the CPU, or the machine is slower"
        )
    return (
        f"probes start late: over the last {window_s:.0f} s, {late:,} of {probes:,} probes started more than "
        f"{threshold_s * 1000:.0f} ms after their slot{worst}, and {skipped:,} slots were skipped: {why}; outage "
        "times lose precision and skipped probes are not made up (lengthen intervals or split the targets over "
        "agents)"
    )


class AgentLockedError(WatchdogError):
    """Another agent already runs on this data directory."""


@dataclass
class AgentHandle:
    """What a running agent exposes to tests, the web server and benchmarks."""

    config: Config
    board: Board
    writer: JournalWriter
    run_id: str
    stats: dict[str, ScheduleStats] = field(default_factory=dict)
    icmp_driver: IcmpDriver | None = None  # runs the ICMP targets with an IP address, when any
    started: asyncio.Event = field(default_factory=asyncio.Event)
    stop: asyncio.Event = field(default_factory=asyncio.Event)


def _boottime_ns() -> int:
    try:
        return time.clock_gettime_ns(time.CLOCK_BOOTTIME)
    except (AttributeError, OSError):  # not Linux
        return time.monotonic_ns()


def lock_data_dir(data_dir: Path) -> int:
    """Take ``data_dir/agent.lock`` (flock) and return its descriptor, held for the agent's lifetime.

    The folder is created 0700; the file 0600 with ``O_EXCL``, or an existing one opened with
    ``O_NOFOLLOW``: a symbolic link (or a hard link, a FIFO) planted there is refused, never written.
    """
    private_dir(data_dir)
    path = data_dir / "agent.lock"
    flags = os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
    try:
        fd = os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        refuse_link(path)
        try:
            fd = os.open(path, flags)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                refuse_link(path)
            raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
            raise UnsafePathError(f"refusing to use {path}: it is not a plain file of its own (a link or a device)")
        if info.st_mode & 0o077 and info.st_uid == os.geteuid():
            os.fchmod(fd, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = os.pread(fd, 32, 0).decode(errors="replace").strip()
            raise AgentLockedError(f"another agent is running on {data_dir} (pid {pid or '?'})") from None
        os.ftruncate(fd, 0)
        try:
            os.pwrite(fd, str(os.getpid()).encode(), 0)
        except OSError as exc:  # the pid is information only: the flock is the lock
            if storage_problem(exc) != DISK_FULL:
                raise
    except BaseException:
        os.close(fd)
        raise
    return fd


def _recover_previous_run(journal: Journal) -> dict[str, Any] | None:
    """End a crashed run at its last record and seal its rows; return what was recovered."""
    runs = journal.runs()
    recovered = None
    if runs and runs[-1].end_ns is None:
        last = runs[-1]
        alive = journal.events([EV_ALIVE], after_seq=last.seq)
        anchor_seq = alive[-1].seq if alive else last.seq
        anchor_ns = alive[-1].ts_ns if alive else last.start_ns
        last_result = journal.last_result_ts_after(anchor_seq)
        last_ns = max(anchor_ns, last_result or 0)
        journal.add_event(EV_RUN_END_RECOVERED, {"run": last.run_id, "last_ns": last_ns})
        recovered = {"run": last.run_id, "last_ns": last_ns}
    journal.seal()
    return recovered


class Agent:
    """One agent run: ``await Agent(config, sink_factories=...).run()`` (``outputs.run_agent`` wires the sinks)."""

    def __init__(
        self,
        config: Config,
        *,
        sink_factories: Sequence[SinkFactory] = (),
        duration_s: float | None = None,
        install_signal_handlers: bool = False,
        tune_gc: bool = False,
        icmp_wheel: bool = True,
    ) -> None:
        self.config = config
        self.icmp_wheel = icmp_wheel  # ICMP targets with an IP address on one timer wheel (icmp_driver)
        self.tune_gc = tune_gc  # the process is the agent's own (``watchdog run``): see _tune_gc
        self.sink_factories = list(sink_factories)
        self.duration_s = duration_s
        self.install_signal_handlers = install_signal_handlers
        self.run_id = uuid.uuid4().hex
        self.boot_id = boot_id()
        self.writer = JournalWriter(config.journal_path, hold_s=config.agent.commit_delay, on_state=self._journal_state)
        self.board = Board.for_targets(config.targets, config.quorum)
        self.handle = AgentHandle(config, self.board, self.writer, self.run_id)
        self.detectors: dict[str, Detector] = {}
        self.quality: dict[str, QualityTracker] = {}
        self.degraded_tickets: dict[tuple[str, str], Ticket] = {}
        self.open_tickets: dict[str, Ticket] = {}
        self.fanout: Fanout | None = None
        self._cert_noted: set[tuple[str, int, int]] = set()
        # target key -> (provider id, metric, currency): probes that read a prepaid account's balance
        self._balance_of: dict[str, tuple[str, str, str]] = {
            f"{p.id}/{p.account.balance_from.split(':', 1)[0]}": (
                p.id,
                p.account.balance_from.split(":", 1)[1],
                p.account.currency,
            )
            for p in config.providers
            if p.account is not None and p.account.balance_from is not None
        }
        self._last_balance: dict[str, Decimal] = {}

    # ------------------------------------------------------------------------------------ results

    async def on_result(self, target: Target, result: Result) -> None:
        """Journal first; then the detector, the outage events, the board and the sinks."""
        seq = await self.writer.write(result)
        await self.after_write(target, result, seq)

    def submit_result(self, result: Result) -> asyncio.Future[int | None]:
        """Queue ``result`` for the journal; the future resolves once it is durable (the ICMP driver's first half)."""
        return self.writer.submit(result)[1]

    async def after_write(self, target: Target, result: Result, seq: int | None) -> None:
        """Everything after the journal: the detector, the outage events, the board and the sinks."""
        if result.ok and result.metrics.get("expiry_warning"):
            self._note_certificate(target, result)
        if target.key in self._balance_of:
            await self._note_balance(target, result)
        detector = self.detectors[target.key]
        transition = detector.observe(result)
        notice = None
        if isinstance(transition, Opened):
            ticket, fut = self.writer.submit(
                self.writer.event(
                    EV_OUTAGE_OPEN,
                    {
                        "start_ns": transition.start_ns,
                        "last_ok_ns": transition.last_ok_ns,
                        "confirmed_ns": transition.confirmed_ns,
                        "failure": transition.failure.value if transition.failure else None,
                        "detail": transition.detail,
                        "failures": transition.failures,
                        **self._steady("start_steady_ns", transition.start_steady_ns),
                    },
                    target=target.key,
                )
            )
            open_seq = await fut
            outage = detector.bind(transition, open_seq if open_seq is not None else -1)
            self.open_tickets[target.key] = ticket
            _LOGGER.warning(
                "outage opened target=%s since_ns=%d failure=%s detail=%s",
                target.key,
                transition.start_ns,
                transition.failure,
                transition.detail,
            )
            notice = OutageNotice("opened", outage, target, self.board.line(), open_seq)
        elif isinstance(transition, Closed):
            closed = transition.outage
            ref: int | Ticket = self.open_tickets.pop(target.key, None) or closed.id
            close_seq = await self.writer.write(
                self.writer.event(
                    EV_OUTAGE_CLOSE,
                    {
                        "end_ns": closed.end_ns,
                        "last_fail_ns": closed.end_bounds[0] if closed.end_bounds else None,
                        "successes": transition.successes,
                        **self._steady("start_steady_ns", transition.start_steady_ns),
                        **self._steady("end_steady_ns", transition.end_steady_ns),
                    },
                    target=target.key,
                    ref=ref,
                )
            )
            if isinstance(ref, Ticket) and ref.seq is not None and closed.id < 0:
                closed = dataclasses.replace(closed, id=ref.seq)
            _LOGGER.warning("outage closed target=%s duration_s=%.1f", target.key, closed.duration_ns() / NS)
            notice = OutageNotice("closed", closed, target, self.board.line(), close_seq)
        self.board.update(result, detector.state, detector.outage, detector.failing)
        tracker = self.quality.get(target.key)
        degraded = [] if tracker is None else await self._quality(target, tracker, result, detector)
        if tracker is not None:
            self.board.targets[target.key].degraded = tracker.degraded
        if self.fanout is not None:
            self.fanout.publish((result, seq))
            if notice is not None:
                self.fanout.publish(notice)
            for item in degraded:
                self.fanout.publish(item)

    async def _quality(
        self, target: Target, tracker: QualityTracker, result: Result, detector: Detector
    ) -> list[DegradedNotice]:
        """Judge the round under the target's quality limits; journal degraded windows opened and closed."""
        notices = []
        down = detector.state is State.DOWN
        for change in tracker.observe(result):
            limit = tracker.limits[change.limit if isinstance(change, DegradedOpened) else change.window.limit]
            if isinstance(change, DegradedOpened):
                ticket, fut = self.writer.submit(
                    self.writer.event(EV_DEGRADED_OPEN, opened_data(change), target=target.key)
                )
                open_seq = await fut
                window = limit.bind(change, open_seq if open_seq is not None else -1)
                self.degraded_tickets[(target.key, change.limit)] = ticket
                _LOGGER.warning(
                    "degraded target=%s limit=%s since_ns=%d %s",
                    target.key,
                    change.limit,
                    change.start_ns,
                    change.detail,
                )
                notices.append(
                    DegradedNotice(
                        "opened", window, target, self.board.line(), open_seq, change.value, change.max, down
                    )
                )
            else:
                closed = change.window
                ref: int | Ticket = self.degraded_tickets.pop((target.key, closed.limit), None) or closed.id
                close_seq = await self.writer.write(
                    self.writer.event(EV_DEGRADED_CLOSE, closed_data(change), target=target.key, ref=ref)
                )
                if isinstance(ref, Ticket) and ref.seq is not None and closed.id < 0:
                    closed = dataclasses.replace(closed, id=ref.seq)
                _LOGGER.warning(
                    "degraded window closed target=%s limit=%s duration_s=%.1f",
                    target.key,
                    closed.limit,
                    closed.duration_ns() / NS,
                )
                notices.append(
                    DegradedNotice(
                        "closed", closed, target, self.board.line(), close_seq, change.value, limit.rule.max, down
                    )
                )
        return notices

    def _speed_gate(self, target: Target) -> str | None:
        """Why a speed test must wait now (the line or the provider is down), or None to run it."""
        line = self.board.line()
        if line.lan_up < line.lan_total:
            return "the home network (LAN control) is down"
        if line.internet_total and not line.internet_ok:
            return f"the internet line is down ({line.internet_up} of {line.internet_total} controls up)"
        if target.provider is not None:
            down = [s.target.name for s in self.board.provider_targets(target.provider) if s.state is State.DOWN]
            if down:
                return f"{target.provider} is down ({', '.join(sorted(down))})"
        return None

    def _note_certificate(self, target: Target, result: Result) -> None:
        """Journal a near-expiry warning once per certificate and whole day left (the report reads events only)."""
        days_left = float(result.metrics["days_left"])
        not_after_ns = round(float(result.metrics["not_after_ts"]) * NS)
        key = (target.key, not_after_ns, int(days_left))
        if key in self._cert_noted:
            return
        self._cert_noted.add(key)
        _LOGGER.warning(
            "certificate expires soon target=%s days_left=%.1f (a warning, not a failure)", target.key, days_left
        )
        self.writer.submit(
            self.writer.event(
                EV_CERT_EXPIRING,
                {
                    "not_after_ns": not_after_ns,
                    "days_left": round(days_left, 3),
                    "min_days_left": getattr(target.options, "min_days_left", None),
                    "detail": result.detail,
                },
                target=target.key,
                ts_ns=result.ts_ns,
            )
        )

    async def _note_balance(self, target: Target, result: Result) -> None:
        """A probe read the account's balance: journal it when it changed (durable before the sinks see the result)."""
        provider, metric, currency = self._balance_of[target.key]
        value = result.metrics.get(metric)
        if value is None:
            return
        amount = Decimal(str(round(float(value), 2))).quantize(Decimal("0.01"))
        if provider not in self._last_balance:
            with contextlib.suppress(Exception):  # no earlier reading, or none readable: this one is new
                latest = await self.writer.call(lambda j: latest_balances(j).get(provider))
                if latest is not None:
                    self._last_balance[provider] = latest.amount
        if self._last_balance.get(provider) == amount:
            return
        self._last_balance[provider] = amount
        _LOGGER.info("balance read provider=%s target=%s amount=%s %s", provider, target.key, amount, currency)
        data = balance_data(provider, amount, currency, result.ts_ns, f"{target.name}:{metric}")
        await self.writer.write(self.writer.event(EV_BALANCE, data, ts_ns=result.ts_ns))

    def _journal_state(self, degraded: bool, message: str) -> None:
        if self.fanout is not None:
            self.fanout.publish(
                AgentEvent("journal_failing" if degraded else "journal_recovered", {"message": message})
            )

    def _steady(self, name: str, value: int | None) -> dict[str, Any]:
        """A steady-clock reading for an outage event, with the boot it belongs to (nothing if unknown)."""
        if value is None or not self.boot_id:
            return {}
        return {name: value, "boot_id": self.boot_id}

    # ------------------------------------------------------------------------------------ monitor

    async def _monitor(self) -> None:
        """Heartbeat and seal every minute; journal stalls of the loop/machine and wall-clock steps."""
        loop = asyncio.get_running_loop()
        wall_minus_mono = time.time_ns() - time.monotonic_ns()
        boot_minus_mono = _boottime_ns() - time.monotonic_ns()
        last_seal = loop.time()
        written_at_seal = self.writer.written  # rows committed when the last seal ended
        expected = loop.time() + MONITOR_TICK_S
        expected_wall = time.time_ns() + int(MONITOR_TICK_S * NS)
        while True:
            await asyncio.sleep(max(0.0, expected - loop.time()))
            now_mono = loop.time()
            lag = now_mono - expected
            now_wall = time.time_ns()
            new_wall_minus_mono = now_wall - time.monotonic_ns()
            new_boot_minus_mono = _boottime_ns() - time.monotonic_ns()
            suspended_ns = new_boot_minus_mono - boot_minus_mono
            step_ns = (new_wall_minus_mono - wall_minus_mono) - suspended_ns
            if suspended_ns > STALL_THRESHOLD_S * NS or lag > STALL_THRESHOLD_S:
                stall = {
                    "from_ns": expected_wall - int(MONITOR_TICK_S * NS),
                    "to_ns": now_wall,
                    "lag_s": round(lag, 3),
                    "suspended_s": round(suspended_ns / NS, 3),
                    "reason": "suspended" if suspended_ns > STALL_THRESHOLD_S * NS else "event loop blocked",
                }
                _LOGGER.warning("agent stalled %s", stall)
                self.writer.submit(self.writer.event(EV_STALL, stall))
            if abs(step_ns) > CLOCK_STEP_THRESHOLD_S * NS:
                step = {"step_ns": step_ns, "at_ns": now_wall}
                _LOGGER.warning("wall clock stepped step_s=%.3f", step_ns / NS)
                self.writer.submit(self.writer.event(EV_CLOCK_STEP, step))
            wall_minus_mono, boot_minus_mono = new_wall_minus_mono, new_boot_minus_mono
            if now_mono - last_seal >= SEAL_EVERY_S:
                last_seal = now_mono
                await self.writer.write(self.writer.event(EV_ALIVE, {"run": self.run_id}))
                await self._seal()
                written_at_seal = self.writer.written
            elif self.writer.written - written_at_seal >= BLOCK_MAX_ROWS:
                await self._seal_whole_blocks()
                written_at_seal = self.writer.written
            expected = max(expected + MONITOR_TICK_S, now_mono)
            expected_wall = now_wall + int(MONITOR_TICK_S * NS)

    async def _watch_lateness(self, pooled: LatenessWindow) -> None:
        """Log once a run when the probes' start lateness p99 over a window passes LATE_WARN_S."""
        while True:
            await asyncio.sleep(LATE_WINDOW_S)
            warning = lateness_warning(pooled.take(), LATE_WINDOW_S, self.config.targets)
            if warning is not None:
                _LOGGER.warning("%s", warning)
                for stats in self.handle.stats.values():
                    stats.pooled = None
                return

    async def _seal(self) -> None:
        if self.writer.degraded:
            return
        try:
            # a block at a time, each its own call: the writer thread commits results between them (one call
            # sealing a minute of 1,000 probes/s held it ~1 s, and every target waiting on a commit skipped slots)
            upto = await self.writer.call(lambda j: j.last_seq())
            while (heads := await self.writer.call(lambda j: j.seal(upto_seq=upto, max_blocks=1))) and (
                heads[-1].last_seq < upto
            ):
                pass
        except Exception:
            _LOGGER.exception("sealing the journal failed")

    async def _seal_whole_blocks(self) -> None:
        """Seal the whole blocks waiting: at once from the hashes made as the rows were written, else in parts.

        A block whose rows the writer hashed as it wrote them (:meth:`Journal.seal_hashed_block`) is sealed in one
        call of ~3 ms of CPU. Any other (rows written before a restart) is read back and hashed
        ``SEAL_PART_ROWS`` rows per writer call with pauses between: at 5,000 results/s the minute's seal read back
        and hashed 300,000 rows at once, and a block hashed in one call still kept the writer thread in Python for
        ~10 ms; the event loop's thread, which gives the interpreter up at every send and receive, then waited for
        it, and probes started up to ~20 ms late (p99). In parts of ~1 ms with the writer idle between them, the
        loop waits at most a part. At most ``SEAL_BLOCKS_PER_TICK`` blocks a call (~0.5 s), so the monitor's next
        tick is not taken for a stall; more wait for the next tick or the minute's seal.
        """
        if self.writer.degraded:
            return
        try:
            for _ in range(SEAL_BLOCKS_PER_TICK):
                first = await self.writer.call(lambda j: j.whole_block_waiting())
                if first is None:
                    return
                if await self.writer.call(functools.partial(Journal.seal_hashed_block, first_seq=first)) is not None:
                    continue
                rows: list[tuple[int, int, bytes, int]] = []
                for part in range(first, first + BLOCK_MAX_ROWS, SEAL_PART_ROWS):
                    last = min(part + SEAL_PART_ROWS, first + BLOCK_MAX_ROWS) - 1
                    rows += await self.writer.call(functools.partial(Journal.hash_rows, first_seq=part, last_seq=last))
                    await asyncio.sleep(SEAL_PART_PAUSE_S)
                await self.writer.call(functools.partial(Journal.seal_block, rows=rows))
        except Exception:
            _LOGGER.exception("sealing the journal failed")

    # ------------------------------------------------------------------------------------- run

    async def run(self) -> int:
        """Run until stopped (signal, ``duration_s``, or ``handle.stop``); return an exit code."""
        started = await self._start_storage()
        if started is None:
            return 0  # stopped while waiting for room on the disk
        lock, recovered, ids, waited = started
        try:
            return await self._run_locked(recovered, ids, waited)
        finally:
            os.close(lock)

    async def _start_storage(self) -> tuple[int, dict[str, Any] | None, dict[str, int], dict[str, Any] | None] | None:
        """Lock the data dir, open (or set aside and renew) the journal, recover the last run, register targets.

        A full disk is waited out: one log line ``disk full: <path>: ...``, then tries again after 1, 2, 4, 8,
        15 and then every 30 s, and monitoring starts once there is room. A read-only or forbidden folder, a
        symbolic link, another agent: raised (exit 1 with one line) — those need a person, not waiting.
        """
        config = self.config
        lock: int | None = None
        attempts, since_ns, shown = 0, 0, ""
        delays = iter(START_RETRY_S)
        delay = START_RETRY_S[0]
        while True:
            attempts += 1
            where = config.data_dir
            try:
                if lock is None:
                    lock = lock_data_dir(config.data_dir)
                where = config.journal_path
                await self.writer.open()
                recovered = await self.writer.call(_recover_previous_run)
                ids = await self.writer.call(lambda j: j.register_targets(config.targets))
            except Exception as exc:
                problem = as_storage_error(exc, where)
                if problem is None or problem.problem != DISK_FULL:
                    if lock is not None:
                        os.close(lock)
                    await self._close_writer()
                    if problem is not None:
                        raise problem from None
                    raise
                delay = next(delays, START_RETRY_S[-1])
                if str(problem) != shown:
                    shown = str(problem)
                    _LOGGER.error(
                        "%s; monitoring starts once there is room (trying again in %g s, then at most every %g s)",
                        shown,
                        delay,
                        START_RETRY_S[-1],
                    )
                since_ns = since_ns or time.time_ns()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.handle.stop.wait(), delay)
                if self.handle.stop.is_set():
                    if lock is not None:
                        os.close(lock)
                    await self._close_writer()
                    return None
                continue
            waited = None
            if since_ns:
                waited = {"from_ns": since_ns, "to_ns": time.time_ns(), "attempts": attempts, "error": shown}
                _LOGGER.warning("storage usable again after %d attempts; monitoring starts", attempts)
            if recovered:
                _LOGGER.warning(
                    "previous run ended without a clean stop; its last record was at ns=%d", recovered["last_ns"]
                )
            return lock, recovered, ids, waited

    async def _close_writer(self) -> None:
        with contextlib.suppress(Exception):
            await self.writer.aclose()

    async def _run_locked(
        self, recovered: dict[str, Any] | None, ids: dict[str, int], waited: dict[str, Any] | None
    ) -> int:
        config = self.config
        check_fd_limit(config)
        ctx = ProbeContext()
        ctx.resources[SPEED_GATE_KEY] = self._speed_gate
        unusable: list[str] = []
        for kind, probe in REGISTRY.items():
            targets = [t for t in config.targets if t.kind == kind]
            if targets and probe.setup is not None:
                problems = await probe.setup(ctx, targets)
                for problem in problems:
                    _LOGGER.error("%s", problem)
                if problems:
                    unusable.extend(t.key for t in targets)
        await self.writer.write(
            self.writer.event(
                EV_AGENT_START,
                {
                    "run": self.run_id,
                    "version": __version__,
                    "host": socket.gethostname(),
                    "pid": os.getpid(),
                    "agent": config.agent.id,
                    "timezone": config.agent.timezone,
                    "config_sha256": config.sha256,
                    # config.yaml of the evidence packs made with this config: verify binds it to this event
                    "pack_config_sha256": config.pack_sha256,
                    "targets": sorted(ids[t.key] for t in config.targets),
                    "unusable": sorted(ids[k] for k in unusable),
                    "providers": {p.id: {"name": p.display_name, "kind": p.kind.value} for p in config.providers},
                    "quorum": config.quorum,
                    "mono_ns": time.monotonic_ns(),
                    "boot_ns": _boottime_ns(),
                },
            ),
            now=True,
        )
        if waited is not None:  # the time without monitoring was the agent's own disk, not a provider
            await self.writer.write(self.writer.event(EV_STORAGE_WAIT, waited))
        restored = await self.writer.call(lambda j: j.restore([t.key for t in config.targets]))
        for target in config.targets:
            self.detectors[target.key] = Detector(
                target,
                open_outage=restored.open_outages.get(target.key),
                last_ok_ns=restored.last_ok_ns.get(target.key),
                last_fail_ns=restored.last_fail_ns.get(target.key),
            )
            self.quality[target.key] = QualityTracker(target, restored.open_degraded.get(target.key))
            status = self.board.targets[target.key]
            status.degraded = self.quality[target.key].degraded
            status.outage = restored.open_outages.get(target.key)
            status.state = self.detectors[target.key].state
            status.last_ok_ns = restored.last_ok_ns.get(target.key)
        if restored.open_outages:
            _LOGGER.warning("resuming open outages targets=%s", ",".join(sorted(restored.open_outages)))

        agent_ctx = AgentContext(config, self.board, self.writer, self.run_id)
        sinks = [s for f in self.sink_factories if (s := f(agent_ctx)) is not None]
        self.fanout = Fanout(sinks)
        agent_ctx.publish = self.fanout.publish
        await self.fanout.start()
        self.fanout.publish(AgentEvent("started", {"run": self.run_id, "recovered": recovered}))

        loop = asyncio.get_running_loop()
        stop = self.handle.stop
        if self.install_signal_handlers:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stop.set)
        limiter = asyncio.Semaphore(config.agent.concurrency)
        offsets = stagger_offsets(config.targets)
        reason = "stopped"
        gc_before: list[tuple[int, int, int]] = []  # the thresholds _tune_gc replaced, once it ran
        pooled = LatenessWindow(LATE_WARN_S)
        try:
            if self.tune_gc:
                gc_before.append(_tune_gc())  # before any probe is scheduled (see _tune_gc)
            async with asyncio.TaskGroup() as tg:
                tasks = [
                    tg.create_task(self._monitor(), name="monitor"),
                    tg.create_task(self._watch_lateness(pooled), name="lateness"),
                ]
                wheel = wheel_targets(config.targets, REGISTRY, ctx) if self.icmp_wheel else []
                on_wheel = {t.key for t in wheel}
                for target in config.targets:
                    stats = self.handle.stats.setdefault(target.key, ScheduleStats())
                    stats.pooled = pooled
                    if target.key in on_wheel:
                        continue
                    tasks.append(
                        tg.create_task(
                            run_target(
                                target,
                                REGISTRY[target.kind],
                                ctx,
                                self.on_result,
                                limiter,
                                offset_s=offsets[target.key],
                                stats=stats,
                            ),
                            name=f"watch:{target.key}",
                        )
                    )
                if wheel:
                    driver = IcmpDriver(
                        wheel,
                        ctx,
                        self.on_result,
                        offsets=offsets,
                        stats=self.handle.stats,
                        submit=self.submit_result,
                        after=self.after_write,
                        turn=self.writer.turn,
                    )
                    self.handle.icmp_driver = driver
                    tasks.append(tg.create_task(driver.run(), name="icmp-wheel"))
                self.handle.started.set()
                _LOGGER.info(
                    "agent started run=%s targets=%d journal=%s", self.run_id, len(config.targets), config.journal_path
                )
                try:
                    if self.duration_s is not None:
                        await asyncio.wait_for(stop.wait(), self.duration_s)
                    else:
                        await stop.wait()
                except TimeoutError:
                    reason = "duration elapsed"
                else:
                    reason = "stop requested"
                for task in tasks:
                    task.cancel()
        finally:
            if gc_before:
                gc.unfreeze()
                gc.set_threshold(*gc_before[0])
            if self.install_signal_handlers:
                for sig in (signal.SIGTERM, signal.SIGINT):
                    loop.remove_signal_handler(sig)
            await self._shutdown(ctx, reason)
        return 0

    async def _shutdown(self, ctx: ProbeContext, reason: str) -> None:
        _LOGGER.info("agent stopping run=%s reason=%s", self.run_id, reason)
        if self.fanout is not None:
            self.fanout.publish(AgentEvent("stopping", {"run": self.run_id, "reason": reason}))
        try:
            await self.writer.write(self.writer.event(EV_AGENT_STOP, {"run": self.run_id, "reason": reason}), now=True)
            await self.writer.flush()
            await self._seal()
        finally:
            if self.fanout is not None:
                await self.fanout.aclose()
            await ctx.aclose()
            await self.writer.aclose()
