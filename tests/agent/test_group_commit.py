"""Group commit: the writer holds commits so one transaction serves many rows, and answers nobody early.

Real parts: a JournalWriter on a real SQLite file, and a second, read-only SQLite connection that
plays "anyone else": whatever a caller is told is durable must already be readable there.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest
from helpers import result, target

from watchdog.agent.writer import HOLD_MAX_S, JournalWriter
from watchdog.journal.verify import verify_journal

KEYS = [f"svc/t{i}" for i in range(10)]


def _visible(path: Path, seq: int) -> bool:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT 1 FROM results WHERE seq = ?", (seq,)).fetchone() is not None
    finally:
        conn.close()


async def _open(path: Path, hold_s: float) -> JournalWriter:
    writer = JournalWriter(path, hold_s=hold_s)
    await writer.open()
    await writer.call(lambda j: j.register_targets([target(k) for k in KEYS]))
    return writer


async def test_rows_arriving_within_the_hold_share_one_commit_and_are_durable_when_answered(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    writer = await _open(path, 0.05)
    commits0, written0 = writer.commits, writer.written
    answered: list[tuple[int, bool]] = []

    async def one(n: int) -> None:
        await asyncio.sleep(n * 0.002)  # 100 rows over 0.2 s: about 25 per 50 ms hold
        seq = await writer.write(result(KEYS[n % 10], n, True, detail="connected"))
        assert seq is not None
        answered.append((seq, _visible(path, seq)))  # read by another connection the moment it is answered

    t0 = time.monotonic()
    await asyncio.gather(*(one(n) for n in range(100)))
    elapsed = time.monotonic() - t0
    assert writer.written - written0 == 100
    commits = writer.commits - commits0
    assert 3 <= commits <= 12, commits  # one at once, then one per 50 ms over ~0.25 s; not 100
    assert len(answered) == 100
    assert all(visible for _, visible in answered)  # nobody was told "durable" before a reader could see it
    assert elapsed < 1.0
    await writer.aclose()
    assert verify_journal(path).ok


async def test_a_row_after_a_quiet_spell_goes_at_once_one_right_after_a_commit_waits_for_the_next(
    tmp_path: Path,
) -> None:
    writer = await _open(tmp_path / "journal.sqlite3", 0.2)
    t0 = time.monotonic()
    assert await writer.write(result(KEYS[0], 1, True)) is not None
    first = time.monotonic() - t0
    assert await writer.write(result(KEYS[0], 2, True)) is not None
    second = time.monotonic() - t0 - first
    assert first < 0.15, first  # nothing committed in the last 0.2 s: no reason to hold
    assert 0.1 <= second < 0.6, second  # the previous commit started under 0.2 s ago: held until then
    await writer.aclose()


async def test_flush_commits_at_once_and_zero_hold_commits_at_once(tmp_path: Path) -> None:
    writer = await _open(tmp_path / "journal.sqlite3", HOLD_MAX_S)
    _, future = writer.submit(result(KEYS[0], 1, True))
    t0 = time.monotonic()
    await writer.flush()
    assert future.done() and future.result() is not None
    assert time.monotonic() - t0 < 0.5  # not the 1 s hold
    await writer.aclose()

    quick = await _open(tmp_path / "quick.sqlite3", 0.0)
    t0 = time.monotonic()
    assert await quick.write(result(KEYS[0], 1, True)) is not None
    assert time.monotonic() - t0 < 0.5
    await quick.aclose()


def test_the_hold_is_bounded(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"hold_s must be within 0..1.0 s"):
        JournalWriter(tmp_path / "j.sqlite3", hold_s=2.0)
