"""Restore-deadline reminders (issue 14): 24 h and 1 h before the deadline, then "passed", counted from the
customer's first fault report in the contact log (from the outage's start, saying so, when none is logged).

A notifier runs on a real journal (an open ISP outage and contact-log entries written through the Journal
API) and sends through real Apprise to a ``json://`` receiver on loopback. Each "check" is a fresh notifier
on the same journal (a restart), its wall clock held at a chosen moment: a reminder already sent is never
sent again, because its key is stable and the outbox in the journal remembers it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from helpers import ScriptedJournal
from notify_helpers import FixedClock, Receiver, wait_until

from watchdog.agent.detector import State
from watchdog.agent.sinks import AgentContext
from watchdog.agent.state import Board
from watchdog.agent.writer import JournalWriter
from watchdog.analysis.sla import parse_period
from watchdog.config import Config, loads
from watchdog.documents.report import build_report, report_json
from watchdog.journal.contacts import add_contact
from watchdog.journal.store import Journal
from watchdog.model import NS
from watchdog.notify.sink import NotifySink
from watchdog.timefmt import to_ns
from watchdog.web.data import load_report

MSK = ZoneInfo("Europe/Moscow")
ORIGIN = to_ns(dt.datetime(2026, 11, 1, tzinfo=MSK))
START = to_ns(dt.datetime(2026, 11, 17, 10, 0, tzinfo=MSK))  # the outage; still open
REPORT = to_ns(dt.datetime(2026, 11, 17, 12, 0, tzinfo=MSK))  # my call: 72 h from here is 20 Nov 12:00


def at(day: int, hh: int, mm: int = 0) -> int:
    return to_ns(dt.datetime(2026, 11, day, hh, mm, tzinfo=MSK))


def config_text(data_dir: Path, rx: Receiver, language: str) -> str:
    return f"""
agent: {{id: home-msk-1, timezone: Europe/Moscow, data_dir: "{data_dir}", language: {language}}}
controls:
  lan: [{{name: router, kind: tcp, address: "127.0.0.1:1"}}]
providers:
  - id: isp
    name: HomeNet
    kind: isp
    targets: [{{name: gateway, kind: tcp, address: "127.0.0.1:7"}}]
    sla: {{restore_within: 72h}}
    contacts: {{support_phone: "8 800 000-00-01"}}
notify:
  urls: ["{rx.url()}"]
  digest_at: null
