"""Quality analysis (issue 16): speed minimums per direction, and the hours degraded "every day".

Speed: each direction is judged only against its own minimum.

The contract's ``minimum`` is the download minimum (the Ofcom code's "minimum guaranteed download speed"):
a speed like ``100Mbit`` must never become the bar for the upload. A share (``50%``) is a share of each
direction's own advertised speed. The upload has its own ``upload_minimum``; without one (and with a download
minimum given as a speed) the upload is shown but not judged.
"""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from watchdog.analysis.quality import RecurringHour, measured_over, recurring_hours, speed_summary
from watchdog.config import loads
from watchdog.config.quality import SlaQualityTerms
from watchdog.errors import ConfigError
from watchdog.model import NS, FailureKind, Result

UTC = ZoneInfo("UTC")
T0 = 1_793_577_600 * NS  # 2026-11-02 00:00 UTC


def speed_results(downs: list[float], ups: list[float]) -> list[Result]:
    """One speed test an hour from T0 with these Mbit/s."""
    return [
        Result("isp/speed", T0 + i * 3600 * NS, True, 0.02, metrics={"download_bps": d * 1e6, "upload_bps": u * 1e6})
        for i, (d, u) in enumerate(zip(downs, ups, strict=True))
    ]


def terms(**sla: object) -> SlaQualityTerms:
    return SlaQualityTerms.model_validate(sla)


@pytest.mark.parametrize(
    ("sla", "download_min", "upload_min"),
    [
        ({"download": "500Mbit", "upload": "50Mbit", "minimum": "100Mbit"}, 100e6, None),
        ({"download": "500Mbit", "upload": "50Mbit", "minimum": "100Mbit", "upload_minimum": "10Mbit"}, 100e6, 10e6),
        ({"download": "500Mbit", "upload": "50Mbit", "minimum": "100Mbit", "upload_minimum": "40%"}, 100e6, 20e6),
        ({"download": "500Mbit", "upload": "50Mbit", "minimum": "50%"}, 250e6, 25e6),  # a share of each its own
        ({"download": "500Mbit", "upload": "50Mbit"}, 500e6, 50e6),  # no minimum: the advertised speed is the bar
        ({"minimum": "100Mbit"}, 100e6, None),  # the Ofcom code's guaranteed minimum, without an advertised figure
        ({"download": "500Mbit", "minimum": "100Mbit", "upload_minimum": "10Mbit"}, 100e6, 10e6),
        ({"download": "500Mbit"}, 500e6, None),
    ],
)
def test_each_minimum_belongs_to_its_own_direction(
    sla: dict[str, object], download_min: float | None, upload_min: float | None
) -> None:
    t = terms(**sla)
    assert (t.minimum_bps("download"), t.minimum_bps("upload")) == (download_min, upload_min)


def test_upload_is_not_judged_against_the_download_minimum() -> None:
    """500/50 Mbit/s with a 100 Mbit/s download minimum; uploads of 20-24 Mbit/s are below 100 but not below
    anything the contract sets for the upload."""
    t = terms(download="500Mbit", upload="50Mbit", minimum="100Mbit")
    summary = speed_summary(
        speed_results([80.0, 120.0, 90.0, 300.0], [20.0, 21.0, 22.0, 24.0]),
        UTC,
        download_min_bps=t.minimum_bps("download"),
        upload_min_bps=t.minimum_bps("upload"),
        download_bps=t.download,
        upload_bps=t.upload,
    )
    down, up = summary.download.as_dict(), summary.upload.as_dict()
    assert (down["minimum_bps"], down["below_minimum"], down["below_minimum_share"]) == (100e6, 2, 0.5)
    assert (up["tests"], up["median_bps"], up["advertised_bps"]) == (4, 21.5e6, 50e6)  # shown
    assert (up["minimum_bps"], up["below_minimum"], up["below_minimum_share"]) == (None, 0, None)  # not judged


def test_an_upload_share_needs_the_advertised_upload(tmp_path: Path) -> None:
    text = f"""
agent: {{id: a, timezone: UTC, data_dir: "{tmp_path}"}}
providers:
  - id: isp
    kind: isp
    sla: {{download: 500Mbit, minimum: 100Mbit, upload_minimum: 40%}}
    targets:
      - {{name: gw, kind: tcp, address: "127.0.0.1:9"}}
ntp: {{enabled: false}}
"""
    with pytest.raises(ConfigError, match=r"providers\[0\]\.sla.*upload_minimum 40% is a share of sla\.upload"):
        loads(text, env={})


