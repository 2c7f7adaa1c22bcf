"""``watchdog migrate``: a journal rewritten in another results schema gives back every row exactly (issue 19).

Real parts: real SQLite journals written through ``Journal.append``/``seal`` (ICMP results as the ICMP probe's
own ``verdict`` words them: all replies, some lost, too many lost, none), the real verifier, the real data
directory lock and the real command line. Schema 1 and 2 journals are made as the earlier versions made them
(``store.SCHEMA_VERSION`` patched for the creation only, as test_journal_templates does).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import T0, target

from probes.icmp import IcmpOptions, verdict
from watchdog.agent.core import lock_data_dir
from watchdog.agent.timestamps import QUEUE_SQL, enqueue
from watchdog.cli import main
from watchdog.errors import JournalError
from watchdog.journal import migrate, store
from watchdog.journal.migrate import migrate_journal
from watchdog.journal.prune import PRUNED_SQL, prune
from watchdog.journal.store import Journal
from watchdog.journal.verify import verify_journal
from watchdog.model import NS, FailureKind, Result
from watchdog.notify.outbox import SCHEMA as OUTBOX_SQL
from watchdog.probe import Measurement

GW, TRADING, WEB = "isp/gateway", "broker/trading", "bank/web"
ROOT = Path(__file__).resolve().parents[2]
RESULTS_STORAGE = {"results", "result_rows", "texts", "templates"}


def icmp(i: int, rtts: list[float], sent: int = 3) -> Result:
    """An ICMP result worded as the probe's ``verdict`` words it (the driver journals exactly that)."""
    outcome = verdict("127.0.9.10", sent, rtts, [], IcmpOptions(count=sent))
    ts = T0 + i * 10 * NS
    if isinstance(outcome, Measurement):
        assert outcome.latency_s is not None
        return Result(GW, ts, True, outcome.latency_s, None, outcome.detail, dict(outcome.metrics))
    return Result(GW, ts, False, 1.8, outcome.failure, outcome.detail, dict(outcome.metrics))


def history(n: int) -> list[Result]:
    """``n`` rounds of an ICMP gateway (mostly all replies; some lost, too many lost, none), TCP and HTTP."""
    out: list[Result] = []
    for i in range(n):
        base = 0.000700 + i * 1.37e-6  # new times each run, with sub-µs digits as kernel timestamps give
        rtts = [base, base * 1.21, base * 0.93]
        if i % 17 == 5:
            rtts = rtts[:2]  # 2 of 3: loss 33 % ≤ max_loss_ratio, still a pass
        elif i % 29 == 7:
            rtts = rtts[:1]  # 1 of 3: too many lost, a failure that keeps its times
        elif i % 31 == 11:
            rtts = []  # no reply at all
        out.append(icmp(i, rtts))
        ts = T0 + i * 10 * NS + 1000
        if i % 13 == 3:
            out.append(Result(TRADING, ts, False, 3.0, FailureKind.CONNECT, "connect to 127.0.0.1:9 refused", {}))
        else:
            out.append(Result(TRADING, ts, True, 0.000412 + i % 7 * 1e-6, None, "connected to 127.0.0.1:9", {}))
        metrics = {"status_code": 200.0, "body_bytes": 108.0 + i % 3}
        out.append(Result(WEB, ts + 1, True, 0.0021, None, "HTTP 200 OK from http://127.0.0.1:8080/", metrics))
    return out


