"""Golden tests of the seed cases: scripted journals → SLA figures → claims → rendered letters.

Each amount is worked out by hand in the comments and asserted exactly, together with the formula as the
letter prints it; each rendered letter is checked for its required parts (parties and contract number,
every window in local time with its offset and in UTC, the amounts, the legal lines, the deadline, the
attachment hashes and the draft line).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from complaint_cases import BROKER_CONFIG, HASHES, MANIFEST, MSK, broker_case, isp_case, sla_case, uk_case
from helpers import ScriptedJournal, target

from watchdog.config import loads
from watchdog.documents.compensation.values import ContactEntry, Duration, Money
from watchdog.documents.letter.build import build_letter
from watchdog.documents.letter.rendering import render
from watchdog.documents.letter.request import LetterRequest
from watchdog.documents.words import Formatter, LetterError, load_words, md_escape
from watchdog.journal.store import Journal
from watchdog.timefmt import to_ns

NB = "\xa0"  # Babel separates numbers from units with a no-break space


def rub(text: str) -> str:
    """``"153,63"`` → ``"153,63 ₽"`` as Babel writes it."""
    return text.replace(" ", NB) + NB + "₽"


def lines_with(text: str, needle: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if needle in line]


def assert_required_parts(text: str, *parts: str) -> None:
    missing = [p for p in parts if p not in text]
    assert not missing, f"missing from the letter: {missing}"
    for name, digest in HASHES:
        assert name in text and digest in text
    assert MANIFEST in text


# ------------------------------------------------------------------------------------------------- ISP


def test_isp_eight_days_down_against_72_hours(tmp_path: Path) -> None:
    """Seed 004: 190.5 h without internet in October 2026 (31 days = 744 h), 600 ₽ a month, 72 h promised.

    By hours: 600 × 190.5 / 744 = 153.629… → 153,63 ₽. The ЗоЗПП penalty (optional, contested): the 72 h
    run from the report at 20:45 on 2 Oct to 20:45 on 5 Oct; service returned 18:45 on 10 Oct, 118 h
    later = 5 started days × 3 % × 600 ₽ = 90,00 ₽.
    """
    case = isp_case(tmp_path)
    figures = case.figures("isp", "2026-10")
    assert figures.downtime_s == 190.5 * 3600
    assert figures.counted_s == 31 * 86400
    letter = case.letter("isp", "2026-10", "ru", dt.date(2026, 11, 2))
    items = letter.assessment.items
    assert [(i.rule.id, i.amount, i.optional) for i in items] == [
        ("ru.telematics.prorata", Money(Decimal("153.63"), "RUB"), False),
        ("ru.zozpp.28.5", Money(Decimal("90.00"), "RUB"), True),
    ]
    text = render(letter, "md")
    assert lines_with(text, "Расчёт:") == [
        f"Расчёт: {rub('600,00')} × 190,5 ч ÷ 744 ч = **{rub('153,63')}**; время без услуги в расчётном периоде — "
        f"7{NB}суток 22{NB}ч 30{NB}мин (190,5 ч), длительность периода — 744 ч. Часы округлены до сотых, "
        "сумма — до копейки (половина — в большую сторону).",
        f"Расчёт: 3{NB}% × {rub('600,00')} × 5 сут. просрочки = **{rub('90,00')}**; обещанный срок устранения 72{NB}ч "
        "от заявки 02.10.2026 20:45:00 МСК (UTC+03:00) (телефон, № 123456) истёк 05.10.2026 20:45:00 МСК (UTC+03:00); "
        f"услуга восстановлена 10.10.2026 18:45:00 МСК (UTC+03:00); просрочка 4{NB}суток 22{NB}ч. Сумма "
        "округлена до копейки (половина — в большую сторону); начатые сутки просрочки считаются целыми.",
    ]
    assert_required_parts(
        text,
        "> **Черновик.**",
        "Кому: **ООО «2КОМ»**",
        "договор № 248393 от 01.05.2013",
        "# ПРЕТЕНЗИЯ (досудебная)",
        "| 1 | 02.10.2026 20:15:00 МСК (UTC+03:00) [02.10.2026 17:15:00 UTC] | "
        f"10.10.2026 18:45:00 МСК (UTC+03:00) [10.10.2026 15:45:00 UTC] | 7{NB}суток 22{NB}ч 30{NB}мин |",
        "**ТРЕБУЮ:**",
        f"Общая сумма денежных требований: **{rub('243,63')}**.",
        "Правила оказания телематических услуг связи, утв. постановлением Правительства РФ от 31.12.2021 № 2607",
        "ст. 30 (сроки устранения недостатков оказанной услуги) и п. 5 ст. 28 Закона РФ от 07.02.1992 № 2300-1",
        "ст. 55 Федерального закона от 07.07.2003 № 126-ФЗ «О связи»",
        # the reply-form sentence of ст. 55 п. 7, with the deadline: registered 3 Nov (4 Nov is a holiday), 30 days
        "в срок, установленный п. 7 ст. 55 Федерального закона «О связи», — не позднее 03.12.2026 (если претензия "
        "получена 02.11.2026: регистрация не позднее 03.11.2026, затем 30 дней), в форме электронного документа, "
        "подписанного простой электронной подписью, на адрес электронной почты v.petrov@example.ru.",
        "а) что именно вышло из строя и когда",
        "д) какие меры приняты, чтобы не допустить повторения.",
        "| 02.10.2026 20:45:00 МСК (UTC+03:00) | телефон | № 123456 | заявка: нет интернета |",
        "1. Копия договора № 248393 от 01.05.2013",
        "2 ноября 2026 г.",
        "/ Петров Виктор Андреевич /",
        "Требование необязательное и спорное",  # the ЗоЗПП warning, in the notes for the customer
    )
    assert "1236" not in text and "2606" not in text


def test_isp_pro_rata_by_days(tmp_path: Path) -> None:
    """190.5 h is 8 started days: 600 × 8 / 31 = 154.838… → 154,84 ₽."""
    case = isp_case(tmp_path, "      - {rule: ru.telematics.prorata, method: days}")
    letter = case.letter("isp", "2026-10", "ru", dt.date(2026, 11, 2))
    prorata = letter.assessment.items[0]
    assert (prorata.amount, prorata.inputs["days"], prorata.inputs["period_days"]) == (
        Money(Decimal("154.84"), "RUB"),
        8,
        31,
    )
    assert f"Расчёт: {rub('600,00')} × 8 сут. ÷ 31 сут. = **{rub('154,84')}**" in render(letter, "md")


def test_isp_letter_in_english(tmp_path: Path) -> None:
    text = render(isp_case(tmp_path).letter("isp", "2026-10", "en", dt.date(2026, 11, 2)), "md")
    assert "Calculation: RUB" not in text  # the code follows the number in English
    assert f"Calculation: 600.00{NB}RUB × 190.5 h ÷ 744 h = **153.63{NB}RUB**" in text
    assert "Rules for the provision of telematic communication services, approved by Decree of the Government" in text
    assert "Reply in writing by 3 December 2026" in text


def test_a_monthly_fee_over_a_custom_range_is_said_in_the_letters_words(tmp_path: Path) -> None:
    """A range that is not whole months cannot carry a monthly fee: the note names the fee in words ("в месяц"),
    not in the config's key ("за month")."""
    case = isp_case(tmp_path)
    why = {
        "ru": "плату в месяц нельзя пересчитать на расчётный период 2026-10-02..2026-10-11.",
        "en": "a fee per month cannot be turned into the billing period 2026-10-02..2026-10-11.",
    }
    for lang in ("ru", "en"):
        text = render(case.letter("isp", "2026-10-02..2026-10-11", lang, dt.date(2026, 11, 2)), "md")
        notes = [line for line in text.splitlines() if line.endswith(why[lang])]
        assert [line.split("`")[1] for line in notes] == ["ru.zozpp.28.5", "ru.telematics.prorata"], lang
        assert "month»" not in text and "за month" not in text


