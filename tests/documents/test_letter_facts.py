"""Facts a letter states must be true (issue 14 items 2-5), through the real ``watchdog complaint`` command.

A pack a written letter cites stays on disk as it was; no letter (exit 1) without data or without an
outage; no tier on coverage below the threshold, with the rule stated; example placeholders are gaps; the
window bounds come from the targets that found them; the answer deadline goes into the journal.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from complaint_cases import MSK, SLA_CONFIG, sla_case
from helpers import ScriptedJournal, target
from test_complaint_pack import ISP_ARGS, isp_setup

from watchdog.cli import main
from watchdog.config import loads
from watchdog.documents.compensation.context import COVERAGE_MIN
from watchdog.documents.letter import LetterRequest, build_letter, render
from watchdog.journal.contacts import add_contact
from watchdog.journal.store import Journal
from watchdog.notify.facts import EV_DEADLINE
from watchdog.timefmt import to_ns

UTC = ZoneInfo("UTC")


def cited_pack(letter: Path) -> tuple[str, str]:
    """The pack a Markdown letter cites: its file name and SHA-256."""
    m = re.search(r"Пакет доказательств — файл (\S+), SHA-256: `([0-9a-f]{64})`", letter.read_text(encoding="utf-8"))
    assert m, "the letter cites no pack"
    return m.group(1), m.group(2)


def test_a_pack_a_letter_cites_is_never_replaced(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = isp_setup(tmp_path)
    out = tmp_path / "out"
    first = out / "a.md"
    assert main(["complaint", "-c", str(config), *ISP_ARGS, "-o", str(first)]) == 0
    printed = capsys.readouterr().out
    pack = out / "a-evidence.zip"
    digest = hashlib.sha256(pack.read_bytes()).hexdigest()
    assert f"wrote {pack}: 10 files, SHA-256 {digest}" in printed
    assert cited_pack(first) == ("a-evidence.zip", digest)

    # the same period and journal head, --now given and equal: the pack is reused, not rewritten
    second = out / "a.html"
    assert main(["complaint", "-c", str(config), *ISP_ARGS, "-o", str(second)]) == 0
    assert f"reused {pack}" in capsys.readouterr().out
    assert hashlib.sha256(pack.read_bytes()).hexdigest() == digest

    # another letter name: its own pack; the first letter's pack is untouched
    other = ISP_ARGS
    third = out / "a.md"
    first_text = first.read_text(encoding="utf-8")
    assert main(["complaint", "-c", str(config), *other, "-o", str(out / "b.md")]) == 0
    assert hashlib.sha256(pack.read_bytes()).hexdigest() == digest
    name, sha = cited_pack(out / "b.md")
    assert name == "b-evidence.zip" and hashlib.sha256((out / name).read_bytes()).hexdigest() == sha
    # the journal grows (a contact is logged); a.md written again keeps a-evidence.zip, the new is -2.zip
    with Journal.open(tmp_path / "journal.sqlite3") as journal:
        add_contact(
            journal,
            provider="isp",
            channel="email",
            note="повторная заявка",
            at_ns=to_ns(dt.datetime(2026, 10, 5, 9, tzinfo=MSK)),
            now_ns=to_ns(dt.datetime(2026, 11, 1, 12, 30, tzinfo=MSK)),
        )
    assert main(["complaint", "-c", str(config), *other, "-o", str(third)]) == 0
    assert hashlib.sha256(pack.read_bytes()).hexdigest() == digest
    name, sha = cited_pack(third)
    assert name == "a-evidence-2.zip" and hashlib.sha256((out / name).read_bytes()).hexdigest() == sha
    assert first_text != third.read_text(encoding="utf-8")
    # every letter in the folder cites a pack that is on disk with that very hash
    for letter in out.glob("*.md"):
        name, sha = cited_pack(letter)
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == sha, letter


def test_complaint_journals_its_answer_deadline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = isp_setup(tmp_path)
    args = ["complaint", "-c", str(config), *ISP_ARGS, "-o", str(tmp_path / "a.md")]
    assert main(args) == 0
    assert "recorded the answer deadline 2026-12-03 in the journal" in capsys.readouterr().out
    assert main(args) == 0  # written again: no second event
    assert "the answer deadline 2026-12-03 is already in the journal" in capsys.readouterr().out
    with Journal.open(tmp_path / "journal.sqlite3", create=False, readonly=True) as journal:
        events = list(journal.events([EV_DEADLINE]))
    assert [(e.data["kind"], e.data["date"], e.data["provider"], e.data["sent"]) for e in events] == [
        ("complaint_answer", "2026-12-03", "isp", "2026-11-02")
    ]


def test_no_data_or_no_outage_no_letter(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = isp_setup(tmp_path)
    no_data = [
        "--provider",
        "isp",
        "--period",
        "2026-08",
        "--lang",
        "ru",
        "--date",
        "2026-11-02",
        "--now",
        "2026-11-01",
    ]
    out = tmp_path / "x.md"
    assert main(["complaint", "-c", str(config), *no_data, "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "error: no monitoring data for provider 'isp' in 2026-08" in err
    assert not out.exists() and not (tmp_path / "x-evidence.zip").exists()
    # the journal covers 1-2 Nov 12:00 with no outage in November
    nov = [
        "--provider",
        "isp",
        "--period",
        "2026-11",
        "--lang",
        "ru",
        "--date",
        "2026-11-02",
        "--now",
        "2026-11-01T12:00",
    ]
    assert main(["complaint", "-c", str(config), *nov]) == 1
    assert "error: no outage of provider 'isp' was counted in 2026-11" in capsys.readouterr().err


def test_no_tier_below_the_coverage_threshold(tmp_path: Path) -> None:
    """An hour of data with a 10-minute outage: 83 % availability over that hour, but no 100 % tier claimed."""
    config = loads(SLA_CONFIG, env={})
    origin = to_ns(dt.datetime(2026, 11, 11, 3, tzinfo=UTC))
    journal = ScriptedJournal(tmp_path / "j.sqlite3", [target(t.key, role=t.role) for t in config.targets], origin)
    journal.run(0, 3600)
    journal.outage("hosting/api", 590, 600, 1190, 1200)
    journal.close()
    request = LetterRequest("hosting", "2026-11", "en", dt.date(2026, 11, 12))
    with Journal.open(tmp_path / "j.sqlite3", create=False, readonly=True) as j:
        letter = build_letter(config, j, request, now_ns=origin + 7200 * 10**9)
    assert letter.figures.coverage < COVERAGE_MIN
    assert letter.assessment.items == ()
    (skipped,) = [s for s in letter.assessment.skipped if s.rule_id == "sla.tiered"]
    assert skipped.reason == "low_coverage"
    text = render(letter, "md")
    assert "breached" not in text and "Service credit request" not in text
    assert "only when monitoring data covers at least 90% of the period" in text
    # the same outage over a fully watched month: the tier is claimed
    full = sla_case(tmp_path / "full")
    assert full.figures("hosting", "2026-11").coverage >= COVERAGE_MIN
    assert [i.rule.id for i in full.letter("hosting", "2026-11", "en", dt.date(2026, 12, 1)).assessment.items] == [
        "sla.tiered"
    ]


def test_example_placeholders_are_gaps(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = isp_setup(tmp_path)
    text = config.read_text(encoding="utf-8")
    text = text.replace('claims_address: "115280, Москва, ул. Ленинская Слобода, д. 19"', 'claims_address: "…"')
    text = text.replace('customer_email: "v.petrov@example.ru"', 'customer_email: "..."')
    config.write_text(text, encoding="utf-8")
    assert main(["config", "check", "-c", str(config)]) == 0
    err = capsys.readouterr().err
    assert "providers[0].contacts.claims_address: '…' is a placeholder from the example config" in err
    assert "providers[0].contract.customer_email: '...' is a placeholder from the example config" in err
    assert main(["complaint", "-c", str(config), *ISP_ARGS]) == 0
    letter = capsys.readouterr().out
    assert "…" not in letter and "..." not in letter.split("---")[0]
    assert "адрес для претензий: \\[адрес для претензий из договора\\]" in letter
    assert "Не заполнено: [адрес для претензий из договора]" in letter


def test_bounds_of_the_windows_claimed(tmp_path: Path) -> None:
    """A slow TLS check on the provider does not widen the bounds of a window the 10 s check found."""
    from complaint_cases import BROKER_CONFIG, broker_case

    case = broker_case(tmp_path)
    slow = BROKER_CONFIG.replace(
        '      - {name: trading, kind: tcp, address: "127.0.0.1:6", interval: 10s}',
        '      - {name: trading, kind: tcp, address: "127.0.0.1:6", interval: 10s}\n'
        '      - {name: cert, kind: tls, address: "127.0.0.1:7", interval: 1h}',
    )
    config = loads(slow, env={})
    with Journal.open(case.journal, create=False, readonly=True) as journal:
        letter = build_letter(
            config, journal, LetterRequest("broker", "2026-11", "ru", dt.date(2026, 11, 20)), now_ns=case.now_ns
        )
    assert letter.context["measurement"].max_interval_s == 10.0
    text = render(letter, "md")
    assert (
        "- № 1 (обнаружен проверкой: TCP-соединение с 127.0.0.1:6; с интервалом 10\xa0с): начало — между "
        "16.11.2026 09:59:50 и 16.11.2026 10:00:00, окончание — между 19.11.2026 15:29:50 и 19.11.2026 15:30:00."
    ) in text


def test_a_restore_time_promised_on_a_call(tmp_path: Path) -> None:
    """No restore time in the contract: the 72 h the operator named on the call is the one counted, and said so."""
    from complaint_cases import ISP_CONFIG, isp_case

    from watchdog.documents.compensation.values import ContactEntry

    case = isp_case(tmp_path)
    text = (
        (ISP_CONFIG % "")
        .replace("    sla: {restore_within: 72h}\n", "")
        .replace("    compensation:\n      - {rule: ru.zozpp.28.5}\n", "")
    )
    config = loads(text, env={})
    assert config.provider("isp").sla.restore_within is None
    call = ContactEntry(
        to_ns(dt.datetime(2026, 10, 2, 20, 45, tzinfo=MSK)), "phone", "123456", "заявка", "out", 300.0, "72h"
    )
    request = LetterRequest("isp", "2026-10", "ru", dt.date(2026, 11, 2), contacts=(call,), about="restore")
    with Journal.open(case.journal, create=False, readonly=True) as journal:
        letter = build_letter(config, journal, request, now_ns=case.now_ns)
    body = render(letter, "md")
    assert (
        "Срок восстановления услуги — 72\xa0ч: его назвал оператор при моём обращении по телефону 02.10.2026 в "
        "20:45 МСК, обращение №\xa0123456. По перерыву № 1 срок отсчитывается от моего первого обращения о нём "
        "(02.10.2026 в 20:45 МСК) и истёк 05.10.2026 в 20:45 МСК, а услуга восстановлена только 10.10.2026 в 18:45 МСК "
        "— с опозданием на 4\xa0суток 22\xa0ч."
    ) in body
    assert "**о нарушении срока устранения неисправности**" in body


def test_support_letter_through_the_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Seed 002 by hand: contacts logged with the new fields, then `complaint --about support`; no outage needed."""
    from seed_cases import OTHER_LITEMF, support_case
    from test_complaint_pack import config_file

    support_case(tmp_path)
    config = config_file(tmp_path, OTHER_LITEMF, "agent: {id: home-msk-1, timezone: Europe/Moscow}")
    base = ["contact", "add", "-c", str(config), "--provider", "forwarder"]
    assert main([*base, "--channel", "chat", "--direction", "out", "--no-ref", "--at", "2026-04-02T10:00",
                 "--note", "заявка на обратный звонок"]) == 0  # fmt: skip
    assert main([*base, "--channel", "phone", "--direction", "in", "--duration", "5s", "--at", "2026-04-07T16:20",
                 "--note", "звонок сброшен через несколько секунд"]) == 0  # fmt: skip
    assert main([*base, "--channel", "phone", "--ref", "X", "--no-ref", "--note", "x"]) == 2
    capsys.readouterr()
    args = ["complaint", "-c", str(config), "--provider", "forwarder", "--period", "2026-04", "--lang", "ru"]
    args += ["--date", "2026-04-13", "--now", "2026-04-13T12:00"]
    assert main([*args, "--about", "billing"]) == 1
    assert "a letter --about billing states what you give with --paid-on; it is missing" in capsys.readouterr().err
    out = tmp_path / "support.md"
    assert main([*args, "--about", "support", "--asked", "где посылка", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "recorded the answer deadline 2026-04-23 in the journal" in printed  # 10 days, ст. 31 ЗоЗПП
    text = out.read_text(encoding="utf-8")
    assert "**о нерегистрации моих обращений и непредоставлении информации**" in text
    # logged today about April: each entry reads as back-dated
    # mine and the provider's call to me in tables of their own: who contacted whom is in the heading
    assert (
        "## Мои обращения к исполнителю\n\n| Дата и время | Канал | Номер | Содержание |\n|---|---|---|---|\n"
        "| 02.04.2026 10:00:00 МСК (UTC+03:00) | чат | не сообщён | заявка на обратный звонок (записано в журнал "
    ) in text
    assert text.count("позже самого обращения, по моим записям") == 2
    assert (
        "## Обращения исполнителя ко мне\n\n| Дата и время | Канал | Номер | Содержание |\n|---|---|---|---|\n"
        "| 07.04.2026 16:20:00 МСК (UTC+03:00) | телефон | — | звонок сброшен через несколько секунд (длительность 5"
    ) in text
    assert "журнале моих обращений к исполнителю — 1 запись (перечень — в разделе «Мои обращения» ниже), " in text
    assert "обращений исполнителя ко мне — 1; в 1 случае номер обращения мне не сообщили" in text
    assert "Ответить в течение 10 дней с даты получения претензии (ст. 31 Закона РФ" in text
    assert "2. Предоставить запрошенную мной информацию: где посылка." in text


def test_the_customers_grammatical_gender(tmp_path: Path) -> None:
    """From the patronymic, or contract.customer_gender; with neither, wording that needs none (never "(а)")."""
    from complaint_cases import BROKER_CONFIG, broker_case

    from watchdog.documents.letter.context import feminine

    assert feminine("Андреев Борис Сергеевич", None) is False
    assert feminine("Мария Петровна Иванова", None) is True
    assert feminine("Alex Doe", None) is None
    assert feminine("Андреев Борис Сергеевич", "female") is True
    case = broker_case(tmp_path)
    expected = {
        "": "О проблеме я сообщил в чате 16.11.2026 в 10:20 МСК, обращение №\xa0A-7781.",
        "      customer_gender: female\n": (
            "О проблеме я сообщила в чате 16.11.2026 в 10:20 МСК, обращение №\xa0A-7781."
        ),
        "NONE": "Моё первое обращение о проблеме — в чате 16.11.2026 в 10:20 МСК, обращение №\xa0A-7781.",
    }
    for extra, sentence in expected.items():
        text = BROKER_CONFIG
        if extra == "NONE":
            text = text.replace('customer: "Андреев Борис Сергеевич"', 'customer: "Boris Andreev"')
        else:
            text = text.replace(
                '      customer: "Андреев Борис Сергеевич"\n', f'      customer: "Андреев Борис Сергеевич"\n{extra}'
            )
        config = loads(text, env={})
        request = LetterRequest("broker", "2026-11", "ru", dt.date(2026, 11, 20), contacts=case.contacts)
        with Journal.open(case.journal, create=False, readonly=True) as journal:
            body = render(build_letter(config, journal, request, now_ns=case.now_ns), "md")
        assert sentence in body, extra
        assert not re.search(r"\((?:а|ла|ась)\)", body)
