"""Every notification's exact words, in English and Russian, delivered through real Apprise (json://) to a
real aiohttp receiver on loopback.

The journal is real (scripted through the Journal API), the SLA figures come from the real analysis,
and the outbox is real. Only the notifier's wall clock is held still (``FixedClock``) so that "since 10:32
MSK (12 min)" is the same on every run; the agent's scheduling and Apprise's sending run in real time.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from helpers import ScriptedJournal
from notify_helpers import FixedClock, Receiver, wait_until

from watchdog.agent.detector import State
from watchdog.agent.sinks import AgentContext, AgentEvent, DegradedNotice, OutageNotice
from watchdog.agent.state import Board
from watchdog.agent.writer import JournalWriter
from watchdog.config import Config, loads
from watchdog.journal.store import Journal
from watchdog.model import NS, FailureKind, Outage, Result
from watchdog.notify.deadlines import record_deadline
from watchdog.notify.sink import NotifySink
from watchdog.timefmt import to_ns

MSK = ZoneInfo("Europe/Moscow")
ORIGIN = to_ns(dt.datetime(2026, 11, 1, 0, 0, tzinfo=MSK))  # the agent has run since the month began
NOW = to_ns(dt.datetime(2026, 11, 20, 10, 44, 30, tzinfo=MSK))


def at(day: int, hh: int, mm: int = 0, ss: int = 0) -> int:
    """UTC ns of a Moscow wall-clock time in November 2026."""
    return to_ns(dt.datetime(2026, 11, day, hh, mm, ss, tzinfo=MSK))


def secs(ts_ns: int) -> float:
    """Seconds after ORIGIN (the ScriptedJournal's unit)."""
    return (ts_ns - ORIGIN) / NS


def config_text(
    data_dir: Path,
    rx: Receiver,
    language: str,
    *,
    isp: bool = False,
    extra: str = "",
    digest: str = "null",
    broker_extra: str = "",
) -> str:
    name = "Broker" if language == "en" else "ИТ Инвест"
    isp_block = (
        """
  - id: isp
    name: HomeNet
    kind: isp
    targets: [{name: gateway, kind: tcp, address: "127.0.0.1:7"}]
    contacts: {emergency_phone: "8 800 000-00-01"}
"""
        if isp
        else ""
    )
    return f"""
agent: {{id: home-msk-1, timezone: Europe/Moscow, data_dir: "{data_dir}", language: {language}}}
defaults: {{interval: 10s, timeout: 5s}}
controls:
  lan: [{{name: router, kind: tcp, address: "127.0.0.1:1"}}]
  internet:
    - {{name: cloudflare, kind: tcp, address: "127.0.0.1:2"}}
    - {{name: google, kind: tcp, address: "127.0.0.1:3"}}
    - {{name: quad9, kind: tcp, address: "127.0.0.1:4"}}
  quorum: 2
providers:
  - id: broker
    name: "{name}"
    kind: broker
    targets:
      - {{name: trading, kind: tcp, address: "127.0.0.1:5"}}
      - {{name: cert, kind: tcp, address: "broker.example.ru:443"}}
    sla: {{availability: 99.5, period: month, restore_within: 72h}}
    contacts: {{emergency_phone: "+7 495 000-00-00", support_phone: "+7 495 111-11-11"}}
{broker_extra}
{isp_block}
notify:
  urls: ["{rx.url()}"]
  digest_at: {digest}
{extra}
"""


@dataclass
class Rig:
    """A notifier on a real journal and writer, sending to a real receiver."""

    config: Config
    rx: Receiver
    sink: NotifySink
    board: Board
    clock: FixedClock
    journal_path: Path

    async def received(self, n: int) -> list[tuple[str, str]]:
        await wait_until(lambda: len(self.rx.received) >= n)
        return [(r.title, r.body) for r in self.rx.received]

    def notice(self, event: str, key: str, outage: Outage) -> OutageNotice:
        return OutageNotice(event, outage, self.config.target(key), self.board.line(), outage.id)

    def set_down(self, key: str, outage: Outage | None) -> None:
        status = self.board.targets[key]
        status.state = State.DOWN if outage is not None else State.UP
        status.outage = outage


def healthy_board(config: Config) -> Board:
    board = Board.for_targets(config.targets, config.quorum)
    for key, status in board.targets.items():
        status.state = State.UP
        status.last = Result(key, NOW - 5 * NS, True, 0.01)
    return board


@pytest.fixture
async def make_rig(tmp_path: Path) -> AsyncIterator[object]:
    made: list[tuple[NotifySink, JournalWriter, Receiver]] = []

    async def make(
        language: str,
        script=None,
        *,
        isp: bool = False,
        extra: str = "",
        digest: str = "null",
        broker_extra: str = "",
        now: int = NOW,
    ) -> Rig:
        rx = Receiver()
        await rx.up()
        config = loads(
            config_text(
                tmp_path / language, rx, language, isp=isp, extra=extra, digest=digest, broker_extra=broker_extra
            ),
            env={},
        )
        scripted = ScriptedJournal(config.journal_path, config.targets, origin_ns=ORIGIN)
        scripted.run(0, None)
        if script is not None:
            script(scripted)
        scripted.close()
        writer = JournalWriter(config.journal_path)
        await writer.open()
        board = healthy_board(config)
        clock = FixedClock(now)
        sink = NotifySink(AgentContext(config, board, writer, "run-1"), clock=clock, tick_s=3600.0)
        await sink.start()
        made.append((sink, writer, rx))
        return Rig(config, rx, sink, board, clock, config.journal_path)

    yield make
    for sink, writer, rx in made:
        await sink.aclose()
        await writer.aclose()
        await rx.down()


def trading_outage(oid: int, start: int, end: int | None = None, last_ok: int | None = None) -> Outage:
    return Outage(
        id=oid,
        target="broker/trading",
        start_ns=start,
        start_bounds=(last_ok if last_ok is not None else start - 10 * NS, start),
        confirmed_ns=start + 20 * NS,
        end_ns=end,
        end_bounds=None if end is None else (end - 10 * NS, end),
        failure=FailureKind.CONNECT,
        detail="connect 127.0.0.1:5: Connection refused",
    )


# ------------------------------------------------------------------------------------------ outages

OPENED = {
    "en": (
        "Broker: `trading` unreachable",
        "Broker `trading` unreachable since 10:32 MSK (12 min).\n"
        "Your line is fine: 4/4 controls up.\n"
        "Error: connect 127.0.0.1:5: Connection refused\n"
        "Restore promised within 72 h of your fault report (until you log one, counted from the outage's start: "
        "by 23 Nov 10:32 MSK).\n"
        "Emergency desk: +7 495 000-00-00\n"
        "Meanwhile: use the emergency desk for urgent orders, and note the time and the name of whoever answers.\n"
        "Log each call: watchdog contact add --provider broker --channel phone --note …\n"
        "— home-msk-1, 10:44 MSK, ref. {oid}",
    ),
    "ru": (
        "ИТ Инвест: `trading` недоступен",
        "ИТ Инвест: `trading` недоступен с 10:32 МСК (12 мин).\n"
        "Ваша линия в порядке: контрольные узлы на связи (4/4).\n"
        "Ошибка: connect 127.0.0.1:5: Connection refused\n"
        "Восстановление обещано в течение 72 ч с момента вашего обращения (пока оно не записано — от начала сбоя: "
        "до 23 нояб. 10:32 МСК).\n"
        "Аварийный деск: +7 495 000-00-00\n"
        "Пока: срочные заявки — через аварийный деск; запишите время и имя ответившего.\n"
        "Записывайте каждый звонок: watchdog contact add --provider broker --channel phone --note …\n"
        "— home-msk-1, 10:44 МСК, № {oid}",
    ),
}

CLOSED = {
    "en": (
        "Broker: `trading` back up",
        "Broker `trading` is back: down 10:32:05–10:44:12 MSK (12 min).\n"
        "Attributed to Broker: 12 min (your line verified working).\n"
        "This month so far: 12 min of provider downtime (availability 99.95% over 19 days 10 h measured); "
        "the SLA (99.5%) allows 3 h 36 min for the whole month.\n"
        "— home-msk-1, 10:44 MSK, ref. {oid}",
    ),
    "ru": (
        "ИТ Инвест: `trading` снова работает",
        "ИТ Инвест: `trading` снова работает; сбой 10:32:05–10:44:12 МСК (12 мин).\n"
        "По вине провайдера: 12 мин (ваша линия работала).\n"
        "В этом месяце: простой по вине провайдера 12 мин (доступность 99,95% за 19 дней 10 ч наблюдения); "
        "SLA (99,5%) допускает 3 ч 36 мин за весь месяц.\n"
        "— home-msk-1, 10:44 МСК, № {oid}",
    ),
}


@pytest.mark.parametrize("language", ["en", "ru"])
async def test_outage_opened_and_closed(make_rig, language: str) -> None:
    start, end = at(20, 10, 32, 5), at(20, 10, 44, 12)
    ids: dict[str, int] = {}

    def script(j: ScriptedJournal) -> None:
        ids["trading"] = j.outage("broker/trading", secs(start) - 10, secs(start), secs(end) - 10, secs(end))

    rig = await make_rig(language, script)
    oid = ids["trading"]
    await rig.sink.on_outage(rig.notice("opened", "broker/trading", trading_outage(oid, start)))
    await rig.sink.on_outage(rig.notice("closed", "broker/trading", trading_outage(oid, start, end)))
    got = await rig.received(2)
    assert got[0] == (OPENED[language][0], OPENED[language][1].format(oid=oid))
    assert got[1] == (CLOSED[language][0], CLOSED[language][1].format(oid=oid))
    assert [r.payload["type"] for r in rig.rx.received] == ["failure", "success"]
    assert set(rig.rx.received[0].payload) == {"version", "title", "message", "attachments", "type"}


async def test_outage_while_the_customers_line_is_down_names_the_failed_controls(make_rig) -> None:
    rig = await make_rig("en")
    for key in ("internet/cloudflare", "internet/google"):
        rig.board.targets[key].last = Result(key, NOW - NS, False, 5.0, FailureKind.TIMEOUT)
    start = at(20, 10, 40)
    await rig.sink.on_outage(rig.notice("opened", "broker/trading", trading_outage(77, start)))
    ((title, body),) = await rig.received(1)
    assert title == "Broker: `trading` unreachable"
    assert body == (
        "Broker `trading` unreachable since 10:40 MSK (4 min).\n"
        "Your own line is down too (cloudflare, google failed): this may well not be Broker's fault.\n"
        "Error: connect 127.0.0.1:5: Connection refused\n"
        "Restore promised within 72 h of your fault report (until you log one, counted from the outage's start: "
        "by 23 Nov 10:40 MSK).\n"
        "Emergency desk: +7 495 000-00-00\n"
        "— home-msk-1, 10:44 MSK, ref. 77"
    )


async def test_outage_in_announced_maintenance_and_outside_service_hours(make_rig) -> None:
    broker_extra = """    service_hours: {days: Mon-Fri, from: "07:00", to: "23:50"}
    maintenance: [{from: "2026-11-21 02:00", to: "2026-11-21 04:00", note: "announced on the broker's site"}]"""
    rig = await make_rig("en", broker_extra=broker_extra, now=at(21, 2, 34, 30))  # a Saturday night
    await rig.sink.on_outage(rig.notice("opened", "broker/trading", trading_outage(88, at(21, 2, 30))))
    ((title, body),) = await rig.received(1)
    assert title == "Broker: `trading` unreachable"
    assert body.splitlines()[3:5] == [
        "It is inside maintenance Broker announced (02:00:00–04:00:00 MSK: announced on the broker's site): "
        "by the contract it does not count against the SLA.",
        "It is outside the service hours: recorded, but not counted against the SLA.",
    ]
    assert body.endswith("— home-msk-1, 02:34 MSK, ref. 88")


# ------------------------------------------------------------------------------------- the line

LINE = {
    "en": [
        (
            "Your internet line is down",
            "Your internet line is down since 10:30 MSK (14 min): 2/3 internet controls fail (quorum 2).\n"
            "Failing: cloudflare, google.\n"
            "Outages of your providers meanwhile are recorded as your line's, not theirs.\n"
            "Written when it happened; if your line was down, it was sent once the line was back.\n"
            "— home-msk-1, 10:44 MSK, ref. line-down/{a}",
        ),
        (
            "Your line is back",
            "Your line is back: down 10:30:00–10:51:00 MSK (21 min).\n— home-msk-1, 10:52 MSK, ref. line-up/{a}",
        ),
    ],
    "ru": [
        (
            "Не работает ваша интернет-линия",
            "Ваша интернет-линия не работает с 10:30 МСК (14 мин): не отвечают 2/3 интернет-узлов (кворум 2).\n"
            "Не отвечают: cloudflare, google.\n"
            "Сбои ваших провайдеров в это время записываются на вашу линию, а не на них.\n"
            "Сообщение составлено в момент сбоя; если линия не работала, оно ушло, когда она заработала.\n"
            "— home-msk-1, 10:44 МСК, № line-down/{a}",
        ),
        (
            "Ваша линия снова работает",
            "Ваша линия снова работает; сбой 10:30:00–10:51:00 МСК (21 мин).\n— home-msk-1, 10:52 МСК, № line-up/{a}",
        ),
    ],
}


def control_outage(key: str, oid: int, start: int, end: int | None = None) -> Outage:
    return Outage(
        oid, key, start, (start - 10 * NS, start), start + 20 * NS, end, None if end is None else (end - 10 * NS, end)
    )


@pytest.mark.parametrize("language", ["en", "ru"])
async def test_customer_line_down_and_back(make_rig, language: str) -> None:
    rig = await make_rig(language)
    a = control_outage("internet/cloudflare", 501, at(20, 10, 30))
    b = control_outage("internet/google", 502, at(20, 10, 31))
    rig.set_down(a.target, a)
    await rig.sink.on_outage(rig.notice("opened", a.target, a))  # 1 of 3 down: quorum 2 still met
    rig.set_down(b.target, b)
    await rig.sink.on_outage(rig.notice("opened", b.target, b))  # quorum lost: the line is down
    await rig.received(1)
    rig.clock.now_ns = at(20, 10, 52)
    b_closed = control_outage(b.target, 502, b.start_ns, at(20, 10, 51))
    rig.set_down(b.target, None)
    await rig.sink.on_outage(rig.notice("closed", b.target, b_closed))
    got = await rig.received(2)
    assert got == [(t, body.format(a=501)) for t, body in LINE[language]]


async def test_isp_outage_is_worded_as_the_isps(make_rig) -> None:
    rig = await make_rig("en", isp=True)
    for i, key in enumerate(("internet/cloudflare", "internet/google", "internet/quad9")):
        o = control_outage(key, 600 + i, at(20, 10, 30 + i))
        rig.set_down(key, o)
        await rig.sink.on_outage(rig.notice("opened", key, o))
    ((title, body),) = await rig.received(1)
    assert title == "HomeNet: internet down"
    assert body == (
        "HomeNet: no internet since 10:30 MSK (14 min): 2/3 internet controls fail while your router answers.\n"
        "Failing: cloudflare, google.\n"
        "This counts against HomeNet.\n"
        "HomeNet emergency desk: 8 800 000-00-01\n"
        "Written when it happened; if your line was down, it was sent once the line was back.\n"
        "— home-msk-1, 10:44 MSK, ref. line-down/600"
    )


async def test_internet_down_waits_for_the_router_before_blaming_the_isp(make_rig) -> None:
    """When the whole line drops at once the router may not have been probed since: no verdict until it is."""
    rig = await make_rig("en", isp=True)
    start = at(20, 10, 30)
    router = rig.board.targets["lan/router"]
    router.last = Result("lan/router", start - 5 * NS, True, 0.01)  # its last answer predates the trouble
    for i, key in enumerate(("internet/cloudflare", "internet/google")):
        o = control_outage(key, 700 + i, start + i * NS)
        rig.set_down(key, o)
        await rig.sink.on_outage(rig.notice("opened", key, o))
    await asyncio.sleep(0.5)
    assert rig.rx.received == []  # quorum lost, but the router has not answered since: not the ISP yet
    # the router is probed now and fails: its outage opens, and the message is about the customer's own line
    failed = Result("lan/router", start + 3 * NS, False, 0.5, FailureKind.CONNECT, "connect: refused")
    router.last = failed
    await rig.sink.on_result(failed, None)
    assert rig.rx.received == []
    lan = control_outage("lan/router", 710, start + 3 * NS)
    rig.set_down("lan/router", lan)
    await rig.sink.on_outage(rig.notice("opened", "lan/router", lan))
    ((title, body),) = await rig.received(1)
    assert title == "Your home network is down"
    assert "This counts against HomeNet" not in body


async def test_internet_down_with_the_router_answering_since_is_the_isps(make_rig) -> None:
    rig = await make_rig("en", isp=True)
    start = at(20, 10, 30)
    router = rig.board.targets["lan/router"]
    router.last = Result("lan/router", start - 5 * NS, True, 0.01)
    for i, key in enumerate(("internet/cloudflare", "internet/google")):
        o = control_outage(key, 720 + i, start + i * NS)
        rig.set_down(key, o)
        await rig.sink.on_outage(rig.notice("opened", key, o))
    answered = Result("lan/router", start + 4 * NS, True, 0.01)
    router.last = answered
    await rig.sink.on_result(answered, None)
    ((title, body),) = await rig.received(1)
    assert title == "HomeNet: internet down"
    assert "This counts against HomeNet." in body


# ------------------------------------------------------------------------------------- flapping

FLAP = {
    "en": (
        "Broker: `trading` flapping",
        "Broker `trading` went down 2 more times between 10:00 MSK and 10:30 MSK: "
        "21 min down in total, the longest 20 min.\n"
        "Down: 10:05:00–10:05:40 MSK, since 10:10 MSK.\n"
        "Now: down since 10:10 MSK; you will hear when it is back.\n"
        "These outages are all in the journal: watchdog outages --provider broker\n"
        "— home-msk-1, 10:30 MSK, ref. {ref}",
    ),
    "ru": (
        "ИТ Инвест: `trading` то работает, то нет",
        "ИТ Инвест: `trading` падал ещё 2 раза с 10:00 МСК до 10:30 МСК: всего 21 мин простоя, дольше всего 20 мин.\n"
        "Сбои: 10:05:00–10:05:40 МСК, с 10:10 МСК.\n"
        "Сейчас: не работает с 10:10 МСК; сообщим, когда заработает.\n"
        "Все эти сбои есть в журнале: watchdog outages --provider broker\n"
        "— home-msk-1, 10:30 МСК, № {ref}",
    ),
}


@pytest.mark.parametrize("language", ["en", "ru"])
async def test_flapping_is_folded_into_one_summary(make_rig, language: str) -> None:
    a = trading_outage(1001, at(20, 10, 0), at(20, 10, 1))
    b = trading_outage(1002, at(20, 10, 5), at(20, 10, 5, 40))
    c = trading_outage(1003, at(20, 10, 10))
    rig = await make_rig(language)
    window_start = a.start_ns + 20 * NS
    for event, o in [("opened", a), ("closed", a), ("opened", b), ("closed", b), ("opened", c)]:
        rig.clock.now_ns = (o.start_ns if event == "opened" else o.end_ns) + 20 * NS
        await rig.sink.on_outage(rig.notice(event, "broker/trading", o if event == "closed" else replace_open(o)))
    rig.clock.now_ns = at(20, 10, 30, 30)
    await rig.sink.tick(10**9)
    await rig.received(3)
    rig.clock.now_ns = at(20, 10, 40, 20)
    await rig.sink.on_outage(rig.notice("closed", "broker/trading", trading_outage(1003, c.start_ns, at(20, 10, 40))))
    await rig.received(4)
    ref = f"flap/broker/trading/{window_start}"
    assert rig.rx.refs() == ["outage-open/1001", "outage-close/1001", ref, "outage-close/1003"]
    summary = rig.rx.received[2]
    assert (summary.title, summary.body) == (FLAP[language][0], FLAP[language][1].format(ref=ref))


def replace_open(o: Outage) -> Outage:
    return Outage(o.id, o.target, o.start_ns, o.start_bounds, o.confirmed_ns, failure=o.failure, detail=o.detail)


# ---------------------------------------------------------------------------------- SLA and promises

BREACH = {
    "en": (
        "Broker: SLA breached for 2026-11",
        "Broker has broken its SLA for 2026-11: 4 h 12 min of provider downtime so far, "
        "more than the 3 h 36 min that 99.5% allows for the whole month.\n"
        "Availability so far: 99.09% over 19 days 10 h measured.\n"
        "Report and compensation: watchdog report --provider broker --period 2026-11\n"
        "— home-msk-1, 10:44 MSK, ref. sla-breach/broker/2026-11",
    ),
    "ru": (
        "ИТ Инвест: SLA за 2026-11 нарушен",
        "ИТ Инвест: SLA за 2026-11 нарушен: простой по вине провайдера уже 4 ч 12 мин — "
        "больше 3 ч 36 мин, которые 99,5% допускает за весь месяц.\n"
        "Доступность пока: 99,09% за 19 дней 10 ч наблюдения.\n"
        "Отчёт и компенсация: watchdog report --provider broker --period 2026-11\n"
        "— home-msk-1, 10:44 МСК, № sla-breach/broker/2026-11",
    ),
}


@pytest.mark.parametrize("language", ["en", "ru"])
async def test_sla_breached_this_period(make_rig, language: str) -> None:
    start, end = at(20, 10, 32, 5), at(20, 10, 44, 12)
    ids: dict[str, int] = {}

    def script(j: ScriptedJournal) -> None:
        j.outage(
            "broker/trading", secs(at(10, 8, 0)) - 10, secs(at(10, 8, 0)), secs(at(10, 12, 0)) - 10, secs(at(10, 12, 0))
        )
        ids["now"] = j.outage("broker/trading", secs(start) - 10, secs(start), secs(end) - 10, secs(end))

    rig = await make_rig(language, script)
    await rig.sink.on_outage(rig.notice("closed", "broker/trading", trading_outage(ids["now"], start, end)))
    got = await rig.received(2)
    breached_line = {
        "en": "That is more than the SLA allows: it is breached for 2026-11.",
        "ru": "Это больше, чем допускает SLA: нарушение за 2026-11.",
    }
    assert breached_line[language] in got[0][1].splitlines()
    assert got[1] == BREACH[language]
    await rig.sink.tick(10**9)  # a later check finds the same breach: it is not told twice
    assert len(rig.rx.received) == 2


RESTORE = {
    "en": (
        "Broker: restore promise broken (72 h promised, 80 h now)",
        "Broker promised to restore service within 72 h; it has been down 3 days 8 h now (since 17 Nov 02:44 MSK).\n"
        "Counted from the outage's start: no fault report of it is logged.\n"
        "Attributed to Broker in 2026-11: 3 days 8 h.\n"
        "Emergency desk: +7 495 000-00-00\n"
        "Keep a record of every call: watchdog contact add --provider broker --channel phone --note …\n"
        "— home-msk-1, 10:44 MSK, ref. {ref}",
    ),
    "ru": (
        "ИТ Инвест: срок восстановления нарушен (72 ч обещано, уже 80 ч)",
        "ИТ Инвест: восстановление обещано за 72 ч, а простой длится уже 3 дня 8 ч (с 17 нояб. 02:44 МСК).\n"
        "Срок считается от начала сбоя: обращение о нём не записано.\n"
        "По вине провайдера за 2026-11: 3 дня 8 ч.\n"
        "Аварийный деск: +7 495 000-00-00\n"
        "Записывайте каждый звонок: watchdog contact add --provider broker --channel phone --note …\n"
        "— home-msk-1, 10:44 МСК, № {ref}",
    ),
}


@pytest.mark.parametrize("language", ["en", "ru"])
async def test_restore_within_exceeded(make_rig, language: str) -> None:
    start = NOW - 80 * 3600 * NS
    ids: dict[str, int] = {}

    def script(j: ScriptedJournal) -> None:
        ids["o"] = j.outage("broker/trading", secs(start) - 10, secs(start), None, None)

    rig = await make_rig(language, script)
    rig.set_down("broker/trading", trading_outage(ids["o"], start))
    await rig.sink.tick(10**9)
    got = await rig.received(2)
    ref = f"restore/broker/{start}/0"
    assert rig.rx.refs() == ["sla-breach/broker/2026-11", ref]
    assert got[1] == (RESTORE[language][0], RESTORE[language][1].format(ref=ref))
    await rig.sink.tick(2 * 10**9)  # still the same day past the promise: nothing new
    assert len(rig.rx.received) == 2


# ------------------------------------------------------------------------------------- expiry

TLS = {
    "en": (
        "Broker: certificate expires in 10 days",
        "The TLS certificate of broker.example.ru:443 (Broker `cert`) expires on 30 November 2026 at 20:20 MSK, "
        "in 10 days.\n"
        "If it is not renewed by then, the service stops working for you that day: tell Broker.\n"
        "Support: +7 495 111-11-11\n"
        "— home-msk-1, 10:44 MSK, ref. tls/broker/cert/2026-11-30/14d",
    ),
    "ru": (
        "ИТ Инвест: сертификат истекает через 10 дней",
        "TLS-сертификат broker.example.ru:443 (ИТ Инвест `cert`) истекает 30 ноября 2026 в 20:20 МСК, через 10 дней.\n"
        "Если его не продлят, сервис в этот день перестанет у вас работать: сообщите провайдеру (ИТ Инвест).\n"
        "Поддержка: +7 495 111-11-11\n"
        "— home-msk-1, 10:44 МСК, № tls/broker/cert/2026-11-30/14d",
    ),
}


@pytest.mark.parametrize("language", ["en", "ru"])
async def test_tls_certificate_expiring(make_rig, language: str) -> None:
    rig = await make_rig(language)

    def cert_result(days_left: float) -> Result:
        not_after = NOW / NS + 10.4 * 86400
        return Result("broker/cert", NOW, True, 0.05, metrics={"days_left": days_left, "not_after_ts": not_after})

    await rig.sink.on_result(cert_result(10.4), 1)
    await rig.sink.on_result(cert_result(10.3), 2)  # the same step (14 days): told once
    got = await rig.received(1)
    assert got == [TLS[language]]
    await rig.sink.on_result(cert_result(6.5), 3)  # the next step (7 days)
    await rig.received(2)
    assert rig.rx.refs() == ["tls/broker/cert/2026-11-30/14d", "tls/broker/cert/2026-11-30/7d"]


REMINDER = {
    "en": (
        'reminders: [{name: "Bank card", date: 2026-11-27, days_before: [30, 7, 1], note: "Order a new card."}]',
        "Reminder: Bank card in 7 days",
        "Bank card: 27 November 2026, in 7 days.\nOrder a new card.\n"
        "— home-msk-1, 10:44 MSK, ref. reminder/bank-card/2026-11-27/7d",
    ),
    "ru": (
        'reminders: [{name: "Банковская карта", date: 2026-11-27, days_before: [30, 7, 1], note: "Закажите новую."}]',
        "Напоминание: Банковская карта — через 7 дней",
        "Банковская карта: 27 ноября 2026, через 7 дней.\nЗакажите новую.\n"
        "— home-msk-1, 10:44 МСК, № reminder/банковская-карта/2026-11-27/7d",
    ),
}


@pytest.mark.parametrize("language", ["en", "ru"])
async def test_reminder(make_rig, language: str) -> None:
    extra, title, body = REMINDER[language]
    rig = await make_rig(language, extra=extra)
    await rig.sink.tick(10**9)
    assert await rig.received(1) == [(title, body)]


COMPLAINT = {
    "en": (
        "Broker: answer to your complaint due in 3 days",
        "Broker must answer your complaint Ж-17 of 24 October 2026 by 23 November 2026: 3 days left.\n"
        "No answer by then: escalate as your complaint draft says (regulator, ombudsman or court), "
        "and log it: watchdog contact add --provider broker --channel email --note …\n"
        "— home-msk-1, 10:44 MSK, ref. complaint-answer/complaint-ж-17/2026-11-23/3d",
    ),
    "ru": (
        "ИТ Инвест: ответ на претензию — через 3 дня",
        "Срок ответа на вашу претензию Ж-17 от 24 октября 2026 (ИТ Инвест) — 23 ноября 2026, через 3 дня.\n"
        "Если ответа не будет: действуйте, как сказано в проекте претензии (регулятор, омбудсмен или суд), "
        "и запишите это: watchdog contact add --provider broker --channel email --note …\n"
        "— home-msk-1, 10:44 МСК, № complaint-answer/complaint-ж-17/2026-11-23/3d",
    ),
}


@pytest.mark.parametrize("language", ["en", "ru"])
async def test_complaint_answer_deadline_declared_in_the_journal(make_rig, language: str) -> None:
    def script(j: ScriptedJournal) -> None:
        record_deadline(
            j.journal,
            kind="complaint_answer",
            name="complaint Ж-17",
            date=dt.date(2026, 11, 23),
            provider="broker",
            ref="Ж-17",
            sent=dt.date(2026, 10, 24),
        )

    rig = await make_rig(language, script)
    await rig.sink.tick(10**9)
    assert await rig.received(1) == [COMPLAINT[language]]


# ------------------------------------------------------------------------------------- digest

DIGEST = {
    "en": (
        "Daily report 20 November 2026",
        "Daily report, 20 November 2026 10:44 MSK (home-msk-1).\n"
        "Broker: 1 h 12 min of provider downtime in 2026-11, availability 99.74% over 19 days 10 h measured "
        "(SLA 99.5% allows 3 h 36 min); now down.\n"
        "Open outages: Broker `trading` since 10:32 MSK (12 min).\n"
        "Your line now: 4/4 controls up.\n"
        "Journal chain head: block {block}, row {row}, sealed 1 Nov 00:00 MSK:\n"
        "{hash}\n"
        "Keep this message: it is your own dated copy. Later, watchdog verify --journal --head <that hash> "
        "shows that nothing up to it was removed or changed.\n"
        "— home-msk-1, 10:44 MSK, ref. digest/2026-11-20",
    ),
    "ru": (
        "Ежедневный отчёт 20 ноября 2026",
        "Ежедневный отчёт, 20 ноября 2026 10:44 МСК (home-msk-1).\n"
        "ИТ Инвест: простой по вине провайдера 1 ч 12 мин за 2026-11, доступность 99,74% за 19 дней 10 ч наблюдения "
        "(SLA 99,5% допускает 3 ч 36 мин); сейчас не работает.\n"
        "Открытые сбои: ИТ Инвест `trading` с 10:32 МСК (12 мин).\n"
        "Ваша линия сейчас: контрольные узлы на связи (4/4).\n"
        "Вершина цепочки журнала: блок {block}, строка {row}, запечатан 1 нояб. 00:00 МСК:\n"
        "{hash}\n"
        "Сохраните это сообщение: это ваша собственная датированная копия. Позже команда watchdog verify "
        "--journal --head <этот хеш> покажет, что до этого места ничего не удалено и не изменено.\n"
        "— home-msk-1, 10:44 МСК, № digest/2026-11-20",
    ),
}


@pytest.mark.parametrize("language", ["en", "ru"])
async def test_daily_digest_carries_the_chain_head(make_rig, language: str) -> None:
    start = at(20, 10, 32, 5)
    ids: dict[str, int] = {}

    def script(j: ScriptedJournal) -> None:
        j.outage("broker/trading", secs(at(10, 8)) - 10, secs(at(10, 8)), secs(at(10, 9)) - 10, secs(at(10, 9)))
        ids["open"] = j.outage("broker/trading", secs(start) - 10, secs(start), None, None)

    rig = await make_rig(language, script, digest='"09:00"')
    rig.set_down("broker/trading", trading_outage(ids["open"], start))
    await rig.sink.tick(10**9)
    with Journal.open(rig.journal_path, create=False, readonly=True) as journal:
        head = journal.head()
    assert head is not None
    title, body = DIGEST[language]
    assert await rig.received(1) == [(title, body.format(block=head.block, row=head.last_seq, hash=head.hash))]
    await rig.sink.tick(2 * 10**9)  # one digest a day
    assert len(rig.rx.received) == 1


# ------------------------------------------------------------------------------------- the agent


async def test_journal_failing_and_recovered(make_rig) -> None:
    rig = await make_rig("en")
    await rig.sink.on_agent(AgentEvent("journal_failing", {"message": "OperationalError: database or disk is full"}))
    rig.clock.now_ns = NOW + 300 * NS
    await rig.sink.on_agent(AgentEvent("journal_recovered", {"message": "journal writable again"}))
    assert await rig.received(2) == [
        (
            "Watchdog: the journal cannot be written",
            "Since 10:44 MSK the agent cannot write its journal: OperationalError: database or disk is full.\n"
            "Results are held in memory (up to 100,000) and written as soon as it works again. "
            "Free disk space on the agent's machine.\n"
            f"— home-msk-1, 10:44 MSK, ref. journal-failing/{NOW}",
        ),
        (
            "Watchdog: the journal works again",
            "The journal can be written again since 10:49 MSK (it failed for 5 min). Results held meanwhile are "
            "written; a gap, if any, is recorded in the journal.\n"
            f"— home-msk-1, 10:49 MSK, ref. journal-recovered/{NOW + 300 * NS}",
        ),
    ]


RESTARTED = {
    "en": (
        "Watchdog restarted after an unclean stop",
        "The agent stopped without warning (power cut, crash or reboot) and started again at 10:44 MSK.\n"
        "No data for 02:13:00–10:44:30 MSK (8 h 31 min): that time counts as no data, never as up or down.\n"
        "— home-msk-1, 10:44 MSK, ref. restarted/run-2",
    ),
    "ru": (
        "Watchdog перезапущен после аварийной остановки",
        "Агент остановился без предупреждения (отключение питания, сбой или перезагрузка) "
        "и снова запущен в 10:44 МСК.\n"
        "Нет данных за 02:13:00–10:44:30 МСК (8 ч 31 мин): это время не считается ни работой, ни простоем.\n"
        "— home-msk-1, 10:44 МСК, № restarted/run-2",
    ),
}


@pytest.mark.parametrize("language", ["en", "ru"])
async def test_restart_after_an_unclean_stop(make_rig, language: str) -> None:
    rig = await make_rig(language)
    await rig.sink.on_agent(
        AgentEvent("started", {"run": "run-2", "recovered": {"run": "run-1", "last_ns": at(20, 2, 13)}})
    )
    assert await rig.received(1) == [RESTARTED[language]]


EXPORTER = {
    "en": [
        (
            "Watchdog: InfluxDB export failing",
            "Since 10:44 MSK the agent cannot write to InfluxDB (1,204 rows waiting). Grafana falls behind; "
            "nothing is lost: the rows stay in the journal and go out when InfluxDB answers.",
        ),
        (
            "Watchdog: InfluxDB export works again",
            "InfluxDB answers again after 12 min; 1,204 waiting rows are being sent now.",
        ),
        (
            "Watchdog: InfluxDB refused the agent's credentials",
            "InfluxDB refused the agent's token or password (HTTP 401): export stopped. Fix influxdb.token "
            "(or username/password) and restart the agent; the rows stay in the journal.",
        ),
        (
            "Watchdog: InfluxDB bucket or database missing",
            "InfluxDB has no such bucket or database: export is retried, the rows stay in the journal. "
            "Create it, or fix influxdb.bucket / influxdb.database.",
        ),
        (
            "Watchdog: InfluxDB refused 3 points",
            "InfluxDB refused 3 points (HTTP 400); they are kept aside (the dead-letter table) and the rows stay "
            "in the journal.",
        ),
    ],
    "ru": [
        (
            "Watchdog: экспорт в InfluxDB не работает",
            "С 10:44 МСК агент не может писать в InfluxDB (ждут отправки строк: 1\u00a0204). Grafana отстаёт; "
            "ничего не теряется: строки остаются в журнале и уйдут, когда InfluxDB ответит.",
        ),
        (
            "Watchdog: экспорт в InfluxDB снова работает",
            "InfluxDB снова отвечает после 12 мин перерыва; отправляются накопившиеся строки: 1\u00a0204.",
        ),
        (
            "Watchdog: InfluxDB не принял учётные данные агента",
            "InfluxDB отклонил токен или пароль агента (HTTP 401): экспорт остановлен. Исправьте influxdb.token "
            "(или username/password) и перезапустите агента; строки остаются в журнале.",
        ),
        (
            "Watchdog: в InfluxDB нет такого bucket или базы",
            "В InfluxDB нет такого bucket или базы данных: экспорт повторяется, строки остаются в журнале. "
            "Создайте их или исправьте influxdb.bucket / influxdb.database.",
        ),
        (
            "Watchdog: InfluxDB отклонил 3 точки",
            "InfluxDB отклонил 3 точки (HTTP 400); они отложены (таблица dead-letter), строки остаются в журнале.",
        ),
    ],
}


@pytest.mark.parametrize("language", ["en", "ru"])
async def test_influx_exporter_alerts(make_rig, language: str) -> None:
    """The exporter (issue 5) raises these AgentEvents through AgentContext.publish; shapes as it sends them."""
    events = [
        AgentEvent("influx_export_failing", {"exporter": "influx", "error": "HTTP 503", "backlog_rows": 1204}),
        AgentEvent("influx_export_recovered", {"exporter": "influx", "down_s": 735.2, "backlog_rows": 1204}),
        AgentEvent("influx_auth_failed", {"exporter": "influx", "url": "http://127.0.0.1:8086", "status": 401}),
        AgentEvent("influx_destination_missing", {"exporter": "influx", "url": "http://127.0.0.1:8086"}),
        AgentEvent("influx_dead_letters", {"exporter": "influx", "points": 3, "seqs": [4, 5], "status": 400}),
    ]
    rig = await make_rig(language)
    for i, event in enumerate(events):
        rig.clock.now_ns = NOW + i * NS  # distinct keys, same minute
        await rig.sink.on_agent(event)
    got = await rig.received(len(events))
    footer = {"en": "— home-msk-1, 10:44 MSK, ref. ", "ru": "— home-msk-1, 10:44 МСК, № "}[language]
    assert [(t, b.rsplit("\n", 1)[0]) for t, b in got] == EXPORTER[language]
    assert [b.rsplit("\n", 1)[1] for _, b in got] == [
        f"{footer}{e.type.replace('_', '-')}/{NOW + i * NS}" for i, e in enumerate(events)
    ]


# ----------------------------------------------------------------------------------------- degraded

DEGRADED_LINE = {  # (which controls are over their own limits) -> the second line of "degraded", en and ru
    "clean": (
        (),
        "Your line is clean (LAN 1/1, internet 3/3): this is Broker's.",
        "Ваша линия в порядке (LAN 1/1, интернет 3/3): это на стороне провайдера.",
    ),
    "customer_line": (
        ("internet/cloudflare", "internet/google"),
        "Your own line is degraded too (cloudflare, google over their limits or down): this may well not be Broker's.",
        "Ваша собственная линия тоже работает плохо (хуже предела или не отвечают: cloudflare, google):"
        " возможно, провайдер не виноват.",
    ),
    "inconclusive": (
        ("lan/router",),
        "Your line cannot be confirmed clean right now: LAN 0/1, internet 3/3 within limits (quorum 2).",
        "Состояние вашей линии сейчас неясно: в пределах нормы LAN 0/1, интернет 3/3 (кворум 2).",
    ),
}


@pytest.mark.parametrize("language", ["en", "ru"])
@pytest.mark.parametrize("situation", sorted(DEGRADED_LINE))
async def test_degraded_opened_reads_the_controls_degradation_not_only_their_answers(
    make_rig, language: str, situation: str
) -> None:
    """A provider target over its latency limit while the customer's own controls are over theirs: the controls
    answer (the agent's up/down line reads 4/4), but a degraded control is not a clean one (as in the reports'
    attribution), so the slowness is not blamed on the provider."""
    degraded, en, ru = DEGRADED_LINE[situation]
    rig = await make_rig(language)
    for key in degraded:
        rig.board.targets[key].degraded = ("latency",)
    start = at(20, 10, 40)
    window = Outage(91, "broker/trading", start, (start - 10 * NS, start), start + 20 * NS, limit="latency")
    line = rig.board.line()  # what the agent hands over: every control answered
    assert (line.lan_up, line.internet_up) == (1, 3)
    notice = DegradedNotice("opened", window, rig.config.target("broker/trading"), line, 91, 0.3, 0.15)
    await rig.sink.on_degraded(notice)
    ((title, body),) = await rig.received(1)
    first = {
        "en": "Broker `trading` answers, but worse than its limit since 10:40 MSK: latency 300 ms over 150 ms.",
        "ru": "ИТ Инвест: `trading` отвечает, но хуже предела с 10:40 МСК: задержка 300 мс при пределе 150 мс.",
    }[language]
    assert (
        title
        == {"en": "Broker: `trading` degraded (latency)", "ru": "ИТ Инвест: `trading` работает хуже нормы (задержка)"}[
            language
        ]
    )
    assert body.splitlines()[:2] == [first, en if language == "en" else ru]