# ---------------------------------------------------------------------------------------------- broker


def test_broker_down_for_days_in_trading_hours(tmp_path: Path) -> None:
    """Seed 000: 16–19 Nov 2026, counted only in trading hours (Mon–Fri 07:00–23:50): 13 h 50 + 16 h 50 +
    16 h 50 + 8 h 30 = 56 h. Six months without the 300 ₽ fixed fee: 1 800,00 ₽. The answer: 15 working
    days from registration on Mon 23 Nov = 14 Dec 2026; extended by 10 = 28 Dec.
    """
    case = broker_case(tmp_path)
    figures = case.figures("broker", "2026-11")
    assert figures.downtime_s == 56 * 3600
    assert figures.breached is True
    letter = case.letter("broker", "2026-11", "ru", dt.date(2026, 11, 20))
    (waiver,) = letter.assessment.items
    assert (waiver.rule.id, waiver.amount) == ("contract.fee_waiver", Money(Decimal("1800.00"), "RUB"))
    (deadline,) = letter.assessment.deadlines
    assert (deadline.registration_by, deadline.answer_by) == (dt.date(2026, 11, 23), dt.date(2026, 12, 14))
    text = render(letter, "md")
    assert lines_with(text, "Расчёт:") == [
        f"Расчёт: {rub('300,00')} × 6 мес. = **{rub('1 800,00')}**. Сумма округлена до копейки "
        "(половина — в большую сторону)."
    ]
    assert_required_parts(
        text,
        "# ОБРАЩЕНИЕ (ПРЕТЕНЗИЯ)",
        "Кому: **АО «ИТ Инвест»**",
        "Между мной и АО «ИТ Инвест» заключён договор о брокерском обслуживании № Д-123/45 от 01.05.2013",
        "| 1 | 16.11.2026 10:00:00 МСК (UTC+03:00) [16.11.2026 07:00:00 UTC] | "
        f"19.11.2026 15:30:00 МСК (UTC+03:00) [19.11.2026 12:30:00 UTC] | 3{NB}суток 5{NB}ч 30{NB}мин | "
        f"2{NB}суток 8{NB}ч | чат, A-7781; телефон |",
        "шли часы оказания услуги (пн–пт 07:00–23:50)",
        "1. Рассмотреть возможность освободить меня от платы (комиссии) по договору на 6 мес. (в денежном выражении — "
        + rub("1 800,00")
        + ") либо предоставить иную соразмерную компенсацию.",
        "обязательство **нарушено**",
        "телефон для подачи поручений голосом, работающий всё торговое время (сейчас указан +7 495 000-00-00)",
        "как клиенты будут немедленно узнавать о новых сбоях",
        "— не позднее 14.12.2026 (если обращение получено 20.11.2026: регистрация не позднее 23.11.2026, затем 15 "
        "рабочих дней; при продлении на 10 рабочих дней — не позднее 28.12.2026)",
        "ст. 15.11 Федерального закона от 22.04.1996 № 39-ФЗ «О рынке ценных бумаг»",
        "(в ред. Федерального закона от 04.08.2023 № 442-ФЗ)",
        "ст. 393 Гражданского кодекса РФ",
        "в Банк России (через интернет-приёмную на сайте cbr.ru",
        "| 17.11.2026 09:05:00 МСК (UTC+03:00) | телефон | — | колл-центр: «не знаем, когда починят» |",
    )
    # no ЗоЗПП penalty against a broker; its price reduction (п. 1 ст. 29) only as a disputed basis
    assert "п. 5 ст. 28" not in text
    assert "(применимость этого закона к брокерскому обслуживанию спорна)" in text


