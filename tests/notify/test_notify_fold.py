"""Flap folding rules, as pure decisions: what is told at once, what goes into a summary."""

from __future__ import annotations

from watchdog.notify.fold import FlapFolder, FoldedOutage

S = 1_000_000_000


def test_first_outage_is_told_and_the_rest_of_the_window_is_folded() -> None:
    f = FlapFolder(60)
    assert f.opened("t", 1, 0, 0) is True
    assert f.closed("t", 1, 5 * S) is True
    assert f.opened("t", 2, 10 * S, 10 * S) is False
    assert f.closed("t", 2, 12 * S) is False
    assert f.opened("t", 3, 20 * S, 20 * S) is False
    assert f.closed("t", 3, 21 * S) is False
    assert f.due(59 * S) == []
    (summary,) = f.due(60 * S)
    assert summary.outages == (FoldedOutage(2, 10 * S, 12 * S), FoldedOutage(3, 20 * S, 21 * S))
    assert summary.still_open is None
    assert f.opened("t", 4, 70 * S, 70 * S) is True  # a new window


def test_an_outage_still_open_at_the_summary_gets_its_recovery_told() -> None:
    f = FlapFolder(60)
    assert f.opened("t", 1, 0, 0)
    assert f.closed("t", 1, 1 * S)
    assert not f.opened("t", 2, 30 * S, 30 * S)
    (summary,) = f.due(60 * S)
    assert summary.still_open == FoldedOutage(2, 30 * S, None)
    assert f.closed("t", 2, 90 * S) is True  # the summary said "down": its end is told
    assert not f.opened("t", 3, 100 * S, 100 * S)  # ...and flaps right after it fold into the new window
    (second,) = f.due(120 * S)
    assert [o.outage_id for o in second.outages] == [3]


def test_a_window_that_ran_out_between_ticks_is_summarised_before_a_new_one_opens() -> None:
    f = FlapFolder(10)
    assert f.opened("t", 1, 0, 0)
    assert f.closed("t", 1, 1 * S)
    assert not f.opened("t", 2, 2 * S, 2 * S)
    assert f.closed("t", 2, 3 * S) is False
    assert f.opened("t", 3, 15 * S, 15 * S) is True  # window over: told, and the old window's summary is ready
    (summary,) = f.due(16 * S)
    assert [o.outage_id for o in summary.outages] == [2]


def test_unknown_closings_are_told_and_subjects_are_independent() -> None:
    f = FlapFolder(60)
    assert f.closed("t", 7, 5 * S) is True  # opened before a restart
    assert f.opened("a", 1, 0, 0) and f.opened("b", 2, 0, 0)
    assert f.flush(1 * S) == []  # nothing folded: nothing to summarise
