"""The agent's single journal writer: one thread, group commit, and no loss when the disk fails.

Probe tasks ``await writer.write(result)``; rows are committed in groups (``synchronous=FULL``): the
writer starts a commit at most every ``hold_s`` (default 100 ms, ``agent.commit_delay``) — a row that
arrives after a quiet spell is committed at once, one that arrives soon after a commit waits for the
next — so under load one transaction and one fsync serve every row that arrived meanwhile, no row
waits longer than ``hold_s`` plus a commit, and each caller resumes only once its row is durable.
Nothing that acts on a result — the detector, the outage events, the board and the status page, the
sinks and notifications — sees it before then, so a kill -9 loses nothing that was acknowledged; it
can lose only rows still held, which nobody has seen. ``flush()``, a full batch (``max_batch``) and
shutdown commit at once. If a commit fails (disk full, I/O error) the writer keeps the rows in a
bounded memory ring, answers callers at once with ``None`` ("held, not yet durable") so probing goes
on, retries every second, and when the journal accepts rows again writes them in order plus a
``journal_gap`` event stating what, if anything, the ring had to drop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from watchdog.journal import health
from watchdog.journal.files import check_journal_files
from watchdog.journal.schema import EV_JOURNAL_GAP, EV_JOURNAL_SET_ASIDE
from watchdog.journal.store import Journal, PendingEvent, Ticket
from watchdog.model import Result

_LOGGER = logging.getLogger(__name__)

T = TypeVar("T")
Item = Result | PendingEvent


HOLD_MAX_S = 1.0  # the longest a commit may be held (agent.commit_delay is bounded by it)

_yield: Callable[[], None] = getattr(os, "sched_yield", lambda: None)  # see LoopTurn (POSIX; nothing elsewhere)


@dataclass(slots=True)
class _Entry:
    item: Item
    ticket: Ticket
    future: asyncio.Future[int | None]


class LoopTurn:
    """Keeps the writer thread out of the interpreter while the event loop's thread starts probes (issue 19).

    Both threads share one interpreter lock. The loop's thread gives it up at every send and receive of a probe
    tick; the writer, building rows in Python, takes it back at each SQLite step and gives it up again a few
    microseconds later, and every such hand-back restarts the loop thread's wait for the lock: a tick came due
    and waited until the writer's whole batch was done (4-5 ms late at 5,000 ICMP targets a second). So the
    timer wheel tells this object when its next tick is due and when it runs (:meth:`begin`, :meth:`end`), and
    the journal calls :meth:`wait` between short runs of its work (every ``APPEND_RUN`` rows, every spot check
    of a seal, before every call): from ``margin_s`` before a tick until the tick is over the writer waits
    outside the interpreter, so the tick takes the lock when it needs it. SQLite's own work (the insert, the
    commit's fsync) runs meanwhile, as it needs no lock. The writer waits at most ``max_wait_s`` for a tick; a
    tick that has not come and gone by then is not waited for again (a stopped or blocked event loop cannot make
    the journal crawl from pause to pause).

    When the loop has fallen behind — a tick started more than ``behind_s`` after its time (a stall: a long
    collector pause, the machine taken away) — the writer also stays out between ticks until a tick starts within
    ``caught_up_s`` of its time, for at most ``max_behind_wait_s``, and then works at least as long as it waited
    before it waits so again (in a lasting overload it keeps half the time). At 5,000 ICMP targets a second, with
    both threads busy after a 1.5 s stall, their hand-overs of the lock kept the loop from catching up in 5 of 11
    runs (start lateness ~0.1-0.6 s for the rest of the run); with the writer out of the way it caught up in 9 of 9.
    The rows wait meanwhile; nothing acts on them before they are committed.

    Every call first yields the processor (``os.sched_yield``, which also lets go of the interpreter lock for its
    duration). At 5,000 ICMP targets a second probes started 5.6-5.9 ms late (p99) in every run that held, from
    ticks that started 3.6-5.0 ms late while the writer ran: quantised like the kernel's scheduler tick (4 ms,
    250 Hz here), not like the interpreter's switch interval (2 ms instead of 5 changed nothing). Most likely the
    two threads shared a processor and the woken loop waited for the writer's time slice to end. With the yield at
    each pause: 2.6-4.2 ms in the 34 runs that held (2026-12-08, ``bench.worker``, some traced); reading the
    thread's CPU clock there (which makes the kernel check the slice) did the same, another system call
    (``getppid``) did not.
    """

    def __init__(
        self,
        margin_s: float = 0.0005,
        max_wait_s: float = 0.02,
        behind_s: float = 0.02,
        caught_up_s: float = 0.005,
        max_behind_wait_s: float = 0.2,
    ) -> None:
        self._cond = threading.Condition(threading.Lock())
        self.busy = False  # a tick runs now
        self.next_at = math.inf  # when the next tick is due (time.monotonic(), the event loop's clock)
        self.margin_s = margin_s
        self.max_wait_s = max_wait_s
        self.behind_s = behind_s
        self.caught_up_s = caught_up_s
        self.max_behind_wait_s = max_behind_wait_s
        self.behind = False  # the last tick started more than behind_s late, and none since within caught_up_s
        self.waits = 0  # times the writer waited for a tick
        self.gave_up = 0  # times it stopped waiting after max_wait_s
        self.behind_waits = 0  # times the writer waited for the loop to catch up
        self._given_up: tuple[float, int] | None = None  # (next_at, ends) of the tick last given up on
        self._ends = 0  # ticks ended so far
        self._free_until = -math.inf  # no waiting for the loop to catch up before then

    def wait(self) -> None:
        """In the writer thread: return at once unless a tick runs or is due within ``margin_s``, or the loop has
        fallen behind; else wait it out."""
        _yield()
        if self.behind and time.monotonic() >= self._free_until:
            self._wait_caught_up()
        if not self.busy and time.monotonic() < self.next_at - self.margin_s:
            return
        if self._given_up == (self.next_at, self._ends):
            return
        self.waits += 1
        deadline = time.monotonic() + self.max_wait_s
        with self._cond:
            while self.busy or time.monotonic() >= self.next_at - self.margin_s:
                left = deadline - time.monotonic()
                if left <= 0:
                    self.gave_up += 1
                    self._given_up = (self.next_at, self._ends)
                    return
                self._cond.wait(left)

    def _wait_caught_up(self) -> None:
        self.behind_waits += 1
        start = time.monotonic()
        deadline = start + self.max_behind_wait_s
        with self._cond:
            while self.behind and (left := deadline - time.monotonic()) > 0:
                self._cond.wait(left)
        now = time.monotonic()
        self._free_until = now + (now - start)

    def begin(self, late_s: float = 0.0) -> None:
        """In the loop's thread: a tick starts, ``late_s`` after its time."""
        self.busy = True
        if late_s > self.behind_s:
            self.behind = True
        elif late_s < self.caught_up_s:
            self.behind = False

    def end(self, next_at: float) -> None:
        """In the loop's thread: the tick is over and the next one is due at ``next_at`` (``math.inf``: none)."""
        with self._cond:
            self.busy = False
            self.next_at = next_at
            self._ends += 1
            if next_at == math.inf:
                self.behind = False  # no more ticks (the wheel stopped): nothing to catch up with
            self._cond.notify_all()


