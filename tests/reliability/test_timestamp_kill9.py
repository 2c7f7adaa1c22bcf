"""The timestamp queue survives a TSA outage and kill -9 (issue 17): a real ``watchdog run`` subprocess.

The TSA (``openssl ts -reply`` behind HTTP on 127.0.0.1, tests/tsa_server.py) answers 503 while the agent
queues and retries; the agent is killed with SIGKILL (nothing flushed, nothing sealed by it), the TSA comes
back, and the restarted agent sends the head its queue kept, so the token's ``queued_ns`` is the first run's.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from faults import AgentProcess, TcpListener, wait_until
from tsa_server import LocalTsa

from watchdog.cli import main
from watchdog.journal.verify import verify_journal


@pytest.fixture
def tsa(tmp_path: Path) -> Iterator[LocalTsa]:
    server = LocalTsa(tmp_path / "tsa", "Kill TSA").start()
    yield server
    server.stop()


def queue(journal: Path) -> list[tuple[int, int, int]]:
    try:
        conn = sqlite3.connect(f"file:{journal}?mode=ro", uri=True)
        try:
            return conn.execute("SELECT block, queued_ns, attempts FROM timestamp_queue ORDER BY block").fetchall()
        finally:
            conn.close()
    except sqlite3.Error:
        return []


def tokens(journal: Path) -> list[dict]:
    conn = sqlite3.connect(f"file:{journal}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT data FROM events WHERE type = 'timestamp' ORDER BY seq").fetchall()
    finally:
        conn.close()
    return [json.loads(r[0]) for r in rows]


def status(config: Path, capsys) -> dict:  # type: ignore[no-untyped-def]
    assert main(["status", "-c", str(config), "--json"]) == 0
    return json.loads(capsys.readouterr().out)["timestamps"][0]


def test_queue_survives_kill_9(tmp_path: Path, tsa: LocalTsa, capsys) -> None:  # type: ignore[no-untyped-def]
    listener = TcpListener()
    config = tmp_path / "watchdog.yaml"
    config.write_text(
        f"""
agent: {{id: kill, timezone: UTC, data_dir: "{tmp_path / "data"}"}}
ntp: {{enabled: false}}  # the default servers are public: never asked from a test
web: {{enabled: false}}
providers:
  - id: isp
    targets: [{{name: gw, kind: tcp, address: "{listener.address}"}}]
timestamp:
  retry: 200ms
  tsas: [{{name: kill-tsa, url: "{tsa.url}", ca_file: "{tsa.ca_file}"}}]
"""
    )
    config.chmod(0o600)
    journal = tmp_path / "data" / "journal.sqlite3"
    tsa.mode = "down"
    agent = AgentProcess(config, tmp_path / "agent.log")
    try:
        agent.start()
        wait_until(lambda: any(a >= 2 for _, _, a in queue(journal)), 30, "two failed attempts, queued")
        agent.kill9()
        kept = queue(journal)
        assert len(kept) == 1 and tsa.granted == 0
        waiting = status(config, capsys)  # watchdog status shows the queue
        assert waiting["tsa"] == "kill-tsa" and waiting["configured"] is True
        assert waiting["queued"] == 1 and waiting["queued_since_ns"] == kept[0][1]
        assert waiting["attempts"] >= 2 and waiting["error"] == "HTTP 503" and waiting["last_token_ns"] is None
        tsa.mode = "ok"
        agent.start()
        wait_until(lambda: tokens(journal), 30, "the token the queue kept, after the restart")
        assert agent.stop() == 0
    finally:
        agent.close()
        listener.stop()
    (token,) = tokens(journal)
    assert token["queued_ns"] == kept[0][1]  # the request queued before the kill, answered after it
    assert token["block"] >= kept[0][0]
    assert queue(journal) == []
    verdict = verify_journal(journal)
    assert verdict.ok, verdict.problems
    assert [s.problem for s in verdict.stamps] == [None]
    done = status(config, capsys)
    assert done["queued"] == 0 and done["last_token_ns"] == token["gen_time_ns"]
    assert done["last_rows_up_to"] == token["last_seq"]
    assert main(["status", "-c", str(config)]) == 0
    assert "kill-tsa" in capsys.readouterr().out
