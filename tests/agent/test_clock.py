"""Clock accuracy: the SNTP client against a real NTP responder on 127.0.0.1, the sink, and the summary."""

from __future__ import annotations

import asyncio
import struct
from pathlib import Path

import pytest
from ntp_responder import NtpResponder, ntp_bytes

from watchdog.agent.clock import (
    ClockSink,
    NtpError,
    build_request,
    clock_sink_factory,
    parse_response,
    query,
)
from watchdog.agent.core import Agent
from watchdog.agent.sinks import AgentContext
from watchdog.agent.state import Board
from watchdog.agent.writer import JournalWriter
from watchdog.analysis.clock import summarize
from watchdog.config import loads
from watchdog.journal.readers import Event
from watchdog.journal.schema import EV_CLOCK_SAMPLE, EV_CLOCK_STEP
from watchdog.journal.store import Journal
from watchdog.model import NS
from watchdog.units import split_server

T1 = 1_790_000_000 * NS
LOOPBACK_SLACK_NS = 50_000_000  # a loopback round trip on a busy 2-core machine stays well under this


def test_offset_and_delay_from_the_four_timestamps() -> None:
    # t1 = T1 (sent), t2 = T1 + 0.75 s (server got it), t3 = T1 + 1.0 s (server answered), t4 = T1 + 0.5 s
    # offset = ((t2 − t1) + (t3 − t4)) / 2 = (0.75 + 0.5) / 2 = 0.625 s; delay = (t4 − t1) − (t3 − t2) = 0.25 s
    transmit = ntp_bytes(T1)
    packet = struct.pack(
        "!BBbb II 4s 8s 8s 8s 8s",
        0x24,  # LI 0, version 4, mode 4
        2,
        6,
        -20,
        1024,  # root delay 1024/65536 s = 15.625 ms
        512,  # root dispersion 7.8125 ms
        b"\x0a\x00\x00\x01",
        ntp_bytes(T1 - 10 * NS),
        transmit,
        ntp_bytes(T1 + 750_000_000),
        ntp_bytes(T1 + NS),
    )
    s = parse_response(packet, transmit, T1, T1 + 500_000_000, "ntp.test", "127.0.0.1:123")
    assert (s.offset_ns, s.delay_ns, s.stratum) == (625_000_000, 250_000_000, 2)
    assert (s.root_delay_ns, s.root_dispersion_ns, s.ref_id) == (15_625_000, 7_812_500, "0a000001")
    # |0.625| + 0.25/2 + 0.015625/2 + 0.0078125 = 0.765625 s
    assert s.error_bound_ns == 765_625_000
    assert s.as_data()["error_bound_ns"] == 765_625_000
    with pytest.raises(NtpError, match="does not echo our request"):
        parse_response(packet, ntp_bytes(T1 + 1), T1, T1 + 500_000_000, "ntp.test", "x")
    assert len(build_request(transmit)) == 48 and build_request(transmit)[0] == 0x23


def test_server_addresses() -> None:
    assert split_server("pool.ntp.org") == ("pool.ntp.org", 123)
    assert split_server("127.0.0.1:12345") == ("127.0.0.1", 12345)
    assert split_server("[::1]:1234") == ("::1", 1234)
    assert split_server("::1") == ("::1", 123)
    with pytest.raises(ValueError, match="bad port"):
        split_server("host:0")
    with pytest.raises(Exception, match=r"ntp\.servers: bad port in NTP server 'a:x'"):
        loads('ntp: {servers: ["a:x"]}', env={})


@pytest.mark.parametrize("offset_s", [2.5, -0.75, 0.0])
async def test_query_measures_the_responders_offset(offset_s: float) -> None:
    server = await NtpResponder(offset_s=offset_s).start()
    try:
        s = await query(server.address, 2.0)
    finally:
        server.close()
    assert abs(s.offset_ns - round(offset_s * NS)) < LOOPBACK_SLACK_NS
    assert 0 <= s.delay_ns < LOOPBACK_SLACK_NS
    assert (s.stratum, s.root_delay_ns, s.root_dispersion_ns, s.address) == (
        2,
        15_625_000,
        7_812_500,
        server.address,
    )
    assert s.error_bound_ns == abs(s.offset_ns) + s.delay_ns // 2 + 7_812_500 + 7_812_500


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("kod", "kiss-o'-death 'RATE'"),
        ("unsynced", r"not synchronised \(leap 3"),
        ("silent", r"no answer within 0\.3s"),
        ("wrong-origin", r"no answer within 0\.3s"),  # a packet that does not echo us is ignored
    ],
)
async def test_query_refuses_unusable_answers(mode: str, message: str) -> None:
    server = await NtpResponder(mode=mode).start()
    try:
        with pytest.raises(NtpError, match=message):
            await query(server.address, 0.3)
    finally:
        server.close()
    assert server.requests == 1


