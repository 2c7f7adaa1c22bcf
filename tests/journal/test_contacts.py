"""The contact log through the real CLI: entries are chained at once, even while an agent writes."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from helpers import Switch

from watchdog.agent.core import Agent
from watchdog.cli import main
from watchdog.config import load
from watchdog.journal.contacts import EV_CONTACT
from watchdog.journal.store import Journal
from watchdog.journal.verify import verify_journal


def write_config(tmp_path: Path, address: str = "127.0.0.1:9") -> Path:
    cfg = tmp_path / "watchdog.yaml"
    cfg.write_text(
        f"""
agent: {{id: home, timezone: Europe/Moscow, data_dir: "{tmp_path / "data"}"}}
defaults: {{interval: 1s, timeout: 500ms}}
providers:
  - {{id: broker, name: "ИТ Инвест", kind: broker, targets: [{{name: trading, kind: tcp, address: "{address}"}}]}}
  - {{id: bank, kind: bank, timezone: Asia/Vladivostok, targets: [{{name: web, kind: tcp, address: "{address}"}}]}}
ntp: {{enabled: false}}
""",
        encoding="utf-8",
    )
    return cfg


def test_add_and_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = str(write_config(tmp_path))
    args = ["contact", "add", "-c", cfg, "--provider", "broker", "--channel", "phone"]
    assert (
        main([*args, "--ref", "INC-42", "--at", "2026-11-20T10:05", "--note", "Звонил: сказали «ведутся работы»"]) == 0
    )
    first = capsys.readouterr().out
    assert "recorded contact #1 with ИТ Инвест (phone, ref INC-42) at 2026-11-20 10:05:00 MSK (UTC+03:00)" in first
    # the bank's zone is Vladivostok (UTC+10): --at without an offset is read there
    assert (
        main(
            [
                "contact",
                "add",
                "-c",
                cfg,
                "--provider",
                "bank",
                "--channel",
                "email",
                "--at",
                "2026-11-21T09:00",
                "--note",
                "ticket opened",
                "--json",
            ]
        )
        == 0
    )
    added = json.loads(capsys.readouterr().out)
    assert (added["at"], added["at_local"], added["ref"]) == (
        "2026-11-20T23:00:00.000Z",
        "2026-11-21T09:00:00.000+10:00",
        "",
    )
    assert added["head"]["last_seq"] == added["seq"]  # sealed at once

    assert main(["contact", "list", "-c", cfg, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["contacts"]
    assert [(c["provider"], c["channel"], c["ref"], c["at"]) for c in listed] == [
        ("broker", "phone", "INC-42", "2026-11-20T07:05:00.000Z"),
        ("bank", "email", "", "2026-11-20T23:00:00.000Z"),
    ]
    assert listed[0]["note"] == "Звонил: сказали «ведутся работы»"
    assert main(["contact", "list", "-c", cfg, "--provider", "bank", "--since", "2026-11-21"]) == 0
    text = capsys.readouterr().out
    assert "2026-11-21 09:00:00 VLAT (UTC+10:00)" in text or "2026-11-21 09:00:00 (UTC+10:00)" in text
    assert "INC-42" not in text
    verdict = verify_journal(tmp_path / "data" / "journal.sqlite3")
    assert verdict.ok and verdict.unsealed == 0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--provider", "nope", "--note", "x"], "no provider 'nope' in the config (known: broker, bank)"),
        (["--provider", "broker", "--note", "  "], "--note must say what was said or asked"),
        (["--provider", "broker", "--note", "x", "--at", "2099-01-01"], "--at lies in the future"),
        (["--provider", "broker", "--note", "x", "--at", "yesterday"], "cannot read time 'yesterday'"),
    ],
)
def test_bad_entries_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    cfg = str(write_config(tmp_path))
    assert main(["contact", "add", "-c", cfg, "--channel", "chat", *extra]) == 2
    printed = capsys.readouterr()
    assert message in printed.out + printed.err
    journal = tmp_path / "data" / "journal.sqlite3"
    if journal.exists():
        with Journal.open(journal) as j:
            assert j.events([EV_CONTACT]) == []
    with pytest.raises(SystemExit):
        main(["contact", "add", "-c", cfg, "--provider", "broker", "--channel", "fax", "--note", "x"])


async def test_add_while_the_agent_writes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    service = Switch()
    await service.up()
    cfg = write_config(tmp_path, service.address)
    agent = Agent(load(cfg), duration_s=3.0)
    task = asyncio.create_task(agent.run())
    await asyncio.wait_for(agent.handle.started.wait(), 10)
    await asyncio.sleep(1.0)
    args = ["contact", "add", "-c", str(cfg), "--provider", "broker", "--channel", "chat", "--note", "chat #1"]
    codes = await asyncio.gather(*(asyncio.to_thread(main, [*args[:-1], f"chat #{i}"]) for i in range(3)))
    assert codes == [0, 0, 0]
    assert await task == 0
    await service.down()
    verdict = verify_journal(tmp_path / "data" / "journal.sqlite3")
    assert verdict.ok, verdict.problems
    assert verdict.unsealed == 0
    with Journal.open(tmp_path / "data" / "journal.sqlite3") as j:
        notes = sorted(e.data["note"] for e in j.events([EV_CONTACT]))
        results = sum(1 for _ in j.iter_results())
    assert notes == ["chat #0", "chat #1", "chat #2"]
    assert results >= 2
