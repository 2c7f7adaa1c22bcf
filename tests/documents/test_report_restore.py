"""The SLA report counts the promised restore time the way the letters do: from the customer's first fault report
of the incident in the contact log (the provider's own call is not one), else from the incident's start, and says
which for each incident (text, HTML, JSON).

Seed 004 (tests/complaint_cases.py): no internet from Fri 2 Oct 2026 20:15 MSK to Sat 10 Oct 18:45, 72 h promised;
the journal is scripted through the real Journal, the contacts are written with the real ``add_contact``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from complaint_cases import MSK, Case, isp_case

from watchdog.documents.compensation.values import ContactEntry
from watchdog.documents.letter.rendering import render as render_letter
from watchdog.documents.report import build_report, environment, render, report_json, template_for
from watchdog.journal.contacts import add_contact
from watchdog.journal.store import Journal
from watchdog.timefmt import to_ns

NB = "\xa0"


def msk(day: int, hh: int, mm: int) -> int:
    return to_ns(dt.datetime(2026, 10, day, hh, mm, tzinfo=MSK))


def log(case: Case, *calls: tuple[int, str, str]) -> tuple[ContactEntry, ...]:
    """Write ``(at_ns, direction, ref)`` calls into the case's journal; the same calls as the letter's entries."""
    with Journal.open(case.journal, create=False) as journal:
        for at_ns, direction, ref in calls:
            add_contact(
                journal,
                provider="isp",
                channel="phone",
                note="нет интернета",
                ref=ref,
                at_ns=at_ns,
                now_ns=case.now_ns,
                direction=direction,
            )
    return tuple(ContactEntry(at_ns, "phone", ref, "нет интернета", direction) for at_ns, direction, ref in calls)


def report(case: Case) -> Any:
    with Journal.open(case.journal, create=False, readonly=True) as journal:
        return report_json(build_report(journal, case.config, "isp", "2026-10", case.now_ns))


def test_the_report_counts_from_the_first_fault_report_as_the_letter_does(tmp_path: Path) -> None:
    """The operator's call at 20:30 is not a report; mine at 20:45 is: due 20:45 on 5 Oct, back 4 d 22 h late."""
    case = isp_case(tmp_path)
    entries = log(case, (msk(2, 20, 30), "in", ""), (msk(2, 20, 45), "out", "123456"))
    data = report(case)
    [incident] = data["incidents"]
    assert {k: incident[k] for k in ("restore_excess_s", "restore_from", "restore_report", "restore_due")} == {
        "restore_excess_s": 4 * 86_400 + 22 * 3600,
        "restore_from": "report",
        "restore_report": {
            "ns": msk(2, 20, 45),
            "utc": "2026-10-02T17:45:00.000Z",
            "local": "2026-10-02T20:45:00.000+03:00",
        },
        "restore_due": {
            "ns": msk(5, 20, 45),
            "utc": "2026-10-05T17:45:00.000Z",
            "local": "2026-10-05T20:45:00.000+03:00",
        },
    }
    assert data["figures"]["past_restore_within"] == 1
    # the contact table says which entry is the operator's call to the customer
    assert [(c["direction"], c["ref"]) for c in data["contacts"]] == [("in", ""), ("out", "123456")]
    assert "нет интернета [from the provider to the customer]\n" in render(data, "report.txt.j2")
    assert "нет интернета [от провайдера клиенту]\n" in render(data, "report.txt.j2", lang="ru")
    text = render(data, "report.txt.j2")
    assert (
        "Restore deadline of each incident (the promised 3d 00h 00m)\n"
        "  2026-10-02 20:15:00 MSK (UTC+03:00): due 2026-10-05 20:45:00 MSK (UTC+03:00), from the report at "
        "2026-10-02 20:45:00 MSK (UTC+03:00); past it by 4d 22h 00m\n"
    ) in text
    ru = render(data, "report.txt.j2", lang="ru")
    assert (
        f"Срок восстановления по каждому инциденту (обещано 3{NB}суток)\n"
        "  02.10.2026 20:15:00 МСК (UTC+03:00): срок — 05.10.2026 20:45:00 МСК (UTC+03:00), считается от обращения "
        f"02.10.2026 20:45:00 МСК (UTC+03:00); превышен на 4{NB}суток 22{NB}ч\n"
    ) in ru
    html = render(data, "report.html.j2")
    assert (
        '4d 22h 00m<span class="basis">due 2026-10-05 20:45:00 MSK (UTC+03:00), from the report at '
        "2026-10-02 20:45:00 MSK (UTC+03:00)</span>"
    ) in html
    # the letter built from the same log states the same deadline and the same delay
    letter = render_letter(case.letter("isp", "2026-10", "en", dt.date(2026, 11, 2), contacts=entries), "md")
    assert (
        "ran out on 5 Oct 2026 at 20:45 MSK, but service returned only on 10 Oct 2026 at 18:45 MSK, "
        f"4{NB}days 22{NB}h late" in letter
    )


