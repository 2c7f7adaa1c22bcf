"""Issue 13 item 6: damage to an index that reports read through must not pass ``verify`` or change a report.

The journal is the scripted history of ``tests/history.py`` (real Journal API, real SQLite file). The attack
flips two bits in one entry of the ``events_type_ts`` index, on disk, in the page SQLite's catalogue names as
the index's root (``sqlite_master.rootpage`` × ``page_size``): the first ``outage_open`` entry becomes
``outage_opem``. Every row and seal is untouched, so the hash chain verifies; but a report selects outage
events by type through that index, and the broker's 30-minute outage vanishes from it (downtime 1800 s →
0 s). Before the fix ``watchdog verify --journal`` printed OK (it ran ``PRAGMA quick_check``, which does not
compare indexes with tables) and ``watchdog report`` printed the smaller figure.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from history import CANARY_LITERAL, PERIOD, config_text, env, msk, write_history

from watchdog.cli import main
from watchdog.config import Config, loads
from watchdog.documents.report import build_report, report_json
from watchdog.journal.integrity import JournalDamaged, check_readable, index_problems, open_checked
from watchdog.journal.store import Journal
from watchdog.journal.verify import verify_journal
from watchdog.web import JournalSource, StatusService, create_app
from watchdog.web.documents import default_documents

NOW = msk(10, 0)
DAMAGE = (
    "index events_type_ts does not match its table (row 21 missing from index events_type_ts; row 22 missing "
    "from index events_type_ts): the file is damaged and reports that read through this index would miss or "
    "misplace rows; restore the journal from a backup"
)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sealed, closed journal of the scripted history (no -wal beside it: a plain copy is the whole file)."""
    base = tmp_path_factory.mktemp("pristine")
    config = loads(config_text(base / "data"), env=env())
    write_history(config)
    assert not Path(f"{config.journal_path}-wal").exists()
    return config.journal_path


@pytest.fixture
def made(pristine: Path, tmp_path: Path) -> tuple[Path, Config]:
    """A config file and its own copy of the journal, to damage."""
    text = config_text(tmp_path / "data")
    (tmp_path / "watchdog.yaml").write_text(text, encoding="utf-8")
    (tmp_path / "watchdog.yaml").chmod(0o600)  # it holds the canary secrets: no permission warning
    config = loads(text, env=env())
    config.journal_path.parent.mkdir(parents=True)
    shutil.copyfile(pristine, config.journal_path)
    return tmp_path / "watchdog.yaml", config


def flip_index_entry(path: Path, index: str, needle: bytes, mask: int) -> int:
    """XOR ``mask`` into the last byte of ``needle`` in the first entry (in key order) of ``index`` holding it.

    The index fits its root page here (101 entries); the cell pointer array after the 8-byte leaf header
    lists the entries in key order. Returns the file offset changed.
    """
    with sqlite3.connect(path) as conn:
        root = conn.execute("SELECT rootpage FROM sqlite_master WHERE type = 'index' AND name = ?", (index,)).fetchone()
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    data = bytearray(path.read_bytes())
    start = (root[0] - 1) * page_size
    page = data[start : start + page_size]
    assert page[0] == 10, "a leaf index page"  # the whole index on its root page
    cells = int.from_bytes(page[3:5], "big")
    for i in range(cells):
        pointer = int.from_bytes(page[8 + 2 * i : 10 + 2 * i], "big")
        at = page.find(needle, pointer, pointer + 40)
        if at >= 0:
            offset = start + at + len(needle) - 1
            data[offset] ^= mask
            path.write_bytes(bytes(data))
            return offset
    raise AssertionError(f"no {needle!r} entry in {index}")


def downtime(journal: Journal, config: Config) -> float:
    return float(report_json(build_report(journal, config, "broker", PERIOD, NOW))["figures"]["downtime_s"])


def damage(config: Config) -> None:
    flip_index_entry(config.journal_path, "events_type_ts", b"outage_open", 0x03)  # 'n' → 'm'


def test_the_damage_changes_what_a_report_reads_but_not_the_chain(made: tuple[Path, Config]) -> None:
    _, config = made
    with Journal.open(config.journal_path, create=False, readonly=True) as journal:
        assert downtime(journal, config) == 1800.0
    damage(config)
    with Journal.open(config.journal_path, create=False, readonly=True) as journal:
        assert downtime(journal, config) == 0.0  # read around the damage: the attack the checks must stop
        assert index_problems(journal.conn) == [DAMAGE]
    with sqlite3.connect(config.journal_path) as conn:
        assert conn.execute("PRAGMA quick_check").fetchall() == [("ok",)]  # why quick_check was not enough
    conn.close()


def test_verify_names_the_damaged_index(made: tuple[Path, Config], capsys: pytest.CaptureFixture[str]) -> None:
    _, config = made
    assert verify_journal(config.journal_path).ok
    damage(config)
    verdict = verify_journal(config.journal_path)
    assert (verdict.ok, verdict.problems, verdict.rows, verdict.blocks) == (False, [DAMAGE], 30341, 31)
    assert main(["verify", "--journal", str(config.journal_path)]) == 1
    assert capsys.readouterr().out == f"{config.journal_path}: FAILED\n  {DAMAGE}\n"


def test_report_refuses_a_damaged_journal(
    made: tuple[Path, Config], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, config = made
    for name, value in env().items():
        monkeypatch.setenv(name, value)
    args = ["report", "-c", str(path), "--provider", "broker", "--period", PERIOD, "--now", "2026-11-10", "--json"]
    assert main(args) == 0
    assert '"downtime_s": 1800.0' in capsys.readouterr().out
    damage(config)
    for command in (args, ["outages", "-c", str(path), "--since", "2026-11-01", "--until", "2026-11-06"]):
        assert main(command) == 1
        captured = capsys.readouterr()
        assert captured.out == ""
        assert captured.err == (
            f"error: {config.journal_path}: refusing to compute figures from a damaged journal: {DAMAGE}; "
            "watchdog verify --journal lists them\n"
        )
    with pytest.raises(JournalDamaged), open_checked(config.journal_path):
        pass


def test_an_intact_journal_passes_the_check(made: tuple[Path, Config]) -> None:
    _, config = made
    with open_checked(config.journal_path) as journal:
        assert check_readable(journal) is journal and downtime(journal, config) == 1800.0


async def test_the_page_refuses_too(made: tuple[Path, Config]) -> None:
    _, config = made
    damage(config)
    service = StatusService(JournalSource(config, clock=lambda: NOW), cache_s=0, clock=lambda: NOW)
    expected = (
        f"{config.journal_path}: refusing to compute figures from a damaged journal: {DAMAGE}; "
        "watchdog verify --journal lists them"
    )
    async with TestClient(TestServer(create_app(service, documents=default_documents()))) as client:
        auth = {"Authorization": f"Bearer {CANARY_LITERAL}"}
        response = await client.get(f"/api/v1/report?provider=broker&period={PERIOD}", headers=auth)
        assert (response.status, await response.json()) == (503, {"error": expected})
        response = await client.get(f"/providers/broker/documents/report?period={PERIOD}", headers=auth)
        assert (response.status, await response.text()) == (503, expected + "\n")
