"""Messages, not tracebacks: a busy port, a reader that goes away, a --head that is not a hash (issue 15 item 2).

The commands run as real subprocesses where the point is what a person sees on the terminal.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import ScriptedJournal, target

from watchdog.cli import main
from watchdog.config import loads

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, stdout: int | None = subprocess.PIPE, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``python -m watchdog ARGS`` on this worktree's code."""
    return subprocess.run(
        [sys.executable, "-m", "watchdog", *args],
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
    )


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A loopback port somebody else already listens on."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(4)
    yield sock.getsockname()[1]
    sock.close()


def write_config(tmp_path: Path, port: int, *, web: str = "") -> Path:
    path = tmp_path / "watchdog.yaml"
    path.write_text(
        f'agent: {{id: cli, timezone: Europe/Moscow, data_dir: "{tmp_path / "data"}"}}\n'
        "ntp: {enabled: false}\n"
        f"{web}"
        "controls:\n  internet:\n"
        f'    - {{name: anchor, kind: tcp, address: "127.0.0.1:{port}", interval: 1s, timeout: 500ms}}\n'
        "providers:\n  - id: bank\n    kind: bank\n    targets:\n"
        f'      - {{name: web, kind: tcp, address: "127.0.0.1:{port}", interval: 1s, timeout: 500ms}}\n'
    )
    path.chmod(0o600)
    return path


def journal_with_outages(tmp_path: Path, port: int, outages: int = 1) -> Path:
    path = write_config(tmp_path, port)
    config = loads(path.read_text(), env={})
    j = ScriptedJournal(tmp_path / "data" / "journal.sqlite3", [target(t.key, role=t.role) for t in config.targets])
    j.run(0, 3600 + outages * 600)
    for i in range(outages):
        j.outage("bank/web", 590 + i * 600, 600 + i * 600, 890 + i * 600, 900 + i * 600)
    j.close()
    return path


def test_run_on_a_busy_port_says_one_line_and_probes_on(tmp_path: Path, busy_port: int) -> None:
    config = write_config(tmp_path, busy_port, web=f'web: {{listen: "127.0.0.1:{busy_port}"}}\n')
    done = cli("run", "-c", str(config), "--for", "3s")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if " ERROR " in line]
    assert len(errors) == 1
    assert errors[0].endswith(
        f"ERROR watchdog.agent.sinks: status page: cannot listen on 127.0.0.1:{busy_port}: the address is already "
        "in use (another watchdog, or another program?) (web.listen); the agent runs on without the page"
    )
    # the agent went on probing: the journal holds results of both targets
    import sqlite3

    db = sqlite3.connect(tmp_path / "data" / "journal.sqlite3")
    (count,) = db.execute("SELECT count(*) FROM results").fetchone()
    db.close()
    assert count >= 4


def test_serve_on_a_busy_port_exits_2_with_one_line(tmp_path: Path, busy_port: int) -> None:
    config = journal_with_outages(tmp_path, busy_port)
    done = cli("serve", "-c", str(config), "--listen", f"127.0.0.1:{busy_port}", "--log-level", "WARNING")
    assert done.returncode == 2
    assert done.stderr == (
        f"serve: cannot listen on 127.0.0.1:{busy_port}: the address is already in use (another watchdog, "
        "or another program?); choose another with --listen HOST:PORT\n"
    )
    assert done.stdout == ""


def test_a_reader_that_goes_away_ends_the_command_quietly(tmp_path: Path, busy_port: int) -> None:
    """``watchdog outages | head``: stdout's reader is gone before the first write."""
    config = journal_with_outages(tmp_path, busy_port, outages=3)
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader left already: the first flush fails with EPIPE
    try:
        done = cli("outages", "-c", str(config), "--since", "2026-09-21", stdout=write_end)
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr) == (141, "")


def test_head_that_is_not_a_hash_is_a_usage_error(
    tmp_path: Path, busy_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    config = journal_with_outages(tmp_path, busy_port)
    assert main(["verify", "--journal", "-c", str(config), "--head", "deadbeef"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "--head 'deadbeef' is not a chain head hash: 64 hex digits, as `watchdog verify` prints it\n"
    )
    assert main(["verify", "--journal", "-c", str(config), "--head", "g" * 64]) == 2
    capsys.readouterr()
    # a well-formed hash the journal never had is still the verifier's finding (exit 1), not a usage error
    assert main(["verify", "--journal", "-c", str(config), "--head", "AB" * 32]) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out