class JournalWriter:
    """Owns the journal connection in its own thread; everything that writes goes through it."""

    def __init__(
        self,
        path: Path,
        *,
        ring_max: int = 100_000,
        max_batch: int = 2000,
        retry_s: float = 1.0,
        hold_s: float = 0.1,
        on_state: Callable[[bool, str], None] | None = None,
    ) -> None:
        if not 0.0 <= hold_s <= HOLD_MAX_S:
            raise ValueError(f"hold_s must be within 0..{HOLD_MAX_S} s, got {hold_s}")
        self.path = path
        self.ring_max = ring_max
        self.max_batch = max_batch
        self.hold_s = hold_s  # how long a commit waits for more rows (group commit)
        self.commits = 0  # transactions that wrote rows (written / commits = rows per commit)
        self.retry_s = retry_s
        self.on_state = on_state  # called with (degraded, message) when the journal fails or recovers
        self._exec = ThreadPoolExecutor(max_workers=1, thread_name_prefix="journal")
        self.turn = LoopTurn()  # the ICMP timer wheel's ticks go first (see LoopTurn)
        self._journal: Journal | None = None
        self._pending: deque[_Entry] = deque()
        self._wake = asyncio.Event()
        self._now = asyncio.Event()  # commit without holding: flush, shutdown, a full batch
        self._last_commit = float("-inf")  # loop time the last commit started
        self._task: asyncio.Task[None] | None = None
        self.degraded = False
        self.degraded_since_ns: int | None = None
        self.last_error = ""
        self.dropped = 0
        self._dropped_range: tuple[int, int] | None = None
        self.written = 0
        self._inflight = 0  # entries at the head of the ring being written right now
        self._settled = asyncio.Event()  # set when the ring is empty or the journal is failing
        self._settled.set()
        self.set_aside: dict[str, Any] | None = None  # what was set aside at open (a damaged journal)
        self._set_aside_written = False

    async def open(self) -> Journal:
        """Open the journal in the writer thread (setting a damaged one aside) and start the flush task.

        May be called again after it raised (a full disk): a journal set aside is remembered, and its
        ``journal_set_aside`` event is the new journal's first row whichever attempt writes it.
        """
        if self._journal is None:
            self._journal = await self.call(lambda _: self._open_checked())
            self._journal.pause = self.turn.wait
        if self.set_aside is not None and not self._set_aside_written:
            data = self.set_aside
            await self.call(lambda j: j.add_event(EV_JOURNAL_SET_ASIDE, data))
            self._set_aside_written = True
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="journal-writer")
        return self._journal

    def _open_checked(self) -> Journal:
        check_journal_files(self.path)
        reason = health.damage(self.path)
        if reason is not None:
            self.set_aside = health.set_aside(self.path, reason)
            _LOGGER.error(
                "journal damaged (%s): set aside as %s, kept as it is; a new journal starts, its first event "
                "names the old one (last readable head: %s)",
                reason,
                self.set_aside["file"],
                (self.set_aside["head"] or {}).get("hash", "none"),
            )
        return Journal.open(self.path)

    @property
    def journal(self) -> Journal:
        """The journal (use it only through :meth:`call`)."""
        if self._journal is None:
            raise RuntimeError("writer not open")
        return self._journal

    async def call(self, fn: Callable[[Journal], T]) -> T:
        """Run ``fn(journal)`` in the writer thread (reads, seals, registrations)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._exec, self._called, fn)

    def _called(self, fn: Callable[[Journal], T]) -> T:
        self.turn.wait()
        return fn(self._journal)  # type: ignore[arg-type]

    def submit(self, item: Item) -> tuple[Ticket, asyncio.Future[int | None]]:
        """Queue a row; the future resolves to its seq once durable (``None`` while the disk fails)."""
        loop = asyncio.get_running_loop()
        entry = _Entry(item, Ticket(), loop.create_future())
        self._pending.append(entry)
        if len(self._pending) >= self.max_batch:
            self._now.set()
        if len(self._pending) > self.ring_max:
            self._drop_oldest()  # may drop this very entry (all older ones in flight): its future is then set
        if self.degraded and not entry.future.done():
            entry.future.set_result(None)
        else:
            self._settled.clear()
        self._wake.set()
        return entry.ticket, entry.future

    async def write(self, item: Item, *, now: bool = False) -> int | None:
        """Queue a row and wait until it is durable; ``None`` means held in memory (the disk fails).

        ``now`` commits without holding (start and stop of a run: nothing else is coming).
        """
        _, future = self.submit(item)
        if now:
            self._now.set()
        return await future

    def event(
        self,
        type_: str,
        data: dict[str, Any],
        *,
        target: str | None = None,
        ref: int | Ticket | None = None,
        ts_ns: int | None = None,
    ) -> PendingEvent:
        """Build an event stamped now."""
        return PendingEvent(type_, time.time_ns() if ts_ns is None else ts_ns, data, target, ref)

    def _drop_oldest(self) -> None:
        for i, entry in enumerate(self._pending):
            if i >= self._inflight and isinstance(entry.item, Result):
                del self._pending[i]
                ts = entry.item.ts_ns
                lo, hi = self._dropped_range or (ts, ts)
                self._dropped_range = (min(lo, ts), max(hi, ts))
                self.dropped += 1
                if not entry.future.done():
                    entry.future.set_result(None)
                return

    async def flush(self) -> None:
        """Wait until everything queued so far is durable (or held because the journal is failing).

        Commits at once instead of holding; rows queued after the call are not waited for (under steady
        load the queue is never empty while commits are held).
        """
        if not self._pending:
            return
        last = self._pending[-1].future
        while not last.done():
            self._now.set()
            self._wake.set()
            await asyncio.wait([last], timeout=max(self.hold_s, 0.01))

    async def _hold(self, loop: asyncio.AbstractEventLoop) -> None:
        """Group commit: wait until ``hold_s`` after the last commit started, a batch is full, or a flush."""
        if self.hold_s <= 0 or self.degraded or not self._pending:
            return
        delay = self._last_commit + self.hold_s - loop.time()
        if delay <= 0 or self._now.is_set():
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await self._now.wait()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                await self._hold(loop)
                self._now.clear()
                batch = [self._pending[i] for i in range(min(self.max_batch, len(self._pending)))]
                items = [e.item for e in batch]
                tickets = [e.ticket for e in batch]
                self._inflight = len(batch)
                self._last_commit = loop.time()
                try:
                    seqs = await loop.run_in_executor(self._exec, self.journal.append, items, tickets)
                except Exception as exc:
                    self._inflight = 0
                    self._fail(exc)
                    self._settled.set()
                    for e in batch:
                        if not e.future.done():
                            e.future.set_result(None)
                    await asyncio.sleep(self.retry_s)
                    continue
                for _ in batch:
                    self._pending.popleft()
                self._inflight = 0
                for e, seq in zip(batch, seqs, strict=True):
                    if not e.future.done():
                        e.future.set_result(seq)
                self.written += len(batch)
                self.commits += 1
                if self.degraded:
                    await self._recover()
            self._settled.set()

    def _fail(self, exc: Exception) -> None:
        self.last_error = f"{type(exc).__name__}: {exc}"
        if not self.degraded:
            self.degraded = True
            self.degraded_since_ns = time.time_ns()
            _LOGGER.error(
                "journal write failed, holding results in memory path=%s error=%s ring_max=%d",
                self.path,
                self.last_error,
                self.ring_max,
            )
            if self.on_state:
                self.on_state(True, self.last_error)

    async def _recover(self) -> None:
        since = self.degraded_since_ns or time.time_ns()
        self.degraded = False
        data: dict[str, Any] = {
            "from_ns": since,
            "to_ns": time.time_ns(),
            "error": self.last_error,
            "dropped_results": self.dropped,
        }
        if self._dropped_range:
            data["dropped_from_ns"], data["dropped_to_ns"] = self._dropped_range
        _LOGGER.warning(
            "journal writable again held_since_ns=%d dropped=%d error=%s", since, self.dropped, self.last_error
        )
        self.submit(PendingEvent(EV_JOURNAL_GAP, time.time_ns(), data))
        self.dropped = 0
        self._dropped_range = None
        self.degraded_since_ns = None
        if self.on_state:
            self.on_state(False, "journal writable again")

    async def aclose(self) -> None:
        """Write what is queued (give up after a few seconds if the disk still fails), close."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5.0):
                while self._pending:
                    self._settled.clear()
                    self._now.set()
                    self._wake.set()
                    await self._settled.wait()
                    if self._pending:
                        await asyncio.sleep(self.retry_s)
        if self._pending:
            _LOGGER.error("journal closed with %d rows never written (disk still failing)", len(self._pending))
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        if self._journal is not None:
            await self.call(lambda j: j.close())
        self._exec.shutdown(wait=True)