def test_without_a_report_the_report_counts_from_the_start_and_says_so(tmp_path: Path) -> None:
    """Only the operator's own call logged: 72 h from 20:15 on 2 Oct, 4 d 22 h 30 min late, "no report logged"."""
    case = isp_case(tmp_path)
    log(case, (msk(2, 20, 30), "in", ""))
    data = report(case)
    [incident] = data["incidents"]
    assert {k: incident[k] for k in ("restore_excess_s", "restore_from", "restore_report", "restore_due")} == {
        "restore_excess_s": 4 * 86_400 + 22 * 3600 + 30 * 60,
        "restore_from": "start",
        "restore_report": None,
        "restore_due": {
            "ns": msk(5, 20, 15),
            "utc": "2026-10-05T17:15:00.000Z",
            "local": "2026-10-05T20:15:00.000+03:00",
        },
    }
    assert (
        "  2026-10-02 20:15:00 MSK (UTC+03:00): due 2026-10-05 20:15:00 MSK (UTC+03:00), from the outage start: "
        "no report logged; past it by 4d 22h 30m\n"
    ) in render(data, "report.txt.j2")
    assert (
        "  02.10.2026 20:15:00 МСК (UTC+03:00): срок — 05.10.2026 20:15:00 МСК (UTC+03:00), считается от начала "
        f"сбоя: обращение не записано; превышен на 4{NB}суток 22{NB}ч 30{NB}мин\n"
    ) in render(data, "report.txt.j2", lang="ru")


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_a_late_report_puts_the_deadline_past_the_repair_in_the_report_too(tmp_path: Path, lang: str) -> None:
    """Reported at 12:00 on 8 Oct: due 12:00 on 11 Oct, back at 18:45 on 10 Oct — no incident past the deadline,
    where counting from the start (as the report did before) found one; the letter refuses --about restore."""
    case = isp_case(tmp_path)
    log(case, (msk(8, 12, 0), "out", "123456"))
    data = report(case)
    assert (data["figures"]["past_restore_within"], data["incidents"][0]["restore_excess_s"]) == (0, 0.0)
    text = render(data, "report.txt.j2", lang=lang)
    summary = {
        "en": "Restore         0 incident(s) with provider downtime ran past the restore deadline (the promised "
        "3d 00h 00m from the customer's first fault report, else from the outage start)\n",
        "ru": f"Восстановление          позже срока — 0 инцидентов с простоем по вине провайдера (обещано 3{NB}суток "
        "от первого обращения клиента о сбое, без обращения — от начала сбоя)\n",
    }
    assert summary[lang] in text
    assert ("restored in time\n" if lang == "en" else "восстановлено в срок\n") in text


def test_a_report_without_the_contact_log_says_why_it_counts_from_the_start(tmp_path: Path) -> None:
    """A pack shared with an advocate leaves the contact log out (``with_contacts=False``): the deadline runs from
    the start, and the report must not claim "no report logged" when the customer logged one at 20:45."""
    case = isp_case(tmp_path)
    log(case, (msk(2, 20, 45), "out", "123456"))
    with Journal.open(case.journal, create=False, readonly=True) as journal:
        shared = report_json(build_report(journal, case.config, "isp", "2026-10", case.now_ns, with_contacts=False))
    assert (shared["contacts"], shared["contacts_withheld"], shared["incidents"][0]["restore_from"]) == (
        [],
        True,
        "start",
    )
    assert report(case)["contacts_withheld"] is False
    assert (
        "  2026-10-02 20:15:00 MSK (UTC+03:00): due 2026-10-05 20:15:00 MSK (UTC+03:00), from the outage start: "
        "the contact log is not in this shared pack; past it by 4d 22h 30m\n"
    ) in render(shared, "report.txt.j2")
    assert (
        "считается от начала сбоя: журнал обращений в этот пакет для общего доступа не входит; превышен на "
        f"4{NB}суток 22{NB}ч 30{NB}мин\n"
    ) in render(shared, "report.txt.j2", lang="ru")
    for lang in ("en", "ru"):
        assert "no report logged" not in render(shared, "report.html.j2", lang=lang)
        assert "обращение не записано" not in render(shared, "report.html.j2", lang=lang)


