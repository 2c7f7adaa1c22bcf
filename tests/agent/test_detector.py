"""Hysteresis: scripted sequences in, exact transitions out (the detector is pure)."""

from __future__ import annotations

import dataclasses

from helpers import T0, result, target

from watchdog.agent.detector import Closed, Detector, Opened, State
from watchdog.model import NS, FailureKind

KEY = "broker/trading"


def feed(detector: Detector, script: str, step_s: float = 10.0) -> list[tuple[int, object]]:
    """Feed 'S'/'F'/'I' (success, failure, internal) at step_s intervals; bind opens as they come."""
    out = []
    for i, ch in enumerate(script):
        if ch == "I":
            r = result(KEY, i * step_s, False, failure=FailureKind.INTERNAL)
        else:
            r = result(KEY, i * step_s, ch == "S")
        t = detector.observe(r)
        if isinstance(t, Opened):
            detector.bind(t, outage_id=100 + i)
        if t is not None:
            out.append((i, t))
    return out


def ns(i: int, step_s: float = 10.0) -> int:
    return T0 + int(i * step_s * NS)


def test_three_failures_open_at_the_first_and_two_successes_close_at_the_first() -> None:
    d = Detector(target(KEY))
    transitions = feed(d, "SSFFFFFSS")
    assert [i for i, _ in transitions] == [4, 8]
    _, opened = transitions[0]
    assert isinstance(opened, Opened)
    assert (opened.start_ns, opened.last_ok_ns, opened.failures) == (ns(2), ns(1), 3)
    assert opened.confirmed_ns == ns(4) + 1_000_000  # the confirming probe's end (latency 1 ms)
    _, closed = transitions[1]
    assert isinstance(closed, Closed)
    o = closed.outage
    assert (o.id, o.start_ns, o.start_bounds, o.end_ns, o.end_bounds) == (
        104,
        ns(2),
        (ns(1), ns(2)),
        ns(7),
        (ns(6), ns(7)),
    )
    assert d.state is State.UP


def test_short_failures_do_not_open() -> None:
    d = Detector(target(KEY))
    assert feed(d, "SFFSFFSSFF") == []
    assert d.state is State.UP


def test_a_failure_during_recovery_resets_the_success_streak() -> None:
    d = Detector(target(KEY))
    transitions = feed(d, "SFFFSFSSS")
    assert [i for i, _ in transitions] == [3, 7]
    closed = transitions[1][1]
    assert isinstance(closed, Closed)
    assert closed.outage.end_ns == ns(6)  # the first success of the final streak
    assert closed.outage.end_bounds == (ns(5), ns(6))


def test_internal_results_are_ignored() -> None:
    d = Detector(target(KEY))
    assert [i for i, _ in feed(d, "SFIFIIF")] == [6]
    assert d.state is State.DOWN
    assert d.outage is not None and d.outage.start_ns == ns(1)


def test_failing_from_the_start_has_an_unknown_lower_bound() -> None:
    d = Detector(target(KEY))
    ((i, opened),) = feed(d, "FFF")
    assert isinstance(opened, Opened)
    assert (i, opened.start_ns, opened.last_ok_ns) == (2, ns(0), None)


def test_restored_open_outage_closes_once() -> None:
    first = Detector(target(KEY))
    feed(first, "SFFF")
    restored = Detector(
        target(KEY), open_outage=first.outage, last_ok_ns=first.last_ok_ns, last_fail_ns=first.last_fail_ns
    )
    assert restored.state is State.DOWN
    later = [result(KEY, 100, False), result(KEY, 110, True), result(KEY, 120, True), result(KEY, 130, True)]
    transitions = [t for r in later if (t := restored.observe(r)) is not None]
    assert len(transitions) == 1 and isinstance(transitions[0], Closed)
    assert transitions[0].outage.id == first.outage.id  # type: ignore[union-attr]
    assert transitions[0].outage.end_bounds == (T0 + 100 * NS, T0 + 110 * NS)


def test_thresholds_come_from_the_target() -> None:
    d = Detector(target(KEY, failure_threshold=1, success_threshold=1))
    assert [i for i, _ in feed(d, "SFSFS")] == [1, 2, 3, 4]


def test_the_steady_clock_of_the_first_failure_and_first_success_travels_with_the_outage() -> None:
    """The wall clock jumps an hour mid-outage; the steady readings still say 40 s (the close carries both)."""
    d = Detector(target(KEY))
    seen = []
    for i, ok in enumerate("SFFFFSS"):
        jump = 3600 if i >= 4 else 0
        r = dataclasses.replace(result(KEY, i * 10.0 + jump, ok == "S"), steady_ns=i * 10 * NS)
        t = d.observe(r)
        if isinstance(t, Opened):
            d.bind(t, outage_id=7)
        if t is not None:
            seen.append(t)
    opened, closed = seen
    assert isinstance(opened, Opened) and opened.start_steady_ns == 10 * NS
    assert isinstance(closed, Closed) and (closed.start_steady_ns, closed.end_steady_ns) == (10 * NS, 50 * NS)
    assert closed.outage.duration_ns() == 3640 * NS  # the wall clock's view, which Journal.outages corrects
