"""A bad trusted timestamp must not stop backups (issue 17).

A journal whose rows chain correctly but which holds one timestamp token that does not prove its claim
(a forged signature, a token for another hash, a token from a TSA whose CA is not the one it names) is
still backed up, restored and archived — by hand and by the agent's schedule — and the token is named
apart (``timestamp_problems``), while ``watchdog verify`` still fails on it. A broken hash chain still
stops them all, as before. The tokens come from real local TSAs (``openssl ts -reply``, tests/tsa_server.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from pathlib import Path

import pytest
from helpers import Switch
from history import PERIOD, config_text, env, write_history
from tsa_server import LocalTsa

from watchdog.agent.backups import BackupSink
from watchdog.agent.core import Agent
from watchdog.agent.sinks import AgentContext, Sink
from watchdog.cli import main
from watchdog.config import loads
from watchdog.documents.pack.verify import verify_pack
from watchdog.errors import JournalError
from watchdog.journal.backup import backup_journal
from watchdog.journal.store import Journal
from watchdog.journal.tsa import (
    EV_TIMESTAMP,
    EV_TIMESTAMP_CA,
    NS,
    TokenFacts,
    build_request,
    ca_pem,
    ca_sha256,
    statement,
    token_event,
)
from watchdog.journal.verify import verify_journal

TSA = "backup-tsa"
BAD = ("forged", "another-hash", "untrusted-ca")
# why each bad token fails (after "does not verify against CA <fingerprint>…: "); OpenSSL's words for a bad
# ECDSA signature vary with the (random) signature bytes, so those two are matched on what they always say
REASON = {
    "forged": r".*signature failure.*",
    "another-hash": re.escape("the token is for another hash than this head's statement"),
    "untrusted-ca": re.escape("Error while verifying certificates: ") + r".*signature failure.*",
}


@pytest.fixture(scope="module")
def tsas(tmp_path_factory: pytest.TempPathFactory) -> tuple[LocalTsa, LocalTsa]:
    """The journal's TSA and a rogue one of the same name with its own CA (both sign with ``openssl ts``)."""
    base = tmp_path_factory.mktemp("tsas")
    return LocalTsa(base / "tsa", "Backup TSA"), LocalTsa(base / "rogue", "Backup TSA")


def _facts(der: bytes) -> TokenFacts:
    """What a token says, read without checking it: whoever journals a bad token writes what it likes."""
    import rfc3161_client

    info = rfc3161_client.decode_timestamp_response(der).tst_info
    return TokenFacts(int(info.gen_time.timestamp()) * NS, str(info.serial_number), "", "", "", None)


def stamp(journal: Journal, tsas: tuple[LocalTsa, LocalTsa], head: tuple[int, int, str], bad: str) -> str:
    """Journal the TSA's CA, a genuine token and a bad one for ``head`` (as the agent would); seal.

    Returns the problem ``verify`` names for the bad token.
    """
    tsa, rogue = tsas
    fp = ca_sha256([tsa.ca_cert])
    message = statement(journal.journal_id, *head)
    journal.add_event(EV_TIMESTAMP_CA, {"tsa": TSA, "sha256": fp, "pem": ca_pem([tsa.ca_cert])})
    good = tsa.reply(build_request(message).as_bytes())
    journal.add_event(EV_TIMESTAMP, token_event(TSA, journal.journal_id, head, good, _facts(good), fp, 1, ["seal"]))
    if bad == "forged":
        der = bytearray(good)
        der[-10] ^= 0x01  # inside the signature
        token = bytes(der)
    elif bad == "another-hash":
        other = statement(journal.journal_id, head[0], head[1], "00" * 32)
        token = tsa.reply(build_request(other).as_bytes())
    else:  # signed by the rogue TSA, presented as the journaled CA's
        token = rogue.reply(build_request(message).as_bytes())
    seq = journal.add_event(
        EV_TIMESTAMP, token_event(TSA, journal.journal_id, head, token, _facts(token), fp, 1, ["x"])
    )
    journal.seal()
    found = verify_journal(journal.path).timestamp_problems
    assert len(found) == 1
    said = f"timestamp token in events row seq={seq} (TSA {TSA}) does not verify against CA {fp[:16]}…: "
    assert re.fullmatch(re.escape(said) + REASON[bad], found[0]), found
    return found[0]