async def test_sink_journals_every_server_each_round(tmp_path: Path) -> None:
    good, mute = await NtpResponder(offset_s=3.0).start(), await NtpResponder(mode="silent").start()
    config = loads(
        f"""
agent: {{data_dir: "{tmp_path}"}}
providers: [{{id: p, targets: [{{name: t, kind: tcp, address: "127.0.0.1:9"}}]}}]
ntp: {{servers: ["{good.address}", "{mute.address}"], interval: 1h, timeout: 300ms}}
""",
        env={},
    )
    writer = JournalWriter(config.journal_path)
    await writer.open()
    try:
        ctx = AgentContext(config, Board.for_targets(config.targets, config.quorum), writer)
        sink = clock_sink_factory(ctx)
        assert isinstance(sink, ClockSink)
        await sink.start()
        for _ in range(100):
            if sink.rounds:
                break
            await asyncio.sleep(0.05)
        await sink.aclose()
        await writer.flush()
    finally:
        await writer.aclose()
        good.close()
        mute.close()
    with Journal.open(config.journal_path) as journal:
        events = journal.events([EV_CLOCK_SAMPLE])
    assert [(e.data["server"], e.data["ok"]) for e in events] == [(good.address, True), (mute.address, False)]
    ok, failed = events[0].data, events[1].data
    assert abs(ok["offset_ns"] - 3 * NS) < LOOPBACK_SLACK_NS and ok["interval_s"] == 3600.0
    assert failed == {"ok": False, "server": mute.address, "error": "no answer within 0.3s", "interval_s": 3600.0}
    disabled = loads("ntp: {enabled: false}", env={})
    assert clock_sink_factory(AgentContext(disabled, Board.for_targets((), 1), writer)) is None


async def test_agent_measures_at_start(tmp_path: Path) -> None:
    """The factory is wired into ``watchdog run``: a short real run journals a sample against the responder."""
    server = await NtpResponder(offset_s=-1.5).start()
    config = loads(
        f"""
agent: {{data_dir: "{tmp_path}"}}
defaults: {{interval: 1s, timeout: 500ms}}
providers: [{{id: p, targets: [{{name: t, kind: tcp, address: "127.0.0.1:9"}}]}}]
ntp: {{servers: ["{server.address}"], interval: 1h, timeout: 1s}}
""",
        env={},
    )
    from watchdog.outputs import default_sink_factories

    try:
        await Agent(config, sink_factories=default_sink_factories(), duration_s=1.0).run()
    finally:
        server.close()
    with Journal.open(config.journal_path) as journal:
        events = journal.events([EV_CLOCK_SAMPLE])
    assert len(events) == 1 and events[0].data["ok"] is True
    assert abs(events[0].data["offset_ns"] + 1.5 * NS) < LOOPBACK_SLACK_NS


def _sample(seq: int, t_s: float, offset_ms: int, ok: bool = True) -> Event:
    data = {"ok": ok, "server": "a", "interval_s": 600.0}
    if ok:
        data.update(offset_ns=offset_ms * 1_000_000, error_bound_ns=abs(offset_ms) * 1_000_000 + 5_000_000)
    return Event(seq, T1 + int(t_s * NS), EV_CLOCK_SAMPLE, None, None, data)


def test_summary_worst_offset_unsynced_stretches_and_steps() -> None:
    # The agent ran 0–10 000 s. Samples (interval 600 s, so each vouches ±1200 s) at 0, 1000 (−40 ms),
    # 2000 (a failure), 5000 and 6000 (+7 ms); a clock step at 5500 cuts the 5000 sample's reach there.
    events = [
        _sample(1, 0, 3),
        _sample(2, 1000, -40),
        _sample(3, 2000, 0, ok=False),
        _sample(4, 5000, 2),
        Event(5, T1 + 5500 * NS, EV_CLOCK_STEP, None, None, {"step_ns": 2 * NS, "at_ns": T1 + 5500 * NS}),
        _sample(6, 6000, 7),
    ]
    s = summarize(events, [(T1, T1 + 10_000 * NS)], (T1, T1 + 10_000 * NS))
    assert (s.samples, s.failures, s.vouch_s) == (4, 1, 1200.0)
    assert s.worst_offset is not None and (s.worst_offset["offset_ns"], s.worst_offset["seq"]) == (-40_000_000, 2)
    assert s.worst_error_bound_ns == 45_000_000
    assert s.median_offset_ns == 2_500_000
    # vouched: [−1200, 2200] ∪ [3800, 5500] ∪ [5500, 7200] → unsynced 2200–3800 and 7200–10 000
    assert s.unsynced == ((T1 + 2200 * NS, T1 + 3800 * NS), (T1 + 7200 * NS, T1 + 10_000 * NS))
    assert s.unsynced_s == 1600 + 2800
    assert s.max_gap_s == 4000.0  # from the last sample (6000) to the end of the run (10 000)
    assert s.steps == ((T1 + 5500 * NS, 2 * NS),)
    empty = summarize([], [(T1, T1 + 100 * NS)], (T1, T1 + 100 * NS))
    assert (empty.samples, empty.worst_offset, empty.unsynced_s, empty.max_gap_s) == (0, None, 100.0, None)


async def test_a_crashing_query_is_journaled_not_fatal(tmp_path: Path) -> None:
    server = await NtpResponder(offset_s=0.5).start()
    config = loads(
        f'agent: {{data_dir: "{tmp_path}"}}\nntp: {{servers: ["{server.address}", "127.0.0.1:9"], timeout: 1s}}',
        env={},
    )

    async def flaky(address: str, timeout_s: float) -> object:
        if address == "127.0.0.1:9":
            raise RuntimeError("boom")  # a bug in the client, not an NTP failure
        return await query(address, timeout_s)

    writer = JournalWriter(config.journal_path)
    await writer.open()
    try:
        sink = ClockSink(AgentContext(config, Board.for_targets((), 1), writer), config.model.ntp, query_fn=flaky)
        samples = await sink.measure_round()
    finally:
        await writer.aclose()
        server.close()
    assert len(samples) == 1 and sink.synced is True
    with Journal.open(config.journal_path) as journal:
        data = [e.data for e in journal.events([EV_CLOCK_SAMPLE])]
    assert data[1] == {
        "ok": False,
        "server": "127.0.0.1:9",
        "error": "internal: RuntimeError: boom",
        "interval_s": 3600.0,
    }
