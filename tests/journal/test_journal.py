"""The journal: rows written in order, sealed into a chain; verify names the first tampered row."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from helpers import T0, result, target

from watchdog.errors import JournalError
from watchdog.journal.chain import result_row_hash
from watchdog.journal.schema import EV_CLOCK_STEP, EV_OUTAGE_CLOSE, EV_OUTAGE_OPEN
from watchdog.journal.store import Journal, PendingEvent, Ticket
from watchdog.journal.verify import verify_journal
from watchdog.model import NS, FailureKind, Result, Role

KEYS = ["broker/trading", "internet/a"]


def build(path: Path, rows: int = 250, block: int = 100) -> Journal:
    """A journal with two targets, `rows` results 10 s apart, one outage, sealed in blocks of `block`."""
    journal = Journal.open(path)
    journal.register_targets([target(KEYS[0]), target(KEYS[1], role=Role.INTERNET)], now_ns=T0)
    items = []
    for i in range(rows):
        key = KEYS[i % 2]
        items.append(result(key, i * 5, ok=not (key == KEYS[0] and 40 <= i < 60)))
    journal.append(items)
    opened = journal.add_event(
        EV_OUTAGE_OPEN,
        {
            "start_ns": T0 + 200 * NS,
            "last_ok_ns": T0 + 190 * NS,
            "confirmed_ns": T0 + 220 * NS,
            "failure": "connect",
            "detail": "connect refused",
        },
        target=KEYS[0],
        ts_ns=T0 + 220 * NS,
    )
    journal.add_event(
        EV_OUTAGE_CLOSE,
        {"end_ns": T0 + 300 * NS, "last_fail_ns": T0 + 290 * NS},
        target=KEYS[0],
        ref=opened,
        ts_ns=T0 + 310 * NS,
    )
    journal.seal(now_ns=T0 + 2000 * NS, max_rows=block)
    return journal


# The schema 1 layout exactly as released: journals written by earlier agents must keep working.
V1_DDL = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE targets (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE);
CREATE TABLE results (
    seq INTEGER PRIMARY KEY,
    target INTEGER NOT NULL,
    ts_ns INTEGER NOT NULL,
    latency_us INTEGER,
    failure TEXT,
    detail TEXT,
    metrics TEXT
);
CREATE TABLE events (
    seq INTEGER PRIMARY KEY,
    ts_ns INTEGER NOT NULL,
    type TEXT NOT NULL,
    target INTEGER,
    ref INTEGER,
    data TEXT NOT NULL
);
CREATE INDEX events_type_ts ON events (type, ts_ns);
CREATE TABLE blocks (
    no INTEGER PRIMARY KEY,
    first_seq INTEGER NOT NULL,
    last_seq INTEGER NOT NULL,
    min_ts_ns INTEGER NOT NULL,
    max_ts_ns INTEGER NOT NULL,
    sealed_ns INTEGER NOT NULL,
    prev_hash BLOB NOT NULL,
    hash BLOB NOT NULL,
    digests BLOB NOT NULL
);
CREATE INDEX blocks_max_ts ON blocks (max_ts_ns);
CREATE TABLE cursors (name TEXT PRIMARY KEY, seq INTEGER NOT NULL, updated_ns INTEGER NOT NULL);
INSERT INTO meta (key, value) VALUES ('journal_id', '0123456789abcdef0123456789abcdef'),
    ('schema_version', '1'), ('created_ns', '1');
"""


def make_v1(path: Path) -> None:
    """An empty journal as a schema 1 agent created it."""
    conn = sqlite3.connect(path)
    conn.executescript(V1_DDL)
    conn.close()


def rows_table(path: Path) -> str:
    """The table that physically holds the results rows: ``results`` (schema 1) or ``result_rows`` (2)."""
    conn = sqlite3.connect(path)
    (kind,) = conn.execute("SELECT type FROM sqlite_master WHERE name = 'results'").fetchone()
    conn.close()
    return "results" if kind == "table" else "result_rows"


