"""The seed cases as scripted journals: an ISP down 8 days (ru), a broker down for days (ru), a UK repair
a week after the report (en) and a tiered SLA credit (en). Every history goes through the real Journal,
watchdog.analysis.outages.analyse and watchdog.analysis.sla.compute; nothing here fakes a component.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from helpers import ScriptedJournal, target

from watchdog.analysis.outages import analyse
from watchdog.analysis.sla import SlaFigures, compute, parse_period
from watchdog.config import Config, loads
from watchdog.documents.compensation.values import ContactEntry
from watchdog.documents.letter.build import build_letter
from watchdog.documents.letter.request import LetterRequest
from watchdog.documents.letter.views import Letter
from watchdog.journal.store import Journal
from watchdog.timefmt import to_ns

CONTROLS = """
controls:
  lan: [{name: router, kind: tcp, address: "127.0.0.1:1"}]
  internet:
    - {name: anchor-a, kind: tcp, address: "127.0.0.1:2"}
    - {name: anchor-b, kind: tcp, address: "127.0.0.1:3"}
    - {name: anchor-c, kind: tcp, address: "127.0.0.1:4"}
  quorum: 2
"""
INTERNET = ("internet/anchor-a", "internet/anchor-b", "internet/anchor-c")
HASHES = (
    ("outages.csv", "3f1a5c7e9b2d4f6a8c0e1b3d5f7a9c2e4b6d8f0a1c3e5b7d9f2a4c6e8b0d1f3a"),
    ("results.csv", "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d"),
    ("contacts.csv", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"),
)
MANIFEST = "5d41402abc4b2a76b9719d911017c592aaaaaaaabbbbbbbbccccccccdddddddd"


@dataclass(frozen=True)
class Case:
    """A config, a scripted journal and the contact log of one seed case."""

    config: Config
    journal: Path
    zone: ZoneInfo
    now_ns: int
    contacts: tuple[ContactEntry, ...]

    def figures(self, provider: str, period: str) -> SlaFigures:
        """SLA figures through the real analysis."""
        p = self.config.provider(provider)
        per = parse_period(period, self.zone)
        with Journal.open(self.journal, create=False, readonly=True) as journal:
            analysis = analyse(
                journal,
                provider_kinds={x.id: x.kind for x in self.config.providers},
                quorum=self.config.quorum,
                since_ns=per.start_ns,
                until_ns=per.end_ns,
                now_ns=self.now_ns,
            )
        return compute(analysis, p, per, self.zone)

    def letter(self, provider: str, period: str, lang: str, sent_on: dt.date, **extra: object) -> Letter:
        """A built letter with the standard attachments."""
        options: dict[str, object] = {"contacts": self.contacts, "attachments": HASHES, "manifest_sha256": MANIFEST}
        request = LetterRequest(provider, period, lang, sent_on, **(options | extra))  # type: ignore[arg-type]
        with Journal.open(self.journal, create=False, readonly=True) as journal:
            return build_letter(self.config, journal, request, now_ns=self.now_ns)


def _case(
    tmp_path: Path,
    text: str,
    zone: ZoneInfo,
    origin: dt.datetime,
    end: dt.datetime,
    script: Callable[[ScriptedJournal, Callable[..., float]], None],
    contacts: list[tuple[dt.datetime, str, str, str]],
) -> Case:
    config = loads(text, env={})
    origin_ns = to_ns(origin)

    def at(*args: int) -> float:
        return (to_ns(dt.datetime(*args, tzinfo=zone)) - origin_ns) / 1e9  # type: ignore[misc]

    targets = [target(t.key, role=t.role) for t in config.targets]
    path = tmp_path / "journal.sqlite3"
    journal = ScriptedJournal(path, targets, origin_ns=origin_ns)
    journal.run(0, (to_ns(end) - origin_ns) / 1e9)
    script(journal, at)
    journal.close()
    entries = tuple(ContactEntry(to_ns(when), channel, ref, note) for when, channel, ref, note in contacts)
    return Case(config, path, zone, to_ns(end), entries)


MSK = ZoneInfo("Europe/Moscow")
LONDON = ZoneInfo("Europe/London")

ISP_CONFIG = (
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
      customer: "Петров Виктор Андреевич"
      customer_address: "119000, Москва, ул. Примерная, д. 1, кв. 2"
      customer_email: "v.petrov@example.ru"
      customer_phone: "+7 900 000-00-00"
      account: "248393"
      tariff: "Домашний 100"
      fee: {amount: 600, currency: RUB, per: month}
    sla: {restore_within: 72h}
    compensation:
      - {rule: ru.zozpp.28.5}
%s
    contacts:
      legal_name: "ООО «2КОМ»"
      claims_address: "115280, Москва, ул. Ленинская Слобода, д. 19"
      claims_email: "claims@example.ru"
    jurisdiction: RU
"""
)


