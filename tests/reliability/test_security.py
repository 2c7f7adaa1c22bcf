"""Security regressions through the real command line: unsafe YAML, loose file modes, secrets leaking out.

Canary secrets (a notification URL, an InfluxDB token, a status-page token) are given through the
environment, as the README tells users to; the agent runs with DEBUG logging, and every output a user
or a pack could carry is searched for them: the agent's log, ``check --json``, ``outages --json``,
``config check --json``, and the journal file itself. (The status page and evidence packs are later
parts; their checks will join this file.)
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from faults import ROOT, TcpListener, agent_env

pytestmark = pytest.mark.slow

CANARIES = {
    "CANARY_NOTIFY_URL": "json://127.0.0.1:9/canary-notify-7f3e9b21",
    "CANARY_INFLUX_TOKEN": "canary-influx-token-5d1c08aa",
    "CANARY_WEB_TOKEN": "canary-web-token-9a6b44e0",
}
SECRET_BITS = ["canary-notify-7f3e9b21", "canary-influx-token-5d1c08aa", "canary-web-token-9a6b44e0"]


def watchdog(*args: str, env: dict[str, str] | None = None, timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "watchdog", *args],
        capture_output=True,
        text=True,
        env=env or agent_env(),
        cwd=ROOT,
        timeout=timeout_s,
        check=False,
    )


def test_python_tags_in_yaml_are_refused_before_anything_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    config = tmp_path / "watchdog.yaml"
    config.write_text(f'agent: {{id: x}}\nproviders: !!python/object/apply:os.system ["touch {marker}"]\n')
    config.chmod(0o600)
    for command in (["config", "check", "-c", str(config)], ["run", "-c", str(config), "--for", "1s"]):
        done = watchdog(*command)
        assert done.returncode == 2, done
        assert done.stderr.splitlines()[0] == "bad config:"
        assert f"{config}:2: (syntax): could not determine a constructor for the tag" in done.stderr
        assert "(only plain YAML is allowed)" in done.stderr
    assert not marker.exists()


def _secret_config(path: Path, data_dir: Path, listener: TcpListener) -> None:
    path.write_text(
        f"""
agent: {{id: canary, timezone: Europe/Moscow, data_dir: "{data_dir}"}}
ntp: {{enabled: false}}  # the default servers are public: never asked from a test
defaults: {{interval: 1s, timeout: 500ms}}
controls:
  internet: [{{name: anchor, kind: tcp, address: "{listener.address}"}}]
providers:
  - id: svc
    targets: [{{name: a, kind: tcp, address: "{listener.address}"}}]
notify: {{urls: ["${{CANARY_NOTIFY_URL}}"]}}
influxdb: {{url: "http://127.0.0.1:9", org: home, bucket: watchdog, token: "${{CANARY_INFLUX_TOKEN}}"}}
web: {{listen: "127.0.0.1:9", token: "${{CANARY_WEB_TOKEN}}"}}
"""
    )


def test_a_config_with_secrets_readable_by_others_is_warned_about(tmp_path: Path) -> None:
    listener = TcpListener()
    try:
        config = tmp_path / "watchdog.yaml"
        _secret_config(config, tmp_path / "data", listener)
        env = agent_env(**CANARIES)
        config.chmod(0o644)
        loose = watchdog("config", "check", "-c", str(config), env=env)
        config.chmod(0o600)
        tight = watchdog("config", "check", "-c", str(config), env=env)
    finally:
        listener.stop()
    warning = f"warning: {config}: holds secrets and is readable by other users (mode 644); run: chmod 600 {config}"
    assert loose.returncode == 0 and warning in loose.stderr.splitlines()
    assert tight.returncode == 0 and "readable by other users" not in tight.stderr
    for done in (loose, tight):
        for bit in SECRET_BITS:
            assert bit not in done.stdout + done.stderr


def test_canary_secrets_never_leave_the_process(tmp_path: Path) -> None:
    listener = TcpListener()
    config = tmp_path / "watchdog.yaml"
    _secret_config(config, tmp_path / "data", listener)
    config.chmod(0o600)
    env = agent_env(**CANARIES)
    try:
        run = watchdog("run", "-c", str(config), "--for", "3s", "--log-level", "DEBUG", env=env)
        check = watchdog("check", "-c", str(config), "--json", env=env)
        outages = watchdog("outages", "-c", str(config), "--json", "--controls", env=env)
        summary = watchdog("config", "check", "-c", str(config), "--json", env=env)
    finally:
        listener.stop()
    assert run.returncode == 0, run.stderr[-2000:]
    assert "agent started" in run.stderr  # the log really was captured
    assert check.returncode == 0 and json.loads(check.stdout)["ok"] is True
    assert outages.returncode == 0 and json.loads(outages.stdout)["outages"] == []
    assert summary.returncode == 0 and json.loads(summary.stdout)["ok"] is True
    journal_bytes = (tmp_path / "data" / "journal.sqlite3").read_bytes()
    outputs = {
        "agent log": run.stdout + run.stderr,
        "check --json": check.stdout + check.stderr,
        "outages --json": outages.stdout + outages.stderr,
        "config check --json": summary.stdout + summary.stderr,
    }
    for bit in SECRET_BITS:
        for name, text in outputs.items():
            assert bit not in text, f"a secret appears in the {name}"
        assert bit.encode() not in journal_bytes, "a secret appears in the journal"