def utc(day: int, hh: int, mm: int = 0) -> int:
    return T0 + ((day - 2) * 86400 + hh * 3600 + mm * 60) * NS


EIGHT_DAYS = (utc(2, 0), utc(10, 0))  # 2-9 Nov, watched throughout


def test_an_hour_recurs_on_a_quarter_of_the_days_watched() -> None:
    """Eight days watched: 19:00-21:00 degraded on 2 of them is the pattern (2 >= 8 / 4); 22:00 on one day is not
    (two days at least); 23:00-23:29 every day is not (under half of the hour)."""
    degraded = [(utc(3, 19), utc(3, 21)), (utc(7, 19), utc(7, 21)), (utc(5, 22), utc(5, 23))]
    degraded += [(utc(d, 23), utc(d, 23, 29)) for d in range(2, 10)]
    assert recurring_hours(degraded, [EIGHT_DAYS], EIGHT_DAYS, UTC) == [
        RecurringHour(19, 2, 8),
        RecurringHour(20, 2, 8),
    ]


def test_the_bar_is_a_quarter_of_the_observed_days_not_of_the_period() -> None:
    """Nine days watched need three (2 * 4 < 9); the same two evenings count when four of the days had no data."""
    window = (utc(2, 0), utc(11, 0))
    degraded = [(utc(3, 19), utc(3, 20)), (utc(7, 19), utc(7, 19, 30))]  # the second: exactly half the hour
    assert recurring_hours(degraded, [window], window, UTC) == []
    watched = [(utc(2, 0), utc(7, 0)), (utc(7, 18, 45), utc(7, 20))]  # 2-6 Nov, and 7 Nov 18:45-20:00
    assert recurring_hours(degraded, watched, window, UTC) == [RecurringHour(19, 2, 6)]


def test_one_bad_day_is_never_a_pattern_and_hours_are_local() -> None:
    """Two days watched, one degraded: a quarter, but under two days. In Moscow (UTC+3) 16:00 UTC is 19:00."""
    window = (utc(2, 0), utc(4, 0))
    assert recurring_hours([(utc(2, 16), utc(2, 17))], [window], window, UTC) == []
    both = [(utc(2, 16), utc(2, 17)), (utc(3, 16), utc(3, 17))]
    assert recurring_hours(both, [window], window, ZoneInfo("Europe/Moscow")) == [RecurringHour(19, 2, 2)]


def echo(i: int, received: float, latency_s: float = 0.008) -> Result:
    """The i-th minute's round of 5 ICMP echoes from T0 (failed when all are lost)."""
    ok = received > 0
    metrics = {"sent": 5.0, "received": received}
    return Result("isp/gw", T0 + i * 60 * NS, ok, latency_s, None if ok else FailureKind.TIMEOUT, "", metrics)


def test_a_window_is_measured_over_all_its_rounds_outside_its_downtime() -> None:
    """An evening: 240 rounds losing 1 echo of 5 (20 %), of which rounds 60-89 were an outage (all 5 lost).

    The tracker confirmed it at 8 % (its 20-round window just after the start); over the whole window, down time
    left out, the loss is 210 × 1 / (210 × 5) = 20 %; with the outage counted it would be (210 + 150) / 1200 = 30 %.
    """
    rounds = [echo(i, 0.0 if 60 <= i < 90 else 4.0) for i in range(240)]
    down = [(T0 + 60 * 60 * NS, T0 + 90 * 60 * NS)]
    assert measured_over("loss", rounds, down) == 0.2
    assert measured_over("loss", rounds) == 0.3
    internal = Result("isp/gw", T0, False, None, FailureKind.INTERNAL, "could not probe")
    assert measured_over("loss", [internal]) is None


def test_latency_is_the_median_and_jitter_the_mean_step_over_the_window() -> None:
    """Latencies 100, 300, 200, 400 ms and a failed round: median 250 ms; steps 200, 100, 200 → jitter 166.67 ms;
    the failed TCP round is one lost of five."""
    rounds = [Result("b/api", T0 + i * NS, True, v, metrics={}) for i, v in enumerate([0.1, 0.3, 0.2, 0.4])] + [
        Result("b/api", T0 + 9 * NS, False, 5.0, FailureKind.TIMEOUT, "connect timed out")
    ]
    assert measured_over("latency", rounds) == pytest.approx(0.25)
    assert measured_over("jitter", rounds) == pytest.approx(0.5 / 3)
    assert measured_over("loss", rounds) == 0.2
    assert measured_over("latency", rounds[-1:]) is None and measured_over("jitter", rounds[:1]) is None