def stamped_journal(path: Path, tsas: tuple[LocalTsa, LocalTsa], bad: str) -> str:
    """A small journal: two sealed rows, then the TSA's tokens for that head (one bad)."""
    with Journal.open(path) as journal:
        journal.add_event("agent_start", {"run": "r1"})
        journal.add_event("alive", {"run": "r1"})
        head = journal.seal()[-1]
        return stamp(journal, tsas, (head.block, head.last_seq, head.hash), bad)


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "watchdog.yaml"
    path.write_text(
        f"""
agent: {{id: home, data_dir: "{tmp_path / "data"}"}}
providers:
  - id: isp
    targets: [{{name: gw, kind: tcp, address: "127.0.0.1:9"}}]
ntp: {{enabled: false}}
"""
    )
    path.chmod(0o600)
    return path


@pytest.mark.parametrize("bad", BAD)
def test_a_bad_token_does_not_stop_backup_or_restore_but_fails_verify(
    tmp_path: Path, tsas: tuple[LocalTsa, LocalTsa], bad: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path)
    journal = tmp_path / "data" / "journal.sqlite3"
    problem = stamped_journal(journal, tsas, bad)

    # verify still fails, and names the token (text and JSON; problems keep their meaning)
    assert main(["verify", "--journal", str(journal)]) == 1
    assert capsys.readouterr().out == f"{journal}: FAILED\n  {problem}\n"
    assert main(["verify", "--journal", str(journal), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert (out["ok"], out["chain_ok"]) == (False, True)
    assert out["problems"] == out["timestamp_problems"] == [problem]
    assert [s["ok"] for s in out["timestamps"]] == [True, False]

    # backup: kept, and the token named apart
    assert main(["backup", f"{tmp_path / 'usb'}/", "-c", str(config), "--json"]) == 0
    made = json.loads(capsys.readouterr().out)
    assert made["timestamp_problems"] == [problem]
    assert made["rows"] == 5
    copy = Path(made["path"])
    copied = verify_journal(copy)
    assert (copied.ok, copied.chain_ok, copied.timestamp_problems) == (False, True, [problem])
    assert main(["backup", str(tmp_path / "one.sqlite3"), "-c", str(config)]) == 0
    text = capsys.readouterr().out.splitlines()
    assert text[0].startswith(f"wrote {tmp_path / 'one.sqlite3'}: 5 rows, ")
    assert text[1:] == [
        "  1 timestamp token does not verify (the hash chain does, so the copy was kept; watchdog verify fails "
        "until it is explained):",
        f"    {problem}",
    ]

    # restore: the backup goes in place, the token named apart
    assert main(["restore", str(copy), "-c", str(config)]) == 0
    text = capsys.readouterr().out.splitlines()
    (aside,) = [
        p
        for p in journal.parent.iterdir()
        if p.name.startswith("journal.sqlite3.replaced-") and not p.name.endswith(("-wal", "-shm"))
    ]
    assert text[0] == f"restored {journal} from {copy}: 5 rows, head block 2 {copied.head['hash']}"  # type: ignore[index]
    assert text[1:] == [
        f"  the journal it replaced is kept as {aside}",
        "  1 timestamp token does not verify (the hash chain does, so it was restored; watchdog verify fails "
        "until it is explained):",
        f"    {problem}",
    ]
    restored = verify_journal(journal)
    assert (restored.chain_ok, restored.head, restored.timestamp_problems) == (True, copied.head, [problem])


def test_a_broken_chain_still_stops_backup_and_restore(tmp_path: Path, tsas: tuple[LocalTsa, LocalTsa]) -> None:
    config = _config(tmp_path)
    journal = tmp_path / "data" / "journal.sqlite3"
    stamped_journal(journal, tsas, "forged")
    backup_journal(journal, tmp_path / "good.sqlite3")
    with Journal.open(journal) as j:
        j.conn.execute('UPDATE events SET data = \'{"run":"x"}\' WHERE seq = 1')  # an edited sealed row
    verdict = verify_journal(journal)
    assert (verdict.chain_ok, verdict.timestamp_problems) == (False, [])  # tokens are checked only on a sound chain
    edited = verdict.problems[0]
    assert edited.startswith("events row seq=1 (agent_start, ") and edited.endswith("edited or swapped")
    with pytest.raises(JournalError) as exc:
        backup_journal(journal, tmp_path / "copy.sqlite3")
    assert str(exc.value) == f"the copy does not verify, so it was not kept: {edited}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "good.sqlite3", "watchdog.yaml"]
    assert main(["backup", str(tmp_path / "copy.sqlite3"), "-c", str(config)]) == 1
    # a backup whose chain is broken is not restored
    bad_copy = tmp_path / "data" / "journal.sqlite3"
    assert main(["restore", str(bad_copy), "-c", str(config)]) == 1
    assert verify_journal(journal).problems[0] == edited  # nothing replaced


@pytest.fixture
def history(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The scripted history (a result every 10 min: quicker to archive, still days of blocks) and its config file."""
    for key, value in env().items():
        monkeypatch.setenv(key, value)
    cfg = tmp_path / "watchdog.yaml"
    cfg.write_text(config_text(tmp_path / "data"), encoding="utf-8")
    cfg.chmod(0o600)
    write_history(loads(cfg.read_text(encoding="utf-8"), env=env()), interval_s=600)
    return cfg


def test_archive_and_prune_with_a_bad_token(
    history: Path, tsas: tuple[LocalTsa, LocalTsa], capsys: pytest.CaptureFixture[str]
) -> None:
    journal = history.parent / "data" / "journal.sqlite3"
    with Journal.open(journal) as j:
        no, last_seq, digest = j.conn.execute("SELECT no, last_seq, hash FROM blocks WHERE no = 1").fetchone()
        problem = stamp(j, tsas, (no, last_seq, bytes(digest).hex()), "untrusted-ca")
    seq = int(problem.split("seq=")[1].split(" ")[0])
    in_pack = (
        f"timestamps.json: the token of TSA {TSA} for block 1 (journal events row seq={seq}) "
        + problem.split(") ", 1)[1]
    )
    args = ["archive", "-c", str(history), "--period", PERIOD, "--now", "2026-11-10T00:00", "--prune", "--json"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert [(a["provider"], a["timestamp_problems"]) for a in out["archives"]] == [
        ("broker", [in_pack]),
        ("bank", [in_pack]),
    ]
    assert out["pruned"]["rows"] > 0 and out["pruned"]["timestamp_problems"] == [problem]
    for a in out["archives"]:
        verdict = verify_pack(a["path"])
        assert (verdict.ok, verdict.chain_ok, verdict.problems, verdict.timestamp_problems) == (
            False,
            True,
            [in_pack],
            [in_pack],
        )
    after = verify_journal(journal)
    assert (after.chain_ok, after.pruned, after.timestamp_problems) == (True, out["pruned"]["rows"], [problem])
    assert main(["verify", "--journal", str(journal)]) == 1
    assert problem in capsys.readouterr().out


async def test_the_agent_backs_up_a_journal_with_a_bad_token(
    tmp_path: Path, tsas: tuple[LocalTsa, LocalTsa], caplog: pytest.LogCaptureFixture
) -> None:
    target = Switch()
    await target.up()
    problem = stamped_journal(tmp_path / "data" / "journal.sqlite3", tsas, "another-hash")
    cfg = loads(
        f"""
agent: {{id: home, data_dir: "{tmp_path / "data"}"}}
providers:
  - id: isp
    targets: [{{name: gw, kind: tcp, address: "{target.address}"}}]
backup: {{dest: "{tmp_path / "nas"}/", every: 1h, keep: 2}}
ntp: {{enabled: false}}
web: {{enabled: false}}
"""
    )
    sinks: list[BackupSink] = []

    def factory(ctx: AgentContext) -> Sink | None:
        sinks.append(BackupSink(ctx, ctx.config.model.backup))
        return sinks[-1]

    caplog.set_level(logging.INFO, logger="watchdog.agent.backups")
    agent = Agent(cfg, sink_factories=[factory])
    task = asyncio.create_task(agent.run())
    try:
        await asyncio.wait_for(agent.handle.started.wait(), 10)
        loop = asyncio.get_running_loop()
        end = loop.time() + 20
        while not sinks[0].done:  # no backup in the folder yet: the first is due at once
            assert loop.time() < end, "the first scheduled backup"
            await asyncio.sleep(0.05)
    finally:
        agent.handle.stop.set()
        assert await task == 0
        await target.down()
    done = sinks[0].done[0]
    assert (sinks[0].failing, done.timestamp_problems) == (False, (problem,))
    assert sorted(p.name for p in (tmp_path / "nas").iterdir()) == [done.path.name]
    warnings = [
        r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and r.name == "watchdog.agent.backups"
    ]
    assert warnings == [
        f"journal backed up to {done.path}, but 1 timestamp token does not verify (the hash chain does; "
        f"watchdog verify --journal names it): {problem}"
    ]
