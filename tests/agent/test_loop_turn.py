"""The journal's writer keeps out of the interpreter while the ICMP wheel ticks (watchdog.agent.writer.LoopTurn).

Real threads, a real journal file. Nothing here is timed: each test orders what happens with events and checks
the order and the counts. Bounds (``max_wait_s``) are long where a test must not depend on the machine's speed.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from pathlib import Path

from helpers import T0, target

from watchdog.agent.writer import JournalWriter, LoopTurn
from watchdog.journal.chain import STREAMS_RUN
from watchdog.journal.store import APPEND_RUN, BLOCK_MAX_ROWS, SPOT_CHECK_EVERY, Journal
from watchdog.model import NS, Result

KEY = "isp/gateway"


def ping(i: int, key: str = KEY) -> Result:
    """An ICMP result as the probe words it (one reply)."""
    rtt = (100 + i % 50) / 1e6
    metrics = {"sent": 1, "received": 1, "loss_ratio": 0.0, "rtt_min_s": rtt, "rtt_max_s": rtt, "rtt_avg_s": rtt}
    detail = (
        f"1 of 1 ICMP echo replies from 127.0.9.10, rtt min/avg/max {rtt * 1e3:.3f}/{rtt * 1e3:.3f}/{rtt * 1e3:.3f} ms"
    )
    return Result(key, T0 + i * NS, True, rtt, None, detail, metrics)


def _in_thread(fn: object) -> tuple[threading.Thread, list[str]]:
    said: list[str] = []

    def run() -> None:
        fn()  # type: ignore[operator]
        said.append("writer went on")

    thread = threading.Thread(target=run)
    thread.start()
    return thread, said


def _until(condition: object, what: str) -> None:
    for _ in range(2000):
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.005)
    raise AssertionError(f"still waiting for {what}")


def test_no_tick_near_no_wait() -> None:
    turn = LoopTurn()
    turn.wait()  # no wheel: nothing is ever due
    turn.end(time.monotonic() + 60)
    turn.wait()
    assert (turn.waits, turn.gave_up) == (0, 0)


def test_the_writer_waits_out_a_running_tick_and_goes_on_when_it_ends() -> None:
    turn = LoopTurn(max_wait_s=60)
    turn.begin()
    thread, said = _in_thread(turn.wait)
    _until(lambda: turn.waits == 1, "the writer to wait")
    said.append("tick ended")
    turn.end(time.monotonic() + 60)
    thread.join(10)
    assert said == ["tick ended", "writer went on"]
    assert (turn.waits, turn.gave_up) == (1, 0)


def test_a_tick_due_within_the_margin_is_waited_for_until_it_has_run() -> None:
    turn = LoopTurn(margin_s=10.0, max_wait_s=60)
    turn.end(time.monotonic() + 5.0)  # not running, due in 5 s: within the margin of 10 s
    thread, said = _in_thread(turn.wait)
    _until(lambda: turn.waits == 1, "the writer to wait")
    turn.begin()
    said.append("tick ran")
    turn.end(math.inf)  # no tick after it
    thread.join(10)
    assert said == ["tick ran", "writer went on"]


def test_a_tick_that_never_ends_is_waited_for_once() -> None:
    """A blocked or stopped event loop must not make the writer wait at every pause: it gives that tick up."""
    turn = LoopTurn(max_wait_s=0.05)
    turn.begin()
    turn.wait()
    assert (turn.waits, turn.gave_up) == (1, 1)
    for _ in range(100):
        turn.wait()  # the same tick: not waited for again
    assert (turn.waits, turn.gave_up) == (1, 1)
    turn.end(time.monotonic() - 1)  # the next tick is already due
    turn.wait()
    assert (turn.waits, turn.gave_up) == (2, 2)


def test_after_a_late_tick_the_writer_waits_until_a_tick_starts_on_time() -> None:
    """A tick that starts more than behind_s late means the loop has fallen behind (a stall): the writer stays out of
    the interpreter between ticks too, until a tick starts within caught_up_s of its time (issue 19: at 5,000 ICMP
    targets a second the two threads' hand-overs of the lock kept the loop from catching up)."""
    turn = LoopTurn(max_behind_wait_s=60)
    turn.begin(late_s=0.5)
    turn.end(time.monotonic() + 60)  # the next tick is far: only being behind makes the writer wait
    thread, said = _in_thread(turn.wait)
    _until(lambda: turn.behind_waits == 1, "the writer to wait")
    turn.begin(late_s=0.010)  # still late, though less: between caught_up_s and behind_s nothing changes
    turn.end(time.monotonic() + 60)
    time.sleep(0.05)
    assert said == [] and turn.behind
    turn.begin(late_s=0.001)
    said.append("a tick on time")
    turn.end(time.monotonic() + 60)
    thread.join(10)
    assert said == ["a tick on time", "writer went on"]
    assert not turn.behind and (turn.waits, turn.behind_waits) == (0, 1)


def test_a_loop_that_stays_behind_leaves_the_writer_half_the_time() -> None:
    """In a lasting overload the writer waits at most max_behind_wait_s, then works at least as long before it waits
    for the loop again: the journal keeps up, the rows are only held longer."""
    turn = LoopTurn(max_behind_wait_s=0.1)
    turn.begin(late_s=1.0)
    turn.end(time.monotonic() + 60)
    start = time.monotonic()
    turn.wait()  # gives up after 0.1 s
    waited = time.monotonic() - start
    assert 0.1 <= waited < 5
    turn.wait()  # free for as long as it waited
    assert time.monotonic() - start < waited + 0.09
    assert turn.behind_waits == 1
    time.sleep(waited)
    turn.wait()  # the free time is over: waits again
    assert turn.behind_waits == 2


def test_the_wheel_stopping_ends_being_behind() -> None:
    turn = LoopTurn(max_behind_wait_s=60)
    turn.begin(late_s=1.0)
    turn.end(math.inf)  # the wheel stopped: no tick will ever start on time
    start = time.monotonic()
    turn.wait()
    assert time.monotonic() - start < 5 and turn.behind_waits == 0


def test_the_journal_pauses_every_few_rows_and_at_every_spot_check(tmp_path: Path) -> None:
    calls: list[int] = []
    with Journal.open(tmp_path / "j.sqlite3") as journal:
        journal.register_targets([target(KEY, kind="icmp")], now_ns=T0)
        journal.seal(now_ns=T0, upto_seq=1)
        journal.pause = lambda: calls.append(journal.conn.in_transaction)
        journal.append([ping(i) for i in range(3 * APPEND_RUN + 1)])
        assert calls == [True] * 3  # after each run of APPEND_RUN rows, inside the transaction
        journal.append([ping(i) for i in range(BLOCK_MAX_ROWS)])
        calls.clear()
        assert journal.seal_hashed_block(2) is not None
    # every spot check and the block's last row, then its one stream's digest, then before the block's hash
    assert len(calls) == BLOCK_MAX_ROWS // SPOT_CHECK_EVERY + 1 + 1 + 1


def test_a_block_of_many_targets_pauses_while_its_streams_are_digested(tmp_path: Path) -> None:
    """A block of 1,000 ICMP targets holds 1,000 streams, ~1.5-3 ms of digests in one piece on the development VM,
    which held a probe tick that came due meanwhile (issue 19): the seal pauses every STREAMS_RUN streams."""
    keys = [f"isp/t{n}" for n in range(300)]
    calls: list[int] = []
    with Journal.open(tmp_path / "j.sqlite3") as journal:
        journal.register_targets([target(key, kind="icmp") for key in keys], now_ns=T0)
        journal.seal(now_ns=T0)
        first = journal.last_seq() + 1
        journal.append([ping(i, keys[i % len(keys)]) for i in range(BLOCK_MAX_ROWS)])
        journal.pause = lambda: calls.append(journal.conn.in_transaction)
        assert journal.seal_hashed_block(first) is not None
    streams = -(-len(keys) // STREAMS_RUN)  # 300 streams: a pause before each run of 128
    assert calls == [False] * (BLOCK_MAX_ROWS // SPOT_CHECK_EVERY + 1) + [True] * (streams + 1)


async def test_a_writer_call_made_during_a_tick_runs_after_it(tmp_path: Path) -> None:
    writer = JournalWriter(tmp_path / "j.sqlite3")
    writer.turn.max_wait_s = 60
    await writer.open()
    try:
        await writer.call(lambda j: j.register_targets([target(KEY, kind="icmp")], now_ns=T0))  # seq 1
        said: list[str] = []
        writer.turn.begin()
        call = asyncio.create_task(writer.call(lambda j: said.append("call ran")))
        await asyncio.to_thread(_until, lambda: writer.turn.waits == 1, "the writer to wait")
        said.append("tick ended")
        writer.turn.end(math.inf)
        await call
        seq = await writer.write(ping(0), now=True)  # rows go on as before
        assert said == ["tick ended", "call ran"]
        assert seq == 2
    finally:
        await writer.aclose()
