"""``watchdog status`` says when a TSA's newest journaled token does not verify (issue 17).

A real token from a local TSA (``openssl ts -reply``, tests/tsa_server.py; nothing on the network) for the
sealed head, then a second TSA whose newest token names a hash the chain does not hold: the table and
``--json`` say the first verifies and the second does not, and what to run. Only each TSA's newest token
is checked here (a few ms); ``watchdog verify --journal`` checks them all.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tsa_server import LocalTsa

from watchdog.cli import main
from watchdog.journal.store import Journal
from watchdog.journal.tsa import (
    EV_TIMESTAMP,
    EV_TIMESTAMP_CA,
    build_request,
    ca_pem,
    ca_sha256,
    check_token,
    statement,
    token_event,
)


def test_status_names_a_newest_token_that_does_not_verify(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tsa = LocalTsa(tmp_path / "tsa", "Local TSA")
    config = tmp_path / "watchdog.yaml"
    config.write_text(
        f"""
agent: {{id: home, timezone: UTC, data_dir: "{tmp_path / "data"}"}}
ntp: {{enabled: false}}
providers:
  - id: isp
    targets: [{{name: gw, kind: tcp, address: "127.0.0.1:9"}}]
timestamp:
  tsas:
    - {{name: good, url: "http://127.0.0.1:9/tsr", ca_file: "{tsa.ca_file}"}}
    - {{name: bad, url: "http://127.0.0.1:9/other", ca_file: "{tsa.ca_file}"}}
"""
    )
    config.chmod(0o600)
    with Journal.open(tmp_path / "data" / "journal.sqlite3") as journal:
        journal.add_event("note", {"by": "test"})
        journal.seal()
        head = journal.head()
        assert head is not None
        stamped = (head.block, head.last_seq, head.hash)
        fp = ca_sha256([tsa.ca_cert])
        journal.add_event(EV_TIMESTAMP_CA, {"tsa": "good", "sha256": fp, "pem": ca_pem([tsa.ca_cert])})
        message = statement(journal.journal_id, *stamped)
        request = build_request(message)
        der = tsa.reply(request.as_bytes())
        facts = check_token(der, message, [tsa.ca_cert], request=request)
        journal.add_event(EV_TIMESTAMP, token_event("good", journal.journal_id, stamped, der, facts, fp, 0, []))
        other = (head.block, head.last_seq, "00" * 32)
        journal.add_event(EV_TIMESTAMP, token_event("bad", journal.journal_id, other, der, facts, fp, 0, []))
    assert main(["status", "-c", str(config)]) == 0
    out = capsys.readouterr().out
    good_line = next(line for line in out.splitlines() if line.startswith("good "))
    bad_line = next(line for line in out.splitlines() if line.startswith("bad "))
    assert f"(rows up to {head.last_seq})" in good_line and "does not verify" not in good_line
    assert f"(rows up to {head.last_seq}) does not verify: run watchdog verify --journal" in bad_line
    assert main(["status", "-c", str(config), "--json"]) == 0
    good, bad = json.loads(capsys.readouterr().out)["timestamps"]
    assert (good["tsa"], good["newest_verifies"], good["newest_problem"]) == ("good", True, None)
    block = head.block
    assert (bad["tsa"], bad["newest_verifies"], bad["newest_problem"]) == (
        "bad",
        False,
        f"names head {'0' * 16}… of block {block}, but the chain's block {block} is {head.hash[:16]}…",
    )
