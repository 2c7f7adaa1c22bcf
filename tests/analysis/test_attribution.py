"""Attribution from the controls: exact segments for scripted control histories (pure functions)."""

from __future__ import annotations

from helpers import T0, outage

from watchdog.analysis.attribution import (
    LINE_INTERNET,
    ControlInfo,
    attribute,
    build_timeline,
    internet_lost_windows,
    subtract,
    union,
)
from watchdog.model import NS, Attribution, ProviderKind, Role

P, C, U, N = Attribution.PROVIDER, Attribution.CUSTOMER_LINE, Attribution.INCONCLUSIVE, Attribution.NO_DATA


def s(x: float) -> int:
    return T0 + int(x * NS)


def controls(coverage: tuple[tuple[int, int], ...] = ((s(0), s(1000)),)) -> list[ControlInfo]:
    return [
        ControlInfo("lan/router", Role.LAN, coverage),
        ControlInfo("internet/a", Role.INTERNET, coverage),
        ControlInfo("internet/b", Role.INTERNET, coverage),
        ControlInfo("internet/c", Role.INTERNET, coverage),
    ]


def segments(provider_outage, control_outages, *, kind=ProviderKind.BROKER, coverage=None):
    coverage = coverage or ((s(0), s(1000)),)
    timeline = build_timeline((s(0), s(1000)), coverage, controls(coverage), control_outages, 2, s(1000))
    attributed = attribute(provider_outage, "broker", Role.PROVIDER, kind, timeline, s(1000))
    return [((seg.start_ns - T0) / NS, (seg.end_ns - T0) / NS, seg.attribution) for seg in attributed.segments]


def test_line_fine_means_provider() -> None:
    got = segments(outage("broker/trading", 90, 100, 190, 200), {})
    assert got == [(100, 200, P)]


def test_reason_names_the_controls() -> None:
    timeline = build_timeline((s(0), s(1000)), [(s(0), s(1000))], controls(), {}, 2, s(1000))
    a = attribute(
        outage("broker/trading", 90, 100, 190, 200), "broker", Role.PROVIDER, ProviderKind.BROKER, timeline, s(1000)
    )
    assert [seg.reason for seg in a.segments] == ["LAN 1/1 up, internet 3/3 up (quorum 2)"]
    assert a.attribution is P


def test_internet_down_too_means_customer_line_with_uncertain_edges() -> None:
    lost = {k: [outage(k, 95, 105, 185, 195)] for k in ("internet/a", "internet/b", "internet/c")}
    got = segments(outage("broker/trading", 90, 100, 190, 200), lost)
    # the controls answer again from 195, the provider's target only at its next probe (200): that last
    # stretch is not counted against the provider, because the line was down when the target last failed
    assert got == [(100, 105, U), (105, 185, C), (185, 195, U), (195, 200, U)]


def test_lan_down_means_customer_line() -> None:
    down = {k: [outage(k, 80, 90, 290, 300)] for k in ("lan/router", "internet/a", "internet/b", "internet/c")}
    got = segments(outage("broker/trading", 90, 100, 190, 200), down)
    assert got == [(100, 200, C)]


def test_one_internet_control_down_keeps_the_quorum() -> None:
    got = segments(outage("broker/trading", 90, 100, 190, 200), {"internet/a": [outage("internet/a", 0, 50, 250, 260)]})
    assert got == [(100, 200, P)]


def test_two_internet_controls_down_lose_the_quorum() -> None:
    lost = {k: [outage(k, 40, 50, 250, 260)] for k in ("internet/a", "internet/b")}
    assert segments(outage("broker/trading", 90, 100, 190, 200), lost) == [(100, 200, C)]


