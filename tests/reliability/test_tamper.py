"""Tamper matrix on a journal the real agent wrote: every edit, deletion, swap, truncation and rollback is caught.

The journal comes from two runs of the agent over real loopback services (the second one with an
outage), so it holds results, outage events, agent runs and seals as they occur in the field. Each
case tampers with a copy (made with SQLite's backup API, never ``cp``) and runs the verifier that
``watchdog verify --journal`` runs. Cutting the newest rows together with their seals, or putting back
an older copy of the file, leaves a chain that is consistent on its own: only a head held elsewhere
(``expect_head``, as the daily digest and the packs carry) reveals it — both halves are tested.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from helpers import Switch

from watchdog.agent.core import Agent
from watchdog.config import loads
from watchdog.journal.store import Journal
from watchdog.journal.verify import verify_journal

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def agent_journal(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str, str]:
    """(journal, copy after the first run, head after the first run, head at the end)."""
    tmp = tmp_path_factory.mktemp("tamper")
    return asyncio.run(_two_runs(tmp))


async def _two_runs(tmp: Path) -> tuple[Path, Path, str, str]:
    service, control = Switch(), Switch()
    await service.up()
    await control.up()
    text = f"""
agent: {{id: tamper, timezone: UTC, data_dir: "{tmp / "data"}"}}
defaults: {{interval: 1s, timeout: 500ms, failure_threshold: 2, success_threshold: 2}}
controls:
  internet: [{{name: anchor, kind: tcp, address: "{control.address}"}}]
providers:
  - id: svc
    targets:
      - {{name: a, kind: tcp, address: "{service.address}"}}
      - {{name: b, kind: tcp, address: "{service.address}"}}