def test_moscow_was_utc_plus_4_in_march_2014(tmp_path: Path) -> None:
    """The seed's own dates: trading down from 17 March 2014; the letter received on 26 March 2014.

    Moscow was UTC+4 then (the tz database knows; a fixed +3 would shift every window by an hour), and
    442-ФЗ did not exist yet, so the answer date is the customer's own 30 days.
    """
    config = loads(BROKER_CONFIG, env={})
    origin = to_ns(dt.datetime(2014, 3, 1, tzinfo=MSK))
    path = tmp_path / "j.sqlite3"
    journal = ScriptedJournal(path, [target(t.key, role=t.role) for t in config.targets], origin_ns=origin)

    def s(day: int, hh: int, mm: int = 0) -> float:
        return (to_ns(dt.datetime(2014, 3, day, hh, mm, tzinfo=MSK)) - origin) / 1e9

    journal.run(0, s(26, 12))
    journal.outage("broker/trading", s(17, 9, 59), s(17, 10), s(24, 18, 59), s(24, 19))
    journal.close()
    with Journal.open(path, create=False, readonly=True) as j:
        letter = build_letter(
            config,
            j,
            LetterRequest("broker", "2014-03", "ru", dt.date(2014, 3, 26)),
            now_ns=origin + int(s(26, 12) * 1e9),
        )
    text = render(letter, "md")
    assert (
        "| 1 | 17.03.2014 10:00:00 МСК (UTC+04:00) [17.03.2014 06:00:00 UTC] | 24.03.2014 19:00:00 МСК (UTC+04:00)"
        in text
    )
    (deadline,) = letter.assessment.deadlines
    assert (deadline.rule.id, deadline.answer_by) == ("generic.reply.deadline", dt.date(2014, 4, 25))
    assert "Федеральный закон от 04.08.2023 № 442-ФЗ" not in text
    assert "правило не действовало на дату письма" in text
    # no statutory term in force in 2014: the letter asks, it does not invent "the term set for complaints"
    assert "Ответить в течение 30 дней с даты получения обращения" in text
    assert "срок, установленный для рассмотрения обращений" not in text


