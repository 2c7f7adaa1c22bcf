"""Trusted timestamps (issue 17): a real local TSA (``openssl ts -reply`` behind HTTP on 127.0.0.1).

The agent requests tokens for the chain head, journals them, keeps its queue through a TSA outage and a
restart; ``verify --journal`` checks every token offline against the head it names and rejects a forged
token, a token for another hash and a swapped TSA certificate. No public TSA is ever asked.
"""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import Switch
from tsa_server import LocalTsa

from watchdog.agent.core import Agent
from watchdog.agent.sinks import AgentContext, Sink
from watchdog.agent.timestamps import TimestampSink
from watchdog.cli import main
from watchdog.config import loads
from watchdog.journal.store import Journal
from watchdog.journal.tsa import (
    EV_TIMESTAMP,
    EV_TIMESTAMP_CA,
    build_request,
    ca_pem,
    ca_sha256,
    statement,
    token_event,
)
from watchdog.journal.verify import verify_journal


@pytest.fixture
def tsa(tmp_path: Path) -> Iterator[LocalTsa]:
    server = LocalTsa(tmp_path / "tsa", "Loopback TSA").start()
    yield server
    server.stop()


CANARY = "tsa-canary-pw-31b7"  # a password in the TSA's URL: never in a log line or the journal


def config(data_dir: Path, target: Switch, tsa: LocalTsa, *, retry: str = "200ms", url: str | None = None) -> str:
    return f"""
agent: {{id: ts, data_dir: "{data_dir}"}}
defaults: {{interval: 1s, timeout: 500ms, failure_threshold: 2, success_threshold: 1}}
providers:
  - id: isp
    name: ISP
    kind: isp
    targets:
      - {{name: gw, kind: tcp, address: "{target.address}"}}
timestamp:
  interval: 1h
  outage_gap: 100ms
  retry: {retry}
  timeout: 5s
  tsas:
    - {{name: loopback-tsa, url: "{url or tsa.url}", ca_file: "{tsa.ca_file}"}}
ntp: {{enabled: false}}
web: {{enabled: false}}
"""


class Holder:
    sink: TimestampSink | None = None

    def factory(self, ctx: AgentContext) -> Sink | None:
        self.sink = TimestampSink(ctx, ctx.config.model.timestamp)
        return self.sink