"""
    config = loads(text, env={})
    await Agent(config, duration_s=2.5).run()
    with Journal.open(config.journal_path, create=False, readonly=True) as j:
        first_head = j.head()
    assert first_head is not None
    older = tmp / "older.sqlite3"
    _backup(config.journal_path, older)

    second = Agent(config)
    task = asyncio.create_task(second.run())
    await second.handle.started.wait()
    await asyncio.sleep(1.2)
    await service.down()
    await asyncio.sleep(3.0)
    await second.writer.call(lambda j: j.seal())  # a seal mid-run, as the agent makes every minute
    await service.up()
    await asyncio.sleep(3.0)
    second.handle.stop.set()
    await task
    await service.down()
    await control.down()
    with Journal.open(config.journal_path, create=False, readonly=True) as j:
        head = j.head()
        assert len(j.outages()) == 2 and all(not o.is_open for o in j.outages())
        assert j.conn.execute("SELECT count(*) FROM blocks").fetchone()[0] == 3
    assert head is not None
    return config.journal_path, older, first_head.hash, head.hash


def _backup(src: Path, dst: Path) -> None:
    a, b = sqlite3.connect(src), sqlite3.connect(dst)
    try:
        a.backup(b)
    finally:
        a.close()
        b.close()


def _tampered(journal: Path, tmp_path: Path, *statements: str) -> Path:
    copy = tmp_path / "tampered.sqlite3"
    _backup(journal, copy)
    conn = sqlite3.connect(copy)
    for statement in statements:
        conn.execute(statement)
    conn.commit()
    conn.close()
    return copy


def _one(journal: Path, sql: str) -> int:
    conn = sqlite3.connect(f"file:{journal}?mode=ro", uri=True)
    try:
        return int(conn.execute(sql).fetchone()[0])
    finally:
        conn.close()


@pytest.fixture
def journal(agent_journal: tuple[Path, Path, str, str]) -> Path:
    return agent_journal[0]


def test_the_untouched_journal_verifies(agent_journal: tuple[Path, Path, str, str]) -> None:
    journal, older, first_head, head = agent_journal
    verdict = verify_journal(journal, expect_head=head)
    assert verdict.ok and verdict.unsealed == 0, verdict.problems
    assert verify_journal(journal, expect_head=first_head).ok  # an older head is part of the chain
    assert verify_journal(older, expect_head=first_head).ok


# (name, SQL, expected first bad seq, words in the problem). In the SQL: {r}, {r2} = sealed results in the middle,
# {f} = the first failed result, {e} = the first outage_open event, {last} = the last sealed seq, {t} = the first
# result whose detail is stored as an id into ``texts``. The rows are physically in ``result_rows`` (``results``
# is a view over it and ``texts``).
CASES = [
    (
        "edit a result's detail",
        ["UPDATE result_rows SET detail = 'connected to 127.0.0.1:1' WHERE seq = {r}"],
        "{r}",
        "edited or swapped",
    ),
    (
        "edit a result's time",
        ["UPDATE result_rows SET ts_ns = ts_ns + 1000000000 WHERE seq = {r}"],
        "{r}",
        "edited or swapped",
    ),
    (
        "mark a failure as a success",
        ["UPDATE result_rows SET failure = NULL WHERE seq = {f}"],
        "{f}",
        "edited or swapped",
    ),
    (
        "edit an outage's start",
        ["UPDATE events SET data = replace(data, '\"start_ns\":', '\"start_ns\":1') WHERE seq = {e}"],
        "{e}",
        "edited or swapped",
    ),
    (
        "edit a text shared by many results",
        [
            "UPDATE texts SET text = 'connected to 127.0.0.1:1' "
            "WHERE id = (SELECT detail FROM result_rows WHERE seq = {t})"
        ],
        "{t}",
        "edited or swapped",
    ),
    ("delete the shared texts", ["DELETE FROM texts"], "{t}", "edited or swapped"),
    (
        "point a result at another text",
        [
            "INSERT INTO texts (id, text) VALUES (9999, 'connected to 127.0.0.1:1')",
            "UPDATE result_rows SET detail = 9999 WHERE seq = {r}",
        ],
        "{r}",
        "edited or swapped",
    ),
    ("delete a result", ["DELETE FROM result_rows WHERE seq = {r}"], "{r}", "deleted or truncated"),
    ("delete the outage", ["DELETE FROM events WHERE seq = {e}"], "{e}", "deleted or truncated"),
    (
        "swap two results' times",
        [
            "UPDATE result_rows SET ts_ns = -ts_ns WHERE seq IN ({r}, {r2})",
            "UPDATE result_rows SET ts_ns = (SELECT -ts_ns FROM result_rows x "
            "WHERE x.seq = CASE result_rows.seq WHEN {r} THEN {r2} ELSE {r} END) WHERE seq IN ({r}, {r2})",
        ],
        "{r}",
        "edited or swapped",
    ),
    (
        "truncate the newest rows, seals left",
        ["DELETE FROM result_rows WHERE seq > {last} - 5", "DELETE FROM events WHERE seq > {last} - 5"],
        None,
        "missing",
    ),
    (
        "insert a row under an existing seal",
        ["INSERT INTO events (seq, ts_ns, type, target, ref, data) VALUES ({r}, 0, 'alive', NULL, NULL, '{{}}')"],
        "{r}",
        "twice",
    ),
    ("edit a seal", ["UPDATE blocks SET hash = zeroblob(32) WHERE no = 2"], None, "the seal was altered"),
    ("re-chain a seal", ["UPDATE blocks SET prev_hash = zeroblob(32) WHERE no = 3"], None, "prev_hash does not match"),
    ("remove a seal", ["DELETE FROM blocks WHERE no = 2"], None, "block was removed"),
    (
        "point a target id at another target",
        [
            "UPDATE targets SET key = 'svc/b' WHERE key = 'svc/a'",
        ],
        None,
        "lookup was edited",
    ),
]


@pytest.mark.parametrize(("name", "statements", "bad_seq", "words"), CASES, ids=[c[0] for c in CASES])
def test_tampering_is_caught(
    journal: Path, tmp_path: Path, name: str, statements: list[str], bad_seq: str | None, words: str
) -> None:
    last = _one(journal, "SELECT max(last_seq) FROM blocks")
    values = {
        "r": _one(journal, "SELECT seq FROM results ORDER BY seq LIMIT 1 OFFSET 10"),
        "r2": _one(journal, "SELECT seq FROM results ORDER BY seq LIMIT 1 OFFSET 11"),
        "f": _one(journal, "SELECT min(seq) FROM results WHERE failure IS NOT NULL"),
        "e": _one(journal, "SELECT min(seq) FROM events WHERE type = 'outage_open'"),
        "t": _one(journal, "SELECT min(seq) FROM result_rows WHERE typeof(detail) = 'integer'"),
        "last": last,
    }
    if "targets" in statements[0]:
        statements = ["PRAGMA foreign_keys = OFF", "DELETE FROM targets WHERE key = 'svc/b'", *statements]
    copy = _tampered(journal, tmp_path, *(s.format(**values) for s in statements))
    verdict = verify_journal(copy)
    assert not verdict.ok, name
    assert any(words in p for p in verdict.problems), verdict.problems
    if bad_seq is not None:
        assert verdict.first_bad_seq == int(bad_seq.format(**values)), (verdict.first_bad_seq, verdict.problems)


def test_cutting_rows_with_their_seals_needs_the_head_held_elsewhere(
    agent_journal: tuple[Path, Path, str, str], tmp_path: Path
) -> None:
    journal, _, _, head = agent_journal
    blocks = _one(journal, "SELECT max(no) FROM blocks")
    keep = _one(journal, f"SELECT last_seq FROM blocks WHERE no = {blocks - 1}")
    copy = _tampered(
        journal,
        tmp_path,
        f"DELETE FROM result_rows WHERE seq > {keep}",
        f"DELETE FROM events WHERE seq > {keep}",
        f"DELETE FROM blocks WHERE no = {blocks}",
    )
    assert verify_journal(copy).ok  # consistent on its own: this is the limit of a chain held by one party
    verdict = verify_journal(copy, expect_head=head)
    assert not verdict.ok and "does not contain the expected head" in verdict.problems[-1]


def test_rolling_back_to_an_older_copy_needs_the_head_held_elsewhere(
    agent_journal: tuple[Path, Path, str, str],
) -> None:
    _, older, _, head = agent_journal
    assert verify_journal(older).ok
    verdict = verify_journal(older, expect_head=head)
    assert not verdict.ok
    assert verdict.problems == [
        f"the chain does not contain the expected head {head}: the journal was rolled back, "
        "cut short or rebuilt since that head was recorded"
    ]


def test_resealing_an_edited_row_without_the_chain_is_caught(journal: Path, tmp_path: Path) -> None:
    """An editor who also fixes the row's 4-byte digest in its block still breaks the block hash."""
    from watchdog.journal.chain import result_row_hash

    seq = _one(journal, "SELECT seq FROM results ORDER BY seq LIMIT 1 OFFSET 10")
    copy = _tampered(journal, tmp_path, f"UPDATE result_rows SET latency_us = 1 WHERE seq = {seq}")
    conn = sqlite3.connect(copy)
    row = conn.execute(
        "SELECT seq, target, ts_ns, latency_us, failure, detail, metrics FROM results WHERE seq = ?", (seq,)
    ).fetchone()
    no, first, digests = conn.execute(
        "SELECT no, first_seq, digests FROM blocks WHERE first_seq <= ? AND last_seq >= ?", (seq, seq)
    ).fetchone()
    i = seq - first
    fixed = bytes(digests[: 4 * i]) + result_row_hash(*row)[:4] + bytes(digests[4 * i + 4 :])
    conn.execute("UPDATE blocks SET digests = ? WHERE no = ?", (fixed, no))
    conn.commit()
    conn.close()
    verdict = verify_journal(copy)
    assert not verdict.ok
    last = _one(copy, f"SELECT last_seq FROM blocks WHERE no = {no}")
    assert verdict.problems == [
        f"block {no} (rows {first}..{last}): block hash does not match its rows: the seal was altered"
    ]
