"""Issue 13 item 9: a hostile or mistaken config is refused at its line (exit 2), never with a traceback.

Every case runs the real ``watchdog config check`` in a subprocess and asserts the exact problem line
(``FILE:LINE: key: reason``). Before the fix: 900 nested ``[`` raised RecursionError, ``-c /dev/zero``
MemoryError, ``data_dir: /proc/self`` and ``ca_file: /etc/passwd`` passed ``check`` (and broke ``run`` and
every probe), a token of 20 spaces was accepted, ``interval: 99999999999999d`` was accepted, and 10,000
targets at 1 s passed silently although a small machine runs a fraction of those probes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

HEAD = """agent: {{id: x, timezone: UTC, data_dir: "{data}"}}
ntp: {{enabled: false}}
providers:
  - id: svc
    targets: [{{name: web, kind: http, address: "{address}"{options}}}]
"""


def _check(config: Path | str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "watchdog", "config", "check", "-c", str(config)],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
    )


def _write(tmp_path: Path, text: str, *, data: str | None = None, address: str = "http://127.0.0.1:1/",
           options: str = "") -> Path:  # fmt: skip
    config = tmp_path / "c.yaml"
    head = HEAD.format(data=data or tmp_path / "data", address=address, options=options)
    config.write_text(head + text)
    config.chmod(0o600)
    return config


def _refused(done: subprocess.CompletedProcess[str], line: str) -> None:
    assert "Traceback" not in done.stderr + done.stdout
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.splitlines() == ["bad config:", f"  {line}"]


def test_deeply_nested_brackets(tmp_path: Path) -> None:
    config = _write(tmp_path, "extra: " + "[" * 900 + "]" * 900 + "\n")
    _refused(_check(config, tmp_path), f"{config}:6: (syntax): brackets nested more than 50 levels deep")


def test_fifty_levels_are_still_read(tmp_path: Path) -> None:
    config = _write(tmp_path, "agentx: " + "[" * 50 + "]" * 50 + "\n")
    done = _check(config, tmp_path)
    assert done.returncode == 2 and "agentx: unknown key" in done.stderr  # parsed, then refused as a key


def test_brackets_in_a_quoted_string_are_not_nesting(tmp_path: Path) -> None:
    # a regex such as an expect step's may hold many brackets: only YAML's own flow brackets nest
    config = _write(tmp_path, 'agentx: "' + "[{" * 60 + '"\n')
    done = _check(config, tmp_path)
    assert done.returncode == 2 and "agentx: unknown key" in done.stderr, done.stderr
    assert "nested" not in done.stderr


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_a_device_is_refused_unread(tmp_path: Path, device: str) -> None:
    _refused(_check(device, tmp_path), f"{device}:1: (file): not a regular file (a device, FIFO or directory)")


def test_a_fifo_is_refused_unread(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)  # nobody writes: opening it to read would block on most readers
    _refused(_check(fifo, tmp_path), f"{fifo}:1: (file): not a regular file (a device, FIFO or directory)")


def test_a_big_file_is_refused(tmp_path: Path) -> None:
    config = _write(tmp_path, "# " + "x" * (1 << 20) + "\n")
    _refused(_check(config, tmp_path), f"{config}:1: (file): larger than 1048576 bytes")


@pytest.mark.parametrize(
    ("data_dir", "reason"),
    [
        ("/proc/self", "'/proc/self' is under /proc: not a place for the journal"),
        ("/sys/kernel", "'/sys/kernel' is under /sys: not a place for the journal"),
        ("/etc/hostname/data", "'/etc/hostname/data': /etc/hostname is not a directory"),
    ],
)
def test_data_dir_must_be_a_directory_for_the_journal(tmp_path: Path, data_dir: str, reason: str) -> None:
    config = _write(tmp_path, "", data=data_dir)
    _refused(_check(config, tmp_path), f"{config}:1: agent.data_dir: {reason}")


def test_ca_file_must_hold_a_certificate(tmp_path: Path) -> None:
    config = _write(tmp_path, "", address="https://127.0.0.1:1/", options=", http: {ca_file: /etc/passwd}")
    done = _check(config, tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert lines[0] == "bad config:" and len(lines) == 2
    assert lines[1].startswith(
        f"  {config}:5: providers[0].targets[0].http.ca_file: '/etc/passwd' is not a PEM file with a CA certificate ("
    )


def test_web_token_of_spaces(tmp_path: Path) -> None:
    config = _write(tmp_path, "web: {listen: '127.0.0.1:1', token: '" + " " * 20 + "'}\n")
    _refused(
        _check(config, tmp_path),
        f"{config}:6: web.token: too short: use at least 16 random non-blank characters"
        " (e.g. from: openssl rand -hex 16)",
    )


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("defaults: {interval: 99999999999999d}", "defaults.interval: longer than 3650 days: '99999999999999d'"),
        ("defaults: {interval: " + "9" * 400 + "s}", "defaults.interval: longer than 3650 days: '" + "9" * 400 + "s'"),
        ("defaults: {interval: 2d}", "defaults.interval: at most 24h, got 48h"),
        ("defaults: {timeout: 6m, interval: 1h}", "defaults.timeout: at most 5m, got 6m"),
        ("sla: {restore_within: 400d}", "providers[0].sla.restore_within: at most 8760h, got 9600h"),
    ],
)
def test_absurd_durations(tmp_path: Path, text: str, reason: str) -> None:
    if text.startswith("sla"):
        config = _write(tmp_path, "")
        config.write_text(config.read_text().replace("  - id: svc\n", "  - id: svc\n    " + text + "\n"))
        line = 5
    else:
        config = _write(tmp_path, text + "\n")
        line = 6
    done = _check(config, tmp_path)
    if "9" * 400 in text:  # a long duration string is not a duration at all
        reason = "defaults.interval: expected a duration like 500ms, 10s, 5m or 72h, got '" + "9" * 400 + "s'"
    _refused(done, f"{config}:{line}: {reason}")


def test_more_probes_than_the_machine_is_rated_for_is_a_warning(tmp_path: Path) -> None:
    targets = "".join(f'      - {{name: t{i}, kind: tcp, address: "127.0.0.1:1"}}\n' for i in range(10_000))
    config = tmp_path / "c.yaml"
    config.write_text(
        f'agent: {{id: x, timezone: UTC, data_dir: "{tmp_path / "data"}"}}\nntp: {{enabled: false}}\n'
        f"defaults: {{interval: 1s, timeout: 500ms}}\nproviders:\n  - id: svc\n    targets:\n{targets}"
    )
    config.chmod(0o600)
    done = _check(config, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [
        f"warning: {config}: 10000 targets ask for 10,000 probes/s (tcp 10,000/s), 13.3× what a 2-core machine"
        " sustains with probes starting on time (each kind alone: tcp 750/s): probes would start late or be"
        " skipped (lengthen intervals or split the targets over agents)"
    ]


def test_the_probe_rate_is_weighted_by_kind_and_icmp_by_echo_requests(tmp_path: Path) -> None:
    # 1,000 ICMP targets (count 3 by default: 3,000 echo requests/s of 3,000) and 100 HTTP targets (100/s of 750)
    # are 1,100 probes/s: each kind alone within its budget, together 1.1x what the machine sustains.
    icmp = "".join(
        f"      - {{name: p{i}, kind: icmp, address: 127.0.{1 + i // 250}.{i % 250 + 1}}}\n" for i in range(1000)
    )
    http = "".join(f'      - {{name: h{i}, kind: http, address: "http://127.0.0.1:1/"}}\n' for i in range(100))
    config = tmp_path / "c.yaml"
    config.write_text(
        f'agent: {{id: x, timezone: UTC, data_dir: "{tmp_path / "data"}"}}\nntp: {{enabled: false}}\n'
        f"defaults: {{interval: 1s, timeout: 500ms}}\nproviders:\n  - id: svc\n    targets:\n{icmp}{http}"
    )
    config.chmod(0o600)
    done = _check(config, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [
        f"warning: {config}: 1100 targets ask for 1,100 probes/s (http 100/s, icmp 3,000 echo requests/s), 1.1× what"
        " a 2-core machine sustains with probes starting on time (each kind alone: http 750/s, icmp 3,000 echo"
        " requests/s): probes would start late or be skipped (lengthen intervals or split the targets over agents)"
    ]


def test_the_rated_rate_is_no_warning(tmp_path: Path) -> None:
    targets = "".join(f'      - {{name: t{i}, kind: tcp, address: "127.0.0.1:1"}}\n' for i in range(500))
    config = tmp_path / "c.yaml"
    config.write_text(
        f'agent: {{id: x, timezone: UTC, data_dir: "{tmp_path / "data"}"}}\nntp: {{enabled: false}}\n'
        f"defaults: {{interval: 1s, timeout: 500ms}}\nproviders:\n  - id: svc\n    targets:\n{targets}"
    )
    config.chmod(0o600)
    done = _check(config, tmp_path)
    assert done.returncode == 0 and done.stderr == ""
