"""Defaults that agree (issue 15 item 6): complaint's period, outages --now, evidence of an empty period."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from complaint_cases import ISP_CONFIG, isp_case
from helpers import T0, ScriptedJournal, target

from watchdog.cli import build_parser, main
from watchdog.config import loads
from watchdog.model import NS


@pytest.fixture
def isp(tmp_path: Path) -> Path:
    isp_case(tmp_path)  # the ISP's October 2026 in tmp_path/journal.sqlite3
    config = tmp_path / "watchdog.yaml"
    text = (ISP_CONFIG % "").replace(
        "agent: {id: home-msk-1, timezone: Europe/Moscow}",
        f"agent: {{id: home-msk-1, timezone: Europe/Moscow, data_dir: '{tmp_path}'}}",
    )
    config.write_text(text, encoding="utf-8")
    return config


def test_complaint_defaults_the_period_as_report_does(isp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["complaint", "-c", str(isp), "--provider", "isp", "--lang", "en", "--date", "2026-11-02"]
    assert main([*base, "--period", "2026-10", "--now", "2026-10-25T12:00"]) == 0
    explicit = capsys.readouterr().out
    assert main([*base, "--now", "2026-10-25T12:00"]) == 0  # the SLA's current period as of --now: 2026-10
    assert capsys.readouterr().out == explicit
    assert main(["report", "-c", str(isp), "--provider", "isp", "--now", "2026-10-25T12:00", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["period"]["label"] == "2026-10"
    sub = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    help_text = " ".join(sub["complaint"].format_help().split())
    assert "(default: the SLA's current period as of --now, as report)" in help_text


def scripted(tmp_path: Path) -> Path:
    path = tmp_path / "watchdog.yaml"
    path.write_text(
        f'agent: {{id: cli, timezone: Europe/Moscow, data_dir: "{tmp_path / "data"}"}}\n'
        "ntp: {enabled: false}\n"
        'controls:\n  internet:\n    - {name: anchor, kind: tcp, address: "127.0.0.1:9"}\n'
        "providers:\n  - id: bank\n    kind: bank\n    targets:\n"
        '      - {name: web, kind: tcp, address: "127.0.0.1:9"}\n'
    )
    config = loads(path.read_text(), env={})
    j = ScriptedJournal(tmp_path / "data" / "journal.sqlite3", [target(t.key, role=t.role) for t in config.targets])
    j.run(0, 3600)
    j.outage("bank/web", 590, 600, None, None)  # still open when the journal ends
    j.close()
    return path


def test_outages_now_fixes_how_long_an_open_outage_has_lasted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = scripted(tmp_path)
    now = "2026-09-21T15:23:20Z"  # T0 + 4200 s: the outage began at T0 + 600 s
    assert main(["outages", "--json", "-c", str(path), "--now", now]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["generated_ns"] == T0 + 4200 * NS
    (o,) = data["outages"]
    assert (o["open"], o["duration_s"]) == (True, 3600.0)
    assert main(["outages", "-c", str(path), "--now", now]) == 0
    out = capsys.readouterr().out
    assert re.search(r"\(open\)\s+1h 00m\s", out), out
    assert main(["outages", "-c", str(path), "--now", "yesterday-ish"]) == 2


def test_evidence_of_a_period_without_results_writes_nothing(
    isp: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "pack.zip"
    assert main(["evidence", "-c", str(isp), "--provider", "isp", "--period", "2014-03", "-o", str(out)]) == 1
    captured = capsys.readouterr()
    assert not out.exists()
    assert captured.out == ""
    assert captured.err == (
        "the journal holds nothing of isp in 2014-03 (no probe results, no events): no pack written\n"
    )
    assert main(["evidence", "-c", str(isp), "--provider", "isp", "--period", "2026-10", "-o", str(out)]) == 0
    assert out.is_file()