ntp: {{enabled: false}}
"""


Check = Callable[[int], Awaitable[list[tuple[str, str, str]]]]


@pytest.fixture
async def isp_down(tmp_path: Path) -> AsyncIterator[Callable[..., Check]]:
    """``make(language, report=True)`` writes the journal; ``check(now_ns)`` runs one notifier, returns what it sent."""
    rx = Receiver()
    await rx.up()

    seen: set[str] = set()

    def make(
        language: str, *, report: bool = True, start: int = START, report_at: int = REPORT, promised: str = ""
    ) -> Check:
        text = config_text(tmp_path / language, rx, language)
        if promised:  # the contract names no restore time: only the promise on the call does
            text = text.replace("    sla: {restore_within: 72h}\n", "")
        config: Config = loads(text, env={})
        origin = min(ORIGIN, start - 86400 * NS)
        scripted = ScriptedJournal(config.journal_path, config.targets, origin_ns=origin)
        scripted.run(0, None)
        scripted.outage("isp/gateway", (start - origin) / NS - 30, (start - origin) / NS, None, None)
        # HomeNet's own call to me is not my report: the deadline does not run from it
        at_in = start + 3600 * NS
        add_contact(scripted.journal, provider="isp", channel="phone", note="они звонили", direction="in",
                    at_ns=at_in, now_ns=at_in)  # fmt: skip
        if report:
            add_contact(scripted.journal, provider="isp", channel="phone", note="нет интернета", ref="№ 123456",
                        direction="out", at_ns=report_at, now_ns=report_at, promised=promised)  # fmt: skip
        scripted.journal.seal(now_ns=max(report_at, at_in))
        scripted.journal.close()

        async def check(now_ns: int) -> list[tuple[str, str, str]]:
            before = len(rx.received)
            writer = JournalWriter(config.journal_path)
            await writer.open()
            board = Board.for_targets(config.targets, config.quorum)
            board.targets["isp/gateway"].state = State.DOWN
            sink = NotifySink(AgentContext(config, board, writer, "run"), clock=FixedClock(now_ns), tick_s=3600.0)
            await sink.start()
            # the ticker's own first round (it has not run yet) would race the round this check drives
            next(t for t in sink._tasks if t.get_name() == "notify:ticker").cancel()
            try:
                await sink.tick(10**9)
                await sink.outbox.flush()
                await wait_until(lambda: all(not v for v in sink.outbox.pending.values()), 30)
            finally:
                await sink.aclose()
                await writer.aclose()
            out = []
            for r in rx.received[before:]:
                ref = r.body.rsplit(" ", 1)[-1]
                # a message whose answer was lost in transit is sent again under its key ("at least once"): a key
                # heard before is that, never a new reminder; a reminder sent again would need a key of its own
                if ref not in seen:
                    seen.add(ref)
                    out.append((r.title, r.body, ref))
            return out

        check.config = config  # type: ignore[attr-defined]  # the report of the same journal reads it
        return check

    yield make
    await rx.down()


KEY = f"isp/{START}"
FROM_REPORT = {
    "en": [
        (
            "HomeNet: restore due within 24 h (by 20 Nov 12:00 MSK)",
            "HomeNet promised to restore service within 72 h of your fault report (17 Nov 12:00 MSK, ref. 123456): "
            "by 20 Nov 12:00 MSK, in 23 h.\n"
            "Down since 17 Nov 10:00 MSK (2 days 3 h).\n"
            "Emergency desk: 8 800 000-00-01\n"
            "Log each call: watchdog contact add --provider isp --channel phone --note …\n"
            f"— home-msk-1, 13:00 MSK, ref. restore-due/{KEY}/{REPORT}/24h",
        ),
        (
            "HomeNet: restore due within 1 h (by 12:00 MSK)",
            "HomeNet promised to restore service within 72 h of your fault report (17 Nov 12:00 MSK, ref. 123456): "
            "by 12:00 MSK, in 30 min.\n"
            "Down since 17 Nov 10:00 MSK (3 days 1 h).\n"
            "Emergency desk: 8 800 000-00-01\n"
            "Log each call: watchdog contact add --provider isp --channel phone --note …\n"
            f"— home-msk-1, 11:30 MSK, ref. restore-due/{KEY}/{REPORT}/1h",
        ),
        (
            "HomeNet: restore promise broken (72 h promised, 75 h since your report)",
            "HomeNet promised to restore service within 72 h of your fault report (17 Nov 12:00 MSK, ref. 123456); "
            "that ran out at 12:00 MSK, 3 h ago. Down since 17 Nov 10:00 MSK (3 days 5 h).\n"
            "Attributed to HomeNet in 2026-11: 3 days 5 h.\n"
            "Emergency desk: 8 800 000-00-01\n"
            "Keep a record of every call: watchdog contact add --provider isp --channel phone --note …\n"
            f"— home-msk-1, 15:00 MSK, ref. restore/{KEY}/r{REPORT}/0",
        ),
    ],
    "ru": [
        (
            "HomeNet: срок восстановления истекает в течение 24 ч (до 20 нояб. 12:00 МСК)",
            "HomeNet: восстановление обещано за 72 ч с момента вашего обращения (17 нояб. 12:00 МСК, № 123456): "
            "до 20 нояб. 12:00 МСК, осталось 23 ч.\n"
            "Сбой длится с 17 нояб. 10:00 МСК (2 дня 3 ч).\n"
            "Аварийный деск: 8 800 000-00-01\n"
            "Записывайте каждый звонок: watchdog contact add --provider isp --channel phone --note …\n"
            f"— home-msk-1, 13:00 МСК, № restore-due/{KEY}/{REPORT}/24h",
        ),
        (
            "HomeNet: срок восстановления истекает в течение 1 ч (до 12:00 МСК)",
            "HomeNet: восстановление обещано за 72 ч с момента вашего обращения (17 нояб. 12:00 МСК, № 123456): "
            "до 12:00 МСК, осталось 30 мин.\n"
            "Сбой длится с 17 нояб. 10:00 МСК (3 дня 1 ч).\n"
            "Аварийный деск: 8 800 000-00-01\n"
            "Записывайте каждый звонок: watchdog contact add --provider isp --channel phone --note …\n"
            f"— home-msk-1, 11:30 МСК, № restore-due/{KEY}/{REPORT}/1h",
        ),
        (
            "HomeNet: срок восстановления нарушен (72 ч обещано, уже 75 ч с обращения)",
            "HomeNet: восстановление обещано за 72 ч с момента вашего обращения (17 нояб. 12:00 МСК, № 123456); "
            "срок — до 12:00 МСК — истёк 3 ч назад. Сбой длится с 17 нояб. 10:00 МСК (3 дня 5 ч).\n"
            "По вине провайдера за 2026-11: 3 дня 5 ч.\n"
            "Аварийный деск: 8 800 000-00-01\n"
            "Записывайте каждый звонок: watchdog contact add --provider isp --channel phone --note …\n"
            f"— home-msk-1, 15:00 МСК, № restore/{KEY}/r{REPORT}/0",
        ),
    ],
}


@pytest.mark.parametrize("language", ["en", "ru"])
async def test_reminders_count_from_the_report_and_survive_restarts(isp_down, language: str) -> None:
    """Reported 17 Nov 12:00, 72 h promised: due 20 Nov 12:00 (the outage began 10:00; the 11:00 call was theirs)."""
    check = isp_down(language)
    assert await check(at(18, 11)) == []  # 49 h left: nothing yet
    first = await check(at(19, 13))  # 23 h left
    assert [(t, b) for t, b, _ in first] == [FROM_REPORT[language][0]]
    assert await check(at(19, 13, 10)) == []  # a restart: the 24 h reminder is not sent again
    assert [(t, b) for t, b, _ in await check(at(20, 11, 30))] == [FROM_REPORT[language][1]]
    assert await check(at(20, 11, 40)) == []
    assert [(t, b) for t, b, _ in await check(at(20, 15))] == [FROM_REPORT[language][2]]
    assert await check(at(20, 18)) == []  # the same day past the deadline: once
    again = await check(at(21, 12, 5))  # a day past the deadline: once more
    assert [(b.splitlines()[0], ref) for _, b, ref in again] == [(LATER[language], f"restore/{KEY}/r{REPORT}/1")]


LATER = {
    "en": "HomeNet promised to restore service within 72 h of your fault report (17 Nov 12:00 MSK, ref. 123456); "
    "that ran out at 20 Nov 12:00 MSK, 1 day ago. Down since 17 Nov 10:00 MSK (4 days 2 h).",
    "ru": "HomeNet: восстановление обещано за 72 ч с момента вашего обращения (17 нояб. 12:00 МСК, № 123456); "
    "срок — до 20 нояб. 12:00 МСК — истёк 1 день назад. Сбой длится с 17 нояб. 10:00 МСК (4 дня 2 ч).",
}


FROM_START = {
    "en": (
        "HomeNet: restore due within 24 h (by 20 Nov 10:00 MSK)",
        "HomeNet promised to restore service within 72 h: by 20 Nov 10:00 MSK, in 21 h, counted from the outage's "
        "start (no fault report of it is logged).\n"
        "Down since 17 Nov 10:00 MSK (2 days 3 h).\n"
        "Emergency desk: 8 800 000-00-01\n"
        "The time runs from your report: report the fault and log it with watchdog contact add --provider isp "
        "--channel phone --ref … --note …\n"
        f"— home-msk-1, 13:00 MSK, ref. restore-due/{KEY}/{START}/24h",
    ),
    "ru": (
        "HomeNet: срок восстановления истекает в течение 24 ч (до 20 нояб. 10:00 МСК)",
        "HomeNet: восстановление обещано за 72 ч: до 20 нояб. 10:00 МСК, осталось 21 ч — считая от начала сбоя "
        "(обращение о нём не записано).\n"
        "Сбой длится с 17 нояб. 10:00 МСК (2 дня 3 ч).\n"
        "Аварийный деск: 8 800 000-00-01\n"
        "Срок считается от вашего обращения: сообщите о сбое и запишите обращение — watchdog contact add "
        "--provider isp --channel phone --ref … --note …\n"
        f"— home-msk-1, 13:00 МСК, № restore-due/{KEY}/{START}/24h",
    ),
}


@pytest.mark.parametrize("language", ["en", "ru"])
async def test_without_a_report_the_reminder_counts_from_the_start_and_says_so(isp_down, language: str) -> None:
    check = isp_down(language, report=False)
    assert [(t, b) for t, b, _ in await check(at(19, 13))] == [FROM_START[language]]


START_OCT = to_ns(dt.datetime(2026, 10, 31, 22, 0, tzinfo=MSK))  # before the report's period, November
REPORT_OCT = to_ns(dt.datetime(2026, 10, 31, 22, 30, tzinfo=MSK))  # reported before it too: due 3 Nov 22:30


@pytest.mark.parametrize("language", ["en", "ru"])
async def test_an_incident_from_before_the_period_has_one_deadline_in_reminder_and_report(
    isp_down, language: str
) -> None:
    """Down since 31 Oct 22:00, reported 31 Oct 22:30: the November report (and the status page) read the contact
    log from 1 Nov and counted 72 h from the start (due 3 Nov 22:00) while the reminder counted from the report
    (3 Nov 22:30); all three say 22:30 now."""
    check = isp_down(language, start=START_OCT, report_at=REPORT_OCT)
    now = at(3, 21)
    sent = await check(now)
    title = {
        "en": "HomeNet: restore due within 24 h (by 22:30 MSK)",
        "ru": "HomeNet: срок восстановления истекает в течение 24 ч (до 22:30 МСК)",
    }
    assert [(t, ref) for t, _, ref in sent] == [(title[language], f"restore-due/isp/{START_OCT}/{REPORT_OCT}/24h")]
    with Journal.open(check.config.journal_path, create=False, readonly=True) as journal:
        data = report_json(build_report(journal, check.config, "isp", "2026-11", now))
        period = parse_period("2026-11", MSK)
        web = load_report(journal, check.config, check.config.provider("isp"), period, now)  # the status page's
    assert [(i.restore.report_ns, i.restore.due_ns) for i in web.incidents if i.restore] == [
        (REPORT_OCT, to_ns(dt.datetime(2026, 11, 3, 22, 30, tzinfo=MSK)))
    ]
    [incident] = data["incidents"]
    due = to_ns(dt.datetime(2026, 11, 3, 22, 30, tzinfo=MSK))
    assert (incident["restore_from"], incident["restore_report"]["ns"], incident["restore_due"]["ns"]) == (
        "report",
        REPORT_OCT,
        due,
    )
    assert incident["start"]["ns"] == START_OCT
    # the report's contact table lists the report the deadline runs from, though it was made in October
    assert [(c["at_ns"], c["direction"]) for c in data["contacts"]] == [
        (REPORT_OCT, "out"),
        (START_OCT + 3600 * NS, "in"),
    ]


@pytest.mark.parametrize("language", ["en", "ru"])
async def test_a_restore_time_promised_on_the_call_sets_the_reminders(isp_down, language: str) -> None:
    """No restore time in the contract; the operator named 72 h on my call at 12:00 on 17 Nov: the reminders run
    from that promise as they would from the contract's (the same 24 h reminder, the same deadline)."""
    check = isp_down(language, promised="72h")
    assert check.config.provider("isp").sla.restore_within is None
    assert [(t, b) for t, b, _ in await check(at(19, 13))] == [FROM_REPORT[language][0]]
