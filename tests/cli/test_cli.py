"""The CLI: exit codes (0 fine, 1 down/failed, 2 bad config), tables and the stable JSON shapes."""

from __future__ import annotations

import json
import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import ScriptedJournal, target

from watchdog.cli import main
from watchdog.config import loads


@pytest.fixture
def listening() -> Iterator[int]:
    """A real listening TCP socket on loopback (connects complete from the kernel's backlog)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield sock.getsockname()[1]
    sock.close()


@pytest.fixture
def closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def write_config(tmp_path: Path, up: int, down: int | None = None) -> Path:
    targets = f'      - {{name: web, kind: tcp, address: "127.0.0.1:{up}"}}\n'
    if down is not None:
        targets += f'      - {{name: app, kind: tcp, address: "127.0.0.1:{down}"}}\n'
    path = tmp_path / "watchdog.yaml"
    path.write_text(
        f'agent: {{id: cli, timezone: Europe/Moscow, data_dir: "{tmp_path / "data"}"}}\n'
        "controls:\n  internet:\n"
        f'    - {{name: anchor, kind: tcp, address: "127.0.0.1:{up}"}}\n'
        "providers:\n  - id: bank\n    kind: bank\n    targets:\n" + targets
    )
    path.chmod(0o600)
    return path


def test_check_all_up(tmp_path: Path, listening: int, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "-c", str(write_config(tmp_path, listening))]) == 0
    out = capsys.readouterr().out
    assert "bank/web" in out and "internet/anchor" in out
    assert out.rstrip().endswith("2/2 up")


def test_check_something_down(
    tmp_path: Path, listening: int, closed_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "--json", "-c", str(write_config(tmp_path, listening, closed_port))]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is False
    by_target = {r["target"]: r for r in data["results"]}
    assert set(by_target) == {"internet/anchor", "bank/web", "bank/app"}
    app = by_target["bank/app"]
    assert (app["ok"], app["failure"], app["detail"]) == (
        False,
        "connect",
        f"connect 127.0.0.1:{closed_port}: Connection refused",
    )
    assert set(app) == {"target", "kind", "address", "ok", "ts", "ts_ns", "latency_s", "failure", "detail", "metrics"}


def test_bad_config_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("agent:\n  colour: blue\n")
    assert main(["check", "-c", str(path)]) == 2
    assert main(["config", "check", "-c", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bad config:\n")
    assert f"  {path}:2: agent.colour: unknown key" in err


def test_config_check(tmp_path: Path, listening: int, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_config(tmp_path, listening)
    assert main(["config", "check", "--json", "-c", str(path)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["ok"], data["providers"], data["targets"], data["quorum"]) == (
        True,
        ["bank"],
        ["internet/anchor", "bank/web"],
        1,
    )


def scripted(tmp_path: Path, listening: int) -> Path:
    path = write_config(tmp_path, listening)
    config = loads(path.read_text(), env={})
    j = ScriptedJournal(tmp_path / "data" / "journal.sqlite3", [target(t.key, role=t.role) for t in config.targets])
    j.run(0, 3600)
    j.outage("bank/web", 590, 600, 890, 900)
    j.close()
    return path


def test_outages_json_shape(tmp_path: Path, listening: int, capsys: pytest.CaptureFixture[str]) -> None:
    path = scripted(tmp_path, listening)
    assert (
        main(["outages", "--json", "-c", str(path), "--since", "2026-09-21T14:00Z", "--until", "2026-09-21T16:00Z"])
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert (data["agent"], data["timezone"]) == ("cli", "Europe/Moscow")
    (o,) = data["outages"]
    assert (o["provider"], o["target"], o["role"], o["open"], o["duration_s"], o["attribution"]) == (
        "bank",
        "bank/web",
        "provider",
        False,
        300.0,
        "provider",
    )
    assert (o["start"], o["start_local"], o["end"]) == (
        "2026-09-21T14:23:20.000Z",
        "2026-09-21T17:23:20.000+03:00",
        "2026-09-21T14:28:20.000Z",
    )
    assert o["start_bounds_ns"][1] - o["start_bounds_ns"][0] == 10 * 10**9
    assert o["segments"] == [
        {
            "start_ns": o["start_ns"],
            "end_ns": o["end_ns"],
            "attribution": "provider",
            "reason": "no LAN control, internet 1/1 up (quorum 1)",
        }
    ]


def test_outages_table(tmp_path: Path, listening: int, capsys: pytest.CaptureFixture[str]) -> None:
    path = scripted(tmp_path, listening)
    assert main(["outages", "-c", str(path), "--since", "2026-09-21", "--provider", "bank"]) == 0
    out = capsys.readouterr().out
    assert "bank/web  2026-09-21 17:23:20 MSK (UTC+03:00)  2026-09-21 17:28:20 MSK (UTC+03:00)  5m 00s" in out
    assert "started between 2026-09-21 17:23:10 MSK (UTC+03:00) and 2026-09-21 17:23:20 MSK (UTC+03:00)" in out


def test_verify_journal(tmp_path: Path, listening: int, capsys: pytest.CaptureFixture[str]) -> None:
    path = scripted(tmp_path, listening)
    assert main(["verify", "--journal", "-c", str(path)]) == 0
    assert ": OK — 6 rows in 1 blocks verify" in capsys.readouterr().out
    db = sqlite3.connect(tmp_path / "data" / "journal.sqlite3")
    db.execute("UPDATE events SET ts_ns = ts_ns + 1 WHERE seq = 5")
    db.commit()
    db.close()
    assert main(["verify", "--journal", str(tmp_path / "data" / "journal.sqlite3"), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is False and data["first_bad_seq"] == 5


def test_unknown_provider_is_a_usage_error(tmp_path: Path, listening: int, capsys: pytest.CaptureFixture[str]) -> None:
    path = scripted(tmp_path, listening)
    assert main(["outages", "-c", str(path), "--provider", "brokr"]) == 2
    assert capsys.readouterr().err == "no provider 'brokr' in the config (known: bank)\n"
