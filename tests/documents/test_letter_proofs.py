"""Letters state the outside proofs the journal holds: a trusted timestamp covering the period, the route at an outage.

Seed 004 (an ISP down 2–10 Oct 2026) through the real journal, analysis and letter code, with what the agent
journals: a traceroute event at the outage's opening (the data the agent's ``trace`` writes, ref = the
outage's seq) and an RFC 3161 token from a real local TSA (``openssl ts -reply``, tests/tsa_server.py) over
the sealed chain. A token that does not reach the period's last row, and a journal with neither, add nothing
(the golden letters without them stay byte-identical: test_golden_letters.py).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest
from complaint_cases import isp_case
from seed_cases import seeds
from tsa_server import LocalTsa

from watchdog.documents.letter import LetterRequest, build_letter, render
from watchdog.journal.schema import EV_OUTAGE_OPEN, EV_TRACEROUTE
from watchdog.journal.store import Journal
from watchdog.journal.tsa import (
    EV_TIMESTAMP,
    EV_TIMESTAMP_CA,
    build_request,
    ca_pem,
    ca_sha256,
    check_token,
    statement,
    token_event,
)
from watchdog.timefmt import to_ns

MSK = dt.timezone(dt.timedelta(hours=3))
TRACE = {
    "host": "127.0.0.1",
    "address": "127.0.0.1",
    "hops": [
        {"ttl": 1, "address": "192.168.1.1", "rtt_ms": 0.6},
        {"ttl": 2, "address": "10.10.0.1", "rtt_ms": 3.1},
        {"ttl": 3, "address": None},
    ],
    "reached": False,
    "ended_at": "10.10.0.1",
    "ended_ttl": 2,
    "trigger": "outage_opened",
}


def _request(lang: str) -> LetterRequest:
    return LetterRequest("isp", "2026-10", lang, dt.date(2026, 11, 2), about="restore")  # type: ignore[arg-type]


def _letter(case, lang: str) -> str:  # type: ignore[no-untyped-def]
    with Journal.open(case.journal, create=False, readonly=True) as journal:
        return render(build_letter(case.config, journal, _request(lang), now_ns=case.now_ns), "md")


def _stamp(journal: Journal, tsa: LocalTsa, ts_ns: int) -> int:
    """Seal the chain and journal a real token over its last block; return the token's last_seq."""
    journal.seal()
    head = journal.head()
    assert head is not None
    fp = ca_sha256([tsa.ca_cert])
    journal.add_event(EV_TIMESTAMP_CA, {"tsa": "local-tsa", "sha256": fp, "pem": ca_pem([tsa.ca_cert])}, ts_ns=ts_ns)
    message = statement(journal.journal_id, head.block, head.last_seq, head.hash)
    request = build_request(message)
    der = tsa.reply(request.as_bytes())
    facts = check_token(der, message, [tsa.ca_cert], request=request)
    event = token_event("local-tsa", journal.journal_id, (head.block, head.last_seq, head.hash), der, facts, fp, 0, [])
    journal.add_event(EV_TIMESTAMP, event, ts_ns=ts_ns)
    return head.last_seq