# ------------------------------------------------------------------------------------------------- UK


def test_uk_repair_seven_days_after_the_report(tmp_path: Path) -> None:
    """Reported Mon 9 Nov 2026 09:12; not fixed by 23:59 Wed 11 Nov (two full working days); fixed Mon 16 Nov
    10:05. Compensated calendar days 12–15 Nov (the repair day is not counted): 4 × £10.34 = £41.36. Price
    reduction: 7 d 2 h 25 min = 170.42 h of 720 h × £30 = £7.10.
    """
    case = uk_case(tmp_path)
    letter = case.letter("isp", "2026-11", "en", dt.date(2026, 11, 17))
    assert [(i.rule.id, i.amount.amount) for i in letter.assessment.items] == [
        ("uk.ofcom.autocomp.repair", Decimal("41.36")),
        ("uk.cra.price_reduction", Decimal("7.10")),
    ]
    text = render(letter, "md")
    assert lines_with(text, "Calculation:") == [
        "Calculation: £10.34 × 4 calendar days (12 Nov 2026 – 15 Nov 2026) = **£41.36**; fault reported 9 Nov 2026 "
        "09:12:00 GMT (UTC+00:00) (phone, FLT-20931); not repaired by 23:59 on 11 Nov 2026, the second full "
        "working day after the report; service restored 16 Nov 2026 10:05:00 GMT (UTC+00:00); the day of the repair "
        "is not counted. Rounding: exact amounts from the rate table, no rounding.",
        f"Calculation: £30.00 × 170.42 h ÷ 720 h = **£7.10**; time without service in the billing period: 7{NB}days "
        f"2{NB}h 25{NB}min (170.42 h); the period is 720 h long. Rounding: hours to two decimals, the amount to the "
        "penny, halves rounded up.",
    ]
    assert_required_parts(
        text,
        "> **Draft.**",
        "To: **Example Broadband Ltd**, Complaints",
        "# Formal complaint: loss of broadband service, account 100200300",
        "(ref. EB-7731)",
        "| 1 | 9 Nov 2026 07:40:00 GMT (UTC+00:00) [9 Nov 2026 07:40:00 UTC] | 16 Nov 2026 10:05:00 GMT (UTC+00:00) "
        "[16 Nov 2026 10:05:00 UTC] |",
        "Total of the money requested: **£48.46**.",
        "Ofcom's voluntary Automatic Compensation code",
        "Consumer Rights Act 2015, s. 49 (reasonable care and skill) and ss. 54-56 (price reduction)",
        "Reply in writing by 29 December 2026 (6 weeks from 17 Nov 2026, after which the complaint can go to ADR)",
        "I will refer it to the Communications Ombudsman or CISAS",
        "Yours faithfully,",
    )