async def wait_for(predicate, within_s: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    end = loop.time() + within_s
    while not predicate():
        assert loop.time() < end, "timed out"
        await asyncio.sleep(0.05)


def events(path: Path, type_: str) -> list[tuple[int, dict]]:
    with Journal.open(path, create=False, readonly=True) as j:
        rows = j.conn.execute("SELECT seq, data FROM events WHERE type = ? ORDER BY seq", (type_,)).fetchall()
    return [(int(seq), json.loads(data)) for seq, data in rows]


async def test_agent_stamps_head_at_start_and_at_outage_open_and_close(tmp_path: Path, tsa: LocalTsa, capsys) -> None:  # type: ignore[no-untyped-def]
    target = Switch()
    await target.up()
    holder = Holder()
    cfg = loads(config(tmp_path / "data", target, tsa))
    agent = Agent(cfg, sink_factories=[holder.factory])
    task = asyncio.create_task(agent.run())
    await asyncio.wait_for(agent.handle.started.wait(), 10)
    await wait_for(lambda: holder.sink is not None and holder.sink.tokens >= 1)  # the first head, at once
    await target.down()
    await wait_for(lambda: holder.sink is not None and holder.sink.tokens >= 2)  # the outage opened
    await target.up()
    await wait_for(lambda: holder.sink is not None and holder.sink.tokens >= 3)  # and closed
    agent.handle.stop.set()
    assert await task == 0
    await target.down()

    journal = cfg.journal_path
    tokens = events(journal, EV_TIMESTAMP)
    assert len(tokens) == 3
    assert [d["reasons"] for _, d in tokens] == [["interval"], ["outage"], ["outage"]]
    opened = events(journal, "outage_open")
    closed = events(journal, "outage_close")
    assert len(opened) == 1 and len(closed) == 1
    # the token taken at the open covers the open event; the one at the close covers the close
    assert tokens[1][1]["last_seq"] >= opened[0][0]
    assert tokens[2][1]["last_seq"] >= closed[0][0]
    assert len(events(journal, EV_TIMESTAMP_CA)) == 1  # the CA once per journal
    assert tsa.granted == 3

    verdict = verify_journal(journal)
    assert verdict.ok, verdict.problems
    assert [s.problem for s in verdict.stamps] == [None, None, None]
    assert [s.last_seq for s in verdict.stamps] == [d["last_seq"] for _, d in tokens]

    assert main(["verify", "--journal", str(journal)]) == 0
    out = capsys.readouterr().out
    newest = tokens[-1][1]
    claim = verdict.stamps[-1].claim()
    assert claim.startswith(f"rows up to seq {newest['last_seq']} existed no later than ")
    assert claim.endswith(" (TSA loopback-tsa)")
    assert claim in out
    assert "3 trusted timestamp tokens verify offline" in out
    assert ca_sha256([tsa.ca_cert]) in out  # the fingerprint to compare with the TSA's own
    # pinned to the TSA's CA: the same tokens verify, and the "compare it" line is gone
    assert main(["verify", "--journal", str(journal), "--tsa-ca", str(tsa.ca_file)]) == 0
    assert "pin it with --tsa-ca" not in capsys.readouterr().out

    # anyone can check a token with openssl alone: the statement is plain text
    j = Journal.open(journal, create=False, readonly=True)
    jid = j.journal_id
    j.close()
    data = newest
    (tmp_path / "statement.txt").write_bytes(statement(jid, data["block"], data["last_seq"], data["head"]))
    (tmp_path / "token.tsr").write_bytes(base64.b64decode(data["token"]))
    check = await asyncio.to_thread(
        subprocess.run,
        [
            "openssl",
            "ts",
            "-verify",
            "-data",
            str(tmp_path / "statement.txt"),
            "-in",
            str(tmp_path / "token.tsr"),
            "-CAfile",
            str(tsa.ca_file),
        ],
        capture_output=True,
        text=True,
    )
    assert "Verification: OK" in check.stdout, check.stdout + check.stderr


async def test_queue_survives_tsa_outage_and_restart(tmp_path: Path, tsa: LocalTsa, caplog) -> None:  # type: ignore[no-untyped-def]
    target = Switch()
    await target.up()
    tsa.mode = "down"
    caplog.set_level("DEBUG")
    url = tsa.url.replace("http://", f"http://user:{CANARY}@")  # a qualified TSA's credentials
    cfg = loads(config(tmp_path / "data", target, tsa, url=url))
    holder = Holder()
    agent = Agent(cfg, sink_factories=[holder.factory])
    task = asyncio.create_task(agent.run())
    await asyncio.wait_for(agent.handle.started.wait(), 10)
    await wait_for(lambda: tsa.requests >= 3)  # retried: 200 ms, 400 ms, ...
    agent.handle.stop.set()
    assert await task == 0
    with Journal.open(cfg.journal_path, create=False, readonly=True) as j:
        queued = j.conn.execute("SELECT block, queued_ns, attempts, error FROM timestamp_queue").fetchall()
    assert len(queued) == 1
    first_block, first_queued_ns, attempts, error = queued[0]
    assert attempts >= 3 and error == "HTTP 503"
    assert events(cfg.journal_path, EV_TIMESTAMP) == []

    tsa.mode = "ok"  # the TSA is back; the agent restarts and sends what its queue kept
    holder = Holder()
    agent = Agent(cfg, sink_factories=[holder.factory])
    task = asyncio.create_task(agent.run())
    await asyncio.wait_for(agent.handle.started.wait(), 10)
    await wait_for(lambda: holder.sink is not None and holder.sink.tokens >= 1)
    agent.handle.stop.set()
    assert await task == 0
    await target.down()
    tokens = events(cfg.journal_path, EV_TIMESTAMP)
    assert len(tokens) == 1  # one token, for the newest head: it chains over the one queued in the first run
    token = tokens[0][1]
    assert token["block"] > first_block
    assert token["queued_ns"] == first_queued_ns  # the request the first run queued, answered late
    assert token["gen_time_ns"] // 10**9 >= first_queued_ns // 10**9  # openssl ts stamps whole seconds
    with Journal.open(cfg.journal_path, create=False, readonly=True) as j:
        assert j.conn.execute("SELECT count(*) FROM timestamp_queue").fetchone()[0] == 0
    verdict = verify_journal(cfg.journal_path)
    assert verdict.ok, verdict.problems
    assert [s.problem for s in verdict.stamps] == [None]
    assert "timestamp request failed tsa=loopback-tsa error=HTTP 503" in caplog.text
    assert CANARY not in caplog.text
    for name in cfg.journal_path.parent.iterdir():
        assert CANARY.encode() not in name.read_bytes()


# --------------------------------------------------------------------------- rejections, offline


def _stamped_journal(path: Path, tsa: LocalTsa) -> tuple[Journal, tuple[int, int, str]]:
    journal = Journal.open(path)
    journal.add_event("agent_start", {"run": "r1"})
    journal.add_event("alive", {"run": "r1"})
    head = journal.seal()[-1]
    return journal, (head.block, head.last_seq, head.hash)


def _token(tsa: LocalTsa, message: bytes) -> bytes:
    return tsa.reply(build_request(message).as_bytes())


def _journal_token(
    journal: Journal,
    tsa_name: str,
    head: tuple[int, int, str],
    der: bytes,
    ca: LocalTsa,
    *,
    claimed_ca: str | None = None,
) -> None:
    """Journal a token the way the agent does (CA event, then the token event), whatever the token is."""
    fp = claimed_ca or ca_sha256([ca.ca_cert])
    journal.add_event(EV_TIMESTAMP_CA, {"tsa": tsa_name, "sha256": fp, "pem": ca_pem([ca.ca_cert])})
    journal.add_event(EV_TIMESTAMP, token_event(tsa_name, journal.journal_id, head, der, _facts_of(der), fp, 1, ["x"]))
    journal.seal()


def _facts_of(der: bytes):  # type: ignore[no-untyped-def]
    """What a token says (its own gen_time), read without checking it: a forger journals whatever it likes."""
    import rfc3161_client

    from watchdog.journal.tsa import NS, TokenFacts

    info = rfc3161_client.decode_timestamp_response(der).tst_info
    return TokenFacts(int(info.gen_time.timestamp()) * NS, str(info.serial_number), "", "", "", None)


def test_genuine_token_verifies_offline(tmp_path: Path, tsa: LocalTsa) -> None:
    journal, head = _stamped_journal(tmp_path / "j.sqlite3", tsa)
    _journal_token(journal, "t", head, _token(tsa, statement(journal.journal_id, *head)), tsa)
    journal.close()
    verdict = verify_journal(tmp_path / "j.sqlite3")
    assert verdict.ok, verdict.problems
    assert len(verdict.stamps) == 1 and verdict.stamps[0].problem is None
    assert verdict.stamps[0].last_seq == head[1] == 2


def test_forged_token_rejected(tmp_path: Path, tsa: LocalTsa) -> None:
    journal, head = _stamped_journal(tmp_path / "j.sqlite3", tsa)
    der = bytearray(_token(tsa, statement(journal.journal_id, *head)))
    der[-10] ^= 0x01  # inside the signature
    _journal_token(journal, "t", head, bytes(der), tsa)
    journal.close()
    verdict = verify_journal(tmp_path / "j.sqlite3")
    assert not verdict.ok
    assert verdict.first_bad_seq == 4  # the timestamp event (3 is the CA)
    assert verdict.problems[0].startswith("timestamp token in events row seq=4 (TSA t) does not verify against CA ")
    assert "signature failure" in verdict.problems[0]


def test_token_for_another_hash_rejected(tmp_path: Path, tsa: LocalTsa) -> None:
    journal, head = _stamped_journal(tmp_path / "j.sqlite3", tsa)
    other = (head[0], head[1], "00" * 32)  # a genuine token, but for a head the journal does not have
    _journal_token(journal, "t", head, _token(tsa, statement(journal.journal_id, *other)), tsa)
    journal.close()
    verdict = verify_journal(tmp_path / "j.sqlite3")
    assert not verdict.ok
    assert verdict.problems == [
        "timestamp token in events row seq=4 (TSA t) does not verify against CA "
        f"{ca_sha256([tsa.ca_cert])[:16]}…: the token is for another hash than this head's statement"
    ]


def test_token_naming_a_head_the_chain_does_not_hold_rejected(tmp_path: Path, tsa: LocalTsa) -> None:
    journal, head = _stamped_journal(tmp_path / "j.sqlite3", tsa)
    fake = (head[0], head[1], "ab" * 32)
    _journal_token(journal, "t", fake, _token(tsa, statement(journal.journal_id, *fake)), tsa)
    journal.close()
    verdict = verify_journal(tmp_path / "j.sqlite3")
    assert verdict.problems == [
        f"timestamp token in events row seq=4 (TSA t) names head abababababababab… of block 1, but the "
        f"chain's block 1 is {head[2][:16]}…"
    ]


def test_swapped_tsa_certificate_rejected(tmp_path: Path, tsa: LocalTsa) -> None:
    """A token made by another TSA (the customer's own CA) presented as the configured TSA's."""
    rogue = LocalTsa(tmp_path / "rogue", "Loopback TSA")  # same name, its own CA
    journal, head = _stamped_journal(tmp_path / "j.sqlite3", tsa)
    der = _token(rogue, statement(journal.journal_id, *head))
    # 1. claims the real CA's fingerprint: the token does not chain to it
    _journal_token(journal, "t", head, der, tsa)
    journal.close()
    verdict = verify_journal(tmp_path / "j.sqlite3")
    assert not verdict.ok
    assert "does not verify against CA" in verdict.problems[0]
    assert "Error while verifying certificates: provider signature failure" in verdict.problems[0]  # same CA name

    # 2. carries the rogue CA's certificate under the real CA's fingerprint
    journal2, head2 = _stamped_journal(tmp_path / "j2.sqlite3", tsa)
    der2 = _token(rogue, statement(journal2.journal_id, *head2))
    _journal_token(journal2, "t", head2, der2, rogue, claimed_ca=ca_sha256([tsa.ca_cert]))
    journal2.close()
    verdict = verify_journal(tmp_path / "j2.sqlite3")
    assert verdict.problems == [
        "timestamp token in events row seq=4 (TSA t) the journaled CA certificate does not match its fingerprint"
    ]

    # 3. carries the rogue CA honestly: it verifies against what the journal carries (verify prints that
    #    CA's fingerprint to compare), and is rejected once the real TSA's CA is pinned
    journal3, head3 = _stamped_journal(tmp_path / "j3.sqlite3", tsa)
    _journal_token(journal3, "t", head3, _token(rogue, statement(journal3.journal_id, *head3)), rogue)
    journal3.close()
    assert verify_journal(tmp_path / "j3.sqlite3").ok
    pinned = verify_journal(tmp_path / "j3.sqlite3", tsa_roots=[tsa.ca_cert])
    assert not pinned.ok
    assert "does not verify against the pinned CA (--tsa-ca)" in pinned.problems[0]
    shutil.rmtree(tmp_path / "rogue")