def test_lan_down_but_internet_up_is_inconclusive() -> None:
    # the router stops answering ICMP but the internet quorum is up: the controls disagree
    got = segments(outage("broker/trading", 90, 100, 190, 200), {"lan/router": [outage("lan/router", 0, 10, 490, 500)]})
    assert got == [(100, 200, U)]
    timeline = build_timeline(
        (s(0), s(1000)),
        [(s(0), s(1000))],
        controls(),
        {"lan/router": [outage("lan/router", 0, 10, 490, 500)]},
        2,
        s(1000),
    )
    piece = timeline.pieces[1]
    assert (piece.lan, piece.internet) == ((0, 1, 0), (3, 0, 0))
    assert timeline.verdict(piece, ProviderKind.BROKER)[0] is U


def test_agent_not_running_is_no_data() -> None:
    coverage = ((s(0), s(150)), (s(300), s(1000)))
    got = segments(outage("broker/trading", 90, 100, 390, 400), {}, coverage=coverage)
    assert got == [(100, 150, P), (150, 300, N), (300, 400, P)]


def test_isp_internet_down_with_lan_up_is_the_isps_fault() -> None:
    lost = {k: [outage(k, 95, 105, 185, 195)] for k in ("internet/a", "internet/b", "internet/c")}
    windows = internet_lost_windows([o for v in lost.values() for o in v], 3, 2, s(1000))
    assert len(windows) == 1
    w = windows[0]
    assert w.detail == "2 to 3 of 3 controls down at once"
    assert w.target == LINE_INTERNET
    assert (w.start_ns, w.start_bounds, w.end_ns, w.end_bounds) == (s(105), (s(95), s(105)), s(195), (s(185), s(195)))
    got = segments(w, lost, kind=ProviderKind.ISP)
    assert got == [(105, 195, P)]
    with_lan_down = {**lost, "lan/router": [outage("lan/router", 90, 100, 190, 200)]}
    # the router's own recovery is uncertain between its last failure (190) and first success (200)
    assert segments(w, with_lan_down, kind=ProviderKind.ISP) == [(105, 190, C), (190, 195, U)]


def test_lost_quorum_window_needs_enough_controls_down_at_once() -> None:
    a = outage("internet/a", 0, 10, 90, 100)
    b = outage("internet/b", 40, 50, 140, 150)
    c = outage("internet/c", 120, 130, 170, 180)
    windows = internet_lost_windows([a, b, c], 3, 2, s(1000))
    # two down at once (more than n - quorum = 1): [50, 100) and [130, 150)
    assert [((w.start_ns - T0) / NS, (w.end_ns - T0) / NS) for w in windows] == [(50, 100), (130, 150)]
    first = windows[0]
    assert first.start_bounds == (s(40), s(50))  # b's last success: the second control went down after it
    assert first.end_bounds == (s(90), s(100))  # a's last failure
    # the real counts: 2 of the 3 configured controls, not "2 or more of 2"
    assert [w.detail for w in windows] == ["2 of 3 controls down at once", "2 of 3 controls down at once"]
    only_two = internet_lost_windows([a, b], 3, 2, s(1000))
    assert only_two[0].detail == "2 of 3 controls down at once"


def test_open_outage_runs_to_now() -> None:
    got = segments(outage("broker/trading", 900, 910, None, None), {})
    assert got == [(910, 1000, P)]


def test_interval_helpers() -> None:
    assert union([(5, 7), (1, 3), (2, 4), (7, 8)]) == [(1, 4), (5, 8)]
    assert subtract([(0, 10), (20, 30)], [(2, 3), (8, 22), (29, 40)]) == [(0, 2), (3, 8), (22, 29)]


def test_a_recovery_tail_counts_only_when_the_line_was_fine_at_the_last_failure() -> None:
    # the line was fine throughout: the whole outage, tail included, is the provider's
    assert segments(outage("broker/trading", 90, 100, 190, 200), {}) == [(100, 200, P)]
    # the line came back at 150 and the target failed once more at 170 while the line was fine: all counted
    lost = {k: [outage(k, 95, 100, 140, 150)] for k in ("internet/a", "internet/b", "internet/c")}
    got = segments(outage("broker/trading", 95, 100, 170, 180), lost)
    assert got == [(100, 140, C), (140, 150, U), (150, 180, P)]
