"""Issue 19: the probe rate a config asks for against the machine's budget, and the running agent's lateness warning.

Pure counting: no probes run and nothing is timed (the counts stand for a window of an agent's run).
"""

from __future__ import annotations

from helpers import target

from watchdog.agent.core import LATE_WARN_S, lateness_warning
from watchdog.agent.scheduler import LatenessWindow, ScheduleStats
from watchdog.config.capacity import budget, probe_load


def test_the_probe_load_weights_each_kind_by_its_budget() -> None:
    targets = [target(f"isp/p{i}", kind="icmp", interval_s=1.0) for i in range(400)]  # 400 echo requests/s
    targets += [target(f"bank/h{i}", kind="http", interval_s=10.0) for i in range(1000)]  # 100/s
    targets += [target("isp/speed", kind="speed", interval_s=3600.0)]
    asked = probe_load(targets)
    assert (asked.targets, round(asked.rate, 6)) == (1401, 500.000278)
    assert {kind: round(rate, 6) for kind, rate in asked.by_kind.items()} == {
        "icmp": 400.0,
        "http": 100.0,
        "speed": 0.000278,
    }
    assert round(asked.load, 6) == round(400 / 3000 + 100 / 750 + 1 / 3600, 6) == 0.266944
    assert asked.describe() == "http 100/s, icmp 400 echo requests/s, speed 0.00028/s"
    assert asked.budgets() == "http 750/s, icmp 3,000 echo requests/s, speed 1/s"
    assert budget("a-plugin-kind") == 250.0


def test_the_pooled_window_counts_late_probes_and_skipped_slots_then_starts_again() -> None:
    pooled = LatenessWindow(0.1)
    stats = [ScheduleStats(pooled=pooled), ScheduleStats(pooled=pooled)]
    for late_s in (0.0, 0.05, 0.1, 0.25, 1.5):
        stats[0].record(late_s)
    stats[1].record(0.3)
    stats[1].skipped(4)
    assert (stats[1].missed_slots, stats[1].runs) == (4, 1)
    assert pooled.take() == (6, 3, 4, 1.5)  # 0.1 itself is not past the threshold
    assert pooled.take() == (0, 0, 0, 0.0)


def test_no_warning_while_at_most_one_probe_in_a_hundred_is_late() -> None:
    targets = [target(f"isp/t{i}", interval_s=1.0) for i in range(100)]
    assert lateness_warning((6000, 60, 0, 0.4), 60.0, targets) is None  # p99 exactly at the edge
    assert lateness_warning((99, 50, 0, 0.4), 60.0, targets) is None  # too few probes to tell a p99
    assert lateness_warning((5990, 50, 11, 0.4), 60.0, targets) is not None  # skipped slots count as late


def test_the_warning_says_the_config_asks_too_much() -> None:
    targets = [target(f"isp/t{i}", kind="icmp", interval_s=1.0) for i in range(10_000)]
    assert LATE_WARN_S == 0.1
    assert lateness_warning((78_000, 51_000, 522_000, 2.468), 60.0, targets) == (
        "probes start late: over the last 60 s, 51,000 of 78,000 probes started more than 100 ms after their slot,"
        " the latest 2.47 s, and 522,000 slots were skipped: this machine does not keep up with the 10,000"
        " probes/s the config asks for (3.3× what a 2-core machine sustains, see `watchdog config check`);"
        " outage times lose precision and skipped probes are not made up (lengthen intervals or split the"
        " targets over agents)"
    )


def test_the_warning_blames_the_machine_when_the_config_is_within_budget() -> None:
    targets = [target(f"isp/t{i}", kind="tcp", interval_s=1.0) for i in range(50)]
    assert lateness_warning((3000, 100, 0, 0.9), 60.0, targets) == (
        "probes start late: over the last 60 s, 100 of 3,000 probes started more than 100 ms after their slot,"
        " the latest 0.90 s, and 0 slots were skipped: the config asks for 50 probes/s (0.1× what a 2-core"
        " machine sustains): something else on this machine holds the CPU, or the machine is slower; outage"
        " times lose precision and skipped probes are not made up (lengthen intervals or split the targets over"
        " agents)"
    )
