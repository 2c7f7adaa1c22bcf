"""The pack's per-second stamps give exactly what utc_iso and local_iso give, in zones with odd offsets and DST."""

from __future__ import annotations

import random
from zoneinfo import ZoneInfo

from watchdog.model import NS
from watchdog.timefmt import IsoStamps, local_iso, utc_iso

ZONES = ("UTC", "Europe/Moscow", "Asia/Kolkata", "America/St_Johns", "Australia/Lord_Howe", "Europe/London")


def test_iso_stamps_equal_utc_iso_and_local_iso() -> None:
    rng = random.Random(20261207)
    for name in ZONES:
        zone = ZoneInfo(name)
        stamps = IsoStamps(zone, keep=16)  # small: the cache is cleared many times over
        times = [rng.randrange(0, 4_000_000_000 * NS) for _ in range(2_000)]
        times += [1_792_800_000 * NS + k * 250_000_000 for k in range(-8, 8)]  # a few rows within the same seconds
        times += [0, 999_999_999, 1_000_000_000]
        for ts in times:
            assert stamps(ts) == (utc_iso(ts), local_iso(ts, zone)), (name, ts)
