"""The systemd unit runs the agent unprivileged with only CAP_NET_RAW and restarts it on failure."""

from __future__ import annotations

import configparser
from pathlib import Path

UNIT = Path(__file__).resolve().parents[2] / "config" / "systemd" / "outage-watchdog.service"


def test_unit_is_unprivileged_with_only_net_raw() -> None:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text())
    service = parser["Service"]
    assert service["User"] == "watchdog" and service["Group"] == "watchdog"
    assert service["AmbientCapabilities"] == "CAP_NET_RAW"
    assert service["CapabilityBoundingSet"] == "CAP_NET_RAW"
    assert service["NoNewPrivileges"] == "yes"
    assert service["Restart"] == "on-failure"
    assert service["LimitNOFILE"] == "65536"  # issue 13: a page flood must not take the probes' descriptors
    assert service["ExecStart"].split()[1:] == ["run", "-c", "/etc/outage-watchdog/watchdog.yaml"]
    assert service["ReadWritePaths"] == "/var/lib/outage-watchdog"
    assert parser["Install"]["WantedBy"] == "multi-user.target"


def test_systemd_accepts_the_unit() -> None:
    import shutil
    import subprocess

    import pytest

    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    done = subprocess.run(["systemd-analyze", "verify", str(UNIT)], capture_output=True, text=True, timeout=60)
    problems = [
        line
        for line in (done.stdout + done.stderr).splitlines()
        if line.strip() and "is not executable: No such file or directory" not in line  # not installed here
    ]
    assert problems == []
