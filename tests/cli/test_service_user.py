"""Issue 15 item 8: a command that writes the journal refuses when the journal belongs to another user.

Run as root against the service's journal, ``contact add`` (or ``run``, ``evidence``/``complaint`` that
seal) would leave WAL and shared-memory files owned by root that the service user cannot open. The command
refuses and says how to run it; reading commands still work. Needs root (to chown to ``nobody``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOBODY = 65534

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the journal to another user")


def _watchdog(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "watchdog", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=60
    )


def test_writing_another_users_journal_is_refused_with_the_command_to_use(tmp_path: Path) -> None:
    data = tmp_path / "data"
    config = tmp_path / "watchdog.yaml"
    config.write_text(
        f"""
agent: {{id: svc-user, timezone: Europe/Moscow, data_dir: "{data}"}}
controls:
  internet: [{{name: anchor, kind: tcp, address: "127.0.0.1:9"}}]
providers:
  - id: isp
    kind: isp
    targets: [{{name: gw, kind: tcp, address: "127.0.0.1:9"}}]
ntp: {{enabled: false}}
"""
    )
    first = _watchdog("contact", "add", "--provider", "isp", "--channel", "phone", "--note", "first", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    for path in [data, *data.iterdir()]:
        os.chown(path, NOBODY, NOBODY)
    journal = data / "journal.sqlite3"
    refused = _watchdog("contact", "add", "--provider", "isp", "--channel", "phone", "--note", "again", cwd=tmp_path)
    assert refused.returncode == 2
    assert refused.stderr.strip() == (
        f"{journal} belongs to nobody (uid {NOBODY}), not to root: writing to it as root would leave files its "
        "service cannot open. Run it as that user: sudo -u nobody watchdog contact add --provider isp --channel "
        "phone --note again"
    )
    assert "Traceback" not in refused.stderr
    listed = _watchdog("contact", "list", "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert '"note": "first"' in listed.stdout and "again" not in listed.stdout
    outages = _watchdog("outages", "--json", cwd=tmp_path)
    assert outages.returncode == 0, outages.stderr
    assert {p.stat().st_uid for p in data.iterdir()} == {NOBODY}  # nothing of root's left beside it