def test_letter_states_stamp_and_route(tmp_path: Path) -> None:
    case = isp_case(tmp_path)
    plain = {lang: _letter(case, lang) for lang in ("ru", "en")}
    tsa = LocalTsa(tmp_path / "tsa", "Local TSA")
    with Journal.open(case.journal, create=False) as journal:
        opened = journal.conn.execute(
            "SELECT e.seq FROM events e JOIN targets t ON e.target = t.id WHERE e.type = ? AND t.key = ?",
            (EV_OUTAGE_OPEN, "isp/gateway"),
        ).fetchall()
        assert len(opened) == 1
        opened_ns = to_ns(dt.datetime(2026, 10, 2, 20, 15, 1, tzinfo=MSK))
        journal.add_event(EV_TRACEROUTE, TRACE, target="isp/gateway", ref=int(opened[0][0]), ts_ns=opened_ns)
        last_seq = _stamp(journal, tsa, case.now_ns - 1)
        gen_ns = journal.events([EV_TIMESTAMP])[-1].data["gen_time_ns"]
    local = dt.datetime.fromtimestamp(gen_ns / 1e9, MSK)
    ru, en = _letter(case, "ru"), _letter(case, "en")

    route_ru = " Маршрут до 127.0.0.1 при начале сбоя обрывался на узле 2 (10.10.0.1)."
    stamp_ru = (
        f" Журнал заверен меткой времени (RFC 3161, TSA local-tsa): записи до № {last_seq} существовали"
        f" не позднее {local:%d.%m.%Y %H:%M:%S} МСК (UTC+03:00)."
    )
    assert ru.count(route_ru) == 1 and ru.count(stamp_ru) == 1
    assert ru.replace(route_ru, "").replace(stamp_ru, "") == plain["ru"]  # nothing else changed

    route_en = " When the outage began, the route to 127.0.0.1 ended at hop 2 (10.10.0.1)."
    stamp_en = (
        f" The journal is certified by a trusted timestamp (RFC 3161, TSA local-tsa): rows up to No. {last_seq}"
        f" existed no later than {local.day} {local:%b %Y %H:%M:%S} MSK (UTC+03:00)."
    )
    assert en.count(route_en) == 1 and en.count(stamp_en) == 1, en
    assert en.replace(route_en, "").replace(stamp_en, "") == plain["en"]


def test_stamp_short_of_the_period_is_not_stated(tmp_path: Path) -> None:
    """A token over the chain before the period's last rows were written proves nothing about those rows."""
    case = isp_case(tmp_path)
    plain = _letter(case, "ru")
    tsa = LocalTsa(tmp_path / "tsa", "Local TSA")
    with Journal.open(case.journal, create=False) as journal:
        _stamp(journal, tsa, case.now_ns - 1)
        # a row of the period journaled after the token (a late result of 31 Oct): the token does not cover it
        journal.add_event("note", {"text": "late"}, ts_ns=to_ns(dt.datetime(2026, 10, 31, 12, tzinfo=MSK)))
    assert _letter(case, "ru") == plain
    later = dataclasses.replace(case)
    with Journal.open(later.journal, create=False) as journal:
        last_seq = _stamp(journal, tsa, case.now_ns - 1)  # a new token over everything: now it is stated
    assert f"записи до № {last_seq} существовали" in _letter(case, "ru")


def test_letter_names_the_as_where_the_route_ended(tmp_path: Path) -> None:
    """With the user's ``traceroute.asn`` table the agent journals the AS of the hop where the route ended; the
    label comes from the config, so it is escaped like any other text from there."""
    case = isp_case(tmp_path)
    with Journal.open(case.journal, create=False) as journal:
        (opened,) = journal.conn.execute(
            "SELECT e.seq FROM events e JOIN targets t ON e.target = t.id WHERE e.type = ? AND t.key = ?",
            (EV_OUTAGE_OPEN, "isp/gateway"),
        ).fetchall()
        trace = {**TRACE, "asns": {"10.10.0.1": "AS64512 <Test> ISP"}, "ended_asn": "AS64512 <Test> ISP"}
        opened_ns = to_ns(dt.datetime(2026, 10, 2, 20, 15, 1, tzinfo=MSK))
        journal.add_event(EV_TRACEROUTE, trace, target="isp/gateway", ref=int(opened[0]), ts_ns=opened_ns)
    ru, en = _letter(case, "ru"), _letter(case, "en")
    assert " Маршрут до 127.0.0.1 при начале сбоя обрывался на узле 2 (10.10.0.1, AS64512 \\<Test\\> ISP)." in ru
    assert " When the outage began, the route to 127.0.0.1 ended at hop 2 (10.10.0.1, AS64512 \\<Test\\> ISP)." in en


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_no_proofs_no_sentences(tmp_path: Path, lang: str) -> None:
    text = _letter(seeds(tmp_path)[4].case, lang)
    assert "RFC 3161" not in text and "10.10.0.1" not in text
