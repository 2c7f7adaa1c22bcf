"""ICMP targets with an IP address, run by one timer wheel instead of one task per target (issue 19).

Per probe the task-per-target path (:func:`~watchdog.agent.scheduler.run_target` → :func:`run_probe` →
:func:`probes.icmp.probe_icmp`) pays for a ``TimerHandle`` per sleep and per timeout, a Future per echo
request and the task switches between them; at thousands of ICMP probes a second that was most of the
agent's CPU. Here one driver runs every eligible ICMP target of an agent:

* a **wheel** of slots (8–20 ms wide, the fewer requests a second the wider: :func:`tick_for`), woken by
  one ``loop.call_at`` for the earliest slot that holds something, starts each target's probe at its slot
  (the same fixed-rate grid, stagger offsets, lateness records, skipped-slot accounting and ``probe slots
  missed`` log as ``run_target``), sends the next echo request of a probe ``packet_interval`` after the last
  one ended, and expires requests nobody answered;
* the **shared socket's reader** (:class:`probes.icmp.EchoSocket`, the same one names still use) hands
  replies and ICMP errors straight to the target's probe state: no Future;
* each request is the target's packet built once (:class:`probes.icmp.EchoPacket`), with only the
  sequence, the nonce and the checksum patched;
* a finished probe becomes its ``Result`` through the runner's own :func:`~watchdog.agent.runner.settle`
  and :func:`probes.icmp.verdict`, so the journal gets the same failure kinds, details, metrics,
  latency and timestamps as from the task-per-target path.

Results go to ``on_result`` in the order they finished, from one task that runs each handler inline up to
its first real wait (only a handler that has to wait, e.g. for an outage event's commit, gets a task of its
own). With ``submit`` (the journal writer), each result is queued for the journal the moment it is made,
and the handler (``after``) runs once its row is durable. A target's next probe is scheduled only when the
handling of its last result is over, as ``run_target`` does, so a slow journal holds the probes back
instead of queueing results without end.

What this path does not do (such targets keep the task-per-target path, see :func:`wheel_targets`): names
(resolved on every probe), a probe whose requests may outlast its timeout (the runner's timeout result),
an ICMP mode that is not known at start. (An event loop late by more than the margin left to the timeout
is the one case where the paths differ: a probe here still ends with its own verdict, where the runner would
have cut it short with ``no answer within``.) The agent's concurrency limit does not apply here: a request in
flight holds no descriptor, only an entry in the shared socket's table.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import math
import time
from collections.abc import Callable, Coroutine, Generator, Iterable, Sequence
from typing import Any

from probes import icmp
from probes._net import is_ip
from watchdog.agent.runner import RunState, _one_line, run_state, settle
from watchdog.agent.scheduler import SKIPPED_LOG, ScheduleStats
from watchdog.agent.writer import LoopTurn
from watchdog.errors import CannotProbe
from watchdog.model import Result, Target, steady_ns
from watchdog.probe import Measurement, Probe, ProbeContext

_LOGGER = logging.getLogger(__name__)

TICK_S = 0.008
"""The narrowest slot, used above ``PER_TICK / 0.010`` (2,000) echo requests a second. A request is sent or expires
at most a slot after its time (plus the loop's lag); probe starts fall on slot boundaries (see
:meth:`IcmpDriver.run`), so they are not made late by it. Each slot that holds something costs one wakeup of the
event loop, and on the shared 2-core development VM a wakeup from sleep costs ~50–250 µs of CPU (an empty
``call_at`` loop, measured on different days; the longer the sleep, the dearer): 1,000 targets at 1 s paid ~190 µs
per probe with 1 ms slots, ~110 µs with 4 ms and ~93 µs with 8 ms, with the same start lateness (p99 ~4 ms on that
machine)."""
TICKS_S = (TICK_S, 0.010, 0.020)
"""The slot widths the wheel chooses from (:func:`tick_for`); each divides 1 s, so probes at whole-second intervals
keep falling on slot boundaries."""
PER_TICK = 20
"""Echo requests a tick may start on average: the widest slot in :data:`TICKS_S` that holds at most this many at the
targets' rate is chosen. Fewer, fuller ticks cost fewer wakeups (at 1,000 ICMP targets a second a 20 ms slot
instead of 8 ms saves 75 wakeups a second, and a wakeup from sleep costs ~200 µs of CPU on the development VM); a
probe's place in its tick adds to its start lateness, ~60 µs per probe before it, so 20 requests keep a tick
within ~1.3 ms. Above 2,000 requests a second the slot is 8 ms, as it always was (issue 19)."""
_READ_EVERY = 64  # requests sent in a row before the replies are read: loopback answers during sendto, and
# after a stall thousands of due requests in one tick overflowed the socket's buffer (dropped replies = false loss)
_HANDLE_RUN = 128  # results handled in a row at most before the loop may run other work (a tick due goes at once)
_MIN_GAP = 0.125  # of a slot: the least time from a tick's end to the next (it was half a slot: a tick that ran late
# then made the next one late too; at 5,000 targets p99 start lateness fell from 14-17 ms to ~7 ms with the gate)
_IN_TICK = -(1 << 62)  # IcmpDriver._armed while a tick runs
_SLACK = 1e-6  # of a slot: float error in slot arithmetic

OnResult = Callable[[Target, Result], Coroutine[Any, Any, None]]
Submit = Callable[[Result], "asyncio.Future[int | None]"]
After = Callable[[Target, Result, "int | None"], Coroutine[Any, Any, None]]

_START, _SEND, _EXPIRE = 0, 1, 2


def wheel_targets(targets: Sequence[Target], probes: dict[str, Probe], ctx: ProbeContext) -> list[Target]:
    """The targets the driver can run exactly as the task-per-target path would; the rest keep their tasks.

    ICMP (the registry's own probe, not a replacement) to an IP literal, with the ICMP mode known (setup ran
    and found raw or ping sockets), whose requests all end on their own before the runner's timeout, and
    whose address needs no cleaning for the detail line.
    """
    mode = ctx.resources.get(icmp.MODE_KEY)
    if mode is None:
        return []
    chosen = []
    for target in targets:
        probe = probes.get(target.kind)
        if target.kind != "icmp" or probe is None or probe.run is not icmp.probe_icmp:
            continue
        if not is_ip(target.address) or _one_line(target.address) != target.address or len(target.address) > 100:
            continue
        if _ends_in_time(target, TICK_S):
            chosen.append(target)
    return chosen


def _options(target: Target) -> icmp.IcmpOptions:
    return target.options if isinstance(target.options, icmp.IcmpOptions) else icmp.IcmpOptions()


def _ends_in_time(target: Target, tick_s: float) -> bool:
    """Whether each request of ``target``'s probe ends on its own before the runner's timeout (slots of ``tick_s``)."""
    options = _options(target)
    wait_s = icmp.reply_wait_s(target.timeout_s, options)
    # the first request leaves at the start; each expires up to a slot after its wait, and the next one leaves up to
    # a slot after its packet_interval
    worst_s = options.count * (wait_s + tick_s) + (options.count - 1) * (options.packet_interval + tick_s)
    return worst_s + 0.005 < target.timeout_s


def tick_for(targets: Sequence[Target]) -> float:
    """The slot width for a wheel of ``targets``: the widest of :data:`TICKS_S` that holds at most :data:`PER_TICK`
    echo requests at the targets' rate, that every target's interval is a whole number of (so its probes keep
    starting on slot boundaries, not up to a slot late) and that every probe still ends in time with;
    :data:`TICK_S` when none does."""
    rate = sum(_options(t).count / t.interval_s for t in targets)
    for tick in sorted(TICKS_S, reverse=True):
        if (
            rate * tick <= PER_TICK * (1 + 1e-9)
            and all(_whole(t.interval_s / tick) for t in targets)
            and all(_ends_in_time(t, tick) for t in targets)
        ):
            return tick
    return TICK_S


def _whole(x: float) -> bool:
    return abs(x - round(x)) < 1e-6


class _Resume:
    """Awaitable that continues a coroutine already run up to its first suspension (``first`` is what it yielded)."""

    __slots__ = ("coro", "first")

    def __init__(self, coro: Coroutine[Any, Any, None], first: Any) -> None:
        self.coro = coro
        self.first = first

    def __await__(self) -> Generator[Any, Any, None]:
        coro, value = self.coro, self.first
        while True:
            try:
                sent = yield value
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # cancellation and the like go to the coroutine, as a task would pass them
                try:
                    value = coro.throw(exc)
                except StopIteration:
                    return
            else:
                try:
                    value = coro.send(sent)
                except StopIteration:
                    return


async def _finish(resume: _Resume) -> None:
    await resume


class _Probe:
    """One target: its schedule, its packet, and its probe in flight (also the echo request in the socket's table)."""

    __slots__ = (
        "dest",
        "driver",
        "errors",
        "gen",
        "interval",
        "ip",
        "key",
        "next_at",
        "nonce",
        "options",
        "packet",
        "rtts",
        "running",
        "sent",
        "sent_mono",
        "sent_wall_ns",
        "seq",
        "shared",
        "stats",
        "steady",
        "t0",
        "target",
        "ts_ns",
        "wait_s",
        "who",
    )

    def __init__(self, driver: IcmpDriver, target: Target, stats: ScheduleStats) -> None:
        self.driver = driver
        self.target = target
        self.key = target.key
        self.ip = target.address
        self.who = target.address
        self.options = _options(target)
        self.wait_s = icmp.reply_wait_s(target.timeout_s, self.options)
        self.interval = target.interval_s
        self.stats = stats
        self.shared: icmp.EchoSocket | None = None
        self.packet: icmp.EchoPacket | None = None
        self.dest = ""
        self.nonce = b""
        self.sent_wall_ns = 0
        self.sent_mono = 0.0
        self.seq = -1  # the request in flight, -1 when none
        self.gen = 0  # counts requests sent: an expiry for an older one is stale
        self.sent = 0
        self.rtts: list[float] = []
        self.errors: list[str] = []
        self.ts_ns = 0
        self.steady = 0
        self.t0 = 0.0
        self.next_at = 0.0
        self.running = False  # between its start and its Result

    def answer(self, answer: icmp.Answer) -> None:
        """The shared socket's reader (or an expiry) ended the request in flight."""
        self.seq = -1
        if isinstance(answer, float):
            self.rtts.append(answer)
        elif answer is not None:  # an ICMP error came back instead of an echo reply
            self.errors.append(str(answer))
        driver = self.driver
        try:
            if self.sent < self.options.count:
                driver.wheel_add(driver.loop.time() + self.options.packet_interval, (_SEND, self, 0))
            elif len(self.rtts) == self.sent and not driver.state.once.last:
                driver.deliver(self, self.all_answered())
            else:
                driver.finish(self, icmp.verdict(self.who, self.sent, self.rtts, self.errors, self.options))
        except Exception as exc:  # called by the socket's reader: a bug must not leave the target unscheduled
            driver._crash(self, exc)

    def all_answered(self) -> Result:
        """Every request was answered and the runner has nothing logged to clear: the Result, made directly.

        The same as ``settle(state, …, icmp.verdict(…))`` gives then (tests/agent/test_icmp_driver.py holds
        them equal), without the Measurement, the text cleaning (an IP literal and numbers need none) and the
        checks that find nothing to do.
        """
        rtts, sent = self.rtts, self.sent
        if sent == 1:
            low = high = avg = round(rtts[0], 6)
        else:
            low, high, avg = round(min(rtts), 6), round(max(rtts), 6), round(sum(rtts) / sent, 6)
        return Result(
            target=self.key,
            ts_ns=self.ts_ns,
            steady_ns=self.steady,
            ok=True,
            latency_s=avg,
            failure=None,
            detail=(
                f"{sent} of {sent} ICMP echo replies from {self.who}, rtt min/avg/max "
                f"{low * 1e3:.3f}/{avg * 1e3:.3f}/{high * 1e3:.3f} ms"
            ),
            metrics={
                "sent": sent,
                "received": sent,
                "loss_ratio": 0.0,
                "rtt_min_s": low,
                "rtt_max_s": high,
                "rtt_avg_s": avg,
            },
        )


class IcmpDriver:
    """Runs every target given to it on one timer wheel; ``await run()`` until cancelled."""

    def __init__(
        self,
        targets: Iterable[Target],
        ctx: ProbeContext,
        on_result: OnResult,
        *,
        offsets: dict[str, float],
        stats: dict[str, ScheduleStats],
        submit: Submit | None = None,
        after: After | None = None,
        tick_s: float | None = None,
        turn: LoopTurn | None = None,
    ) -> None:
        if (submit is None) != (after is None):
            raise ValueError("submit and after go together")
        targets = list(targets)
        self.tick_s = tick_for(targets) if tick_s is None else tick_s
        self.turn = turn  # told when each tick is due and runs, so the journal's writer keeps out of its way
        self.ctx = ctx
        self.on_result = on_result
        self.submit = submit
        self.after = after
        self.offsets = offsets
        self.probes = [_Probe(self, t, stats.setdefault(t.key, ScheduleStats())) for t in targets]
        self.loop = asyncio.get_running_loop()
        self.state: RunState = run_state(ctx)
        self.privileged = bool(ctx.resources.get(icmp.MODE_KEY))
        self._slots: dict[int, list[tuple[int, _Probe, int]]] = {}
        self._heap: list[int] = []
        self._armed: int | None = None  # the slot the timer is set for
        self._timer: asyncio.TimerHandle | None = None
        self._armed_at = 0.0  # loop time the timer was set (a tick's lateness counts from it when its slot had passed)
        self._done: list[tuple[_Probe, Result, asyncio.Future[int | None] | None]] = []
        self._wakeup: asyncio.Future[None] | None = None
        self._waiting: set[asyncio.Task[None]] = set()  # handlers that had to wait
        self._sent_on: set[icmp.EchoSocket] = set()  # sockets sent on in this tick
        self._sockets: set[icmp.EchoSocket] = set()  # every socket the targets use
        self._burst = 0  # requests sent since the last read
        self.results = 0  # probes run to a Result by this driver (tells which path ran)

    # ------------------------------------------------------------------------------------ wheel

    def _slot(self, at: float) -> int:
        """The first slot that starts at or after ``at`` (a few ns of float error do not push it a slot later)."""
        x = at / self.tick_s
        slot = int(x)
        return slot + 1 if x - slot > _SLACK else slot

    def wheel_add(self, at: float, item: tuple[int, _Probe, int]) -> None:
        """Do ``item`` in the first slot that starts at or after ``at`` (never early)."""
        slot = self._slot(at)
        bucket = self._slots.get(slot)
        if bucket is not None:
            bucket.append(item)
            return
        self._slots[slot] = [item]
        heapq.heappush(self._heap, slot)
        if self._armed is None or slot < self._armed:
            if self._timer is not None:
                self._timer.cancel()
            self._armed = slot
            self._armed_at = self.loop.time()
            self._timer = self.loop.call_at(slot * self.tick_s, self._tick)
            if self.turn is not None:
                self.turn.next_at = slot * self.tick_s

    def _tick(self) -> None:
        turn = self.turn
        if turn is None:
            self._run_tick()
            return
        timer = self._timer  # the handle that fired: its time is the tick's
        # How late the event loop ran it: counted from its time, or from when it was set if that time had passed
        # already (a probe rescheduled late because its result's commit came late: the loop itself is not behind,
        # and the journal's writer must not wait for it, or commits and reschedules hold each other back: see
        # LoopTurn).
        turn.begin(0.0 if timer is None else self.loop.time() - max(timer.when(), self._armed_at))
        try:
            self._run_tick()
        finally:
            turn.end(math.inf if self._timer is None else self._timer.when())

    def _run_tick(self) -> None:
        self._timer = None
        self._armed = _IN_TICK  # nothing added while the tick runs sets a timer: the tick sets one when done
        heap, slots, loop = self._heap, self._slots, self.loop
        tick = self.tick_s
        current = int(loop.time() / tick + _SLACK)
        sent_on = self._sent_on
        # Answers waiting in a socket are taken before any request of this tick is declared lost: after a stall
        # (GC, the journal thread holding the interpreter) they would otherwise expire while already here.
        for shared in self._sockets:
            if not shared.closed:
                shared.read_ready()
        while heap and heap[0] <= current:
            for kind, probe, gen in slots.pop(heapq.heappop(heap)):
                try:
                    if kind == _START:
                        self._start(probe, loop.time())
                    elif kind == _SEND:
                        self._send(probe)
                    elif probe.gen == gen and probe.seq >= 0 and probe.shared is not None:  # _EXPIRE
                        probe.shared.expire(probe.seq, probe)
                except Exception as exc:  # a bug here must not stop every other target's schedule
                    self._crash(probe, exc)
        # Replies that came back while the burst went out (loopback, a LAN) are read now, not after another
        # turn of the event loop: on a busy machine each turn from sleep costs as much as a probe.
        self._burst = 0
        while sent_on:
            shared = sent_on.pop()
            if not shared.closed:
                shared.read_ready()
        if heap:
            self._armed = heap[0]
            self._armed_at = loop.time()
            self._timer = loop.call_at(max(heap[0] * tick, self._armed_at + _MIN_GAP * tick), self._tick)
        else:
            self._armed = None

    # ------------------------------------------------------------------------------------ probes

    def _start(self, probe: _Probe, now: float) -> None:
        """The probe's slot came: account for lateness as run_target does, then send its first request."""
        late = now - probe.next_at
        interval = probe.interval
        if late >= interval:
            missed = int(late // interval)
            probe.next_at += missed * interval
            probe.stats.skipped(missed)
            SKIPPED_LOG.note(now, probe.key, missed, late)
        probe.stats.record(max(0.0, now - probe.next_at))
        probe.running = True
        probe.ts_ns = time.time_ns()
        probe.steady = steady_ns()
        probe.t0 = time.monotonic()
        probe.sent = 0
        probe.rtts = []
        probe.errors = []
        shared = probe.shared
        if shared is None or shared.closed:
            try:
                shared = icmp.echo_socket(self.ctx, probe.ip, self.privileged)  # opens or reopens it
            except CannotProbe as exc:
                self.finish(probe, exc)
                return
        if shared is not probe.shared:
            self._sockets.add(shared)
            probe.shared = shared
            probe.packet = icmp.EchoPacket(shared, probe.options.payload_size)
            probe.dest = shared._canonical_ip(probe.ip)
        self._send(probe)

    def _send(self, probe: _Probe) -> None:
        shared, packet = probe.shared, probe.packet
        assert shared is not None and packet is not None
        if shared.closed:
            self.finish(probe, CannotProbe("the shared ICMP socket was closed (the agent is stopping)"))
            return
        try:
            seq = shared.register(probe)
        except CannotProbe as exc:
            self.finish(probe, exc)
            return
        data, probe.nonce = packet.fill(seq, shared.next_nonce())
        probe.seq = seq
        probe.sent_mono = time.monotonic()
        probe.sent_wall_ns = time.time_ns()
        try:
            shared.sock.sendto(data, (probe.ip, 0))
        except BlockingIOError:  # the send buffer is full: try again in the next slot (rare)
            shared.unregister(seq, probe)
            probe.seq = -1
            self.wheel_add(self.loop.time() + self.tick_s, (_SEND, probe, 0))
            return
        except OSError as exc:  # the OS refused to send (no route, network down)
            shared.unregister(seq, probe)
            probe.seq = -1
            error = icmp.send_failed(probe.who, probe.sent, probe.rtts, exc)
            error.__cause__ = exc  # as `raise … from exc`: the runner looks for local errors in the chain
            self.finish(probe, error)
            return
        self._sent_on.add(shared)
        self._burst += 1
        if self._burst >= _READ_EVERY:  # a long burst (after a stall) must not overflow the socket's buffer
            self._burst = 0
            shared.read_ready()
        probe.sent += 1
        probe.gen += 1
        self.wheel_add(probe.sent_mono + probe.wait_s, (_EXPIRE, probe, probe.gen))

    def _crash(self, probe: _Probe, exc: Exception) -> None:
        if not probe.running:  # its Result is already made: a second one would schedule the target twice
            _LOGGER.error("icmp timer wheel failed after a result target=%s", probe.key, exc_info=exc)
            return
        if probe.seq >= 0 and probe.shared is not None:
            probe.shared.unregister(probe.seq, probe)
            probe.seq = -1
        self.finish(probe, exc)

    def finish(self, probe: _Probe, outcome: Measurement | Exception) -> None:
        """The probe came to ``outcome``: its Result goes to the journal now and to the handler in order."""
        self.deliver(probe, settle(self.state, probe.target, probe.ts_ns, probe.steady, probe.t0, outcome))

    def deliver(self, probe: _Probe, result: Result) -> None:
        """``probe``'s Result: to the journal now (with ``submit``), to the handler in order."""
        probe.running = False
        self.results += 1
        future = self.submit(result) if self.submit is not None else None
        self._done.append((probe, result, future))
        wakeup = self._wakeup
        if wakeup is not None and not wakeup.done():
            wakeup.set_result(None)

    # ------------------------------------------------------------------------------------ results

    def _handled(self, probe: _Probe) -> None:
        probe.next_at += probe.interval
        self.wheel_add(probe.next_at, (_START, probe, 0))

    def _after_task(self, probe: _Probe, task: asyncio.Task[None]) -> None:
        self._waiting.discard(task)
        if task.cancelled():
            return
        if task.exception() is not None:
            _LOGGER.error("result handling failed target=%s", probe.key, exc_info=task.exception())
        self._handled(probe)

    def _handle(self, probe: _Probe, coro: Coroutine[Any, Any, None]) -> None:
        """Run the handler inline up to its first wait; if it has to wait, let a task of its own finish it."""
        try:
            first = coro.send(None)
        except StopIteration:
            self._handled(probe)
            return
        except Exception:  # journaling and dispatch log their own failures; the schedule must go on
            _LOGGER.exception("result handling failed target=%s", probe.key)
            self._handled(probe)
            return
        task = self.loop.create_task(_finish(_Resume(coro, first)), name=f"result:{probe.key}")
        self._waiting.add(task)
        task.add_done_callback(lambda t: self._after_task(probe, t))

    async def run(self) -> None:
        """Probe every target until cancelled; then nothing of this driver is left in flight."""
        start = self.loop.time()
        for probe in self.probes:
            # The first probe at the first slot boundary at or after its stagger offset: with an interval that is a
            # whole number of slots (1 s, 30 s: 125, 3,750 slots) every later probe falls on a boundary too, so a
            # probe starts as late as the loop wakes, not up to a slot later than its time.
            probe.next_at = self._slot(start + self.offsets.get(probe.key, 0.0)) * self.tick_s
            self.wheel_add(probe.next_at, (_START, probe, 0))
        _LOGGER.debug(
            "icmp timer wheel running targets=%d tick_ms=%g (the other targets keep a task each)",
            len(self.probes),
            self.tick_s * 1e3,
        )
        try:
            while True:
                if not self._done:
                    self._wakeup = self.loop.create_future()
                    await self._wakeup
                    self._wakeup = None
                batch, self._done = self._done, []
                for n, (probe, result, future) in enumerate(batch, 1):
                    timer = self._timer
                    if n % _HANDLE_RUN == 0 or (timer is not None and self.loop.time() >= timer.when()):
                        await asyncio.sleep(0)  # a commit holds hundreds of rows: a tick that came due goes first
                    if future is None:
                        self._handle(probe, self.on_result(probe.target, result))
                        continue
                    seq = future.result() if future.done() else await future
                    assert self.after is not None
                    self._handle(probe, self.after(probe.target, result, seq))
        finally:
            self._stop()

    def _stop(self) -> None:
        if self.turn is not None:
            self.turn.end(math.inf)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._slots.clear()
        self._heap.clear()
        for probe in self.probes:  # requests in flight are forgotten: no result is made for them
            if probe.seq >= 0 and probe.shared is not None:
                probe.shared.unregister(probe.seq, probe)
                probe.seq = -1
        for task in self._waiting:
            task.cancel()