# ------------------------------------------------------------------------------------------------ SLA


def test_tiered_sla_credit(tmp_path: Path) -> None:
    """9 h 22 min down in November (30 days): 1 − 33 720 / 2 592 000 = 98.699 % < 99.0 → 25 % of $40 = $10."""
    case = sla_case(tmp_path)
    letter = case.letter("hosting", "2026-11", "en", dt.date(2026, 12, 1))
    (credit,) = letter.assessment.items
    assert (credit.rule.id, credit.amount) == ("sla.tiered", Money(Decimal("10.00"), "USD"))
    text = render(letter, "md")
    assert lines_with(text, "Calculation:") == [
        "Calculation: US$40.00 × 25% = **US$10.00**; availability for the period was 98.699% against a commitment of "
        "99.9%; below the 99% threshold the credit is 25%. Rounding: to the currency's smallest unit (cent, penny, "
        "kopek), halves rounded up; availability is compared unrounded. Basis: section 3.2 of the contract."
    ]
    assert_required_parts(
        text,
        "# Service credit request: Example Cloud outages, November 2026",
        "| 1 | 11 Nov 2026 03:10:00 (UTC+00:00) [11 Nov 2026 03:10:00 UTC] | 11 Nov 2026 12:32:00 (UTC+00:00) "
        f"[11 Nov 2026 12:32:00 UTC] | 9{NB}h 22{NB}min |",
        "the commitment was **breached**",
        "The service level agreement's service credit table",
        "contract ref. SLA-2026-0042, section 3.2.",
        "Reply in writing within 30 days of receiving this letter",
    )