def isp_case(tmp_path: Path, extra_rules: str = "", *, promise_only: bool = False) -> Case:
    """Seed 004: no internet for eight days against a promised 72 hours, a 600 ₽ monthly fee.

    All three internet anchors and the ISP's gateway fail from Fri 2 Oct 2026 20:15 MSK to Sat 10 Oct
    18:45 (190.5 h) while the router answers; the fault was reported by phone at 20:45. ``promise_only``: the
    contract names no restore time (no ``sla.restore_within``, so no penalty rule either); only a call can.
    """
    text = ISP_CONFIG % extra_rules
    if promise_only:
        text = text.replace("    sla: {restore_within: 72h}\n", "").replace(
            "    compensation:\n      - {rule: ru.zozpp.28.5}\n", ""
        )

    def script(j: ScriptedJournal, at: Callable[..., float]) -> None:
        for key in (*INTERNET, "isp/gateway"):
            j.outage(
                key,
                at(2026, 10, 2, 20, 14, 30),
                at(2026, 10, 2, 20, 15),
                at(2026, 10, 10, 18, 44, 30),
                at(2026, 10, 10, 18, 45),
            )

    return _case(
        tmp_path,
        text,
        MSK,
        dt.datetime(2026, 10, 1, tzinfo=MSK),
        dt.datetime(2026, 11, 1, 12, tzinfo=MSK),
        script,
        [(dt.datetime(2026, 10, 2, 20, 45, tzinfo=MSK), "phone", "№ 123456", "заявка: нет интернета")],
    )


BROKER_CONFIG = (
    "agent: {id: home-msk-1, timezone: Europe/Moscow}\n"
    + CONTROLS
    + """
providers:
  - id: broker
    name: "ИТ Инвест"
    kind: broker
    targets:
      - {name: trading, kind: tcp, address: "127.0.0.1:6", interval: 10s}
    service_hours: {days: Mon-Fri, from: "07:00", to: "23:50"}
    contract:
      number: "Д-123/45"
      since: 2013-05-01
      customer: "Андреев Борис Сергеевич"
      customer_address: "190000, Санкт-Петербург, Невский пр., д. 1"
      customer_email: "b.andreev@example.ru"
      account: "ИИС-0042"
      tariff: "Фиксированный"
      fee: {amount: 300, currency: RUB, per: month}
    sla: {availability: 99.5, period: month, restore_within: 72h}
    compensation:
      - {rule: contract.fee_waiver, months: 6, when: breach}
    contacts:
      legal_name: "АО «ИТ Инвест»"
      claims_address: "119049, Москва, ул. Примерная, д. 5"
      emergency_phone: "+7 495 000-00-00"
    jurisdiction: RU
"""
)


def broker_case(tmp_path: Path) -> Case:
    """Seed 000: trading unavailable for days; six months without commission demanded.

    The trading server refuses connections from Mon 16 Nov 2026 10:00 MSK to Thu 19 Nov 15:30 while the
    line is fine: 13 h 50 min + 16 h 50 min + 16 h 50 min + 8 h 30 min = 56 h inside the trading hours.
    """

    def script(j: ScriptedJournal, at: Callable[..., float]) -> None:
        j.outage(
            "broker/trading",
            at(2026, 11, 16, 9, 59, 50),
            at(2026, 11, 16, 10),
            at(2026, 11, 19, 15, 29, 50),
            at(2026, 11, 19, 15, 30),
        )

    return _case(
        tmp_path,
        BROKER_CONFIG,
        MSK,
        dt.datetime(2026, 11, 1, tzinfo=MSK),
        dt.datetime(2026, 11, 20, 9, tzinfo=MSK),
        script,
        [
            (dt.datetime(2026, 11, 16, 10, 20, tzinfo=MSK), "chat", "A-7781", "торговая система недоступна"),
            (dt.datetime(2026, 11, 17, 9, 5, tzinfo=MSK), "phone", "", "колл-центр: «не знаем, когда починят»"),
        ],
    )