@pytest.fixture(params=["v2", "v1"])
def journal_path(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    path = tmp_path / "journal.sqlite3"
    if request.param == "v1":
        make_v1(path)
    build(path).close()
    return path


def tampered(journal_path: Path, tmp_path: Path, *sql: str) -> Path:
    """A copy of the journal with ``sql`` applied (``{rows}`` names the table that holds the results)."""
    copy = tmp_path / "copy.sqlite3"
    src = sqlite3.connect(journal_path)
    dst = sqlite3.connect(copy)
    src.backup(dst)
    src.close()
    rows = rows_table(copy)
    for statement in sql:
        dst.execute(statement.format(rows=rows))
    dst.commit()
    dst.close()
    return copy


def test_untouched_journal_verifies(journal_path: Path) -> None:
    verdict = verify_journal(journal_path)
    assert verdict.ok, verdict.problems
    # 2 target events + 250 results + 2 outage events = 254 rows in blocks of 100
    assert (verdict.rows, verdict.blocks, verdict.unsealed) == (254, 3, 0)


def test_rows_keep_their_values(journal_path: Path) -> None:
    with Journal.open(journal_path) as journal:
        rows = list(journal.iter_results())
    assert len(rows) == 250
    seq, first = rows[0]
    assert (seq, first.target, first.ts_ns, first.ok, first.latency_s) == (3, KEYS[0], T0, True, 0.001)
    failed = [r for _, r in rows if not r.ok]
    assert len(failed) == 10
    assert (failed[0].failure, failed[0].detail) == (FailureKind.CONNECT, "connect refused")


def test_results_window_and_target_filter(journal_path: Path) -> None:
    with Journal.open(journal_path) as journal:
        window = [r for _, r in journal.iter_results(T0 + 100 * NS, T0 + 200 * NS, keys=[KEYS[0]])]
    assert [(r.ts_ns - T0) // NS for r in window] == list(range(100, 200, 10))


def test_outages_pair_open_and_close(journal_path: Path) -> None:
    with Journal.open(journal_path) as journal:
        (o,) = journal.outages()
    assert (o.target, o.start_ns, o.start_bounds, o.end_ns, o.end_bounds) == (
        KEYS[0],
        T0 + 200 * NS,
        (T0 + 190 * NS, T0 + 200 * NS),
        T0 + 300 * NS,
        (T0 + 290 * NS, T0 + 300 * NS),
    )


def test_unsealed_tail_is_reported_not_failed(journal_path: Path) -> None:
    with Journal.open(journal_path) as journal:
        journal.append([result(KEYS[0], 5000, True)])
    verdict = verify_journal(journal_path)
    assert verdict.ok and verdict.unsealed == 1


def test_tickets_let_a_close_refer_to_an_open_in_the_same_batch(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "j.sqlite3") as journal:
        journal.register_targets([target(KEYS[0])])
        ticket = Ticket()
        opened = PendingEvent(EV_OUTAGE_OPEN, T0, {"start_ns": T0, "last_ok_ns": None, "confirmed_ns": T0}, KEYS[0])
        closed = PendingEvent(EV_OUTAGE_CLOSE, T0 + NS, {"end_ns": T0 + NS, "last_fail_ns": T0}, KEYS[0], ticket)
        seqs = journal.append([opened, closed], tickets=[ticket, Ticket()])
        (o,) = journal.outages()
    assert o.id == seqs[0] and o.end_ns == T0 + NS


def _stepped_outage(path: Path, open_data: dict[str, object], close_data: dict[str, object]) -> tuple[int, int, int]:
    """An outage whose first failure is at T0 + 10 s on the old clock; the clock steps +1 h; it ends 30 s later."""
    with Journal.open(path) as journal:
        journal.register_targets([target(KEYS[0])], now_ns=T0)
        start = T0 + 10 * NS
        opened = journal.add_event(
            EV_OUTAGE_OPEN,
            {"start_ns": start, "last_ok_ns": start - NS, "confirmed_ns": start + NS, **open_data},
            target=KEYS[0],
            ts_ns=start + NS,
        )
        journal.add_event(EV_CLOCK_STEP, {"step_ns": 3600 * NS, "at_ns": start + 3605 * NS}, ts_ns=start + 3605 * NS)
        end = start + 3600 * NS + 30 * NS
        journal.add_event(
            EV_OUTAGE_CLOSE,
            {"end_ns": end, "last_fail_ns": end - NS, **close_data},
            target=KEYS[0],
            ref=opened,
            ts_ns=end,
        )
        (o,) = journal.outages()
    return o.start_ns - T0, o.start_bounds[0] - T0 if o.start_bounds[0] else 0, o.duration_ns()


def test_a_clock_step_inside_an_outage_is_taken_out_of_its_duration(tmp_path: Path) -> None:
    """Steady readings on the close decide; without them the journaled clock_step events do."""
    steady = {"start_steady_ns": 5 * NS, "end_steady_ns": 35 * NS, "boot_id": "b1"}
    by_steady = _stepped_outage(tmp_path / "a.sqlite3", {"boot_id": "b1"}, steady)
    by_events = _stepped_outage(tmp_path / "b.sqlite3", {}, {})
    shifted = (3610 * NS, 3609 * NS, 30 * NS)  # the start side moved into the end's clock
    assert by_steady == shifted and by_events == shifted
    other_boot = _stepped_outage(tmp_path / "c.sqlite3", {"boot_id": "b0"}, steady)
    assert other_boot == shifted  # readings of different boots do not compare: the events decide
    no_step = {"start_steady_ns": 5 * NS, "end_steady_ns": 5 * NS + 3630 * NS, "boot_id": "b1"}
    assert _stepped_outage(tmp_path / "d.sqlite3", {"boot_id": "b1"}, no_step) == (10 * NS, 9 * NS, 3630 * NS)


@pytest.mark.parametrize(
    ("name", "sql", "first_bad", "message"),
    [
        (
            "edit a result",
            ["UPDATE {rows} SET failure = NULL, detail = NULL WHERE seq = 45"],
            45,
            "results row seq=45 (target broker/trading, 2026-09-21T14:16:50Z) does not match its seal in block 1",
        ),
        (
            "edit an outage",
            ["UPDATE events SET data = replace(data, '\"start_ns\":', '\"start_ns\":1') WHERE type = 'outage_open'"],
            253,
            "events row seq=253 (outage_open",
        ),
        (
            "delete a row",
            ["DELETE FROM {rows} WHERE seq = 150"],
            150,
            "row seq=150 is missing (sealed in block 2 (rows 101..200)): deleted or truncated",
        ),
        (
            "swap two rows",
            [
                "UPDATE {rows} SET seq = -1 WHERE seq = 50",
                "UPDATE {rows} SET seq = 50 WHERE seq = 51",
                "UPDATE {rows} SET seq = 51 WHERE seq = -1",
            ],
            50,
            "results row seq=50",
        ),
        ("truncate the tail", ["DELETE FROM {rows} WHERE seq >= 240"], 240, "row seq=240 is missing"),
        (
            "remove a block",
            ["DELETE FROM blocks WHERE no = 2"],
            201,
            "block 3 (rows 201..254): expected block number 2",
        ),
        (
            "reorder blocks",
            ["UPDATE blocks SET prev_hash = X'00' WHERE no = 3"],
            201,
            "block 3 (rows 201..254): prev_hash does not match block 2",
        ),
    ],
)
def test_tampering_is_detected_and_named(
    journal_path: Path, tmp_path: Path, name: str, sql: list[str], first_bad: int, message: str
) -> None:
    verdict = verify_journal(tampered(journal_path, tmp_path, *sql))
    assert not verdict.ok, name
    assert verdict.first_bad_seq == first_bad, verdict.problems
    assert verdict.problems[0].startswith(message), verdict.problems[0]


def test_editing_the_target_lookup_is_detected(journal_path: Path, tmp_path: Path) -> None:
    verdict = verify_journal(tampered(journal_path, tmp_path, "UPDATE targets SET key = 'lan/router' WHERE id = 1"))
    assert verdict.problems == [
        "targets table maps id 1 to 'lan/router' but the chained definition says 'broker/trading': "
        "the lookup was edited"
    ]


def test_cutting_rows_and_seals_together_needs_a_head_held_elsewhere(journal_path: Path, tmp_path: Path) -> None:
    head = verify_journal(journal_path).head
    assert head is not None
    cut = tampered(
        journal_path,
        tmp_path,
        "DELETE FROM {rows} WHERE seq > 200",
        "DELETE FROM events WHERE seq > 200",
        "DELETE FROM blocks WHERE no = 3",
    )
    assert verify_journal(cut).ok  # locally consistent: only an outside copy of the head can tell
    verdict = verify_journal(cut, expect_head=head["hash"])
    assert verdict.problems == [
        f"the chain does not contain the expected head {head['hash']}: the journal was rolled back, cut short "
        "or rebuilt since that head was recorded"
    ]
    assert verify_journal(journal_path, expect_head=head["hash"]).ok


def test_not_a_journal(tmp_path: Path) -> None:
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"not sqlite at all" * 100)
    verdict = verify_journal(junk)
    assert not verdict.ok
    assert verdict.problems[0].startswith("the file is not a readable SQLite journal")


def test_copy_keeps_verifying(journal_path: Path, tmp_path: Path) -> None:
    copy = tmp_path / "moved.sqlite3"
    shutil.copy(journal_path, copy)
    assert verify_journal(copy).ok


@pytest.mark.parametrize(
    ("name", "sql"),
    [
        ("edit a shared text", ["UPDATE texts SET text = 'connect timed out' WHERE text = 'connect refused'"]),
        ("delete a shared text", ["DELETE FROM texts"]),
        ("inline a different text", ["UPDATE result_rows SET detail = 'connect timed out' WHERE seq = 45"]),
    ],
)
def test_tampering_with_shared_texts_is_detected(tmp_path: Path, name: str, sql: list[str]) -> None:
    """A text row is part of every row that refers to it: editing it breaks the first of them."""
    path = tmp_path / "journal.sqlite3"
    build(path).close()
    verdict = verify_journal(tampered(path, tmp_path, *sql))
    assert not verdict.ok, name
    assert verdict.first_bad_seq == 45, verdict.problems
    assert verdict.problems[0].startswith("results row seq=45 (target broker/trading"), verdict.problems[0]


def test_a_new_journal_stores_a_repeating_text_once(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    with build(path) as journal:
        assert journal.schema_version == 3
        stored = journal.conn.execute(
            "SELECT seq, typeof(detail) FROM result_rows WHERE failure IS NOT NULL ORDER BY seq"
        ).fetchall()
        texts = journal.conn.execute("SELECT id, text FROM texts").fetchall()
        failed = [r for _, r in journal.iter_results() if not r.ok]
    # the first "connect refused" is stored inline, the nine after it as the id of its one texts row
    assert stored == [(43, "text")] + [(seq, "integer") for seq in range(45, 63, 2)]
    assert texts == [(1, "connect refused")]
    assert [r.detail for r in failed] == ["connect refused"] * 10
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT type FROM sqlite_master WHERE name = 'results'").fetchone() == ("view",)
    conn.close()


def test_texts_that_change_every_run_stay_inline(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "j.sqlite3") as journal:
        journal.register_targets([target(KEYS[0])], now_ns=T0)
        journal.append(
            [
                Result(KEYS[0], T0 + i * NS, True, 0.002, None, f"rtt {i} ms", {"rtt_s": i / 1000, "sent": 3})
                for i in range(50)
            ]
        )
        kinds = journal.conn.execute("SELECT DISTINCT typeof(detail), typeof(metrics) FROM result_rows").fetchall()
        assert kinds == [("text", "text")]
        assert journal.conn.execute("SELECT count(*) FROM texts").fetchone() == (0,)
        assert [r.metrics for _, r in journal.iter_results()][-1] == {"rtt_s": 0.049, "sent": 3}


def test_interning_survives_reopening_and_texts_that_look_like_numbers(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    details = ["same text", "42", "same text", "same text", "0042", "42", "42"]
    for i, detail in enumerate(details):  # a fresh Journal (empty cache) for every row
        with Journal.open(path) as journal:
            journal.register_targets([target(KEYS[0])], now_ns=T0)
            journal.append([Result(KEYS[0], T0 + i * NS, True, 0.002, None, detail, {"n": 1})])
    with Journal.open(path) as journal:
        assert [r.detail for _, r in journal.iter_results()] == details
        assert journal.conn.execute("SELECT text FROM texts ORDER BY id").fetchall() == []  # nothing repeated in time
        journal.seal(now_ns=T0 + 100 * NS)
        journal.append([Result(KEYS[0], T0 + 100 * NS, True, 0.002, None, "same text", {}) for _ in range(3)])
        journal.append([Result(KEYS[0], T0 + 101 * NS, True, 0.002, None, "same text", {})])
        assert journal.conn.execute("SELECT text FROM texts ORDER BY id").fetchall() == [("same text",)]
    with Journal.open(path) as journal:  # an empty cache finds the stored id again: no duplicate text
        journal.append([Result(KEYS[0], T0 + 102 * NS, True, 0.002, None, "same text", {}) for _ in range(2)])
        assert journal.conn.execute("SELECT count(*) FROM texts").fetchone() == (1,)
        assert [r.detail for _, r in journal.iter_results(since_ns=T0 + 100 * NS)] == ["same text"] * 6
        journal.seal(now_ns=T0 + 200 * NS)
    assert verify_journal(path).ok


def test_a_failed_write_forgets_the_text_ids_it_handed_out(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "j.sqlite3") as journal:
        journal.register_targets([target(KEYS[0])], now_ns=T0)
        journal.append([Result(KEYS[0], T0, True, 0.002, None, "first text", {})])
        # the batch interns "first text" (its second sighting), then names an unknown target: nothing is written
        with pytest.raises(JournalError):
            journal.append(
                [Result(KEYS[0], T0 + NS, True, 0.002, None, "first text", {})] * 2 + [result("nope/none", 2, True)]
            )
        assert journal.conn.execute("SELECT count(*) FROM texts").fetchone() == (0,)
        journal.conn.execute("INSERT INTO texts (text) VALUES ('another text')")  # takes the rolled-back id
        journal.append([Result(KEYS[0], T0 + 3 * NS, True, 0.002, None, "first text", {}) for _ in range(2)])
        details = [r.detail for _, r in journal.iter_results()]
    assert details == ["first text"] * 3


def test_a_schema_1_journal_opens_appends_and_verifies_as_before(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    make_v1(path)
    with build(path) as journal:
        assert (journal.schema_version, journal.journal_id) == (1, "0123456789abcdef0123456789abcdef")
        journal.append([result(KEYS[0], 5000, False), result(KEYS[0], 5010, False)])
        journal.seal(now_ns=T0 + 6000 * NS)
        failed = [r.detail for _, r in journal.iter_results() if not r.ok]
    assert failed == ["connect refused"] * 12
    conn = sqlite3.connect(path)
    tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}
    assert ("texts" not in tables, "result_rows" not in tables) == (True, True)
    assert conn.execute(
        "SELECT count(*), count(DISTINCT typeof(detail)) FROM results WHERE failure IS NOT NULL"
    ).fetchone() == (12, 1)
    assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("1",)
    conn.close()
    verdict = verify_journal(path)
    assert verdict.ok and verdict.rows == 256, verdict.problems


def test_an_unknown_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.sqlite3"
    make_v1(path)
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(JournalError, match="unsupported journal schema '4'"):
        Journal.open(path)


def test_sealing_a_block_at_a_time_up_to_a_seq_gives_a_chain_that_verifies(tmp_path: Path) -> None:
    # The agent seals a block per call up to the last row at the start of the pass (issue 19: one call sealing a
    # minute of rows held the writer thread ~1 s); rows are read a block at a time, events between results.
    path = tmp_path / "j.sqlite3"
    journal = Journal.open(path)
    journal.register_targets([target(KEYS[0]), target(KEYS[1], role=Role.INTERNET)], now_ns=T0)  # seq 1, 2
    journal.append([result(KEYS[i % 2], i * 5, True) for i in range(240)])  # seq 3..242
    journal.add_event(EV_CLOCK_STEP, {"step_ns": NS, "at_ns": T0 + 1200 * NS}, ts_ns=T0 + 1200 * NS)  # seq 243
    journal.append([result(KEYS[i % 2], 1200 + i * 5, True) for i in range(57)])  # seq 244..300
    upto = journal.last_seq()
    journal.append([result(KEYS[0], 1500, True)])  # seq 301: after the pass began, left for the next one
    passes = []
    while heads := journal.seal(max_rows=100, upto_seq=upto, max_blocks=1):
        passes.append([(h.block, h.last_seq) for h in heads])
    assert (upto, passes) == (300, [[(1, 100)], [(2, 200)], [(3, 300)]])
    assert verify_journal(path).unsealed == 1
    assert [(h.block, h.last_seq) for h in journal.seal(max_rows=100)] == [(4, 301)]
    verdict = verify_journal(path)
    assert (verdict.ok, verdict.rows, verdict.blocks, verdict.unsealed) == (True, 301, 4, 0)
    journal.close()


def test_a_result_row_hash_is_sha256_of_the_canonical_json_whatever_the_texts() -> None:
    """The row hash is written without json.dumps per row (issue 19: the seal hashes every row); it must stay
    SHA-256 of the canonical JSON the module docstring gives, for any text and for odd types a file may hold."""
    texts = ["plain", 'quote " and \\ backslash', "tab\tnew\nline\x00\x1f\x7f", "кириллица ✓ 😀", "", "\u2028\u2029"]
    rows = [
        (1, 2, 3, None, None, "d", "m"),
        (10**18, 0, -5, 174, "timeout", "d", "m"),
        (7, 1, T0, 0, None, None, None),  # no texts
        (7, 1, T0, None, "timeout", "d", None),  # a detail without metrics
        (7, 1, T0, 5, None, None, "m"),  # metrics without a detail
        (7, 1, T0, 1.5, None, "d", "m"),  # a float latency (not what the writer stores)
        (7, 1, T0, True, None, "d", "m"),
    ]
    rows += [(5, 1, T0, 12, text, text, text[::-1]) for text in texts]
    for row in rows:
        canon = json.dumps(["result", *row], ensure_ascii=False, separators=(",", ":"))
        assert result_row_hash(*row) == hashlib.sha256(canon.encode()).digest()


def test_whole_blocks_sealed_as_they_fill_are_the_blocks_the_minutes_seal_makes(tmp_path: Path) -> None:
    """At thousands of results a second the agent seals each whole block as it fills (issue 19); the chain must
    be the one a single seal of the same rows gives: same blocks, same hashes."""
    rows = [result("broker/trading", i * 0.01, i % 7 != 0) for i in range(2_500)]
    heads = []
    for name in ("as_they_fill", "at_once"):
        with Journal.open(tmp_path / f"{name}.sqlite3") as journal:
            journal.conn.execute("UPDATE meta SET value = 'same-id' WHERE key = 'journal_id'")
            journal.journal_id = "same-id"
            journal.register_targets([target()], now_ns=T0)
            journal.hashed_on_write = name == "as_they_fill"  # at once: every row read back and hashed at the seal
            journal.append(rows)
            if name == "as_they_fill":  # as the agent does: hashed in parts of 300 rows (read back), then sealed
                for expected_first in (1, 1001):
                    first = journal.whole_block_waiting()
                    assert first == expected_first
                    if first > 1:  # hashed as written (block 1 holds the target's event, written outside append)
                        head = journal.seal_hashed_block(first, now_ns=T0 + NS)
                        assert head is not None
                    else:
                        parts = [
                            journal.hash_rows(a, min(a + 299, first + 999)) for a in range(first, first + 1000, 300)
                        ]
                        head = journal.seal_block([row for part in parts for row in part], now_ns=T0 + NS)
                    assert (head.block, head.last_seq) == (1 + first // 1000, first + 999)
                assert journal.whole_block_waiting() is None  # 501 rows wait: not a whole block
                with pytest.raises(JournalError, match="sequence gap"):  # not the rows after the last block
                    journal.seal_block(journal.hash_rows(2002, 2101), now_ns=T0 + NS)
            journal.seal(now_ns=T0 + NS)
            blocks = journal.conn.execute("SELECT no, first_seq, last_seq, hash FROM blocks ORDER BY no").fetchall()
            heads.append(blocks)
        assert verify_journal(tmp_path / f"{name}.sqlite3").ok
    assert heads[0] == heads[1]
    assert [(no, first, last) for no, first, last, _ in heads[0]] == [(1, 1, 1000), (2, 1001, 2000), (3, 2001, 2501)]
