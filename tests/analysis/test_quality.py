"""Speed tests against the contract: each direction is judged only against its own minimum (issue 16).

The contract's ``minimum`` is the download minimum (the Ofcom code's "minimum guaranteed download speed"):
a speed like ``100Mbit`` must never become the bar for the upload. A share (``50%``) is a share of each
direction's own advertised speed. The upload has its own ``upload_minimum``; without one (and with a download
minimum given as a speed) the upload is shown but not judged.
"""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from watchdog.analysis.quality import speed_summary
from watchdog.config import loads
from watchdog.config.quality import SlaQualityTerms
from watchdog.errors import ConfigError
from watchdog.model import NS, Result

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
