"""The page shows what keeps the evidence safe and the service paid (issues 17, 18), never a secret.

A scripted journal (tests/web_helpers.py) gets: a real RFC 3161 token from a local TSA (``openssl ts
-reply``, nothing on the network) for the sealed head, a token that names another hash (it must not be
shown as a seal), two heads queued for the TSA, a real verified backup in a folder, a balance reading with
an account tariff, a card's days left read by a probe, and TLS expiry warnings (one open, one for a
certificate already past its end). ``/metrics`` gives the same as gauges, with exact lines.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.utils import floatToGoString as go
from tsa_server import LocalTsa
from web_helpers import SCRIPT_CONFIG, write_script

from watchdog.agent.timestamps import QUEUE_SQL, enqueue
from watchdog.config import loads
from watchdog.journal.backup import backup_journal
from watchdog.journal.balance import add_balance
from watchdog.journal.schema import EV_CERT_EXPIRING
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
from watchdog.model import NS, Result, Target
from watchdog.timefmt import to_ns
from watchdog.web import JournalSource, StatusService, create_app
from watchdog.web.data import AuditNow, CertWarningNow, StampAudit, open_cert_warnings

MSK = ZoneInfo("Europe/Moscow")
ORIGIN = to_ns(dt.datetime(2026, 11, 20, tzinfo=MSK))
NOW = ORIGIN + 3630 * NS
DAY = 86_400 * NS
SECRETS = ("tsa-password", "heartbeat-secret-uuid", "nas-share-secret", "hunter2")
OTHER = 'Other "<TSA>" \\ b'  # a TSA name with what HTML and the Prometheus text format must escape


def config_for(base: Path, tsa: LocalTsa, language: str = "en") -> Any:
    text = (
        SCRIPT_CONFIG.format(
            data_dir=base / "data",
            language=language,
            extra=f"""
timestamp:
  tsas:
    - {{name: Local TSA, url: "http://user:tsa-password@127.0.0.1:9/tsr", ca_file: "{tsa.ca_file}"}}
    - {{name: "Other \\"<TSA>\\" \\\\ b", url: "http://127.0.0.1:9/other", ca_file: "{tsa.ca_file}"}}
