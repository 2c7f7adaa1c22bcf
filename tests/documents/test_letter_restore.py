"""The restore deadline a letter states: counted from the customer's first fault report of the outage when the
contact log has one, from the outage's start (and saying so) when it has none; the claims count the same way.

Seed 004 (tests/complaint_cases.py): no internet from Fri 2 Oct 2026 20:15 MSK to Sat 10 Oct 18:45, 72 h
promised, a 600 ₽ monthly fee; the journal is scripted through the real Journal and analysis.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest
from complaint_cases import INTERNET, ISP_CONFIG, MSK, Case, _case, isp_case
from helpers import ScriptedJournal

from watchdog.documents.compensation.values import ContactEntry
from watchdog.documents.letter.rendering import render
from watchdog.errors import NothingToClaim
from watchdog.timefmt import to_ns

NB = "\xa0"
SENT = dt.date(2026, 11, 2)


def call(day: int, hh: int, mm: int, direction: str = "out", ref: str = "") -> ContactEntry:
    return ContactEntry(to_ns(dt.datetime(2026, 10, day, hh, mm, tzinfo=MSK)), "phone", ref, "нет интернета", direction)


# the operator's own call at 20:30 is not my report; my call at 20:45 is; a second call the next day changes nothing
CALLS = (call(2, 20, 30, "in"), call(2, 20, 45, ref="123456"), call(3, 10, 0, ref="123457"))

FROM_REPORT = {
    "ru": (
        "О неисправности я сообщил по телефону 02.10.2026 в 20:45 МСК, обращение №\xa0123456.\n"
        f"Срок восстановления услуги по договору — 72{NB}ч. По перерыву № 1 срок отсчитывается от моего первого "
        "обращения о нём (02.10.2026 в 20:45 МСК) и истёк 05.10.2026 в 20:45 МСК, а услуга восстановлена только "
        f"10.10.2026 в 18:45 МСК — с опозданием на 4{NB}суток 22{NB}ч.\n"
    ),
    "en": (
        "I reported the fault by phone on 2 Oct 2026 at 20:45 MSK, ref.\xa0123456.\n"
        f"You promised to restore service within 72{NB}h. For outage 1 that time runs from my first report of it "
        "(on 2 Oct 2026 at 20:45 MSK) and ran out on 5 Oct 2026 at 20:45 MSK, but service returned only on "
        f"10 Oct 2026 at 18:45 MSK, 4{NB}days 22{NB}h late.\n"
    ),
}


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_the_deadline_runs_from_my_first_report(tmp_path: Path, lang: str) -> None:
    """72 h from the report at 20:45 on 2 Oct: due 20:45 on 5 Oct; back 18:45 on 10 Oct, 4 days 22 h late."""
    letter = isp_case(tmp_path).letter("isp", "2026-10", lang, SENT, contacts=CALLS, about="restore")
    assert FROM_REPORT[lang] in render(letter, "md")
    penalty = letter.assessment.items[-1]
    assert (penalty.rule.id, penalty.explain, penalty.inputs["late"]) == ("ru.zozpp.28.5", "report", 5)


FROM_START = {
    "ru": (
        f"Срок восстановления услуги по договору — 72{NB}ч. По перерыву № 1 обращения о нём в моём журнале обращений "
        "нет, поэтому срок отсчитан от начала перерыва (02.10.2026 в 20:15 МСК) и истёк 05.10.2026 в 20:15 МСК, а "
        f"услуга восстановлена только 10.10.2026 в 18:45 МСК — с опозданием на 4{NB}суток 22{NB}ч 30{NB}мин.\n"
    ),
    "en": (
        f"You promised to restore service within 72{NB}h. For outage 1 my contact log has no report of it, so that "
        "time is counted from the start of the outage (on 2 Oct 2026 at 20:15 MSK) and ran out on 5 Oct 2026 at "
        f"20:15 MSK, but service returned only on 10 Oct 2026 at 18:45 MSK, 4{NB}days 22{NB}h 30{NB}min late.\n"
    ),
}


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_without_a_report_the_deadline_runs_from_the_start_and_says_so(tmp_path: Path, lang: str) -> None:
    """No report logged (only the operator's own call): 72 h from 20:15 on 2 Oct, 4 days 22 h 30 min late."""
    letter = isp_case(tmp_path).letter("isp", "2026-10", lang, SENT, contacts=CALLS[:1], about="restore")
    text = render(letter, "md")
    assert FROM_START[lang] in text
    assert "О неисправности я сообщил" not in text and "I reported the fault" not in text  # an incoming call
    penalty = letter.assessment.items[-1]
    assert (penalty.explain, penalty.inputs["late"]) == ("start", 5)
    assert NOTE[lang] in text  # the draft's notes tell the customer why counting from the start is the weaker way


NOTE = {
    "ru": "- Срок восстановления по перерыву № 1 отсчитан от начала перерыва: в журнале нет вашего обращения о нём. "
    "Если вы сообщали о неисправности, запишите это обращение (watchdog contact add … --at …) и создайте письмо "
    "заново: срок считается с момента обращения, и отсчёт от начала перерыва оператор может оспорить.\n",
    "en": "- The restore time of outage 1 is counted from the start of the outage: the log has no report of yours for "
    "it. If you did report the fault, log that contact (watchdog contact add … --at …) and make the letter again: "
    "the time runs from the report, and the provider may dispute counting it from the start.\n",
}


def test_a_report_late_in_the_outage_moves_the_deadline_past_the_repair(tmp_path: Path) -> None:
    """Reported at 12:00 on 8 Oct: due 12:00 on 11 Oct, and service was back at 18:45 on 10 Oct — in time.

    From the outage's start it would have been late, but the deadline runs from the report: no late repair is
    claimed, stated or penalised.
    """
    case = isp_case(tmp_path)
    late_report = (call(8, 12, 0, ref="123456"),)
    refused = r"ran past its restore deadline \(sla.restore_within, counted from your first fault report"
    with pytest.raises(NothingToClaim, match=refused):
        case.letter("isp", "2026-10", "ru", SENT, contacts=late_report, about="restore")
    letter = case.letter("isp", "2026-10", "ru", SENT, contacts=late_report, about="outage")
    text = render(letter, "md")
    assert "Срок восстановления" not in text and "истёк" not in text
    assert [i.rule.id for i in letter.assessment.items] == ["ru.telematics.prorata"]
    assert "когда неисправность была устранена;" in text  # not "…позже обещанного срока"


def open_case(tmp_path: Path, now: dt.datetime) -> Case:
    """Seed 004's outage still going on at ``now``: down since Fri 2 Oct 2026 20:15 MSK."""

    def script(j: ScriptedJournal, at: Callable[..., float]) -> None:
        for key in (*INTERNET, "isp/gateway"):
            j.outage(key, at(2026, 10, 2, 20, 14, 30), at(2026, 10, 2, 20, 15), None, None)

    origin = dt.datetime(2026, 10, 1, tzinfo=MSK)
    return _case(tmp_path, ISP_CONFIG % "", MSK, origin, now, script, [])


OPEN = {
    ("ru", 4): f"Срок восстановления услуги по договору — 72{NB}ч. По перерыву № 1 срок отсчитывается от моего первого "
    "обращения о нём (02.10.2026 в 20:45 МСК) и истекает 05.10.2026 в 20:45 МСК.\n",
    (
        "en",
        4,
    ): f"You promised to restore service within 72{NB}h. For outage 1 that time runs from my first report of it "
    "(on 2 Oct 2026 at 20:45 MSK) and runs out on 5 Oct 2026 at 20:45 MSK.\n",
    ("ru", 7): f"Срок восстановления услуги по договору — 72{NB}ч. По перерыву № 1 срок отсчитывается от моего первого "
    "обращения о нём (02.10.2026 в 20:45 МСК) и истёк 05.10.2026 в 20:45 МСК, а по состоянию на 07.10.2026 в 12:00 "
    f"МСК услуга всё ещё не восстановлена (просрочка — 1{NB}сутки 15{NB}ч 15{NB}мин).\n",
    (
        "en",
        7,
    ): f"You promised to restore service within 72{NB}h. For outage 1 that time runs from my first report of it "
    "(on 2 Oct 2026 at 20:45 MSK) and ran out on 5 Oct 2026 at 20:45 MSK; service was still not restored on 7 Oct "
    f"2026 at 12:00 MSK, 1{NB}day 15{NB}h 15{NB}min late.\n",
}


@pytest.mark.parametrize("day", [4, 7])
@pytest.mark.parametrize("lang", ["ru", "en"])
def test_an_open_outage_states_its_deadline_ahead_or_passed(tmp_path: Path, lang: str, day: int) -> None:
    """Still down at noon on 4 Oct (the deadline of 20:45 on 5 Oct is ahead) and on 7 Oct (1 day 15 h 15 min past)."""
    case = open_case(tmp_path, dt.datetime(2026, 10, day, 12, 0, tzinfo=MSK))
    letter = case.letter("isp", "2026-10", lang, dt.date(2026, 10, day), contacts=CALLS[1:2])
    assert OPEN[(lang, day)] in render(letter, "md")


CLOCK_START = {
    "ru": f"Расчёт: 3{NB}% × 600,00{NB}₽ × 5 сут. просрочки = **90,00{NB}₽**; в этом расчёте обещанный срок "
    f"устранения 72{NB}ч отсчитан от начала перерыва 02.10.2026 20:15:00 МСК (UTC+03:00), а не от моей заявки "
    "02.10.2026 20:45:00 МСК (UTC+03:00) (телефон, 123456), и истёк 05.10.2026 20:15:00 МСК (UTC+03:00); "
    f"услуга восстановлена 10.10.2026 18:45:00 МСК (UTC+03:00); просрочка 4{NB}суток 22{NB}ч 30{NB}мин.",
    "en": f"Calculation: 3% × 600.00{NB}RUB × 5 days late = **90.00{NB}RUB**; in this calculation the promised "
    f"72{NB}h is counted from the start of the outage at 2 Oct 2026 20:15:00 MSK (UTC+03:00), not from my fault "
    "report of 2 Oct 2026 20:45:00 MSK (UTC+03:00) (phone, 123456), and ran out on 5 Oct 2026 20:15:00 MSK "
    f"(UTC+03:00); service returned 10 Oct 2026 18:45:00 MSK (UTC+03:00); 4{NB}days 22{NB}h 30{NB}min late.",
}


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_a_rule_set_to_count_from_the_start_says_so_beside_the_deadline_from_the_report(
    tmp_path: Path, lang: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``clock: start``: the penalty runs from 20:15, while the letter states the deadline from my report at 20:45.

    The calculation line names both instants, so the letter never reads as if one deadline ran out at two times.
    """
    import complaint_cases

    rule = "      - {rule: ru.zozpp.28.5}\n"
    monkeypatch.setattr(complaint_cases, "ISP_CONFIG", ISP_CONFIG.replace(rule, rule[:-2] + ", clock: start}\n"))
    letter = isp_case(tmp_path).letter("isp", "2026-10", lang, SENT, contacts=CALLS, about="restore")
    text = render(letter, "md")
    assert FROM_REPORT[lang] in text  # the paragraph: from my report
    assert CLOCK_START[lang] in text  # the calculation: from the start, saying it is not from the report
    penalty = letter.assessment.items[-1]
    assert (penalty.explain, penalty.inputs["late"]) == ("start_set", 5)


CONTACTS = {
    "ru": (
        "| телефон (от оператора ко мне); телефон, 123456; телефон, 123457 |\n",
        "## Обращения оператора ко мне\n\n| Дата и время | Канал | Номер | Содержание |\n|---|---|---|---|\n"
        "| 02.10.2026 20:30:00 МСК (UTC+03:00) | телефон | — | нет интернета |\n",
        "## Мои обращения к оператору\n\n| Дата и время | Канал | Номер | Содержание |\n|---|---|---|---|\n"
        "| 02.10.2026 20:45:00 МСК (UTC+03:00) | телефон | 123456 | нет интернета |\n"
        "| 03.10.2026 10:00:00 МСК (UTC+03:00) | телефон | 123457 | нет интернета |\n\n",
    ),
    "en": (
        "| phone (from you to me); phone, 123456; phone, 123457 |\n",
        "## Your contacts with me\n\n"
        "| Date and time | Channel | Reference | Note (as I recorded it) |\n|---|---|---|---|\n"
        "| 2 Oct 2026 20:30:00 MSK (UTC+03:00) | phone | — | нет интернета |\n",
        "## My contacts with you\n\n"
        "| Date and time | Channel | Reference | Note (as I recorded it) |\n|---|---|---|---|\n"
        "| 2 Oct 2026 20:45:00 MSK (UTC+03:00) | phone | 123456 | нет интернета |\n"
        "| 3 Oct 2026 10:00:00 MSK (UTC+03:00) | phone | 123457 | нет интернета |\n\n",
    ),
}


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_the_providers_call_is_not_listed_as_mine(tmp_path: Path, lang: str) -> None:
    """The operator's call at 20:30 (direction in) is marked in the outage table and listed apart from my reports."""
    letter = isp_case(tmp_path).letter("isp", "2026-10", lang, SENT, contacts=CALLS, about="restore")
    text = render(letter, "md")
    cell, theirs, mine = CONTACTS[lang]
    assert cell in text and theirs in text and mine in text
    assert "Мои обращения |" not in text and "My reports |" not in text  # the outage table's column says "contacts"