def build(path: Path, rounds: int = 400) -> None:
    """A journal with results, events, seals (one block pruned), an unsealed tail and operational tables."""
    with Journal.open(path) as journal:
        journal.register_targets([target(GW, kind="icmp"), target(TRADING), target(WEB, kind="http")], now_ns=T0)
        journal.add_event("agent_start", {"run": "r1"}, ts_ns=T0)
        rows = history(rounds)
        journal.append(rows[: len(rows) // 2])
        journal.add_event("outage_open", {"target": TRADING, "start_ns": T0}, target=TRADING, ts_ns=T0 + NS)
        journal.seal(now_ns=T0 + 5000 * NS, max_rows=200)
        journal.append(rows[len(rows) // 2 : -30])
        journal.add_event("contact", {"provider": "isp", "note": "ticket 77 «no fault found»"}, ts_ns=T0 + 2 * NS)
        journal.seal(now_ns=T0 + 9000 * NS, max_rows=200)
        journal.append(rows[-30:])  # left unsealed: the agent seals once a minute
        journal.set_cursor("influx", 120)
        journal.ensure_schema(OUTBOX_SQL)
        journal.conn.execute(
            "INSERT INTO notify_outbox (key, channel, category, notify_type, title, body, created_ns, next_ns) "
            "VALUES ('outage:1', 'mail', 'outage', 'failure', 'Down', 'broker/trading is down', ?, ?)",
            (T0, T0),
        )
        journal.ensure_schema(QUEUE_SQL)
        enqueue(journal, ["https://tsa.example/"], "seal", T0 + 9000 * NS)
        journal.ensure_schema(PRUNED_SQL)
        ids = list(journal.target_keys())
        # the first block's results, as if archived in a pack (prune itself checks nothing in the pack)
        done = prune(journal, T0, T0 + 1000 * NS, [{"path": "a.zip", "sha256": "0" * 64, "included_streams": ids}])
        assert (done.blocks, done.skipped) == (1, [])


def results(path: Path) -> list[tuple[Any, ...]]:
    """Every ``results`` row with its SQLite types, as a plain client reads it."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute(
            "SELECT seq, target, ts_ns, latency_us, failure, detail, metrics, typeof(latency_us), typeof(detail), "
            "typeof(metrics) FROM results ORDER BY seq"
        ).fetchall()
    finally:
        conn.close()


def other_tables(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every table but the results storage, and the schema of everything but the results storage."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        objects = conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name").fetchall()
        out = {"sqlite_master": [o for o in objects if o[2] not in RESULTS_STORAGE]}
        for _, name, _, _ in objects:
            if name not in RESULTS_STORAGE and _ == "table":
                out[name] = conn.execute(f"SELECT * FROM {name} ORDER BY 1, 2").fetchall()
        return out
    finally:
        conn.close()


def stored(path: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def payload(path: Path) -> int:
    """Bytes of the results' records (result_rows, texts, templates; schema 1's results table): no page slack."""
    names = ",".join(f"'{n}'" for n in RESULTS_STORAGE)
    return int(stored(path, f"SELECT sum(payload) FROM dbstat WHERE name IN ({names})")[0][0])


def schema_of(path: Path) -> str:
    return str(stored(path, "SELECT value FROM meta WHERE key = 'schema_version'")[0][0])


def kept_files(folder: Path) -> list[Path]:
    """Journals set aside (not the -wal/-shm a read-only client such as this test leaves beside them)."""
    return sorted(p for p in folder.iterdir() if ".schema" in p.name and not p.name.endswith(("-wal", "-shm")))


def test_schema_3_to_2_and_back_gives_every_row_back(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    build(path)
    rows, tables, old = results(path), other_tables(path), verify_journal(path)
    assert old.ok and old.pruned == 196 and old.unsealed == 30, old.problems
    icmp_seqs = {r[0] for r in rows if r[1] == 1}
    assert {r[4] for r in rows if r[1] == 1} == {None, "unexpected", "timeout"}  # ok, too many lost, none
    size_3 = path.stat().st_size

    down = migrate_journal(path, 2, now_ns=T0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["journal.sqlite3", "journal.sqlite3.schema3-20260921T141320Z"]
    assert (down.from_schema, down.to_schema, down.changed) == (3, 2, True)
    assert (down.results, down.events) == (len(rows), 6)
    assert down.head == old.head and down.bytes_before == size_3 and down.bytes_after == path.stat().st_size
    assert results(path) == rows  # every value, and its type, exactly
    assert other_tables(path) == tables  # events, seals, meta (but schema_version), outbox, queue, pruned blocks
    new = verify_journal(path)
    assert new.ok and (new.head, new.rows, new.unsealed, new.pruned) == (old.head, old.rows, 30, 196), new.problems
    assert schema_of(path) == "2"
    assert "templates" not in {n for (n,) in stored(path, "SELECT name FROM sqlite_master")}
    # ICMP texts with times inline (they differ each run); what repeats (a loss's words, TCP, HTTP) interned
    icmp_types = stored(
        path,
        "SELECT failure, typeof(detail), typeof(metrics), count(*) FROM result_rows WHERE target = 1 GROUP BY 1, 2, 3",
    )
    counts = {f: sum(1 for r in rows if r[1] == 1 and r[4] == f) for f in (None, "timeout", "unexpected")}
    assert icmp_types == [
        (None, "text", "text", counts[None]),
        ("timeout", "integer", "integer", counts["timeout"]),
        ("unexpected", "integer", "text", counts["unexpected"]),
    ]
    assert stored(path, "SELECT DISTINCT typeof(detail) FROM result_rows WHERE target = 2 AND failure IS NULL") == [
        ("integer",)
    ]
    (kept,) = kept_files(tmp_path)
    assert kept.name == "journal.sqlite3.schema3-20260921T141320Z"
    assert oct(kept.stat().st_mode & 0o777) == oct(path.stat().st_mode & 0o777) == "0o600"
    assert kept.stat().st_size == size_3 and schema_of(kept) == "3" and results(kept) == rows
    size_2, payload_2 = path.stat().st_size, payload(path)

    up = migrate_journal(path, 3, keep=False)
    assert (up.from_schema, up.to_schema, up.kept, up.head) == (2, 3, None, old.head)
    assert results(path) == rows and other_tables(path) == tables
    assert verify_journal(path).ok and schema_of(path) == "3"
    assert kept_files(tmp_path) == [kept]  # --no-keep: the schema 2 file is gone
    templated = {
        s for (s,) in stored(path, "SELECT seq FROM result_rows WHERE typeof(detail) = 'integer' AND detail < 0")
    }
    passes = {r[0] for r in rows if r[1] == 1 and r[4] is None}
    assert templated == passes and templated < icmp_seqs  # failures keep their texts
    # the results' records a third of schema 2's, no more than the agent's own schema 3 wrote; the file (pages of
    # 4 KiB for each of a dozen tables and indexes at 1,004 results) smaller per result
    assert payload(path) < payload_2 * 0.35 and payload(path) <= payload(kept)
    assert path.stat().st_size < size_2 * 0.75
    assert up.as_dict()["bytes_per_result_after"] < up.as_dict()["bytes_per_result_before"]

    with Journal.open(path) as journal:  # the agent writes on in the migrated journal
        assert journal.schema_version == 3
        journal.append([icmp(1000, [0.0011, 0.0012, 0.0013]), *history(3)[1:]])
        journal.seal(now_ns=T0 + 20_000 * NS)
        newest = journal.conn.execute("SELECT detail < 0 FROM result_rows WHERE target = 1 ORDER BY seq DESC LIMIT 1")
        assert newest.fetchone() == (1,)  # a template the migration made, used by the writer
    after = verify_journal(path)
    assert after.ok and after.rows == old.rows + 30 + 9, after.problems
    assert results(path)[: len(rows)] == rows


@pytest.mark.parametrize(("source", "to"), [(1, 3), (2, 3), (1, 2)])
def test_an_older_journal_migrates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: int, to: int) -> None:
    path = tmp_path / "journal.sqlite3"
    monkeypatch.setattr(store, "SCHEMA_VERSION", source)  # created as the earlier version created it
    build(path, rounds=120)
    monkeypatch.undo()
    assert schema_of(path) == str(source)
    rows, tables, old = results(path), other_tables(path), verify_journal(path)
    assert old.ok, old.problems
    done = migrate_journal(path, to, now_ns=T0)
    assert (done.from_schema, done.changed, done.head) == (source, True, old.head)
    assert results(path) == rows and other_tables(path) == tables
    assert verify_journal(path).ok and schema_of(path) == str(to)
    assert [p.name for p in kept_files(tmp_path)] == [f"journal.sqlite3.schema{source}-20260921T141320Z"]
    assert done.bytes_after < done.bytes_before
    again = migrate_journal(path, to)  # already there: nothing happens
    assert (again.changed, again.from_schema) == (False, to) and len(kept_files(tmp_path)) == 1
    with Journal.open(path) as journal:
        journal.append([icmp(500, [0.001, 0.002, 0.003])])
        journal.seal()
        newest = journal.conn.execute("SELECT detail < 0 FROM result_rows ORDER BY seq DESC LIMIT 1").fetchone()
        assert newest == (1 if to == 3 else 0,)  # written in the new schema
    assert verify_journal(path).ok


def test_a_journal_that_does_not_verify_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    build(path, rounds=60)
    conn = sqlite3.connect(path)
    conn.execute("UPDATE events SET data = '{\"run\":\"x\"}' WHERE type = 'agent_start'")  # an edited sealed row
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(JournalError, match=r"does not verify, nothing migrated: events row seq=4 \(agent_start"):
        migrate_journal(path, 2)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["journal.sqlite3"]


def test_a_write_during_the_migration_stops_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "journal.sqlite3"
    build(path, rounds=60)
    real = migrate.verify_journal
    calls: list[str] = []

    def verify_then_write(p: Path, **kw: Any) -> Any:  # another command (contact add) writing meanwhile
        calls.append(str(p))
        if len(calls) == 2:
            with Journal.open(path) as journal:
                journal.add_event("contact", {"note": "written during the migration"})
        return real(p, **kw)

    monkeypatch.setattr(migrate, "verify_journal", verify_then_write)
    with pytest.raises(JournalError, match="was written to while it was being migrated"):
        migrate_journal(path, 2)
    assert calls[1].endswith("journal.sqlite3.schema2.partial")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["journal.sqlite3"]
    assert schema_of(path) == "3" and verify_journal(path).unsealed == 31


@pytest.mark.parametrize("where", ["sealed", "unsealed"])
def test_a_rewrite_that_changes_a_row_is_not_swapped_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    path = tmp_path / "journal.sqlite3"
    build(path, rounds=60)
    head = verify_journal(path).head or {}
    seq = head["last_seq"] - 1 if where == "sealed" else head["last_seq"] + 5
    real = migrate._intern

    def intern_with_a_bug(dst: sqlite3.Connection) -> None:  # a bug in the rewrite, which nothing real has
        real(dst)
        dst.execute("UPDATE result_rows SET latency_us = latency_us + 1 WHERE seq = ?", (seq,))

    monkeypatch.setattr(migrate, "_intern", intern_with_a_bug)
    before = path.read_bytes()
    expected = (
        rf"the rewritten journal does not verify, nothing migrated: results row seq={seq} .* does not match its seal"
        if where == "sealed"
        else "the rewritten journal's results differ from .*: nothing migrated"
    )
    with pytest.raises(JournalError, match=expected):
        migrate_journal(path, 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["journal.sqlite3"]
    assert path.read_bytes() == before


def test_symbolic_links_are_refused_never_followed(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    build(path, rounds=20)
    victim = tmp_path / "victim"
    victim.write_text("not yours")
    planted = tmp_path / "journal.sqlite3.schema2.partial"
    planted.symlink_to(victim)
    with pytest.raises(JournalError, match=f"refusing to use {planted}: it is a symbolic link"):
        migrate_journal(path, 2)
    assert victim.read_text() == "not yours" and planted.is_symlink() and schema_of(path) == "3"
    planted.unlink()
    link = tmp_path / "link.sqlite3"
    link.symlink_to(path)
    with pytest.raises(JournalError, match=f"refusing to use {link}: it is a symbolic link"):
        migrate_journal(link, 2)
    assert schema_of(path) == "3"


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "watchdog.yaml"
    path.write_text(
        f'agent: {{id: home, data_dir: "{tmp_path / "data"}"}}\n'
        "providers:\n  - id: isp\n    targets: [{name: gw, kind: tcp, address: '127.0.0.1:9'}]\n"
        "ntp: {enabled: false}\n"
    )
    path.chmod(0o600)
    return path


def test_the_command_migrates_refuses_while_the_agent_runs_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path)
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    journal = data / "journal.sqlite3"
    build(journal, rounds=60)
    head = verify_journal(journal).head or {}
    count = len(results(journal))  # 180 written, those of the first block pruned
    before = journal.read_bytes()

    lock = lock_data_dir(data)
    try:
        assert main(["migrate", "--to", "2", "-c", str(config)]) == 1
    finally:
        os.close(lock)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"another agent is running on {data} (pid {os.getpid()}): stop it first, then migrate\n"
    assert journal.read_bytes() == before

    assert main(["migrate", "--to", "2", "-c", str(config)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"migrated {journal} from schema 3 to schema 2: {count} results and 6 events, verified ")
    assert f"(head block {head['block']} {head['hash']}, as before)" in lines[0]
    assert lines[1].startswith("  ") and "B per result)" in lines[1]
    (kept,) = kept_files(data)
    assert lines[2] == f"  the schema 3 journal is kept as {kept}"
    assert len(lines) == 3

    assert main(["migrate", "--to", "2", "-c", str(config)]) == 0  # already there
    assert capsys.readouterr().out == f"{journal} already has schema 2: nothing to do\n"

    # the installed entry point's module (python -m watchdog), --json for scripts
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-m", "watchdog", "migrate", "--to", "3", "--no-keep", "--json", "-c", str(config)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")
    out = json.loads(done.stdout)
    assert (out["from_schema"], out["to_schema"], out["changed"], out["kept"], out["head"]) == (2, 3, True, None, head)
    assert (out["results"], out["events"], out["bytes_after"]) == (count, 6, journal.stat().st_size)
    assert kept_files(data) == [kept] and verify_journal(journal).ok
    with pytest.raises(SystemExit) as exit_:
        main(["migrate", "--to", "1", "-c", str(config)])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.endswith("error: argument --to: invalid choice: 1 (choose from 2, 3)\n")
