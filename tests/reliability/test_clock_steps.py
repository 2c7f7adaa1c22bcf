"""Wall-clock steps (+1 h, then −10 min) under a running agent, with libfaketime.

The real ``watchdog run`` runs with libfaketime preloaded, its offset read from a file on every call
(``FAKETIME_NO_CACHE``), and with the monotonic clocks left alone (``FAKETIME_DONT_FAKE_MONOTONIC``):
exactly a wall clock stepped by NTP or a user under a process that keeps running. The service goes
down before the steps and comes back after them (outage A), then fails once more on the stepped clock
(outage B). The truth is taken on this process's monotonic clock.

* the schedule runs on the loop's monotonic clock: one probe per second per target throughout, no
  stall, no missed or doubled slot;
* both steps are journaled as ``clock_step`` events with their size and sign;
* an outage measured on a steady clock has the right duration and bounds (B);
* an outage that spans both steps (A) has the right duration too: its close carries the steady-clock
  (CLOCK_BOOTTIME) readings of its first failure and first success, and ``Journal.outages`` moves its
  start into the clock of its end; the raw edges are as journaled, off by exactly the steps inside.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from faults import FAKETIME_LIB, AgentProcess, TcpListener, agent_env, first_result_after, wait_until

from watchdog.errors import JournalError
from watchdog.journal.readers import Event
from watchdog.journal.schema import EV_CLOCK_STEP, EV_OUTAGE_OPEN, EV_STALL
from watchdog.journal.store import Journal
from watchdog.model import NS, Outage, Result

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(FAKETIME_LIB is None, reason="needs libfaketime (Debian package faketime)"),
]

STEPS_S = (3600, -600)
SLACK_NS = 50_000_000


@dataclass
class Run:
    """What happened, as the journal saw it and as this process measured it."""

    outages: list[Outage]
    steps: list[Event]
    stalls: list[Event]
    opens: list[Event]
    results: dict[str, list[tuple[int, Result]]]
    truth: dict[str, tuple[float, float, int, int]]  # outage -> (mono down, mono up, faked wall down, up)
    span_s: float


def _outages(journal: Path) -> list[Outage]:
    try:
        with Journal.open(journal, create=False, readonly=True) as j:
            return j.outages()
    except JournalError:
        return []


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    tmp = tmp_path_factory.mktemp("clock")
    service, anchor = TcpListener(), TcpListener()
    port = service.port
    offset = tmp / "faketime"
    offset.write_text("+0\n")
    config = tmp / "watchdog.yaml"
    journal = tmp / "data" / "journal.sqlite3"
    config.write_text(
        f"""
agent: {{id: clock, timezone: UTC, data_dir: "{tmp / "data"}"}}
ntp: {{enabled: false}}  # the default servers are public: never asked from a test
defaults: {{interval: 1s, timeout: 500ms, failure_threshold: 2, success_threshold: 2}}
controls:
  internet: [{{name: anchor, kind: tcp, address: "{anchor.address}"}}]
providers:
  - id: svc
    targets: [{{name: a, kind: tcp, address: "{service.address}"}}]
