"""Backups, restores and archives (issue 17 item 3) on real SQLite files and real packs.

A backup of a journal being written to (another thread appends and seals the whole time) verifies and
restores; older backups rotate out; the agent backs up on schedule; ``watchdog archive`` keeps one
verified pack per provider beside the journal.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from pathlib import Path

import pytest
from helpers import Switch
from history import PERIOD, config_text, env, write_history

from watchdog.agent.backups import BackupSink
from watchdog.agent.core import Agent, lock_data_dir
from watchdog.agent.sinks import AgentContext, Sink
from watchdog.cli import main
from watchdog.config import loads
from watchdog.documents.pack.verify import verify_pack
from watchdog.journal.backup import NAME_RE, backup_journal
from watchdog.journal.store import Journal
from watchdog.journal.verify import verify_journal


def _config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "watchdog.yaml"
    path.write_text(
        f"""
agent: {{id: home, data_dir: "{tmp_path / "data"}"}}
providers:
  - id: isp
    targets: [{{name: gw, kind: tcp, address: "127.0.0.1:9"}}]
ntp: {{enabled: false}}
{extra}
"""
    )
    path.chmod(0o600)
    return path


class Writer(threading.Thread):
    """Appends an event every millisecond and seals every 50 rows until stopped."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.stop = threading.Event()
        self.rows = 0

    def run(self) -> None:
        with Journal.open(self.path) as journal:
            while not self.stop.is_set():
                journal.add_event("alive", {"n": self.rows})
                self.rows += 1
                if self.rows % 50 == 0:
                    journal.seal()
                time.sleep(0.001)
            journal.seal()


