"""Evidence packs carry the RFC 3161 tokens for their chain segment (timestamps.json) and verify them.

The tokens come from a real local TSA (``openssl ts -reply`` with a CA the test makes); the pack is made
by ``watchdog evidence`` and checked by ``watchdog verify``: a forged token, a token for another hash and
a swapped TSA certificate are each rejected even when the forger rewrote manifest.json to match.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from history import PERIOD, config_text, env, write_history
from tsa_server import LocalTsa, pem

from watchdog.cli import main
from watchdog.config import loads
from watchdog.documents.pack.verify import verify_pack
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

NOW = "2026-11-10T00:00"


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path, LocalTsa, dict]]:
    """History, two tokens (a block inside the segment, the segment's last block) and a pack."""
    base = tmp_path_factory.mktemp("stamped")
    tsa = LocalTsa(base / "tsa", "Pack TSA")
    cfg = base / "watchdog.yaml"
    cfg.write_text(config_text(base / "data"), encoding="utf-8")
    cfg.chmod(0o600)
    saved = {k: os.environ.get(k) for k in env()}
    os.environ.update(env())
    config = loads(cfg.read_text(encoding="utf-8"), env=env())
    write_history(config)
    pack = base / "pack.zip"
    args = ["evidence", "-c", str(cfg), "--provider", "broker", "--period", PERIOD, "--now", NOW, "-o", str(pack)]
    assert main(args) == 0  # a pack before any token: its chain segment tells which blocks to stamp
    with zipfile.ZipFile(pack) as zf:
        blocks = json.loads(zf.read("manifest.json"))["chain"]["blocks"]
    with Journal.open(config.journal_path) as journal:
        fp = ca_sha256([tsa.ca_cert])
        journal.add_event(EV_TIMESTAMP_CA, {"tsa": "pack-tsa", "sha256": fp, "pem": ca_pem([tsa.ca_cert])})
        for b in (blocks[len(blocks) // 2], blocks[-1]):
            head = (b["no"], b["last_seq"], b["hash"])
            message = statement(journal.journal_id, *head)
            request = build_request(message)
            der = tsa.reply(request.as_bytes())
            facts = check_token(der, message, [tsa.ca_cert], request=request)
            journal.add_event(EV_TIMESTAMP, token_event("pack-tsa", journal.journal_id, head, der, facts, fp, 0, ["x"]))
        journal.seal()
    pack.unlink()
    assert main(args) == 0
    try:
        yield cfg, pack, tsa, blocks[-1]
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def rewrite(pack: Path, out: Path, stamps: dict) -> None:
    """The pack with timestamps.json replaced, and manifest.json rewritten to match (a careful forger)."""
    data = (json.dumps(stamps, indent=2, sort_keys=True) + "\n").encode()
    with zipfile.ZipFile(pack) as src, zipfile.ZipFile(out, "w") as dst:
        manifest = json.loads(src.read("manifest.json"))
        manifest["files"]["timestamps.json"] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
        for info in src.infolist():
            if info.filename == "timestamps.json":
                dst.writestr(info, data)
            elif info.filename == "manifest.json":
                dst.writestr(info, (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())
            else:
                dst.writestr(info, src.read(info.filename))


def stamps_of(pack: Path) -> dict:
    with zipfile.ZipFile(pack) as zf:
        return json.loads(zf.read("timestamps.json"))


def test_pack_carries_and_verifies_tokens(made, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    _, pack, tsa, last = made
    stamps = stamps_of(pack)
    assert stamps["format"] == "outage-watchdog-timestamps/1"
    assert [t["block"] for t in stamps["tokens"]][-1] == last["no"]
    assert list(stamps["cas"]) == [ca_sha256([tsa.ca_cert])]
    assert stamps["cas"][ca_sha256([tsa.ca_cert])]["pem"] == pem(tsa.ca_cert).decode()
    verdict = verify_pack(pack)
    assert verdict.ok, verdict.problems
    assert [s.problem for s in verdict.stamps] == [None, None]
    assert verdict.stamps[-1].last_seq == last["last_seq"]
    assert main(["verify", str(pack), "--tsa-ca", str(tsa.ca_file)]) == 0
    out = capsys.readouterr().out
    assert f"rows up to seq {last['last_seq']} existed no later than " in out
    assert "(TSA pack-tsa)" in out


def test_pack_forged_token_rejected(made, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, pack, _, _ = made
    stamps = stamps_of(pack)
    der = bytearray(base64.b64decode(stamps["tokens"][-1]["token"]))
    der[-10] ^= 1
    stamps["tokens"][-1]["token"] = base64.b64encode(bytes(der)).decode()
    rewrite(pack, tmp_path / "forged.zip", stamps)
    verdict = verify_pack(tmp_path / "forged.zip")
    assert not verdict.ok
    assert len(verdict.problems) == 1  # the summaries that list timestamps.json's hash are not rebuilt after it
    assert verdict.problems[0].startswith("timestamps.json: the token of TSA pack-tsa for block ")
    assert "signature failure" in verdict.problems[0]


def test_pack_token_for_another_hash_rejected(made, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, pack, tsa, last = made
    stamps = stamps_of(pack)
    other = statement(stamps["journal_id"], last["no"], last["last_seq"], "11" * 32)
    stamps["tokens"][-1]["token"] = base64.b64encode(tsa.reply(build_request(other).as_bytes())).decode()
    rewrite(pack, tmp_path / "other.zip", stamps)
    verdict = verify_pack(tmp_path / "other.zip")
    assert not verdict.ok
    assert verdict.problems[0].endswith("the token is for another hash than this head's statement")


def test_pack_swapped_tsa_certificate_rejected(made, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, pack, tsa, _ = made
    rogue = LocalTsa(tmp_path / "rogue", "Pack TSA")
    stamps = stamps_of(pack)
    fp = ca_sha256([tsa.ca_cert])
    stamps["cas"][fp]["pem"] = pem(rogue.ca_cert).decode()  # the CA swapped, fingerprint kept
    rewrite(pack, tmp_path / "swapped.zip", stamps)
    verdict = verify_pack(tmp_path / "swapped.zip")
    assert not verdict.ok
    assert all(p.endswith("the journaled CA certificate does not match its fingerprint") for p in verdict.problems)
    # the rogue CA under its own fingerprint: the tokens do not chain to it
    stamps = stamps_of(pack)
    rfp = ca_sha256([rogue.ca_cert])
    stamps["cas"] = {rfp: {"tsa": "pack-tsa", "pem": pem(rogue.ca_cert).decode()}}
    for t in stamps["tokens"]:
        t["ca_sha256"] = rfp
    rewrite(pack, tmp_path / "swapped2.zip", stamps)
    verdict = verify_pack(tmp_path / "swapped2.zip")
    assert not verdict.ok
    assert "Error while verifying certificates" in verdict.problems[0]
    # and pinned to another CA, the genuine pack is rejected too
    assert not verify_pack(pack, tsa_roots=[rogue.ca_cert]).ok


@pytest.mark.parametrize(
    ("lang", "sentence"),
    [
        (
            "en",
            "The journal is certified by a trusted timestamp (RFC 3161, TSA pack-tsa): rows up to {n} existed "
            "no later than ",
        ),
        ("ru", "Журнал заверен меткой времени (RFC 3161, TSA pack-tsa): записи до № {n} существовали не позднее "),
    ],
)
def test_report_says_so_in_one_sentence(made, capsys, lang: str, sentence: str) -> None:  # type: ignore[no-untyped-def]
    cfg, _, _, last = made
    with Journal.open(loads(cfg.read_text(encoding="utf-8"), env=env()).journal_path, readonly=True) as journal:
        newest = json.loads(
            journal.conn.execute("SELECT data FROM events WHERE type = 'timestamp' ORDER BY seq DESC").fetchone()[0]
        )
    assert newest["last_seq"] == last["last_seq"]
    # --now after the tokens were journaled (they carry today's time): the sentence names the newest
    args = [
        "report",
        "-c",
        str(cfg),
        "--provider",
        "broker",
        "--period",
        PERIOD,
        "--lang",
        lang,
        "--now",
        "2099-01-01T00:00",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert sentence.format(n=last["last_seq"]) in out
    # as of a time before any token: no sentence
    assert main([*args[:-1], NOW]) == 0
    assert "RFC 3161" not in capsys.readouterr().out