def promise_only(tmp_path: Path) -> Case:
    """Seed 004 with a contract that names no restore time (no sla.restore_within, so no penalty rule either)."""
    case = isp_case(tmp_path, promise_only=True)
    assert case.config.provider("isp").sla.restore_within is None
    return case


def log_promise(case: Case, promised: str) -> None:
    with Journal.open(case.journal, create=False) as journal:
        add_contact(journal, provider="isp", channel="phone", note="нет интернета", ref="№ 123456",
                    at_ns=msk(2, 20, 45), now_ns=case.now_ns, direction="out", promised=promised)  # fmt: skip


def test_the_report_counts_with_the_promise_made_on_a_call_when_the_contract_names_none(tmp_path: Path) -> None:
    """No restore time in the contract; the operator named 72 h on my call at 20:45: the report counts with it, says
    where it comes from (text, HTML, JSON), and states the deadline the letter states (5 Oct 20:45, 4 d 22 h late)."""
    case = promise_only(tmp_path)
    log_promise(case, "72h")
    data = report(case)
    figures = data["figures"]
    assert data["provider"]["sla"]["restore_within_s"] is None  # the contract's, as before
    assert (figures["restore_within_s"], figures["restore_within_from"], figures["past_restore_within"]) == (
        259_200.0,
        "promise",
        1,
    )
    assert figures["restore_promise"] == {
        "promised": "72h",
        "promised_s": 259_200.0,
        "at": {"ns": msk(2, 20, 45), "utc": "2026-10-02T17:45:00.000Z", "local": "2026-10-02T20:45:00.000+03:00"},
        "channel": "phone",
        "ref": "№ 123456",
        "direction": "out",
        "counted": True,
    }
    [incident] = data["incidents"]
    assert (incident["restore_from"], incident["restore_excess_s"]) == ("report", 4 * 86_400 + 22 * 3600)
    assert (
        'Promised        3d 00h 00m to restore ("72h"), named by the provider on the contact of 2026-10-02 20:45:00 '
        "MSK (UTC+03:00) (phone, ref 123456): the contract names no restore time, so the deadlines count with this "
        "promise\n"
    ) in render(data, "report.txt.j2")
    assert (
        f"Обещано провайдером     восстановление за 3{NB}суток («72h») — при обращении 02.10.2026 20:45:00 МСК "
        "(UTC+03:00) (телефон, № 123456): договор срока восстановления не устанавливает, сроки считаются по этому "
        "обещанию\n"
    ) in render(data, "report.txt.j2", lang="ru")
    assert '<tr><th>Promised on a contact</th><td class="num">3d 00h 00m</td>' in render(data, "report.html.j2")
    assert "<tr><th>Обещано провайдером</th>" in render(data, "report.html.j2", lang="ru")
    # the pack's summary says where the time comes from, in its restore row
    pack = {"files": {}, "chain": {"journal_id": "j", "blocks": [], "head": None}}
    rows = {
        "en": "<td>3d 00h 00m (promised on a call, none in the contract) from the fault report (else the start)</td>",
        "ru": f"<td>3{NB}суток (обещано при обращении, в договоре срока нет) от обращения (без него — от начала)</td>",
    }
    for lang, row in rows.items():
        env = environment(ZoneInfo("Europe/Moscow"), lang)
        summary = env.get_template(template_for("summary.pdf.html.j2", lang)).render(r=data, method="", pack=pack)
        assert row in summary, lang


def test_the_contracts_restore_time_is_counted_and_a_different_promise_shown_beside_it(tmp_path: Path) -> None:
    """The contract says 72 h; the operator named 24 h on the call: the deadlines count with the contract's 72 h, and
    the report shows the promise for the record."""
    case = isp_case(tmp_path)
    log_promise(case, "24h")
    data = report(case)
    figures = data["figures"]
    assert (figures["restore_within_s"], figures["restore_within_from"]) == (259_200.0, "contract")
    assert (figures["restore_promise"]["promised_s"], figures["restore_promise"]["counted"]) == (86_400.0, False)
    assert (
        'Promised        1d 00h 00m to restore ("24h"), named by the provider on the contact of 2026-10-02 20:45:00 '
        "MSK (UTC+03:00) (phone, ref 123456); the deadlines count with the contract's 3d 00h 00m\n"
    ) in render(data, "report.txt.j2")