def test_backup_of_a_journal_being_written_verifies_rotates_and_restores(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    config = _config(tmp_path)
    journal = tmp_path / "data" / "journal.sqlite3"
    with Journal.open(journal) as j:
        j.add_event("agent_start", {"run": "r"})
        j.seal()
    writer = Writer(journal)
    writer.start()
    dest = tmp_path / "usb"
    made = []
    try:
        for n in range(3):
            while writer.rows < 200 * (n + 1):
                time.sleep(0.01)
            # a folder that does not exist yet: the trailing / asks for one
            assert main(["backup", f"{dest}/", "--keep", "2", "-c", str(config), "--json"]) == 0
            made.append(json.loads(capsys.readouterr().out))
            time.sleep(1.1)  # backups are named by the second
    finally:
        writer.stop.set()
        writer.join()
    kept = sorted(p.name for p in dest.iterdir())
    assert len(kept) == 2 and all(NAME_RE.match(name) for name in kept)
    assert [Path(m["path"]).name for m in made[1:]] == kept  # the oldest was rotated out
    assert made[2]["removed"] == [made[0]["path"]]
    assert made[0]["rows"] < made[1]["rows"] < made[2]["rows"]  # each a snapshot of a growing journal
    for name in kept:
        copy = dest / name
        assert oct(copy.stat().st_mode & 0o777) == "0o600"
        assert not Path(f"{copy}-wal").exists()  # self-contained
        assert verify_journal(copy).ok
    # every backup's head is in the original, which went on growing
    for m in made:
        assert verify_journal(journal, expect_head=m["head"]["hash"]).ok

    # restore the newest into the data_dir: the current journal is kept aside
    newest = dest / kept[-1]
    assert main(["restore", str(newest), "-c", str(config)]) == 0
    out = capsys.readouterr().out
    assert f"restored {journal} from {newest}: {made[2]['rows']} rows" in out
    aside = [p for p in journal.parent.iterdir() if p.name.startswith("journal.sqlite3.replaced-") and p.suffix != ""]
    aside = [p for p in aside if not p.name.endswith(("-wal", "-shm"))]
    assert len(aside) == 1 and verify_journal(aside[0]).ok
    restored = verify_journal(journal)
    assert restored.ok and restored.head == verify_journal(newest).head
    with Journal.open(journal) as j:  # the agent writes on where the backup ended
        j.add_event("agent_start", {"run": "after-restore"})
        j.seal()
    assert verify_journal(journal).ok


def test_backup_refuses_to_keep_a_copy_that_does_not_verify(tmp_path: Path) -> None:
    journal = tmp_path / "j.sqlite3"
    with Journal.open(journal) as j:
        j.add_event("agent_start", {"run": "r"})
        j.seal()
        j.conn.execute('UPDATE events SET data = \'{"run":"x"}\' WHERE seq = 1')  # an edited sealed row
    with pytest.raises(Exception, match="the copy does not verify, so it was not kept: events row seq=1"):
        backup_journal(journal, tmp_path / "copy.sqlite3")
    assert not (tmp_path / "copy.sqlite3").exists()
    assert not (tmp_path / "copy.sqlite3.partial").exists()


def test_restore_refused_while_the_agent_runs(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    config = _config(tmp_path)
    journal = tmp_path / "data" / "journal.sqlite3"
    with Journal.open(journal) as j:
        j.add_event("agent_start", {"run": "r"})
        j.seal()
    backup_journal(journal, tmp_path / "b.sqlite3")
    lock = lock_data_dir(tmp_path / "data")
    try:
        assert main(["restore", str(tmp_path / "b.sqlite3"), "-c", str(config)]) == 1
        assert "stop it first, then restore" in capsys.readouterr().err
    finally:
        os.close(lock)


async def test_agent_backs_up_on_schedule(tmp_path: Path) -> None:
    target = Switch()
    await target.up()
    cfg = loads(
        f"""
agent: {{id: home, data_dir: "{tmp_path / "data"}"}}
providers:
  - id: isp
    targets: [{{name: gw, kind: tcp, address: "{target.address}"}}]
backup: {{dest: "{tmp_path / "nas"}/", every: 1100ms, keep: 2}}
ntp: {{enabled: false}}
web: {{enabled: false}}
"""
    )
    sinks: list[BackupSink] = []

    def factory(ctx: AgentContext) -> Sink | None:
        sinks.append(BackupSink(ctx, ctx.config.model.backup))
        return sinks[-1]

    agent = Agent(cfg, sink_factories=[factory])
    task = asyncio.create_task(agent.run())
    await asyncio.wait_for(agent.handle.started.wait(), 10)
    loop = asyncio.get_running_loop()
    end = loop.time() + 20
    while len(sinks[0].done) < 3:
        assert loop.time() < end, "three scheduled backups"
        await asyncio.sleep(0.05)
    agent.handle.stop.set()
    assert await task == 0
    await target.down()
    files = sorted((tmp_path / "nas").iterdir())
    assert len(files) == 2  # keep: 2
    assert [f.name for f in files] == [r.path.name for r in sinks[0].done[-2:]]
    assert all(verify_journal(f).ok for f in files)


def test_archive_keeps_a_verified_pack_per_provider_beside_the_journal(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    cfg = tmp_path / "watchdog.yaml"
    cfg.write_text(config_text(tmp_path / "data"), encoding="utf-8")
    cfg.chmod(0o600)
    saved = {k: os.environ.get(k) for k in env()}
    os.environ.update(env())
    try:
        config = loads(cfg.read_text(encoding="utf-8"), env=env())
        write_history(config)
        # not yet ended: refused
        assert main(["archive", "-c", str(cfg), "--period", PERIOD, "--now", "2026-11-03T00:00"]) == 2
        assert "has not ended yet" in capsys.readouterr().err
        assert main(["archive", "-c", str(cfg), "--period", PERIOD, "--now", "2026-11-10T00:00", "--json"]) == 0
        written = json.loads(capsys.readouterr().out)["archives"]
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    assert [w["provider"] for w in written] == [p.id for p in config.providers]
    for w in written:
        path = Path(w["path"])
        assert path.parent == config.data_dir / "archive" / "2026-11-02..2026-11-04"
        assert verify_pack(path).ok


def test_archive_then_prune_keeps_the_chain_verifiable(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    cfg = tmp_path / "watchdog.yaml"
    cfg.write_text(config_text(tmp_path / "data"), encoding="utf-8")
    cfg.chmod(0o600)
    saved = {k: os.environ.get(k) for k in env()}
    os.environ.update(env())
    try:
        config = loads(cfg.read_text(encoding="utf-8"), env=env())
        write_history(config)
        before = verify_journal(config.journal_path)
        assert before.ok and before.pruned == 0
        args = ["archive", "-c", str(cfg), "--period", PERIOD, "--now", "2026-11-10T00:00", "--prune", "--json"]
        assert main(args) == 0
        out = json.loads(capsys.readouterr().out)
        # the report of the pruned period comes from the archive, not from what is left of the journal
        assert main(["report", "-c", str(cfg), "--provider", "broker", "--period", PERIOD, "--now", "2026-11-10"]) == 1
        err = capsys.readouterr().err
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    pruned = out["pruned"]
    assert pruned["blocks"] > 0 and pruned["rows"] > 0 and pruned["skipped"] == []
    after = verify_journal(config.journal_path)
    assert after.ok, after.problems
    assert after.pruned == pruned["rows"]
    assert after.rows + after.pruned == before.rows  # every row is either still there or stood for by its digest
    assert after.head == before.head and after.blocks == before.blocks
    broker = next(a["path"] for a in out["archives"] if a["provider"] == "broker")
    assert "were pruned from the journal after archiving" in err and broker in err
    for a in out["archives"]:
        assert verify_pack(a["path"]).ok  # the archive still verifies on its own

    path = config.journal_path
    with Journal.open(path) as journal:
        no, streams = journal.conn.execute("SELECT no, streams FROM pruned_blocks ORDER BY no LIMIT 1").fetchone()
        first, last = journal.conn.execute("SELECT first_seq, last_seq FROM blocks WHERE no = ?", (no,)).fetchone()
    # a pruned stream digest edited: the block's hash no longer recomputes
    edited = tmp_path / "edited.sqlite3"
    backup_journal(path, edited)
    with Journal.open(edited) as journal:
        changed = json.loads(streams)
        stream = next(iter(changed))
        changed[stream][0] += 1
        journal.conn.execute("UPDATE pruned_blocks SET streams = ? WHERE no = ?", (json.dumps(changed), no))
    verdict = verify_journal(edited)
    assert not verdict.ok
    label = f"block {no} (rows {first}..{last})"
    gone = sum(c for c, _ in json.loads(streams).values())  # the rows really pruned from this block
    assert verdict.problems == [
        f"{label}: {gone} rows are gone but {gone + 1} were pruned: deleted",
        f"{label}: block hash does not match its rows and its pruned streams' digests: the seal was altered",
    ]
    # a results row put back into a pruned block: named as inserted
    inserted = tmp_path / "inserted.sqlite3"
    backup_journal(path, inserted)
    with Journal.open(inserted) as journal:
        missing = next(
            s
            for s in range(first, last + 1)
            if journal.conn.execute("SELECT 1 FROM events WHERE seq = ?", (s,)).fetchone() is None
        )
        journal.conn.execute(
            "INSERT INTO result_rows (seq, target, ts_ns, latency_us, failure, detail, metrics) "
            "VALUES (?, 1, 1, 1, NULL, NULL, NULL)",
            (missing,),
        )
    verdict = verify_journal(inserted)
    assert not verdict.ok
    assert verdict.first_bad_seq == missing
    assert "whose results were pruned: inserted" in verdict.problems[0]