heartbeat: {{url: "https://hc.example/ping/heartbeat-secret-uuid", interval: 5m}}
backup: {{dest: "{base / "nas-share-secret" / "watchdog"}/", every: 1d}}
""",
        )
        .replace(
            "restore_within: 72h}",
            "restore_within: 72h}\n    account: {tariff: 600, per: month, currency: RUB}",
        )
        .replace(
            "sla: {availability: 99.9}",
            'sla: {availability: 99.9}\n    account: {expiry_from: "online:card_days_left"}',
        )
    )
    return loads(text, env={})


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("upkeep")
    tsa = LocalTsa(base / "tsa", "Local TSA")
    config = config_for(base, tsa)
    write_script(config, ORIGIN)
    with Journal.open(config.journal_path) as journal:
        fp = ca_sha256([tsa.ca_cert])
        journal.add_event(EV_TIMESTAMP_CA, {"tsa": "Local TSA", "sha256": fp, "pem": ca_pem([tsa.ca_cert])})
        head = journal.head()
        assert head is not None
        stamped = (head.block, head.last_seq, head.hash)
        message = statement(journal.journal_id, *stamped)
        request = build_request(message)
        der = tsa.reply(request.as_bytes())
        facts = check_token(der, message, [tsa.ca_cert], request=request)
        journal.add_event(EV_TIMESTAMP, token_event("Local TSA", journal.journal_id, stamped, der, facts, fp, 0, ["x"]))
        ids = {info.key: info.id for info in journal.targets().values()}
        journal.add_event(
            EV_CERT_EXPIRING,
            {"not_after_ns": NOW + 5 * DAY + DAY // 2, "days_left": 5.6, "min_days_left": 14, "detail": "x"},
            target="bank/online",
            ts_ns=ORIGIN + 3000 * NS,
        )
        journal.add_event(
            EV_CERT_EXPIRING,
            {"not_after_ns": NOW - DAY, "days_left": 0.1, "min_days_left": 14, "detail": "x"},
            target="broker/trading",
            ts_ns=ORIGIN + 60 * NS,
        )
        assert ids
        # the bank's page gives the card's expiry: the probe read 41 days left
        journal.append([Result("bank/online", NOW - 30 * NS, True, 0.02, metrics={"card_days_left": 41.0})])
        journal.seal(now_ns=NOW - 400 * NS)
        journal.conn.executescript(QUEUE_SQL)
        enqueue(journal, ["Local TSA"], "outage", NOW - 300 * NS)
        # the reading seals a new block: a second head waits in the queue
        reading = Decimal("180.00")
        add_balance(journal, provider="broker", amount=reading, currency="RUB", at_ns=NOW - 600 * NS, now_ns=NOW)
        enqueue(journal, ["Local TSA"], "interval", NOW - 60 * NS)
        # the agent records an HTTP status or an error type; the page still drops any URL an error might carry
        journal.conn.execute(
            "UPDATE timestamp_queue SET attempts = 3, error = ?",
            ("HTTP 503 from http://user:tsa-password@127.0.0.1:9/tsr",),
        )
    backup = backup_journal(config.journal_path, str(base / "nas-share-secret" / "watchdog") + "/")
    with Journal.open(config.journal_path) as journal:
        # a token under another TSA's name that names a hash the chain does not hold: never shown as a seal
        # (written after the backup: a backup verifies the whole journal, and this token would fail it)
        forged = (stamped[0], stamped[1], "00" * 32)
        event = token_event(OTHER, journal.journal_id, forged, der, facts, fp, 0, ["x"])
        forged_seq = journal.add_event(EV_TIMESTAMP, event)
    return {
        "base": base,
        "tsa": tsa,
        "config": config,
        "facts": facts,
        "stamped": stamped,
        "backup": backup,
        "forged_seq": forged_seq,
    }


def app_for(config: Any) -> Any:
    return create_app(StatusService(JournalSource(config, clock=lambda: NOW), cache_s=0, clock=lambda: NOW))


async def test_status_json_shows_seals_backup_balance_and_warnings(made: dict[str, Any]) -> None:
    config, facts, stamped, backup = made["config"], made["facts"], made["stamped"], made["backup"]
    async with TestClient(TestServer(app_for(config))) as client:
        response = await client.get("/api/v1/status")
        body = await response.text()
        data = await response.json()
    assert response.status == 200
    for secret in (*SECRETS, "127.0.0.1:9", "hc.example"):  # neither the TSA's nor the heartbeat's URL
        assert secret not in body
    assert "api" in data and "providers" in data and "line" in data  # the old keys stay
    upkeep = data["upkeep"]
    local, other = upkeep["timestamps"]
    assert local == {
        "tsa": "Local TSA",
        "configured": True,
        "sealed_ns": facts.gen_time_ns,
        "sealed": local["sealed"],
        "sealed_local": local["sealed_local"],
        "block": stamped[0],
        "rows_up_to": stamped[1],
        "queued": 2,
        "queued_since_ns": NOW - 300 * NS,
        "queued_since": local["queued_since"],
        "queued_since_local": local["queued_since_local"],
        "attempts": 3,
        "error": "HTTP 503 from <url>",
        "bad_tokens": 0,
    }
    assert local["sealed_local"].endswith("+03:00")
    assert (other["tsa"], other["sealed_ns"], other["rows_up_to"], other["queued"]) == (OTHER, None, None, 0)
    # the forged token is not a seal, and the page says so: which TSA, which head, what is wrong
    assert other["bad_tokens"] == 1 and upkeep["bad_token_count"] == 1 and upkeep["unchecked_tokens"] == 0
    block, last_seq, head_hex = stamped
    assert upkeep["bad_tokens"] == [
        {
            "seq": made["forged_seq"],
            "tsa": OTHER,
            "block": block,
            "rows_up_to": last_seq,
            "problem": f"names head {'0' * 16}… of block {block}, but the chain's block {block} is {head_hex[:16]}…",
        }
    ]
    assert upkeep["backup"]["file"] == backup.path.name
    assert re.fullmatch(r"journal-\d{8}T\d{6}Z\.sqlite3", upkeep["backup"]["file"])
    assert upkeep["backup"]["bytes"] == backup.bytes and upkeep["backup"]["problem"] is None
    assert upkeep["backup"]["at_ns"] == backup.path.stat().st_mtime_ns
    # watchdog serve cannot know how the pushes went (they are not journaled): only the live agent's page says
    assert upkeep["heartbeat"] == {"configured": True, "method": "GET", "interval_s": 300.0, "last_push": None}
    broker, bank = data["providers"]
    # 180 RUB at 600 RUB a month (19.71 a day) pays 9 whole days from 20 November: service stops on the 29th
    assert broker["balance"] == {
        "amount": "180.00",
        "currency": "RUB",
        "at_ns": NOW - 600 * NS,
        "at": broker["balance"]["at"],
        "at_local": "2026-11-20T00:50:30.000+03:00",
        "source": "manual",
        "per_day": 19.71,
        "run_out": "2026-11-29",
        "days_left": 9,
    }
    assert bank["balance"] is None
    assert broker["warnings"] == []  # its certificate warning is for a certificate already past its end
    (warning,) = bank["warnings"]
    assert warning["kind"] == "cert_expiring" and warning["target"] == "bank/online"
    assert warning["not_after_ns"] == NOW + 5 * DAY + DAY // 2 and warning["days_left"] == 5.5
    assert warning["first_warned_ns"] == ORIGIN + 3000 * NS
    assert bank["state"] == "up" and bank["open_outages"] == 0  # a warning, not an outage


def shown(ts_ns: int) -> str:
    """A time as the page writes it (inside a <time> element)."""
    return dt.datetime.fromtimestamp(ts_ns / NS, MSK).strftime("%Y-%m-%d %H:%M:%S")


def words(html: str) -> str:
    """The page's text without its tags."""
    return re.sub(r"<[^>]+>", "", html)


