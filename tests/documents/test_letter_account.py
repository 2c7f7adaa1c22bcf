"""The "no warning before a block" letter (seed 003) states the balance readings and the agent's own reminders.

Seed 003 (211.ru cut the line for an empty balance on 11 Apr 2026 19:00) through the real journal and letter
code, with two chained balance readings (``add_balance``, as ``watchdog balance set`` and an http probe's
balance metric write them) and rows of the agent's real outbox (``watchdog.notify.outbox``): one reminder sent
by e-mail, the same one never sent to a second channel, and rows that are not this provider's balance. Each
is listed with its times; without them the letter is the golden one, byte for byte.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from pathlib import Path

from seed_cases import warning_case

from watchdog.documents.letter import LetterRequest, build_letter, render
from watchdog.journal.balance import add_balance
from watchdog.journal.contacts import add_contact
from watchdog.journal.store import Journal
from watchdog.notify.outbox import Entry, Message, _insert, _update
from watchdog.timefmt import to_ns

MSK = dt.timezone(dt.timedelta(hours=3))


def _at(*args: int) -> int:
    return to_ns(dt.datetime(*args, tzinfo=MSK))  # type: ignore[misc]


def _letter(seed, lang: str) -> str:  # type: ignore[no-untyped-def]
    request = LetterRequest(
        seed.provider,
        seed.period,
        lang,
        seed.sent_on,
        contacts=seed.all_contacts,
        about="warning",
        details=seed.details,
    )
    with Journal.open(seed.case.journal, create=False, readonly=True) as journal:
        return render(build_letter(seed.case.config, journal, request, now_ns=seed.case.now_ns), "md")


def _write(seed) -> None:  # type: ignore[no-untyped-def]
    with Journal.open(seed.case.journal, create=False) as journal:
        add_balance(
            journal,
            provider="isp",
            amount=Decimal("212"),
            currency="RUB",
            at_ns=_at(2026, 4, 9, 10),
            now_ns=_at(2026, 4, 9, 21),
        )
        add_balance(
            journal,
            provider="isp",
            amount=Decimal("12"),
            currency="RUB",
            at_ns=_at(2026, 4, 11, 9),
            now_ns=_at(2026, 4, 11, 9, 0, 5),
            source="cabinet:balance",
        )
        add_balance(
            journal,
            provider="other",
            amount=Decimal("5"),
            currency="RUB",
            at_ns=_at(2026, 4, 10),
            now_ns=_at(2026, 4, 10),
        )
        entries = [
            Entry(Message("balance/isp/2026-04-12/1d", "expiry", "warning", "t", "b", _at(2026, 4, 11, 9, 1)), "email"),
            Entry(Message("balance/isp/2026-04-12/1d", "expiry", "warning", "t", "b", _at(2026, 4, 11, 9, 1)), "sms"),
            Entry(
                Message("balance/other/2026-04-12/1d", "expiry", "warning", "t", "b", _at(2026, 4, 11, 9, 1)), "email"
            ),
            Entry(Message("outage-open/9", "outage", "failure", "t", "b", _at(2026, 4, 11, 19)), "email"),
        ]
        _insert(journal, entries)
        entries[0].delivered_ns, entries[0].attempts = _at(2026, 4, 11, 9, 1, 4), 1
        entries[1].attempts, entries[1].last_error = 3, "HTTP 500"
        _update(journal, entries)


def test_warning_letter_lists_balances_and_reminders(tmp_path: Path) -> None:
    seed = warning_case(tmp_path)
    plain = {lang: _letter(seed, lang) for lang in ("ru", "en")}
    _write(seed)
    ru, en = _letter(seed, "ru"), _letter(seed, "en")
    msk = "МСК (UTC+03:00)"
    balances_ru = (
        "Остаток на моём лицевом счёте по записям журнала мониторинга за период и 45 дней до его начала (с"
        f" 15.02.2026): 09.04.2026 10:00:00 {msk} — 212,00\xa0₽"
        f" (записано мной 09.04.2026 21:00:00 {msk}); 11.04.2026 09:00:00 {msk} — 12,00\xa0₽ (прочитано программой"
        " мониторинга: cabinet:balance).\n\n"
    )
    reminders_ru = (
        "Собственные напоминания программы мониторинга мне (это не уведомления оператора) за период и 45 дней до"
        " его начала (с 15.02.2026): об остатке на счёте, с прогнозом его исчерпания 12.04.2026 — составлено"
        f" 11.04.2026 09:01:00 {msk}, отправлено (email) 11.04.2026 09:01:04 {msk}; об остатке на счёте, с прогнозом"
        " его исчерпания 12.04.2026 — составлено"
        f" 11.04.2026 09:01:00 {msk}, не отправлено (sms, неудачных попыток: 3).\n\n"
    )
    note_ru = (
        "- Напоминания программы мониторинга в письме взяты из её очереди уведомлений (таблица notify_outbox в"
        " файле журнала): это служебная таблица, она не входит в цепочку хешей и в пакет доказательств; время"
        " создания и доставки — по часам вашего компьютера. Упоминайте их, только если готовы это подтвердить.\n"
    )
    for part in (balances_ru, reminders_ru, note_ru):
        assert ru.count(part) == 1, part
    assert ru.replace(balances_ru, "").replace(reminders_ru, "").replace(note_ru, "") == plain["ru"]

    utc3 = "MSK (UTC+03:00)"
    balances_en = (
        "The balance of my account as the monitoring journal records it in this period and the 45 days before it"
        f" (from 15 Feb 2026): 9 Apr 2026 10:00:00 {utc3}: 212.00\xa0RUB"
        f" (entered by me on 9 Apr 2026 21:00:00 {utc3}); 11 Apr 2026 09:00:00 {utc3}: 12.00\xa0RUB (read by the"
        " monitoring program: cabinet:balance).\n\n"
    )
    reminders_en = (
        "The monitoring program's own reminders to me (not notices from you) in this period and the 45 days before"
        " it (from 15 Feb 2026): on the balance, projected to run out on 12 Apr 2026, made on 11 Apr 2026"
        f" 09:01:00 {utc3}, sent via email on 11 Apr 2026 09:01:04 {utc3};"
        f" on the balance, projected to run out on 12 Apr 2026, made on 11 Apr 2026 09:01:00 {utc3},"
        " not sent via sms (failed attempts: 3).\n\n"
    )
    for part in (balances_en, reminders_en):
        assert en.count(part) == 1, part
    assert "notify_outbox" in en.split("\n---\n")[1]  # the note for the customer, not the letter
    assert "notify_outbox" not in en.split("\n---\n")[0] and "notify_outbox" not in ru.split("\n---\n")[0]


def test_no_account_data_no_sentences(tmp_path: Path) -> None:
    """Another provider's balance and an outage message are not this letter's: nothing is added."""
    seed = warning_case(tmp_path)
    plain = _letter(seed, "ru")
    with Journal.open(seed.case.journal, create=False) as journal:
        add_balance(journal, provider="other", amount=Decimal("5"), currency="RUB", at_ns=_at(2026, 4, 10))
        entry = Entry(Message("outage-open/9", "outage", "failure", "t", "b", _at(2026, 4, 11, 19)), "email")
        _insert(journal, [entry])
    assert _letter(seed, "ru") == plain


def test_reminders_and_readings_that_led_up_to_the_block(tmp_path: Path) -> None:
    """A period that opens with the block: what the agent said the week before is listed, within 45 days.

    The letter is asked for 11–12 Apr (the block at 19:00 on the 11th); the reading of 2 Apr and the
    reminders of 4 and 8 Apr came before the period and are exactly what the letter must show. A reading of
    1 Feb and a reminder of 20 Feb are more than 45 days before 11 Apr (25 Feb): left out.
    """
    seed = warning_case(tmp_path)
    seed = dataclasses.replace(seed, period="2026-04-11..2026-04-12")
    with Journal.open(seed.case.journal, create=False) as journal:
        for at, amount in ((_at(2026, 2, 1, 10), "800"), (_at(2026, 4, 2, 10), "180")):
            add_balance(journal, provider="isp", amount=Decimal(amount), currency="RUB", at_ns=at, now_ns=at)
        entries = [
            Entry(Message("balance/isp/2026-03-01/7d", "expiry", "warning", "t", "b", _at(2026, 2, 20, 9)), "email"),
            Entry(Message("balance/isp/2026-04-11/7d", "expiry", "warning", "t", "b", _at(2026, 4, 4, 9, 1)), "email"),
            Entry(Message("balance/isp/2026-04-11/3d", "expiry", "warning", "t", "b", _at(2026, 4, 8, 9, 1)), "email"),
        ]
        _insert(journal, entries)
        entries[1].delivered_ns, entries[1].attempts = _at(2026, 4, 4, 9, 1, 3), 1
        entries[2].delivered_ns, entries[2].attempts = _at(2026, 4, 8, 9, 1, 2), 1
        _update(journal, entries)
    ru, en = _letter(seed, "ru"), _letter(seed, "en")
    msk, utc3 = "МСК (UTC+03:00)", "MSK (UTC+03:00)"
    expected_ru = (
        "Остаток на моём лицевом счёте по записям журнала мониторинга за период и 45 дней до его начала (с"
        f" 25.02.2026): 02.04.2026 10:00:00 {msk} — 180,00\xa0₽ (записано мной).\n\n",
        "Собственные напоминания программы мониторинга мне (это не уведомления оператора) за период и 45 дней до"
        " его начала (с 25.02.2026): об остатке на счёте, с прогнозом его исчерпания 11.04.2026 — составлено"
        f" 04.04.2026 09:01:00 {msk}, отправлено (email) 04.04.2026 09:01:03 {msk}; об остатке на счёте, с"
        f" прогнозом его исчерпания 11.04.2026 — составлено 08.04.2026 09:01:00 {msk}, отправлено (email)"
        f" 08.04.2026 09:01:02 {msk}.\n\n",
    )
    expected_en = (
        "The balance of my account as the monitoring journal records it in this period and the 45 days before it"
        f" (from 25 Feb 2026): 2 Apr 2026 10:00:00 {utc3}: 180.00\xa0RUB (entered by me).\n\n",
        "The monitoring program's own reminders to me (not notices from you) in this period and the 45 days before"
        " it (from 25 Feb 2026): on the balance, projected to run out on 11 Apr 2026, made on 4 Apr 2026 09:01:00"
        f" {utc3}, sent via email on 4 Apr 2026 09:01:03 {utc3}; on the balance, projected to run out on 11 Apr"
        f" 2026, made on 8 Apr 2026 09:01:00 {utc3}, sent via email on 8 Apr 2026 09:01:02 {utc3}.\n\n",
    )
    for text, parts in ((ru, expected_ru), (en, expected_en)):
        for part in parts:
            assert text.count(part) == 1, (part, text)


def test_the_balance_that_stood_before_the_lookback(tmp_path: Path) -> None:
    """No reading in the 45 days before the period: the last one before them comes first, and is said to."""
    seed = dataclasses.replace(warning_case(tmp_path), period="2026-04-11..2026-04-12")
    with Journal.open(seed.case.journal, create=False) as journal:
        for at, amount in ((_at(2026, 1, 20, 10), "900"), (_at(2026, 2, 1, 10), "800"), (_at(2026, 4, 11, 9), "3")):
            add_balance(journal, provider="isp", amount=Decimal(amount), currency="RUB", at_ns=at, now_ns=at)
    ru, en = _letter(seed, "ru"), _letter(seed, "en")
    msk = "МСК (UTC+03:00)"
    assert (
        ru.count(
            "Остаток на моём лицевом счёте по записям журнала мониторинга за период и 45 дней до его начала (с"
            f" 25.02.2026; первая — последняя запись до этого дня): 01.02.2026 10:00:00 {msk} — 800,00\xa0₽ (записано"
            f" мной); 11.04.2026 09:00:00 {msk} — 3,00\xa0₽ (записано мной).\n\n"
        )
        == 1
    ), ru
    utc3 = "MSK (UTC+03:00)"
    assert (
        en.count(
            "The balance of my account as the monitoring journal records it in this period and the 45 days before it"
            f" (from 25 Feb 2026; the first is the last reading before that day): 1 Feb 2026 10:00:00 {utc3}:"
            f" 800.00\xa0RUB (entered by me); 11 Apr 2026 09:00:00 {utc3}: 3.00\xa0RUB (entered by me).\n\n"
        )
        == 1
    ), en
    assert "Собственные напоминания" not in ru and "own reminders" not in en


def test_the_providers_messages_before_the_period_are_counted_too(tmp_path: Path) -> None:
    """ "Without notice" must hold for the 45 days before the period as well: the provider's messages are named.

    The contact log holds an e-mail from the provider on 5 Apr, before an 11-12 Apr period: the letter names
    it beside the period's (none), and the notes ask the customer to reread it before sending. The customer's
    own call (out), another provider's message, and one of 1 Feb (before 25 Feb) are not the provider's notice.
    """
    seed = dataclasses.replace(warning_case(tmp_path), period="2026-04-11..2026-04-12")
    plain = _letter(seed, "ru")
    with Journal.open(seed.case.journal, create=False) as journal:
        for provider, at, direction in (
            ("isp", _at(2026, 4, 5, 10), "in"),
            ("isp", _at(2026, 4, 6, 11), "out"),
            ("other", _at(2026, 4, 7, 12), "in"),
            ("isp", _at(2026, 2, 1, 9), "in"),
        ):
            add_contact(
                journal, provider=provider, channel="email", note="счёт", at_ns=at, now_ns=at, direction=direction
            )
    ru, en = _letter(seed, "ru"), _letter(seed, "en")
    before_ru = (
        " За 45 дней до начала периода (с 25.02.2026) в журнале записано 1 входящее сообщение от оператора"
        " (по электронной почте 05.04.2026 в 10:00 МСК), и оно не предупреждало о приостановлении."
    )
    note_ru = (
        "- Письмо утверждает, что входящие сообщения оператора за период и 45 дней до него не предупреждали о"
        " приостановлении: перечитайте их (watchdog contact list) перед отправкой; если предупреждение было,"
        " жалоба на его отсутствие не обоснована.\n"
    )
    assert ru.count(before_ru) == 1 and ru.count(note_ru) == 1, ru
    assert ru.replace(before_ru, "").replace(note_ru, "") == plain
    before_en = (
        " In the 45 days before the period (from 25 Feb 2026) my contact log holds 1 message from you"
        " (by e-mail on 5 Apr 2026 at 10:00 MSK), and it did not warn me of the suspension."
    )
    note_en = (
        "- The letter says that the messages from the provider in the period and the 45 days before it did not warn"
        " of the suspension: reread them (watchdog contact list) before you send it; if one did warn you, the"
        " complaint of no warning does not stand.\n"
    )
    assert en.count(before_en) == 1 and en.count(note_en) == 1, en
