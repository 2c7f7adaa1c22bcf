"""The timeline encoding: spans → text → spans, and merging several sources of one agent.

(Chunked days and the newest write winning are read back from a real InfluxDB in test_collective_influx.)
"""

from __future__ import annotations

from helpers import T0

from watchdog.analysis.timeline import DAY_NS, Span, State, chunks, decode, encode, merge
from watchdog.model import NS

DAY = T0 - T0 % DAY_NS


def test_encode_decode_round_trip() -> None:
    spans = [Span(DAY + 5, DAY + 10 * NS, State.UP), Span(DAY + 10 * NS, DAY + 70 * NS, State.PROVIDER)]
    assert encode(spans, DAY) == ["5-10000000000u", "10000000000-70000000000p"]
    assert decode(",".join(encode(spans, DAY)), DAY) == spans
    assert chunks(["aaa", "bbb", "cc"], 7) == ["aaa,bbb", "cc"] and chunks([], 10) == [""]
    for bad in ("5-3u", "1-2x", "12u"):
        try:
            decode(bad, DAY)
        except ValueError as exc:
            assert bad in str(exc)
        else:
            raise AssertionError(bad)


def test_merge_prefers_the_cautious_reading() -> None:
    a = [Span(0, 100, State.PROVIDER)]
    b = [Span(50, 150, State.CUSTOMER_LINE), Span(150, 200, State.UP)]
    assert merge([*a, *b]) == (
        Span(0, 50, State.PROVIDER),
        Span(50, 150, State.CUSTOMER_LINE),
        Span(150, 200, State.UP),
    )