"""
    )
    env = agent_env(
        LD_PRELOAD=str(FAKETIME_LIB),
        FAKETIME_TIMESTAMP_FILE=str(offset),
        FAKETIME_NO_CACHE="1",
        FAKETIME_DONT_FAKE_MONOTONIC="1",
    )
    agent = AgentProcess(config, tmp / "agent.log", env=env)
    truth: dict[str, tuple[float, float, int, int]] = {}
    fake_s = 0

    def fail_then_recover(name: str, during: float, steps: tuple[int, ...] = ()) -> None:
        nonlocal service, fake_s
        count = len(_outages(journal))
        down_mono, down_wall = time.monotonic(), time.time_ns() + fake_s * NS
        service.stop()
        wait_until(lambda: len(_outages(journal)) > count, 15, f"outage {name} to open")
        for step in steps:
            time.sleep(during)
            fake_s += step
            offset.write_text(f"{fake_s:+d}\n")
        time.sleep(during)
        service = TcpListener(port)
        up_mono, up_wall = time.monotonic(), time.time_ns() + fake_s * NS
        wait_until(lambda: all(not o.is_open for o in _outages(journal)), 15, f"outage {name} to close")
        truth[name] = (down_mono, up_mono, down_wall, up_wall)

    try:
        agent.start()
        wait_until(lambda: first_result_after(journal, agent.started_ns), 15, "the first probe")
        started = time.monotonic()  # the schedule's span starts at the first probe, not at the process's start
        time.sleep(1.5)
        fail_then_recover("A", 2.0, STEPS_S)
        time.sleep(1.0)
        fail_then_recover("B", 2.0)
        time.sleep(1.5)
        assert agent.stop() == 0
        span_s = time.monotonic() - started
    finally:
        agent.close()
        service.stop()
        anchor.stop()
    assert "Traceback" not in agent.text(), agent.text()[-3000:]
    with Journal.open(journal, create=False, readonly=True) as j:
        results: dict[str, list[tuple[int, Result]]] = {}
        for seq, r in j.iter_results():
            results.setdefault(r.target, []).append((seq, r))
        yield Run(
            j.outages(),
            j.events([EV_CLOCK_STEP]),
            j.events([EV_STALL]),
            j.events([EV_OUTAGE_OPEN]),
            results,
            truth,
            span_s,
        )


def test_both_steps_are_journaled_with_size_and_sign(run: Run) -> None:
    assert [round(e.data["step_ns"] / NS, 1) for e in run.steps] == [float(s) for s in STEPS_S]
    assert run.stalls == []  # a step of the wall clock is not a stall of the agent


def test_the_schedule_ignores_the_wall_clock(run: Run) -> None:
    for key, rows in run.results.items():
        gaps = [(b.ts_ns - a.ts_ns) / NS for (_, a), (_, b) in itertools.pairwise(rows)]
        explained = []
        for gap in gaps:
            step = min((0, *STEPS_S), key=lambda s: abs(gap - 1.0 - s))
            explained.append(step)
            assert 0.5 <= gap - step <= 1.5, (key, gap)  # one probe a second: no slot doubled or skipped
        # Fixed rate on the monotonic clock: a late slot (a loaded CI machine, libfaketime reading its file on
        # every call) is not carried into the next one, so the n-th probe stays n seconds after the first.
        elapsed = 0.0
        for i, (gap, step) in enumerate(zip(gaps, explained, strict=True), start=1):
            elapsed += gap - step
            assert abs(elapsed - i) <= 0.3, (key, i, elapsed)
        assert sorted(s for s in explained if s) == sorted(STEPS_S), key  # each step seen once, nothing else
        assert abs(len(rows) - run.span_s) <= 3, (key, len(rows), run.span_s)  # no missed or doubled slots


def _outage(run: Run, name: str) -> Outage:
    return [o for o in run.outages if o.target == "svc/a"][0 if name == "A" else 1]


def test_an_outage_on_a_steady_clock_is_measured_right(run: Run) -> None:
    o = _outage(run, "B")
    down_mono, up_mono, down_wall, up_wall = run.truth["B"]
    assert o.end_ns is not None and o.end_bounds is not None
    assert abs(o.duration_ns() / NS - (up_mono - down_mono)) < 1.0
    lo, hi = o.start_bounds
    assert lo is not None and lo < down_wall <= hi + SLACK_NS
    assert o.end_bounds[0] < up_wall <= o.end_bounds[1] + SLACK_NS


def test_an_outage_spanning_steps_is_measured_right(run: Run) -> None:
    o = _outage(run, "A")
    down_mono, up_mono, _, up_wall = run.truth["A"]
    assert abs(o.duration_ns() / NS - (up_mono - down_mono)) < 1.0, o.duration_ns() / NS
    assert o.end_bounds is not None and o.end_bounds[0] < up_wall <= o.end_bounds[1] + SLACK_NS  # the end's clock
    lo, hi = o.start_bounds
    assert lo is not None and lo < up_wall - int((up_mono - down_mono) * NS) <= hi + SLACK_NS  # start, same clock


def test_the_raw_edges_are_off_by_the_steps_inside(run: Run) -> None:
    """The journal keeps the edges as measured; the steps journaled between them explain the whole difference."""
    o = _outage(run, "A")
    down_wall = run.truth["A"][2]
    opened = next(e for e in run.opens if e.seq == o.id)
    raw_start = int(opened.data["start_ns"])
    assert abs(raw_start - down_wall) < 2 * NS  # measured on the clock before the steps
    inside = sum(e.data["step_ns"] for e in run.steps if e.seq > o.id)
    assert abs(o.start_ns - raw_start - inside) < SLACK_NS
