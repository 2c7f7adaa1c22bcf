"""The five seed situations of ``shared/seeds/`` as scripted journals, one grievance each.

000 broker: the trading system down for days (an outage letter); 001 2КОМ: a payment not credited and the
line blocked (billing); 002 LiteMF: support that never registered the callback requests (support); 003 211.ru:
internet cut off for a zero balance without a warning (warning); 004 an ISP that took 8 days against the 72 h
its operator promised on the phone (restore). Every history goes through the real Journal, analysis and
letter code (see complaint_cases); nothing here fakes a component.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from complaint_cases import CONTROLS, INTERNET, MSK, Case, _case, broker_case, isp_case
from helpers import ScriptedJournal

from watchdog.documents.compensation.values import ContactEntry
from watchdog.timefmt import to_ns


@dataclass(frozen=True)
class Seed:
    """One seed situation: its case, the provider, period, grievance and what the customer states."""

    name: str
    case: Case
    provider: str
    period: str
    about: str
    sent_on: dt.date
    details: tuple[tuple[str, str], ...] = ()
    contacts: tuple[ContactEntry, ...] = field(default=())

    @property
    def all_contacts(self) -> tuple[ContactEntry, ...]:
        return self.contacts or self.case.contacts


def _at(*args: int) -> int:
    return to_ns(dt.datetime(*args, tzinfo=MSK))  # type: ignore[misc]


ISP_2KOM = (
    "agent: {id: home-msk-1, timezone: Europe/Moscow}\n"
    + CONTROLS
    + """
providers:
  - id: isp
    name: "2КОМ"
    kind: isp
    targets: [{name: gateway, kind: tcp, address: "127.0.0.1:5"}]
    contract:
      number: "248393"
      since: 2013-05-01
      customer: "Виктор Андреевич Петров"
      customer_address: "119000, Москва, ул. Примерная, д. 1, кв. 2"
      customer_email: "v.petrov@example.ru"
      customer_phone: "+7 900 000-00-00"
      account: "248393"
      fee: {amount: 600, currency: RUB, per: month}
    contacts:
      legal_name: "ООО «2КОМ»"
      claims_address: "115280, Москва, ул. Ленинская Слобода, д. 19"
    jurisdiction: RU
"""
)


def billing_case(tmp_path: Path) -> Seed:
    """Seed 001: paid on 14 Jan 2026, the payment not credited, the line blocked 15 Jan 09:00–16 Jan 18:00."""

    def script(j: ScriptedJournal, at: Callable[..., float]) -> None:
        for key in (*INTERNET, "isp/gateway"):
            j.outage(
                key, at(2026, 1, 15, 8, 59, 30), at(2026, 1, 15, 9), at(2026, 1, 16, 17, 59, 30), at(2026, 1, 16, 18)
            )

    case = _case(
        tmp_path,
        ISP_2KOM,
        MSK,
        dt.datetime(2026, 1, 1, tzinfo=MSK),
        dt.datetime(2026, 2, 1, 12, tzinfo=MSK),
        script,
        [],
    )
    contacts = (
        ContactEntry(
            _at(2026, 1, 15, 10, 5), "phone", "", "звонок: «платёж не поступал»", "out", 240.0, ref_given=False
        ),
        ContactEntry(
            _at(2026, 1, 15, 10, 40), "portal", "TT-5531", "заявка в личном кабинете: платёж не зачислен", "out"
        ),
        ContactEntry(
            _at(2026, 1, 20, 15, 0), "phone", "", "оператор извинился и предложил 3 дня доступа бесплатно", "in", 180.0
        ),
    )
    details = (
        ("paid_on", "2026-01-14"),
        ("amount", "600"),
        ("payment_ref", "ПП-0114"),
        ("offered", "3 дня доступа бесплатно"),
    )
    return Seed("001-billing", case, "isp", "2026-01", "billing", dt.date(2026, 1, 21), details, contacts)


OTHER_LITEMF = (
    "agent: {id: home-msk-1, timezone: Europe/Moscow}\n"
    + CONTROLS
    + """
providers:
  - id: forwarder
    name: "LiteMF"
    kind: other
    targets: [{name: site, kind: tcp, address: "127.0.0.1:8"}]
    contract:
      number: "LM-77120"
      customer: "Сергей Павлович Орлов"
      customer_address: "125000, Москва, ул. Примерная, д. 7, кв. 3"
      customer_email: "s.orlov@example.ru"
    contacts:
      legal_name: "ООО «ЛайтМФ»"
      claims_email: "support@litemf.example"
    jurisdiction: RU