UK_CONFIG = (
    "agent: {id: home-ldn, timezone: Europe/London}\n"
    + CONTROLS
    + """
providers:
  - id: isp
    name: "Example Broadband"
    kind: isp
    targets: [{name: gateway, kind: tcp, address: "127.0.0.1:5"}]
    contract:
      number: "EB-7731"
      customer: "Jane Smith"
      customer_address: "1 Example Street, London N1 1AA"
      customer_email: "jane.smith@example.co.uk"
      account: "100200300"
      tariff: "Fibre 150"
      fee: {amount: 30, currency: GBP, per: month}
    contacts:
      legal_name: "Example Broadband Ltd"
      claims_address: "PO Box 1, London EC1A 1AA"
    jurisdiction: UK
"""
)


def uk_case(tmp_path: Path) -> Case:
    """A total loss from Mon 9 Nov 2026 07:40 GMT, reported 09:12, repaired Mon 16 Nov 10:05: 7 days later."""

    def script(j: ScriptedJournal, at: Callable[..., float]) -> None:
        for key in (*INTERNET, "isp/gateway"):
            j.outage(
                key,
                at(2026, 11, 9, 7, 39, 30),
                at(2026, 11, 9, 7, 40),
                at(2026, 11, 16, 10, 4, 30),
                at(2026, 11, 16, 10, 5),
            )

    return _case(
        tmp_path,
        UK_CONFIG,
        LONDON,
        dt.datetime(2026, 11, 1, tzinfo=LONDON),
        dt.datetime(2026, 11, 17, 9, tzinfo=LONDON),
        script,
        [(dt.datetime(2026, 11, 9, 9, 12, tzinfo=LONDON), "phone", "FLT-20931", "reported total loss of broadband")],
    )


SLA_CONFIG = (
    "agent: {id: office-1, timezone: UTC}\n"
    + CONTROLS
    + """
providers:
  - id: hosting
    name: "Example Cloud"
    kind: other
    targets: [{name: api, kind: tcp, address: "127.0.0.1:7"}]
    contract:
      number: "SLA-2026-0042"
      customer: "Alex Doe"
      customer_email: "alex@example.org"
      account: "acct-42"
      fee: {amount: 40, currency: USD, per: month}
    sla: {availability: 99.9, period: month}
    compensation:
      - {rule: sla.tiered, tiers: [[99.9, 10], [99.0, 25], [95.0, 100]], clause: "section 3.2"}
    contacts:
      legal_name: "Example Cloud Inc."
      claims_email: "sla-credits@example.com"
"""
)


def sla_case(tmp_path: Path) -> Case:
    """9 h 22 min down in a 30-day month: 98.699 % against 99.9 %, the 25 % tier (research note §5)."""
    utc = ZoneInfo("UTC")

    def script(j: ScriptedJournal, at: Callable[..., float]) -> None:
        j.outage(
            "hosting/api",
            at(2026, 11, 11, 3, 9, 30),
            at(2026, 11, 11, 3, 10),
            at(2026, 11, 11, 12, 31, 30),
            at(2026, 11, 11, 12, 32),
        )

    return _case(
        tmp_path,
        SLA_CONFIG,
        utc,
        dt.datetime(2026, 11, 1, tzinfo=utc),
        dt.datetime(2026, 12, 1, 6, tzinfo=utc),
        script,
        [(dt.datetime(2026, 11, 11, 4, 0, tzinfo=utc), "email", "CASE-5512", "API unreachable")],
    )