async def test_pages_in_english_and_russian(made: dict[str, Any]) -> None:
    config, facts, stamped = made["config"], made["facts"], made["stamped"]
    async with TestClient(TestServer(app_for(config))) as client:
        page = await (await client.get("/")).text()
        provider = await (await client.get("/providers/broker")).text()
    html = words(page)
    for each in (page, provider):
        for secret in SECRETS:
            assert secret not in each
    sealed = shown(facts.gen_time_ns)
    assert f"Journal sealed by TSA Local TSA up to row {stamped[1]}, no later than {sealed}" in html
    assert "2 heads wait in the queue (HTTP 503 from &lt;url&gt;)" in html
    assert "127.0.0.1:9" not in page
    assert "TSA Other &#34;&lt;TSA&gt;&#34; \\ b: no verified token yet." in page and OTHER not in page
    # a stored token that does not verify is named plainly (the TSA's name escaped), with what to run
    assert (
        '<p class="banner bad" data-bad-tokens="1">1 timestamp token does not verify '
        f"(TSA Other &#34;&lt;TSA&gt;&#34; \\ b, head seq {stamped[1]}): "
        "run <code>watchdog verify --journal</code>.</p>"
    ) in page
    assert f"Last backup {shown(made['backup'].path.stat().st_mtime_ns)}: {made['backup'].path.name}" in html
    assert "Pushed every 5\u00a0min 00\u00a0s" in html
    assert "180.00 RUB" in html and "runs out on 2026-11-29" in html and "9 days left" in html
    assert "runs out on 2026-11-29" in provider
    assert '<li class="banner warn" data-warning="cert_expiring" data-target="bank/online">' in page
    not_after = shown(NOW + 5 * DAY + DAY // 2)
    assert f"Warning (not an outage): the TLS certificate of bank/online expires on {not_after}, in 5.5 days." in html

    ru = config_for(made["base"], made["tsa"], language="ru")
    async with TestClient(TestServer(app_for(ru))) as client:
        html_ru = words(await (await client.get("/")).text())
    assert f"Журнал заверен TSA Local TSA до записи {stamped[1]}, не позднее" in html_ru
    assert "2 заголовка ждут в очереди" in html_ru
    assert "осталось 9 дней" in html_ru and "закончится 2026-11-29" in html_ru
    assert "Предупреждение (не сбой): TLS-сертификат bank/online истекает" in html_ru
    assert "Последняя копия" in html_ru and "Сигнал жизни" in html_ru
    assert (
        f"1 метка времени не проходит проверку (TSA Other &#34;&lt;TSA&gt;&#34; \\ b, заголовок seq {stamped[1]}): "
        "запустите watchdog verify --journal."
    ) in html_ru


def test_a_renewed_certificate_closes_its_warning() -> None:
    config = loads(SCRIPT_CONFIG.format(data_dir="/nonexistent", language="en", extra=""), env={})
    target: Target = next(t for t in config.targets if t.key == "bank/online")
    not_after = NOW + 5 * DAY
    from watchdog.journal.readers import Event

    events = [Event(1, NOW - DAY, EV_CERT_EXPIRING, 7, None, {"not_after_ns": not_after})]
    keys = {7: target.key}
    same = Result(target.key, NOW, True, 0.02, metrics={"not_after_ts": not_after / NS})
    renewed = Result(target.key, NOW, True, 0.02, metrics={"not_after_ts": (not_after + 90 * DAY) / NS})
    open_one = CertWarningNow(target.key, not_after, NOW - DAY, NOW - DAY)
    assert open_cert_warnings(events, keys, config, {target.key: same}, NOW) == {"bank": (open_one,)}
    assert open_cert_warnings(events, keys, config, {}, NOW) == {"bank": (open_one,)}
    assert open_cert_warnings(events, keys, config, {target.key: renewed}, NOW) == {}
    assert open_cert_warnings(events, keys, config, {}, not_after + 1) == {}  # past its end: an outage's business


async def test_metrics_show_balance_expiry_seals_and_backup(made: dict[str, Any]) -> None:
    config, facts, backup = made["config"], made["facts"], made["backup"]
    async with TestClient(TestServer(app_for(config))) as client:
        response = await client.get("/metrics")
        body = await response.text()
    assert response.status == 200
    for secret in (*SECRETS, "127.0.0.1:9", "hc.example"):
        assert secret not in body
    agent = 'agent="home-msk-1"'
    other = 'tsa="Other \\"<TSA>\\" \\\\ b"'  # the text format escapes " and \\ in a label value
    expected = [
        f'watchdog_balance_amount{{{agent},currency="RUB",provider="broker"}} 180.0',
        f'watchdog_balance_reading_timestamp_seconds{{{agent},provider="broker"}} {go((NOW - 600 * NS) / NS)}',
        f'watchdog_balance_days_left{{{agent},provider="broker"}} 9.0',  # as the page: runs out on the 29th
        f'watchdog_account_expiry_days_left{{{agent},provider="bank"}} 41.0',
        f'watchdog_tsa_last_token_timestamp_seconds{{{agent},tsa="Local TSA"}} {go(facts.gen_time_ns / NS)}',
        f'watchdog_tsa_queued_heads{{{agent},tsa="Local TSA"}} 2.0',
        f"watchdog_tsa_queued_heads{{{agent},{other}}} 0.0",
        f'watchdog_tsa_failed_requests{{{agent},tsa="Local TSA"}} 3.0',
        f"watchdog_tsa_failed_requests{{{agent},{other}}} 0.0",
        f'watchdog_tsa_bad_tokens{{{agent},tsa="Local TSA"}} 0.0',
        f"watchdog_tsa_bad_tokens{{{agent},{other}}} 1.0",  # the forged token
        f"watchdog_backup_last_timestamp_seconds{{{agent}}} {go(backup.path.stat().st_mtime_ns / NS)}",
        f"watchdog_backup_age_seconds{{{agent}}} 0.0",  # made after the journal's fixed 'now'
        f"watchdog_backup_size_bytes{{{agent}}} {go(float(backup.bytes))}",
    ]
    found = [
        line
        for line in body.splitlines()
        if line.startswith(("watchdog_balance", "watchdog_account", "watchdog_tsa", "watchdog_backup"))
    ]
    assert found == expected
    assert "# TYPE watchdog_balance_days_left gauge" in body
    # the other TSA has no verified token (its only one names another hash): no last-token line for it
    assert f"watchdog_tsa_last_token_timestamp_seconds{{{agent},{other}}}" not in body


def test_each_token_is_checked_once(made: dict[str, Any], tmp_path: Path) -> None:
    """The page does not check every token on every request: the audit answers from its cache until a token
    row is added, then checks only the new rows (the objects it found before are kept, not made again)."""
    path = tmp_path / "journal.sqlite3"
    shutil.copyfile(made["backup"].path, path)  # a verified copy with one good token and no bad one
    facts, stamped = made["facts"], made["stamped"]
    audit = StampAudit()
    with Journal.open(path) as journal:
        assert audit.look(journal) == AuditNow((), 0)
        forged = token_event("TSA A", journal.journal_id, (stamped[0], stamped[1], "00" * 32), b"x", facts, "", 0, [])
        first_seq = journal.add_event(EV_TIMESTAMP, forged)
        (first,) = audit.look(journal).bad
        assert (first.seq, first.tsa, first.last_seq) == (first_seq, "TSA A", stamped[1])
        assert audit.look(journal) is audit.look(journal)  # no new token row: the cached answer
        unknown = token_event("TSA B", journal.journal_id, (99, 5, "ab" * 32), b"x", facts, "", 0, [])
        second_seq = journal.add_event(EV_TIMESTAMP, unknown)
        kept, second = audit.look(journal).bad
        assert kept is first  # checked once
        problem = "names block 99, which the chain does not hold"
        assert (second.seq, second.tsa, second.problem) == (second_seq, "TSA B", problem)
        # a token row gone (the journal replaced by an older copy): everything is checked again
        journal.conn.execute("DELETE FROM events WHERE seq = ?", (second_seq,))
        (again,) = audit.look(journal).bad
        assert again == first and again is not first


def test_a_long_journal_is_checked_a_batch_at_a_time(made: dict[str, Any], tmp_path: Path) -> None:
    """A year of tokens is not checked in one request: each look checks a batch, newest first, and the page
    says how many older ones wait; a token written meanwhile is checked at the next look."""
    path = tmp_path / "journal.sqlite3"
    shutil.copyfile(made["backup"].path, path)
    facts = made["facts"]
    audit = StampAudit(batch=2)
    with Journal.open(path) as journal:
        seqs = [
            journal.add_event(
                EV_TIMESTAMP, token_event(f"T{i}", journal.journal_id, (99, i, "ab" * 32), b"x", facts, "", 0, [])
            )
            for i in range(5)
        ]
        # the journal's one good token and the five bad ones: six rows, two a look, newest first
        looks = [audit.look(journal) for _ in range(3)]
        assert [[b.seq for b in look.bad] for look in looks] == [seqs[3:], seqs[1:], seqs]
        assert [look.unchecked for look in looks] == [4, 2, 0]
        assert audit.look(journal) is looks[-1]
        late = journal.add_event(
            EV_TIMESTAMP, token_event("T9", journal.journal_id, (99, 9, "ab" * 32), b"x", facts, "", 0, [])
        )
        assert [b.seq for b in audit.look(journal).bad] == [*seqs, late]