"""
)


def support_case(tmp_path: Path) -> Seed:
    """Seed 002: five callback requests never registered, one call of a few seconds, the facts withheld."""
    case = _case(
        tmp_path,
        OTHER_LITEMF,
        MSK,
        dt.datetime(2026, 4, 1, tzinfo=MSK),
        dt.datetime(2026, 4, 13, 12, tzinfo=MSK),
        lambda j, at: None,
        [],
    )
    requests = [
        ContactEntry(
            _at(2026, 4, d, h, 0), "portal", "", "заявка на обратный звонок: где посылка", "out", ref_given=False
        )
        for d, h in ((2, 10), (3, 11), (5, 9), (6, 14), (7, 10))
    ]
    call = ContactEntry(
        _at(2026, 4, 7, 16, 20, 0),
        "phone",
        "",
        "входящий звонок сброшен через несколько секунд; перезвонил через 30 с — не ответили",
        "in",
        5.0,
        recorded_ns=_at(2026, 4, 9, 20, 0),
    )
    chat = ContactEntry(
        _at(2026, 4, 8, 12, 0),
        "chat",
        "",
        "отказ назвать пограничный пункт и перевозчика; «у нас зафиксирована одна заявка»",
        "out",
        ref_given=False,
    )
    details = (
        ("asked", "название пограничного пункта, где задержана посылка, и транспортного оператора"),
        ("damages", "4000"),
        ("damages_note", "топливо на поездку 800 км за посылкой"),
    )
    contacts = tuple(sorted([*requests, call, chat], key=lambda c: c.at_ns))
    return Seed("002-support", case, "forwarder", "2026-04", "support", dt.date(2026, 4, 13), details, contacts)


ISP_211 = ISP_2KOM.replace('name: "2КОМ"', 'name: "Сеть 211"').replace("ООО «2КОМ»", "ООО «Сеть 211»")


def warning_case(tmp_path: Path) -> Seed:
    """Seed 003: the balance ran out and the line was cut on Sat 11 Apr 2026 19:00 until 12 Apr 12:00, no notice."""

    def script(j: ScriptedJournal, at: Callable[..., float]) -> None:
        for key in (*INTERNET, "isp/gateway"):
            j.outage(
                key, at(2026, 4, 11, 18, 59, 30), at(2026, 4, 11, 19), at(2026, 4, 12, 11, 59, 30), at(2026, 4, 12, 12)
            )

    case = _case(
        tmp_path,
        ISP_211,
        MSK,
        dt.datetime(2026, 4, 1, tzinfo=MSK),
        dt.datetime(2026, 4, 13, 12, tzinfo=MSK),
        script,
        [],
    )
    contacts = (
        ContactEntry(
            _at(2026, 4, 11, 19, 30), "phone", "", "линия отключена: «закончились деньги на счёте»", "out", 300.0
        ),
    )
    details = (("what", "закончились деньги на лицевом счёте"),)
    return Seed("003-warning", case, "isp", "2026-04", "warning", dt.date(2026, 4, 13), details, contacts)


def promise_call(at_ns: int) -> ContactEntry:
    """Seed 004's call: the fault reported by phone, the operator naming 72 h to repair it."""
    return ContactEntry(
        at_ns, "phone", "№ 123456", "заявка: нет интернета; оператор назвал срок устранения", "out", 420.0, "72h"
    )


def promise_only_case(tmp_path: Path) -> Seed:
    """Seed 004 with a contract that names no restore time: the 72 h rest on the operator's promise on the call."""
    isp = isp_case(tmp_path, promise_only=True)
    promised = (promise_call(isp.contacts[0].at_ns),)
    return Seed("004-promise", isp, "isp", "2026-10", "restore", dt.date(2026, 11, 2), (), promised)


def seeds(tmp_path: Path) -> list[Seed]:
    """All five, each in its own directory."""
    dirs = [tmp_path / n for n in ("000", "001", "002", "003", "004")]
    for d in dirs:
        d.mkdir()
    broker = broker_case(dirs[0])
    isp = isp_case(dirs[4])
    promised = (promise_call(isp.contacts[0].at_ns),)
    return [
        Seed("000-outage", broker, "broker", "2026-11", "outage", dt.date(2026, 11, 20)),
        billing_case(dirs[1]),
        support_case(dirs[2]),
        warning_case(dirs[3]),
        Seed("004-restore", isp, "isp", "2026-10", "restore", dt.date(2026, 11, 2), (), promised),
    ]