# ------------------------------------------------------------------------------------------- rendering


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.seen: set[str] = set()

    def handle_starttag(self, tag: str, attrs: object) -> None:
        self.seen.add(tag)
        if tag not in ("meta", "br", "hr", "img"):
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: object) -> None:
        self.seen.add(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open[-1] == tag, f"</{tag}> closes <{self.open[-1] if self.open else None}>"
        self.open.pop()


def test_html_is_made_from_the_markdown_and_log_text_stays_text(tmp_path: Path) -> None:
    case = isp_case(tmp_path)
    hostile = ContactEntry(
        to_ns(dt.datetime(2026, 10, 3, 9, tzinfo=MSK)), "chat", "A|1", "<script>alert(1)</script> *no* [link](x)"
    )
    request = LetterRequest("isp", "2026-10", "ru", dt.date(2026, 11, 2), contacts=(*case.contacts, hostile))
    with Journal.open(case.journal, create=False, readonly=True) as journal:
        letter = build_letter(case.config, journal, request, now_ns=case.now_ns)
    md = render(letter, "md")
    row = lines_with(md, "alert(1)")[0]
    assert row.count(" | ") == 3  # the pipe in the ref is escaped, the table keeps four columns
    page = render(letter, "html")
    assert "<script" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; *no* [link](x)" in page
    tags = _Tags()
    tags.feed(page)
    assert tags.open == [] and {"html", "table", "h1", "h2", "ol", "blockquote", "aside"} <= tags.seen
    assert '<html lang="ru">' in page and "<title>ПРЕТЕНЗИЯ (досудебная)</title>" in page


def test_a_banned_citation_never_leaves_in_a_letter(tmp_path: Path) -> None:
    case = isp_case(tmp_path)
    myth = ContactEntry(to_ns(dt.datetime(2026, 10, 3, 9, tzinfo=MSK)), "chat", "", "по ПП № 1236 п. 75 положено 3 %")
    request = LetterRequest("isp", "2026-10", "ru", dt.date(2026, 11, 2), contacts=(myth,))
    with Journal.open(case.journal, create=False, readonly=True) as journal:
        letter = build_letter(case.config, journal, request, now_ns=case.now_ns)
    with pytest.raises(LetterError, match="ПП № 1236"):
        render(letter, "md")


def test_attachment_hashes_are_checked(tmp_path: Path) -> None:
    case = isp_case(tmp_path)
    with pytest.raises(LetterError, match=re.escape("attachment 'x.csv': SHA-256 must be 64 lowercase hex digits")):
        case.letter("isp", "2026-10", "ru", dt.date(2026, 11, 2), attachments=(("x.csv", "ABC"),))


@pytest.mark.parametrize(
    ("seconds", "ru", "en"),
    [
        (8 * 86400 + 3 * 3600, "8 суток 3 ч", "8 days 3 h"),
        (86400, "1 сутки", "1 day"),
        (2 * 86400 + 60, "2 суток 1 мин", "2 days 1 min"),
        (21 * 86400, "21 сутки", "21 days"),
        (45.4, "45 с", "45 s"),
        (125, "2 мин 5 с", "2 min 5 s"),
    ],
)
def test_durations_per_locale(seconds: float, ru: str, en: str) -> None:
    zone = ZoneInfo("UTC")
    for lang, locale, expected in (("ru", "ru_RU", ru), ("en", "en_GB", en)):
        got = Formatter(lang, locale, zone, load_words(lang)).duration(Duration(seconds))  # type: ignore[arg-type]
        assert got.replace(NB, " ") == expected
        assert re.fullmatch(r"(\d+\xa0\S+)( \d+\xa0\S+)*", got)  # numbers and units held together


def test_money_and_escaping_per_locale() -> None:
    zone = ZoneInfo("UTC")
    ru = Formatter("ru", "ru_RU", zone, load_words("ru"))
    assert ru.money(Money(Decimal("154.84"), "RUB")) == f"154,84{NB}₽"
    assert ru.money(Money(Decimal("1800.00"), "RUB")) == f"1{NB}800,00{NB}₽"
    en = Formatter("en", "en_GB", zone, load_words("en"))
    assert en.money(Money(Decimal("41.36"), "GBP")) == "£41.36"
    assert en.money(Money(Decimal("600.00"), "RUB")) == f"600.00{NB}RUB"
    assert md_escape("a|b *c* <d> ivan_petrov@mail.ru _x_") == r"a\|b \*c\* \<d\> ivan_petrov@mail.ru \_x\_"


@pytest.mark.parametrize(
    ("kind", "lang", "title", "deadline"),
    [
        ("bank", "ru", "# ЗАЯВЛЕНИЕ (ПРЕТЕНЗИЯ)", "не позднее 14.12.2026"),
        ("other", "ru", "# ПРЕТЕНЗИЯ", "Ответить в течение 30 дней с даты получения претензии"),
        ("broker", "en", "# Complaint: the broker's outages, November 2026", "by 14 December 2026"),
    ],
)
def test_every_template_renders(tmp_path: Path, kind: str, lang: str, title: str, deadline: str) -> None:
    """The variants the seed cases do not reach: a bank, another provider, an English letter to a broker."""
    case = broker_case(tmp_path)
    config = loads(BROKER_CONFIG.replace("kind: broker", f"kind: {kind}"), env={})
    with Journal.open(case.journal, create=False, readonly=True) as journal:
        request = LetterRequest("broker", "2026-11", lang, dt.date(2026, 11, 20), contacts=case.contacts)  # type: ignore[arg-type]
        letter = build_letter(config, journal, request, now_ns=case.now_ns)
    text = render(letter, "md")
    assert title in text and deadline in text and "Д-123/45" in text
    assert (f"1{NB}800,00" if lang == "ru" else "1,800.00") in text
    if kind == "bank":
        assert "к финансовому уполномоченному (Федеральный закон от 04.06.2018 № 123-ФЗ" in text
    render(letter, "html")


@pytest.mark.parametrize(
    ("lang", "line"),
    [
        (
            "ru",
            f"Расчёт: {rub('600,00')} × 17 ч ÷ 744 ч = **{rub('13,71')}**; время без услуги в расчётном периоде — "
            f"17{NB}ч, длительность периода — 744 ч. Часы округлены до сотых, сумма — до копейки (половина — в большую "
            "сторону).",
        ),
        (
            "en",
            f"Calculation: 600.00{NB}RUB × 17 h ÷ 744 h = **13.71{NB}RUB**; time without service in the billing "
            f"period: 17{NB}h; the period is 744 h long. Rounding: hours to two decimals, the amount to the kopek, "
            "halves rounded up.",
        ),
    ],
)
def test_a_whole_number_of_hours_is_printed_once(tmp_path: Path, lang: str, line: str) -> None:
    """17 h down (5 Oct 02:00–19:00): "17 ч", not "17 ч (17 ч)"; 600 × 17 / 744 = 13.709… → 13,71 ₽."""
    from complaint_cases import INTERNET, ISP_CONFIG, _case

    def script(j: ScriptedJournal, at: Callable[..., float]) -> None:
        for key in (*INTERNET, "isp/gateway"):
            j.outage(
                key, at(2026, 10, 5, 1, 59, 30), at(2026, 10, 5, 2), at(2026, 10, 5, 18, 59, 30), at(2026, 10, 5, 19)
            )

    origin, end = dt.datetime(2026, 10, 1, tzinfo=MSK), dt.datetime(2026, 11, 1, 12, tzinfo=MSK)
    case = _case(tmp_path, ISP_CONFIG % "", MSK, origin, end, script, [])
    text = render(case.letter("isp", "2026-10", lang, dt.date(2026, 11, 2)), "md")
    assert lines_with(text, "Calculation:" if lang == "en" else "Расчёт:") == [line]


OTHER_US = """
providers:
  - id: shop
    name: Shop
    kind: other
    targets: [{name: site, kind: tcp, address: "127.0.0.1:8"}]
    contract: {customer: "Jane Doe", customer_email: "j@example.org"}
    contacts: {legal_name: "Shop Ltd", claims_email: "c@example.org"}
    jurisdiction: US
"""


@pytest.mark.parametrize(
    ("lang", "between"),
    [
        (
            "en",
            "I therefore ask you to:\n\n"
            "1. Reply in writing within 30 days of receiving this letter, by e-mail to j@example.org.\n\n"
            "If this is not resolved by then, I will take it to",
        ),
        (
            "ru",
            # "прошу" once: not "прошу: 1. Прошу ответить…"
            "На основании изложенного **прошу**:\n\n"
            "1. Ответить в течение 30 дней с даты получения претензии по электронной почте на адрес "
            "j@example.org.\n\nЕсли требования не будут удовлетворены в этот срок,",
        ),
    ],
)
def test_no_basis_heading_with_nothing_under_it(tmp_path: Path, lang: str, between: str) -> None:
    """An 'other' letter to a US shop, no contract number: no rule gives a legal line, so no 'Basis' section."""
    from complaint_cases import CONTROLS, _case

    config = "agent: {id: home-msk-1, timezone: Europe/Moscow}\n" + CONTROLS + OTHER_US
    origin, end = dt.datetime(2026, 4, 1, tzinfo=MSK), dt.datetime(2026, 4, 13, tzinfo=MSK)
    case = _case(tmp_path, config, MSK, origin, end, lambda j, at: None, [])
    details = (("text", "The parcel was lost."),)
    letter = case.letter("shop", "2026-04", lang, dt.date(2026, 4, 13), about="other", details=details)
    text = re.sub(r"\n{3,}", "\n\n", render(letter, "md"))  # Markdown: any run of blank lines is one break
    assert between in text
    assert "## Basis" not in text and "## Правовые основания" not in text


def test_the_last_legal_line_ends_the_list_without_a_contract_number(tmp_path: Path) -> None:
    """Seed 004 with no contract number: the list of norms ends with a full stop, not ';'."""
    case = isp_case(tmp_path)
    config = loads(_isp_without_number(), env={})
    with Journal.open(case.journal, create=False, readonly=True) as journal:
        request = LetterRequest("isp", "2026-10", "ru", dt.date(2026, 11, 2), contacts=case.contacts)
        text = render(build_letter(config, journal, request, now_ns=case.now_ns), "md")
    basis = text[text.index("## Правовые основания") :].split("\n\n")[1].splitlines()
    assert [line[-1] for line in basis] == [";", ";", "."]
    assert "**ТРЕБУЮ:**" in text and "норм, перечисленных в разделе «Правовые основания»" in text


def _isp_without_number() -> str:
    from complaint_cases import ISP_CONFIG

    return (ISP_CONFIG % "").replace('      number: "248393"\n', "")
